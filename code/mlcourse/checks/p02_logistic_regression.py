"""Checks for the exercises of chapter 2 (logistic regression): each compares the learner's NumPy function with the
library's on fixed inputs, extreme logits included.

Where a wrong answer has a typical cause (exp overflowing, log of a rounded probability, a sum instead of a mean,
the sign of p - y, the bias penalised, a Hessian without the p (1 - p) weights or without 1/n), the failure line
names that cause. Every check prints one verdict line (see :mod:`mlcourse.checks.core`) and returns a
:class:`~mlcourse.checks.core.Verdict`. Nothing here trains a model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.logistic import (
    add_intercept, binary_cross_entropy, logistic_hessian, logistic_loss_and_grad, newton_step, sigmoid,
)

EXTREME = np.array([-1000.0, -40.0, -1.0, 0.0, 2.5, 40.0, 1000.0])  # logits from 'overflow' to 'no problem'


def _array(name: str, got: object) -> np.ndarray:
    """``got`` as a float64 array, or a failure saying what came back instead."""
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {name} as a NumPy array or a float, got {type(got).__name__}") from None


def _close(name: str, got: object, expected: np.ndarray, *, atol: float = 1e-8, rtol: float = 1e-6,
           context: str = "") -> None:  # fmt: skip
    """:func:`~mlcourse.checks.core.expect_close` for NumPy values (shapes, max abs difference and where)."""
    expect_close(name, torch.as_tensor(_array(name, got)), torch.as_tensor(np.asarray(expected, dtype=np.float64)),
                 atol=atol, rtol=rtol, context=context)  # fmt: skip


def _same(got: object, expected: np.ndarray, rtol: float = 1e-6) -> bool:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(expected) and bool(np.allclose(got, expected, rtol=rtol, atol=1e-10))


def _call_watching_numpy(fn: Callable, *args) -> tuple[object, list[str]]:
    """``fn(*args)`` and the messages of the NumPy floating-point warnings (overflow, divide by zero) it raised."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn"):
        warnings.simplefilter("always")
        got = fn(*args)
    return got, sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})


def _problem(seed: int, n: int = 30, d: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w (d+1,), X1 (n, d+1) with the column of ones first, y (n,) in {0, 1}): small, fixed, not separable."""
    rng = np.random.default_rng(seed)
    X1 = add_intercept(rng.normal(size=(n, d)))
    w = rng.normal(size=d + 1)
    return w, X1, (rng.random(n) < sigmoid(X1 @ w)).astype(float)


def check_sigmoid(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(z)`` must equal 1 / (1 + exp(-z)) elementwise, keep z's shape, and never overflow, even at |z| = 1000."""

    def body() -> str:
        got, numpy_warnings = _call_watching_numpy(fn, EXTREME)
        ref = sigmoid(EXTREME)
        if _same(got, 1.0 - ref):
            raise CheckFailed("you computed sigmoid(-z) = 1 / (1 + exp(z)): the sign in the exponent is flipped")
        if isinstance(got, np.ndarray) and got.shape == ref.shape and np.isnan(got).any():
            raise CheckFailed(f"got NaN at z = {EXTREME[np.isnan(got)].tolist()}: exp(z) / (1 + exp(z)) is inf / inf "
                              "for large z; use that form only for z < 0")
        _close("sigmoid(z)", got, ref, atol=1e-12, context=f"z = {EXTREME.tolist()}")
        expect(not numpy_warnings, f"the values are right, but NumPy warned {numpy_warnings}: exp overflowed to inf "
                                   "on the way (exp(1000) for z = -1000). Compute e = exp(-|z|), which is at most 1, "
                                   "and use 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0")  # fmt: skip
        grid = np.linspace(-6, 6, 12).reshape(3, 4)
        _close("sigmoid(z)", fn(grid), sigmoid(grid), atol=1e-12, context="z of shape (3, 4): keep the shape")
        return "exact from z = -1000 to 1000, no overflow, any shape"

    return run_check("stable sigmoid", body)


def check_binary_cross_entropy(fn: Callable[[np.ndarray, np.ndarray], float]) -> Verdict:
    """``fn(logits (n,), y (n,))`` must be the mean cross-entropy in nats, finite and exact for logits of +-1000."""

    def body() -> str:
        w, X1, y = _problem(0)
        z = X1 @ w
        cases = [("30 random logits", z, y),
                 ("logits +-1000, labels agreeing: loss 0", np.array([1000.0, -1000.0]), np.array([1.0, 0.0])),
                 ("logits +-1000, labels disagreeing: loss 1000 nats", np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))]  # fmt: skip
        for description, logits, labels in cases:
            got, numpy_warnings = _call_watching_numpy(fn, logits, labels)
            ref = binary_cross_entropy(logits, labels)
            value = _array("the loss", got)
            expect(value.shape in ((), (1,)), f"expected one number (the mean loss), got shape {value.shape}")
            value = float(value.reshape(()))
            if not math.isfinite(value):
                raise CheckFailed(f"got {value} ({description}): log(sigmoid(z)) is log(0) once sigmoid rounds to 0. "
                                  "Work from the logits: the loss is logaddexp(0, z) - y * z")
            hints = [(ref * len(labels), "you summed over the samples; the loss is the mean (divide by n)"),
                     (-ref, "the sign is flipped: the loss is MINUS the log-likelihood"),
                     (ref / math.log(2), "your loss is in bits (log2); this course uses nats (natural log)"),
                     (binary_cross_entropy(logits, 1 - labels), "y and 1 - y are swapped: y = 1 goes with log p")]
            for wrong, hint in hints:
                if not math.isclose(wrong, ref, rel_tol=1e-6) and math.isclose(value, wrong, rel_tol=1e-6):
                    raise CheckFailed(f"{hint} ({description})")
            if description.endswith("1000 nats") and 20 < value < 100:
                raise CheckFailed(f"got {value:.4g} instead of 1000: clipping p away from 0 and 1 hides how wrong a "
                                  "confident mistake is. Compute the loss from the logits with logaddexp")
            expect(math.isclose(value, ref, rel_tol=1e-7, abs_tol=1e-12),
                   f"expected {ref:.10g}, got {value:.10g} ({description})")
            expect(not numpy_warnings, f"the value is right but NumPy warned {numpy_warnings} ({description}): "
                                       "use np.logaddexp(0, z), which never overflows")  # fmt: skip
        return "mean loss in nats, exact at logits of +-1000"

    return run_check("binary cross-entropy", body)


def check_gradient(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(w, X1, y, l2) -> (d1,)``: gradient of mean cross-entropy + l2/2 |w[1:]|^2 (w[0], the bias, unpenalised)."""

    def body() -> str:
        for seed, l2 in ((1, 0.0), (2, 0.5)):
            w, X1, y = _problem(seed)
            context = f"n = {len(y)}, l2 = {l2}"
            got = _array("the gradient", fn(w, X1, y, l2))
            ref = logistic_loss_and_grad(w, X1, y, l2)[1]
            _, data_part = logistic_loss_and_grad(w, X1, y, 0.0)  # X1^T (p - y) / n
            penalty = ref - data_part  # l2 * w with w[0] = 0
            if got.shape == ref.shape and not _same(got, ref):
                hints = [
                    (-ref, "the sign is flipped: the gradient is X1^T (sigmoid(X1 w) - y) / n, prediction minus label"),
                    (len(y) * data_part + penalty, "off by a factor n: did you average over the samples (divide by n)?"),
                    (data_part, "the L2 term l2 * w is missing"),
                    (data_part + 0.5 * penalty, "the L2 term is l2 * w, not l2 / 2 * w: the derivative of l2/2 |w|^2"),
                    (data_part + l2 * w, "you penalised the bias w[0] too: its L2 term must be 0"),
                    (X1.T @ (X1 @ w - y) / len(y) + penalty,
                     "you used the logits z = X1 w where sigmoid(z) belongs: that is linear regression's gradient"),
                ]
                for wrong, hint in hints:
                    if not _same(wrong, ref) and _same(got, wrong):
                        raise CheckFailed(f"{hint} ({context})")
            _close("gradient", got, ref, atol=1e-10, context=context)
        return "equals the derivative of the loss, with and without L2 (bias unpenalised)"

    return run_check("cross-entropy gradient", body)


def check_newton_step(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(w, X1, y, l2) -> (d1,)``: the new parameters after one full Newton (IRLS) step, w - H^-1 g."""

    def body() -> str:
        for seed, l2 in ((3, 0.0), (4, 0.3)):
            w, X1, y = _problem(seed)
            context = f"n = {len(y)}, l2 = {l2}"
            got = _array("the new w", fn(w, X1, y, l2))
            ref = newton_step(w, X1, y, l2)
            _, grad = logistic_loss_and_grad(w, X1, y, l2)
            hessian = logistic_hessian(w, X1, l2)
            no_weights = X1.T @ X1 / len(y) + (hessian - logistic_hessian(w, X1, 0.0))
            if got.shape == ref.shape and not _same(got, ref):
                hints = [
                    (w + np.linalg.solve(hessian, grad), "the step goes uphill: subtract H^-1 g, do not add it"),
                    (w - np.linalg.solve(len(y) * hessian, grad),
                     "the step is n times too short: the Hessian needs the same 1/n as the gradient"),
                    (w - np.linalg.solve(no_weights, grad),
                     "the Hessian has no p (1 - p) weights: X1^T X1 / n is least squares' Hessian, not this loss's"),
                    (w - np.linalg.solve(logistic_hessian(w, X1, 0.0), grad), "the Hessian lacks the L2 term l2 * I'"),
                    (w - grad, "that is a gradient-descent step with lr = 1; Newton's step is H^-1 g"),
                    (ref - w, "you returned the step; return the new parameters w - H^-1 g"),
                    (w - ref, "you returned the step; return the new parameters w - H^-1 g"),
                ]
                for wrong, hint in hints:
                    if not _same(wrong, ref) and _same(got, wrong):
                        raise CheckFailed(f"{hint} ({context})")
            _close("new w", got, ref, atol=1e-9, context=context)
        return "one Newton step equals the library's, with and without L2"

    return run_check("Newton (IRLS) step", body)


def reliability_reference(p: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width bins on [0, 1]: (mean predicted p, fraction of y = 1, count) per non-empty bin, low to high."""
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)  # p = 1 goes in the last bin
    filled = np.unique(bins)
    return (np.array([p[bins == b].mean() for b in filled]), np.array([y[bins == b].mean() for b in filled]),
            np.array([(bins == b).sum() for b in filled]))  # fmt: skip


def check_reliability_curve(fn: Callable[[np.ndarray, np.ndarray, int], tuple]) -> Verdict:
    """``fn(p, y, n_bins) -> (mean_predicted, fraction_positive, counts)`` over the non-empty equal-width bins."""

    def body() -> str:
        rng = np.random.default_rng(5)
        p = np.concatenate([rng.beta(0.5, 3.0, size=150), [0.0, 1.0]])  # skewed: several bins stay empty
        y = (rng.random(len(p)) < p).astype(float)
        got = fn(p, y, 10)
        expect(isinstance(got, tuple) and len(got) == 3, f"expected (mean_predicted, fraction_positive, counts), "
                                                         f"got {type(got).__name__}")  # fmt: skip
        ref = reliability_reference(p, y, 10)
        names = ("mean_predicted", "fraction_positive", "counts")
        got = tuple(_array(name, g) for name, g in zip(names, got))
        if len(got[0]) == 10 and len(ref[0]) < 10:
            raise CheckFailed(f"expected only the {len(ref[0])} non-empty bins, got 10 values: leave out empty bins "
                              "(their mean is undefined)")
        if got[0].shape == ref[0].shape and _same(got[0], ref[1]) and _same(got[1], ref[0]):
            raise CheckFailed("mean_predicted and fraction_positive are swapped")
        expect(got[2].sum() == len(p), f"expected the counts to add up to all {len(p)} samples, got {got[2].sum():g} "
                                       "(is p = 1.0 in the last bin?)")  # fmt: skip
        for name, g, r in zip(names, got, ref):
            _close(name, g, r, atol=1e-12, context="152 skewed probabilities, 10 equal-width bins")
        return "per-bin means and counts, empty bins left out"

    return run_check("reliability curve", body)
