"""The exercise checks of chapter 11 (an end-to-end project): each passes the reference solution, reads a stub as
'not attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p11_end_to_end as checks
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


def test_shared_plays_check_passes_the_reference_and_reads_a_stub(capsys):
    assert checks.check_shared_plays(checks.shared_plays_reference)
    assert capsys.readouterr().out.startswith("✓ passed: plays shared")
    assert checks.check_shared_plays(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda tr, va, g: set(tr) & set(va), "compare scene indices"),
    (lambda tr, va, g: set(g[va]), "every validation play"),
    (lambda tr, va, g: set(g[tr]) | set(g[va]), "union"),
    (lambda tr, va, g: 3, "expected a set of play names"),
])  # fmt: skip
def test_shared_plays_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_shared_plays(wrong), hint)


def test_majority_check_passes_the_reference(capsys):
    assert checks.check_majority_accuracy(checks.majority_accuracy_reference)
    assert checks.check_majority_accuracy(stub).status == "not attempted"


def on_val_majority(y_train, y_val):
    best = max(sorted(set(y_val)), key=y_val.count)
    return y_val.count(best) / len(y_val)


@pytest.mark.parametrize("wrong, hint", [
    (on_val_majority, "VALIDATION labels"),
    (lambda a, b: checks.majority_accuracy_reference(a, b) * len(b), "number of correct predictions"),
    (lambda a, b: 1 / len(set(a)), "chance"),
    (lambda a, b: "high", "expected one number"),
])  # fmt: skip
def test_majority_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_majority_accuracy(wrong), hint)


def bootstrap(y_true, y_pred, n_boot=2000, level=0.95, seed=0, *, replace=True, of_mean=True):
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(float)
    rng = np.random.default_rng(seed)
    n = len(correct)
    draws = np.array([rng.choice(n, n, replace=replace) for _ in range(n_boot)])
    stats = correct[draws].mean(1) if of_mean else correct[draws].ravel()
    tail = (1 - level) / 2
    return tuple(np.quantile(stats, [tail, 1 - tail]))


def test_bootstrap_check_passes_a_correct_solution_with_another_random_stream(capsys):
    assert checks.check_bootstrap_ci(bootstrap)
    assert checks.check_bootstrap_ci(lambda *a, **k: bootstrap(*a, **{**k, "seed": 123}))
    assert checks.check_bootstrap_ci(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda *a, **k: bootstrap(*a, **k, replace=False), "WITH replacement"),
    (lambda *a, **k: bootstrap(*a, **k, of_mean=False), "spread of single scenes"),
    (lambda *a, **k: bootstrap(*a, **{**k, "level": 0.90}), "90 % interval"),
    (lambda *a, **k: 0.5, "expected (low, high)"),
])  # fmt: skip
def test_bootstrap_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_bootstrap_ci(wrong), hint)
