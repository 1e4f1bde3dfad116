"""Input checks shared by every Part 1 model: bad data fails at ``fit`` with a message that says what to do.

What it does: turns array-likes into float64 NumPy arrays and rejects what would silently give a wrong model:
``X`` that is not 2-D, ``y`` that is not 1-D or has another number of rows, NaN or infinite values, a
classification target with a single class, and a model used before ``fit``.

What it does not do: impute, scale or encode (chapter 10's pipelines do that), or guess a shape (a 1-D ``X`` is
an error, not one feature). Serves chapters 1-4 (and every later Part 1 chapter's models).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_X(X: Any, *, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 array of shape (n_samples, n_features); ``ValueError`` otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        hint = " (one feature? use X.reshape(-1, 1))" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D, (n_samples, n_features); got shape {X.shape}{hint}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); give at least one sample and one feature.")
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(f"{name} has {bad.sum()} NaN or infinite value(s), first at row {rows[0]}, column "
                         f"{cols[0]}; drop or impute them before fitting (chapter 10 shows how).")
    return X


def check_X_y(X: Any, y: Any, *, classification: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``X`` (n, d) float64 and ``y`` (n,): float64 for regression, the labels as given for classification.

    Raises ``ValueError`` for mismatched lengths, a 2-D ``y``, non-finite targets, or (classification) fewer
    than two classes.
    """
    X = check_X(X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, (n_samples,); got shape {y.shape}.")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} values; they must describe the same samples.")
    if classification:
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"y has a single class ({classes[0]!r}); a classifier needs at least two to separate.")
        return X, y
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"y has {int((~np.isfinite(y)).sum())} NaN or infinite value(s); drop those samples.")
    return X, y


SCALE_RATIO_LIMIT = 100.0  # gradient descent refuses features whose standard deviations differ by more than this


def check_scaled(X: np.ndarray, *, alternative: str = "") -> None:
    """Refuse features whose standard deviations differ by more than :data:`SCALE_RATIO_LIMIT`.

    Gradient descent with one learning rate crawls along the small-scale directions of such data (chapter 1's
    condition number). Constant features (e.g. always-blank pixels) carry no scale and are ignored.
    ``alternative`` ends the message with another way out, e.g. ``" or use solver='newton'"``.
    """
    std = X.std(axis=0)
    std = std[std > 0]
    if len(std) and std.max() / std.min() > SCALE_RATIO_LIMIT:
        raise ValueError(f"the features' standard deviations range from {std.min():.3g} to {std.max():.3g} (a factor "
                         f"of {std.max() / std.min():.3g}): gradient descent with one learning rate would crawl along "
                         "the small ones. Standardise X first: (X - mean) / std, with the training set's mean and "
                         f"std{alternative}.")


def check_fitted(model: Any, attribute: str = "coef_") -> None:
    """Raise ``RuntimeError`` when ``model`` has not been fitted (its ``attribute`` is missing or ``None``)."""
    if getattr(model, attribute, None) is None:
        raise RuntimeError(f"this {type(model).__name__} is not fitted yet: call fit(X, y) before predict.")


def check_predict_input(model: Any, X: Any, *, n_features_from: str = "coef_") -> np.ndarray:
    """``X`` checked for a fitted model's ``predict``: fitted, finite, 2-D, with the fitted number of features.

    The number of features is the last axis of ``model.coef_`` ((d,) for one output, (K, d) for K classes), or,
    for models without coefficients (trees), the integer attribute named by ``n_features_from`` (e.g.
    ``"n_features_in_"``).
    """
    check_fitted(model, n_features_from)
    X = check_X(X)
    n_features = np.shape(model.coef_)[-1] if n_features_from == "coef_" else int(getattr(model, n_features_from))
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but the model was fitted on {n_features}.")
    return X
