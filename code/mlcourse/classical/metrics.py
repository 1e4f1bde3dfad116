"""Binary classification metrics from scratch, each equal to its namesake in ``sklearn.metrics``.

What it does: every number chapter 7 reads off a classifier, from three kinds of input:

* hard predictions: :func:`confusion_matrix`, :func:`binary_counts` (tn, fp, fn, tp), :func:`accuracy_score`,
  :func:`precision_score`, :func:`recall_score`, :func:`f1_score`;
* scores, ranked (any real numbers: SVM margins, logits, probabilities): :func:`threshold_counts` (fp and tp at
  every distinct score, tied scores grouped), :func:`roc_curve`, :func:`roc_auc_score` (trapezoids),
  :func:`auc_by_ranks` (the Mann-Whitney statistic, with mid-ranks for ties), :func:`precision_recall_curve`,
  :func:`average_precision_score`;
* probabilities of the positive class: :func:`log_loss`, :func:`brier_score_loss`, :func:`calibration_curve`;
* decisions with costs: :func:`expected_cost` at given thresholds, :func:`choose_threshold` (the cheapest on
  validation data) and :func:`bayes_threshold` (the cheapest for calibrated probabilities).

A prediction is positive when its score is >= the threshold, as in scikit-learn. Where a metric divides by a
count that is 0 (precision with no positive predictions), it returns ``zero_division`` (0.0), which is
scikit-learn's value without its warning. Where a metric has no meaning (ROC AUC with a single class in y_true),
it raises a ``ValueError`` that says so (scikit-learn warns and returns NaN for the curves).

What it does not do: more than two classes (averages over classes), sample weights, or the expected calibration
error of the top label (chapter 3's :func:`~mlcourse.classical.softmax.top_label_calibration`, for K classes).
Taught in chapter 7.
"""

from __future__ import annotations

import numpy as np


def _labels_and(y_true: np.ndarray, values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(y_true (n,), values (n,)) as arrays, after checking they are 1-D, non-empty and of the same length."""
    y_true, values = np.asarray(y_true), np.asarray(values)
    for what, array in (("y_true", y_true), (name, values)):
        if array.ndim != 1:
            raise ValueError(f"{what} must be 1-D, (n_samples,); got shape {array.shape}.")
    if len(y_true) != len(values) or len(y_true) == 0:
        raise ValueError(f"y_true has {len(y_true)} values and {name} {len(values)}: they must describe the same, "
                         "non-empty set of samples.")
    return y_true, values


def _positives(y_true: np.ndarray, scores: np.ndarray, pos_label: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(is_positive (n,) bool, scores (n,) float64), the scores checked to be finite."""
    y_true, scores = _labels_and(y_true, scores, name)
    scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} has {int((~np.isfinite(scores)).sum())} NaN or infinite value(s).")
    return y_true == pos_label, scores


def _probabilities(y_true: np.ndarray, proba: np.ndarray, pos_label: object) -> tuple[np.ndarray, np.ndarray]:
    """(y (n,) 0/1 float, proba (n,)), the probabilities checked to lie in [0, 1]."""
    positive, proba = _positives(y_true, proba, pos_label, "y_proba")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError(f"y_proba must hold probabilities in [0, 1]; got values from {proba.min():.3g} to "
                         f"{proba.max():.3g}. Scores such as SVM margins or logits are not probabilities.")
    return positive.astype(np.float64), proba


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """(K, K) counts: entry [i, j] = samples of true class labels[i] predicted as labels[j] (rows true).

    ``labels`` defaults to the sorted union of the labels in y_true and y_pred, so a class that is never
    predicted still gets its column (of zeros).
    """
    y_true, y_pred = _labels_and(y_true, y_pred, "y_pred")
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    index = {label: k for k, label in enumerate(labels.tolist())}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in index and p in index:  # samples whose labels are not listed are left out, as in scikit-learn
            matrix[index[t], index[p]] += 1
    return matrix


def binary_counts(y_true: np.ndarray, y_pred: np.ndarray, pos_label: object = 1) -> tuple[int, int, int, int]:
    """(tn, fp, fn, tp): the four cells of the binary confusion matrix, ``pos_label`` the positive class."""
    y_true, y_pred = _labels_and(y_true, y_pred, "y_pred")
    actual, predicted = y_true == pos_label, y_pred == pos_label
    return (int(np.sum(~actual & ~predicted)), int(np.sum(~actual & predicted)), int(np.sum(actual & ~predicted)),
            int(np.sum(actual & predicted)))  # fmt: skip


def accuracy_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The fraction of samples whose predicted label equals the true one: (tp + tn) / n for two classes."""
    y_true, y_pred = _labels_and(y_true, y_pred, "y_pred")
    return float(np.mean(y_true == y_pred))


def _ratio(numerator: int, denominator: int, zero_division: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float(zero_division)


def precision_score(y_true: np.ndarray, y_pred: np.ndarray, *, pos_label: object = 1,
                    zero_division: float = 0.0) -> float:  # fmt: skip
    """tp / (tp + fp): of the samples predicted positive, the fraction that are. ``zero_division`` if none is."""
    _, fp, _, tp = binary_counts(y_true, y_pred, pos_label)
    return _ratio(tp, tp + fp, zero_division)


def recall_score(y_true: np.ndarray, y_pred: np.ndarray, *, pos_label: object = 1, zero_division: float = 0.0) -> float:
    """tp / (tp + fn): of the positive samples, the fraction found (the true-positive rate, sensitivity)."""
    _, _, fn, tp = binary_counts(y_true, y_pred, pos_label)
    return _ratio(tp, tp + fn, zero_division)


def f1_score(y_true: np.ndarray, y_pred: np.ndarray, *, pos_label: object = 1, zero_division: float = 0.0) -> float:
    """2 P R / (P + R) = 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    _, fp, fn, tp = binary_counts(y_true, y_pred, pos_label)
    return _ratio(2 * tp, 2 * tp + fp + fn, zero_division)


def threshold_counts(y_true: np.ndarray, y_score: np.ndarray, *,
                     pos_label: object = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(fps, tps, thresholds), each (m,): with threshold t = each distinct score, high to low, the false and true
    positives of the rule "positive when score >= t". Tied scores share one threshold: they cross it together.
    """
    positive, scores = _positives(y_true, y_score, pos_label, "y_score")
    order = np.argsort(scores, kind="mergesort")[::-1]  # high to low
    scores, positive = scores[order], positive[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # (m,) last index of each tied run
    tps = np.cumsum(positive)[last_of_run].astype(np.float64)
    fps = 1.0 + last_of_run - tps  # samples at or above the threshold, minus the true positives
    return fps, tps, scores[last_of_run]


def _need_both_classes(positives: float, negatives: float, what: str) -> None:
    if positives == 0 or negatives == 0:
        missing = "positive" if positives == 0 else "negative"
        raise ValueError(f"y_true has no {missing} sample, so {what} is undefined: it needs both classes.")


def roc_curve(y_true: np.ndarray, y_score: np.ndarray, *, pos_label: object = 1,
              drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(fpr, tpr, thresholds): false-positive rate fp / negatives against true-positive rate tp / positives.

    The curve starts at (0, 0) with threshold +inf (nothing predicted positive) and ends at (1, 1).
    ``drop_intermediate`` removes points on straight segments between two others, as scikit-learn does; the
    area does not change.
    """
    fps, tps, thresholds = threshold_counts(y_true, y_score, pos_label=pos_label)
    _need_both_classes(tps[-1], fps[-1], "the ROC curve")
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps, thresholds = np.r_[0.0, fps], np.r_[0.0, tps], np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def roc_auc_score(y_true: np.ndarray, y_score: np.ndarray, *, pos_label: object = 1) -> float:
    """The area under the ROC curve, by the trapezoid rule (a tied run of scores is a straight segment)."""
    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=pos_label, drop_intermediate=False)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def auc_by_ranks(y_true: np.ndarray, y_score: np.ndarray, *, pos_label: object = 1) -> float:
    """ROC AUC as a rank statistic: P(score of a random positive > score of a random negative) + 1/2 P(tie).

    Rank all scores from 1 (lowest) to n, giving tied scores the mean of their ranks; then
    AUC = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg) (Mann-Whitney U / n_pos n_neg).
    """
    positive, scores = _positives(y_true, y_score, pos_label, "y_score")
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    _need_both_classes(n_pos, n_neg, "ROC AUC")
    _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)  # group: (n,) tied-run index
    last_rank = np.cumsum(counts)  # (m,) the rank of the last member of each run of tied scores
    mid_rank = last_rank - (counts - 1) / 2.0  # (m,) the mean of the ranks the run occupies
    rank_sum = float(mid_rank[group][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def precision_recall_curve(y_true: np.ndarray, y_score: np.ndarray, *,
                           pos_label: object = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(precision, recall, thresholds) in scikit-learn's order: thresholds increasing (m,), recall decreasing.

    precision and recall have m + 1 entries: the last point, (recall 0, precision 1), has no threshold.
    """
    fps, tps, thresholds = threshold_counts(y_true, y_score, pos_label=pos_label)
    _need_both_classes(tps[-1], 1.0, "recall")
    precision = tps / (tps + fps)  # tps + fps >= 1: each threshold predicts at least its own run positive
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true: np.ndarray, y_score: np.ndarray, *, pos_label: object = 1) -> float:
    """AP = sum_k (R_k - R_{k-1}) P_k over the thresholds, high to low: the precision averaged over the recall
    gained at each threshold (a step function, no interpolation, as in scikit-learn)."""
    precision, recall, _ = precision_recall_curve(y_true, y_score, pos_label=pos_label)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def log_loss(y_true: np.ndarray, y_proba: np.ndarray, *, pos_label: object = 1) -> float:
    """Mean binary cross-entropy, in nats, of probabilities ``y_proba`` (n,) of the positive class.

    Probabilities are clipped to [eps, 1 - eps] (eps = 2.2e-16, float64's) as in scikit-learn, so a confident
    mistake costs at most about 36 nats instead of infinity. A model that has logits should use chapter 2's
    :func:`~mlcourse.classical.logistic.binary_cross_entropy` on them, which needs no clipping.
    """
    y, proba = _probabilities(y_true, y_proba, pos_label)
    eps = np.finfo(np.float64).eps
    proba = np.clip(proba, eps, 1 - eps)
    return float(-np.mean(y * np.log(proba) + (1 - y) * np.log(1 - proba)))


def brier_score_loss(y_true: np.ndarray, y_proba: np.ndarray, *, pos_label: object = 1) -> float:
    """The Brier score, mean (p_i - y_i)^2: 0 for certain and right, 1/4 for always answering 1/2."""
    y, proba = _probabilities(y_true, y_proba, pos_label)
    return float(np.mean((proba - y) ** 2))


def calibration_curve(y_true: np.ndarray, y_proba: np.ndarray, *, n_bins: int = 10, strategy: str = "uniform",
                      pos_label: object = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(fraction_positive, mean_predicted, counts) over the non-empty bins, low to high (scikit-learn's first two).

    ``strategy="uniform"``: n_bins equal-width bins on [0, 1]; ``"quantile"``: edges at the quantiles of
    y_proba, so every bin holds about n / n_bins samples. A probability equal to an inner edge goes to the bin
    below it (``np.searchsorted``), as in scikit-learn.
    """
    y, proba = _probabilities(y_true, y_proba, pos_label)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(proba, np.linspace(0, 100, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}.")
    bins = np.searchsorted(edges[1:-1], proba)  # (n,) bin index in [0, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    filled = counts > 0
    fraction_positive = np.bincount(bins, y, n_bins)[filled] / counts[filled]
    mean_predicted = np.bincount(bins, proba, n_bins)[filled] / counts[filled]
    return fraction_positive, mean_predicted, counts[filled]


def expected_cost(y_true: np.ndarray, y_score: np.ndarray, thresholds: np.ndarray, *, cost_fp: float,
                  cost_fn: float, pos_label: object = 1) -> np.ndarray:  # fmt: skip
    """(len(thresholds),) the mean cost per sample, (cost_fp fp + cost_fn fn) / n, of "positive when score >= t"."""
    positive, scores = _positives(y_true, y_score, pos_label, "y_score")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    negative_scores, positive_scores = np.sort(scores[~positive]), np.sort(scores[positive])
    fp = len(negative_scores) - np.searchsorted(negative_scores, thresholds, side="left")  # negatives >= t
    fn = np.searchsorted(positive_scores, thresholds, side="left")  # positives < t
    return (cost_fp * fp + cost_fn * fn) / len(scores)


def choose_threshold(y_true: np.ndarray, y_score: np.ndarray, *, cost_fp: float, cost_fn: float,
                     pos_label: object = 1) -> tuple[float, float]:  # fmt: skip
    """(threshold, its mean cost): the cheapest rule "positive when score >= t" on these (validation) data.

    The candidates are the midpoints between consecutive distinct scores, plus -inf (all positive) and +inf
    (all negative): every distinct decision is tried once, with a threshold that does not sit on a sample.
    When several are equally cheap (a flat stretch of the cost curve), the middle one wins: it is the least
    sensitive to where new samples fall.
    """
    _, scores = _positives(y_true, y_score, pos_label, "y_score")
    distinct = np.unique(scores)
    candidates = np.r_[-np.inf, (distinct[1:] + distinct[:-1]) / 2, np.inf]
    costs = expected_cost(y_true, scores, candidates, cost_fp=cost_fp, cost_fn=cost_fn, pos_label=pos_label)
    cheapest = np.flatnonzero(costs == costs.min())
    best = int(cheapest[len(cheapest) // 2])
    return float(candidates[best]), float(costs[best])


def bayes_threshold(cost_fp: float, cost_fn: float) -> float:
    """cost_fp / (cost_fp + cost_fn): predicting positive when p exceeds it minimises the expected cost, if the
    probabilities p are calibrated (then p cost_fn > (1 - p) cost_fp is exactly p > this threshold)."""
    return cost_fp / (cost_fp + cost_fn)
