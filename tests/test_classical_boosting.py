"""Tests of mlcourse.classical.boosting (chapter 6): gradient boosting for the squared error.

The reference is scikit-learn's ``GradientBoostingRegressor`` with the same settings. Its historical criterion,
``friedman_mse``, ranks the splits of a node exactly as the squared error does (scikit-learn 1.9 uses the squared
error itself), and its first model is the mean of y, so the two libraries build the same sequence of trees except where two features split a node's training
rows into the *same* two groups (a tie): scikit-learn breaks it at random (``random_state``), chapter 5's tree
takes the lower column. A tie leaves every training prediction unchanged, so those must agree to round-off
(1e-9), while test predictions may differ, by about as much as scikit-learn differs from itself with another
``random_state``. Stumps (depth 1) on the diabetes data meet no tie and agree everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import ensemble
from sklearn.datasets import load_diabetes

from mlcourse.classical.boosting import (
    GradientBoostingRegressor, boosting_stage, half_squared_error, squared_error_negative_gradient,
)
from mlcourse.classical.gradient_descent import numerical_gradient
from mlcourse.classical.tree import DecisionTreeRegressor


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, scaled=False)  # the features in their own units: no float32 ties
    return X[:350], X[350:], y[:350], y[350:]


def test_the_residual_is_the_negative_gradient_of_the_loss():
    # d/dF [sum_i 1/2 (y_i - F_i)^2] = F - y: the tree of each stage is fitted to minus this gradient
    rng = np.random.default_rng(0)
    y, F = rng.standard_normal(8), rng.standard_normal(8)
    total_loss = lambda F_: len(y) * half_squared_error(y, F_)  # noqa: E731 - the sum, not the mean
    np.testing.assert_allclose(squared_error_negative_gradient(y, F), -numerical_gradient(total_loss, F), atol=1e-6)


def test_one_stage_fits_a_tree_to_the_residuals_and_takes_a_shrunken_step(diabetes):
    X, _, y, _ = diabetes
    F = np.full(len(y), y.mean())
    tree, F_new = boosting_stage(X, y, F, 0.1, lambda: DecisionTreeRegressor(max_depth=2))
    reference = DecisionTreeRegressor(max_depth=2).fit(X, y - F)
    np.testing.assert_allclose(F_new, F + 0.1 * reference.predict(X))
    np.testing.assert_array_equal(tree.tree_.threshold, reference.tree_.threshold)
    np.testing.assert_array_equal(F, np.full(len(y), y.mean()))  # F itself is not modified


def test_stumps_equal_sklearn_everywhere(diabetes):
    X, X_test, y, _ = diabetes
    ours = GradientBoostingRegressor(60, 0.5, max_depth=1).fit(X, y)
    ref = ensemble.GradientBoostingRegressor(n_estimators=60, learning_rate=0.5, max_depth=1, random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.predict(X_test), ref.predict(X_test), atol=1e-9)
    np.testing.assert_allclose(ours.train_score_, ref.train_score_, rtol=1e-10)  # the training MSE after each stage
    np.testing.assert_allclose(ours.feature_importances_, ref.feature_importances_, atol=1e-10)
    assert ours.init_ == pytest.approx(y.mean())


def test_depth_3_equals_sklearn_on_the_training_rows_and_within_its_seed_spread_elsewhere(diabetes):
    X, X_test, y, y_test = diabetes
    ours = GradientBoostingRegressor(100, 0.1, max_depth=3).fit(X, y)
    refs = [ensemble.GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=3, random_state=s).fit(X, y)
            for s in range(3)]  # fmt: skip
    np.testing.assert_allclose(ours.predict(X), refs[0].predict(X), atol=1e-9)  # ties never change these
    np.testing.assert_allclose(ours.train_score_, refs[0].train_score_, rtol=1e-10)
    # On new rows a tied split may use another feature: the gap to scikit-learn is of the size of scikit-learn's
    # own gap between random_state values, and the test errors agree within 3%.
    own_gap = max(np.abs(refs[0].predict(X_test) - r.predict(X_test)).max() for r in refs[1:])
    assert np.abs(ours.predict(X_test) - refs[0].predict(X_test)).max() <= 2 * own_gap
    mse = lambda m: np.mean((m.predict(X_test) - y_test) ** 2)  # noqa: E731
    assert abs(mse(ours) / np.mean([mse(r) for r in refs]) - 1) < 0.03


def test_a_tree_that_fits_exactly_shrinks_the_training_error_geometrically():
    # y is a step function of one feature with 4 levels, which a depth-2 tree fits exactly. After stage m the
    # residual is (1 - nu)^m (y - mean(y)), so the training MSE is (1 - nu)^(2m) Var(y).
    x = np.repeat(np.arange(4.0), 10)[:, None]
    y = np.array([1.0, 5.0, -2.0, 3.0])[x[:, 0].astype(int)]
    for nu in (1.0, 0.3, 0.1):
        model = GradientBoostingRegressor(20, nu, max_depth=2).fit(x, y)
        expected = (1 - nu) ** (2 * np.arange(1, 21)) * y.var()
        np.testing.assert_allclose(model.train_score_, expected, rtol=1e-8, atol=1e-24)


def test_staged_predict_traces_the_model_and_more_stages_fit_the_training_data_better(diabetes):
    X, X_test, y, _ = diabetes
    model = GradientBoostingRegressor(30, 0.2, max_depth=2).fit(X, y)
    stages = list(model.staged_predict(X_test))
    assert len(stages) == 30
    np.testing.assert_allclose(stages[-1], model.predict(X_test))
    assert np.all(np.diff(model.train_score_) <= 1e-9)  # each tree is the best fit to the residuals: no rise


def test_bad_input_fails_with_a_message_that_names_it(diabetes):
    X, _, y, _ = diabetes
    with pytest.raises(ValueError, match=r"learning_rate must be in \(0, 1\]"):
        GradientBoostingRegressor(learning_rate=0.0).fit(X, y)
    with pytest.raises(ValueError, match=r"learning_rate must be in \(0, 1\]"):
        GradientBoostingRegressor(learning_rate=2.0).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators must be a positive integer"):
        GradientBoostingRegressor(0).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        GradientBoostingRegressor(2).fit(np.where(X > 200, np.nan, X), y)
    with pytest.raises(ValueError, match="NaN or infinite"):
        GradientBoostingRegressor(2).fit(X, np.where(y > 300, np.inf, y))
    with pytest.raises(RuntimeError, match="not fitted"):
        GradientBoostingRegressor(2).predict(X)
    model = GradientBoostingRegressor(2).fit(X, y)
    with pytest.raises(ValueError, match="X has 9 features but the model was fitted on 10"):
        model.predict(X[:, :9])
