"""Binary logistic regression from scratch: the sigmoid, the cross-entropy loss, its gradient and Hessian, a model.

What it does: the pieces chapter 2 derives, each a small NumPy function, and :class:`LogisticRegression`, which
fits them by Newton's method (IRLS, the default) or by gradient descent::

    p(y = 1 | x) = sigmoid(w . x + b)
    loss(w, b)   = mean_i [ softplus(z_i) - y_i z_i ] + l2/2 * |w|^2        z_i = w . x_i + b
    gradient     = X1^T (sigmoid(z) - y) / n + l2 * w                       X1 = [1 | X], the bias unpenalised

The loss is computed from the logits z with ``logaddexp`` (softplus), never as ``log(sigmoid(z))``, so it stays
finite when the sigmoid rounds to exactly 0 or 1. A fit with ``l2 = 0`` on linearly separable data warns: the
unpenalised loss then has no minimum (it falls towards 0 as the weights grow without bound).

What it does not do: more than two classes (chapter 3's softmax regression), L1 penalties or early stopping
(chapter 4), class weights, or feature scaling (standardise first; gradient descent refuses features whose
scales differ by more than a factor of 100, Newton's method does not care). Taught in chapter 2.
"""

from __future__ import annotations

import warnings

import numpy as np

from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.newton import newton_minimize
from mlcourse.classical.validation import check_predict_input, check_scaled, check_X_y



class SeparableDataWarning(UserWarning):
    """The training data are linearly separable, so the unpenalised loss has no minimum."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)), elementwise, without overflow for any finite z.

    For z < 0 it uses the equal form exp(z) / (1 + exp(z)), so ``exp`` only ever sees non-positive numbers.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log(sigmoid(z)) = -softplus(-z) = -log(1 + exp(-z)), computed with ``logaddexp``: finite for any finite z."""
    return -np.logaddexp(0.0, -np.asarray(z, dtype=np.float64))


def binary_cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels ``y`` (n,) in {0, 1} given logits (n,), in nats.

    -[y log p + (1 - y) log(1 - p)] with p = sigmoid(z) simplifies to softplus(z) - y z, and
    softplus(z) = log(1 + e^z) = ``logaddexp(0, z)`` never overflows.
    """
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - y * logits))


def add_intercept(X: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d + 1): a column of ones in front, so that w[0] is the bias b and X1 @ w = X @ w[1:] + b."""
    return np.column_stack([np.ones(len(X)), X])


def _penalised(w: np.ndarray, intercept: bool) -> np.ndarray:
    """(d1,) copy of ``w`` with the bias (w[0], when ``intercept``) zeroed: the part L2 acts on."""
    w = w.copy()
    if intercept:
        w[0] = 0.0
    return w


def logistic_loss_and_grad(w: np.ndarray, X1: np.ndarray, y: np.ndarray, l2: float = 0.0, *,
                           intercept: bool = True) -> tuple[float, np.ndarray]:  # fmt: skip
    """Mean cross-entropy plus ``l2/2 |w|^2`` and its gradient ``X1^T (sigmoid(X1 w) - y) / n + l2 w``.

    Args:
        w: (d1,) parameters; w[0] is the bias when ``intercept`` (it is not penalised).
        X1: (n, d1) inputs, with the column of ones first when ``intercept`` (see :func:`add_intercept`).
        y: (n,) labels in {0, 1}.
        l2: lambda, the strength of the L2 penalty (0: none).
    Returns (loss in nats, gradient (d1,)).
    """
    z = X1 @ w  # (n,) logits
    w_pen = _penalised(w, intercept)
    loss = binary_cross_entropy(z, y) + 0.5 * l2 * float(w_pen @ w_pen)
    grad = X1.T @ (sigmoid(z) - y) / len(y) + l2 * w_pen  # (d1,)
    return loss, grad


def logistic_hessian(w: np.ndarray, X1: np.ndarray, l2: float = 0.0, *, intercept: bool = True) -> np.ndarray:
    """(d1, d1) Hessian of :func:`logistic_loss_and_grad`: ``X1^T S X1 / n + l2 I'`` with S = diag(p (1 - p)).

    I' is the identity with a 0 for the bias. It does not depend on y, and it is positive semi-definite: the
    loss is convex.
    """
    p = sigmoid(X1 @ w)  # (n,)
    hessian = (X1.T * (p * (1.0 - p))) @ X1 / len(X1)  # (d1, d1) without forming the (n, n) diagonal
    return hessian + l2 * np.diag(_penalised(np.ones(len(w)), intercept))


def newton_step(w: np.ndarray, X1: np.ndarray, y: np.ndarray, l2: float = 0.0, *, intercept: bool = True) -> np.ndarray:
    """One full Newton (IRLS) step: ``w - H^-1 g``, with g and H the gradient and Hessian at w. Returns (d1,)."""
    _, grad = logistic_loss_and_grad(w, X1, y, l2, intercept=intercept)
    return w - np.linalg.solve(logistic_hessian(w, X1, l2, intercept=intercept), grad)


def smoothness(X1: np.ndarray, l2: float = 0.0) -> float:
    """L, the largest curvature the loss can have: lambda_max(X1^T X1) / (4 n) + l2, since p (1 - p) <= 1/4.

    Gradient descent with step 1/L never increases this loss; it is the default learning rate of the model.
    """
    return float(np.linalg.eigvalsh(X1.T @ X1 / len(X1))[-1] / 4.0 + l2)


class LogisticRegression:
    """Binary logistic regression fitted by Newton's method (``solver="newton"``) or gradient descent (``"gd"``).

    Minimises mean cross-entropy + ``l2/2 |coef_|^2`` (the intercept is not penalised). This is scikit-learn's
    ``LogisticRegression(C=1 / (n_samples * l2))``, and ``C=np.inf`` when ``l2 = 0``.

    Args:
        l2: lambda >= 0, the L2 penalty strength.
        solver: ``"newton"`` (IRLS with backtracking) or ``"gd"`` (full-batch unless ``batch_size``).
        fit_intercept: learn a bias b (unpenalised).
        max_iter: Newton steps or gradient-descent epochs (None: 100 for newton, 10,000 for gd).
        tol: newton: stop when max |gradient| < tol; gd: stop when an epoch lowers the loss by less than tol
            (with momentum the loss may rise for an epoch, which also stops it: pass ``None`` to run every epoch).
        lr: gd step size (None: 1 / L from :func:`smoothness`, the largest step that cannot overshoot).
        momentum, batch_size, seed: passed to :func:`mlcourse.classical.gradient_descent.minimize` (gd only).

    After ``fit``: ``coef_`` (d,) (scikit-learn's is (1, d)), ``intercept_`` (float), ``classes_`` (2,) with
    ``classes_[1]`` the positive class, ``losses_`` (loss after each iteration), ``n_iter_``, ``converged_``.
    """

    def __init__(self, *, l2: float = 0.0, solver: str = "newton", fit_intercept: bool = True,
                 max_iter: int | None = None, tol: float | None = 1e-10, lr: float | None = None, momentum: float = 0.0,
                 batch_size: int | None = None, seed: int = 0) -> None:  # fmt: skip
        if solver not in ("newton", "gd"):
            raise ValueError(f"solver must be 'newton' or 'gd', got {solver!r}.")
        if not l2 >= 0:  # also rejects NaN
            raise ValueError(f"l2 must be >= 0, got {l2!r}.")
        self.l2, self.solver, self.fit_intercept, self.max_iter, self.tol = l2, solver, fit_intercept, max_iter, tol
        self.lr, self.momentum, self.batch_size, self.seed = lr, momentum, batch_size, seed
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.classes_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticRegression":
        """Fit on X (n, d) and y (n,) with exactly two distinct labels; returns self."""
        X, y = check_X_y(X, y, classification=True)
        self.classes_ = np.unique(y)
        if len(self.classes_) > 2:
            raise ValueError(f"y has {len(self.classes_)} classes {self.classes_.tolist()[:6]}; this model is binary: "
                             "use softmax regression (chapter 3) for more than two.")
        if self.solver == "gd":
            check_scaled(X, alternative=", or use solver='newton'")
        y01 = (y == self.classes_[1]).astype(np.float64)  # (n,) 1 for the positive class
        X1 = add_intercept(X) if self.fit_intercept else X  # (n, d1)
        args = dict(l2=self.l2, intercept=self.fit_intercept)
        w0 = np.zeros(X1.shape[1])
        if self.solver == "newton":
            result = newton_minimize(lambda w: logistic_loss_and_grad(w, X1, y01, **args),
                                     lambda w: logistic_hessian(w, X1, **args), w0,
                                     max_iter=self.max_iter or 100, tol=self.tol or 0.0)
            w, self.losses_, self.n_iter_, self.converged_ = result.w, result.losses, result.iterations, result.converged
        else:
            lr = self.lr if self.lr is not None else 1.0 / smoothness(X1, self.l2)
            result = minimize(lambda w, rows: logistic_loss_and_grad(w, X1 if rows is None else X1[rows],
                                                                     y01 if rows is None else y01[rows], **args),
                              w0, len(y01), lr=lr, epochs=self.max_iter or 10_000, batch_size=self.batch_size,
                              momentum=self.momentum, tol=self.tol, seed=self.seed)
            if result.diverged:
                raise FloatingPointError(f"gradient descent diverged (loss {result.losses[-1]:.3g} after "
                                         f"{result.epochs} epochs): lower lr (it was {lr:.3g}).")
            w, self.losses_, self.n_iter_, self.converged_ = result.w, result.losses, result.epochs, result.converged
        self.intercept_ = float(w[0]) if self.fit_intercept else 0.0
        self.coef_ = w[1:] if self.fit_intercept else w
        if self.l2 == 0 and np.all((X1 @ w > 0) == (y01 == 1)):
            warnings.warn(f"the training data are linearly separable: this fit classifies all {len(y)} samples "
                          f"correctly, so the unpenalised loss has no minimum (it falls towards 0 as the weights grow "
                          f"without bound) and coef_ (norm {np.linalg.norm(self.coef_):.3g}) only reflects when "
                          "fitting stopped. Set l2 > 0 for a finite, unique answer.", SeparableDataWarning,
                          stacklevel=2)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n,) logits z = X @ coef_ + intercept_ (the log-odds of the positive class)."""
        X = check_predict_input(self, X)
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, 2) probabilities of ``classes_[0]`` and ``classes_[1]``; each row sums to 1."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) predicted labels: ``classes_[1]`` where the logit is positive (probability > 1/2)."""
        positive = self.decision_function(X) > 0  # (n,) checks the model and X first
        return self.classes_[positive.astype(int)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
