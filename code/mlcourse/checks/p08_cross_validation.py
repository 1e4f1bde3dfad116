"""Checks for the exercises of chapter 8 (validation strategies and cross-validation): k-fold index generation,
stratified fold assignment, and the cross-validation loop.

Each compares the learner's function with :mod:`mlcourse.classical.splitters` and
:mod:`mlcourse.classical.cross_validation` on fixed inputs; where a wrong answer has a typical cause (the remainder
dropped or given to the last fold, folds cut from data sorted by class, one model reused across folds, the score
computed on the training fold, train and test swapped), the failure line names it. Every check prints one verdict
line (see :mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.classical.cross_validation import cross_val_scores
from mlcourse.classical.splitters import KFold


def _index_list(got: object, what: str) -> list[np.ndarray]:
    try:
        folds = [np.asarray(f) for f in got]  # type: ignore[union-attr]
    except TypeError:
        raise CheckFailed(f"expected {what} as a list of index arrays, got {type(got).__name__}") from None
    return folds


def check_kfold_indices(fn: Callable[[int, int], list[np.ndarray]]) -> Verdict:
    """``fn(n, k)`` must return the k test folds of unshuffled k-fold: consecutive blocks, the first n % k one larger."""

    def body() -> str:
        for n, k in [(10, 5), (11, 3), (7, 7), (103, 10)]:
            expected = [test for _, test in KFold(k).split(np.zeros((n, 1)))]
            folds = _index_list(fn(n, k), "the folds")
            expect(len(folds) == k, f"expected {k} folds for n={n}, k={k}, got {len(folds)}")
            sizes = [len(f) for f in folds]
            want = [len(f) for f in expected]
            if sum(sizes) < n:
                raise CheckFailed(f"n={n}, k={k}: your folds hold {sum(sizes)} of {n} samples (sizes {sizes}): the "
                                  f"last n % k = {n % k} samples are dropped. Give one extra sample to each of the "
                                  "first n % k folds")
            if sizes != want and sorted(sizes) == sorted(want):
                raise CheckFailed(f"n={n}, k={k}: fold sizes {sizes}, expected {want}: the extra samples go to the "
                                  "FIRST n % k folds (as scikit-learn does), not the last ones")
            expect(sizes == want, f"n={n}, k={k}: fold sizes {sizes}, expected {want} (n // k each, +1 for the first "
                                  "n % k folds)")
            for i, (got_fold, want_fold) in enumerate(zip(folds, expected)):
                expect(np.array_equal(np.sort(got_fold), want_fold),
                       f"n={n}, k={k}: fold {i} is {got_fold.tolist()[:8]}..., expected the consecutive block "
                       f"{want_fold.tolist()[:8]}...")
        return "consecutive folds, sizes n // k (+1 for the first n % k), all samples used once"

    return run_check("k-fold index generation", body)


def _labels() -> np.ndarray:
    """60 labels sorted by class (30 / 20 / 10): the case where cutting blocks loses whole classes."""
    return np.repeat(np.array([0, 1, 2]), [30, 20, 10])


def check_stratified_folds(fn: Callable[[np.ndarray, int], np.ndarray]) -> Verdict:
    """``fn(y, k)`` must return each sample's fold (n,) in 0..k-1, every class split evenly (counts differ by <= 1)."""

    def body() -> str:
        rng = np.random.default_rng(0)
        for y, k in [(_labels(), 5), (rng.permutation(_labels()), 4), (np.array(list("aabbbbbbcc")), 2)]:
            got = np.asarray(fn(y, k))
            expect(got.shape == y.shape, f"expected one fold number per sample, shape {y.shape}, got {got.shape}")
            expect(np.isin(got, np.arange(k)).all(), f"fold numbers must lie in 0..{k - 1}; got {np.unique(got).tolist()}")
            for c in np.unique(y):
                counts = np.bincount(got[y == c], minlength=k)
                if counts.max() - counts.min() > 1:
                    if counts.min() == 0 and (y == c).sum() >= k:
                        raise CheckFailed(f"class {c!r} ({(y == c).sum()} samples, k={k}): per-fold counts "
                                          f"{counts.tolist()}; some folds get none. Did you cut consecutive blocks of "
                                          "the data? Deal each class's samples to the folds in turn (i mod k)")
                    raise CheckFailed(f"class {c!r}: per-fold counts {counts.tolist()} differ by more than 1; deal each "
                                      "class's samples round-robin over the folds, class by class")
            expect(len(np.unique(got)) == k, f"some folds are empty: used folds {np.unique(got).tolist()} of {k}")
        return "every class spread over the k folds within one sample"

    return run_check("stratified fold assignment", body)


class _CountingCentroid:
    """Nearest class mean; counts how many instances exist, to catch one model reused across folds."""

    created = 0

    def __init__(self) -> None:
        type(self).created += 1
        self.fits = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> _CountingCentroid:
        self.fits += 1
        if self.fits > 1:
            raise CheckFailed("the same model object was fitted twice: call make_model() inside the loop, so each "
                              "fold trains a fresh, unfitted model")
        self.classes_ = np.unique(y)
        self.means_ = np.array([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        d = ((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        return self.classes_[d.argmin(axis=1)]


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def _recall_of_1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Not symmetric in its arguments: catches score(y_pred, y_true)."""
    return float(np.mean(y_pred[y_true == 1] == 1))


def check_cross_val_scores(fn: Callable) -> Verdict:
    """``fn(make_model, X, y, splits, score)`` -> (n_splits,) test scores of a fresh model per (train, test) pair."""

    def body() -> str:
        rng = np.random.default_rng(3)
        X = rng.normal(size=(60, 2)) + np.repeat([[0.0, 0.0], [1.2, 0.4]], 30, axis=0)
        y = np.repeat([0, 1], 30)
        splits = list(KFold(4, shuffle=True, random_state=0).split(X))
        for score in (_accuracy, _recall_of_1):
            _CountingCentroid.created = 0
            got = np.asarray(fn(_CountingCentroid, X, y, splits, score), dtype=np.float64)
            ref = cross_val_scores(_CountingCentroid, X, y, splits, score)
            expect(got.shape == ref.shape, f"expected one score per split, shape {ref.shape}, got {got.shape}")
            if np.allclose(got, ref):
                continue
            on_train = cross_val_scores(_CountingCentroid, X, y, [(tr, tr) for tr, _ in splits], score)
            swapped = cross_val_scores(_CountingCentroid, X, y, [(te, tr) for tr, te in splits], score)
            if np.allclose(got, on_train):
                raise CheckFailed(f"your scores {np.round(got, 3).tolist()} are the TRAINING-fold scores; score the "
                                  f"model on X[test] (expected {np.round(ref, 3).tolist()})")
            if np.allclose(got, swapped):
                raise CheckFailed("train and test are swapped: fit on X[train], score on X[test] "
                                  f"(expected {np.round(ref, 3).tolist()}, got {np.round(got, 3).tolist()})")
            flipped = [score(model.predict(X[te]), y[te]) for model, (tr, te) in
                       ((_CountingCentroid().fit(X[tr], y[tr]), (tr, te)) for tr, te in splits)]
            if np.allclose(got, flipped):
                raise CheckFailed("you called score(y_pred, y_true); the order is score(y_true, y_pred)")
            raise CheckFailed(f"expected test scores {np.round(ref, 4).tolist()}, got {np.round(got, 4).tolist()}")
        return "a fresh model per fold, fitted on train, scored on test"

    return run_check("cross-validation loop", body)
