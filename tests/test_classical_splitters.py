"""Tests of mlcourse.classical.splitters and cross_validation (chapter 8).

Every splitter's index sets must EQUAL scikit-learn's exactly (integers: no tolerance), unshuffled and, for an
integer seed, shuffled too (both use NumPy's legacy RandomState); the stratified hold-out split is checked by its
properties. Cross-validated scores, learning and validation curves of a deterministic scikit-learn model must
equal scikit-learn's within 1e-12 (the same fits, only the loop is ours). Bad input raises a message naming it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import model_selection as ms
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score
from sklearn.tree import DecisionTreeClassifier

from mlcourse.classical import splitters as sp
from mlcourse.classical.cross_validation import (
    SelectThenFit, correlation_scores, cross_val_scores, learning_curve, select_k_by_correlation, validation_curve,
)

RNG = np.random.default_rng(0)
N = 53
X = RNG.normal(size=(N, 2))
Y = RNG.integers(0, 3, N)
GROUPS = RNG.integers(0, 11, N)


def same(ours, theirs) -> bool:
    ours, theirs = list(ours), list(theirs)
    return len(ours) == len(theirs) and all(
        np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(ours, theirs))


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", [None, 0, 7])
def test_kfold_stratified_and_group_equal_sklearn(k, seed):
    kw = dict(shuffle=seed is not None, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about small classes; we do not
        assert same(sp.KFold(k, **kw).split(X), ms.KFold(k, **kw).split(X))
        assert same(sp.StratifiedKFold(k, **kw).split(X, Y), ms.StratifiedKFold(k, **kw).split(X, Y))
        assert same(sp.GroupKFold(k, **kw).split(X, Y, GROUPS), ms.GroupKFold(k, **kw).split(X, Y, GROUPS))


@pytest.mark.parametrize("k,gap", [(2, 0), (3, 2), (5, 1)])
def test_time_series_and_repeated_equal_sklearn(k, gap):
    assert same(sp.TimeSeriesSplit(k, gap=gap).split(X), ms.TimeSeriesSplit(n_splits=k, gap=gap).split(X))
    assert same(sp.RepeatedKFold(n_splits=k, n_repeats=3, random_state=4).split(X),
                ms.RepeatedKFold(n_splits=k, n_repeats=3, random_state=4).split(X))
    assert sp.RepeatedKFold(n_splits=k, n_repeats=3).get_n_splits() == 3 * k


def test_hold_out_equals_sklearn_and_stratified_keeps_proportions():
    for size in (0.2, 0.5, 7):
        train, test = sp.train_test_split_indices(N, size, random_state=3)
        _, their_test = ms.train_test_split(np.arange(N), test_size=size, random_state=3)
        assert np.array_equal(test, np.sort(their_test))
        assert np.array_equal(np.sort(np.r_[train, test]), np.arange(N))
    y = np.repeat([0, 1], [80, 20])
    train, test = sp.train_test_split_indices(100, 0.25, stratify=y, random_state=0)
    assert len(test) == 25 and y[test].sum() == 5 and not np.intersect1d(train, test).size


def test_shuffled_folds_partition_and_respect_classes_and_groups():
    for seed in range(5):
        tests = [t for _, t in sp.StratifiedKFold(4, shuffle=True, random_state=seed).split(X, Y)]
        assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(N))
        for c in range(3):
            counts = [np.sum(Y[t] == c) for t in tests]
            assert max(counts) - min(counts) <= 1
        for train, test in sp.GroupKFold(4, shuffle=True, random_state=seed).split(X, Y, GROUPS):
            assert not np.intersect1d(GROUPS[train], GROUPS[test]).size


def test_fold_labels_marks_each_row_once_per_split():
    labels = sp.fold_labels(sp.KFold(4), 10)
    assert labels.shape == (4, 10) and (labels.sum(axis=0) == 1).all()
    assert (sp.fold_labels(sp.TimeSeriesSplit(3), 12) == -1).any()  # rows after a test block are unused


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        sp.KFold(1)
    with pytest.raises(ValueError, match="random_state has no effect unless shuffle=True"):
        sp.KFold(3, random_state=0)
    with pytest.raises(ValueError, match="needs y"):
        list(sp.StratifiedKFold(3).split(X))
    with pytest.raises(ValueError, match="larger than the largest class"):
        list(sp.StratifiedKFold(5).split(np.zeros((6, 1)), [0, 0, 0, 1, 1, 1]))
    with pytest.raises(ValueError, match="needs groups"):
        list(sp.GroupKFold(3).split(X))
    with pytest.raises(ValueError, match="cannot put 2 groups into n_splits=3"):
        list(sp.GroupKFold(3).split(np.zeros((4, 1)), None, [0, 0, 1, 1]))
    with pytest.raises(ValueError, match="first training set would be empty"):
        list(sp.TimeSeriesSplit(3, gap=5).split(np.zeros((8, 1))))
    with pytest.raises(ValueError, match="must lie in \\(0, 1\\)"):
        sp.train_test_split_indices(10, 1.5)
    with pytest.raises(ValueError, match="has 10 rows but y has 9"):
        cross_val_scores(DecisionTreeClassifier, np.zeros((10, 2)), np.zeros(9), sp.KFold(2), accuracy_score)
    with pytest.raises(ValueError, match="has no predict_proba"):
        cross_val_scores(lambda: _NoProba(), X, Y, sp.KFold(2), accuracy_score, method="predict_proba")


class _NoProba:
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


DATA = load_breast_cancer()
XB, YB = DATA.data[:200], DATA.target[:200]


def tree(depth=3):
    return DecisionTreeClassifier(max_depth=depth, random_state=0)


def test_cross_val_scores_and_curves_equal_sklearn():
    cv = sp.StratifiedKFold(5)
    ours = cross_val_scores(tree, XB, YB, cv, accuracy_score)
    theirs = ms.cross_val_score(tree(), XB, YB, cv=ms.StratifiedKFold(5), scoring="accuracy")
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    sizes, tr, te = learning_curve(tree, XB, YB, sp.KFold(4), accuracy_score, train_sizes=[0.2, 0.6, 1.0])
    s2, tr2, te2 = ms.learning_curve(tree(), XB, YB, cv=ms.KFold(4), train_sizes=[0.2, 0.6, 1.0], scoring="accuracy")
    assert np.array_equal(sizes, s2)
    np.testing.assert_allclose(tr, tr2, atol=1e-12)
    np.testing.assert_allclose(te, te2, atol=1e-12)
    tr, te = validation_curve(tree, XB, YB, [1, 2, 4], sp.KFold(4), accuracy_score)
    tr2, te2 = ms.validation_curve(tree(), XB, YB, param_name="max_depth", param_range=[1, 2, 4], cv=ms.KFold(4),
                                   scoring="accuracy")
    np.testing.assert_allclose(tr, tr2, atol=1e-12)
    np.testing.assert_allclose(te, te2, atol=1e-12)


def test_correlation_selection_matches_numpy_and_selects_inside_fit():
    Xn = RNG.normal(size=(40, 30))
    y = Xn[:, 4] * 2 + 0.1 * RNG.normal(size=40)
    r = np.array([abs(np.corrcoef(Xn[:, j], y)[0, 1]) for j in range(30)])
    np.testing.assert_allclose(correlation_scores(Xn, y), r, atol=1e-12)
    assert select_k_by_correlation(Xn, y, 3)[0] == 4
    model = SelectThenFit(tree, 2).fit(Xn, (y > 0).astype(int))
    assert 4 in model.features_ and model.predict(Xn).shape == (40,)
    with pytest.raises(ValueError, match="k must lie between 1 and the number of features"):
        select_k_by_correlation(Xn, y, 31)
