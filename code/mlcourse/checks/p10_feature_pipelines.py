"""Checks for the exercises of chapter 10 (features and preprocessing pipelines): each compares the learner's
NumPy function with the library's transformer on fixed inputs, a constant column, unseen categories and texts
without any word included.

Where a wrong answer has a typical cause (the sample standard deviation, statistics of the wrong axis, a
constant column divided by 0, categories in order of appearance, an unknown category raising or given a column,
document frequency counted as total count, no smoothing, no row normalisation), the failure line names that
cause. Every check prints one verdict line (see :mod:`mlcourse.checks.core`) and returns a
:class:`~mlcourse.checks.core.Verdict`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.classical.preprocessing import OneHotEncoder, StandardScaler
from mlcourse.classical.text_features import idf_weights, tfidf_weighting


def _array(name: str, got: Any) -> np.ndarray:
    """``got`` as a float64 array, or a failure saying what came back instead."""
    if sp.issparse(got):
        got = got.toarray()
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {name} as a NumPy array, got {type(got).__name__}") from None


def _same(got: Any, expected: Any) -> bool:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-9, atol=1e-10, equal_nan=True))


def _diagnose(got: np.ndarray, ref: np.ndarray, hints: list[tuple[Any, str]], context: str) -> None:
    """Fail with the first hint whose wrong answer equals ``got`` (and differs from the right one ``ref``)."""
    for wrong, hint in hints:
        if not _same(wrong, ref) and _same(got, wrong):
            raise CheckFailed(f"{hint} ({context})")


def _compare(name: str, got: np.ndarray, ref: np.ndarray, context: str) -> None:
    expect(got.shape == ref.shape, f"expected {name} of shape {ref.shape}, got shape {got.shape} ({context})")
    if not _same(got, ref):
        diff = np.abs(np.nan_to_num(got - ref, nan=np.inf))
        index = np.unravel_index(int(diff.argmax()), diff.shape)
        raise CheckFailed(f"expected {name} to match the reference within 1e-9, got a max abs difference of "
                          f"{diff.max():.3g} at index {tuple(int(i) for i in index)} (expected {ref[index]:.4g}, "
                          f"got {got[index]:.4g}) ({context})")  # fmt: skip


# ---------------------------------------------------------------- exercise 1: the standard scaler


def scaler_data() -> tuple[np.ndarray, np.ndarray]:
    """(X_train (12, 3), X_test (5, 3)); column 2 of X_train is constant."""
    rng = np.random.default_rng(10)
    X_train = rng.normal(size=(12, 3)) * [2.0, 50.0, 1.0] + [1.0, -20.0, 0.0]
    X_train[:, 2] = 4.0
    return X_train, rng.normal(size=(5, 3)) * [2.0, 50.0, 1.0]


def check_scaler(fit_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 transform_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fit_fn(X_train) -> (mean (d,), scale (d,))`` and ``transform_fn(X, mean, scale) -> (n, d)``."""

    def body() -> str:
        X_train, X_test = scaler_data()
        ref = StandardScaler().fit(X_train)
        context = "X_train (12, 3), column 2 constant"
        with np.errstate(divide="ignore", invalid="ignore"):
            got = fit_fn(X_train.copy())
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"expected fit to return (mean, scale), got {type(got).__name__}")
        mean, scale = _array("mean", got[0]), _array("scale", got[1])
        _diagnose(mean, ref.mean_, [(X_train.mean(axis=1),
                                     "the mean is taken over each row: use axis=0, one mean per column")], context)
        expect(mean.shape == ref.mean_.shape,
               f"expected a mean of shape {ref.mean_.shape} (one per column), got {mean.shape} ({context})")
        _compare("mean", mean, ref.mean_, context)
        std0, std1 = X_train.std(axis=0), X_train.std(axis=0, ddof=1)
        _diagnose(scale, ref.scale_, [
            (np.where(std1 == 0, 1.0, std1),
             "the scale uses ddof=1 (divides by n - 1): StandardScaler divides by n (np.std's default)"),
            (std0, "the constant column has scale 0, so transform divides by 0: set a zero standard deviation to 1"),
            (std1, "the scale uses ddof=1, and the constant column's scale 0 must be replaced by 1"),
            (X_train.var(axis=0), "the scale is the variance: take its square root, the standard deviation"),
            (np.where(std0 == 0, 1.0, std0**2),
             "the scale is the variance: take its square root, the standard deviation"),
        ], context)  # fmt: skip
        _compare("scale", scale, ref.scale_, context)
        context = "X_test (5, 3) with the training mean and scale"
        with np.errstate(divide="ignore", invalid="ignore"):
            z = _array("the transformed X", transform_fn(X_test.copy(), ref.mean_.copy(), ref.scale_.copy()))
        _diagnose(z, ref.transform(X_test), [
            ((X_test - X_test.mean(0)) / np.where(X_test.std(0) == 0, 1, X_test.std(0)),
             "transform used the test rows' own mean and scale: use the mean and scale it is given "
             "(the training ones)"),
            (X_test / ref.scale_ - ref.mean_, "subtract the mean before dividing: (x - mean) / scale"),
            ((X_test - ref.mean_) * ref.scale_, "multiply instead of divide: z = (x - mean) / scale"),
        ], context)  # fmt: skip
        _compare("the transformed X", z, ref.transform(X_test), context)
        return "equals StandardScaler, constant column included"

    return run_check("standard scaler", body)


# ---------------------------------------------------------------- exercise 2: one-hot encoding


ONE_HOT_TRAIN = np.array(["tragedy", "comedy", "history", "comedy", "tragedy"], dtype=object)
ONE_HOT_NEW = np.array(["history", "poetry", "comedy", "tragedy", "poetry"], dtype=object)  # "poetry" unseen


def check_one_hot(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(train_values (n,), values (m,)) -> (m, k)``: sorted training categories, unknown -> row of zeros."""

    def body() -> str:
        encoder = OneHotEncoder(handle_unknown="ignore").fit(ONE_HOT_TRAIN[:, None])
        ref = encoder.transform(ONE_HOT_NEW[:, None])
        context = f"categories from {ONE_HOT_TRAIN.tolist()}, values {ONE_HOT_NEW.tolist()} ('poetry' unseen)"
        try:
            got = fn(ONE_HOT_TRAIN.copy(), ONE_HOT_NEW.copy())
        except (KeyError, ValueError, IndexError) as err:
            raise CheckFailed(f"your code raised {type(err).__name__}: {err} ({context}): a category not seen in "
                              "training must give a row of zeros, not an error") from None  # fmt: skip
        got = _array("the one-hot matrix", got)
        appearance = list(dict.fromkeys(ONE_HOT_TRAIN))  # tragedy, comedy, history
        by_appearance = np.array([[v == c for c in appearance] for v in ONE_HOT_NEW], dtype=float)
        with_unknown = np.array([[v == c for c in encoder.categories_[0]] + [v not in encoder.categories_[0]]
                                 for v in ONE_HOT_NEW], dtype=float)  # fmt: skip
        all_seen = sorted(set(ONE_HOT_TRAIN) | set(ONE_HOT_NEW))
        from_new = np.array([[v == c for c in all_seen] for v in ONE_HOT_NEW], dtype=float)
        _diagnose(got, ref, [
            (by_appearance, "the columns follow the order of first appearance: sort the training categories "
                            "(np.unique), as scikit-learn does"),
            (with_unknown, "unknown categories got a column of their own: handle_unknown='ignore' gives them a "
                           "row of zeros"),
            (from_new, "the categories include values only seen in the new data: learn them from the training "
                       "values only"),
        ], context)  # fmt: skip
        _compare("the one-hot matrix", got, ref, context)
        return "sorted categories, unseen category -> zeros"

    return run_check("one-hot encoding with unknown categories", body)


# ---------------------------------------------------------------- exercise 3: TF-IDF weighting


def tfidf_counts() -> np.ndarray:
    """(5, 6) word counts of 5 texts; text 4 has no word of the vocabulary; word 0 occurs in every other text."""
    rows = [[2, 1, 0, 0, 3, 0], [1, 0, 1, 0, 0, 0], [1, 0, 0, 2, 0, 1], [4, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
    return np.array(rows, dtype=np.float64)


def _normalise(W: np.ndarray, order: int = 2) -> np.ndarray:
    norms = np.linalg.norm(W, ord=order, axis=1, keepdims=True)
    return W / np.where(norms == 0, 1.0, norms)


def check_tfidf(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(counts (n, V)) -> (n, V)``: counts * (ln((1 + n) / (1 + df)) + 1), rows of unit Euclidean length."""

    def body() -> str:
        counts = tfidf_counts()
        ref = tfidf_weighting(counts, idf_weights(counts)).toarray()
        context = "counts (5, 6), text 4 with no known word"
        with np.errstate(divide="ignore", invalid="ignore"):
            got = _array("the TF-IDF matrix", fn(counts.copy()))
            n, df, total = len(counts), (counts > 0).sum(0), counts.sum(0)
            smooth = np.log((1 + n) / (1 + df)) + 1
            wrong = [
                (_normalise(counts * (np.log((1 + n) / (1 + total)) + 1)),
                 "df counts every occurrence: the document frequency counts the texts containing the word "
                 "(counts > 0)"),
                (_normalise(counts * (np.log(n / df) + 1)),
                 "no smoothing: use ln((1 + n) / (1 + df)) + 1, as if one extra text contained every word"),
                (_normalise(counts * np.log((1 + n) / (1 + df))),
                 "the +1 after the logarithm is missing: idf = ln((1 + n) / (1 + df)) + 1, so a word in every "
                 "text keeps weight"),
                (_normalise(counts * (np.log10((1 + n) / (1 + df)) + 1)),
                 "log10 instead of the natural logarithm np.log"),
                (counts * smooth,
                 "the rows are not normalised: divide each row by its Euclidean norm (leave all-zero rows)"),
                (_normalise(counts * smooth, 1),
                 "the rows are scaled to unit sum (L1): divide by the Euclidean (L2) norm"),
                (_normalise(counts / smooth), "divide by idf instead of multiplying: rare words must weigh more"),
            ]
            if np.isnan(got).any() and not np.isnan(ref).any():
                rows = sorted(set(np.nonzero(np.isnan(got))[0].tolist()))
                raise CheckFailed(f"got NaN in row(s) {rows} ({context}): a text with no known word has norm 0; "
                                  "leave its row at zero instead of dividing by 0")
        _diagnose(got, ref, wrong, context)
        _compare("the TF-IDF matrix", got, ref, context)
        return "equals TfidfVectorizer's default weighting"

    return run_check("TF-IDF weighting", body)
