"""Tests of mlcourse.classical.linear and .conditioning (chapter 1): equal to scikit-learn, gradients checked by
finite differences, convergence where the answer is known, the critical learning rate, and bad input refused
with a message that says what was wrong."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression as SklearnLinearRegression

from mlcourse.classical.conditioning import (
    condition_number, critical_learning_rate, design_with_condition_number, hessian_condition_number,
    hessian_eigenvalues, heavy_ball_parameters, least_squares_hessian, loss_surface, with_intercept,
)
from mlcourse.classical.gradient_descent import minimize, numerical_gradient
from mlcourse.classical.linear import (
    LinearRegression, back_substitution, fit_standardizer, mse, mse_gradient, mse_loss_and_grad, solve_by_inverse,
    solve_lstsq, solve_normal_equations, solve_qr,
)


@pytest.fixture(scope="module")
def diabetes():
    """The diabetes data in its original units (age in years, bmi in kg/m^2, ...): badly scaled on purpose."""
    return load_diabetes(return_X_y=True, scaled=False)


# ---------------------------------------------------------------- equal to scikit-learn


@pytest.mark.parametrize("solver", ["lstsq", "qr", "normal"])
def test_direct_solvers_equal_sklearn_on_diabetes(diabetes, solver):
    # Tolerance 1e-8: the same least-squares problem in float64. kappa(centred X) is about 7e3, so even the normal
    # equations (error ~ kappa^2 * eps ~ 1e-8 relative) agree far beyond the chapter's 1e-6.
    X, y = diabetes
    ours = LinearRegression(solver).fit(X, y)
    reference = SklearnLinearRegression().fit(X, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-8, atol=1e-8)
    assert abs(ours.intercept_ - reference.intercept_) < 1e-7
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), atol=1e-7)
    assert ours.score(X, y) == pytest.approx(reference.score(X, y), abs=1e-12)


def test_gradient_descent_equals_sklearn_to_1e6_on_diabetes(diabetes):
    # Tolerance 1e-6 (absolute, coefficients of size 0.1-70): gradient descent is iterative; with standardised
    # features (Hessian condition number ~470) and momentum 0.9, 3000 epochs shrink the error by far more than that.
    X, y = diabetes
    ours = LinearRegression("gd", momentum=0.9, epochs=3000).fit(X, y)
    reference = SklearnLinearRegression().fit(X, y)
    assert np.abs(ours.coef_ - reference.coef_).max() < 1e-6
    assert abs(ours.intercept_ - reference.intercept_) < 1e-6
    assert ours.n_iter_ == 3000 and not ours.gd_result_.diverged


def test_without_intercept_equals_sklearn(diabetes):
    X, y = diabetes
    reference = SklearnLinearRegression(fit_intercept=False).fit(X, y)
    for solver in ("lstsq", "qr"):
        ours = LinearRegression(solver, fit_intercept=False).fit(X, y)
        np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-8, atol=1e-8)
        assert ours.intercept_ == 0.0


# ---------------------------------------------------------------- gradients and solvers


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X, y, w = rng.standard_normal((30, 4)), rng.standard_normal(30), rng.standard_normal(4)
    numeric = numerical_gradient(lambda v: mse(v, X, y), w)
    np.testing.assert_allclose(mse_gradient(w, X, y), numeric, rtol=1e-6, atol=1e-8)
    loss, grad = mse_loss_and_grad(X, y)(w, np.arange(10))  # a mini-batch: the first 10 rows
    assert loss == pytest.approx(mse(w, X[:10], y[:10]))
    np.testing.assert_allclose(grad, mse_gradient(w, X[:10], y[:10]))


def test_back_substitution_solves_a_hand_sized_triangular_system():
    R = np.array([[2.0, 1.0, -1.0], [0.0, 3.0, 2.0], [0.0, 0.0, 4.0]])
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(back_substitution(R, R @ x), x)


def test_solver_error_grows_like_kappa_for_lstsq_and_kappa_squared_for_normal_equations():
    w_true = np.random.default_rng(1).standard_normal(8)
    X = design_with_condition_number(60, 8, 1e7, seed=0)
    y = X @ w_true  # exactly consistent: the only error is rounding

    def error(solve):
        return np.linalg.norm(solve(X, y) - w_true) / np.linalg.norm(w_true)

    assert error(solve_lstsq) < 1e-7 and error(solve_qr) < 1e-7  # ~ kappa * eps = 2e-9
    assert error(solve_normal_equations) > 1e-5 and error(solve_by_inverse) > 1e-5  # ~ kappa^2 * eps = 2e-2


def test_design_has_the_requested_condition_number_and_is_deterministic():
    X = design_with_condition_number(50, 6, 1e5, seed=3)
    assert condition_number(X) == pytest.approx(1e5, rel=1e-6)
    np.testing.assert_array_equal(X, design_with_condition_number(50, 6, 1e5, seed=3))
    assert condition_number(with_intercept(np.zeros((3, 1)))) == float("inf")


# ---------------------------------------------------------------- gradient descent on a known answer


def test_gradient_descent_recovers_a_known_answer_on_noiseless_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 4.0  # noiseless: the exact answer is known
    model = LinearRegression("gd", epochs=500, tol=1e-20).fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.5, -2.0, 0.5], atol=1e-6)
    assert model.intercept_ == pytest.approx(4.0, abs=1e-6)


def test_critical_learning_rate_separates_convergence_from_divergence(diabetes):
    X, y = diabetes
    Xs = (X - X.mean(0)) / X.std(0)
    A = with_intercept(Xs)
    critical = critical_learning_rate(Xs)
    assert critical == pytest.approx(2 / np.linalg.eigvalsh(least_squares_hessian(Xs)).max())
    below = minimize(mse_loss_and_grad(A, y), np.zeros(11), len(y), lr=0.98 * critical, epochs=300)
    above = minimize(mse_loss_and_grad(A, y), np.zeros(11), len(y), lr=1.05 * critical, epochs=300)
    assert not below.diverged and below.losses[-1] < below.losses[0] / 5
    assert above.diverged


def test_hessian_spectrum_explains_the_effect_of_scaling(diabetes):
    X, _ = diabetes
    raw, scaled = hessian_condition_number(X), hessian_condition_number((X - X.mean(0)) / X.std(0))
    assert raw > 1e7 and scaled < 1e3  # standardising shrinks kappa(H) by five orders of magnitude here
    eigenvalues = hessian_eigenvalues(X)
    assert eigenvalues.shape == (11,) and (np.diff(eigenvalues) >= 0).all()
    lr, momentum = heavy_ball_parameters(1.0, 100.0)
    assert lr == pytest.approx(4 / 121) and momentum == pytest.approx((9 / 11) ** 2)


def test_loss_surface_equals_the_mse_at_each_point():
    rng = np.random.default_rng(4)
    A, y, params = rng.standard_normal((40, 2)), rng.standard_normal(40), rng.standard_normal((5, 2))
    np.testing.assert_allclose(loss_surface(A, y, params), [mse(w, A, y) for w in params])


def test_standardizer_without_centring_keeps_zero_at_zero():
    X = np.array([[1.0, 10.0], [3.0, 30.0]])
    mean, scale = fit_standardizer(X, center=False)
    np.testing.assert_array_equal(mean, [0.0, 0.0])
    np.testing.assert_allclose(scale, [np.sqrt(5.0), np.sqrt(500.0)])


# ---------------------------------------------------------------- bad input


def test_bad_input_raises_errors_that_say_what_was_wrong():
    X, y = np.ones((5, 2)) + np.arange(10).reshape(5, 2) ** 2, np.arange(5.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        LinearRegression().fit(np.where(X > 50, np.nan, X), y)
    with pytest.raises(ValueError, match=r"X must be 2-D.*X.reshape\(-1, 1\)"):
        LinearRegression().fit(np.arange(5.0), y)
    with pytest.raises(ValueError, match="X has 5 rows but y has 4 values"):
        LinearRegression().fit(X, y[:4])
    with pytest.raises(ValueError, match="unknown solver 'cholesky'"):
        LinearRegression("cholesky")
    with pytest.raises(RuntimeError, match="not fitted yet"):
        LinearRegression().predict(X)
    with pytest.raises(ValueError, match="X has 3 features but the model was fitted on 2"):
        LinearRegression().fit(X, y).predict(np.ones((2, 3)))


def test_rank_deficient_design_is_refused_by_qr_and_normal_but_lstsq_gives_min_norm():
    x = np.arange(6.0)
    X = np.column_stack([x, 2 * x])  # the second feature is twice the first
    y = 3 * x
    for solver in ("qr", "normal"):
        with pytest.raises(ValueError, match="rank-deficient or nearly so.*solver='lstsq'"):
            LinearRegression(solver).fit(X, y)
    model = LinearRegression("lstsq").fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.6, 1.2], atol=1e-10)  # min-norm split of 3 = a + 2b


def test_constant_feature_cannot_be_standardised():
    X = np.column_stack([np.arange(5.0), np.full(5, 7.0)])
    with pytest.raises(ValueError, match=r"feature\(s\) \[1\] are constant"):
        LinearRegression("gd").fit(X, np.arange(5.0))


def test_unscaled_features_warn_and_too_large_lr_raises_naming_the_critical_rate(diabetes):
    X, y = diabetes
    with pytest.warns(RuntimeWarning, match="condition number .* Standardise them"):
        LinearRegression("gd", standardize=False, epochs=5).fit(X, y)
    too_large = r"diverged .* critical rate 2\(1 \+ momentum\)/lambda_max = .*standardize=True"
    with pytest.raises(ValueError, match=too_large):
        with pytest.warns(RuntimeWarning):
            LinearRegression("gd", standardize=False, lr=1e-4, epochs=50).fit(X, y)
    with pytest.raises(ValueError, match="need n_samples >= n_features"):
        design_with_condition_number(3, 5, 10.0)
    with pytest.raises(ValueError, match="params have 3 columns but A has 2"):
        loss_surface(np.ones((4, 2)), np.ones(4), np.ones((1, 3)))
