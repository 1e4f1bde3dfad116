"""Tests of mlcourse.classical.softmax (chapter 3): the stable softmax and its loss against scipy and torch, the
gradient against finite differences, the two models against scikit-learn, known answers, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from mlcourse.classical.gradient_descent import numerical_gradient
from mlcourse.classical.logistic import LogisticRegression, add_intercept
from mlcourse.classical.softmax import (
    OneVsRest, SoftmaxRegression, log_softmax, logsumexp, one_hot, softmax, softmax_cross_entropy,
    softmax_loss_and_grad, top_label_calibration,
)


@pytest.fixture(scope="module")
def digits():
    """Standardised digits, 600 training rows (to keep the file fast) and 300 held-out rows."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:600], order[600:900]
    mean, std = X[train].mean(0), X[train].std(0)
    std[std == 0] = 1.0
    return (X[train] - mean) / std, y[train], (X[test] - mean) / std, y[test]


def blobs(seed: int = 0, n_per_class: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian classes in 2-D: not separable, so the unpenalised loss has a unique minimum."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.7]])
    X = np.concatenate([rng.normal(m, 1.0, size=(n_per_class, 2)) for m in means])
    return X, np.repeat(np.arange(3), n_per_class)


# ---------------------------------------------------------------- softmax, log-sum-exp, the loss


def test_softmax_and_logsumexp_equal_scipy():
    z = np.random.default_rng(0).normal(size=(7, 5)) * 3
    np.testing.assert_allclose(softmax(z), scipy.special.softmax(z, axis=-1), atol=1e-15)
    np.testing.assert_allclose(logsumexp(z), scipy.special.logsumexp(z, axis=-1), atol=1e-13)
    np.testing.assert_allclose(log_softmax(z), scipy.special.log_softmax(z, axis=-1), atol=1e-13)
    np.testing.assert_allclose(softmax(z).sum(axis=-1), 1.0, atol=1e-15)


def test_softmax_is_stable_and_shift_invariant_on_huge_logits():
    z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        p = softmax(z)
        lse = logsumexp(z)
    expected = scipy.special.softmax([0.0, 1.0, 2.0])
    np.testing.assert_allclose(p, [expected, expected[::-1]], atol=1e-15)
    tail = np.log(np.exp([-2.0, -1.0, 0.0]).sum())  # log(e^-2 + e^-1 + e^0): the part below the largest logit
    np.testing.assert_allclose(lse, [1002 + tail, -1000 + tail])
    assert np.isfinite(log_softmax(z)).all()


def test_cross_entropy_and_its_logit_gradient_equal_torch():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(9, 4)) * 5, rng.integers(0, 4, size=9)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    z = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(z, torch.tensor(labels))
    ref.backward()
    assert loss == pytest.approx(ref.item(), abs=1e-12)
    np.testing.assert_allclose(dlogits, z.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(dlogits, (softmax(logits) - one_hot(labels, 4)) / 9, atol=1e-15)  # (P - Y) / n


def test_cross_entropy_stays_finite_when_a_probability_rounds_to_zero():
    loss, _ = softmax_cross_entropy(np.array([[0.0, 800.0]]), np.array([0]))
    assert loss == pytest.approx(800.0)  # log(softmax) would give -log(0) = inf


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_gradient_matches_finite_differences(l2):
    rng = np.random.default_rng(2)
    X1 = add_intercept(rng.normal(size=(12, 3)))
    labels, params = rng.integers(0, 4, size=12), rng.normal(size=(4, 4))
    _, grad = softmax_loss_and_grad(params, X1, labels, l2)
    numeric = numerical_gradient(lambda w: softmax_loss_and_grad(w.reshape(4, 4), X1, labels, l2)[0], params.ravel())
    np.testing.assert_allclose(grad.ravel(), numeric, atol=1e-8)


# ---------------------------------------------------------------- equal to scikit-learn


def test_l2_softmax_regression_equals_sklearn_multinomial(digits):
    # Tolerance 2e-4 on coefficients and probabilities: both solvers stop at a small gradient (ours max|g| < 1e-7,
    # L-BFGS at tol=1e-10), and the error in the weights is about max|g| / (smallest curvature ~ l2 = 0.01).
    X, y, X_test, _ = digits
    l2 = 0.01
    ours = SoftmaxRegression(l2=l2, tol=1e-7).fit(X, y)
    ref = SkLogisticRegression(C=1 / (len(y) * l2), tol=1e-10, max_iter=10_000).fit(X, y)
    assert ours.converged_
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=2e-4)
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(X_test), atol=2e-4)
    assert (ours.predict(X_test) == ref.predict(X_test)).all()


def test_unpenalised_softmax_regression_equals_sklearn_with_C_inf():
    # Unpenalised weights are unique only up to adding one vector to every class; gradient descent from zeros and
    # L-BFGS both keep sum_k W_k = 0, so they meet at the same point. Overlapping classes: a finite minimum exists.
    X, y = blobs()
    ours = SoftmaxRegression(tol=1e-9).fit(X, y)
    ref = SkLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-10)


def test_one_vs_rest_equals_sklearn(digits):
    # Each binary model is chapter 2's Newton fit (max|g| < 1e-10): 1e-5 is far above what separates the solvers.
    X, y, X_test, _ = digits
    l2 = 0.01
    ours = OneVsRest(l2=l2).fit(X, y)
    ref = OneVsRestClassifier(SkLogisticRegression(C=1 / (len(y) * l2), tol=1e-10, max_iter=10_000)).fit(X, y)
    np.testing.assert_allclose(ours.coef_, np.vstack([e.coef_ for e in ref.estimators_]), atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X_test), ref.predict_proba(X_test), atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X_test).sum(axis=1), 1.0, atol=1e-12)


# ---------------------------------------------------------------- known answers


def test_intercept_only_model_learns_the_log_class_frequencies():
    # With a feature that carries nothing (all zeros), the best softmax(b) is the class frequencies.
    y = np.array([0] * 10 + [1] * 30 + [2] * 60)
    model = SoftmaxRegression(tol=1e-10).fit(np.zeros((100, 1)), y)
    np.testing.assert_allclose(softmax(model.intercept_), [0.1, 0.3, 0.6], atol=1e-8)
    log_freq = np.log([0.1, 0.3, 0.6])
    np.testing.assert_allclose(model.intercept_, log_freq - log_freq.mean(), atol=1e-8)  # centred: sum_k b_k = 0


def test_two_class_softmax_is_logistic_regression_on_the_logit_difference():
    X, y = blobs()
    X, y = X[y < 2], y[y < 2]
    soft = SoftmaxRegression(l2=0.1, tol=1e-10).fit(X, y)
    # Centred, W0 = -W1, so beta = W1 - W0 = 2 W1 and l2/2 (|W0|^2 + |W1|^2) = (l2 / 2) / 2 |beta|^2: half the l2.
    logistic = LogisticRegression(l2=0.05).fit(X, y)
    np.testing.assert_allclose(soft.coef_[1] - soft.coef_[0], logistic.coef_, atol=1e-7)
    np.testing.assert_allclose(soft.predict_proba(X)[:, 1], logistic.predict_proba(X)[:, 1], atol=1e-7)


def test_labels_of_any_kind_come_back_as_given():
    X, y = blobs(n_per_class=20)
    names = np.array(["cat", "dog", "eel"])[y]
    model = SoftmaxRegression(l2=0.1).fit(X, names)
    assert set(model.predict(X)) <= {"cat", "dog", "eel"} and model.score(X, names) > 0.6
    assert list(model.classes_) == ["cat", "dog", "eel"]


def test_calibration_of_a_known_example():
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 0])
    table = top_label_calibration(proba, labels, n_bins=10)
    assert table["count"][9] == 2 and table["accuracy"][9] == 0.5 and table["confidence"][9] == pytest.approx(0.9)
    assert table["ece"] == pytest.approx((2 * 0.4 + 1 * 0.4 + 1 * 0.7) / 4)
    assert np.isnan(table["accuracy"][0])  # empty bin
    perfect = top_label_calibration(np.tile([[1.0, 0.0]], (5, 1)), np.zeros(5, dtype=int))
    assert perfect["ece"] == 0.0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("X, y, message", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN or infinite"),
    (np.arange(4.0), [0, 1, 0, 1], "must be 2-D"),
    (np.ones((4, 2)), [0, 1, 0], "4 rows but y has 3"),
    (np.random.default_rng(0).normal(size=(4, 2)), [3, 3, 3, 3], "single class"),
])  # fmt: skip
def test_bad_input_is_refused_with_the_reason(X, y, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxRegression().fit(X, y)


def test_unscaled_features_are_refused_with_the_fix():
    X, y = load_digits(return_X_y=True)  # raw pixels: some columns vary by 0.02, others by 6.5
    with pytest.raises(ValueError, match=r"range from 0.0236 to 6.54 .* Standardise X first"):
        SoftmaxRegression().fit(X, y)


def test_a_learning_rate_that_diverges_says_so():
    X, y = blobs(n_per_class=20)
    # The cross-entropy grows at most linearly in the weights, so only an absurd step makes it blow up.
    with pytest.raises(FloatingPointError, match="diverged .* lower lr"):
        SoftmaxRegression(lr=1e9, momentum=0.0).fit(X, y)


def test_use_before_fit_and_wrong_width_are_refused():
    X, y = blobs(n_per_class=20)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        SoftmaxRegression().predict(X)
    with pytest.raises(ValueError, match="3 features but the model was fitted on 2"):
        SoftmaxRegression(l2=0.1).fit(X, y).predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3 features but the model was fitted on 2"):
        OneVsRest(l2=0.1).fit(X, y).predict_proba(np.ones((2, 3)))
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        SoftmaxRegression(l2=-1.0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        one_hot(np.array([0, 3]), 3)
