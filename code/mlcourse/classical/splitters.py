"""Ways to split a dataset into training and test indices, each equal to its namesake in ``sklearn.model_selection``.

What it does: :class:`KFold`, :class:`StratifiedKFold` (each class spread evenly over the folds),
:class:`GroupKFold` (all rows of a group on the same side), :class:`TimeSeriesSplit` (train on the past, test on
the next block, with an optional ``gap``), :class:`RepeatedKFold` (k-fold with a new shuffle per repetition) and
:func:`train_test_split_indices` (one hold-out split, optionally stratified). Every splitter has
``split(X, y=None, groups=None)``, which yields ``(train_idx, test_idx)`` pairs of sorted int64 index arrays, and
``get_n_splits()``. :func:`fold_labels` turns a splitter's folds into one array per split for plotting.

Without shuffling the index sets are exactly scikit-learn's; with shuffling they are too for an integer
``random_state`` (both use NumPy's legacy ``RandomState``), except for the stratified hold-out split, which
uses a simpler per-class rounding (same sizes up to one sample per class; tests check the properties instead).

What it does not do: leave-one-out, shuffle-split, stratified-group or blocked time-series variants, or
``max_train_size``. Taught in chapter 8 (and used by chapter 9's model selection).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


def _n_samples(X: Any) -> int:
    """The number of rows of ``X`` (an array-like, or an int taken as the number of samples itself)."""
    if isinstance(X, (int, np.integer)):
        return int(X)
    return len(X)


def _rng(random_state: int | np.random.RandomState | None) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``: the same stream of shuffles for the same integer seed."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


def _check_n_splits(n_splits: int) -> None:
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2 (one fold to test, at least one to train); got {n_splits!r}.")


class _KFoldBase:
    """Shared ``split``: the test folds come from ``_test_folds``; the training set is everything else."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: int | None = None) -> None:
        _check_n_splits(n_splits)
        if random_state is not None and not shuffle:
            raise ValueError("random_state has no effect unless shuffle=True; set shuffle=True or drop random_state.")
        self.n_splits, self.shuffle, self.random_state = int(n_splits), shuffle, random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        """Yield ``(train_idx, test_idx)``, sorted int64 arrays that partition ``range(len(X))``."""
        n = _n_samples(X)
        if self.n_splits > n:
            raise ValueError(f"cannot split {n} samples into n_splits={self.n_splits} folds: each fold needs a sample.")
        for test in self._test_folds(n, y, groups):
            mask = np.zeros(n, dtype=bool)
            mask[test] = True
            yield np.flatnonzero(~mask), np.flatnonzero(mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, random_state={self.random_state})"


class KFold(_KFoldBase):
    """k consecutive folds of ``range(n)`` (shuffled first if ``shuffle``); the first ``n % k`` folds get one more."""

    def _test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        indices = np.arange(n)
        if self.shuffle:
            _rng(self.random_state).shuffle(indices)
        fold_sizes = np.full(self.n_splits, n // self.n_splits)
        fold_sizes[: n % self.n_splits] += 1
        start = 0
        for size in fold_sizes:
            yield indices[start : start + size]
            start += size


class RepeatedKFold:
    """``n_repeats`` shuffled :class:`KFold` runs, each with a new shuffle drawn from one ``random_state``."""

    def __init__(self, n_splits: int = 5, *, n_repeats: int = 10, random_state: int | None = None) -> None:
        _check_n_splits(n_splits)
        self.n_splits, self.n_repeats, self.random_state = int(n_splits), int(n_repeats), random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits * self.n_repeats

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        rng = _rng(self.random_state)
        for _ in range(self.n_repeats):
            yield from KFold(self.n_splits, shuffle=True, random_state=rng).split(X, y, groups)


def _encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n,), counts (n_classes,)): classes numbered in order of first appearance, as scikit-learn does."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, (n_samples,), to stratify; got shape {y.shape}.")
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    _, order = np.unique(first, return_inverse=True)
    codes = order[inverse]
    return codes, np.bincount(codes)


class StratifiedKFold(_KFoldBase):
    """k folds in which every class keeps (up to one sample) its share of the whole dataset.

    Per class, the samples sorted by class are dealt to the folds in turn (sample i goes to fold i mod k), which
    fixes how many of each class every fold gets; then each class's samples fill its folds in order (shuffled
    first if ``shuffle``).
    """

    def _test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        if y is None:
            raise ValueError("StratifiedKFold needs y (the class labels) to stratify on; pass split(X, y).")
        codes, counts = _encode_labels(y)
        if len(codes) != n:
            raise ValueError(f"X has {n} rows but y has {len(codes)} labels.")
        if self.n_splits > counts.max():
            raise ValueError(f"n_splits={self.n_splits} is larger than the largest class ({counts.max()} samples).")
        rng = _rng(self.random_state) if self.shuffle else None
        y_order = np.sort(codes)
        allocation = np.array([np.bincount(y_order[i :: self.n_splits], minlength=len(counts))
                               for i in range(self.n_splits)])  # (n_splits, n_classes) samples per fold and class
        test_folds = np.empty(n, dtype=np.int64)
        for k in range(len(counts)):
            folds_for_class = np.arange(self.n_splits).repeat(allocation[:, k])
            if rng is not None:
                rng.shuffle(folds_for_class)
            test_folds[codes == k] = folds_for_class
        for fold in range(self.n_splits):
            yield np.flatnonzero(test_folds == fold)


class GroupKFold(_KFoldBase):
    """k folds in which no group is split: each group, largest first, goes to the fold with fewest samples so far.

    With ``shuffle`` the groups are permuted and cut into k nearly equal runs of groups instead.
    """

    def _test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        if groups is None:
            raise ValueError("GroupKFold needs groups (one group label per row); pass split(X, y, groups).")
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have one label per row of X, shape ({n},); got shape {groups.shape}.")
        unique, group_idx = np.unique(groups, return_inverse=True)
        if self.n_splits > len(unique):
            raise ValueError(f"cannot put {len(unique)} groups into n_splits={self.n_splits} folds; use fewer folds.")
        if self.shuffle:
            for chunk in np.array_split(_rng(self.random_state).permutation(unique), self.n_splits):
                yield np.flatnonzero(np.isin(groups, chunk))
            return
        sizes = np.bincount(group_idx)
        largest_first = np.argsort(sizes, kind="stable")[::-1]
        fold_load = np.zeros(self.n_splits)
        group_to_fold = np.zeros(len(unique), dtype=np.int64)
        for g in largest_first:
            lightest = int(np.argmin(fold_load))
            fold_load[lightest] += sizes[g]
            group_to_fold[g] = lightest
        row_fold = group_to_fold[group_idx]
        for fold in range(self.n_splits):
            yield np.flatnonzero(row_fold == fold)


class TimeSeriesSplit:
    """Expanding-window splits: test on ``n_splits`` consecutive blocks, train on everything before each block.

    Block size ``test_size`` defaults to ``n // (n_splits + 1)``; the ``gap`` rows just before a test block are
    left out of training (so that, e.g., features computed over a window cannot see the test period).
    """

    def __init__(self, n_splits: int = 5, *, gap: int = 0, test_size: int | None = None) -> None:
        _check_n_splits(n_splits)
        if gap < 0:
            raise ValueError(f"gap must be >= 0; got {gap}.")
        self.n_splits, self.gap, self.test_size = int(n_splits), int(gap), test_size

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = _n_samples(X)
        test_size = self.test_size if self.test_size is not None else n // (self.n_splits + 1)
        if self.n_splits + 1 > n:
            raise ValueError(f"cannot make {self.n_splits} time-series splits of {n} samples (need n_splits + 1 <= n).")
        if n - self.gap - test_size * self.n_splits <= 0:
            raise ValueError(f"too few samples ({n}) for n_splits={self.n_splits}, test_size={test_size} and "
                             f"gap={self.gap}: the first training set would be empty.")
        indices = np.arange(n)
        for start in range(n - self.n_splits * test_size, n, test_size):
            yield indices[: start - self.gap], indices[start : start + test_size]

    def __repr__(self) -> str:
        return f"TimeSeriesSplit(n_splits={self.n_splits}, gap={self.gap}, test_size={self.test_size})"


def train_test_split_indices(n: int, test_size: float | int = 0.25, *, stratify: Any = None,
                             random_state: int | None = None) -> Split:
    """One random hold-out split of ``range(n)``: ``(train_idx, test_idx)``, both sorted.

    ``test_size`` is a fraction in (0, 1) (rounded up, as scikit-learn does) or a number of samples. Without
    ``stratify`` the test set is exactly scikit-learn's ``train_test_split`` for the same integer seed. With
    ``stratify`` (labels, shape (n,)) each class sends round(share * n_test) of its samples to the test set.
    """
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"a fractional test_size must lie in (0, 1); got {test_size}.")
        n_test = int(np.ceil(test_size * n))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size} leaves {n_test} test and {n - n_test} training samples of {n}; "
                         "both must be at least 1.")
    rng = _rng(random_state)
    if stratify is None:
        test = rng.permutation(n)[:n_test]
    else:
        codes, counts = _encode_labels(stratify)
        if len(codes) != n:
            raise ValueError(f"stratify has {len(codes)} labels for {n} samples.")
        per_class = np.round(counts * n_test / n).astype(int).clip(0, counts)
        test = np.concatenate([rng.permutation(np.flatnonzero(codes == k))[:m] for k, m in enumerate(per_class)])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def fold_labels(cv: Any, n: int, y: Any = None, groups: Any = None) -> np.ndarray:
    """(n_splits, n) array: 1 where a row is in the test fold, 0 in training, -1 unused (for plots of the folds)."""
    splits = list(cv.split(np.zeros((n, 1)), y, groups))
    labels = np.full((len(splits), n), -1, dtype=np.int64)
    for i, (train, test) in enumerate(splits):
        labels[i, train], labels[i, test] = 0, 1
    return labels
