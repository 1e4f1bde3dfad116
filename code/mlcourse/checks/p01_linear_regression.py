"""Checks for the exercises of chapter 1 (linear regression): each compares the learner's function with the library.

Where a wrong answer has a typical cause (the gradient summed instead of averaged, the factor 2 forgotten, the
residual's sign flipped, ``np.linalg.inv``, the normal equations on an ill-conditioned design, Adam's
``(1 - momentum)`` in a heavy-ball step, the old velocity used for the step) the failure line names that cause.
Every check prints one verdict line (see :mod:`mlcourse.checks.core`) and returns a
:class:`~mlcourse.checks.core.Verdict`. The checks build small NumPy problems from fixed seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.classical.conditioning import design_with_condition_number
from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.linear import mse_gradient, mse_loss_and_grad, solve_lstsq

ILL_KAPPA = 1e7  # condition number of the hard case: normal equations lose ~14 digits, lstsq ~7


def _as_array(name: str, got: Any, shape: tuple[int, ...], context: str) -> np.ndarray:
    """``got`` as a float64 array of exactly ``shape``, or a failure naming what came back instead."""
    if not isinstance(got, (np.ndarray, list, tuple)) or isinstance(got, tuple) and len(got) != shape[0]:
        raise CheckFailed(f"expected {name} to be a NumPy array of shape {shape}, got {type(got).__name__} ({context})")
    array = np.asarray(got, dtype=np.float64)
    if array.shape != shape:
        raise CheckFailed(f"expected {name} of shape {shape}, got shape {array.shape} ({context})")
    return array


def _expect_close(name: str, got: np.ndarray, expected: np.ndarray, context: str, *, rtol: float = 1e-7) -> None:
    """Fail with the largest difference and where it is unless ``got`` matches ``expected`` within ``rtol``."""
    if np.isnan(got).any():
        raise CheckFailed(f"expected finite {name}, got NaN ({context})")
    if np.allclose(got, expected, rtol=rtol, atol=rtol * max(1.0, np.abs(expected).max())):
        return
    i = int(np.abs(got - expected).argmax())
    raise CheckFailed(f"expected {name} to match the reference ({context}), got a max abs difference of "
                      f"{abs(got[i] - expected[i]):.3g} at index {i} (expected {expected[i]:.6g}, got {got[i]:.6g})")


def _ratio(got: np.ndarray, expected: np.ndarray) -> float | None:
    """The constant c with got = c * expected, if there is one (to recognise a missing factor); else None."""
    scale = float(expected @ expected)
    if scale == 0:
        return None
    c = float(got @ expected) / scale
    return c if np.allclose(got, c * expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max()) else None


def _problems() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(description, w, X, y) cases for the gradient: small, wider, and one with a non-zero optimum."""
    rng = np.random.default_rng(0)
    cases = []
    for n, d in ((7, 3), (50, 5), (200, 2)):
        X, w = rng.standard_normal((n, d)), rng.standard_normal(d)
        cases.append((f"n={n}, d={d}", w, X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)))
    return cases


def check_mse_gradient(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(w (d,), X (n, d), y (n,)) -> (d,)`` must equal ``(2/n) X^T (X w - y)`` on 3 problems."""

    def body() -> str:
        for context, w, X, y in _problems():
            n, d = X.shape
            raw = fn(w.copy(), X.copy(), y.copy())
            if isinstance(raw, np.ndarray) and raw.shape == (n,):
                raise CheckFailed(f"your gradient has one entry per sample, shape ({n},) ({context}); it needs one "
                                  "per parameter, shape (d,): multiply the residual by X^T, i.e. X.T @ (X @ w - y)")
            got, ref = _as_array("the gradient", raw, (d,), context), mse_gradient(w, X, y)
            c = _ratio(got, ref)
            hints = {n: "off by a factor n: did you average over the samples (divide by n, or use .mean())?",
                     n / 2: "off by a factor n/2: average over the samples (1/n) and keep the 2 from the square",
                     0.5: "half the expected gradient: the derivative of (x w - y)^2 is 2 (x w - y) x; keep the 2",
                     -1.0: "the sign is flipped: the residual is prediction minus target, X w - y; with y - X w "
                           "the 'gradient' points downhill and gradient descent would climb"}  # fmt: skip
            for factor, hint in hints.items():
                if c is not None and abs(c - factor) < 1e-6 * abs(factor):
                    raise CheckFailed(f"{hint} ({context})")
            _expect_close("the gradient", got, ref, context)
        return "equals (2/n) X^T (X w - y) on 3 problems"

    return run_check("MSE gradient", body)


class _InverseCalled(Exception):
    """Raised by the stand-in for np.linalg.inv while a learner's solver runs."""


def _call_without_inverse(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray) -> Any:
    """Call ``fn(X, y)`` with ``np.linalg.inv`` replaced by a trap; fail with a precise hint if it is used."""

    def trap(*args: Any, **kwargs: Any) -> None:
        raise _InverseCalled

    original = np.linalg.inv
    np.linalg.inv = trap
    try:
        return fn(X.copy(), y.copy())
    except _InverseCalled:
        raise CheckFailed("you called np.linalg.inv: never invert X^T X to solve a system; "
                          "np.linalg.solve(X.T @ X, X.T @ y) is faster and more accurate") from None
    except np.linalg.LinAlgError as err:
        raise CheckFailed(f"np.linalg raised '{err}': np.linalg.solve needs a square system; solve the d x d "
                          "system X^T X w = X^T y, not the n x d system X w = y") from None
    finally:
        np.linalg.inv = original


def _least_squares_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    X1 = rng.standard_normal((30, 4))
    X2 = design_with_condition_number(100, 10, 1e3, seed=1)
    return [("n=30, d=4, noisy y", X1, X1 @ rng.standard_normal(4) + rng.standard_normal(30)),
            ("n=100, d=10, kappa(X)=1e3", X2, X2 @ rng.standard_normal(10) + 0.01 * rng.standard_normal(100))]


def check_normal_equations(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(X (n, d), y (n,)) -> w (d,)`` must solve the normal equations (without ``np.linalg.inv``)."""

    def body() -> str:
        for context, X, y in _least_squares_cases():
            got = _as_array("w", _call_without_inverse(fn, X, y), (X.shape[1],), context)
            ref = solve_lstsq(X, y)
            if np.allclose(got, X.T @ y / len(y)) or np.allclose(got, X.T @ y):
                raise CheckFailed(f"you returned X^T y (up to a factor): that is the right-hand side; w solves "
                                  f"(X^T X) w = X^T y ({context})")
            _expect_close("w", got, ref, context, rtol=1e-6)
        return "solves X^T X w = X^T y on 2 problems, without an explicit inverse"

    return run_check("normal equations", body)


def check_stable_least_squares(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(X, y) -> w`` must stay accurate on a design with kappa(X) = 1e7 (relative error below 1e-6)."""

    def body() -> str:
        for context, X, y in _least_squares_cases():
            _expect_close("w", _as_array("w", _call_without_inverse(fn, X, y), (X.shape[1],), context),
                          solve_lstsq(X, y), context, rtol=1e-6)
        w_true = np.random.default_rng(2).standard_normal(8)
        X = design_with_condition_number(60, 8, ILL_KAPPA, seed=2)
        y = X @ w_true  # consistent: the exact answer is w_true, so any error is rounding
        context = f"kappa(X) = {ILL_KAPPA:.0e}, y = X w_true exactly"
        got = _as_array("w", _call_without_inverse(fn, X, y), (8,), context)
        error = float(np.linalg.norm(got - w_true) / np.linalg.norm(w_true))
        eps = np.finfo(float).eps
        if error > 1e-6:
            cause = (f"about kappa^2 * eps = {ILL_KAPPA**2 * eps:.0e}, which is what forming X^T X costs: it squares "
                     "the condition number. Work on X itself: np.linalg.lstsq(X, y, rcond=None)[0], or QR"
                     if error > 1e-4 else "more than kappa * eps; solve from X itself (lstsq or QR)")
            raise CheckFailed(f"expected a relative error below 1e-6 ({context}), got {error:.1e}: {cause}")
        return f"relative error below 1e-6 at kappa(X) = {ILL_KAPPA:.0e}, where the normal equations lose ~2 digits"

    return run_check("stable least squares", body)


def _step_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    rng = np.random.default_rng(seed)
    Xb, w, v = rng.standard_normal((8, 3)), rng.standard_normal(3), rng.standard_normal(3)
    return w, v, Xb, Xb @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(8), 0.05, 0.9


def check_momentum_step(fn: Callable[..., tuple[np.ndarray, np.ndarray]]) -> Verdict:
    """``fn(w, velocity, X_batch, y_batch, lr, momentum) -> (w_new, velocity_new)``: one heavy-ball step.

    Reference: ``velocity_new = momentum * velocity + grad``, ``w_new = w - lr * velocity_new`` (as ``minimize`` and
    ``torch.optim.SGD``), then 40 full-batch steps from zero must retrace ``minimize``'s path.
    """

    def body() -> str:
        for seed in (0, 1):
            w, v, Xb, yb, lr, beta = _step_case(seed)
            context = f"batch of 8 rows, lr={lr}, momentum={beta}"
            result = fn(w.copy(), v.copy(), Xb.copy(), yb.copy(), lr, beta)
            expect(isinstance(result, tuple) and len(result) == 2,
                   f"expected a tuple (w_new, velocity_new), got {type(result).__name__} ({context})")
            w_new, v_new = (_as_array(name, r, (3,), context) for name, r in zip(("w_new", "velocity_new"), result))
            g = mse_gradient(w, Xb, yb)
            v_ref = beta * v + g
            mistakes = [
                (beta * v + (1 - beta) * g, None, "you scaled the gradient by (1 - momentum), the moving-average "
                 "form of Adam; this course's heavy-ball step adds the whole gradient: v = momentum * v + grad"),
                (v_ref, w - lr * v, "you stepped with the old velocity: update the velocity first, then "
                 "w_new = w - lr * velocity_new"),
                (v_ref, w + lr * v_ref, "you stepped uphill: w_new = w - lr * velocity_new (minus, not plus)"),
                (g, w - lr * g, "the momentum term is missing: velocity_new = momentum * velocity + grad"),
                (beta * v - lr * g, None, "you used the other convention (v = m v - lr g, w = w + v), which "
                 "stores lr inside the velocity and matches only while lr is fixed; keep v = momentum * v + grad "
                 "and w = w - lr * v, as minimize and torch.optim.SGD do"),
                (beta * v + len(yb) * g, None, "the gradient is summed over the batch, not averaged: divide by the "
                 "batch size so that lr does not depend on it"),
            ]  # fmt: skip
            for v_wrong, w_wrong, hint in mistakes:
                if np.allclose(v_new, v_wrong) and (w_wrong is None or np.allclose(w_new, w_wrong)):
                    raise CheckFailed(f"{hint} ({context})")
            _expect_close("velocity_new", v_new, v_ref, context)
            _expect_close("w_new", w_new, w - lr * v_ref, context)
        X, y = _step_case(2)[2], _step_case(2)[3]
        reference = minimize(mse_loss_and_grad(X, y), np.zeros(3), len(y), lr=0.05, epochs=40, momentum=0.9,
                             record_path=True)  # fmt: skip
        w, v = np.zeros(3), np.zeros(3)
        for step in range(40):
            w, v = fn(w, v, X, y, 0.05, 0.9)
            _expect_close("w", np.asarray(w, dtype=np.float64), reference.path[step + 1], f"full-batch step {step + 1}")
        return "one step is right, and 40 steps retrace minimize(momentum=0.9)"

    return run_check("mini-batch step with momentum", body)
