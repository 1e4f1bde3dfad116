"""Tests of mlcourse.classical.forest (chapter 6): bagging and random forests built on chapter 5's trees.

Forests are random, so they cannot equal scikit-learn's number for number (the bootstrap draws and the feature
subsets come from different generators). What is compared instead: (1) the deterministic limits, where a forest
without bootstrap and with every feature is one tree repeated; (2) the bookkeeping (bootstrap counts,
out-of-bag averages, the variance formula) on hand-sized or simulated cases with known answers; (3) the
distribution over seeds of test accuracy / R^2 and out-of-bag scores against scikit-learn's forests on the same
split, within a tolerance set by the spread over seeds measured here; (4) bad input failing with a message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import ensemble
from sklearn.datasets import load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from mlcourse.classical.boosting import GradientBoostingRegressor
from mlcourse.classical.forest import (
    RandomForestClassifier, RandomForestRegressor, bootstrap_counts, forest_variance, oob_average,
    permutation_importance, tree_correlation,
)
from mlcourse.classical.tree import DecisionTreeClassifier, DecisionTreeRegressor


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return train_test_split(X, y, test_size=0.3, random_state=1)


# ---------------------------------------------------------------- bootstrap and out-of-bag bookkeeping


def test_bootstrap_counts_sum_to_n_and_leave_out_about_one_row_in_e():
    counts = bootstrap_counts(20_000, np.random.default_rng(0))
    assert counts.shape == (20_000,) and counts.sum() == 20_000 and counts.min() >= 0
    # P(row never drawn) = (1 - 1/n)^n -> 1/e = 0.3679; the binomial s.d. of the fraction is 0.0034 at n = 20,000
    assert abs(np.mean(counts == 0) - np.exp(-1)) < 0.015
    # the counts are Binomial(n, 1/n) ~ Poisson(1): P(count = 1) = 1/e as well, P(count = 2) = 1/(2e)
    assert abs(np.mean(counts == 2) - np.exp(-1) / 2) < 0.015
    np.testing.assert_array_equal(counts, bootstrap_counts(20_000, np.random.default_rng(0)))  # seeded: repeatable


def test_oob_average_hand_example():
    predictions = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])  # (B=3, n=3)
    counts = np.array([[0, 1, 2], [0, 0, 1], [1, 2, 1]])  # row 0 out of trees 0 and 1; row 1 of tree 1; row 2 never
    average, n_oob = oob_average(predictions, counts)
    np.testing.assert_array_equal(n_oob, [2, 1, 0])
    np.testing.assert_allclose(average[:2], [5.5, 20.0])
    assert np.isnan(average[2])
    proba = np.stack([predictions, 2 * predictions], axis=-1)  # (B, n, K=2): class probabilities work the same way
    np.testing.assert_allclose(oob_average(proba, counts)[0][:2], [[5.5, 11.0], [20.0, 40.0]])


def test_bootstrap_weights_equal_repeated_rows(diabetes):
    # A row drawn twice must weigh as much as two copies of it: fitting on the counts as sample_weight grows the
    # same tree as fitting on the rows repeated (to round-off in the summed statistics).
    X, _, y, _ = diabetes
    counts = bootstrap_counts(len(y), np.random.default_rng(3))
    rows = counts > 0
    weighted = DecisionTreeRegressor(max_depth=6).fit(X[rows], y[rows], sample_weight=counts[rows].astype(float))
    repeated = DecisionTreeRegressor(max_depth=6).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), atol=1e-9)


# ---------------------------------------------------------------- the deterministic limit: one tree, repeated


def test_forest_without_bootstrap_or_feature_sampling_is_one_tree(wine, diabetes):
    X, X_test, y, _ = wine
    forest = RandomForestClassifier(3, max_features=None, bootstrap=False, random_state=0).fit(X, y)
    np.testing.assert_array_equal(forest.predict_proba(X_test), DecisionTreeClassifier().fit(X, y).predict_proba(X_test))
    X, X_test, y, _ = diabetes
    forest = RandomForestRegressor(3, max_features=None, bootstrap=False, random_state=0).fit(X, y)
    np.testing.assert_array_equal(forest.predict(X_test), DecisionTreeRegressor().fit(X, y).predict(X_test))


def test_forest_is_the_average_of_its_trees(wine):
    X, X_test, y, _ = wine
    forest = RandomForestClassifier(7, random_state=0).fit(X, y)
    per_tree = forest.tree_predictions(X_test)  # (B, n, K)
    assert per_tree.shape == (7, len(X_test), 3)
    np.testing.assert_allclose(forest.predict_proba(X_test), per_tree.mean(0))
    np.testing.assert_allclose(forest.predict_proba(X_test).sum(1), 1.0)
    imps = [t.feature_importances_ for t in forest.estimators_]
    np.testing.assert_allclose(forest.feature_importances_, np.mean(imps, 0) / np.mean(imps, 0).sum())


def test_labels_keep_their_type_and_a_class_missing_from_a_bag_is_handled():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = np.array(["a"] * 29 + ["rare"])  # one rare row: a bootstrap sample misses it with probability 0.97^30 = 0.36
    forest = RandomForestClassifier(20, oob_score=True, random_state=0).fit(X, y)
    assert (forest.bootstrap_counts_[:, -1] == 0).any()  # some trees never saw the rare class
    assert list(forest.classes_) == ["a", "rare"]
    assert forest.predict_proba(X).shape == (30, 2) and set(forest.predict(X)) <= {"a", "rare"}
    assert forest.oob_decision_function_.shape == (30, 2)


# ---------------------------------------------------------------- against scikit-learn, over seeds


SEEDS = range(5)


def test_classifier_accuracy_and_oob_match_sklearn_over_seeds(wine):
    # Same split, 5 seeds each, 30 trees. The spread over seeds of either library is ~0.01-0.02 in accuracy on
    # 54 test rows (one row = 0.019); the means must agree within 0.04 (two rows), the OOB means within 0.04.
    X, X_test, y, y_test = wine
    ours = [RandomForestClassifier(30, oob_score=True, random_state=s).fit(X, y) for s in SEEDS]
    theirs = [ensemble.RandomForestClassifier(30, oob_score=True, random_state=s).fit(X, y) for s in SEEDS]
    assert abs(np.mean([m.score(X_test, y_test) for m in ours]) - np.mean([m.score(X_test, y_test) for m in theirs])) < 0.04
    assert abs(np.mean([m.oob_score_ for m in ours]) - np.mean([m.oob_score_ for m in theirs])) < 0.04
    assert min(m.score(X_test, y_test) for m in ours) > 0.9


def test_regressor_r2_and_oob_match_sklearn_over_seeds(diabetes):
    # Diabetes is noisy (R^2 ~ 0.25 on this split). Over 30 seeds both libraries' test R^2 have a spread (s.d.) of
    # 0.025, so the difference of two 5-seed means has a s.d. of ~0.016: they must agree within 0.05 (3 s.d.).
    # The OOB R^2 spreads less (0.015). min_samples_leaf=5 keeps the test fast and is passed to both.
    X, X_test, y, y_test = diabetes
    kw = dict(min_samples_leaf=5, oob_score=True)
    ours = [RandomForestRegressor(20, random_state=s, **kw).fit(X, y) for s in SEEDS]
    theirs = [ensemble.RandomForestRegressor(20, random_state=s, **kw).fit(X, y) for s in SEEDS]
    assert abs(np.mean([m.score(X_test, y_test) for m in ours]) - np.mean([m.score(X_test, y_test) for m in theirs])) < 0.05
    assert abs(np.mean([m.oob_score_ for m in ours]) - np.mean([m.oob_score_ for m in theirs])) < 0.04


def test_oob_score_estimates_the_held_out_score(wine):
    # The OOB score is a validation estimate: over seeds it must sit near the held-out accuracy (within 0.05).
    X, X_test, y, y_test = wine
    forests = [RandomForestClassifier(40, oob_score=True, random_state=s).fit(X, y) for s in SEEDS]
    assert abs(np.mean([f.oob_score_ for f in forests]) - np.mean([f.score(X_test, y_test) for f in forests])) < 0.05


# ---------------------------------------------------------------- importances


def test_permutation_importance_known_answer_and_unused_feature():
    # predict = 3 x0 + x1 exactly (x2 unused). Shuffling x_j adds 2 a_j^2 Var(x_j) to the MSE in expectation, so the
    # drop in R^2 is 2 a_j^2 / Var(y) = 2 * 9 / 10 = 1.8 for x0 and 2 * 1 / 10 = 0.2 for x1, and exactly 0 for x2.
    class Linear:
        def score(self, X, y):
            return 1 - np.sum((y - (3 * X[:, 0] + X[:, 1])) ** 2) / np.sum((y - y.mean()) ** 2)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 3))
    y = 3 * X[:, 0] + X[:, 1]
    X_before = X.copy()
    drops = permutation_importance(Linear(), X, y, n_repeats=4, random_state=0)
    assert drops.shape == (3, 4)
    np.testing.assert_allclose(drops.mean(1), [1.8, 0.2, 0.0], atol=0.06)
    assert np.all(drops[2] == 0.0)
    np.testing.assert_array_equal(X, X_before)  # the caller's X is never shuffled in place
    # x0 and x1 shuffled together, by one permutation: the R^2 drop is 2 (9 + 1) / 10 = 2.0
    grouped = permutation_importance(Linear(), X, y, n_repeats=4, random_state=0, groups=[[0, 1], [2]])
    assert grouped.shape == (2, 4)
    np.testing.assert_allclose(grouped.mean(1), [2.0, 0.0], atol=0.06)


def test_permutation_importance_agrees_with_sklearn_on_average(wine):
    # The same fitted model (scikit-learn's forest, whose score is the accuracy, as ours) scored by both functions:
    # different permutations, same expectation. With 30 repeats the means agree within 0.03 (accuracy units).
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    X, X_test, y, y_test = wine
    forest = ensemble.RandomForestClassifier(20, random_state=0).fit(X, y)
    ours = permutation_importance(forest, X_test, y_test, n_repeats=30, random_state=0).mean(1)
    theirs = sk_permutation_importance(forest, X_test, y_test, n_repeats=30, random_state=0, scoring="accuracy")
    np.testing.assert_allclose(ours, theirs.importances_mean, atol=0.03)


# ---------------------------------------------------------------- the variance of an average of correlated trees


def test_tree_correlation_recovers_a_known_correlation_and_predicts_the_forest_variance():
    # T[m, b, x] = a[m, x] + e[m, b, x] with Var(a) = 1, Var(e) = 3: sigma^2 = 4 and rho = 1/4 exactly.
    rng = np.random.default_rng(0)
    M, B, n = 400, 20, 50
    predictions = rng.standard_normal((M, 1, n)) + np.sqrt(3) * rng.standard_normal((M, B, n))
    measured = tree_correlation(predictions)
    assert abs(measured["sigma2"] - 4.0) < 0.15 and abs(measured["rho"] - 0.25) < 0.03
    for b in (1, 5, 20):
        expected = forest_variance(measured["rho"], measured["sigma2"], b)
        assert abs(predictions[:, :b].mean(1).var(0, ddof=1).mean() - expected) < 0.08 * expected
    with pytest.raises(ValueError, match="at least 2 training sets"):
        tree_correlation(predictions[:1])


# ---------------------------------------------------------------- bad input


def test_bad_input_fails_with_a_message_that_names_it(wine):
    X, _, y, _ = wine
    with pytest.raises(ValueError, match="NaN"):
        RandomForestClassifier(2).fit(np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y)
    with pytest.raises(ValueError, match="single class"):
        RandomForestClassifier(2).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="needs bootstrap=True"):
        RandomForestClassifier(2, bootstrap=False, oob_score=True).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators must be a positive integer"):
        RandomForestRegressor(0).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="max_features"):
        RandomForestRegressor(2, max_features=99).fit(X, y.astype(float))
    with pytest.raises(RuntimeError, match="not fitted"):
        RandomForestClassifier(2).predict(X)
    forest = RandomForestClassifier(2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 12 features but the model was fitted on 13"):
        forest.predict(X[:, :12])


def test_rows_never_out_of_bag_are_reported():
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forest = RandomForestRegressor(1, oob_score=True, random_state=0).fit(X, y)  # one tree: ~63% in its bag
    assert any("no out-of-bag prediction" in str(w.message) for w in caught)
    assert np.isfinite(forest.oob_score_)


@pytest.mark.parametrize("model", [RandomForestClassifier, RandomForestRegressor, GradientBoostingRegressor])
def test_every_setting_is_stored_under_its_name_as_given(model):
    """scikit-learn's convention, kept by the shared TreeEnsemble constructor: no setting is renamed, dropped or
    checked early (the checks run at fit), and defaults are each class's own."""
    import inspect

    params = [p for p in inspect.signature(model).parameters.values() if p.name != "self"]
    given = {p.name: object() for p in params}  # a distinct sentinel per setting
    built = model(**given)
    assert {name: getattr(built, name) for name in given} == given
    assert all(getattr(model(), p.name) == p.default for p in params)
    assert built.estimators_ is None
