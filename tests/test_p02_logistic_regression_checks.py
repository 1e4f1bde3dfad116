"""The exercise checks of chapter 2 (logistic regression): each passes the reference solution, reads a stub as
'not attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from mlcourse.checks import p02_logistic_regression as checks
from mlcourse.classical.logistic import (
    binary_cross_entropy, logistic_hessian, logistic_loss_and_grad, newton_step, sigmoid,
)
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


# ---------------------------------------------------------------- sigmoid


def test_sigmoid_check_passes_the_library_and_reads_a_stub_as_not_attempted(capsys):
    assert checks.check_sigmoid(sigmoid)
    assert capsys.readouterr().out.startswith("✓ passed: stable sigmoid")
    assert checks.check_sigmoid(stub).status == "not attempted"


def test_sigmoid_check_names_overflow_nan_and_a_flipped_sign(capsys):
    fails_with(capsys, checks.check_sigmoid(lambda z: 1 / (1 + np.exp(-z))), "exp overflowed")
    fails_with(capsys, checks.check_sigmoid(lambda z: np.exp(z) / (1 + np.exp(z))), "got NaN")
    fails_with(capsys, checks.check_sigmoid(lambda z: 1 / (1 + np.exp(z))), "sign in the exponent is flipped")
    fails_with(capsys, checks.check_sigmoid(lambda z: sigmoid(z).ravel() if z.ndim == 2 else sigmoid(z)), "keep the shape")


# ---------------------------------------------------------------- loss


def naive_loss(z, y):
    p = 1 / (1 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_loss_check_passes_the_library(capsys):
    assert checks.check_binary_cross_entropy(binary_cross_entropy)
    assert checks.check_binary_cross_entropy(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (naive_loss, "log(sigmoid(z)) is log(0)"),
    (lambda z, y: np.sum(np.logaddexp(0, z) - y * z), "you summed over the samples"),
    (lambda z, y: -binary_cross_entropy(z, y), "the sign is flipped"),
    (lambda z, y: binary_cross_entropy(z, y) / np.log(2), "in bits"),
    (lambda z, y: binary_cross_entropy(z, 1 - y), "y and 1 - y are swapped"),
    (lambda z, y: -np.mean(y * np.log(np.clip(sigmoid(z), 1e-15, 1 - 1e-15))
                           + (1 - y) * np.log(np.clip(1 - sigmoid(z), 1e-15, 1 - 1e-15))), "clipping p"),
    (lambda z, y: np.logaddexp(0, z) - y * z, "expected one number"),
])  # fmt: skip
def test_loss_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_binary_cross_entropy(wrong), hint)


# ---------------------------------------------------------------- gradient


def reference_gradient(w, X1, y, l2):
    return logistic_loss_and_grad(w, X1, y, l2)[1]


def penalty(w, l2):
    return l2 * np.concatenate([[0.0], w[1:]])


def test_gradient_check_passes_the_library(capsys):
    assert checks.check_gradient(reference_gradient)
    assert checks.check_gradient(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda w, X1, y, l2: X1.T @ (y - sigmoid(X1 @ w)) / len(y) - penalty(w, l2), "sign is flipped"),
    (lambda w, X1, y, l2: X1.T @ (sigmoid(X1 @ w) - y) + penalty(w, l2), "factor n"),
    (lambda w, X1, y, l2: X1.T @ (sigmoid(X1 @ w) - y) / len(y), "L2 term l2 * w is missing"),
    (lambda w, X1, y, l2: X1.T @ (sigmoid(X1 @ w) - y) / len(y) + penalty(w, l2) / 2, "not l2 / 2 * w"),
    (lambda w, X1, y, l2: X1.T @ (sigmoid(X1 @ w) - y) / len(y) + l2 * w, "penalised the bias"),
    (lambda w, X1, y, l2: X1.T @ (X1 @ w - y) / len(y) + penalty(w, l2), "linear regression's gradient"),
    (lambda w, X1, y, l2: (sigmoid(X1 @ w) - y) / len(y), "shape"),
])  # fmt: skip
def test_gradient_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_gradient(wrong), hint)


# ---------------------------------------------------------------- Newton step


def test_newton_check_passes_the_library(capsys):
    assert checks.check_newton_step(newton_step)
    assert checks.check_newton_step(stub).status == "not attempted"


def grad(w, X1, y, l2):
    return logistic_loss_and_grad(w, X1, y, l2)[1]


@pytest.mark.parametrize("wrong, hint", [
    (lambda w, X1, y, l2: w + np.linalg.solve(logistic_hessian(w, X1, l2), grad(w, X1, y, l2)), "goes uphill"),
    (lambda w, X1, y, l2: w - np.linalg.solve(len(y) * logistic_hessian(w, X1, l2), grad(w, X1, y, l2)),
     "n times too short"),
    (lambda w, X1, y, l2: w - np.linalg.solve(X1.T @ X1 / len(y) + l2 * np.diag([0.0] + [1.0] * (len(w) - 1)),
                                              grad(w, X1, y, l2)), "no p (1 - p) weights"),
    (lambda w, X1, y, l2: w - np.linalg.solve(logistic_hessian(w, X1, 0.0), grad(w, X1, y, l2)), "lacks the L2 term"),
    (lambda w, X1, y, l2: w - grad(w, X1, y, l2), "gradient-descent step"),
    (lambda w, X1, y, l2: np.linalg.solve(logistic_hessian(w, X1, l2), grad(w, X1, y, l2)), "you returned the step"),
])  # fmt: skip
def test_newton_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_newton_step(wrong), hint)


# ---------------------------------------------------------------- reliability curve


def test_reliability_reference_equals_sklearn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(float)
    mean_predicted, fraction_positive, counts = checks.reliability_reference(p, y, 10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    assert np.allclose(mean_predicted, prob_pred) and np.allclose(fraction_positive, prob_true)
    assert counts.sum() == 500


def test_reliability_check(capsys):
    assert checks.check_reliability_curve(checks.reliability_reference)
    assert checks.check_reliability_curve(stub).status == "not attempted"
    capsys.readouterr()

    def swapped(p, y, n_bins):
        a, b, c = checks.reliability_reference(p, y, n_bins)
        return b, a, c

    def keeps_empty_bins(p, y, n_bins):
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        with np.errstate(invalid="ignore"):
            return tuple(np.array([f(b) for b in range(n_bins)]) for f in (
                lambda b: p[bins == b].mean() if (bins == b).any() else np.nan,
                lambda b: y[bins == b].mean() if (bins == b).any() else np.nan,
                lambda b: (bins == b).sum()))

    def drops_p_equal_1(p, y, n_bins):
        keep = p < 1
        return checks.reliability_reference(p[keep], y[keep], n_bins)

    fails_with(capsys, checks.check_reliability_curve(swapped), "swapped")
    fails_with(capsys, checks.check_reliability_curve(keeps_empty_bins), "leave out empty bins")
    fails_with(capsys, checks.check_reliability_curve(drops_p_equal_1), "p = 1.0 in the last bin")
