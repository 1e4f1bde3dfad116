"""Softmax regression (multinomial logistic regression) from scratch, and one-vs-rest for comparison.

What it does: the pieces chapter 3 derives, each a small NumPy function, and two multi-class models::

    p(y = k | x) = softmax(z)_k = exp(z_k) / sum_j exp(z_j)          z = x W + b,  W (d, K), b (K,)
    loss(W, b)   = mean_i [ logsumexp(z_i) - z_i,y_i ] + l2/2 * |W|^2   (the bias unpenalised)
    dloss/dz_i   = (softmax(z_i) - onehot(y_i)) / n                   -> dW = X^T (P - Y) / n + l2 W

* :func:`logsumexp`, :func:`softmax`, :func:`log_softmax`: stable for any finite logits (the largest logit is
  subtracted before ``exp``, so ``exp`` never overflows).
* :func:`softmax_cross_entropy`: the mean loss from logits and its gradient with respect to the logits; the same
  computation as ``torch.nn.functional.cross_entropy`` and as a language model's next-token loss.
* :class:`SoftmaxRegression`: fitted by full-batch gradient descent with momentum
  (:func:`mlcourse.classical.gradient_descent.minimize`), stopped when the largest gradient entry is below ``tol``.
* :class:`OneVsRest`: K binary logistic regressions (chapter 2's model), probabilities renormalised to sum to 1.
* :func:`top_label_calibration`: confidence against accuracy in bins, and the expected calibration error.

What it does not do: L1 penalties (chapter 4), class weights, sparse inputs, a second-order solver (chapter 2's
Newton method; its Hessian here would be (dK, dK)), or feature scaling (standardise first: like chapter 2's
gradient descent it refuses features whose scales differ by more than a factor of 100). Taught in chapter 3.
"""

from __future__ import annotations

import numpy as np

from mlcourse.classical.gradient_descent import minimize
from mlcourse.classical.logistic import LogisticRegression, add_intercept, sigmoid
from mlcourse.classical.validation import check_predict_input, check_scaled, check_X_y


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(sum_j exp(z_j)) along ``axis``, computed as m + log(sum_j exp(z_j - m)) with m = max_j z_j.

    Every ``exp`` then sees a number <= 0, so nothing overflows, and the largest term is exactly exp(0) = 1, so
    the sum never underflows to 0 either. z (..., K) -> (...).
    """
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)  # (..., 1)
    return np.squeeze(m, axis=axis) + np.log(np.exp(z - m).sum(axis=axis))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z) = z - logsumexp(z) over the last axis: (..., K) -> (..., K), finite for any finite z."""
    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z)[..., None]


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z_k) / sum_j exp(z_j) over the last axis, with the row maximum subtracted first: (..., K) -> (..., K)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # (..., K), each entry in (0, 1]
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n,) integer labels in [0, n_classes) -> (n, n_classes) float matrix Y with Y[i, labels[i]] = 1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from {labels.min()} to {labels.max()}.")
    Y = np.zeros((len(labels), n_classes))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer ``labels`` (n,) under ``softmax(logits)`` (n, K), in nats, and its gradient.

    loss = mean_i [logsumexp(z_i) - z_{i, y_i}] = -mean_i log p_{i, y_i}, computed from the logits (never as
    log(softmax(z)), which gives -inf once a probability rounds to 0). Returns (loss, dloss/dlogits (n, K)), the
    gradient being (softmax(z) - onehot(y)) / n.
    """
    logits = np.asarray(logits, dtype=np.float64)
    n, K = logits.shape
    log_p = log_softmax(logits)  # (n, K)
    loss = -float(log_p[np.arange(n), labels].mean())
    return loss, (np.exp(log_p) - one_hot(labels, K)) / n  # (n, K)


def softmax_loss_and_grad(params: np.ndarray, X1: np.ndarray, labels: np.ndarray,
                          l2: float = 0.0) -> tuple[float, np.ndarray]:  # fmt: skip
    """The model's objective and its gradient: cross-entropy + ``l2/2 |W|^2``; the bias (row 0) unpenalised.

    Args:
        params: (d + 1, K) parameters, row 0 the biases b, rows 1: the weights W (chapter 2's layout, K columns).
        X1: (n, d + 1) inputs with a column of ones first (:func:`~mlcourse.classical.logistic.add_intercept`).
        labels: (n,) integer class indices in [0, K).
        l2: lambda >= 0, the strength of the L2 penalty.
    Returns (loss in nats, gradient (d + 1, K)) = (loss, X1^T (P - Y) / n + l2 [0; W]).
    """
    loss, dlogits = softmax_cross_entropy(X1 @ params, labels)  # (n, d+1) @ (d+1, K) -> logits (n, K)
    penalised = params.copy()
    penalised[0] = 0.0  # the biases are not penalised (as in scikit-learn)
    return loss + 0.5 * l2 * float((penalised**2).sum()), X1.T @ dlogits + l2 * penalised  # chain rule: z = X1 params


class SoftmaxRegression:
    """Multinomial logistic regression fitted by full-batch gradient descent with momentum.

    Minimises mean cross-entropy + ``l2/2 |W|^2`` (biases unpenalised): scikit-learn's
    ``LogisticRegression(C=1 / (n_samples * l2))``, and ``C=np.inf`` when ``l2 = 0``.

    Args:
        l2: lambda >= 0, the L2 penalty strength.
        lr: step size (None: 2 / L, where L = lambda_max(X1^T X1 / n) / 2 + l2 bounds the loss's curvature, the
            softmax's Jacobian diag(p) - p p^T having eigenvalues <= 1/2; with momentum 0.9, heavy-ball steps on a
            quadratic stay stable up to 3.8 / L).
        momentum: heavy-ball coefficient, passed to :func:`~mlcourse.classical.gradient_descent.minimize`.
        max_iter: most epochs (full-batch: one update each).
        tol: stop when the largest entry of the gradient, max |g|, falls below ``tol``.
        check_every: epochs between two gradient checks (momentum restarts from 0 after each check).

    After ``fit``: ``coef_`` (K, d) and ``intercept_`` (K,) as in scikit-learn, ``classes_`` (K,), ``losses_``
    (training objective after each epoch), ``n_iter_`` (epochs), ``converged_``, ``grad_max_`` (final max |g|).
    """

    def __init__(self, *, l2: float = 0.0, lr: float | None = None, momentum: float = 0.9, max_iter: int = 5000,
                 tol: float = 1e-6, check_every: int = 100) -> None:  # fmt: skip
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2!r}.")
        self.l2, self.lr, self.momentum = l2, lr, momentum
        self.max_iter, self.tol, self.check_every = max_iter, tol, check_every
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "SoftmaxRegression":
        """Fit on X (n, d), standardised, and labels y (n,) with at least two classes; returns self."""
        X, y = check_X_y(X, y, classification=True)
        check_scaled(X)
        self.classes_, labels = np.unique(y, return_inverse=True)  # labels: (n,) indices into classes_
        X1 = add_intercept(X)  # (n, d + 1)
        lr = self.lr if self.lr is not None else 2.0 / (np.linalg.eigvalsh(X1.T @ X1 / len(X1))[-1] / 2 + self.l2)
        shape = (X1.shape[1], len(self.classes_))  # (d + 1, K)

        def loss_and_grad(w: np.ndarray, rows: np.ndarray | None) -> tuple[float, np.ndarray]:
            loss, grad = softmax_loss_and_grad(w.reshape(shape), X1, labels, self.l2)  # minimize works on flat vectors
            return loss, grad.ravel()

        w, self.losses_, self.n_iter_, self.converged_ = np.zeros(shape).ravel(), [], 0, False
        while self.n_iter_ < self.max_iter:  # run in chunks so that we can stop on the gradient, not the loss
            result = minimize(loss_and_grad, w, len(labels), lr=lr, momentum=self.momentum,
                              epochs=min(self.check_every, self.max_iter - self.n_iter_))
            if result.diverged:
                raise FloatingPointError(f"gradient descent diverged (loss {result.losses[-1]:.3g} after "
                                         f"{self.n_iter_ + result.epochs} epochs): lower lr (it was {lr:.3g}).")
            w, self.n_iter_ = result.w, self.n_iter_ + result.epochs
            self.losses_ += result.losses[1:] if self.losses_ else result.losses
            self.grad_max_ = float(np.abs(loss_and_grad(w, None)[1]).max())
            if self.grad_max_ < self.tol:
                self.converged_ = True
                break
        params = w.reshape(shape)
        self.intercept_, self.coef_ = params[0].copy(), params[1:].T.copy()  # (K,), (K, d)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n, K) logits z = X coef_^T + intercept_."""
        X = check_predict_input(self, X)
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) class probabilities, columns in the order of ``classes_``; each row sums to 1."""
        return softmax(self.decision_function(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) the most probable class of each row (the largest logit: the softmax keeps the order)."""
        logits = self.decision_function(X)  # (n, K); refuses an unfitted model
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


class OneVsRest:
    """K binary logistic regressions (chapter 2's model), class k against all the others.

    Each binary model gives its own p_k = sigmoid(z_k); nothing makes them sum to 1, so ``predict_proba``
    divides by their sum (as scikit-learn's ``OneVsRestClassifier`` does). With ``l2`` each binary problem is
    scikit-learn's ``LogisticRegression(C=1 / (n_samples * l2))``. Keyword arguments go to chapter 2's
    :class:`~mlcourse.classical.logistic.LogisticRegression` (Newton's method by default).

    After ``fit``: ``coef_`` (K, d), ``intercept_`` (K,), ``classes_`` (K,), ``estimators_`` (the K models).
    """

    def __init__(self, *, l2: float = 0.0, **binary_options: object) -> None:
        self.l2, self.binary_options = l2, binary_options
        self.coef_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "OneVsRest":
        """Fit one binary model per class of y (n,) on X (n, d); returns self."""
        X, y = check_X_y(X, y, classification=True)
        self.classes_ = np.unique(y)
        self.estimators_ = [LogisticRegression(l2=self.l2, **self.binary_options).fit(X, (y == k).astype(int))
                            for k in self.classes_]  # fmt: skip
        self.coef_ = np.stack([m.coef_ for m in self.estimators_])  # (K, d)
        self.intercept_ = np.array([m.intercept_ for m in self.estimators_])  # (K,)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n, K) the K binary logits, z_k = log-odds of "class k" against "any other class"."""
        X = check_predict_input(self, X)
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, K) the K sigmoids divided by their sum (so each row sums to 1)."""
        p = sigmoid(self.decision_function(X))  # (n, K), each in (0, 1)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) the class whose binary model is most confident (largest logit)."""
        logits = self.decision_function(X)  # (n, K); refuses an unfitted model
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy: the fraction of samples whose predicted label equals y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def top_label_calibration(proba: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray | float]:
    """How well the top probability (the confidence) matches how often the top class is right.

    Args:
        proba: (n, K) predicted probabilities; labels: (n,) true class indices into its columns.
        n_bins: equal-width confidence bins on [0, 1].
    Returns ``confidence`` (n_bins,) mean confidence per bin, ``accuracy`` (n_bins,) fraction correct per bin
    (NaN for an empty bin), ``count`` (n_bins,) samples per bin, and ``ece``, the expected calibration error
    sum_b (count_b / n) |accuracy_b - confidence_b|: 0 for a perfectly calibrated model.
    """
    proba = np.asarray(proba, dtype=np.float64)
    confidence, correct = proba.max(axis=1), (proba.argmax(axis=1) == np.asarray(labels))  # (n,), (n,)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)  # confidence 1.0 goes in the last bin
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore"):  # empty bins: 0 / 0 = NaN, on purpose
        mean_conf = np.bincount(bins, confidence, n_bins) / count
        accuracy = np.bincount(bins, correct, n_bins) / count
    ece = float(np.nansum(count / len(bins) * np.abs(accuracy - mean_conf)))
    return {"confidence": mean_conf, "accuracy": accuracy, "count": count, "ece": ece}
