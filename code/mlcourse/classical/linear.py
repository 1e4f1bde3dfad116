"""Linear regression from scratch: the mean squared error, its gradient, four direct solvers and gradient descent.

What it does: fits ``y_hat = X w + b`` by least squares, with a scikit-learn-like interface
(``LinearRegression(...).fit(X, y)``, then ``coef_``, ``intercept_``, ``predict``, ``score``) and these solvers:

* ``"lstsq"`` (default): ``np.linalg.lstsq`` on X itself (SVD). Loses about log10 kappa(X) digits.
* ``"qr"``: X = QR, then R w = Q^T y by back substitution. Also about log10 kappa(X) digits.
* ``"normal"``: the normal equations ``X^T X w = X^T y`` with ``np.linalg.solve``. Forming X^T X squares the
  condition number, so it loses about 2 log10 kappa(X) digits.
* ``"gd"``: (mini-)batch gradient descent with momentum through
  :func:`mlcourse.classical.gradient_descent.minimize`, on standardised features by default.

:func:`solve_by_inverse` (``inv(X^T X) X^T y``, the formula of the textbooks) is kept only to show why no solver
uses it. With an intercept, the direct solvers centre X and y first (the intercept's normal equation gives
``b = mean(y) - mean(X) w``), which is what scikit-learn does and is better conditioned than a column of ones.

What it does not do: regularisation (chapter 4), sample weights, several targets at once, or sparse matrices.
Taught in chapter 1; its gradient pattern, X^T (prediction - y) / n, returns in chapters 2-4.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlcourse.classical.conditioning import critical_learning_rate, hessian_condition_number, with_intercept
from mlcourse.classical.gradient_descent import GDResult, LossAndGrad, minimize
from mlcourse.classical.validation import check_predict_input, check_X, check_X_y

SOLVERS = ("lstsq", "qr", "normal", "gd")
EPS = np.finfo(np.float64).eps  # 2.2e-16: the relative rounding error of float64
ILL_CONDITIONED_FOR_GD = 1e4  # a Hessian condition number above this makes unscaled gradient descent crawl


def mse(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error ``||X w - y||^2 / n`` of parameters w (d,) on X (n, d), y (n,)."""
    residual = X @ w - y  # (n,)
    return float(residual @ residual / len(y))


def mse_gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of :func:`mse` with respect to w: ``(2/n) X^T (X w - y)``, shape (d,)."""
    return 2.0 / len(y) * (X.T @ (X @ w - y))


def mse_loss_and_grad(X: np.ndarray, y: np.ndarray) -> LossAndGrad:
    """``(w, rows) -> (loss, grad)`` on the rows of a mini-batch (``None``: all of them), for ``minimize``."""

    def loss_and_grad(w: np.ndarray, rows: np.ndarray | None) -> tuple[float, np.ndarray]:
        Xb, yb = (X, y) if rows is None else (X[rows], y[rows])  # (b, d), (b,)
        residual = Xb @ w - yb  # (b,)
        return float(residual @ residual / len(yb)), 2.0 / len(yb) * (Xb.T @ residual)

    return loss_and_grad


def solve_normal_equations(X: np.ndarray, y: np.ndarray, *, check_rank: bool = False) -> np.ndarray:
    """w (d,) solving ``X^T X w = X^T y`` by an LU solve (never an inverse); accurate to ~kappa(X)^2 * eps.

    ``check_rank``: refuse an X whose condition number the normal equations cannot resolve (about 1e7 and up).
    """
    gram = X.T @ X  # (d, d); its condition number is kappa(X)^2
    if check_rank:
        _check_rank(np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)), X.shape, "normal", np.sqrt(X.shape[1] * EPS))
    return np.linalg.solve(gram, X.T @ y)


def solve_by_inverse(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``inv(X^T X) X^T y``: the textbook formula, slower and less accurate than any solver here (demo only)."""
    return np.linalg.inv(X.T @ X) @ (X.T @ y)


def solve_lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """w (d,) minimising ``||X w - y||`` via the SVD of X (minimum-norm w when X is rank-deficient)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def back_substitution(R: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R x = b`` for an upper-triangular R (d, d), from the last row up: O(d^2)."""
    d = len(b)
    x = np.zeros(d)
    for i in range(d - 1, -1, -1):
        x[i] = (b[i] - R[i, i + 1:] @ x[i + 1:]) / R[i, i]  # every x[j], j > i, is already known
    return x


def solve_qr(X: np.ndarray, y: np.ndarray, *, check_rank: bool = False) -> np.ndarray:
    """w (d,) from X = Q R (Q: (n, d) orthonormal columns, R: (d, d) upper triangular): ``R w = Q^T y``.

    ``check_rank``: refuse a rank-deficient X (a zero on R's diagonal) instead of dividing by it.
    """
    if check_rank and X.shape[0] < X.shape[1]:
        _check_rank(np.zeros(1), X.shape, "qr", 0.0)
    Q, R = np.linalg.qr(X)  # reduced QR
    if check_rank:
        _check_rank(np.abs(np.diag(R)), X.shape, "qr", max(X.shape) * EPS)
    return back_substitution(R, Q.T @ y)


def _check_rank(singular_values: np.ndarray, shape: tuple[int, ...], solver: str, limit: float) -> None:
    """Raise when the (estimated) singular values say X has no unique least-squares solution for ``solver``."""
    if shape[0] < shape[1] or singular_values.min() <= limit * singular_values.max():
        raise ValueError(f"X is rank-deficient or nearly so (a feature is a combination of others, or fewer samples "
                         f"than features: shape {shape}), so solver={solver!r} has no reliable answer; use "
                         "solver='lstsq' (minimum-norm solution) or drop the redundant features.")


def fit_standardizer(X: np.ndarray, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, scale), each (d,), so that ``(X - mean) / scale`` has mean 0 and standard deviation 1.

    With ``center=False`` the mean is 0 and the scale is the root mean square (for a model without intercept,
    whose features must not be shifted). A constant feature raises ``ValueError``: it cannot be scaled.
    """
    X = check_X(X)
    mean = X.mean(axis=0) if center else np.zeros(X.shape[1])
    scale = np.sqrt(((X - mean) ** 2).mean(axis=0))  # (d,)
    constant = np.nonzero(scale <= 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0)))[0]
    if constant.size:
        raise ValueError(f"feature(s) {constant.tolist()} are constant, so they cannot be standardised (scale 0); "
                         "drop them: with an intercept they carry no information.")
    return mean, scale


class LinearRegression:
    """Least-squares linear regression, ``y_hat = X @ coef_ + intercept_``.

    Args:
        solver: ``"lstsq"``, ``"qr"``, ``"normal"`` or ``"gd"`` (see the module header).
        fit_intercept: learn ``intercept_``; otherwise it is 0.
        standardize: (``"gd"`` only) run gradient descent on standardised features, then map the coefficients
            back to the original units. ``False`` runs on the raw features: slow or worse when their scales differ.
        lr: (``"gd"``) step size; ``None`` takes 1 / lambda_max of the Hessian, half the critical rate.
        epochs, batch_size, momentum, tol, seed: (``"gd"``) passed to ``minimize``.

    After ``fit``: ``coef_`` (d,), ``intercept_`` (float), and for ``"gd"`` also ``gd_result_`` (the run) and
    ``n_iter_`` (epochs run).
    """

    def __init__(self, solver: str = "lstsq", *, fit_intercept: bool = True, standardize: bool = True,
                 lr: float | None = None, epochs: int = 2000, batch_size: int | None = None, momentum: float = 0.0,
                 tol: float | None = None, seed: int = 0) -> None:  # fmt: skip
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
        self.solver, self.fit_intercept, self.standardize = solver, fit_intercept, standardize
        self.lr, self.epochs, self.batch_size = lr, epochs, batch_size
        self.momentum, self.tol, self.seed = momentum, tol, seed
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.gd_result_: GDResult | None = None
        self.n_iter_: int | None = None

    def fit(self, X: Any, y: Any) -> "LinearRegression":
        """Fit on X (n, d) and y (n,); returns self."""
        X, y = check_X_y(X, y)
        if self.solver == "gd":
            self._fit_gd(X, y)
            return self
        x_mean, y_mean = (X.mean(axis=0), y.mean()) if self.fit_intercept else (np.zeros(X.shape[1]), 0.0)
        Xc, yc = X - x_mean, y - y_mean  # (n, d), (n,): centring removes the intercept from the system
        if self.solver == "lstsq":
            self.coef_ = solve_lstsq(Xc, yc)
        else:
            solve = solve_qr if self.solver == "qr" else solve_normal_equations
            self.coef_ = solve(Xc, yc, check_rank=True)
        self.intercept_ = float(y_mean - x_mean @ self.coef_)
        return self

    def _fit_gd(self, X: np.ndarray, y: np.ndarray) -> None:
        if self.standardize:
            mean, scale = fit_standardizer(X, center=self.fit_intercept)
        else:
            mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        Xs = (X - mean) / scale  # (n, d)
        kappa = hessian_condition_number(Xs, fit_intercept=self.fit_intercept)
        if not self.standardize and kappa > ILL_CONDITIONED_FOR_GD:
            warnings.warn(f"the loss surface of these unscaled features has condition number {kappa:.3g}: gradient "
                          f"descent needs of the order of {kappa:.1g} epochs. Standardise them (standardize=True).",
                          RuntimeWarning, stacklevel=3)  # fmt: skip
        A = with_intercept(Xs) if self.fit_intercept else Xs  # (n, p)
        critical = critical_learning_rate(Xs, fit_intercept=self.fit_intercept)
        lr = critical / 2 if self.lr is None else self.lr
        result = minimize(mse_loss_and_grad(A, y), np.zeros(A.shape[1]), len(y), lr=lr, epochs=self.epochs,
                          batch_size=self.batch_size, momentum=self.momentum, tol=self.tol, seed=self.seed)
        if result.diverged:
            limit = 2 * (1 + self.momentum) / (2 / critical)  # heavy ball: stable below 2 (1 + momentum) / lambda_max
            scaled = "" if self.standardize else " Unscaled features make lambda_max large: try standardize=True."
            raise ValueError(f"gradient descent diverged (loss {result.losses[-1]:.3g} after {result.epochs} "
                             f"epoch(s)) with lr={lr:.4g}: full-batch descent with momentum={self.momentum:g} needs "
                             f"lr below the critical rate 2(1 + momentum)/lambda_max = {limit:.4g} for these "
                             f"features (mini-batches need less).{scaled}")  # fmt: skip
        w = result.w[1:] if self.fit_intercept else result.w
        self.coef_ = w / scale  # back to the original units: w_s . (x - mean) / scale = (w_s / scale) . x - ...
        self.intercept_ = float(result.w[0] - self.coef_ @ mean) if self.fit_intercept else 0.0
        self.gd_result_, self.n_iter_ = result, result.epochs

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (n,) for X (n, d)."""
        X = check_predict_input(self, X)
        return X @ self.coef_ + self.intercept_

    def score(self, X: Any, y: Any) -> float:
        """Coefficient of determination R^2 = 1 - SS_res / SS_tot on (X, y), as scikit-learn's ``score``."""
        X, y = check_X_y(X, y)
        residual = y - self.predict(X)
        return float(1.0 - residual @ residual / ((y - y.mean()) @ (y - y.mean())))

