"""Tests of mlcourse.classical.regularized and mlcourse.classical.bias_variance (chapter 4).

Each model is compared with scikit-learn on the diabetes data (standardised), with the tolerance and its reason
stated in the test; hand-sized and known-answer cases (an orthonormal design, alpha_max, the KKT conditions of
the lasso) check the algorithms without any reference; bad input must fail with a message that names the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import linear_model
from sklearn.datasets import load_diabetes

from mlcourse.classical.bias_variance import (
    PolynomialRidge, bias_variance_decomposition, polynomial_features, sample_dataset, true_function,
)
from mlcourse.classical.gradient_descent import numerical_gradient
from mlcourse.classical.regularized import (
    ElasticNet, Lasso, Ridge, coordinate_descent_sweep, elastic_net_objective, ista_step, lasso_alpha_max,
    lasso_path, ridge_loss_and_grad, ridge_path, soft_threshold,
)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return (X - X.mean(0)) / X.std(0), y  # standardised features, target in its own units (25 .. 346)


@pytest.fixture(scope="module")
def small():
    """A small random problem with an intercept and columns of different norms (no standardisation)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6)) * np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0]) + 1.0
    y = X @ np.array([1.5, 0.0, -2.0, 0.0, 0.3, 0.0]) + 4.0 + 0.5 * rng.standard_normal(40)
    return X, y


# ---------------------------------------------------------------- soft-thresholding


def test_soft_threshold_hand_example():
    got = soft_threshold(np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]), 1.0)
    np.testing.assert_array_equal(got, [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])


def test_soft_threshold_is_the_proximal_step_of_the_l1_norm():
    # prox_{t|.|}(v) = argmin_w 1/2 (w - v)^2 + t |w|: check against a brute-force minimum on a fine grid
    grid = np.linspace(-5, 5, 200_001)  # spacing 5e-5
    for v in (-3.2, -0.7, 0.0, 0.4, 1.0, 2.5):
        for t in (0.0, 0.5, 1.5):
            brute = grid[np.argmin(0.5 * (grid - v) ** 2 + t * np.abs(grid))]
            assert abs(soft_threshold(v, t) - brute) < 1e-4, (v, t)


# ---------------------------------------------------------------- ridge


@pytest.mark.parametrize("alpha", [0.0, 0.1, 10.0, 1000.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_closed_form_equals_sklearn(diabetes, alpha, fit_intercept):
    # Both solve the same symmetric positive-definite system in float64 (sklearn's "cholesky"/"svd" paths):
    # agreement to ~1e-12 relative, so 1e-8 absolute on coefficients of size up to ~40 is a safe bound.
    X, y = diabetes
    ours = Ridge(alpha, fit_intercept=fit_intercept).fit(X, y)
    ref = linear_model.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    assert abs(ours.intercept_ - ref.intercept_) < 1e-8
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 10.0])
def test_ridge_gradient_descent_equals_the_closed_form(diabetes, alpha):
    # GD stops when the loss no longer falls in float64. The loss is flat near its minimum (an error e along
    # the flattest direction costs only lambda_min e^2), so the coefficients are then known to about 1e-4,
    # not 1e-12: 1e-3 absolute on coefficients of size ~40 (2.5e-5 relative) is the stated tolerance.
    X, y = diabetes
    closed = Ridge(alpha).fit(X, y)
    gd = Ridge(alpha, solver="gd").fit(X, y)
    np.testing.assert_allclose(gd.coef_, closed.coef_, atol=1e-3)
    assert abs(gd.intercept_ - closed.intercept_) < 1e-3
    assert gd.losses_[-1] <= gd.losses_[0]
    momentum = Ridge(alpha, solver="gd", momentum=0.9, tol=None, epochs=3000).fit(X, y)
    np.testing.assert_allclose(momentum.coef_, closed.coef_, atol=1e-6)


def test_ridge_loss_gradient_matches_finite_differences(small):
    X, y = small
    loss_and_grad = ridge_loss_and_grad(X, y, alpha=3.0)
    w = np.random.default_rng(1).standard_normal(X.shape[1])
    for rows in (None, np.array([0, 3, 7, 11])):
        numeric = numerical_gradient(lambda v: loss_and_grad(v, rows)[0], w)
        np.testing.assert_allclose(loss_and_grad(w, rows)[1], numeric, rtol=1e-6, atol=1e-6)


def test_ridge_on_an_orthonormal_design_is_least_squares_shrunk_by_n_over_n_plus_alpha():
    # X^T X = n I: the normal equations give w = X^T y / (n + alpha), a known answer without any solver
    n = 50
    Q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((n, 4)))
    X, y = Q * np.sqrt(n), np.random.default_rng(3).standard_normal(n)
    for alpha in (0.0, 5.0, 50.0):
        w = Ridge(alpha, fit_intercept=False).fit(X, y).coef_
        np.testing.assert_allclose(w, X.T @ y / (n + alpha), atol=1e-12)


def test_ridge_path_equals_one_fit_per_alpha(diabetes):
    X, y = diabetes
    alphas = np.array([1e-3, 1.0, 30.0, 1e4])
    path = ridge_path(X, y, alphas)
    for alpha, coef in zip(alphas, path):
        np.testing.assert_allclose(coef, Ridge(alpha).fit(X, y).coef_, atol=1e-9)


# ---------------------------------------------------------------- lasso and elastic net


@pytest.mark.parametrize("alpha", [0.05, 0.5, 2.0, 8.0])
def test_lasso_coordinate_descent_equals_sklearn(diabetes, alpha):
    # Same objective, 1/(2n)||y - Xw - b||^2 + alpha ||w||_1 (strictly convex here: X has full column rank),
    # both solvers run to tol 1e-12: agreement to 1e-6 absolute on coefficients of size up to ~40.
    X, y = diabetes
    ours = Lasso(alpha, tol=1e-12).fit(X, y)
    ref = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert abs(ours.intercept_ - ref.intercept_) < 1e-6
    assert np.array_equal(ours.coef_ == 0, ref.coef_ == 0)  # the same features dropped


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_ista_reaches_the_coordinate_descent_solution(diabetes, alpha):
    # ISTA converges more slowly (rate 1 - 1/kappa per step) but to the same minimiser: 1e-5 after its stop.
    X, y = diabetes
    cd = Lasso(alpha, tol=1e-12).fit(X, y)
    ista = Lasso(alpha, solver="ista", tol=1e-12).fit(X, y)
    assert ista.converged_
    np.testing.assert_allclose(ista.coef_, cd.coef_, atol=1e-5)


@pytest.mark.parametrize("l1_ratio", [0.1, 0.5, 0.9])
def test_elastic_net_equals_sklearn(diabetes, l1_ratio):
    X, y = diabetes
    for solver in ("cd", "ista"):
        ours = ElasticNet(1.0, l1_ratio, solver=solver, tol=1e-12).fit(X, y)
        ref = linear_model.ElasticNet(alpha=1.0, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 if solver == "cd" else 1e-5)


def test_elastic_net_with_l1_ratio_0_is_ridge_with_alpha_times_n(diabetes):
    # scikit-learn's scalings: ElasticNet's squared error carries 1/(2n), Ridge's none, so alpha_ridge = n alpha
    X, y = diabetes
    enet = ElasticNet(0.3, 0.0, tol=1e-13).fit(X, y)
    np.testing.assert_allclose(enet.coef_, Ridge(0.3 * len(y)).fit(X, y).coef_, atol=1e-6)


def test_lasso_on_an_orthonormal_design_is_the_soft_thresholded_least_squares_fit():
    n = 60
    Q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((n, 5)))
    X = Q * np.sqrt(n)  # X^T X = n I
    y = X @ np.array([2.0, -1.0, 0.3, 0.0, 0.05]) + 0.1 * np.random.default_rng(5).standard_normal(n)
    for alpha in (0.01, 0.2, 1.5):
        expected = soft_threshold(X.T @ y / n, alpha)  # least squares is X^T y / n; the lasso soft-thresholds it
        np.testing.assert_allclose(Lasso(alpha, fit_intercept=False).fit(X, y).coef_, expected, atol=1e-10)


def test_lasso_solution_satisfies_the_optimality_conditions(small):
    # 0 in the subdifferential: x_j^T r / n = alpha sign(w_j) where w_j != 0, and |x_j^T r / n| <= alpha where 0
    X, y = small
    alpha = 0.3
    model = Lasso(alpha, tol=1e-13).fit(X, y)
    Xc = X - X.mean(0)
    correlation = Xc.T @ (y - model.predict(X)) / len(y)
    active = model.coef_ != 0
    assert active.any() and (~active).any()
    np.testing.assert_allclose(correlation[active], alpha * np.sign(model.coef_[active]), atol=1e-8)
    assert np.all(np.abs(correlation[~active]) <= alpha + 1e-8)


def test_alpha_max_is_where_the_first_feature_enters(diabetes):
    X, y = diabetes
    alpha_max = lasso_alpha_max(X, y)
    assert np.all(Lasso(alpha_max).fit(X, y).coef_ == 0)
    assert np.count_nonzero(Lasso(0.98 * alpha_max).fit(X, y).coef_) == 1


def test_one_coordinate_descent_sweep_never_increases_the_objective(small):
    X, y = small
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.zeros(X.shape[1])
    objectives = [elastic_net_objective(Xc, yc, w, 0.2, 0.7)]
    for _ in range(20):
        w = coordinate_descent_sweep(Xc, yc, w, 0.2, 0.7)
        objectives.append(elastic_net_objective(Xc, yc, w, 0.2, 0.7))
    assert np.all(np.diff(objectives) <= 1e-12)


def test_ista_step_with_no_l1_part_is_a_gradient_step_on_the_objective(small):
    X, y = small
    w = np.random.default_rng(6).standard_normal(X.shape[1])
    grad = numerical_gradient(lambda v: elastic_net_objective(X, y, v, 0.4, 0.0), w)
    np.testing.assert_allclose(ista_step(X, y, w, 0.4, 0.01, l1_ratio=0.0), w - 0.01 * grad, atol=1e-8)


def test_lasso_path_equals_sklearn_lasso_path(diabetes):
    X, y = diabetes
    alphas = np.geomspace(lasso_alpha_max(X, y), 0.01, 12)
    ours = lasso_path(X, y, alphas, tol=1e-12)
    _, ref, _ = linear_model.lasso_path(X - X.mean(0), y - y.mean(), alphas=alphas, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(ours, ref.T, atol=1e-6)


# ---------------------------------------------------------------- bad input


def test_bad_input_fails_with_a_message_that_names_the_problem(small):
    X, y = small
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        Ridge().fit(X_nan, y)
    with pytest.raises(ValueError, match="rows but y has"):
        Lasso().fit(X, y[:-1])
    with pytest.raises(ValueError, match="must be 2-D"):
        Ridge().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        Ridge(-1.0).fit(X, y)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        Lasso(float("nan")).fit(X, y)
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\]"):
        ElasticNet(1.0, 1.5).fit(X, y)
    with pytest.raises(ValueError, match="solver must be"):
        Ridge(solver="sag").fit(X, y)
    with pytest.raises(ValueError, match="solver must be"):
        Lasso(solver="lars").fit(X, y)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        Lasso().predict(X)
    with pytest.raises(ValueError, match="X has 5 features but the model was fitted on 6"):
        Ridge().fit(X, y).predict(X[:, :5])


def test_gradient_descent_with_too_large_a_step_raises_and_names_the_stable_step(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match=r"diverged with lr=1.*largest stable step is 2/L"):
        Ridge(1.0, solver="gd", lr=1.0).fit(X, y)


def test_unscaled_features_make_gradient_descent_stop_early_with_a_warning_naming_the_fix():
    X, y = load_diabetes(return_X_y=True, scaled=False)  # raw units: sex is 1/2, s1 is in the hundreds
    with pytest.warns(RuntimeWarning, match=r"condition number .* standardise X"):
        Ridge(1.0, solver="gd", epochs=500).fit(X, y)
    with pytest.warns(RuntimeWarning, match="did not converge .* standardise X"):
        Lasso(0.1, solver="ista", max_iter=200).fit(X, y)


# ---------------------------------------------------------------- polynomial features and bias-variance


def test_polynomial_features_hand_example():
    np.testing.assert_array_equal(polynomial_features(np.array([2.0, -1.0]), 3), [[2, 4, 8], [-1, 1, -1]])
    legendre = polynomial_features(np.array([0.5]), 2, basis="legendre")  # P1 = x, P2 = (3x^2 - 1) / 2
    np.testing.assert_allclose(legendre, [[0.5, -0.125]])
    with pytest.raises(ValueError, match="1-D"):
        polynomial_features(np.zeros((3, 1)), 2)
    with pytest.raises(ValueError, match="basis must be"):
        polynomial_features(np.zeros(3), 2, basis="fourier")


def test_legendre_and_monomial_least_squares_fits_are_the_same_polynomial():
    x, y = sample_dataset(30, 0.3, np.random.default_rng(0))
    grid = np.linspace(-1, 1, 50)
    mono = PolynomialRidge(6).fit(x, y).predict(grid)
    leg = PolynomialRidge(6, basis="legendre").fit(x, y).predict(grid)
    np.testing.assert_allclose(mono, leg, atol=1e-8)


def test_bias_variance_terms_add_up_to_the_measured_test_error():
    x_train, x_test = np.linspace(-1, 1, 15), np.linspace(-1, 1, 101)
    for degree in (1, 5, 12):
        bv = bias_variance_decomposition(lambda: PolynomialRidge(degree), x_train=x_train, noise_sd=0.3,
                                         n_datasets=400, x_test=x_test)
        # exact up to the cross term 2 mean(eps (f - f_D)), whose mean is 0: a few percent with 400 sets
        assert abs(bv.total - bv.test_error) < 0.03 * bv.test_error, degree


def test_bias_and_variance_have_their_known_values_for_a_correct_model():
    # f is a cubic and the model is a cubic: bias 0; at the training inputs, least squares with p = 4
    # parameters has average variance sigma^2 p / n (the trace of the hat matrix over n).
    cubic = lambda x: 1 - 2 * x + 0.5 * x**3  # noqa: E731
    x_train = np.linspace(-1, 1, 20)
    bv = bias_variance_decomposition(lambda: PolynomialRidge(3), x_train=x_train, noise_sd=0.5, n_datasets=4000,
                                     x_test=x_train, f=cubic)
    assert bv.bias2 < 1e-3
    assert abs(bv.variance - 0.25 * 4 / 20) < 0.1 * 0.25 * 4 / 20
    assert bv.noise == 0.25


def test_decomposition_needs_two_training_sets():
    with pytest.raises(ValueError, match="n_datasets must be >= 2"):
        bias_variance_decomposition(lambda: PolynomialRidge(1), x_train=10, noise_sd=0.1, n_datasets=1,
                                    x_test=np.zeros(3))


def test_random_design_draws_new_inputs_and_true_function_is_fixed():
    x1, _ = sample_dataset(5, 0.1, np.random.default_rng(0))
    x2, _ = sample_dataset(5, 0.1, np.random.default_rng(1))
    assert not np.allclose(x1, x2) and np.all(np.abs(x1) <= 1)
    np.testing.assert_allclose(true_function(np.array([0.0])), [0.5])


def test_ridge_path_at_alpha_0_is_the_minimum_norm_least_squares_fit_even_when_rank_deficient():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 3))
    X = np.hstack([X, X[:, :1]])  # a duplicated column: X^T X is singular
    y = rng.standard_normal(12)
    np.testing.assert_allclose(ridge_path(X, y, [0.0])[0], Ridge(0.0).fit(X, y).coef_, atol=1e-10)


def test_collinear_but_scaled_features_get_a_warning_that_does_not_blame_the_scales():
    x = np.linspace(-1, 1, 15)
    F = PolynomialRidge(10).fit(x, np.sin(3 * x)).features(x)  # standardised monomials: similar scales, collinear
    with pytest.warns(RuntimeWarning, match="nearly collinear"):
        Ridge(0.0, solver="gd", epochs=200).fit(F, np.sin(3 * x))
