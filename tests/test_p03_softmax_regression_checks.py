"""Tests of mlcourse.checks.p03_softmax_regression: each check passes the reference solution, reads a stub as
"not attempted yet", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p03_softmax_regression as checks
from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.softmax import softmax, softmax_cross_entropy
from check_helpers import stub


def failure(verdict) -> str:
    assert verdict.status == "failed", verdict.line()
    return verdict.detail


# ---------------------------------------------------------------- softmax


def test_softmax_check_passes_the_reference_and_reads_a_stub():
    assert checks.check_softmax(softmax)
    assert checks.check_softmax(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), "exp(1000) overflows"),
    (lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(axis=1, keepdims=True), "max of EACH ROW"),
    (lambda z: np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0), "normalised over axis 0"),
    (lambda z: np.exp(z - z.max(axis=1, keepdims=True)), "not 1"),
    (lambda z: softmax(z)[:, ::-1], "max abs difference"),
])  # fmt: skip
def test_softmax_check_names_the_typical_mistakes(wrong, hint, capsys):
    assert hint in failure(checks.check_softmax(wrong))
    assert capsys.readouterr().out.startswith("✗ failed: stable softmax")


def test_softmax_check_catches_an_input_changed_in_place():
    def in_place(z):
        z -= z.max(axis=1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    assert "changed its input z in place" in failure(checks.check_softmax(in_place))


# ---------------------------------------------------------------- cross-entropy


def reference_loss(logits, labels):
    return softmax_cross_entropy(logits, labels)[0]


def test_cross_entropy_check_passes_the_reference():
    assert checks.check_cross_entropy(reference_loss)
    assert checks.check_cross_entropy(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda z, y: -np.log(softmax(z)[np.arange(len(y)), y]).mean(), "compute log p = z - logsumexp(z)"),
    (lambda z, y: len(y) * reference_loss(z, y), "off by a factor n"),
    (lambda z, y: -reference_loss(z, y), "the sign is flipped"),
    (lambda z, y: reference_loss(z, y) / np.log(2), "in bits"),
    (lambda z, y: -np.log(softmax(z)[np.arange(len(y)), y]), "expected one number"),
    (lambda z, y: reference_loss(z, np.zeros_like(y)), "TRUE class"),
])  # fmt: skip
def test_cross_entropy_check_names_the_typical_mistakes(wrong, hint):
    with np.errstate(all="ignore"):
        assert hint in failure(checks.check_cross_entropy(wrong))


# ---------------------------------------------------------------- gradient


def test_gradient_check_passes_the_reference():
    assert checks.check_gradient(checks.reference_gradient)
    assert checks.check_gradient(stub).status == "not attempted"


def _data_grad(W, b, X, y):
    P = softmax(X @ W + b)
    Y = np.eye(W.shape[1])[y]
    return X.T @ (P - Y), (P - Y).sum(0), len(y)


@pytest.mark.parametrize("wrong, hint", [
    (lambda W, b, X, y, l2: (_data_grad(W, b, X, y)[0] + l2 * W, _data_grad(W, b, X, y)[1]), "factor n"),
    (lambda W, b, X, y, l2: tuple(-g for g in checks.reference_gradient(W, b, X, y, l2)), "sign is flipped"),
    (lambda W, b, X, y, l2: checks.reference_gradient(W, b, X, y, 0.0), "misses the penalty"),
    (lambda W, b, X, y, l2: (checks.reference_gradient(W, b, X, y, l2)[0] + l2 * W,
                             checks.reference_gradient(W, b, X, y, l2)[1]), "doubled"),
    (lambda W, b, X, y, l2: (checks.reference_gradient(W, b, X, y, l2)[0],
                             checks.reference_gradient(W, b, X, y, l2)[1] + l2 * b), "bias is not penalised"),
    (lambda W, b, X, y, l2: (checks.reference_gradient(W, b, X, y, l2)[0].T,
                             checks.reference_gradient(W, b, X, y, l2)[1]), "not (P - Y).T @ X"),
])  # fmt: skip
def test_gradient_check_names_the_typical_mistakes(wrong, hint):
    assert hint in failure(checks.check_gradient(wrong))


# ---------------------------------------------------------------- fit


def fit_with_minimize(X, labels, l2, epochs=2000):
    d, K = X.shape[1], labels.max() + 1

    def loss_and_grad(w, rows):
        W, b = w[: d * K].reshape(d, K), w[d * K :]
        loss = reference_loss(X @ W + b, labels) + l2 / 2 * (W**2).sum()
        dW, db = checks.reference_gradient(W, b, X, labels, l2)
        return loss, np.concatenate([dW.ravel(), db])

    w = minimize(loss_and_grad, np.zeros(d * K + K), len(labels), lr=0.5, epochs=epochs, momentum=0.9).w
    return w[: d * K].reshape(d, K), w[d * K :]


def test_fit_check_passes_a_converged_fit_and_reads_a_stub():
    assert checks.check_fit(fit_with_minimize)
    assert checks.check_fit(stub).status == "not attempted"


def test_fit_check_says_when_the_loop_stopped_too_early():
    detail = failure(checks.check_fit(lambda X, y, l2: fit_with_minimize(X, y, l2, epochs=3)))
    assert "largest gradient entry" in detail and "run more epochs" in detail
    transposed = failure(checks.check_fit(lambda X, y, l2: tuple(a.T for a in fit_with_minimize(X, y, l2))))
    assert "W is transposed" in transposed
