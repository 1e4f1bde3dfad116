"""Conditioning of least squares: condition numbers, the Hessian's spectrum, and designs with a chosen condition.

What it does: measures how hard a least-squares problem is, for a direct solver and for gradient descent.

* :func:`condition_number` of a design ``X`` (sigma_max / sigma_min): a direct solve that works on ``X`` loses
  about ``log10(kappa)`` digits; one that forms ``X^T X`` loses twice as many, since kappa(X^T X) = kappa(X)^2.
* :func:`least_squares_hessian` ``H = (2/n) A^T A`` of the mean squared error (``A`` = ``X`` with a column of
  ones when there is an intercept) and :func:`hessian_eigenvalues`: gradient descent on this quadratic converges
  iff ``0 < lr < 2 / lambda_max`` (:func:`critical_learning_rate`), and needs about ``lambda_max / lambda_min``
  epochs, which is why feature scaling matters.
* :func:`design_with_condition_number`: a deterministic random ``X`` whose condition number is exactly what
  you ask for (singular values spaced evenly on a log scale), for measuring solver error against kappa.
* :func:`loss_surface`: the mean squared error at many parameter vectors at once (for contour plots).

What it does not do: fit anything (that is :mod:`mlcourse.classical.linear`), or estimate eigenvalues without
forming ``A^T A`` (power iteration would; it costs O(n d^2) here, like a closed-form solve). Taught in chapter 1.
"""

from __future__ import annotations

import numpy as np

from mlcourse.classical.validation import check_X, check_X_y


def condition_number(X: np.ndarray) -> float:
    """kappa(X) = sigma_max / sigma_min of an (n, d) matrix (inf when a singular value is exactly 0)."""
    singular_values = np.linalg.svd(check_X(X), compute_uv=False)  # (min(n, d),), descending
    return float(singular_values[0] / singular_values[-1]) if singular_values[-1] > 0 else float("inf")


def with_intercept(X: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d + 1): a column of ones in front, so that ``w[0]`` is the intercept."""
    X = check_X(X)
    return np.hstack([np.ones((X.shape[0], 1)), X])


def least_squares_hessian(X: np.ndarray, *, fit_intercept: bool = True) -> np.ndarray:
    """The Hessian ``(2/n) A^T A`` of the mean squared error, (p, p) with p = d + fit_intercept.

    It does not depend on ``y`` or on the parameters: the loss is an exact quadratic bowl with this curvature.
    """
    A = with_intercept(X) if fit_intercept else check_X(X)
    return 2.0 / A.shape[0] * (A.T @ A)


def hessian_eigenvalues(X: np.ndarray, *, fit_intercept: bool = True) -> np.ndarray:
    """Eigenvalues of :func:`least_squares_hessian`, ascending, (p,); all >= 0 (tiny negatives clipped)."""
    return np.clip(np.linalg.eigvalsh(least_squares_hessian(X, fit_intercept=fit_intercept)), 0.0, None)


def critical_learning_rate(X: np.ndarray, *, fit_intercept: bool = True) -> float:
    """2 / lambda_max: full-batch gradient descent on the MSE converges below it and diverges above it."""
    return 2.0 / float(hessian_eigenvalues(X, fit_intercept=fit_intercept)[-1])


def hessian_condition_number(X: np.ndarray, *, fit_intercept: bool = True) -> float:
    """lambda_max / lambda_min of the Hessian: roughly the number of epochs gradient descent needs per digit."""
    eigenvalues = hessian_eigenvalues(X, fit_intercept=fit_intercept)
    return float(eigenvalues[-1] / eigenvalues[0]) if eigenvalues[0] > 0 else float("inf")


def gd_contraction(learning_rate: float, eigenvalues: np.ndarray) -> np.ndarray:
    """|1 - lr * lambda_i| for each eigenvalue: the factor by which each error component shrinks per step."""
    return np.abs(1.0 - learning_rate * np.asarray(eigenvalues, dtype=np.float64))


def heavy_ball_parameters(lambda_min: float, lambda_max: float) -> tuple[float, float]:
    """Polyak's best (lr, momentum) for ``v <- momentum v + grad; w <- w - lr v`` on a quadratic.

    ``lr = 4 / (sqrt(lambda_max) + sqrt(lambda_min))^2`` and ``momentum = ((sqrt(k) - 1) / (sqrt(k) + 1))^2`` with
    k = lambda_max / lambda_min; the error then shrinks by about ``(sqrt(k) - 1) / (sqrt(k) + 1)`` per step
    instead of plain gradient descent's ``(k - 1) / (k + 1)``.
    """
    if not 0 < lambda_min <= lambda_max:
        raise ValueError(f"need 0 < lambda_min <= lambda_max, got {lambda_min!r} and {lambda_max!r}.")
    root_k = np.sqrt(lambda_max / lambda_min)
    return float(4.0 / (np.sqrt(lambda_max) + np.sqrt(lambda_min)) ** 2), float(((root_k - 1) / (root_k + 1)) ** 2)


def design_with_condition_number(n_samples: int, n_features: int, condition_number: float,
                                 seed: int = 0) -> np.ndarray:  # fmt: skip
    """An (n, d) design ``U diag(s) V^T`` with random orthonormal ``U``, ``V`` and ``s`` from 1 down to 1/kappa.

    The singular values are evenly spaced on a log scale, so ``condition_number(X)`` is ``condition_number`` up
    to rounding (for kappa far below 1e16). The same seed gives the same matrix on every machine.
    """
    if n_samples < n_features:
        raise ValueError(f"need n_samples >= n_features for a full-rank design, got {n_samples} < {n_features}.")
    if not condition_number >= 1:
        raise ValueError(f"a condition number is at least 1, got {condition_number!r}.")
    rng = np.random.default_rng(seed)
    U = _orthonormal(rng.standard_normal((n_samples, n_features)))  # (n, d), U^T U = I
    V = _orthonormal(rng.standard_normal((n_features, n_features)))  # (d, d), orthogonal
    s = np.logspace(0.0, -np.log10(condition_number), n_features)  # (d,), 1 ... 1/kappa
    return (U * s) @ V.T


def _orthonormal(G: np.ndarray) -> np.ndarray:
    """Q of the QR decomposition of G, with signs fixed (diag(R) > 0) so the result does not depend on LAPACK."""
    Q, R = np.linalg.qr(G)
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def loss_surface(A: np.ndarray, y: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Mean squared error ``||A w - y||^2 / n`` at every row ``w`` of ``params`` (m, p) -> (m,).

    Uses the expansion ``(w^T G w - 2 w^T c + y^T y) / n`` with ``G = A^T A``, ``c = A^T y``, so a 200 x 200 grid
    costs O(m p^2), not O(m n p). ``A`` (n, p) already holds the intercept column if there is one.
    """
    A, y = check_X_y(A, y)
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))  # (m, p)
    if params.shape[1] != A.shape[1]:
        raise ValueError(f"params have {params.shape[1]} columns but A has {A.shape[1]}; they must match.")
    G, c = A.T @ A, A.T @ y  # (p, p), (p,)
    quadratic = np.einsum("mi,ij,mj->m", params, G, params)  # (m,)
    return (quadratic - 2.0 * params @ c + y @ y) / A.shape[0]
