"""Hyperparameter search: grid search, random search, successive halving and nested cross-validation.

What it does:

* :func:`expand_grid` turns ``{"C": [1, 10], "gamma": [0.1, 1]}`` into the list of every combination, in
  scikit-learn's ``ParameterGrid`` order (keys sorted, the last key varying fastest).
* :func:`sample_candidates` draws ``n_iter`` candidates at random: a list is sampled uniformly, anything with
  an ``rvs(random_state=)`` method (a ``scipy.stats`` distribution) or a callable ``f(rng)`` is called.
* :func:`evaluate_candidates` scores every candidate on the same cross-validation folds; :func:`grid_search`
  and :func:`random_search` are thin wrappers over it and return a :class:`SearchResult`.
* :func:`halving_round` (one round) and :func:`successive_halving` (all rounds): evaluate many candidates on
  a small subsample of each training fold, keep the best ``1/factor``, multiply the samples by ``factor``.
* :func:`nested_cv`: an outer loop that estimates the error of the whole procedure "search, then refit",
  and the inner search that selects; returned next to the optimistic non-nested best score.

A model is built by ``make_model(**params)`` and must have ``fit(X, y)`` and ``predict(X)``; it is scored by
``score(y_true, y_pred) -> float`` (higher is better), fold by fold with chapter 8's
:func:`~mlcourse.classical.cross_validation.cross_val_scores`. Cross-validation is any object with
``split(X, y, groups)`` yielding ``(train_idx, test_idx)`` (chapter 8's splitters, or scikit-learn's); the folds
are drawn once per search, so every candidate sees the same ones.

What it does not do: parallel fits, early stopping of iterative models as the halving resource (the
resource here is the number of training samples), Bayesian optimisation, or any model of its own.
Taught in chapter 9.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlcourse.classical.cross_validation import cross_val_scores
from mlcourse.classical.validation import check_X_y

Params = dict[str, Any]
Score = Callable[[np.ndarray, np.ndarray], float]  # score(y_true, y_pred), higher is better


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[Params]:
    """Every combination of the values in ``grid``: keys sorted, the last key varies fastest (as ParameterGrid)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty dict {name: list of values}")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or len(list(values)) == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
    keys = sorted(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def _draw(name: str, spec: Any, rng: np.random.Generator) -> Any:
    if hasattr(spec, "rvs"):
        return spec.rvs(random_state=rng)
    if callable(spec):
        return spec(rng)
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)) and len(spec) > 0:
        return spec[int(rng.integers(len(spec)))]
    raise ValueError(f"distribution {name!r} must be a non-empty list, a scipy.stats distribution or a callable "
                     f"f(rng), got {spec!r}")  # fmt: skip


def sample_candidates(distributions: Mapping[str, Any], n_iter: int, seed: int | np.random.Generator = 0) -> list[Params]:
    """``n_iter`` independent draws; each value of a candidate is drawn independently (keys in sorted order)."""
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1, got {n_iter}")
    rng = np.random.default_rng(seed)
    return [{k: _draw(k, distributions[k], rng) for k in sorted(distributions)} for _ in range(n_iter)]


@dataclass
class SearchResult:
    """Scores of ``n`` candidates on ``k`` folds; ``best_*`` by the highest mean (first one on ties)."""

    candidates: list[Params]
    fold_scores: np.ndarray  # (n, k)
    n_fits: int
    samples_fitted: int  # sum over fits of the training-set sizes: the cost in "samples seen"
    best_model: Any = None  # refitted on all of X, y with best_params (None when refit=False)
    rounds: list[dict] = field(default_factory=list)  # successive halving only: one dict per round

    @property
    def mean_scores(self) -> np.ndarray:
        return self.fold_scores.mean(axis=1)

    @property
    def std_scores(self) -> np.ndarray:
        return self.fold_scores.std(axis=1)

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.mean_scores))

    @property
    def best_params(self) -> Params:
        return dict(self.candidates[self.best_index])

    @property
    def best_score(self) -> float:
        return float(self.mean_scores[self.best_index])


def _check(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """check_X_y, with integer or string labels kept as they are (classification) and floats as targets."""
    return check_X_y(X, y, classification=not np.issubdtype(np.asarray(y).dtype, np.floating))


def _splits(cv: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    if not hasattr(cv, "split"):
        raise ValueError(f"cv must have a split(X, y, groups) method (a KFold-like splitter), got {cv!r}")
    return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]


def evaluate_candidates(make_model: Callable[..., Any], candidates: Sequence[Params], X: np.ndarray, y: np.ndarray,
                        cv: Any, score: Score, *, groups: np.ndarray | None = None,
                        splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
                        refit: bool = True) -> SearchResult:  # fmt: skip
    """Fit and score every candidate on every fold (the same folds for all); refit the best on all data."""
    X, y = _check(X, y)
    if len(candidates) == 0:
        raise ValueError("no candidates to evaluate")
    splits = _splits(cv, X, y, groups) if splits is None else splits
    scores = np.array([cross_val_scores(lambda p=params: make_model(**p), X, y, splits, score) for params in candidates])
    samples = len(candidates) * sum(len(train) for train, _ in splits)
    result = SearchResult(list(candidates), scores.reshape(len(candidates), len(splits)),
                          len(candidates) * len(splits), samples)  # fmt: skip
    if refit:
        result.best_model = make_model(**result.best_params).fit(X, y)
    return result


def grid_search(make_model: Callable[..., Any], grid: Mapping[str, Sequence[Any]], X: np.ndarray, y: np.ndarray,
                cv: Any, score: Score, **kwargs: Any) -> SearchResult:  # fmt: skip
    """Every combination of ``grid``, scored by cross-validation."""
    return evaluate_candidates(make_model, expand_grid(grid), X, y, cv, score, **kwargs)


def random_search(make_model: Callable[..., Any], distributions: Mapping[str, Any], n_iter: int, X: np.ndarray,
                  y: np.ndarray, cv: Any, score: Score, *, seed: int = 0, **kwargs: Any) -> SearchResult:  # fmt: skip
    """``n_iter`` random candidates, scored by cross-validation."""
    return evaluate_candidates(make_model, sample_candidates(distributions, n_iter, seed), X, y, cv, score, **kwargs)


def halving_round(make_model: Callable[..., Any], candidates: Sequence[Params], X: np.ndarray, y: np.ndarray,
                  splits: list[tuple[np.ndarray, np.ndarray]], score: Score, n_resources: int, factor: int,
                  rng: np.random.Generator) -> tuple[list[Params], np.ndarray, int]:  # fmt: skip
    """One round: each candidate is trained on ``n_resources`` samples (a random subset of each training fold,
    the same subset for every candidate) and scored on the fold's test part. Returns the best
    ``ceil(len(candidates) / factor)`` candidates (best first), the mean scores (len(candidates),) and the cost."""
    subsets = [(tr[rng.permutation(len(tr))[: min(n_resources, len(tr))]], te) for tr, te in splits]
    result = evaluate_candidates(make_model, candidates, X, y, None, score, splits=subsets, refit=False)
    keep = math.ceil(len(candidates) / factor)
    order = np.argsort(-result.mean_scores, kind="stable")[:keep]
    return [dict(candidates[i]) for i in order], result.mean_scores, result.samples_fitted


def successive_halving(make_model: Callable[..., Any], candidates: Sequence[Params], X: np.ndarray, y: np.ndarray,
                       cv: Any, score: Score, *, factor: int = 3, min_resources: int | None = None,
                       groups: np.ndarray | None = None, seed: int = 0, refit: bool = True) -> SearchResult:  # fmt: skip
    """Rounds of :func:`halving_round`: start with all candidates on ``min_resources`` samples per fold,
    multiply the samples by ``factor`` and divide the candidates by ``factor`` until one candidate is left or
    the samples run out. ``fold_scores`` of the result are those of the last round's candidates."""
    X, y = _check(X, y)
    if factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor}")
    splits = _splits(cv, X, y, groups)
    max_resources = min(len(tr) for tr, _ in splits)
    n_rounds_needed = max(1, math.ceil(math.log(len(candidates), factor)) + 1) if len(candidates) > 1 else 1
    if min_resources is None:   # as few as let the last round use (almost) all the training samples
        min_resources = max(1, max_resources // factor ** (n_rounds_needed - 1))
    if not 1 <= min_resources <= max_resources:
        raise ValueError(f"min_resources must be between 1 and the smallest training fold ({max_resources}), "
                         f"got {min_resources}")  # fmt: skip
    rng = np.random.default_rng(seed)
    alive, rounds, samples, n_fits, n_res = list(candidates), [], 0, 0, min_resources
    while True:
        kept, means, cost = halving_round(make_model, alive, X, y, splits, score, n_res, factor, rng)
        rounds.append({"n_candidates": len(alive), "n_resources": min(n_res, max_resources),
                       "best_score": float(means.max()), "candidates": alive, "mean_scores": means})  # fmt: skip
        samples, n_fits = samples + cost, n_fits + len(alive) * len(splits)
        if len(kept) == 1 or n_res >= max_resources or n_res * factor > max_resources:
            break
        alive, n_res = kept, n_res * factor
    last = rounds[-1]
    fold_means = np.asarray(last["mean_scores"])[:, None]
    result = SearchResult(list(last["candidates"]), fold_means, n_fits, samples, rounds=rounds)
    if refit:
        result.best_model = make_model(**result.best_params).fit(X, y)
    return result


def nested_cv(make_model: Callable[..., Any], candidates: Sequence[Params], X: np.ndarray, y: np.ndarray,
              outer_cv: Any, inner_cv: Any, score: Score) -> dict[str, Any]:  # fmt: skip
    """For each outer fold: search ``candidates`` by ``inner_cv`` on the outer training part only, refit the
    winner there, score it on the outer test part. Returns ``outer_scores`` (k_outer,), ``chosen`` (the
    winners), ``nested_mean`` and, for comparison, ``non_nested_best``: the best mean score of the same
    search run with ``outer_cv`` on all the data (optimistic, because it is the maximum of noisy scores)."""
    X, y = _check(X, y)
    outer_scores, chosen = [], []
    for train, test in _splits(outer_cv, X, y, None):
        inner = evaluate_candidates(make_model, candidates, X[train], y[train], inner_cv, score)
        outer_scores.append(float(score(y[test], inner.best_model.predict(X[test]))))
        chosen.append(inner.best_params)
    flat = evaluate_candidates(make_model, candidates, X, y, outer_cv, score, refit=False)
    return {"outer_scores": np.array(outer_scores), "chosen": chosen, "nested_mean": float(np.mean(outer_scores)),
            "non_nested_best": flat.best_score}
