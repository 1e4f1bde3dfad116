"""Gradient descent for Part 1: full-batch, stochastic and mini-batch, with momentum, and a record of the path.

What it does: :func:`minimize` takes a function that returns a loss and its gradient on a subset of the rows,
and runs (mini-)batch gradient descent with optional heavy-ball momentum::

    v <- momentum * v + grad            (v = 0 at the start)
    w <- w - lr * v

recording the loss on the full data after every epoch (and every parameter vector, for trajectory plots). ``lr`` is
a constant or a schedule, a function of the update number t = 1, 2, ... (chapter 7's Pegasos uses 1 / (lambda t)).
It stops early when the loss stops improving (``tol``) and flags a run whose loss blew up (NaN, infinite or a
million times its start: ``diverged``) instead of raising, so that chapter 1 can show a learning rate that is too
large. The same update rule, with per-parameter step sizes and weight decay, is AdamW in chapter 14.

What it does not do: line searches, second-order steps (chapter 2's Newton method is its own code), or
the deep-learning schedules (chapter 14's warm-up + cosine). Taught in chapter 1; chapters 2-4 and 7 train with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

DIVERGED_FACTOR = 1e6  # a loss this many times its starting value counts as diverged (it grows geometrically)
# loss_and_grad(w, rows) -> (loss, gradient); rows=None means all samples. The loss is a mean over the rows.
LossAndGrad = Callable[[np.ndarray, "np.ndarray | None"], tuple[float, np.ndarray]]
StepSize = Union[float, Callable[[int], float]]  # a constant, or a schedule: update number t = 1, 2, ... -> step


@dataclass
class GDResult:
    """What a run of :func:`minimize` produced."""

    w: np.ndarray  # (d,) the final parameters
    losses: list[float] = field(default_factory=list)  # full-data loss at the start and after each epoch
    path: list[np.ndarray] = field(default_factory=list)  # parameters after each update (if record_path)
    epochs: int = 0  # epochs actually run
    updates: int = 0  # parameter updates actually made
    diverged: bool = False  # the loss became NaN, infinite or 1e6 x its start (the learning rate is too large)
    converged: bool = False  # stopped because an epoch improved the loss by less than tol


def minimize(loss_and_grad: LossAndGrad, w0: np.ndarray, n_samples: int, *, lr: StepSize, epochs: int,
             batch_size: int | None = None, momentum: float = 0.0, tol: float | None = None, seed: int = 0,
             record_path: bool = False) -> GDResult:  # fmt: skip
    """Minimise a mean loss over ``n_samples`` rows by (mini-)batch gradient descent.

    Args:
        loss_and_grad: ``(w, rows) -> (loss, grad)``; ``rows`` indexes the samples of a mini-batch, ``None`` = all.
        w0: (d,) starting parameters (copied, never modified).
        n_samples: number of rows the loss averages over.
        lr: step size; must be positive. Or a schedule ``lr(t)`` giving the step of update t = 1, 2, ...
        epochs: passes over the data; one update per epoch when ``batch_size`` is ``None`` (full batch).
        batch_size: rows per update: ``None`` full batch, ``1`` stochastic, else mini-batch (rows shuffled
            every epoch with ``seed``).
        momentum: heavy-ball coefficient in [0, 1); 0 is plain gradient descent.
        tol: stop when an epoch lowers the full-data loss by less than ``tol`` (``None``: run every epoch).
        seed: seeds the shuffling, so a run is repeatable.
        record_path: keep every parameter vector (for contour plots; memory grows with the updates).
    """
    if not callable(lr) and not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
    if batch_size is not None and not 1 <= batch_size <= n_samples:
        raise ValueError(f"batch_size must be None or between 1 and n_samples={n_samples}, got {batch_size!r}.")
    rng = np.random.default_rng(seed)
    w = np.array(w0, dtype=np.float64, copy=True)
    velocity = np.zeros_like(w)
    result = GDResult(w=w, path=[w.copy()] if record_path else [])
    loss, _ = loss_and_grad(w, None)
    start = loss
    result.losses.append(float(loss))
    for _ in range(epochs):
        batches = [None] if batch_size is None else np.array_split(rng.permutation(n_samples),
                                                                   max(1, n_samples // batch_size))
        with np.errstate(over="ignore", invalid="ignore"):
            for rows in batches:
                _, grad = loss_and_grad(w, rows)
                velocity = momentum * velocity + grad
                w = w - (lr(result.updates + 1) if callable(lr) else lr) * velocity
                result.updates += 1
                if record_path:
                    result.path.append(w.copy())
            new_loss, _ = loss_and_grad(w, None)
        result.epochs += 1
        result.losses.append(float(new_loss))
        if not np.isfinite(new_loss) or not np.isfinite(w).all() or new_loss > DIVERGED_FACTOR * max(start, 1e-12):
            result.diverged = True
            break
        if tol is not None and loss - new_loss < tol:
            result.converged = True
            break
        loss = new_loss
    result.w = w
    return result


def numerical_gradient(f: Callable[[np.ndarray], float], w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar ``f`` at ``w`` (d,): the check every hand-derived gradient must pass."""
    w = np.asarray(w, dtype=np.float64)
    grad = np.zeros_like(w)
    for i in range(w.size):
        step = np.zeros_like(w)
        step.flat[i] = eps
        grad.flat[i] = (f(w + step) - f(w - step)) / (2 * eps)
    return grad
