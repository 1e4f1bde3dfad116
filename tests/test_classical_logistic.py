"""Logistic regression (classical.logistic) and Newton's method (classical.newton): stable pieces, derivatives
checked by finite differences, known answers, agreement with scikit-learn, and clear errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import log_loss

from mlcourse.classical.gradient_descent import numerical_gradient
from mlcourse.classical.logistic import (
    LogisticRegression, SeparableDataWarning, add_intercept, binary_cross_entropy, log_sigmoid, logistic_hessian,
    logistic_loss_and_grad, newton_step, sigmoid, smoothness,
)
from mlcourse.classical.newton import newton_minimize


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer, standardised (mean 0, std 1 per feature), y = 1 for malignant."""
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    return X, (data.target == 0).astype(float)


def small_problem(seed: int = 0, n: int = 40, d: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w (d+1,), X1 (n, d+1), y (n,)): random, not separable (labels drawn from the model itself)."""
    rng = np.random.default_rng(seed)
    X1 = add_intercept(rng.normal(size=(n, d)))
    w = rng.normal(size=d + 1)
    return w, X1, (rng.random(n) < expit(X1 @ w)).astype(float)


# ---------------------------------------------------------------- the pieces


def test_sigmoid_matches_scipy_and_never_overflows():
    z = np.array([-1000.0, -745.0, -40.0, -1.0, 0.0, 1e-8, 3.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is harmless
        p = sigmoid(z)
        assert np.allclose(p, expit(z), rtol=1e-15, atol=1e-300)  # ours keeps the subnormal sigmoid(-745)
        assert np.allclose(np.exp(log_sigmoid(z[2:-1])), expit(z[2:-1]), rtol=1e-14)
        assert log_sigmoid(np.array([-1000.0]))[0] == -1000.0  # log(sigmoid(-1000)) is finite, though sigmoid underflows


def test_binary_cross_entropy_equals_sklearn_log_loss_and_stays_finite():
    w, X1, y = small_problem()
    z = X1 @ w
    assert binary_cross_entropy(z, y) == pytest.approx(log_loss(y, expit(z)), rel=1e-12)
    extreme = np.array([800.0, -800.0])
    assert binary_cross_entropy(extreme, np.array([1.0, 0.0])) == pytest.approx(0.0, abs=1e-300)
    assert binary_cross_entropy(extreme, np.array([0.0, 1.0])) == pytest.approx(800.0)  # a finite, honest penalty


@pytest.mark.parametrize("l2, intercept", [(0.0, True), (0.3, True), (0.3, False)])
def test_gradient_matches_finite_differences(l2, intercept):
    w, X1, y = small_problem(1)
    _, grad = logistic_loss_and_grad(w, X1, y, l2, intercept=intercept)
    numeric = numerical_gradient(lambda v: logistic_loss_and_grad(v, X1, y, l2, intercept=intercept)[0], w)
    assert np.allclose(grad, numeric, atol=1e-8)


@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_hessian_matches_finite_differences_of_the_gradient(l2):
    w, X1, y = small_problem(2)
    numeric = np.stack([numerical_gradient(lambda v: logistic_loss_and_grad(v, X1, y, l2)[1][i], w)
                        for i in range(len(w))])
    hessian = logistic_hessian(w, X1, l2)
    assert np.allclose(hessian, numeric, atol=1e-7)
    assert np.all(np.linalg.eigvalsh(hessian) > 0)  # convex (strictly, on this non-degenerate data)


def test_newton_step_is_a_weighted_least_squares_solve():
    """IRLS: the Newton step solves min sum_i s_i (u_i - x_i . w)^2 with working response u = z + (y - p) / s."""
    w, X1, y = small_problem(3)
    z = X1 @ w
    p = expit(z)
    s = p * (1 - p)
    u = z + (y - p) / s
    sqrt_s = np.sqrt(s)[:, None]
    wls, *_ = np.linalg.lstsq(sqrt_s * X1, sqrt_s[:, 0] * u, rcond=None)
    assert np.allclose(newton_step(w, X1, y), wls, atol=1e-10)


def test_smoothness_bounds_the_curvature():
    w, X1, y = small_problem(4)
    largest = max(np.linalg.eigvalsh(logistic_hessian(v, X1, 0.2))[-1] for v in (w, 0 * w, 3 * w))
    assert largest <= smoothness(X1, 0.2) + 1e-12


# ---------------------------------------------------------------- known answers and convergence


def test_one_binary_feature_gives_the_log_odds_of_each_group():
    """With x in {0, 1} the unpenalised answer is exact: b = logit(mean y | x=0), w = logit(mean y | x=1) - b."""
    x = np.array([0] * 10 + [1] * 10, dtype=float)[:, None]
    y = np.array([1] * 3 + [0] * 7 + [1] * 8 + [0] * 2)
    model = LogisticRegression().fit(x, y)
    assert model.converged_
    assert model.intercept_ == pytest.approx(np.log(3 / 7), abs=1e-8)  # the default tol stops at |gradient| < 1e-10
    assert model.coef_[0] == pytest.approx(np.log(8 / 2) - np.log(3 / 7), abs=1e-8)


def test_newton_converges_quadratically(cancer):
    X, y = cancer
    model = LogisticRegression(l2=1e-3, tol=1e-13).fit(X, y)
    gaps = np.array(model.losses_) - model.losses_[-1]
    assert model.converged_ and model.n_iter_ <= 12
    close = gaps[(gaps > 1e-13) & (gaps < 1e-3)]  # measured: 1.8e-4, 1.3e-6, 7.4e-11 (C about 50)
    assert len(close) >= 3 and all(b <= 100 * a**2 for a, b in zip(close, close[1:]))  # gap_{k+1} <= C gap_k^2


def test_newton_reaches_a_tiny_gradient_even_when_the_loss_stops_resolving_progress(cancer):
    """Near the minimum the predicted decrease (~1e-18) is below the loss's rounding (~1e-17): the line search
    must then trust the full step, or it halves at random and the gradient stalls near 1e-9 (seen with l2 = 1)."""
    for l2 in (1.0, 3e-4):
        model = LogisticRegression(l2=l2).fit(*cancer)
        assert model.converged_ and model.n_iter_ <= 15, (l2, model.n_iter_)


def test_gradient_descent_reaches_the_newton_solution(cancer):
    X, y = cancer[0][:, :10], cancer[1]
    newton = LogisticRegression(l2=1e-2).fit(X, y)
    gd = LogisticRegression(l2=1e-2, solver="gd", momentum=0.9, tol=None, max_iter=3000).fit(X, y)
    assert np.allclose(gd.coef_, newton.coef_, atol=1e-5) and gd.intercept_ == pytest.approx(newton.intercept_, abs=1e-5)


# ---------------------------------------------------------------- scikit-learn


def test_unpenalised_fit_equals_sklearn(cancer):
    """Tolerance 1e-8: both solve the same strictly convex problem to a gradient of ~1e-12 with Newton-type solvers
    (sklearn's newton-cholesky), so only round-off separates them. The 10 'mean' features are used because all 30
    are linearly separable (no unpenalised minimum: see test_separable_data_warns). C=np.inf is penalty=None
    (deprecated in scikit-learn 1.8)."""
    X, y = cancer[0][:, :10], cancer[1]
    ours = LogisticRegression().fit(X, y)
    ref = SkLogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    assert np.abs(ours.coef_ - ref.coef_[0]).max() < 1e-8
    assert abs(ours.intercept_ - ref.intercept_[0]) < 1e-8
    assert np.abs(ours.predict_proba(X) - ref.predict_proba(X)).max() < 1e-10
    assert np.array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_l2_fit_equals_sklearn_with_C_equal_1_over_n_lambda(cancer, l2):
    """sklearn minimises C sum_i loss_i + |w|^2 / 2; ours mean_i loss_i + l2 |w|^2 / 2: the same after dividing
    sklearn's by C n, when C = 1 / (n l2). Same tolerance and reason as the unpenalised test."""
    X, y = cancer
    ours = LogisticRegression(l2=l2).fit(X, y)
    ref = SkLogisticRegression(C=1 / (len(y) * l2), solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    assert np.abs(ours.coef_ - ref.coef_[0]).max() < 1e-8
    assert abs(ours.intercept_ - ref.intercept_[0]) < 1e-8


def test_labels_can_be_any_two_values():
    w, X1, y = small_problem(5, n=60)
    labels = np.where(y == 1, "spam", "ham")
    model = LogisticRegression().fit(X1[:, 1:], labels)
    assert model.classes_.tolist() == ["ham", "spam"]
    assert set(model.predict(X1[:, 1:])) <= {"ham", "spam"}
    assert np.allclose(model.predict_proba(X1[:, 1:]).sum(1), 1.0)
    assert model.score(X1[:, 1:], labels) == np.mean(model.predict(X1[:, 1:]) == labels)


# ---------------------------------------------------------------- failures that must be loud


def test_separable_data_warns(cancer):
    with pytest.warns(SeparableDataWarning, match="linearly separable.*Set l2 > 0"):
        LogisticRegression().fit(*cancer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(l2=1e-3).fit(*cancer)  # a penalty gives a finite answer: no warning


@pytest.mark.parametrize("X, y, message", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN or infinite"),
    (np.arange(4.0), [0, 1, 0, 1], "must be 2-D"),
    (np.zeros((4, 2)), [0, 1, 0], "4 rows but y has 3"),
    (np.arange(8.0).reshape(4, 2), [1, 1, 1, 1], "single class"),
    (np.arange(8.0).reshape(4, 2), [0, 1, 2, 1], "3 classes.*softmax regression"),
])  # fmt: skip
def test_bad_input_is_rejected_with_a_message(X, y, message):
    with pytest.raises(ValueError, match=message):
        LogisticRegression().fit(X, y)


def test_gradient_descent_refuses_unscaled_features_but_newton_does_not_care():
    data = load_breast_cancer()
    X, y = data.data[:, :10], data.target
    with pytest.raises(ValueError, match="standard deviations range from .* Standardise X first"):
        LogisticRegression(solver="gd").fit(X, y)
    raw = LogisticRegression().fit(X, y)  # Newton is affine invariant: same model as on standardised features
    scaled = LogisticRegression().fit((X - X.mean(0)) / X.std(0), y)
    assert np.allclose(raw.predict_proba(X), scaled.predict_proba((X - X.mean(0)) / X.std(0)), atol=1e-9)


def test_misuse_is_reported():
    with pytest.raises(RuntimeError, match="not fitted yet"):
        LogisticRegression().predict(np.zeros((2, 2)))
    model = LogisticRegression().fit(*small_problem(6)[1:])
    with pytest.raises(ValueError, match="X has 2 features but the model was fitted on 4"):
        model.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="solver must be"):
        LogisticRegression(solver="lbfgs")
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        LogisticRegression(l2=-1.0)
    w, X1, y = small_problem(7)
    with pytest.raises(FloatingPointError, match="diverged.*lower lr"):
        LogisticRegression(solver="gd", lr=1e12, max_iter=50).fit(X1[:, 1:], y)


def test_newton_minimize_reports_a_singular_hessian():
    result = newton_minimize(lambda w: (float(w @ w), 2 * w), lambda w: np.zeros((2, 2)), np.ones(2))
    assert result.stopped == "singular Hessian" and not result.converged and result.iterations == 0
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        newton_minimize(lambda w: (0.0, w), lambda w: np.eye(2), np.ones(2), max_iter=0)
    quadratic = newton_minimize(lambda w: (float(w @ w), 2 * w), lambda w: 2 * np.eye(2), np.ones(2))
    assert quadratic.converged and quadratic.iterations == 1 and np.allclose(quadratic.w, 0)  # exact in one step
