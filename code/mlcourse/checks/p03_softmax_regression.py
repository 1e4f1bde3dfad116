"""Checks for the exercises of chapter 3 (softmax regression): each compares the learner's NumPy function with
the library's :mod:`mlcourse.classical.softmax`.

Where a wrong answer has a typical cause (an overflowing softmax, normalising the wrong axis, a sum instead of a
mean, log(softmax) turning into -inf, a flipped sign, a penalised bias, a doubled penalty, a transposed
gradient, a loop that stopped too early), the failure line names that cause. Every check prints one verdict
line (see :mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`. The checks build
their own small inputs from fixed seeds; only :func:`check_fit` trains anything (a 3-class problem in 2-D).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.logistic import add_intercept
from mlcourse.classical.softmax import SoftmaxRegression, softmax, softmax_cross_entropy, softmax_loss_and_grad


def _array(name: str, got: Any) -> np.ndarray:
    """The learner's result as a float64 array, or a failure that names what came back instead."""
    try:
        return np.array(got, dtype=np.float64)  # a contiguous copy (torch refuses negative strides, e.g. z[:, ::-1])
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {name} to be a NumPy array, got {type(got).__name__}") from None


def _close(name: str, got: Any, expected: np.ndarray, *, atol: float = 1e-8, context: str = "") -> None:
    """:func:`~mlcourse.checks.core.expect_close` for NumPy arrays (shapes, NaNs and the largest difference)."""
    expect_close(name, torch.as_tensor(_array(name, got)), torch.as_tensor(np.asarray(expected, dtype=np.float64)),
                 atol=atol, rtol=0.0, context=context)  # fmt: skip


def _same(got: np.ndarray, expected: np.ndarray, atol: float = 1e-8) -> bool:
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=atol, rtol=0.0))


def _logit_cases() -> list[tuple[str, np.ndarray]]:
    """(description, logits (n, K)) cases: hand-sized, random, huge positive and negative rows together."""
    rng = np.random.default_rng(3)
    return [
        ("one row [1, 2, 3]", np.array([[1.0, 2.0, 3.0]])),
        ("5 rows, 4 classes, random", rng.normal(size=(5, 4)) * 3),
        ("rows [1000, 1001, 1002] and [-1000, -1001, -1002]", np.array([[1000.0, 1001.0, 1002.0],
                                                                        [-1000.0, -1001.0, -1002.0]])),
    ]  # fmt: skip


def check_softmax(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(z)`` with z (n, K) must return the row-wise softmax (n, K), finite even for logits of 1000."""

    def body() -> str:
        for description, z in _logit_cases():
            z_before = z.copy()
            with np.errstate(all="ignore"):  # the learner's overflow is diagnosed below, not printed as a warning
                got = _array("softmax", fn(z))
            expect(np.array_equal(z, z_before), "your function changed its input z in place (z -= ...): compute "
                   "z - z.max(axis=1, keepdims=True) into a new array instead")
            ref = softmax(z)
            if got.shape == ref.shape and not np.isfinite(got).all():
                if np.abs(z).max() > 700:
                    big_rows = np.isfinite(got).all(axis=1)
                    if big_rows.any():
                        raise CheckFailed(f"NaN in some rows only ({description}): subtract the max of EACH ROW "
                                          "(axis=1, keepdims=True), not of the whole array: a row far below the "
                                          "global max underflows to 0 / 0")
                    raise CheckFailed(f"got NaN or inf ({description}): exp(1000) overflows to inf in float64; "
                                      "subtract each row's max before exp (the softmax does not change)")
            if got.shape == ref.shape and np.isfinite(got).all() and not np.allclose(got.sum(axis=1), 1.0):
                if np.allclose(got.sum(axis=0), 1.0):
                    raise CheckFailed(f"each COLUMN sums to 1 ({description}): you normalised over axis 0; sum over "
                                      "the classes (axis=1 or -1, keepdims=True)")
                raise CheckFailed(f"the rows sum to {np.round(got.sum(axis=1), 4).tolist()}, not 1 ({description}): "
                                  "divide exp(z - max) by its sum over each row")
            _close("softmax", got, ref, context=description)
        return "rows sum to 1, equal to the reference, finite for logits of +-1000"

    return run_check("stable softmax", body)


def check_cross_entropy(fn: Callable[[np.ndarray, np.ndarray], float]) -> Verdict:
    """``fn(logits (n, K), labels (n,))`` must return the mean cross-entropy in nats, finite for extreme logits."""

    def body() -> str:
        rng = np.random.default_rng(4)
        cases = [("2 rows, hand-sized", np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), np.array([0, 2])),
                 ("8 rows, 5 classes, random", rng.normal(size=(8, 5)) * 2, rng.integers(0, 5, size=8)),
                 ("the true class 800 below the others", np.array([[0.0, 800.0], [3.0, 1.0]]), np.array([0, 0]))]
        for description, logits, labels in cases:
            with np.errstate(all="ignore"):
                got_raw = fn(logits.copy(), labels.copy())
            got = _array("loss", got_raw)
            expect(got.size == 1, f"expected one number (the mean over the samples), got shape {got.shape} "
                   f"({description}): average the per-sample losses")
            got, ref = float(got), softmax_cross_entropy(logits, labels)[0]
            if math.isclose(got, ref, abs_tol=1e-8):
                continue
            n = len(labels)
            if not math.isfinite(got):
                raise CheckFailed(f"got {got} ({description}): log(softmax(z)) is log(0) = -inf once a probability "
                                  "rounds to 0; compute log p = z - logsumexp(z) instead")
            if math.isclose(got, n * ref, rel_tol=1e-6):
                raise CheckFailed(f"off by a factor n = {n} ({description}): average over the samples, do not sum")
            if math.isclose(got, -ref, rel_tol=1e-6):
                raise CheckFailed(f"got {got:.4f}, expected {ref:.4f} ({description}): the sign is flipped, the loss "
                                  "is MINUS the mean log-probability of the true class")
            if math.isclose(got, ref / math.log(2), rel_tol=1e-6):
                raise CheckFailed("your loss is in bits (log base 2); this course uses nats (natural log)")
            raise CheckFailed(f"expected {ref:.6f}, got {got:.6f} ({description}): the loss is "
                              "mean_i [logsumexp(z_i) - z_i[y_i]], the log-probability of each row's TRUE class")
        return "the mean in nats, finite when a probability rounds to 0"

    return run_check("cross-entropy from logits", body)


def reference_gradient(W: np.ndarray, b: np.ndarray, X: np.ndarray, labels: np.ndarray,
                       l2: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(dW (d, K), db (K,)) of mean cross-entropy + l2/2 |W|^2 for logits X W + b, from the library."""
    _, grad = softmax_loss_and_grad(np.vstack([b, W]), add_intercept(X), labels, l2)  # (d + 1, K), row 0 = bias
    return grad[1:], grad[0]


def _diagnose_gradient(dW: np.ndarray, db: np.ndarray, W, b, X, labels, l2: float) -> None:
    """Name the typical cause of a wrong gradient: no 1/n, flipped sign, penalty missing/doubled/on the bias."""
    ref_W, ref_b = reference_gradient(W, b, X, labels, l2)
    data_W, data_b = reference_gradient(W, b, X, labels, 0.0)
    n = len(labels)
    if dW.shape == W.shape[::-1] and dW.shape != W.shape:
        raise CheckFailed(f"dW has shape {dW.shape}, expected W's shape {W.shape}: compute X.T @ (P - Y), not "
                          "(P - Y).T @ X")
    if dW.shape != W.shape or db.shape != b.shape:
        raise CheckFailed(f"expected dW of shape {W.shape} and db of shape {b.shape}, got {dW.shape} and {db.shape}")
    if _same(dW, n * data_W + l2 * W) or _same(db, n * data_b):
        raise CheckFailed(f"the data part is off by a factor n = {n}: the loss is a MEAN, so divide X^T (P - Y) by n")
    if _same(dW, -data_W + l2 * W) or _same(dW, -ref_W) or _same(db, -ref_b):
        raise CheckFailed("the sign is flipped: the gradient is X^T (P - Y) / n, probabilities MINUS one-hot")
    if l2 and _same(dW, data_W):
        raise CheckFailed(f"dW misses the penalty's gradient l2 * W (l2 = {l2})")
    if l2 and _same(dW, data_W + 2 * l2 * W):
        raise CheckFailed("the penalty's gradient is doubled: d/dW of l2/2 |W|^2 is l2 * W, not 2 l2 W")
    if l2 and _same(db, ref_b + l2 * b):
        raise CheckFailed("db includes the penalty: the bias is not penalised, so db = mean of (P - Y) over rows")


def check_gradient(fn: Callable[..., tuple[np.ndarray, np.ndarray]]) -> Verdict:
    """``fn(W (d, K), b (K,), X (n, d), labels (n,), l2)`` must return (dW (d, K), db (K,))."""

    def body() -> str:
        rng = np.random.default_rng(5)
        for description, n, d, K, l2 in (("n=6, d=2, K=3, no penalty", 6, 2, 3, 0.0),
                                         ("n=10, d=4, K=5, l2=0.3", 10, 4, 5, 0.3)):
            X, labels = rng.normal(size=(n, d)), rng.integers(0, K, size=n)
            W, b = rng.normal(size=(d, K)), rng.normal(size=K)
            result = fn(W.copy(), b.copy(), X.copy(), labels.copy(), l2)
            expect(isinstance(result, tuple) and len(result) == 2, f"expected a tuple (dW, db), got {result!r:.80}")
            dW, db = _array("dW", result[0]), _array("db", result[1])
            ref_W, ref_b = reference_gradient(W, b, X, labels, l2)
            if not (_same(dW, ref_W) and _same(db, ref_b)):
                _diagnose_gradient(dW, db, W, b, X, labels, l2)
            _close("dW", dW, ref_W, context=description)
            _close("db", db, ref_b, context=description)
        return "dW = X^T (P - Y) / n + l2 W and db = mean(P - Y), with and without the penalty"

    return run_check("gradient of the softmax cross-entropy", body)


def fit_problem(seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The problem :func:`check_fit` trains on: 3 overlapping Gaussian classes in 2-D, 50 each, standardised."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(m, 1.0, size=(50, 2)) for m in ([0.0, 0.0], [2.0, 0.0], [1.0, 1.7])])
    return (X - X.mean(0)) / X.std(0), np.repeat(np.arange(3), 50)


def check_fit(fn: Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray]]) -> Verdict:
    """``fn(X (n, d), labels (n,), l2) -> (W (d, K), b (K,))`` must reach the library's minimum (probabilities 1e-3)."""

    def body() -> str:
        X, labels = fit_problem()
        l2 = 0.01
        result = fn(X.copy(), labels.copy(), l2)
        expect(isinstance(result, tuple) and len(result) == 2, f"expected a tuple (W, b), got {result!r:.80}")
        W, b = _array("W", result[0]), _array("b", result[1])
        expect(W.shape == (2, 3) and b.shape == (3,), f"expected W of shape (d, K) = (2, 3) and b of shape (3,), got "
               f"{W.shape} and {b.shape}" + (" (W is transposed)" if W.shape == (3, 2) else ""))
        ref = SoftmaxRegression(l2=l2, tol=1e-9).fit(X, labels)
        got_p, ref_p = softmax(X @ W + b), ref.predict_proba(X)
        if not _same(got_p, ref_p, atol=1e-3):
            dW, db = reference_gradient(W, b, X, labels, l2)
            g_max = max(np.abs(dW).max(), np.abs(db).max())
            worst = np.abs(got_p - ref_p).max()
            raise CheckFailed(f"your probabilities differ from the minimum's by up to {worst:.3g};"
                              f" at your (W, b) the largest gradient entry is {g_max:.3g} (0 at the minimum): run more "
                              "epochs or a larger lr, and check that your gradient passed exercise 3")
        return "the same minimum as the library (probabilities within 1e-3)"

    return run_check("fit by gradient descent", body)
