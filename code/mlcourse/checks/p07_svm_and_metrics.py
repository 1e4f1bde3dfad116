"""Checks for the exercises of chapter 7 (support vector machines and classification metrics): each compares the
learner's NumPy function with the library's on fixed inputs, tied scores and never-predicted classes included.

Where a wrong answer has a typical cause (a flipped sign, the bias penalised, a sum instead of a mean, every
sample in the hinge term instead of those inside the margin, precision and recall swapped, ties not counted as
one half, rectangles instead of trapezoids, costs swapped), the failure line names that cause. Every check prints
one verdict line (see :mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.logistic import add_intercept
from mlcourse.classical.metrics import expected_cost, roc_auc_score
from mlcourse.classical.svm import pegasos_step, pegasos_subgradient


def _array(name: str, got: Any) -> np.ndarray:
    """``got`` as a float64 array, or a failure saying what came back instead."""
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {name} as a NumPy array or a float, got {type(got).__name__}") from None


def _same(got: Any, expected: Any, atol: float = 1e-10) -> bool:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(expected) and bool(np.allclose(got, expected, rtol=1e-9, atol=atol))


def _number(name: str, got: Any, context: str) -> float:
    value = _array(name, got)
    expect(value.shape in ((), (1,)), f"expected {name} as one number, got shape {value.shape} ({context})")
    return float(value.reshape(()))


def _diagnose(got: Any, ref: Any, hints: list[tuple[Any, str]], context: str) -> None:
    """Fail with the first hint whose wrong answer equals ``got`` (and differs from the right one ``ref``)."""
    for wrong, hint in hints:
        if not _same(wrong, ref) and _same(got, wrong):
            raise CheckFailed(f"{hint} ({context})")


# ---------------------------------------------------------------- exercise 1: one Pegasos step


def _svm_problem(seed: int, n: int = 30, d: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w (d+1,), X1 (n, d+1) with the ones column first, y (n,) in {-1, +1}); no margin exactly 1."""
    rng = np.random.default_rng(seed)
    X1 = add_intercept(rng.normal(size=(n, d)))
    y = np.where(X1[:, 1] - X1[:, 2] + 0.7 * rng.normal(size=n) > 0, 1.0, -1.0)
    return 1.5 * rng.normal(size=d + 1), X1, y


def check_pegasos_step(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float, int], np.ndarray]) -> Verdict:
    """``fn(w, X1, y, l2, t) -> (d+1,)``: w - 1/(l2 t) g, g the sub-gradient of l2/2 |w[1:]|^2 + mean hinge."""

    def body() -> str:
        for seed, l2, t in ((0, 0.1, 7), (1, 0.5, 3)):
            w, X1, y = _svm_problem(seed)
            margins = y * (X1 @ w)
            context = f"l2 = {l2}, t = {t}, {int(np.sum(margins < 1))} of {len(y)} samples inside the margin"
            got = _array("the new w", fn(w.copy(), X1, y, l2, t))
            ref = pegasos_step(w, X1, y, l2, t)
            eta = 1.0 / (l2 * t)
            _, g = pegasos_subgradient(w, X1, y, l2)
            penalty = l2 * np.r_[0.0, w[1:]]
            hinge = g - penalty  # -X1[active]^T y[active] / n
            if got.shape == ref.shape and not _same(got, ref):
                _diagnose(got, ref, [
                    (w + eta * g, "the step goes uphill: subtract the sub-gradient, w - eta g"),
                    (w - eta * hinge, "the regularisation term l2 * w is missing from the sub-gradient"),
                    (w - eta * (hinge + l2 * w), "you penalised the bias w[0] too: its regularisation term must be 0"),
                    (w - eta * (len(y) * hinge + penalty),
                     "the hinge part is n times too large: average over the samples (divide by n)"),
                    (w - eta * (-X1.T @ y / len(y) + penalty),
                     "every sample contributes -y_i x_i: only those with y_i f(x_i) < 1 (inside the margin or "
                     "misclassified) do; the others sit on the flat part of the hinge"),
                    (w - eta * (-X1[margins < 0].T @ y[margins < 0] / len(y) + penalty),
                     "only the misclassified samples (y f < 0) contribute: that is the perceptron; the hinge is "
                     "sloped up to y f = 1, so samples inside the margin count too"),
                    (w - g / t, "the step is 1/t: Pegasos' step is 1 / (l2 t)"),
                    (w - g / l2, "the step is 1/l2: Pegasos' step is 1 / (l2 t), it shrinks with t"),
                    (-eta * g, "you returned the step; return the new parameters w - eta g"),
                    (eta * g, "you returned the step; return the new parameters w - eta g"),
                ], context)  # fmt: skip
            expect_close("new w", torch.as_tensor(got), torch.as_tensor(ref), atol=1e-10, rtol=1e-9,
                         context=context)  # fmt: skip
        return "equals the library's Pegasos step, bias unpenalised"

    return run_check("Pegasos step", body)


# ---------------------------------------------------------------- exercise 2: precision, recall, F1


CONFUSION_CASES = (
    ("a typical classifier", np.array([[50, 10], [5, 35]])),
    ("a rare positive class", np.array([[90, 2], [6, 2]])),
    ("'always negative': no positive predictions", np.array([[19, 0], [1, 0]])),
)  # rows: true class (negative, positive); columns: predicted class (negative, positive)


def precision_recall_f1_reference(matrix: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of the positive class (row and column 1); 0.0 where a denominator is 0."""
    (tn, fp), (fn, tp) = np.asarray(matrix)
    ratio = lambda a, b: float(a / b) if b > 0 else 0.0  # noqa: E731
    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)


def check_precision_recall_f1(fn: Callable[[np.ndarray], tuple[float, float, float]]) -> Verdict:
    """``fn(matrix (2, 2)) -> (precision, recall, f1)`` with rows the true and columns the predicted class."""

    def body() -> str:
        for description, matrix in CONFUSION_CASES:
            context = f"{description}, matrix {matrix.tolist()}"
            try:
                got = fn(matrix.copy())
            except ZeroDivisionError:
                raise CheckFailed(f"ZeroDivisionError ({context}): with no positive predictions tp + fp = 0; return "
                                  "0.0 there (scikit-learn's zero_division=0)") from None  # fmt: skip
            expect(isinstance(got, (tuple, list)) and len(got) == 3,
                   f"expected a tuple (precision, recall, f1), got {type(got).__name__}")  # fmt: skip
            got = tuple(_number(name, g, context) for name, g in zip(("precision", "recall", "f1"), got))
            ref = precision_recall_f1_reference(matrix)
            if any(math.isnan(g) for g in got):
                raise CheckFailed(f"got NaN ({context}): a denominator is 0 (no positive predictions); return 0.0 "
                                  "there, as scikit-learn does with zero_division=0")  # fmt: skip
            (tn, fp), (fn_, tp) = matrix
            p, r, _ = ref
            _diagnose(got, ref, [
                ((r, p, ref[2]), "precision and recall are swapped: rows are the true classes and columns the "
                                 "predictions, so precision = tp / (tp + fp) divides by the 'predicted positive' "
                                 "column and recall = tp / (tp + fn) by the 'truly positive' row"),
                (precision_recall_f1_reference(matrix[::-1, ::-1]),
                 "those are the metrics of the negative class: the positive class is row 1 and column 1"),
                ((p, r, (p + r) / 2), "F1 is the harmonic mean 2 P R / (P + R), not the arithmetic mean"),
                (((tp + tn) / matrix.sum(), r, ref[2]), "your precision is the accuracy (tp + tn) / n"),
            ], context)  # fmt: skip
            for name, g, e in zip(("precision", "recall", "f1"), got, ref):
                expect(math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12), f"expected {name} {e:.6g}, got {g:.6g} "
                                                                        f"({context})")  # fmt: skip
        return "right on three matrices, 0 where nothing is predicted positive"

    return run_check("precision, recall and F1 from the confusion matrix", body)


# ---------------------------------------------------------------- exercise 3: ROC AUC


def _auc_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    noisy = rng.normal(size=40) + 1.2 * y
    return [("40 distinct real scores (not probabilities)", y, noisy),
            ("40 scores rounded to integers: many ties", y, np.round(noisy)),
            ("all 6 scores tied", np.array([0, 1, 0, 1, 1, 0]), np.full(6, 0.3))]  # fmt: skip


def check_roc_auc(fn: Callable[[np.ndarray, np.ndarray], float]) -> Verdict:
    """``fn(y_true (n,) in {0, 1}, scores (n,)) -> float``: the area under the ROC curve, ties counting one half."""

    def body() -> str:
        for description, y, scores in _auc_cases():
            got = _number("the AUC", fn(y.copy(), scores.copy()), description)
            ref = roc_auc_score(y, scores)
            pos, neg = scores[y == 1][:, None], scores[y == 0][None, :]
            at = lambda t: (np.mean(scores[y == 1] >= t) + 1 - np.mean(scores[y == 0] >= t)) / 2  # noqa: E731
            _diagnose(got, ref, [
                (1 - ref, "you got 1 - AUC: the positives should have the high scores (sort high to low, or check "
                          "that you ranked the positives, not the negatives)"),
                (np.mean(pos > neg), "ties between a positive and a negative must count one half; you counted "
                                     "them as 0 (strict >, or rectangles under the left end of each ROC step: "
                                     "tied scores make a diagonal segment, so use trapezoids)"),
                (np.mean(pos >= neg), "ties between a positive and a negative must count one half; you counted "
                                      "them as 1 (>=, or rectangles under the right end of each ROC step: "
                                      "tied scores make a diagonal segment, so use trapezoids)"),
                (ref * len(pos) * neg.size, "that is the Mann-Whitney U: divide it by n_pos * n_neg"),
                (at(0.5), "you thresholded the scores (at 0.5) and measured one point; the AUC sweeps all thresholds"),
                (at(0.0), "you thresholded the scores (at 0) and measured one point; the AUC sweeps all thresholds"),
            ], description)  # fmt: skip
            expect(math.isclose(got, ref, rel_tol=1e-9, abs_tol=1e-12), f"expected {ref:.10g}, got {got:.10g} "
                                                                        f"({description})")  # fmt: skip
        return "exact with distinct scores, tied scores and all scores tied"

    return run_check("ROC AUC", body)


# ---------------------------------------------------------------- exercise 4: expected cost of a threshold


def check_expected_cost(fn: Callable[[np.ndarray, np.ndarray, float, float, float], float]) -> Verdict:
    """``fn(y_true, scores, threshold, cost_fp, cost_fn) -> float``: mean cost per sample of "positive if >= t"."""

    def body() -> str:
        y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 0])
        scores = np.array([0.1, 0.7, 0.35, 0.8, 0.5, 0.9, 0.5, 0.2, 0.05, 0.6])
        for threshold, cost_fp, cost_fn in ((0.5, 1.0, 5.0), (0.3, 2.0, 1.0), (-np.inf, 1.0, 3.0)):
            context = f"threshold {threshold}, cost_fp {cost_fp}, cost_fn {cost_fn}, two scores equal to 0.5"
            got = _number("the cost", fn(y.copy(), scores.copy(), threshold, cost_fp, cost_fn), context)
            ref = float(expected_cost(y, scores, np.array([threshold]), cost_fp=cost_fp, cost_fn=cost_fn)[0])
            fp = np.sum((scores >= threshold) & (y == 0))
            fn_ = np.sum((scores < threshold) & (y == 1))
            strict_fp, strict_fn = np.sum((scores > threshold) & (y == 0)), np.sum((scores <= threshold) & (y == 1))
            _diagnose(got, ref, [
                ((cost_fn * fp + cost_fp * fn_) / len(y), "the costs are swapped: a false positive is a negative "
                                                          "predicted positive, and costs cost_fp"),
                (cost_fp * fp + cost_fn * fn_, "you summed the costs; return the mean cost per sample (divide by n)"),
                ((cost_fp * strict_fp + cost_fn * strict_fn) / len(y),
                 "a score equal to the threshold counts as positive (score >= threshold), as in scikit-learn"),
            ], context)  # fmt: skip
            expect(math.isclose(got, ref, rel_tol=1e-9, abs_tol=1e-12), f"expected {ref:.6g}, got {got:.6g} "
                                                                        f"({context})")  # fmt: skip
        return "mean cost per sample, scores at the threshold counted positive"

    return run_check("expected cost of a threshold", body)
