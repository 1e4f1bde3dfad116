"""Newton's method for smooth convex losses: solve for the step with the Hessian, halve it until the loss falls.

What it does: :func:`newton_minimize` repeats the second-order update::

    solve  H(w) s = g(w)           (H: Hessian, g: gradient, both of the loss at w)
    w  <-  w - t s                 t = 1, 1/2, 1/4, ... until the loss has fallen enough (Armijo)

and records the loss and the wall-clock time after every iteration, so that chapter 2 can put its convergence
beside gradient descent's on a log scale. Near the minimum the full step ``t = 1`` is always accepted and the
number of correct digits roughly doubles per iteration (quadratic convergence); the backtracking only matters
far from it (and is skipped once the predicted decrease is too small for the loss to resolve in float64).
For logistic regression this update is iteratively reweighted least squares (IRLS).

What it does not do: build the gradient or the Hessian (the model supplies them, e.g.
:func:`mlcourse.classical.logistic.logistic_hessian`), handle non-convex losses (a Hessian that is not positive
definite is reported, not repaired), or scale to many parameters: each iteration solves a (d, d) system,
O(n d^2 + d^3) work, which is why deep learning uses first-order methods (chapter 14's AdamW) instead.
Taught in chapter 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

ARMIJO = 1e-4  # accept a step when the loss falls by at least this fraction of the decrease the model predicts
MIN_STEP = 1e-10  # give up halving below this step length (the direction no longer descends)
ROUNDOFF = 1e-13  # a predicted decrease below this fraction of the loss is lost in rounding: take the full step


@dataclass
class NewtonResult:
    """What a run of :func:`newton_minimize` produced."""

    w: np.ndarray  # (d,) the final parameters
    losses: list[float] = field(default_factory=list)  # loss at the start and after each iteration
    times_s: list[float] = field(default_factory=list)  # wall-clock seconds since the start, beside each loss
    iterations: int = 0  # Newton steps taken
    converged: bool = False  # max |gradient| fell below tol
    stopped: str = ""  # why it stopped: "converged", "max_iter", "singular Hessian" or "line search failed"


def newton_minimize(loss_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                    hessian: Callable[[np.ndarray], np.ndarray], w0: np.ndarray, *, max_iter: int = 100,
                    tol: float = 1e-10) -> NewtonResult:  # fmt: skip
    """Minimise a smooth convex loss by Newton's method with a backtracking line search.

    Args:
        loss_and_grad: ``w (d,) -> (loss, gradient (d,))``.
        hessian: ``w (d,) -> (d, d)`` second derivatives of the same loss.
        w0: (d,) starting parameters (copied, never modified).
        max_iter: most Newton steps to take.
        tol: stop when the largest absolute gradient entry is below ``tol``.
    """
    if not max_iter >= 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter!r}.")
    start = time.perf_counter()
    w = np.array(w0, dtype=np.float64, copy=True)
    loss, grad = loss_and_grad(w)
    result = NewtonResult(w=w, losses=[float(loss)], times_s=[0.0], stopped="max_iter")
    for _ in range(max_iter):
        if np.max(np.abs(grad)) < tol:
            result.converged, result.stopped = True, "converged"
            break
        try:
            step = np.linalg.solve(hessian(w), grad)  # (d,) the Newton direction is -step
        except np.linalg.LinAlgError:
            result.stopped = "singular Hessian"
            break
        predicted = float(grad @ step)  # the decrease a full step would give on the quadratic model (> 0)
        t = 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            new_loss, new_grad = loss_and_grad(w - t * step)
            if predicted > ROUNDOFF * max(abs(loss), 1.0):  # else the loss cannot tell: trust the full step
                while not new_loss <= loss - ARMIJO * t * predicted and t > MIN_STEP:
                    t /= 2
                    new_loss, new_grad = loss_and_grad(w - t * step)
        if t <= MIN_STEP:
            result.stopped = "line search failed"
            break
        w, loss, grad = w - t * step, new_loss, new_grad
        result.iterations += 1
        result.losses.append(float(loss))
        result.times_s.append(time.perf_counter() - start)
    else:
        if np.max(np.abs(grad)) < tol:
            result.converged, result.stopped = True, "converged"
    result.w = w
    return result
