"""Penalised linear regression: ridge (L2), lasso (L1) and the elastic net, with their regularisation paths.

What it does, with scikit-learn's objective scalings so that the same ``alpha`` means the same model there:

* :class:`Ridge` minimises ``||y - Xw - b||^2 + alpha ||w||^2`` (no 1/n), solved by the normal equations
  ``(X^T X + alpha I) w = X^T y`` or by gradient descent (:func:`~mlcourse.classical.gradient_descent.minimize`).
* :class:`ElasticNet` minimises ``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1
  + alpha (1 - l1_ratio)/2 ||w||^2`` by cyclic coordinate descent or by proximal gradient (ISTA), both built on
  :func:`soft_threshold`, the proximal step of the L1 norm; :class:`Lasso` is the case ``l1_ratio = 1``.
* :func:`ridge_path` (one SVD for every alpha) and :func:`lasso_path` (warm-started coordinate descent).

The intercept ``b`` is never penalised: it is removed by centring X and y, then ``b = mean(y) - mean(X) w``.

What it does not do: scale the features (a penalty depends on their units: standardise first), choose alpha
(the chapter does that on validation data), sparse matrices, or the duality-gap stopping rule scikit-learn
uses (we stop when a sweep moves no coefficient by more than ``tol`` relative to the largest). Taught in
chapter 4.
"""

from __future__ import annotations

import warnings

import numpy as np

from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.validation import check_predict_input, check_X_y


def soft_threshold(z: np.ndarray | float, threshold: float) -> np.ndarray:
    """The proximal operator of ``threshold * |.|``: ``sign(z) * max(|z| - threshold, 0)``, elementwise.

    Values within ``threshold`` of zero become exactly 0; the others move ``threshold`` towards zero.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def elastic_net_objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, l1_ratio: float = 1.0,
                          intercept: float = 0.0) -> float:  # fmt: skip
    """scikit-learn's elastic-net objective for X (n, d), y (n,), w (d,); ``l1_ratio=1`` is the lasso's."""
    residual = y - X @ w - intercept  # (n,)
    return float(residual @ residual / (2 * len(y)) + alpha * l1_ratio * np.abs(w).sum()
                 + 0.5 * alpha * (1 - l1_ratio) * w @ w)  # fmt: skip


def coordinate_descent_sweep(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float,
                             l1_ratio: float = 1.0) -> np.ndarray:  # fmt: skip
    """One cyclic sweep j = 0 .. d-1 of exact coordinate minimisation of :func:`elastic_net_objective`.

    Each coordinate is set to its best value with the others fixed (and already updated):
    ``w_j = S(x_j^T r_j, n alpha l1_ratio) / (||x_j||^2 + n alpha (1 - l1_ratio))``, where ``r_j = y - X w + x_j w_j``
    is the residual without feature j. X (n, d) and y (n,) are centred when there is an intercept. Returns a new w.
    """
    n = len(y)
    w = np.array(w, dtype=np.float64, copy=True)
    residual = y - X @ w  # (n,), kept equal to y - X w as coordinates change
    col_sq_norms = (X * X).sum(axis=0)  # (d,)
    for j in range(X.shape[1]):
        if col_sq_norms[j] == 0.0:  # a constant (centred to zero) column: its weight stays 0
            continue
        rho = X[:, j] @ residual + col_sq_norms[j] * w[j]  # x_j^T r_j: the fit feature j alone could make
        new = soft_threshold(rho, n * alpha * l1_ratio) / (col_sq_norms[j] + n * alpha * (1 - l1_ratio))
        residual -= X[:, j] * (new - w[j])
        w[j] = new
    return w


def ista_step(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, step: float,
              l1_ratio: float = 1.0) -> np.ndarray:  # fmt: skip
    """One proximal-gradient (ISTA) step: a gradient step on the smooth part, then the L1 prox (soft-threshold).

    ``w <- S(w - step * grad, step * alpha * l1_ratio)`` with ``grad = X^T (X w - y) / n + alpha (1 - l1_ratio) w``.
    Converges for ``step <= 1 / L``, ``L = s_max(X)^2 / n + alpha (1 - l1_ratio)``.
    """
    grad = X.T @ (X @ w - y) / len(y) + alpha * (1 - l1_ratio) * w  # (d,)
    return soft_threshold(w - step * grad, step * alpha * l1_ratio)


def ridge_loss_and_grad(X: np.ndarray, y: np.ndarray, alpha: float):
    """``(w, rows) -> (loss, grad)`` for :func:`~mlcourse.classical.gradient_descent.minimize`: the ridge objective / n.

    ``loss = ||X_r w - y_r||^2 / |r| + alpha / n ||w||^2`` on the rows r (all when ``rows`` is None), and its
    gradient ``2 X_r^T (X_r w - y_r) / |r| + 2 alpha / n w``. ``alpha = 0`` is the plain mean squared error.
    """
    n = len(y)

    def loss_and_grad(w: np.ndarray, rows: np.ndarray | None) -> tuple[float, np.ndarray]:
        Xr, yr = (X, y) if rows is None else (X[rows], y[rows])
        residual = Xr @ w - yr  # (rows,)
        return (float(residual @ residual / len(yr) + alpha / n * w @ w),
                2 * Xr.T @ residual / len(yr) + 2 * alpha / n * w)  # fmt: skip

    return loss_and_grad


def lasso_alpha_max(X: np.ndarray, y: np.ndarray, *, fit_intercept: bool = True) -> float:
    """The smallest alpha at which the lasso sets every coefficient to 0: ``max_j |x_j^T (y - mean y)| / n``."""
    X, y = check_X_y(X, y)
    Xc, yc, _, _ = _centre(X, y, fit_intercept)
    return float(np.abs(Xc.T @ yc).max() / len(y))


def _centre(X: np.ndarray, y: np.ndarray, fit_intercept: bool):
    """(Xc, yc, x_mean, y_mean): centring removes the unpenalised intercept from the problem."""
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), 0.0
    x_mean, y_mean = X.mean(axis=0), float(y.mean())
    return X - x_mean, y - y_mean, x_mean, y_mean


def _conditioning_hint(Xc: np.ndarray) -> str:
    """What to do about slow convergence: standardise when the scales differ, else the features are collinear."""
    stds = Xc.std(axis=0)
    if stds.max() > 10 * max(stds.min(), 1e-300):
        return f"standardise X (feature standard deviations range from {stds.min():.3g} to {stds.max():.3g})"
    return "the features are nearly collinear (their scales are similar): consider better-conditioned features"


def _check_alpha(alpha: float) -> None:
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}; 0 means no penalty.")


class _PenalisedLinear:
    """``predict`` and the fitted attributes shared by the models below."""

    coef_: np.ndarray | None = None  # (d,)
    intercept_: float = 0.0

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions (n,) for X (n, d): ``X @ coef_ + intercept_``."""
        X = check_predict_input(self, X)
        return X @ self.coef_ + self.intercept_


class Ridge(_PenalisedLinear):
    """L2-penalised least squares, ``||y - Xw - b||^2 + alpha ||w||^2`` (scikit-learn's ``Ridge`` scaling).

    Args:
        alpha: penalty strength (>= 0); 0 is ordinary least squares (solved by ``lstsq``, minimum norm).
        fit_intercept: learn an unpenalised ``intercept_`` (by centring).
        solver: ``"closed_form"`` (the normal equations) or ``"gd"`` (full-batch gradient descent from w = 0 on
            the same objective divided by n: ``mean squared error + alpha/n ||w||^2``, same minimiser).
        lr: gradient-descent step; ``None`` uses 1/L, L the largest curvature ``2 (s_max^2 + alpha) / n``.
        epochs, momentum: passed to :func:`~mlcourse.classical.gradient_descent.minimize`.
        tol: stop when an epoch lowers the loss by less than ``tol`` times the starting loss; 0 (default): when it
            no longer falls at all in float64; ``None``: run every epoch (with momentum the loss is not monotone).

    After ``fit``: ``coef_`` (d,), ``intercept_``, and for ``"gd"`` ``losses_`` and ``n_iter_`` (epochs run).
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True, solver: str = "closed_form",
                 lr: float | None = None, epochs: int = 20_000, tol: float | None = 0.0, momentum: float = 0.0) -> None:  # fmt: skip
        self.alpha, self.fit_intercept, self.solver = alpha, fit_intercept, solver
        self.lr, self.epochs, self.tol, self.momentum = lr, epochs, tol, momentum

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Ridge":
        """Fit on X (n, d) and y (n,); returns self."""
        _check_alpha(self.alpha)
        X, y = check_X_y(X, y)
        Xc, yc, x_mean, y_mean = _centre(X, y, self.fit_intercept)
        if self.solver == "closed_form":
            if self.alpha == 0:
                self.coef_ = np.linalg.lstsq(Xc, yc, rcond=None)[0]
            else:  # (X^T X + alpha I) w = X^T y: symmetric positive definite for alpha > 0
                self.coef_ = np.linalg.solve(Xc.T @ Xc + self.alpha * np.eye(X.shape[1]), Xc.T @ yc)
        elif self.solver == "gd":
            self.coef_ = self._fit_gd(Xc, yc)
        else:
            raise ValueError(f"solver must be 'closed_form' or 'gd', got {self.solver!r}.")
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        return self

    def _fit_gd(self, Xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
        n, alpha = len(yc), self.alpha
        s = np.linalg.svd(Xc, compute_uv=False)  # singular values: the curvatures of the loss are 2 (s^2 + alpha) / n
        s_min = s[-1] if len(s) == Xc.shape[1] else 0.0  # fewer samples than features: a flat direction
        curvature_max, curvature_min = 2 * (s[0] ** 2 + alpha) / n, 2 * (s_min**2 + alpha) / n
        loss_and_grad = ridge_loss_and_grad(Xc, yc, alpha)
        lr = 1.0 / curvature_max if self.lr is None else self.lr
        start = loss_and_grad(np.zeros(Xc.shape[1]), None)[0]
        result = minimize(loss_and_grad, np.zeros(Xc.shape[1]), n, lr=lr, epochs=self.epochs, momentum=self.momentum,
                          tol=None if self.tol is None else self.tol * start)  # fmt: skip
        self.losses_, self.n_iter_ = result.losses, result.epochs
        if result.diverged or result.losses[-1] > result.losses[0]:  # blew up, or stopped on a rising loss
            raise ValueError(f"gradient descent diverged with lr={lr:g}: the largest stable step is "
                             f"2/L = {2 / curvature_max:.3g} (L = 2 (s_max^2 + alpha) / n); lower lr or use lr=None.")
        if self.tol is not None and not result.converged:
            warnings.warn(f"gradient descent stopped after {result.epochs} epochs before converging: the loss's "
                          f"condition number is {curvature_max / max(curvature_min, 1e-300):.3g}; "
                          f"{_conditioning_hint(Xc)}, raise epochs, or use solver='closed_form'.",
                          RuntimeWarning, stacklevel=3)  # fmt: skip
        return result.w


class ElasticNet(_PenalisedLinear):
    """``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2`` (scikit-learn scaling).

    Args:
        alpha: penalty strength (>= 0). l1_ratio: the L1 share in [0, 1] (1 = lasso, 0 = ridge with alpha_ridge =
            n alpha).
        fit_intercept: learn an unpenalised ``intercept_`` (by centring).
        solver: ``"cd"`` (cyclic coordinate descent, :func:`coordinate_descent_sweep`) or ``"ista"`` (proximal
            gradient with step 1/L, :func:`ista_step`).
        max_iter: sweeps (cd) or steps (ista); ``None``: 10,000 for cd, 100,000 for ista.
        tol: stop when an iteration moves no coefficient by more than ``tol * max|w|``.

    After ``fit``: ``coef_`` (d,), ``intercept_``, ``n_iter_``, ``converged_``.
    """

    def __init__(self, alpha: float = 1.0, l1_ratio: float = 0.5, *, fit_intercept: bool = True,
                 solver: str = "cd", max_iter: int | None = None, tol: float = 1e-10) -> None:  # fmt: skip
        self.alpha, self.l1_ratio, self.fit_intercept = alpha, l1_ratio, fit_intercept
        self.solver, self.max_iter, self.tol = solver, max_iter, tol

    def fit(self, X: np.ndarray, y: np.ndarray, *, coef_init: np.ndarray | None = None) -> "ElasticNet":
        """Fit on X (n, d) and y (n,), starting from ``coef_init`` (d,) or zeros; returns self."""
        _check_alpha(self.alpha)
        if not 0 <= self.l1_ratio <= 1:
            raise ValueError(f"l1_ratio must be in [0, 1] (1 = lasso, 0 = ridge), got {self.l1_ratio!r}.")
        if self.solver not in ("cd", "ista"):
            raise ValueError(f"solver must be 'cd' (coordinate descent) or 'ista', got {self.solver!r}.")
        X, y = check_X_y(X, y)
        Xc, yc, x_mean, y_mean = _centre(X, y, self.fit_intercept)
        w = np.zeros(X.shape[1]) if coef_init is None else np.array(coef_init, dtype=np.float64)
        if self.solver == "cd":
            step, max_iter = None, 10_000 if self.max_iter is None else self.max_iter
        else:
            lipschitz = np.linalg.norm(Xc, 2) ** 2 / len(y) + self.alpha * (1 - self.l1_ratio)
            step, max_iter = 1.0 / lipschitz, 100_000 if self.max_iter is None else self.max_iter
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}.")
        self.converged_ = False
        for self.n_iter_ in range(1, max_iter + 1):
            if step is None:
                new = coordinate_descent_sweep(Xc, yc, w, self.alpha, self.l1_ratio)
            else:
                new = ista_step(Xc, yc, w, self.alpha, step, self.l1_ratio)
            change, size = np.abs(new - w).max(), np.abs(new).max()
            w = new
            if change <= self.tol * size or change <= 1e-15 * max(size, 1.0):  # relative, or at round-off
                self.converged_ = True
                break
        if not self.converged_:
            warnings.warn(f"{type(self).__name__} ({self.solver}) did not converge in {max_iter} iterations "
                          f"(last change {change:.3g}, largest |w| {size:.3g}); {_conditioning_hint(Xc)}, or raise "
                          f"max_iter.", RuntimeWarning, stacklevel=2)  # fmt: skip
        self.coef_ = w
        self.intercept_ = y_mean - float(x_mean @ w)
        return self


class Lasso(ElasticNet):
    """L1-penalised least squares, ``1/(2n) ||y - Xw - b||^2 + alpha ||w||_1`` (scikit-learn's ``Lasso`` scaling).

    The elastic net with ``l1_ratio = 1``; same arguments and fitted attributes as :class:`ElasticNet`.
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True, solver: str = "cd",
                 max_iter: int | None = None, tol: float = 1e-10) -> None:  # fmt: skip
        super().__init__(alpha, 1.0, fit_intercept=fit_intercept, solver=solver, max_iter=max_iter, tol=tol)


def ridge_path(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, *, fit_intercept: bool = True) -> np.ndarray:
    """Ridge coefficients (n_alphas, d) for every alpha from one SVD ``Xc = U diag(s) V^T``.

    ``w(alpha) = V diag(s / (s^2 + alpha)) U^T yc``: each direction of the data is kept with the *filter factor*
    ``s^2 / (s^2 + alpha)``; the same solutions as :class:`Ridge`, far cheaper for many alphas.
    """
    X, y = check_X_y(X, y)
    Xc, yc, _, _ = _centre(X, y, fit_intercept)
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)  # (n, k), (k,), (k, d)
    alphas = np.asarray(alphas, dtype=np.float64)
    for alpha in alphas:
        _check_alpha(alpha)
    s = np.where(s > s[0] * max(Xc.shape) * np.finfo(float).eps, s, 0.0)  # round-off singular values are 0 (as lstsq)
    denominator = s**2 + alphas[:, None]  # (n_alphas, k)
    shrink = np.divide(s, denominator, out=np.zeros_like(denominator), where=denominator > 0)  # alpha = 0, s = 0: drop
    return (shrink * (U.T @ yc)) @ Vt  # (n_alphas, d)


def lasso_path(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, *, l1_ratio: float = 1.0,
               fit_intercept: bool = True, tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:  # fmt: skip
    """Lasso (or elastic-net) coefficients (n_alphas, d), in the order of ``alphas``, by coordinate descent.

    The alphas are solved from the largest down, each starting from the previous solution (a *warm start*: the
    solutions change little between neighbouring alphas, so each needs only a few sweeps).
    """
    X, y = check_X_y(X, y)
    alphas = np.asarray(alphas, dtype=np.float64)
    coefs, w = np.zeros((len(alphas), X.shape[1])), None
    for i in np.argsort(-alphas):
        model = ElasticNet(alphas[i], l1_ratio, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter)
        w = model.fit(X, y, coef_init=w).coef_
        coefs[i] = w
    return coefs
