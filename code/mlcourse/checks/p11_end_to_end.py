"""Checks for the exercises of chapter 11 (an end-to-end ML project): the grouped split check, the majority
baseline's accuracy, and the bootstrap confidence interval of an accuracy.

Each check runs the learner's function on small fixed inputs and compares it with the library
(:mod:`mlcourse.classical.genre_task`). Where a wrong answer has a typical cause (scene indices compared instead
of plays, a union instead of an intersection, the baseline fitted on the validation labels, a count instead of a
fraction, resampling without replacement, the spread of single scenes instead of the mean's, a 90 % interval),
the failure line names it. Every check prints one verdict line (see :mod:`mlcourse.checks.core`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.classical.genre_task import bootstrap_ci, majority_baseline

# ---------------------------------------------------------------- exercise 1: plays on both sides of a split

_PLAYS = np.array(["hamlet"] * 4 + ["lear"] * 3 + ["tempest"] * 5 + ["john"] * 2 + ["othello"] * 4)  # 18 scenes


def shared_plays_reference(train: np.ndarray, val: np.ndarray, groups: np.ndarray) -> set[str]:
    """The plays with at least one scene in ``train`` and one in ``val`` (index arrays into ``groups``)."""
    groups = np.asarray(groups)
    return set(groups[np.asarray(train)]) & set(groups[np.asarray(val)])


def _split_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    n = len(_PLAYS)
    by_play = np.isin(_PLAYS, ["lear", "john"])
    rowwise = np.arange(n) % 3 == 0
    one_leak = by_play | (np.arange(n) == 0)  # one Hamlet scene slips into validation
    return [(name, np.flatnonzero(~mask), np.flatnonzero(mask))
            for name, mask in (("a split by play", by_play), ("a row-wise split", rowwise),
                               ("a split by play with one Hamlet scene moved", one_leak))]  # fmt: skip


def check_shared_plays(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]) -> Verdict:
    """``fn(train, val, groups) -> set`` of the plays with scenes in both ``train`` and ``val``."""

    def body() -> str:
        for name, train, val in _split_cases():
            got = fn(train.copy(), val.copy(), _PLAYS.copy())
            try:
                got = {str(g) for g in got}
            except TypeError:
                raise CheckFailed(f"expected a set of play names, got {type(got).__name__} ({name})") from None
            ref = shared_plays_reference(train, val, _PLAYS)
            if got == ref:
                continue
            context = f"{name}: expected {sorted(ref)}, got {sorted(got)}"
            if got == set(_PLAYS[val]):
                raise CheckFailed(f"you returned every validation play; keep only those also in train ({context})")
            if got == set(_PLAYS[train]) | set(_PLAYS[val]):
                raise CheckFailed(f"that is the union of the two sides; the leak is their intersection ({context})")
            if not got and ref:
                raise CheckFailed("no shared play found where there is one: did you compare scene indices "
                                  f"(train & val) instead of their plays (groups[train] & groups[val])? ({context})")
            raise CheckFailed(context)
        return "finds the plays on both sides, and none in a split by play"

    return run_check("plays shared by train and validation", body)


# ---------------------------------------------------------------- exercise 2: the majority baseline's accuracy

_BASELINE_CASES = (
    ("tragedies most common in train", ["tragedy"] * 5 + ["comedy"] * 3 + ["history"] * 2,
     ["comedy"] * 4 + ["tragedy"] * 2 + ["history"]),
    ("comedies most common in train", ["comedy"] * 6 + ["history"] * 5 + ["tragedy"],
     ["tragedy"] * 3 + ["comedy"] * 2 + ["history"] * 5),
)  # fmt: skip


def majority_accuracy_reference(y_train: list[str], y_val: list[str]) -> float:
    """Accuracy on ``y_val`` of always predicting the most frequent label of ``y_train``."""
    return float(np.mean(majority_baseline(y_train, len(y_val)) == np.asarray(y_val, dtype=object)))


def check_majority_accuracy(fn: Callable[[list[str], list[str]], float]) -> Verdict:
    """``fn(y_train, y_val) -> float``: the accuracy of the majority-class baseline, fitted on ``y_train``."""

    def body() -> str:
        for name, y_train, y_val in _BASELINE_CASES:
            got = fn(list(y_train), list(y_val))
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise CheckFailed(f"expected one number, got {type(got).__name__} ({name})") from None
            ref = majority_accuracy_reference(y_train, y_val)
            if abs(got - ref) < 1e-12:
                continue
            context = f"{name}: expected {ref:.4f}, got {got:.4f}"
            val_majority = max(set(y_val), key=y_val.count)
            if abs(got - y_val.count(val_majority) / len(y_val)) < 1e-12:
                raise CheckFailed("you took the most frequent label of the VALIDATION labels: the baseline may "
                                  f"only learn from the training labels ({context})")
            if abs(got - ref * len(y_val)) < 1e-12:
                raise CheckFailed(f"that is the number of correct predictions; divide by len(y_val) ({context})")
            if abs(got - 1 / len(set(y_train))) < 1e-12:
                raise CheckFailed(f"that is chance (1 / number of classes), not the majority class's accuracy ({context})")
            raise CheckFailed(context)
        return "the majority class of the training labels, scored on the validation labels"

    return run_check("majority-class baseline accuracy", body)


# ---------------------------------------------------------------- exercise 3: the bootstrap interval

_N, _CORRECT, _BOOT = 200, 120, 20000  # 200 scenes, 60 % right


def _bootstrap_inputs() -> tuple[np.ndarray, np.ndarray]:
    y_true = np.array(["comedy", "history", "tragedy"] * 70)[:_N]
    y_pred = y_true.copy()
    wrong = np.random.default_rng(11).permutation(_N)[: _N - _CORRECT]
    y_pred[wrong] = np.where(y_true[wrong] == "comedy", "tragedy", "comedy")
    return y_true, y_pred


def check_bootstrap_ci(fn: Callable[..., tuple[float, float]]) -> Verdict:
    """``fn(y_true, y_pred, n_boot=, level=, seed=) -> (low, high)``: the percentile bootstrap interval of the
    accuracy, resampling scenes with replacement. Compared with the library's within 0.005, one step of the
    accuracy (Monte-Carlo noise of 20000 replicates is about 0.001; a 90 % interval is 0.011 narrower at each end)."""

    def body() -> str:
        y_true, y_pred = _bootstrap_inputs()
        accuracy = lambda a, b: float(np.mean(a == b))  # noqa: E731
        got = fn(y_true.copy(), y_pred.copy(), n_boot=_BOOT, level=0.95, seed=0)
        try:
            low, high = (float(v) for v in got)
        except (TypeError, ValueError):
            raise CheckFailed(f"expected (low, high), got {got!r}") from None
        _, ref_low, ref_high = bootstrap_ci(y_true, y_pred, accuracy, n_boot=_BOOT, level=0.95, seed=0)
        context = f"{_N} scenes, {_CORRECT} right: expected about ({ref_low:.3f}, {ref_high:.3f}), got ({low:.3f}, {high:.3f})"
        if abs(low - ref_low) <= 0.0051 and abs(high - ref_high) <= 0.0051:
            return "the percentile interval of the resampled accuracies"
        if high - low < 1e-9:
            raise CheckFailed("the interval has zero width: resample WITH replacement (rng.integers(0, n, n) or "
                              f"rng.choice(n, n, replace=True)); a permutation always gives the same accuracy ({context})")
        if high - low > 0.5:
            raise CheckFailed("the interval is far too wide: it is the spread of single scenes (0 or 1); take the "
                              f"quantiles of the ACCURACIES of the resamples ({context})")
        _, low90, high90 = bootstrap_ci(y_true, y_pred, accuracy, n_boot=_BOOT, level=0.90, seed=0)
        if abs(low - low90) <= 0.0051 and abs(high - high90) <= 0.0051:
            raise CheckFailed("that is a 90 % interval: for level 0.95 cut (1 - level) / 2 = 2.5 % from each tail "
                              f"({context})")
        expect(low <= high, f"low should not exceed high ({context})")
        raise CheckFailed(context)

    return run_check("bootstrap confidence interval", body)
