"""Cross-validated scores, learning curves and validation curves for any model with ``fit`` / ``predict``.

What it does: :func:`cross_val_scores` fits a fresh model (``make_model()``) on each training fold of a splitter
from :mod:`mlcourse.classical.splitters` and scores it on the test fold; :func:`learning_curve` does that for
growing prefixes of each training fold, :func:`validation_curve` for each value of one hyper-parameter.
With a deterministic model their numbers equal ``sklearn.model_selection``'s ``cross_val_score``,
``learning_curve`` and ``validation_curve`` for the same folds. :func:`correlation_scores`,
:func:`select_k_by_correlation` and :class:`SelectThenFit` are the feature selection of chapter 8's leakage
demonstration: ``SelectThenFit`` chooses its features inside ``fit``, so cross-validation re-chooses them on every
training fold, which is the honest way.

What it does not do: parallel folds, pipelines of several steps (chapter 10), hyper-parameter search (chapter 9),
or scorers that need the model (use ``method`` to score probabilities or margins). Taught in chapter 8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

Score = Callable[[np.ndarray, np.ndarray], float]


def _predict(model: Any, X: np.ndarray, method: str) -> np.ndarray:
    """``model.<method>(X)``; for a binary ``predict_proba`` only the positive class's column (n,)."""
    if not hasattr(model, method):
        raise ValueError(f"the model {type(model).__name__} has no {method}(); use method='predict' or another model.")
    out = getattr(model, method)(X)
    if method == "predict_proba" and out.ndim == 2 and out.shape[1] == 2:
        out = out[:, 1]
    return out


def _as_arrays(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, (n_samples, n_features); got shape {X.shape}.")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} values; they must describe the same samples.")
    return X, y


def fit_and_score(make_model: Callable[[], Any], X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  score: Score, *, method: str = "predict") -> tuple[float, float]:
    """(training score, test score) of a fresh ``make_model()`` fitted on rows ``train`` and scored on ``test``."""
    model = make_model()
    model.fit(X[train], y[train])
    return (float(score(y[train], _predict(model, X[train], method))),
            float(score(y[test], _predict(model, X[test], method))))


def cross_val_scores(make_model: Callable[[], Any], X: Any, y: Any, cv: Any, score: Score, *, groups: Any = None,
                     method: str = "predict", return_train: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Test scores (n_splits,) of a fresh model per fold of ``cv`` (a splitter, or an iterable of index pairs).

    ``make_model()`` must return a new, unfitted model each call: reusing one fitted object would let a fold see
    another fold's training. ``score(y_true, y_pred) -> float``; ``method`` names what to score ("predict",
    "predict_proba" or "decision_function"). With ``return_train`` also the training scores, (n_splits,).
    """
    X, y = _as_arrays(X, y)
    splits = cv.split(X, y, groups) if hasattr(cv, "split") else cv
    results = np.array([fit_and_score(make_model, X, y, train, test, score, method=method) for train, test in splits])
    if len(results) == 0:
        raise ValueError("cv produced no splits.")
    return (results[:, 1], results[:, 0]) if return_train else results[:, 1]


def absolute_train_sizes(train_sizes: Iterable[float | int], n_max: int) -> np.ndarray:
    """Training-set sizes as numbers of samples: fractions in (0, 1] times ``n_max`` (truncated), or counts."""
    sizes = np.asarray(list(train_sizes), dtype=np.float64)
    if np.issubdtype(sizes.dtype, np.floating) and sizes.max() <= 1.0:
        if sizes.min() <= 0.0:
            raise ValueError(f"fractional train_sizes must lie in (0, 1]; got {sizes.tolist()}.")
        counts = (sizes * n_max).astype(int)
    else:
        counts = sizes.astype(int)
    if counts.min() < 1 or counts.max() > n_max:
        raise ValueError(f"train_sizes must lie between 1 and the smallest training fold ({n_max}); got {counts.tolist()}.")
    return np.unique(counts)


def learning_curve(make_model: Callable[[], Any], X: Any, y: Any, cv: Any, score: Score, *,
                   train_sizes: Iterable[float | int] = (0.1, 0.325, 0.55, 0.775, 1.0), groups: Any = None,
                   method: str = "predict") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sizes (m,), train_scores (m, n_splits), test_scores (m, n_splits)) for growing training sets.

    For each fold, the model is trained on the first ``size`` rows of the fold's training indices and tested on
    the whole test fold (as scikit-learn does without ``shuffle``), so every size is tested on the same rows.
    """
    X, y = _as_arrays(X, y)
    splits = list(cv.split(X, y, groups) if hasattr(cv, "split") else cv)
    sizes = absolute_train_sizes(train_sizes, min(len(train) for train, _ in splits))
    scores = np.array([[fit_and_score(make_model, X, y, train[:size], test, score, method=method)
                        for train, test in splits] for size in sizes])  # (m, n_splits, 2)
    return sizes, scores[..., 0], scores[..., 1]


def validation_curve(make_model: Callable[[Any], Any], X: Any, y: Any, values: Iterable[Any], cv: Any, score: Score,
                     *, groups: Any = None, method: str = "predict") -> tuple[np.ndarray, np.ndarray]:
    """(train_scores, test_scores), each (n_values, n_splits): ``make_model(value)`` cross-validated per value."""
    X, y = _as_arrays(X, y)
    splits = list(cv.split(X, y, groups) if hasattr(cv, "split") else cv)
    scores = np.array([[fit_and_score(lambda v=value: make_model(v), X, y, train, test, score, method=method)
                        for train, test in splits] for value in values])  # (n_values, n_splits, 2)
    return scores[..., 0], scores[..., 1]


def correlation_scores(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|Pearson correlation| (d,) of each column of X (n, d) with y (n,); 0 for a constant column."""
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    denominator = np.sqrt((Xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denominator > 0, Xc.T @ yc / denominator, 0.0)
    return np.abs(r)


def select_k_by_correlation(X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices (k,) of the k columns of X most correlated (in absolute value) with y, best first."""
    if not 1 <= k <= X.shape[1]:
        raise ValueError(f"k must lie between 1 and the number of features ({X.shape[1]}); got {k}.")
    return np.argsort(-correlation_scores(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)),
                      kind="stable")[:k]


class SelectThenFit:
    """A model that keeps the ``k`` features most correlated with y on ITS training data, then fits ``make_model()``.

    Cross-validating this object repeats the selection inside every training fold: the honest pipeline.
    """

    def __init__(self, make_model: Callable[[], Any], k: int) -> None:
        self.make_model, self.k = make_model, k

    def fit(self, X: np.ndarray, y: np.ndarray) -> SelectThenFit:
        self.features_ = select_k_by_correlation(X, y, self.k)
        self.model_ = self.make_model().fit(X[:, self.features_], y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(np.asarray(X)[:, self.features_])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X)[:, self.features_])
