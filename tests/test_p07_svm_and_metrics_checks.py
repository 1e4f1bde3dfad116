"""The exercise checks of chapter 7 (SVMs and classification metrics): each passes the reference solution, reads a
stub as 'not attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p07_svm_and_metrics as checks
from mlcourse.classical.metrics import auc_by_ranks, expected_cost, roc_auc_score, roc_curve
from mlcourse.classical.svm import pegasos_step
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


# ---------------------------------------------------------------- Pegasos step


def test_pegasos_check_passes_the_library_and_reads_a_stub_as_not_attempted(capsys):
    assert checks.check_pegasos_step(pegasos_step)
    assert capsys.readouterr().out.startswith("✓ passed: Pegasos step")
    assert checks.check_pegasos_step(stub).status == "not attempted"


def step_with(w, X1, y, l2, t, *, active=lambda m: m < 1, penalty_on_bias=False, sign=-1.0, scale_hinge=1.0,
              eta=None, with_penalty=True):  # fmt: skip
    """A Pegasos step with one typical mistake switched on."""
    margins = y * (X1 @ w)
    mask = active(margins)
    penalised = w.copy() if penalty_on_bias else np.r_[0.0, w[1:]]
    g = (l2 * penalised if with_penalty else 0.0) - scale_hinge * X1[mask].T @ y[mask] / len(y)
    return w + sign * (1.0 / (l2 * t) if eta is None else eta(l2, t)) * g


@pytest.mark.parametrize("wrong, hint", [
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, sign=1.0), "goes uphill"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, with_penalty=False), "regularisation term l2 * w is missing"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, penalty_on_bias=True), "penalised the bias"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, scale_hinge=len(y)), "n times too large"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, active=lambda m: m < np.inf), "only those with y_i f(x_i) < 1"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, active=lambda m: m < 0), "perceptron"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, eta=lambda l2, t: 1 / t), "the step is 1/t"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t, eta=lambda l2, t: 1 / l2), "the step is 1/l2"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t) - w, "you returned the step"),
    (lambda w, X1, y, l2, t: step_with(w, X1, y, l2, t)[1:], "shape"),
])  # fmt: skip
def test_pegasos_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_pegasos_step(wrong), hint)


# ---------------------------------------------------------------- precision, recall, F1


def test_precision_recall_f1_check_passes_the_reference(capsys):
    assert checks.check_precision_recall_f1(checks.precision_recall_f1_reference)
    assert checks.check_precision_recall_f1(stub).status == "not attempted"


def naive(matrix, *, swap=False, negative=False, arithmetic=False, accuracy=False):
    (tn, fp), (fn, tp) = matrix
    if negative:
        tn, tp, fp, fn = tp, tn, fn, fp
    if swap:
        fp, fn = fn, fp
    p, r = tp / (tp + fp), tp / (tp + fn)
    f1 = (p + r) / 2 if arithmetic else 2 * p * r / (p + r)
    return ((tp + tn) / (tn + fp + fn + tp) if accuracy else p), r, f1


def safe(fn):
    """Run ``fn`` with 0 / 0 = 0, so that the mistake under test, not the division by zero, is what fails."""
    def wrapped(matrix):
        with np.errstate(all="ignore"):
            return tuple(float(np.nan_to_num(v)) for v in fn(np.asarray(matrix, dtype=float)))
    return wrapped


@pytest.mark.parametrize("wrong, hint", [
    (safe(lambda m: naive(m, swap=True)), "precision and recall are swapped"),
    (safe(lambda m: naive(m.T)), "precision and recall are swapped"),
    (safe(lambda m: naive(m, negative=True)), "metrics of the negative class"),
    (safe(lambda m: naive(m, arithmetic=True)), "harmonic mean"),
    (safe(lambda m: naive(m, accuracy=True)), "your precision is the accuracy"),
    (lambda m: naive(m.astype(int).tolist()), "ZeroDivisionError"),
    (lambda m: tuple(np.float64(v) for v in naive(np.asarray(m, dtype=np.float64))), "got NaN"),
    (lambda m: np.array([1.0, 2.0]), "expected a tuple"),
])  # fmt: skip
def test_precision_recall_f1_check_names_the_typical_mistakes(capsys, wrong, hint):
    with np.errstate(all="ignore"):
        fails_with(capsys, checks.check_precision_recall_f1(wrong), hint)


# ---------------------------------------------------------------- ROC AUC


def test_auc_check_passes_the_library_both_ways(capsys):
    assert checks.check_roc_auc(roc_auc_score)
    assert checks.check_roc_auc(auc_by_ranks)
    assert checks.check_roc_auc(stub).status == "not attempted"


def pairs(y, s, tie):
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    return float(np.mean(pos > neg) + tie * np.mean(pos == neg))


@pytest.mark.parametrize("wrong, hint", [
    (lambda y, s: 1 - roc_auc_score(y, s), "1 - AUC"),
    (lambda y, s: pairs(y, s, 0.0), "counted them as 0"),
    (lambda y, s: pairs(y, s, 1.0), "counted them as 1"),
    (lambda y, s: roc_auc_score(y, s) * np.sum(y == 1) * np.sum(y == 0), "Mann-Whitney U"),
    (lambda y, s: (lambda f, t: float(np.sum(np.diff(f) * t[:-1])))(*roc_curve(y, s, drop_intermediate=False)[:2]),
     "counted them as 0 (strict >, or rectangles"),
    (lambda y, s: (lambda f, t: float(np.sum(np.diff(f) * t[1:])))(*roc_curve(y, s, drop_intermediate=False)[:2]),
     "counted them as 1 (>=, or rectangles"),
    (lambda y, s: (np.mean(s[y == 1] >= 0.5) + 1 - np.mean(s[y == 0] >= 0.5)) / 2, "thresholded the scores (at 0.5)"),
    (lambda y, s: np.array([0.5, 0.5]), "one number"),
])  # fmt: skip
def test_auc_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_roc_auc(wrong), hint)


# ---------------------------------------------------------------- expected cost


def reference_cost(y, s, t, cost_fp, cost_fn):
    return float(expected_cost(y, s, np.array([t]), cost_fp=cost_fp, cost_fn=cost_fn)[0])


def test_cost_check_passes_the_library(capsys):
    assert checks.check_expected_cost(reference_cost)
    assert checks.check_expected_cost(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda y, s, t, cfp, cfn: reference_cost(y, s, t, cfn, cfp), "costs are swapped"),
    (lambda y, s, t, cfp, cfn: reference_cost(y, s, t, cfp, cfn) * len(y), "you summed the costs"),
    (lambda y, s, t, cfp, cfn: (cfp * np.sum((s > t) & (y == 0)) + cfn * np.sum((s <= t) & (y == 1))) / len(y),
     "score equal to the threshold counts as positive"),
])  # fmt: skip
def test_cost_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_expected_cost(wrong), hint)
