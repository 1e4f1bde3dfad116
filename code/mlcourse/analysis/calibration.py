"""Epistemic confidence: does a model's probability for its answer match how often that answer is right?

What it does (chapter 17 measures the base and the instruction-tuned model with it; any classifier's
probabilities work as well):
  * :func:`reliability_bins`: the answers grouped by confidence into equal-width bins; per bin the count, the
    mean confidence and the accuracy: the numbers behind a reliability diagram.
  * :func:`expected_calibration_error` (ECE, Naeini et al. 2015; Guo et al. 2017):
    ``ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|``, the gap between the diagonal and the diagram,
    weighted by how many answers fall in each bin. 0 is perfect calibration; a model that always says 100 % and
    is right half the time has ECE 0.5.
  * :func:`fit_temperature` (temperature scaling, Guo et al. 2017): one scalar T > 0 that divides the logits,
    fitted by minimising the negative log-likelihood on a validation split. It changes confidence, never the
    ranking (argmax), so accuracy is untouched; :func:`softmax_confidence` reads confidence and correctness
    from logits at a given T.

What it deliberately does not do: adaptive (equal-mass) bins, classwise ECE, or plotting (the chapter draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of :func:`reliability_bins`; arrays of length ``n_bins`` (empty bins: NaN means)."""

    edges: np.ndarray  # (n_bins + 1,) from 0 to 1
    count: np.ndarray  # (n_bins,) answers whose confidence falls in the bin
    confidence: np.ndarray  # (n_bins,) mean confidence in the bin, NaN when empty
    accuracy: np.ndarray  # (n_bins,) fraction correct in the bin, NaN when empty

    def table(self) -> list[dict[str, float]]:
        """One row per non-empty bin: ``lo, hi, count, confidence, accuracy, gap`` (accuracy - confidence)."""
        rows = []
        for b in np.flatnonzero(self.count):
            rows.append({"lo": float(self.edges[b]), "hi": float(self.edges[b + 1]), "count": int(self.count[b]),
                         "confidence": float(self.confidence[b]), "accuracy": float(self.accuracy[b]),
                         "gap": float(self.accuracy[b] - self.confidence[b])})
        return rows


def _check(confidences: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=float).ravel()
    hit = np.asarray(correct).ravel()
    if conf.shape != hit.shape:
        raise ValueError(f"confidences and correct must have the same length, got {conf.size} and {hit.size}")
    if conf.size == 0:
        raise ValueError("no answers to bin: pass at least one confidence and one correctness flag")
    if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
        raise ValueError("confidences must be probabilities in [0, 1]; did you pass logits? apply a softmax first")
    if not np.isin(hit, (0, 1, True, False)).all():
        raise ValueError("correct must hold booleans (or 0/1): whether each answer was right")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    return conf, hit.astype(float)


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> ReliabilityBins:
    """Group answers into ``n_bins`` equal-width confidence bins ``[0, 1/n), ..., [(n-1)/n, 1]``.

    Args:
        confidences: (N,) the probability the model gave to the answer it chose.
        correct: (N,) whether that answer was right.
        n_bins: number of equal-width bins; a confidence of exactly 1 falls in the last bin.
    """
    conf, hit = _check(confidences, correct, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # (N,) bin index; 1.0 goes to the last bin
    count = np.bincount(which, minlength=n_bins).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bins: 0 / 0 -> NaN, on purpose
        confidence = np.bincount(which, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=hit, minlength=n_bins) / count
    return ReliabilityBins(edges=edges, count=count, confidence=confidence, accuracy=accuracy)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """ECE = sum over bins of (bin share of answers) x |bin accuracy - bin mean confidence|, in [0, 1]."""
    bins = reliability_bins(confidences, correct, n_bins)
    filled = bins.count > 0
    weights = bins.count[filled] / bins.count.sum()
    return float(np.sum(weights * np.abs(bins.accuracy[filled] - bins.confidence[filled])))


def softmax_confidence(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of the argmax answer and whether it is right, from ``(N, C)`` logits divided by T.

    Returns two (N,) arrays: the softmax probability of the chosen option, and chosen == label.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probs = F.softmax(logits.double() / temperature, dim=-1)  # (N, C)
    confidence, chosen = probs.max(dim=-1)
    return confidence.numpy(), (chosen == labels).numpy()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, lo: float = 0.05, hi: float = 20.0,
                    iterations: int = 60) -> float:
    """The temperature T that minimises the mean NLL of ``labels`` under ``softmax(logits / T)``.

    The NLL is convex in 1/T, so a golden-section search over log T on ``[lo, hi]`` finds it without a learning
    rate to tune. Fit it on a validation split and apply it to the test split, never the same answers.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
    z = logits.double()
    y = labels.long()

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(z / np.exp(log_t), y))

    a, b = np.log(lo), np.log(hi)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0  # golden section: each step keeps 61.8 % of the interval
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return float(np.exp((a + b) / 2.0))
