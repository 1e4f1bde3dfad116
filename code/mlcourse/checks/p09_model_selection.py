"""Checks for the exercises of chapter 9 (model selection): each compares the learner's function with the library.

The learner writes the grid expansion, the random sampling of candidates (log-uniform), one round of successive
halving, and the nested cross-validation loop. Where a wrong answer has a typical cause (the last key varying
slowest, ``zip`` instead of a product, a uniform instead of a log-uniform draw, floor instead of ceil, the
worst candidates kept, the resource added to instead of multiplied, the inner search run on all the data, the
winner picked on the outer test fold), the failure line names it. Every check prints one verdict line (see
:mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`; the inputs are small, fixed
and built here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_diabetes

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.classical.regularized import Ridge
from mlcourse.classical.search import evaluate_candidates, expand_grid, nested_cv
from mlcourse.classical.splitters import KFold

# ---------------------------------------------------------------- exercise 1: the grid


def check_expand_grid(fn: Callable[[dict], list]) -> Verdict:
    """``fn(grid)`` must list every combination as dicts, keys sorted and the last key varying fastest."""

    def body() -> str:
        grid = {"gamma": [0.01, 0.1], "C": [1, 10, 100], "kernel": ["rbf", "poly"]}
        got = fn({k: list(v) for k, v in grid.items()})
        expected = expand_grid(grid)
        expect(isinstance(got, list) and all(isinstance(c, dict) for c in got),
               f"expected a list of dicts, got {type(got).__name__}"
               + (f" of {type(got[0]).__name__}" if isinstance(got, list) and got else ""))  # fmt: skip
        if len(got) != len(expected):
            zipped = [dict(zip(grid, v)) for v in zip(*grid.values())]
            if len(got) == len(zipped):
                raise CheckFailed(f"got {len(got)} candidates, expected 2 x 3 x 2 = 12: you paired the values up "
                                  "(zip) instead of taking every combination (itertools.product)")
            raise CheckFailed(f"got {len(got)} candidates, expected 2 x 3 x 2 = {len(expected)}")
        key_sets = {tuple(sorted(c)) for c in got}
        expect(key_sets == {("C", "gamma", "kernel")}, f"every candidate needs the keys C, gamma, kernel; got {key_sets}")
        if got != expected:
            as_set = lambda cs: sorted(tuple(sorted(c.items(), key=str)) for c in cs)  # noqa: E731
            expect(as_set(got) == as_set(expected), "some combinations are missing and others repeated")
            slowest_last = [dict(zip(sorted(grid)[::-1], v)) for v in itertools.product(*(grid[k] for k in sorted(grid)[::-1]))]
            if got == slowest_last:
                raise CheckFailed("right combinations, wrong order: the LAST sorted key (kernel) must vary fastest, "
                                  "as in itertools.product(*values) with the keys sorted")  # fmt: skip
            raise CheckFailed(f"right combinations, wrong order: sort the keys first (C, gamma, kernel); expected "
                              f"the first three {expected[:3]}, got {got[:3]}")  # fmt: skip
        return "12 candidates in scikit-learn's ParameterGrid order"

    return run_check("grid expansion", body)


# ---------------------------------------------------------------- exercise 2: random candidates


def check_random_candidates(fn: Callable[[dict, int, np.random.Generator], list]) -> Verdict:
    """``fn(ranges, n_iter, rng)``: ``n_iter`` dicts, each value log-uniform in its ``(low, high)`` range."""

    def body() -> str:
        ranges = {"C": (1e-3, 1e3), "gamma": (1e-4, 1e0)}
        got = fn(dict(ranges), 400, np.random.default_rng(0))
        expect(isinstance(got, list) and len(got) == 400 and all(isinstance(c, dict) for c in got),
               f"expected a list of 400 dicts, got {type(got).__name__}"
               + (f" of length {len(got)}" if isinstance(got, list) else ""))  # fmt: skip
        for name, (low, high) in ranges.items():
            values = np.array([c.get(name, np.nan) for c in got], dtype=float)
            expect(np.isfinite(values).all(), f"some candidates have no value for {name!r}")
            expect(values.min() >= low and values.max() <= high,
                   f"{name} values outside its range [{low:g}, {high:g}]: min {values.min():.3g}, max {values.max():.3g}")  # fmt: skip
            expect(len(np.unique(values)) > 390, f"only {len(np.unique(values))} distinct values of {name} in 400 "
                   "candidates: draw every value afresh (not from a grid, not once for all candidates)")  # fmt: skip
            below = float(np.mean(values < math.sqrt(low * high)))
            if below < 0.35:
                raise CheckFailed(f"only {below:.0%} of the {name} values lie below the geometric mean "
                                  f"sqrt(low * high) = {math.sqrt(low * high):.3g}, expected about half: you drew "
                                  "uniformly between low and high; draw the exponent uniformly instead, "
                                  "10 ** rng.uniform(log10(low), log10(high))")  # fmt: skip
            expect(0.4 <= below <= 0.6, f"{below:.0%} of the {name} values lie below the geometric mean, expected about "
                   "half for a log-uniform draw")  # fmt: skip
        C = np.log([c["C"] for c in got])
        g = np.log([c["gamma"] for c in got])
        expect(abs(np.corrcoef(C, g)[0, 1]) < 0.2, "C and gamma are correlated: draw each hyperparameter independently")
        return "400 independent log-uniform candidates, each value new"

    return run_check("random candidates", body)


# ---------------------------------------------------------------- exercise 3: one halving round


def check_halving_round(fn: Callable[[list, Callable, int, int], tuple]) -> Verdict:
    """``fn(candidates, evaluate, n_resources, factor) -> (kept, next_resources)``: ``evaluate(params,
    n_resources)`` scores every candidate once; keep the best ``ceil(n / factor)``, best first."""

    def body() -> str:
        true_score = {i: s for i, s in enumerate([0.61, 0.93, 0.52, 0.88, 0.70, 0.97, 0.45, 0.80, 0.66, 0.75])}
        for factor, n_res in ((3, 20), (2, 50)):
            calls: list[tuple[int, int]] = []

            def evaluate(params: dict, n_resources: int) -> float:
                calls.append((params["id"], n_resources))
                return true_score[params["id"]]

            candidates = [{"id": i} for i in range(10)]
            result = fn([dict(c) for c in candidates], evaluate, n_res, factor)
            expect(isinstance(result, tuple) and len(result) == 2,
                   f"expected a tuple (kept candidates, next n_resources), got {type(result).__name__}")  # fmt: skip
            kept, next_res = result
            expect(sorted(i for i, _ in calls) == list(range(10)),
                   f"evaluate must be called once per candidate; it was called for ids {sorted(i for i, _ in calls)}")
            expect(all(r == n_res for _, r in calls), f"evaluate every candidate with n_resources = {n_res}; "
                   f"got calls with {sorted({r for _, r in calls})}")  # fmt: skip
            keep = math.ceil(10 / factor)
            best = sorted(range(10), key=lambda i: -true_score[i])
            ids = [c["id"] for c in kept] if all(isinstance(c, dict) for c in kept) else kept
            if len(ids) == 10 // factor and keep != 10 // factor:
                raise CheckFailed(f"kept {len(ids)} of 10 with factor {factor}, expected ceil(10 / {factor}) = {keep}: "
                                  "round up, or a round can end with no candidate at all")  # fmt: skip
            expect(len(ids) == keep, f"kept {len(ids)} of 10 with factor {factor}, expected ceil(10 / {factor}) = {keep}")
            if list(ids) == best[::-1][:keep]:
                raise CheckFailed("you kept the worst candidates: scores are 'higher is better', sort by -score")
            expect(set(ids) == set(best[:keep]), f"kept ids {sorted(ids)}, expected the best {sorted(best[:keep])} "
                   f"(factor {factor})")  # fmt: skip
            expect(list(ids) == best[:keep], f"kept the right candidates in the wrong order: best first, {best[:keep]}")
            if next_res == n_res + factor:
                raise CheckFailed(f"next n_resources is {next_res} = {n_res} + {factor}: multiply by the factor")
            expect(next_res == n_res * factor, f"next n_resources is {next_res}, expected {n_res} x {factor} = {n_res * factor}")
        return "keeps the best ceil(n / factor), best first, and multiplies the resource by the factor"

    return run_check("one successive-halving round", body)


# ---------------------------------------------------------------- exercise 4: nested cross-validation


def neg_mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Minus the mean squared error (higher is better)."""
    return -float(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2))


def check_nested_cv(fn: Callable[..., np.ndarray]) -> Verdict:
    """``fn(make_model, candidates, X, y, outer_cv, inner_cv, score)`` must return the outer scores (k_outer,)."""

    def body() -> str:
        X, y = load_diabetes(return_X_y=True)
        X, y = X[:80], y[:80]
        rng = np.random.default_rng(0)
        X = np.hstack([X, rng.standard_normal((80, 20)) * 0.05])   # noise features: the penalty matters
        make = lambda **p: Ridge(**p)  # noqa: E731
        cands = [{"alpha": float(a)} for a in np.geomspace(1e-3, 10, 9)]  # the outer folds pick different alphas
        outer, inner = KFold(5, shuffle=True, random_state=0), KFold(3, shuffle=True, random_state=1)
        got = fn(make, cands, X, y, outer, inner, neg_mse)
        try:
            got = np.asarray(got, dtype=float).ravel()
        except (TypeError, ValueError):
            raise CheckFailed(f"expected an array of 5 outer scores, got {type(got).__name__}") from None
        expected = nested_cv(make, cands, X, y, outer, inner, neg_mse)["outer_scores"]
        expect(got.shape == (5,), f"expected 5 outer scores (one per outer fold), got shape {got.shape}")
        if np.allclose(got, expected, rtol=1e-9):
            return f"outer scores equal the library's (mean {expected.mean():.1f})"
        leaky, peeking = [], []
        best_all = evaluate_candidates(make, cands, X, y, inner, neg_mse, refit=False).best_params
        for train, test in outer.split(X):
            leaky.append(neg_mse(y[test], make(**best_all).fit(X[train], y[train]).predict(X[test])))
            peeking.append(max(neg_mse(y[test], make(**c).fit(X[train], y[train]).predict(X[test])) for c in cands))
        if np.allclose(got, leaky, rtol=1e-9):
            raise CheckFailed("the inner search ran on all of X: it saw the outer test folds. Run it on "
                              "X[train], y[train] of each outer fold only")  # fmt: skip
        if np.allclose(got, peeking, rtol=1e-9):
            raise CheckFailed("you chose the candidate with the best OUTER test score: that is the optimistic "
                              "estimate again. Choose by the inner cross-validation on the outer training part")  # fmt: skip
        raise CheckFailed(f"outer scores {np.round(got, 2).tolist()}, expected {np.round(expected, 2).tolist()}: for "
                          "each outer (train, test), search with inner_cv on the training part, refit the winner on "
                          "the whole training part, score it on the test part")  # fmt: skip

    return run_check("nested cross-validation", body)
