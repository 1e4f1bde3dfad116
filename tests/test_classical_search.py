"""Tests of mlcourse.classical.search (chapter 9): grid search, random search, successive halving, nested CV.

The searches are compared with scikit-learn's GridSearchCV, RandomizedSearchCV and HalvingGridSearchCV on the
same candidates and the same folds. The models are deterministic (SVC, and the course's Ridge against
scikit-learn's), so the mean fold scores must agree to rounding (1e-12 for SVC: the very same fits; 1e-8 for the
two Ridge implementations, whose closed forms differ in rounding only). Known answers check the halving schedule
and the nested loop; bad input must fail with a message that names what is wrong.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn import linear_model
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (makes HalvingGridSearchCV importable)
from sklearn.model_selection import (
    GridSearchCV, HalvingGridSearchCV, ParameterGrid, ParameterSampler, RandomizedSearchCV,
)
from sklearn.svm import SVC

from mlcourse.classical import search
from mlcourse.classical.regularized import Ridge
from mlcourse.classical.splitters import KFold, StratifiedKFold


def accuracy(y_true, y_pred):
    return float(np.mean(y_true == y_pred))


def neg_mse(y_true, y_pred):
    return -float(np.mean((y_true - y_pred) ** 2))


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:240], y[:240]
    return (X - X.mean(0)) / X.std(0), y


GRID = {"C": [0.1, 1.0, 10.0], "gamma": [0.003, 0.03, 0.3]}


def test_expand_grid_is_parameter_grid_in_the_same_order():
    grid = {"gamma": [1, 2], "C": [0.1, 1.0, 10.0], "kernel": ["rbf", "linear"]}
    assert search.expand_grid(grid) == list(ParameterGrid(grid))
    assert len(search.expand_grid(grid)) == 12


def test_grid_search_equals_grid_search_cv(cancer):
    X, y = cancer
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    ours = search.grid_search(lambda **p: SVC(**p), GRID, X, y, cv, accuracy)
    theirs = GridSearchCV(SVC(), GRID, cv=list(cv.split(X, y))).fit(X, y)
    # identical fits on identical folds: the scores are the same floats
    np.testing.assert_allclose(ours.mean_scores, theirs.cv_results_["mean_test_score"], atol=1e-12)
    assert ours.best_params == theirs.best_params_
    assert ours.best_score == pytest.approx(theirs.best_score_, abs=1e-12)
    assert ours.n_fits == 9 * 4
    np.testing.assert_array_equal(ours.best_model.predict(X), theirs.best_estimator_.predict(X))


def test_grid_search_of_the_course_ridge_equals_scikit_learn():
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [0.01, 0.1, 1.0, 10.0]}
    cv = KFold(5, shuffle=True, random_state=1)
    ours = search.grid_search(lambda **p: Ridge(**p), grid, X, y, cv, neg_mse)
    theirs = GridSearchCV(linear_model.Ridge(), grid, cv=list(cv.split(X)), scoring="neg_mean_squared_error").fit(X, y)
    # two closed-form solvers: equal up to rounding of the linear solves
    np.testing.assert_allclose(ours.mean_scores, theirs.cv_results_["mean_test_score"], rtol=1e-8)
    assert ours.best_params == theirs.best_params_


def test_random_search_on_the_same_candidates_equals_randomized_search_cv(cancer):
    X, y = cancer
    cv = StratifiedKFold(3, shuffle=True, random_state=2)
    dists = {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-4, 1.0)}
    candidates = list(ParameterSampler(dists, 6, random_state=0))  # what RandomizedSearchCV draws
    ours = search.evaluate_candidates(lambda **p: SVC(**p), candidates, X, y, cv, accuracy)
    theirs = RandomizedSearchCV(SVC(), dists, n_iter=6, cv=list(cv.split(X, y)), random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.mean_scores, theirs.cv_results_["mean_test_score"], atol=1e-12)
    assert ours.best_params == theirs.best_params_


def test_sample_candidates_draws_from_each_kind_of_distribution():
    dists = {"a": [1, 2, 3], "b": loguniform(1e-3, 1e3), "c": lambda rng: rng.uniform(5, 6)}
    first, again = search.sample_candidates(dists, 200, seed=3), search.sample_candidates(dists, 200, seed=3)
    assert first == again  # reproducible
    assert {c["a"] for c in first} == {1, 2, 3}
    b = np.array([c["b"] for c in first])
    assert b.min() >= 1e-3 and b.max() <= 1e3 and (b < 1).mean() == pytest.approx(0.5, abs=0.12)  # log-uniform
    assert all(5 <= c["c"] <= 6 for c in first)
    assert len({c["b"] for c in first}) == 200  # continuous: every candidate a new value


def test_halving_round_keeps_the_best_third(cancer):
    X, y = cancer
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    candidates = [{"C": c} for c in (1e-4, 1e-3, 1.0, 10.0, 1e-5, 3.0, 1e-6)]
    kept, means, cost = search.halving_round(lambda **p: SVC(**p), candidates, X, y, splits, accuracy, 60, 3,
                                             np.random.default_rng(0))  # fmt: skip
    assert len(kept) == math.ceil(7 / 3) and means.shape == (7,)
    assert all(c["C"] >= 1.0 for c in kept)  # tiny C predicts the majority class only
    assert cost == 7 * 3 * 60


def test_successive_halving_schedule_matches_halving_grid_search_cv(cancer):
    X, y = cancer
    grid = {"C": list(np.geomspace(0.01, 100, 9)), "gamma": list(np.geomspace(1e-4, 1.0, 3))}  # 27 candidates
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = search.successive_halving(lambda **p: SVC(**p), search.expand_grid(grid), X, y, cv, accuracy, factor=3)
    theirs = HalvingGridSearchCV(SVC(), grid, cv=list(cv.split(X, y)), factor=3, random_state=0).fit(X, y)
    assert [r["n_candidates"] for r in ours.rounds] == list(theirs.n_candidates_) == [27, 9, 3]
    resources = [r["n_resources"] for r in ours.rounds]
    assert all(b == 3 * a for a, b in zip(resources, resources[1:]))
    full = search.grid_search(lambda **p: SVC(**p), grid, X, y, cv, accuracy, refit=False)
    assert ours.samples_fitted < full.samples_fitted / 3
    chosen = full.mean_scores[full.candidates.index(ours.best_params)]
    assert chosen >= full.best_score - 0.03  # the halving winner is (nearly) as good as the grid's


def test_nested_cv_with_one_candidate_is_plain_cross_validation(cancer):
    X, y = cancer
    outer = StratifiedKFold(4, shuffle=True, random_state=0)
    out = search.nested_cv(lambda **p: SVC(**p), [{"C": 1.0}], X, y, outer, KFold(3), accuracy)
    plain = search.grid_search(lambda **p: SVC(**p), {"C": [1.0]}, X, y, outer, accuracy)
    np.testing.assert_allclose(out["outer_scores"], plain.fold_scores[0], atol=1e-12)
    assert out["non_nested_best"] == pytest.approx(out["nested_mean"], abs=1e-12)


def test_nested_cv_is_at_most_the_optimistic_estimate_on_noise():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 5)), rng.integers(0, 2, 60)
    cands = search.expand_grid({"C": [0.01, 0.1, 1, 10, 100], "gamma": [0.01, 0.1, 1, 10]})
    out = search.nested_cv(lambda **p: SVC(**p), cands, X, y, KFold(5, shuffle=True, random_state=0), KFold(3),
                           accuracy)  # fmt: skip
    assert out["non_nested_best"] > out["nested_mean"]  # the best of 20 noisy scores beats chance
    assert len(out["chosen"]) == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: search.expand_grid({}), "non-empty dict"),
        (lambda: search.expand_grid({"C": 1.0}), "grid['C'] must be a non-empty list"),
        (lambda: search.expand_grid({"C": []}), "grid['C'] must be a non-empty list"),
        (lambda: search.sample_candidates({"C": [1]}, 0), "n_iter must be at least 1"),
        (lambda: search.sample_candidates({"C": 3.0}, 2), "distribution 'C' must be a non-empty list"),
    ],
)
def test_bad_search_specifications_are_named(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_bad_data_and_settings_are_named(cancer):
    X, y = cancer
    make = lambda **p: SVC(**p)  # noqa: E731
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        search.grid_search(make, GRID, bad, y, KFold(3), accuracy)
    with pytest.raises(ValueError, match="rows but y has"):
        search.grid_search(make, GRID, X, y[:-1], KFold(3), accuracy)
    with pytest.raises(ValueError, match="single class"):
        search.grid_search(make, GRID, X, np.zeros(len(X), dtype=int), KFold(3), accuracy)
    with pytest.raises(ValueError, match="cv must have a split"):
        search.grid_search(make, GRID, X, y, 5, accuracy)
    with pytest.raises(ValueError, match="factor must be an integer >= 2"):
        search.successive_halving(make, search.expand_grid(GRID), X, y, KFold(3), accuracy, factor=1)
    with pytest.raises(ValueError, match="min_resources must be between 1 and the smallest training fold"):
        search.successive_halving(make, search.expand_grid(GRID), X, y, KFold(3), accuracy, min_resources=10_000)
