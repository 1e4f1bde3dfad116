"""Checks for the exercises of chapter 4 (regularisation): each compares the learner's function with the library.

The learner writes the ridge closed form, the soft-thresholding (proximal) operator, one coordinate-descent
sweep of the lasso and one ISTA step. Where a wrong answer has a typical cause (the intercept penalised, alpha
scaled by n, hard instead of soft thresholding, a Jacobi instead of a Gauss-Seidel sweep, the threshold not
multiplied by the step), the failure line names that cause. Every check prints one verdict line (see
:mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`; the inputs are small, fixed
and built here. NumPy arrays are compared through :func:`~mlcourse.checks.core.expect_close`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.regularized import Ridge, coordinate_descent_sweep, ista_step, soft_threshold


def _close(name: str, got: object, expected: np.ndarray, *, atol: float = 1e-6, context: str = "") -> None:
    """expect_close for NumPy results: the learner's value may be an array, a list or a float."""
    try:
        got_t = torch.as_tensor(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"expected {name} as an array of shape {np.shape(expected)}, got {type(got).__name__}"
                          f" ({err})") from None  # fmt: skip
    expect_close(name, got_t, torch.as_tensor(np.asarray(expected, dtype=np.float64)), atol=atol, rtol=1e-6,
                 context=context)  # fmt: skip


def _same(got: object, expected: np.ndarray, atol: float = 1e-6) -> bool:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(expected) and bool(np.allclose(got, expected, atol=atol, rtol=1e-6))


def _regression_data(n: int = 30, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) with columns of different scales and non-zero means, y (n,) with a large mean (intercept 5)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) + np.arange(1, d + 1)
    y = X @ rng.standard_normal(d) + 5.0 + 0.3 * rng.standard_normal(n)
    return X, y


# ---------------------------------------------------------------- exercise 1: the ridge closed form


def _ridge_mistake(coef: np.ndarray, X: np.ndarray, y: np.ndarray, alpha: float) -> str | None:
    """The name of the typical mistake that gives ``coef``, if any."""
    n, d = X.shape
    Xc, yc = X - X.mean(0), y - y.mean()
    X1 = np.hstack([np.ones((n, 1)), X])
    penalised = np.linalg.solve(X1.T @ X1 + alpha * np.eye(d + 1), X1.T @ y)
    if _same(coef, penalised[1:]) or _same(coef, penalised):
        return ("you penalised the intercept (a column of ones inside the penalty): the intercept must stay free. "
                "Centre X and y, solve for w, then b = mean(y) - mean(X) @ w")
    if _same(coef, np.linalg.solve(X.T @ X + alpha * np.eye(d), X.T @ y)):
        return ("you solved without centring, so the model has no intercept: centre X and y first "
                "(Xc = X - X.mean(0), yc = y - y.mean())")
    for factor, name in ((n, "alpha * n"), (1 / n, "alpha / n")):
        if _same(coef, np.linalg.solve(Xc.T @ Xc + alpha * factor * np.eye(d), Xc.T @ yc)):
            return (f"your penalty is {name}: scikit-learn's Ridge minimises ||y - Xw - b||^2 + alpha ||w||^2 with no "
                    "1/n, so the system is (Xc^T Xc + alpha I) w = Xc^T yc")
    if _same(coef, np.linalg.solve(Xc.T @ Xc + 2 * alpha * np.eye(d), Xc.T @ yc)):
        return "your penalty is 2 alpha: the gradient 2 X^T(Xw - y) + 2 alpha w = 0 gives (X^T X + alpha I) w = X^T y"
    return None


def check_ridge_closed_form(fn: Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, float]]) -> Verdict:
    """``fn(X, y, alpha) -> (coef (d,), intercept)`` must minimise ``||y - Xw - b||^2 + alpha ||w||^2``."""

    def body() -> str:
        X, y = _regression_data()
        for alpha in (0.5, 10.0, 300.0):
            result = fn(X, y, alpha)
            expect(isinstance(result, tuple) and len(result) == 2,
                   f"expected a tuple (coef, intercept), got {type(result).__name__}")  # fmt: skip
            coef, intercept = result
            ref = Ridge(alpha).fit(X, y)
            if not _same(coef, ref.coef_):
                mistake = _ridge_mistake(coef, X, y, alpha)
                if mistake:
                    raise CheckFailed(f"{mistake} (alpha = {alpha})")
            _close("coef", coef, ref.coef_, context=f"alpha = {alpha}")
            expect(abs(float(intercept) - ref.intercept_) < 1e-6,
                   f"coef is right but the intercept is {float(intercept):.6g}, expected {ref.intercept_:.6g} "
                   f"(alpha = {alpha}): b = mean(y) - mean(X) @ w, with the means of the uncentred data")  # fmt: skip
        return "equal to the library (and so to scikit-learn's Ridge) for alpha = 0.5, 10, 300"

    return run_check("ridge closed form", body)


# ---------------------------------------------------------------- exercise 2: soft-thresholding


def check_soft_threshold(fn: Callable[[np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(z, t)`` must be ``sign(z) max(|z| - t, 0)`` elementwise, for arrays z and t >= 0."""

    def body() -> str:
        z = np.array([-3.0, -1.0, -0.4, 0.0, 0.2, 1.0, 1.5, 4.0])
        for t in (1.0, 0.3, 0.0):
            got = fn(z.copy(), t)
            expected = soft_threshold(z, t)
            if t > 0 and not _same(got, expected):
                if _same(got, np.where(np.abs(z) > t, z, 0.0)):
                    raise CheckFailed("you set the small values to 0 but left the others unchanged (hard "
                                      "thresholding): the proximal step also moves every surviving value t towards 0")
                if _same(got, np.maximum(z - t, 0.0)):
                    raise CheckFailed("negative inputs all became 0: the operator is symmetric, "
                                      "S(z, t) = sign(z) * max(|z| - t, 0)")
                if _same(got, np.maximum(np.abs(z) - t, 0.0)):
                    raise CheckFailed("the sign was lost: multiply max(|z| - t, 0) by sign(z)")
                if _same(got, z - t * np.sign(z)):
                    raise CheckFailed("values with |z| < t crossed zero instead of stopping at 0: clip |z| - t at 0")
            _close("S(z, t)", got, expected, context=f"t = {t}")
        return "sign(z) max(|z| - t, 0) for t = 1, 0.3 and 0"

    return run_check("soft-thresholding", body)


# ---------------------------------------------------------------- exercise 3: a coordinate-descent sweep


def _jacobi_sweep(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """Every coordinate updated from the residual at the *start* of the sweep (the typical mistake)."""
    n, col_sq = len(y), (X * X).sum(0)
    rho = X.T @ (y - X @ w) + col_sq * w
    return soft_threshold(rho, n * alpha) / col_sq


def _unnormalised_sweep(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """The sweep without the division by ||x_j||^2 (another typical mistake)."""
    w, n = w.astype(np.float64).copy(), len(y)
    residual = y - X @ w
    for j in range(X.shape[1]):
        rho = X[:, j] @ residual + (X[:, j] @ X[:, j]) * w[j]
        new = soft_threshold(rho, n * alpha)
        residual -= X[:, j] * (new - w[j])
        w[j] = new
    return w


def check_coordinate_descent_sweep(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]) -> Verdict:
    """``fn(X, y, w, alpha) -> w_new``: one cyclic sweep j = 0..d-1 for ``1/(2n)||y - Xw||^2 + alpha ||w||_1``."""

    def body() -> str:
        X, y = _regression_data(n=25, d=5, seed=1)
        Xc, yc = X - X.mean(0), y - y.mean()
        n = len(y)
        cases = (("w = 0", np.zeros(5), 0.3), ("w != 0", np.array([0.5, -1.0, 0.0, 2.0, 0.1]), 0.3),
                 ("large alpha", np.array([0.5, -1.0, 0.0, 2.0, 0.1]), 5.0))  # fmt: skip
        for description, w0, alpha in cases:
            got = fn(Xc, yc, w0.copy(), alpha)
            expected = coordinate_descent_sweep(Xc, yc, w0, alpha)
            if not _same(got, expected):
                if _same(got, _jacobi_sweep(Xc, yc, w0, alpha)):
                    raise CheckFailed("every coordinate used the residual from the start of the sweep: update the "
                                      f"residual (or w) after each coordinate, so that j sees the new w_0..w_(j-1) ({description})")
                if _same(got, coordinate_descent_sweep(Xc, yc, w0, alpha / n)):
                    raise CheckFailed(f"your threshold is alpha, not n * alpha: with the 1/(2n) in the loss, w_j = "
                                      f"S(x_j^T r_j, n alpha) / ||x_j||^2 ({description})")
                if _same(got, _unnormalised_sweep(Xc, yc, w0, alpha)):
                    raise CheckFailed(f"you did not divide by ||x_j||^2: the columns here do not have unit norm "
                                      f"({description})")
            _close("w after one sweep", got, expected, context=description)
        return "one Gauss-Seidel sweep, equal to the library's on 3 cases"

    return run_check("coordinate-descent sweep", body)


# ---------------------------------------------------------------- exercise 4: an ISTA step


def check_ista_step(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]) -> Verdict:
    """``fn(X, y, w, alpha, step) -> w_new = S(w - step * X^T(Xw - y)/n, step * alpha)``."""

    def body() -> str:
        X, y = _regression_data(n=40, d=6, seed=2)
        Xc, yc = X - X.mean(0), y - y.mean()
        n = len(y)
        step = 0.9 * n / np.linalg.norm(Xc, 2) ** 2
        for description, w0, alpha in (("w = 0", np.zeros(6), 0.5),
                                       ("w != 0", np.linspace(-1, 1, 6), 0.2)):  # fmt: skip
            got = fn(Xc, yc, w0.copy(), alpha, step)
            expected = ista_step(Xc, yc, w0, alpha, step)
            if not _same(got, expected):
                grad = Xc.T @ (Xc @ w0 - yc) / n
                if _same(got, soft_threshold(w0 - step * grad, alpha)):
                    raise CheckFailed(f"your threshold is alpha: the prox of step * alpha ||.||_1 thresholds at "
                                      f"step * alpha ({description})")
                if _same(got, soft_threshold(w0 - step * n * grad, step * alpha)):
                    raise CheckFailed(f"your gradient is n times too large: the loss 1/(2n)||y - Xw||^2 has gradient "
                                      f"X^T (Xw - y) / n ({description})")
                if _same(got, soft_threshold(w0 + step * grad, step * alpha)):
                    raise CheckFailed(f"you stepped up the gradient: w - step * grad, not w + ({description})")
                if _same(got, w0 - step * grad):
                    raise CheckFailed(f"that is a plain gradient step: apply the soft-threshold S(., step * alpha) "
                                      f"to it ({description})")
            _close("w after one ISTA step", got, expected, context=description)
        return "S(w - step grad, step alpha), equal to the library's on 2 cases"

    return run_check("ISTA step", body)
