"""Classification metrics (classical.metrics): each equal to sklearn.metrics, with tied scores and the edge cases
(a class never predicted, a single class, probabilities of exactly 0 and 1), the rank-statistic reading of AUC,
cost-based thresholds, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve as sk_calibration_curve

from mlcourse.classical import metrics


def scored(seed: int, n: int = 60, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(y (n,) in {0, 1} with both classes, scores (n,)): noisy scores rounded to ``decimals``, so many are tied."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    return y, np.round(rng.normal(size=n) + y, decimals)


def probabilities(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """(y (n,), p (n,)) with p rounded to 0.05 (values on bin edges) and exactly 0 and 1 present."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(n) * 20) / 20
    y = (rng.random(n) < p).astype(int)
    p[:2], y[:2] = [0.0, 1.0], [1, 0]  # two confident mistakes: log(0) without clipping
    return y, p


SEEDS = range(8)

# ---------------------------------------------------------------- hard predictions


@pytest.mark.parametrize("seed", SEEDS)
def test_counting_metrics_equal_sklearn(seed):
    """Exact equality: both count the same integers and divide once."""
    y, s = scored(seed)
    y_pred = (s > 0.5).astype(int)
    assert np.array_equal(metrics.confusion_matrix(y, y_pred), skm.confusion_matrix(y, y_pred))
    tn, fp, fn, tp = metrics.binary_counts(y, y_pred)
    assert (tn, fp, fn, tp) == tuple(skm.confusion_matrix(y, y_pred).ravel())
    assert metrics.accuracy_score(y, y_pred) == skm.accuracy_score(y, y_pred)
    for ours, ref in ((metrics.precision_score, skm.precision_score), (metrics.recall_score, skm.recall_score),
                      (metrics.f1_score, skm.f1_score)):  # fmt: skip
        assert ours(y, y_pred) == pytest.approx(ref(y, y_pred), abs=1e-15)


def test_a_class_never_predicted():
    """'Always negative': precision is 0 / 0, returned as 0 (scikit-learn's zero_division=0), recall and F1 are 0,
    and the confusion matrix keeps the empty 'predicted positive' column."""
    y = np.array([0] * 19 + [1])
    never = np.zeros(20, dtype=int)
    assert metrics.accuracy_score(y, never) == 0.95
    for ours, ref in ((metrics.precision_score, skm.precision_score), (metrics.recall_score, skm.recall_score),
                      (metrics.f1_score, skm.f1_score)):  # fmt: skip
        assert ours(y, never) == ref(y, never, zero_division=0.0) == 0.0
    assert metrics.precision_score(y, never, zero_division=1.0) == 1.0
    assert metrics.confusion_matrix(y, never).tolist() == [[19, 0], [1, 0]]
    assert metrics.confusion_matrix(never, never, labels=np.array([0, 1])).tolist() == [[20, 0], [0, 0]]


def test_multiclass_confusion_matrix_and_string_labels():
    y_true = np.array(["cat", "dog", "bird", "dog", "cat", "bird"])
    y_pred = np.array(["cat", "cat", "bird", "dog", "dog", "cat"])
    assert np.array_equal(metrics.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))
    order = np.array(["dog", "cat", "bird"])
    assert np.array_equal(metrics.confusion_matrix(y_true, y_pred, order),
                          skm.confusion_matrix(y_true, y_pred, labels=order))  # fmt: skip
    assert metrics.precision_score(y_true, y_pred, pos_label="cat") == pytest.approx(
        skm.precision_score(y_true == "cat", y_pred == "cat"))


# ---------------------------------------------------------------- scores and curves


@pytest.mark.parametrize("decimals", [0, 1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_curves_equal_sklearn_with_tied_scores(seed, decimals):
    """Exact equality of every point and threshold (same arithmetic on the same counts); AUC and AP to 1e-12."""
    y, s = scored(seed, decimals=decimals)
    for drop in (True, False):
        for ours, ref in zip(metrics.roc_curve(y, s, drop_intermediate=drop),
                             skm.roc_curve(y, s, drop_intermediate=drop)):  # fmt: skip
            assert np.array_equal(ours, ref)
    for ours, ref in zip(metrics.precision_recall_curve(y, s), skm.precision_recall_curve(y, s)):
        assert ours.shape == ref.shape and np.allclose(ours, ref, rtol=0, atol=1e-15)
    assert metrics.roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert metrics.auc_by_ranks(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision_score(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_auc_is_the_probability_that_a_positive_outranks_a_negative(seed):
    y, s = scored(seed, decimals=0)  # heavy ties
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    pairwise = np.mean(pos > neg) + 0.5 * np.mean(pos == neg)  # every (positive, negative) pair
    assert metrics.roc_auc_score(y, s) == pytest.approx(pairwise, abs=1e-12)
    assert metrics.auc_by_ranks(y, s) == pytest.approx(pairwise, abs=1e-12)


def test_auc_known_answers():
    y = np.array([0, 0, 1, 1])
    assert metrics.roc_auc_score(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0  # perfect ranking
    assert metrics.roc_auc_score(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0  # perfectly reversed
    assert metrics.roc_auc_score(y, np.zeros(4)) == 0.5 == metrics.auc_by_ranks(y, np.zeros(4))  # all tied
    assert metrics.roc_auc_score(y, np.array([3.0, -1.0, 2.0, 10.0])) == 0.75  # scores need not be probabilities
    assert metrics.average_precision_score(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.average_precision_score(y, np.zeros(4)) == 0.5  # one threshold: precision = prevalence


def test_threshold_counts_group_ties():
    fps, tps, thresholds = metrics.threshold_counts(np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.5, 0.5, 0.5, 0.1]))
    assert thresholds.tolist() == [0.9, 0.5, 0.1] and tps.tolist() == [1, 2, 3] and fps.tolist() == [0, 2, 2]


def test_string_labels_with_pos_label():
    y, s = scored(3)
    words = np.where(y == 1, "spam", "ham")
    assert metrics.roc_auc_score(words, s, pos_label="spam") == pytest.approx(skm.roc_auc_score(y, s))
    assert metrics.average_precision_score(words, s, pos_label="spam") == pytest.approx(
        skm.average_precision_score(words, s, pos_label="spam"))


# ---------------------------------------------------------------- probabilities


@pytest.mark.parametrize("seed", SEEDS)
def test_probability_scores_equal_sklearn(seed):
    """log loss to 1e-12 relative (both clip at float64's eps, so p = 0 and 1 give the same finite loss); Brier and
    the calibration curve exactly (the same sums), including probabilities on the bin edges."""
    y, p = probabilities(seed)
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert metrics.brier_score_loss(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-15)
    for strategy in ("uniform", "quantile"):
        for n_bins in (4, 10):
            fraction, mean_p, counts = metrics.calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
            ref_fraction, ref_mean_p = sk_calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
            assert np.allclose(fraction, ref_fraction, atol=1e-15) and np.allclose(mean_p, ref_mean_p, atol=1e-15)
            assert counts.sum() == len(p) and counts.min() > 0


def test_log_loss_and_brier_known_answers():
    y = np.array([0, 1])
    assert metrics.log_loss(y, np.array([0.5, 0.5])) == pytest.approx(np.log(2))
    assert metrics.brier_score_loss(y, np.array([0.5, 0.5])) == 0.25
    assert metrics.brier_score_loss(y, np.array([0.0, 1.0])) == 0.0
    assert metrics.log_loss(y, np.array([1.0, 0.0])) == pytest.approx(-np.log(np.finfo(float).eps))  # ~36 nats


# ---------------------------------------------------------------- costs and thresholds


def test_expected_cost_counts_errors_at_each_threshold():
    y, s = scored(4)
    thresholds = np.array([-np.inf, -1.0, 0.5, 0.6, 1.2, np.inf])
    got = metrics.expected_cost(y, s, thresholds, cost_fp=1.0, cost_fn=5.0)
    brute = [(np.sum((s >= t) & (y == 0)) + 5.0 * np.sum((s < t) & (y == 1))) / len(y) for t in thresholds]
    assert np.allclose(got, brute)
    assert got[0] == pytest.approx(np.mean(y == 0)) and got[-1] == pytest.approx(5.0 * np.mean(y == 1))


def test_choose_threshold_finds_the_cheapest_rule():
    y, s = scored(5, n=200, decimals=2)
    for cost_fp, cost_fn in ((1.0, 1.0), (1.0, 10.0), (10.0, 1.0)):
        threshold, cost = metrics.choose_threshold(y, s, cost_fp=cost_fp, cost_fn=cost_fn)
        every = np.r_[np.unique(s), np.inf]  # every distinct decision
        brute = metrics.expected_cost(y, s, every, cost_fp=cost_fp, cost_fn=cost_fn).min()
        assert cost == pytest.approx(brute) and threshold not in s  # a midpoint, not a sample's own score
    low, _ = metrics.choose_threshold(y, s, cost_fp=1.0, cost_fn=10.0)
    high, _ = metrics.choose_threshold(y, s, cost_fp=10.0, cost_fn=1.0)
    assert low < high  # missing positives is expensive: predict positive more readily


def test_bayes_threshold_is_optimal_for_calibrated_probabilities():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(len(p)) < p).astype(int)  # calibrated by construction
    best, _ = metrics.choose_threshold(y, np.round(p, 3), cost_fp=1.0, cost_fn=4.0)
    assert metrics.bayes_threshold(1.0, 4.0) == 0.2 and best == pytest.approx(0.2, abs=0.02)


# ---------------------------------------------------------------- failures that must be loud


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.roc_auc_score(np.ones(4), np.arange(4.0)), "no negative sample.*needs both classes"),
    (lambda: metrics.roc_curve(np.zeros(4), np.arange(4.0)), "no positive sample"),
    (lambda: metrics.average_precision_score(np.zeros(4), np.arange(4.0)), "no positive sample"),
    (lambda: metrics.roc_auc_score(np.array([0, 1, 1]), np.array([0.1, np.nan, 0.3])), "NaN or infinite"),
    (lambda: metrics.log_loss(np.array([0, 1]), np.array([-0.5, 2.0])), "probabilities in \\[0, 1\\].*not probab"),
    (lambda: metrics.accuracy_score(np.zeros(3), np.zeros(4)), "y_true has 3 values and y_pred 4"),
    (lambda: metrics.precision_score(np.zeros((3, 2)), np.zeros(3)), "y_true must be 1-D"),
    (lambda: metrics.calibration_curve(np.array([0, 1]), np.array([0.2, 0.8]), strategy="equal"), "strategy must"),
    (lambda: metrics.auc_by_ranks(np.array([]), np.array([])), "non-empty"),
])  # fmt: skip
def test_bad_input_is_rejected_with_a_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
