"""Support vector machines from scratch: the hinge loss, Pegasos on the primal, SMO on the kernel dual.

What it does: the pieces chapter 7 derives, each a small NumPy function, and two binary classifiers. Labels are
mapped to y in {-1, +1} (``classes_[1]`` is +1) and f(x) is the decision function::

    primal   min_{w,b}  l2/2 |w|^2 + (1/n) sum_i max(0, 1 - y_i f(x_i))      f(x) = w . x + b
             (scikit-learn's  C sum_i hinge_i + |w|^2 / 2, divided by C n: the same problem when C = 1 / (n l2))
    dual     min_alpha  1/2 sum_ij alpha_i alpha_j y_i y_j K(x_i, x_j) - sum_i alpha_i
             s.t.  0 <= alpha_i <= C,  sum_i alpha_i y_i = 0                 f(x) = sum_i alpha_i y_i K(x_i, x) + b

* :func:`hinge_loss`, :func:`pegasos_subgradient`, :func:`pegasos_step`: the primal, its sub-gradient (the bias
  unpenalised, as in scikit-learn) and one step of Pegasos, step size 1 / (l2 t).
* :class:`LinearSVM`: Pegasos, i.e. chapter 1's :func:`~mlcourse.classical.gradient_descent.minimize` with the
  schedule lr(t) = 1 / (l2 t), full-batch or on mini-batches.
* :func:`kernel_matrix` (linear, RBF, polynomial, with scikit-learn's parameter names) and :func:`smo_solve`:
  sequential minimal optimisation of the dual with LIBSVM's second-order choice of the pair of variables (Fan,
  Chen and Lin, 2005) and its stopping rule, so :class:`KernelSVM` reproduces ``sklearn.svm.SVC``.

What it does not do: more than two classes, probabilities (Platt scaling), class weights, or LIBSVM's shrinking
and kernel cache: the whole n x n kernel matrix is kept, which suits a few thousand samples at most. Pegasos,
like any gradient method, wants standardised features (it refuses features whose scales differ by more than a
factor of 100). Taught in chapter 7.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.logistic import add_intercept
from mlcourse.classical.validation import check_predict_input, check_scaled, check_X_y

TAU = 1e-12  # LIBSVM's floor for the curvature of a pair direction (duplicate points give 0)


def hinge_loss(margins: np.ndarray) -> np.ndarray:
    """max(0, 1 - m) elementwise, for functional margins m = y f(x): 0 beyond the margin, linear inside it."""
    return np.maximum(0.0, 1.0 - np.asarray(margins, dtype=np.float64))


def signed_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes (2,), y_pm (n,)): any two labels mapped to -1 (``classes[0]``) and +1 (``classes[1]``)."""
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"y has {len(classes)} classes {classes.tolist()[:6]}; this SVM is binary: train one "
                         "model per class (one-vs-rest, chapter 3) for more.")
    return classes, np.where(y == classes[1], 1.0, -1.0)


def pegasos_subgradient(w: np.ndarray, X1: np.ndarray, y: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """The primal objective on these rows and a sub-gradient of it.

    Args:
        w: (d + 1,) parameters, w[0] the bias b (not penalised); X1: (n, d + 1) inputs with a column of ones
            first; y: (n,) labels in {-1, +1}; l2: lambda > 0.
    Returns (l2/2 |w[1:]|^2 + mean hinge, sub-gradient (d + 1,)). Only the samples with y_i f(x_i) < 1 (inside the
    margin or misclassified) contribute, each -y_i x_i / n; at the kink y f = 1 the sub-gradient 0 is chosen.
    """
    margins = y * (X1 @ w)  # (n,) y_i f(x_i)
    active = margins < 1.0  # (n,) the samples whose hinge is on its sloped part
    penalised = w.copy()
    penalised[0] = 0.0
    loss = 0.5 * l2 * float(penalised @ penalised) + float(hinge_loss(margins).mean())
    return loss, l2 * penalised - X1[active].T @ y[active] / len(y)


def pegasos_step(w: np.ndarray, X1: np.ndarray, y: np.ndarray, l2: float, t: int) -> np.ndarray:
    """Pegasos' update number t = 1, 2, ... on a (mini-)batch: w - 1 / (l2 t) * sub-gradient. Returns (d + 1,)."""
    return w - pegasos_subgradient(w, X1, y, l2)[1] / (l2 * t)


class LinearSVM:
    """A linear soft-margin SVM trained by Pegasos: sub-gradient descent on the primal with step 1 / (l2 t).

    Args:
        l2: lambda > 0, the strength of l2/2 |w|^2 (scikit-learn's ``C = 1 / (n_samples * l2)``).
        epochs: passes over the data.
        batch_size: ``None`` (full batch: deterministic sub-gradient descent), 1 (the original Pegasos) or k.
        seed: shuffles the mini-batches.

    After ``fit``: ``coef_`` (d,), ``intercept_`` (float), ``classes_`` (2,), ``losses_`` (objective at the start
    and after each epoch), ``n_iter_`` (updates made).
    """

    def __init__(self, *, l2: float = 1e-2, epochs: int = 1000, batch_size: int | None = None, seed: int = 0) -> None:
        if not l2 > 0:  # also rejects NaN
            raise ValueError(f"l2 must be > 0 (Pegasos' step is 1 / (l2 t)), got {l2!r}.")
        self.l2, self.epochs, self.batch_size, self.seed = l2, epochs, batch_size, seed
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LinearSVM":
        """Fit on X (n, d), standardised, and y (n,) with two distinct labels; returns self."""
        X, y = check_X_y(X, y, classification=True)
        self.classes_, y_pm = signed_labels(y)
        check_scaled(X)
        X1 = add_intercept(X)  # (n, d + 1)
        result = minimize(lambda w, rows: pegasos_subgradient(w, X1 if rows is None else X1[rows],
                                                              y_pm if rows is None else y_pm[rows], self.l2),
                          np.zeros(X1.shape[1]), len(y_pm), lr=lambda t: 1.0 / (self.l2 * t), epochs=self.epochs,
                          batch_size=self.batch_size, seed=self.seed)  # fmt: skip
        self.intercept_, self.coef_ = float(result.w[0]), result.w[1:]
        self.losses_, self.n_iter_ = result.losses, result.updates
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n,) f(x) = X @ coef_ + intercept_; its sign is the class, |f| / |coef_| the distance to the boundary."""
        X = check_predict_input(self, X)
        return X @ self.coef_ + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) ``classes_[1]`` where f(x) > 0, else ``classes_[0]``."""
        positive = self.decision_function(X) > 0  # (n,) checks the model and X first
        return self.classes_[positive.astype(int)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def kernel_matrix(A: np.ndarray, B: np.ndarray, kernel: str = "rbf", *, gamma: float = 1.0, degree: int = 3,
                  coef0: float = 0.0) -> np.ndarray:  # fmt: skip
    """(len(A), len(B)) Gram matrix K[i, j] = k(a_i, b_j), with scikit-learn's names and formulas.

    ``"linear"``: a . b;  ``"rbf"``: exp(-gamma |a - b|^2);  ``"poly"``: (gamma a . b + coef0) ** degree.
    The squared distances come from |a|^2 + |b|^2 - 2 a . b (one matrix product), clipped at 0 against round-off.
    """
    if kernel == "linear":
        return A @ B.T
    if kernel == "poly":
        return (gamma * (A @ B.T) + coef0) ** degree
    if kernel == "rbf":
        squared = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2.0 * A @ B.T  # (len(A), len(B))
        return np.exp(-gamma * np.maximum(squared, 0.0))
    raise ValueError(f"kernel must be 'linear', 'rbf' or 'poly', got {kernel!r}.")


@dataclass
class SMOResult:
    """What :func:`smo_solve` produced."""

    alpha: np.ndarray  # (n,) the dual variables, each in [0, C]
    b: float  # the bias of f(x) = sum_i alpha_i y_i K(x_i, x) + b
    n_iter: int  # pairs optimised
    converged: bool  # the largest KKT violation fell below tol
    violations: list[float] = field(default_factory=list)  # m - M before each pair update
    objectives: list[float] = field(default_factory=list)  # the dual objective sum(alpha) - 1/2 a'Qa after each


def smo_solve(K: np.ndarray, y: np.ndarray, C: float, *, tol: float = 1e-3, max_iter: int = 1_000_000) -> SMOResult:
    """Solve the SVM dual by SMO: optimise two alphas at a time, exactly, keeping sum_i alpha_i y_i = 0.

    With G = Q alpha - 1 the gradient of the (minimised) dual, Q_ij = y_i y_j K_ij, the pair is LIBSVM's:
    i maximises -y_t G_t over the alphas that may move up in direction y_t, and j, among those that may move
    down with -y_t G_t < -y_i G_i, maximises the decrease b^2 / a of the one-dimensional quadratic along
    alpha_i += y_i s, alpha_j -= y_j s (b = -y_i G_i + y_j G_j, a = K_ii + K_jj - 2 K_ij). The step
    s = min(b / a, room of alpha_i, room of alpha_j) is exact. It stops when the largest violation of the KKT
    conditions, m - M = max_up(-y G) - min_low(-y G), is below ``tol`` (scikit-learn's ``tol``, default 1e-3).

    Args: K (n, n) kernel matrix; y (n,) labels in {-1, +1}; C > 0 the box; tol; max_iter (pairs).
    """
    n = len(y)
    alpha, G = np.zeros(n), -np.ones(n)  # alpha = 0 is feasible; there G = Q 0 - 1
    diag = np.diag(K).copy()
    result = SMOResult(alpha, 0.0, 0, False)
    while result.n_iter < max_iter:
        score = -y * G  # (n,) -y_t G_t
        up = np.flatnonzero(np.where(y > 0, alpha < C, alpha > 0))  # alpha_t may move by +y_t
        low = np.flatnonzero(np.where(y > 0, alpha > 0, alpha < C))  # alpha_t may move by -y_t
        i = up[np.argmax(score[up])]
        violation = score[i] - score[low].min()
        result.violations.append(float(violation))
        if violation < tol:
            result.converged = True
            break
        candidates = low[score[low] < score[i]]
        gain = score[i] - score[candidates]  # (m,) b > 0
        curvature = np.maximum(diag[i] + diag[candidates] - 2.0 * K[i, candidates], TAU)  # (m,) a
        j = candidates[np.argmax(gain**2 / curvature)]
        room_i = C - alpha[i] if y[i] > 0 else alpha[i]
        room_j = alpha[j] if y[j] > 0 else C - alpha[j]
        step = min((score[i] - score[j]) / max(diag[i] + diag[j] - 2.0 * K[i, j], TAU), room_i, room_j)
        old_i, old_j = alpha[i], alpha[j]
        alpha[i] = (C if y[i] > 0 else 0.0) if step == room_i else alpha[i] + y[i] * step  # exact at a bound
        alpha[j] = (0.0 if y[j] > 0 else C) if step == room_j else alpha[j] - y[j] * step
        G += y * (y[i] * (alpha[i] - old_i) * K[:, i] + y[j] * (alpha[j] - old_j) * K[:, j])  # G += Q delta
        result.objectives.append(float(-0.5 * alpha @ (G - 1.0)))  # -(1/2 a'Qa - e'a) with Qa = G + 1
        result.n_iter += 1
    y_grad = y * G  # the bias is LIBSVM's: -mean(y G) over the free alphas (those strictly inside the box)
    free = (alpha > 0) & (alpha < C)
    if free.any():
        result.b = -float(y_grad[free].mean())
    else:  # no free alpha: any b between the bounds the KKT conditions allow; take the midpoint
        upper = np.where(y > 0, alpha == 0, alpha == C)
        result.b = -0.5 * float(y_grad[upper].min() + y_grad[~upper].max())
    return result


class KernelSVM:
    """A soft-margin SVM with a kernel, trained on the dual by :func:`smo_solve`: ``sklearn.svm.SVC``'s problem.

    Args:
        C: > 0, the cost of a margin violation (the box 0 <= alpha_i <= C).
        kernel: ``"rbf"``, ``"linear"`` or ``"poly"`` (see :func:`kernel_matrix`).
        gamma: the kernel's scale, or ``"scale"``: 1 / (n_features * X.var()), scikit-learn's default.
        degree, coef0: of the polynomial kernel.
        tol: the stopping tolerance on the largest KKT violation (scikit-learn's default 1e-3).
        max_iter: most pairs optimised; a fit that stops there warns.

    After ``fit``: ``support_`` (indices of the samples with alpha > 0), ``support_vectors_`` (n_SV, d),
    ``dual_coef_`` (n_SV,) = alpha_i y_i (scikit-learn's is (1, n_SV)), ``intercept_`` (float), ``n_support_``
    (support vectors of ``classes_[0]`` and ``classes_[1]``), ``alpha_`` (n,), ``gamma_``, ``n_iter_``,
    ``converged_``, ``violations_`` and ``objectives_`` (per SMO step), and ``coef_`` (d,) for the linear kernel.
    """

    def __init__(self, *, C: float = 1.0, kernel: str = "rbf", gamma: float | str = "scale", degree: int = 3,
                 coef0: float = 0.0, tol: float = 1e-3, max_iter: int = 1_000_000) -> None:  # fmt: skip
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C!r}.")
        if kernel not in ("rbf", "linear", "poly"):
            raise ValueError(f"kernel must be 'linear', 'rbf' or 'poly', got {kernel!r}.")
        if not (gamma == "scale" or (not isinstance(gamma, str) and gamma > 0)):
            raise ValueError(f"gamma must be > 0 or 'scale', got {gamma!r}.")
        self.C, self.kernel, self.gamma, self.degree, self.coef0 = C, kernel, gamma, degree, coef0
        self.tol, self.max_iter = tol, max_iter
        self.n_features_in_: int | None = None

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return kernel_matrix(A, B, self.kernel, gamma=self.gamma_, degree=self.degree, coef0=self.coef0)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "KernelSVM":
        """Fit on X (n, d) and y (n,) with two distinct labels; returns self."""
        X, y = check_X_y(X, y, classification=True)
        self.classes_, y_pm = signed_labels(y)
        self.gamma_ = 1.0 / (X.shape[1] * X.var()) if self.gamma == "scale" else float(self.gamma)
        solved = smo_solve(self._kernel(X, X), y_pm, self.C, tol=self.tol, max_iter=self.max_iter)
        if not solved.converged:
            warnings.warn(f"SMO stopped after max_iter={self.max_iter} pairs with a KKT violation of "
                          f"{solved.violations[-1]:.3g} > tol={self.tol}: raise max_iter, or lower C (a large C on "
                          "overlapping classes needs many steps).", RuntimeWarning, stacklevel=2)  # fmt: skip
        self.alpha_, self.intercept_ = solved.alpha, solved.b
        self.n_iter_, self.converged_ = solved.n_iter, solved.converged
        self.violations_, self.objectives_ = solved.violations, solved.objectives
        self.support_ = np.flatnonzero(solved.alpha > 0)
        self.support_vectors_ = X[self.support_]  # (n_SV, d)
        self.dual_coef_ = (solved.alpha * y_pm)[self.support_]  # (n_SV,)
        self.n_support_ = np.array([np.sum(y_pm[self.support_] < 0), np.sum(y_pm[self.support_] > 0)])
        if self.kernel == "linear":
            self.coef_ = self.dual_coef_ @ self.support_vectors_  # (d,) w = sum_i alpha_i y_i x_i
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n,) f(x) = sum over support vectors of alpha_i y_i K(x_i, x) + intercept_."""
        X = check_predict_input(self, X, n_features_from="n_features_in_")
        return self._kernel(X, self.support_vectors_) @ self.dual_coef_ + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) ``classes_[1]`` where f(x) > 0, else ``classes_[0]``."""
        positive = self.decision_function(X) > 0  # (n,) checks the model and X first
        return self.classes_[positive.astype(int)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
