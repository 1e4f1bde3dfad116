"""Tests of mlcourse.checks.p04_regularization: every check passes the reference solution, reads an untouched
stub as "not attempted", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np

from mlcourse.checks import p04_regularization as checks
from mlcourse.classical.regularized import Ridge, coordinate_descent_sweep, ista_step, soft_threshold
from check_helpers import fails_with, stub


# ---------------------------------------------------------------- ridge closed form


def ridge_reference(X, y, alpha):
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    return w, y.mean() - X.mean(0) @ w


def test_ridge_check_passes_the_reference_and_the_library(capsys):
    assert checks.check_ridge_closed_form(ridge_reference)
    assert checks.check_ridge_closed_form(lambda X, y, a: (Ridge(a).fit(X, y).coef_, Ridge(a).fit(X, y).intercept_))
    assert checks.check_ridge_closed_form(stub).status == "not attempted"
    assert "✓ passed: ridge closed form" in capsys.readouterr().out


def test_ridge_check_names_the_typical_mistakes(capsys):
    def penalised_intercept(X, y, alpha):
        X1 = np.hstack([np.ones((len(X), 1)), X])
        w = np.linalg.solve(X1.T @ X1 + alpha * np.eye(X1.shape[1]), X1.T @ y)
        return w[1:], w[0]

    def not_centred(X, y, alpha):
        return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y), 0.0

    def alpha_over_n(X, y, alpha):
        return ridge_reference(X, y, alpha / len(y))

    def wrong_intercept(X, y, alpha):
        return ridge_reference(X, y, alpha)[0], y.mean()

    capsys.readouterr()
    fails_with(capsys, checks.check_ridge_closed_form(penalised_intercept), "you penalised the intercept")
    fails_with(capsys, checks.check_ridge_closed_form(not_centred), "you solved without centring")
    fails_with(capsys, checks.check_ridge_closed_form(alpha_over_n), "your penalty is alpha / n")
    fails_with(capsys, checks.check_ridge_closed_form(wrong_intercept), "b = mean(y) - mean(X) @ w")
    fails_with(capsys, checks.check_ridge_closed_form(lambda X, y, a: ridge_reference(X, y, a)[0]),
               "expected a tuple (coef, intercept)")


# ---------------------------------------------------------------- soft-thresholding


def test_soft_threshold_check_passes_the_reference(capsys):
    assert checks.check_soft_threshold(lambda z, t: np.sign(z) * np.maximum(np.abs(z) - t, 0))
    assert checks.check_soft_threshold(soft_threshold)
    assert checks.check_soft_threshold(stub).status == "not attempted"


def test_soft_threshold_check_names_the_typical_mistakes(capsys):
    capsys.readouterr()
    fails_with(capsys, checks.check_soft_threshold(lambda z, t: np.where(np.abs(z) > t, z, 0.0)), "hard thresholding")
    fails_with(capsys, checks.check_soft_threshold(lambda z, t: np.maximum(z - t, 0.0)), "negative inputs all became 0")
    fails_with(capsys, checks.check_soft_threshold(lambda z, t: np.maximum(np.abs(z) - t, 0.0)), "the sign was lost")
    fails_with(capsys, checks.check_soft_threshold(lambda z, t: z - t * np.sign(z)), "crossed zero")
    fails_with(capsys, checks.check_soft_threshold(lambda z, t: "oops"), "expected S(z, t) as an array")


# ---------------------------------------------------------------- coordinate-descent sweep


def test_coordinate_descent_check_passes_the_reference(capsys):
    def reference(X, y, w, alpha):
        n, w = len(y), w.copy()
        residual = y - X @ w
        for j in range(X.shape[1]):
            rho = X[:, j] @ residual + X[:, j] @ X[:, j] * w[j]
            new = np.sign(rho) * max(abs(rho) - n * alpha, 0.0) / (X[:, j] @ X[:, j])
            residual -= X[:, j] * (new - w[j])
            w[j] = new
        return w

    assert checks.check_coordinate_descent_sweep(reference)
    assert checks.check_coordinate_descent_sweep(coordinate_descent_sweep)
    assert checks.check_coordinate_descent_sweep(stub).status == "not attempted"


def test_coordinate_descent_check_names_the_typical_mistakes(capsys):
    def threshold_alpha(X, y, w, alpha):
        return coordinate_descent_sweep(X, y, w, alpha / len(y))

    def two_sweeps(X, y, w, alpha):
        return coordinate_descent_sweep(X, y, coordinate_descent_sweep(X, y, w, alpha), alpha)

    capsys.readouterr()
    fails_with(capsys, checks.check_coordinate_descent_sweep(checks._jacobi_sweep), "residual from the start")
    fails_with(capsys, checks.check_coordinate_descent_sweep(threshold_alpha), "not n * alpha")
    fails_with(capsys, checks.check_coordinate_descent_sweep(checks._unnormalised_sweep), "divide by ||x_j||^2")
    fails_with(capsys, checks.check_coordinate_descent_sweep(two_sweeps), "w after one sweep")


# ---------------------------------------------------------------- ISTA step


def test_ista_check_passes_the_reference(capsys):
    def reference(X, y, w, alpha, step):
        z = w - step * X.T @ (X @ w - y) / len(y)
        return np.sign(z) * np.maximum(np.abs(z) - step * alpha, 0.0)

    assert checks.check_ista_step(reference)
    assert checks.check_ista_step(ista_step)
    assert checks.check_ista_step(stub).status == "not attempted"


def test_ista_check_names_the_typical_mistakes(capsys):
    def grad(X, y, w):
        return X.T @ (X @ w - y) / len(y)

    capsys.readouterr()
    fails_with(capsys, checks.check_ista_step(lambda X, y, w, a, s: soft_threshold(w - s * grad(X, y, w), a)),
               "your threshold is alpha")
    fails_with(capsys,
               checks.check_ista_step(lambda X, y, w, a, s: soft_threshold(w - s * len(y) * grad(X, y, w), s * a)), "n times too large")
    fails_with(capsys, checks.check_ista_step(lambda X, y, w, a, s: soft_threshold(w + s * grad(X, y, w), s * a)),
               "stepped up the gradient")
    fails_with(capsys, checks.check_ista_step(lambda X, y, w, a, s: w - s * grad(X, y, w)), "plain gradient step")
