"""Tests of mlcourse.checks.p01_linear_regression: every check passes the reference solution, reads an untouched
stub as "not attempted", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p01_linear_regression as checks
from mlcourse.classical.linear import mse_gradient, solve_by_inverse, solve_lstsq, solve_normal_equations, solve_qr
from check_helpers import stub


def failure(verdict) -> str:
    assert verdict.status == "failed", verdict.line()
    return verdict.detail


# ---------------------------------------------------------------- MSE gradient


def test_gradient_check_passes_the_reference_and_reads_a_stub_as_not_attempted(capsys):
    assert checks.check_mse_gradient(mse_gradient)
    assert checks.check_mse_gradient(stub).status == "not attempted"
    assert capsys.readouterr().out.startswith("✓ passed: MSE gradient")


@pytest.mark.parametrize("mistake, hint", [
    (lambda w, X, y: 2 * X.T @ (X @ w - y), "off by a factor n: did you average over the samples"),
    (lambda w, X, y: X.T @ (X @ w - y), "off by a factor n/2"),
    (lambda w, X, y: X.T @ (X @ w - y) / len(y), "half the expected gradient"),
    (lambda w, X, y: 2 / len(y) * X.T @ (y - X @ w), "the sign is flipped"),
    (lambda w, X, y: 2 / len(y) * (X @ w - y), "one entry per sample"),
    (lambda w, X, y: 2 / len(y) * X.T @ (X @ w), "max abs difference"),
])  # fmt: skip
def test_gradient_check_names_the_typical_mistakes(mistake, hint, capsys):
    assert hint in failure(checks.check_mse_gradient(mistake))


# ---------------------------------------------------------------- least squares


def test_normal_equations_check_passes_solve_and_lstsq_and_refuses_inv(capsys):
    assert checks.check_normal_equations(solve_normal_equations)
    assert checks.check_normal_equations(solve_lstsq)
    assert checks.check_normal_equations(stub).status == "not attempted"
    assert "you called np.linalg.inv" in failure(checks.check_normal_equations(solve_by_inverse))
    assert np.linalg.inv(np.eye(2))[0, 0] == 1.0  # the trap is removed afterwards


@pytest.mark.parametrize("mistake, hint", [
    (lambda X, y: np.linalg.solve(X, y), "needs a square system"),
    (lambda X, y: X.T @ y, "you returned X^T y"),
    (lambda X, y: np.linalg.solve(X.T @ X, y[: X.shape[1]]), "max abs difference"),
    (lambda X, y: np.linalg.solve(X.T @ X, X.T @ y)[:, None], "of shape (4,), got shape (4, 1)"),
])  # fmt: skip
def test_normal_equations_check_names_the_typical_mistakes(mistake, hint, capsys):
    assert hint in failure(checks.check_normal_equations(mistake))


def test_stable_least_squares_check_passes_lstsq_and_qr_and_explains_the_normal_equations(capsys):
    assert checks.check_stable_least_squares(solve_lstsq)
    assert checks.check_stable_least_squares(solve_qr)
    detail = failure(checks.check_stable_least_squares(solve_normal_equations))
    assert "kappa^2 * eps" in detail and "squares the condition number" in detail
    assert "you called np.linalg.inv" in failure(checks.check_stable_least_squares(solve_by_inverse))


# ---------------------------------------------------------------- momentum step


def reference_step(w, velocity, X, y, lr, momentum):
    velocity = momentum * velocity + mse_gradient(w, X, y)
    return w - lr * velocity, velocity


def test_momentum_check_passes_the_reference(capsys):
    assert checks.check_momentum_step(reference_step)
    assert checks.check_momentum_step(stub).status == "not attempted"
    assert "retrace minimize" in capsys.readouterr().out


def ema_form(w, v, X, y, lr, m):
    v = m * v + (1 - m) * mse_gradient(w, X, y)
    return w - lr * v, v


def old_velocity(w, v, X, y, lr, m):
    return w - lr * v, m * v + mse_gradient(w, X, y)


def uphill(w, v, X, y, lr, m):
    v = m * v + mse_gradient(w, X, y)
    return w + lr * v, v


def no_momentum(w, v, X, y, lr, m):
    g = mse_gradient(w, X, y)
    return w - lr * g, g


def other_convention(w, v, X, y, lr, m):
    v = m * v - lr * mse_gradient(w, X, y)
    return w + v, v


def summed(w, v, X, y, lr, m):
    v = m * v + len(y) * mse_gradient(w, X, y)
    return w - lr * v, v


@pytest.mark.parametrize("mistake, hint", [
    (ema_form, "moving-average form of Adam"),
    (old_velocity, "stepped with the old velocity"),
    (uphill, "stepped uphill"),
    (no_momentum, "momentum term is missing"),
    (other_convention, "the other convention"),
    (summed, "summed over the batch"),
    (lambda w, v, X, y, lr, m: reference_step(w, v, X, y, lr, m)[0], "expected a tuple"),
])  # fmt: skip
def test_momentum_check_names_the_typical_mistakes(mistake, hint, capsys):
    assert hint in failure(checks.check_momentum_step(mistake))
