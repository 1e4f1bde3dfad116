"""A known 1-D function, polynomial features, and the bias-variance decomposition measured by simulation.

What it does:

* :func:`true_function` and :func:`sample_dataset`: a fixed smooth function on [-1, 1] and noisy samples of it,
  drawn from a seeded generator, so that every "training set" of the chapter is reproducible.
* :func:`polynomial_features` and :class:`PolynomialRidge`: ``x -> (x, x^2, ..., x^degree)`` (or the Legendre
  polynomials, same span, better conditioned), standardised on the training data, then
  :class:`~mlcourse.classical.regularized.Ridge` (``alpha = 0``: plain least squares).
* :func:`bias_variance_decomposition`: fits a model on many independent training sets and measures, on a grid
  of test inputs, ``bias^2 = mean_x (E_D[f_D(x)] - f(x))^2``, ``variance = mean_x Var_D[f_D(x)]`` and the noise
  ``sigma^2``, together with the test error measured directly on fresh noisy targets, which they must add up to.

What it does not do: other bases (splines, Fourier), classification losses (the decomposition here is for the
squared error only), or estimate anything on real data, where f is unknown. Taught in chapter 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mlcourse.classical.regularized import Ridge
from mlcourse.classical.validation import check_fitted

X_RANGE = (-1.0, 1.0)  # the inputs live here, so that every power x^k stays within [-1, 1]


def true_function(x: np.ndarray) -> np.ndarray:
    """The chapter's known function on [-1, 1]: ``sin(3x) + 0.5 cos(5x)`` (smooth, but no polynomial)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sin(3 * x) + 0.5 * np.cos(5 * x)


def sample_dataset(n: int, noise_sd: float, rng: np.random.Generator,
                   f: Callable[[np.ndarray], np.ndarray] = true_function,
                   x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``n`` points: x (n,) and y (n,) = f(x) + Gaussian noise of standard deviation ``noise_sd``.

    x is drawn uniformly on [-1, 1], or, when ``x`` is given (a *fixed design*), taken as it is.
    """
    x = rng.uniform(*X_RANGE, size=n) if x is None else np.asarray(x, dtype=np.float64)
    return x, f(x) + noise_sd * rng.standard_normal(len(x))


def polynomial_features(x: np.ndarray, degree: int, basis: str = "monomial") -> np.ndarray:
    """(n,) -> (n, degree): the polynomials of degree 1 .. ``degree`` of x (no constant: models fit an intercept).

    ``basis="monomial"``: ``x, x^2, ..., x^degree``. ``basis="legendre"``: the Legendre polynomials
    ``P_1(x), ..., P_degree(x)``, which span the same functions (so least squares gives the same fit) but are
    nearly orthogonal on [-1, 1], so the least-squares problem is far better conditioned for gradient descent.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (one input per sample), got shape {x.shape}.")
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}.")
    if basis == "monomial":
        return x[:, None] ** np.arange(1, degree + 1)  # (n, degree)
    if basis == "legendre":
        return np.polynomial.legendre.legvander(x, degree)[:, 1:]  # (n, degree): drop P_0 = 1
    raise ValueError(f"basis must be 'monomial' or 'legendre', got {basis!r}.")


class PolynomialRidge:
    """Polynomial regression of one input: polynomial features, standardised, then ridge with ``alpha``.

    The features are standardised with the *training* mean and standard deviation, so that the penalty treats
    every column alike (raw powers of x in [-1, 1] shrink with the degree, and a penalty would then hit the
    high powers hardest). ``alpha = 0`` is ordinary least squares. Degree 0 predicts the training mean.
    """

    def __init__(self, degree: int, alpha: float = 0.0, basis: str = "monomial") -> None:
        self.degree, self.alpha, self.basis = degree, alpha, basis
        self.model_: Ridge | None = None

    def features(self, x: np.ndarray) -> np.ndarray:
        """(n,) -> (n, degree), standardised with the training statistics (after ``fit``)."""
        check_fitted(self, "model_")
        return (polynomial_features(x, self.degree, self.basis) - self.mean_) / self.scale_

    def fit(self, x: np.ndarray, y: np.ndarray) -> "PolynomialRidge":
        """Fit on x (n,) and y (n,); returns self."""
        raw = polynomial_features(x, self.degree, self.basis)  # (n, degree)
        self.mean_, self.scale_ = raw.mean(axis=0), raw.std(axis=0)
        if self.degree == 0:  # no features: the intercept alone, the mean of y
            self.model_ = Ridge(self.alpha).fit(np.zeros((len(raw), 1)), y)
            return self
        self.model_ = Ridge(self.alpha).fit((raw - self.mean_) / self.scale_, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (n,) for x (n,)."""
        check_fitted(self, "model_")
        if self.degree == 0:
            return np.full(len(np.asarray(x)), self.model_.intercept_)
        return self.model_.predict(self.features(x))


@dataclass
class BiasVariance:
    """The terms of the decomposition, each averaged over the test inputs (squared units of y)."""

    bias2: float  # mean_x (E_D[f_D(x)] - f(x))^2
    variance: float  # mean_x Var_D[f_D(x)]
    noise: float  # sigma^2, the irreducible error
    test_error: float  # mean over training sets and test inputs of (y_new - f_D(x))^2, measured directly
    mean_prediction: np.ndarray  # (n_test,) E_D[f_D(x)]
    predictions: np.ndarray  # (n_datasets, n_test) every fitted model's predictions

    @property
    def total(self) -> float:
        """bias^2 + variance + noise: the decomposition's prediction of :attr:`test_error`."""
        return self.bias2 + self.variance + self.noise


def bias_variance_decomposition(make_model: Callable[[], object], *, x_train: np.ndarray | int, noise_sd: float,
                                n_datasets: int, x_test: np.ndarray, seed: int = 0,
                                f: Callable[[np.ndarray], np.ndarray] = true_function) -> BiasVariance:  # fmt: skip
    """Fit ``make_model()`` on ``n_datasets`` training sets and decompose its squared error at ``x_test`` (n_test,).

    ``x_train``: the training inputs (n,), the same in every set (a fixed design: only the noise is redrawn), or
    an int n for n fresh uniform inputs per set (a random design, which adds the variance of where points fall).
    ``make_model()`` returns a fresh model with ``fit(x, y)`` and ``predict(x)`` on 1-D inputs. The noise comes
    from ``np.random.default_rng(seed)``: the same seed gives every model the same training sets, so that
    differences between models are not sampling noise.
    """
    if n_datasets < 2:
        raise ValueError(f"n_datasets must be >= 2 to measure a variance, got {n_datasets}.")
    x_test = np.asarray(x_test, dtype=np.float64)
    rng = np.random.default_rng(seed)
    predictions = np.empty((n_datasets, len(x_test)))  # (n_datasets, n_test)
    for i in range(n_datasets):
        x, y = (sample_dataset(x_train, noise_sd, rng, f) if isinstance(x_train, (int, np.integer))
                else sample_dataset(len(x_train), noise_sd, rng, f, x=x_train))
        predictions[i] = make_model().fit(x, y).predict(x_test)
    y_new = f(x_test) + noise_sd * rng.standard_normal(predictions.shape)  # fresh targets, (n_datasets, n_test)
    mean_prediction = predictions.mean(axis=0)  # (n_test,)
    return BiasVariance(
        bias2=float(((mean_prediction - f(x_test)) ** 2).mean()),
        variance=float(predictions.var(axis=0).mean()),  # ddof=0: bias^2 + variance = mean (f_D - f)^2 exactly
        noise=noise_sd**2,
        test_error=float(((y_new - predictions) ** 2).mean()),
        mean_prediction=mean_prediction,
        predictions=predictions,
    )
