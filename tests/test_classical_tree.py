"""Decision trees (classical.tree, classical.tree_split): a hand-sized split, the cumulative-sum search against a
brute-force loop, agreement with scikit-learn's trees and pruning path, sample weights as repeated rows, the
random feature subsets, and clear errors for bad input.

How equal to scikit-learn, and why not always node for node: both trees take, at every node, a split with the
largest impurity decrease. When two features give the same decrease (e.g. two features that order a 2-sample
node the same way), we take the lowest column index while scikit-learn visits the features in a random order;
then the trees differ from that node on, legitimately. So the node-by-node tests use data without such ties
(continuous features, leaves of at least 5 samples), and the test on real data checks the property itself:
at each of scikit-learn's nodes our search finds a split with the same impurity decrease (to 1e-12 relative).
scikit-learn stores X as float32; the tie-free data are float32 values, so thresholds agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.tree import DecisionTreeClassifier as SkTreeClassifier
from sklearn.tree import DecisionTreeRegressor as SkTreeRegressor

from mlcourse.classical.tree import DecisionTreeClassifier, DecisionTreeRegressor, weakest_link_pruning
from mlcourse.classical.tree_split import best_splits, choose_split, entropy, gini, node_impurity


def tie_free(seed: int = 0, n: int = 400, d: int = 6, classification: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Continuous float32-representable features and a noisy nonlinear target (3 classes or a real number)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32).astype(np.float64)
    signal = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3]
    if classification:
        return X, np.digitize(signal + 0.3 * rng.normal(size=n), [-0.5, 0.5])
    return X, signal + 0.3 * rng.normal(size=n)


def assert_same_tree(ours, theirs, feature_ties: int = 0) -> None:
    """Every array of ``tree_`` equal: structure exactly, floats to round-off.

    ``feature_ties``: at most this many nodes may split on another feature (a tie: the same children, same
    sizes and impurities, so the same partition of the training rows; scikit-learn's random feature order
    decides which feature it records).
    """
    a, b = ours.tree_, theirs.tree_
    assert a.node_count == b.node_count
    for name in ("children_left", "children_right", "n_node_samples"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.impurity, b.impurity, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.weighted_n_node_samples, b.weighted_n_node_samples, rtol=1e-12)
    np.testing.assert_allclose(a.value, b.value.reshape(len(b.value), -1), rtol=1e-10, atol=1e-12)
    same = a.feature == b.feature
    assert (~same).sum() <= feature_ties, f"{(~same).sum()} nodes split on another feature"
    np.testing.assert_array_equal(a.threshold[same], b.threshold[same])  # float32 data: both the midpoint, exactly
    if feature_ties == 0:
        np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the pieces


def test_impurities_by_hand():
    counts = np.array([[5.0, 5.0], [10.0, 0.0], [2.0, 6.0], [1.0, 1.0]])
    total = counts.sum(1)
    np.testing.assert_allclose(gini(counts, total), [0.5, 0.0, 1 - (0.25**2 + 0.75**2), 0.5])
    np.testing.assert_allclose(entropy(counts, total), [1.0, 0.0, -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75)), 1.0])
    y, w = np.array([1.0, 2.0, 3.0, 6.0]), np.ones(4)
    assert node_impurity("squared_error", np.array([y.sum(), (y**2).sum()]), 4.0) == pytest.approx(y.var())
    assert node_impurity("squared_error", np.array([(w * y).sum(), (w * y**2).sum()]), w.sum()) == pytest.approx(3.5)


def test_a_four_point_tree_splits_once_at_the_midpoint():
    model = DecisionTreeClassifier().fit(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([0, 0, 1, 1]))
    t = model.tree_
    assert t.node_count == 3 and t.feature[0] == 0 and t.threshold[0] == 2.5
    np.testing.assert_allclose(t.impurity, [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(t.children_left, [1, -1, -1])
    np.testing.assert_array_equal(model.predict(np.array([[2.5], [2.6]])), [0, 1])  # x <= threshold goes left


def brute_force_best(x: np.ndarray, y: np.ndarray, criterion: str, min_leaf: int) -> float:
    """The best impurity decrease over all thresholds, by a Python loop (the slow, obvious way)."""
    if criterion == "squared_error":
        imp = lambda v: v.var()  # noqa: E731
    else:
        imp = lambda v: float((gini if criterion == "gini" else entropy)(np.bincount(v, minlength=3).astype(float), np.asarray(len(v))))  # noqa: E731,E501
    best, values = -np.inf, np.unique(x)
    for lo, hi in zip(values[:-1], values[1:]):
        left = x <= (lo + hi) / 2
        if left.sum() >= min_leaf and (~left).sum() >= min_leaf:
            best = max(best, imp(y) - left.mean() * imp(y[left]) - (~left).mean() * imp(y[~left]))
    return best


@pytest.mark.parametrize("criterion", ["gini", "entropy", "squared_error"])
@pytest.mark.parametrize("min_leaf", [1, 4])
def test_cumulative_sum_search_equals_a_loop_over_thresholds(criterion, min_leaf):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 12, size=60).astype(float)  # repeated values: no threshold between equal ones
    y = rng.integers(0, 3, size=60) if criterion != "squared_error" else rng.normal(size=60)
    stats = np.eye(3)[y] if criterion != "squared_error" else np.column_stack([y, y * y])
    split = choose_split(x[:, None], stats, np.ones(60), criterion, min_leaf, 1, np.random.default_rng(0))
    left = x <= split.threshold
    decrease = node_impurity(criterion, stats.sum(0), 60) - sum(
        m.mean() * node_impurity(criterion, stats[m].sum(0), m.sum()) for m in (left, ~left))
    assert decrease == pytest.approx(brute_force_best(x, y, criterion, min_leaf), rel=1e-12)
    assert split.threshold not in x  # a midpoint between two distinct values


def test_a_constant_feature_is_never_split():
    X = np.column_stack([np.ones(30), np.arange(30.0)])
    proxy, _, constant = best_splits(X, np.eye(2)[np.arange(30) % 2], np.ones(30), "gini")
    assert constant.tolist() == [True, False] and proxy[0] == -np.inf
    assert set(DecisionTreeClassifier().fit(X, np.arange(30) % 2).tree_.feature) <= {-2, 1}


# ---------------------------------------------------------------- equal to scikit-learn


@pytest.mark.parametrize("criterion, settings, ties", [
    ("gini", dict(min_samples_split=30), 2), ("entropy", dict(min_samples_split=30), 0),
    ("entropy", dict(max_depth=4), 0), ("gini", dict(min_samples_leaf=3, ccp_alpha=0.01), 0),
])  # fmt: skip
def test_classifier_equals_sklearn_node_for_node(criterion, settings, ties):
    """Three classes make exact ties frequent in small nodes, so these settings keep the nodes large enough."""
    X, y = tie_free()
    ours = DecisionTreeClassifier(criterion=criterion, **settings).fit(X, y)
    theirs = SkTreeClassifier(criterion=criterion, random_state=0, **settings).fit(X, y)
    assert_same_tree(ours, theirs, feature_ties=ties)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if ties == 0:
        X_new, _ = tie_free(seed=9)
        np.testing.assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new), atol=1e-12)


@pytest.mark.parametrize("criterion", ["gini", "entropy"])
def test_weighted_classifier_equals_sklearn(criterion):
    """Continuous weights. (With weights and 1-sample leaves scikit-learn may split a node that is pure up to
    round-off, its impurity ~1e-16 > eps; ours computes a pure node's impurity as exactly 0 and stops there.)"""
    X, y = tie_free()
    w = np.random.default_rng(10).uniform(0.5, 1.5, len(y))
    ours = DecisionTreeClassifier(criterion=criterion, min_samples_leaf=5).fit(X, y, sample_weight=w)
    theirs = SkTreeClassifier(criterion=criterion, min_samples_leaf=5, random_state=0).fit(X, y, sample_weight=w)
    assert_same_tree(ours, theirs, feature_ties=1)


@pytest.mark.parametrize("settings", [dict(min_samples_leaf=5), dict(min_samples_split=30), dict(min_samples_leaf=3, ccp_alpha=0.01)])
def test_regressor_equals_sklearn_node_for_node(settings):
    X, y = tie_free(classification=False)
    ours = DecisionTreeRegressor(**settings).fit(X, y)
    theirs = SkTreeRegressor(random_state=0, **settings).fit(X, y)
    assert_same_tree(ours, theirs)
    X_new, _ = tie_free(seed=9, classification=False)
    np.testing.assert_allclose(ours.predict(X_new), theirs.predict(X_new), rtol=1e-10)


def test_sample_weights_equal_sklearn_and_repeated_rows():
    X, y = tie_free(classification=False)
    counts = np.random.default_rng(3).poisson(1.0, size=len(y)).astype(float)  # bootstrap-like counts
    ours = DecisionTreeRegressor(min_samples_leaf=5).fit(X, y, sample_weight=counts)
    assert_same_tree(ours, SkTreeRegressor(min_samples_leaf=5, random_state=0).fit(X, y, sample_weight=counts))
    rows = np.repeat(np.arange(len(y)), counts.astype(int))  # the same data, rows repeated instead of weighted
    repeated = DecisionTreeRegressor(max_depth=3).fit(X[rows], y[rows]).tree_
    weighted = DecisionTreeRegressor(max_depth=3).fit(X, y, sample_weight=counts).tree_
    np.testing.assert_array_equal(repeated.feature, weighted.feature)
    np.testing.assert_allclose(repeated.value, weighted.value, rtol=1e-12)
    np.testing.assert_allclose(repeated.weighted_n_node_samples, weighted.weighted_n_node_samples)


def test_on_real_data_every_split_has_sklearns_impurity_decrease():
    """Fully grown trees on breast cancer and diabetes: ties may pick other features, never a worse split."""
    for X, y, ours, theirs, criterion in (
            (*load_breast_cancer(return_X_y=True), DecisionTreeClassifier, SkTreeClassifier, "gini"),
            (*load_diabetes(return_X_y=True), DecisionTreeRegressor, SkTreeRegressor, "squared_error")):  # fmt: skip
        sk = theirs(random_state=0).fit(X, y)
        t, paths = sk.tree_, sk.decision_path(X).toarray().astype(bool)
        stats = np.eye(2)[y] if criterion == "gini" else np.column_stack([y, y * y])
        for node in np.flatnonzero(t.children_left != -1):
            rows = paths[:, node]
            split = choose_split(X[rows], stats[rows], np.ones(rows.sum()), criterion, 1, X.shape[1], None)
            left = X[rows, split.feature] <= split.threshold
            imp = lambda m: node_impurity(criterion, stats[rows][m].sum(0), m.sum())  # noqa: E731
            ours_decrease = rows.sum() * imp(left | ~left) - left.sum() * imp(left) - (~left).sum() * imp(~left)
            l, r = t.children_left[node], t.children_right[node]
            w, i = t.weighted_n_node_samples, t.impurity
            assert ours_decrease == pytest.approx(w[node] * i[node] - w[l] * i[l] - w[r] * i[r], rel=1e-12, abs=1e-9)
        assert np.array_equal(ours().fit(X, y).predict(X), sk.predict(X))  # fully grown: both fit the training set


@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_pruning_path_and_pruned_trees_equal_sklearn(which):
    X, y = load_breast_cancer(return_X_y=True) if which == "classifier" else tie_free(classification=False)
    ours, theirs = (DecisionTreeClassifier, SkTreeClassifier) if which == "classifier" else (DecisionTreeRegressor, SkTreeRegressor)  # noqa: E501
    kwargs = dict(min_samples_leaf=3 if which == "classifier" else 5)  # leaves large enough to avoid ties
    alphas, impurities = ours(**kwargs).cost_complexity_pruning_path(X, y)
    path = theirs(random_state=0, **kwargs).cost_complexity_pruning_path(X, y)
    assert alphas[0] == 0.0 and np.all(np.diff(impurities) >= -1e-15)  # pruning only ever adds impurity
    np.testing.assert_allclose(alphas, path.ccp_alphas, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(impurities, path.impurities, rtol=1e-9, atol=1e-15)
    for alpha in (alphas[:-1] + alphas[1:])[::3] / 2:  # between two steps of the path: no borderline prune
        a = ours(ccp_alpha=alpha, **kwargs).fit(X, y)
        b = theirs(ccp_alpha=alpha, random_state=0, **kwargs).fit(X, y)
        assert a.get_n_leaves() == b.get_n_leaves() and a.get_depth() == b.get_depth()
        np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-12, atol=1e-12)  # leaf means: round-off


def test_pruning_to_the_root_leaves_a_single_leaf():
    X, y = tie_free()
    tree = DecisionTreeClassifier().fit(X, y).tree_
    alphas, impurities, keep = weakest_link_pruning(tree)
    assert keep.sum() == 1 and impurities[-1] == pytest.approx(tree.impurity[0])
    assert DecisionTreeClassifier(ccp_alpha=alphas[-1]).fit(X, y).get_n_leaves() == 1


# ---------------------------------------------------------------- behaviour


def test_limits_are_respected_and_a_full_tree_fits_its_training_set():
    X, y = tie_free()
    assert DecisionTreeClassifier(max_depth=3).fit(X, y).get_depth() == 3
    leaves = DecisionTreeClassifier(min_samples_leaf=7).fit(X, y)
    t = leaves.tree_
    assert t.n_node_samples[t.children_left == -1].min() >= 7
    assert np.array_equal(DecisionTreeClassifier().fit(X, y).predict(X), y)  # distinct rows: every leaf is pure


def test_predict_proba_columns_follow_classes_and_sum_to_one():
    X, y = tie_free()
    labels = np.array(["low", "mid", "high"])[y]
    model = DecisionTreeClassifier(max_depth=3).fit(X, labels)
    assert model.classes_.tolist() == ["high", "low", "mid"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert np.array_equal(model.predict(X), model.classes_[proba.argmax(1)])
    assert np.array_equal(model.tree_.value[model.apply(X)], proba)


def test_trees_ignore_the_scale_of_features():
    X, y = tie_free()
    scaled = X * np.array([1e-3, 1.0, 1e3, 5.0, 1e6, 1.0]) + 7.0  # units differ by 10^9: no effect on a tree
    a, b = DecisionTreeClassifier(min_samples_leaf=5).fit(X, y), DecisionTreeClassifier(min_samples_leaf=5).fit(scaled, y)
    np.testing.assert_array_equal(a.tree_.feature, b.tree_.feature)
    np.testing.assert_array_equal(a.predict(X), b.predict(scaled))


def test_random_feature_subsets_come_from_default_rng():
    X, y = tie_free(d=6)
    model = DecisionTreeClassifier(max_features=1, max_depth=1, random_state=5).fit(X, y)
    assert model.max_features_ == 1 and model.tree_.feature[0] == np.random.default_rng(5).permutation(6)[0]
    same = [DecisionTreeClassifier(max_features="sqrt", random_state=7).fit(X, y).tree_.feature for _ in range(2)]
    np.testing.assert_array_equal(*same)
    other = DecisionTreeClassifier(max_features="sqrt", random_state=8).fit(X, y).tree_.feature
    assert len(other) != len(same[0]) or not np.array_equal(other, same[0])
    assert DecisionTreeClassifier(max_features=0.5).fit(X, y).max_features_ == 3
    assert DecisionTreeClassifier(max_features="sqrt").fit(X, y).max_features_ == 2


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("make, X, y, message", [
    (DecisionTreeClassifier, [[1.0], [np.nan]], [0, 1], "NaN or infinite"),
    (DecisionTreeClassifier, [1.0, 2.0], [0, 1], "must be 2-D"),
    (DecisionTreeClassifier, [[1.0], [2.0]], [1, 1], "single class"),
    (DecisionTreeRegressor, [[1.0], [2.0], [3.0]], [1.0, 2.0], "3 rows but y has 2"),
])  # fmt: skip
def test_bad_data_fails_at_fit_with_a_clear_message(make, X, y, message):
    with pytest.raises(ValueError, match=message):
        make().fit(X, y)


@pytest.mark.parametrize("settings, message", [
    (dict(criterion="squared_error"), "criterion must be one of"),
    (dict(max_depth=0), "max_depth must be None or an integer >= 1"),
    (dict(min_samples_split=1), "min_samples_split must be an integer >= 2"),
    (dict(min_samples_leaf=0), "min_samples_leaf must be an integer >= 1"),
    (dict(max_features=0), "max_features must be"),
    (dict(max_features="log3"), "max_features must be"),
    (dict(ccp_alpha=-1.0), "ccp_alpha must be >= 0"),
])  # fmt: skip
def test_bad_settings_fail_with_a_clear_message(settings, message):
    X, y = tie_free(n=20)
    with pytest.raises(ValueError, match=message):
        DecisionTreeClassifier(**settings).fit(X, y)


def test_bad_weights_unfitted_models_and_wrong_widths_fail_clearly():
    X, y = tie_free(n=20)
    with pytest.raises(ValueError, match="non-negative"):
        DecisionTreeRegressor().fit(X, y.astype(float), sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        DecisionTreeRegressor().fit(X, y.astype(float), sample_weight=np.ones(3))
    with pytest.raises(RuntimeError, match="not fitted yet"):
        DecisionTreeClassifier().predict(X)
    with pytest.raises(ValueError, match="X has 5 features but the model was fitted on 6"):
        DecisionTreeClassifier().fit(X, y).predict(X[:, :5])
