"""The exercise checks of chapter 5 (decision trees): each passes the reference solution, reads a stub as
'not attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p05_decision_trees as checks
from mlcourse.classical.tree_split import entropy, gini
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


def share(c):
    return c / c.sum(-1, keepdims=True)


# ---------------------------------------------------------------- impurities


def test_impurity_checks_pass_the_library_and_read_stubs_as_not_attempted(capsys):
    assert checks.check_gini(lambda c: gini(c, c.sum(-1)))
    assert checks.check_entropy(lambda c: entropy(c, c.sum(-1)))
    assert capsys.readouterr().out.count("✓ passed") == 2
    assert checks.check_gini(stub).status == "not attempted"
    assert checks.check_entropy(stub).status == "not attempted"


@pytest.mark.parametrize("wrong, hint", [
    (lambda c: np.sum(share(c) ** 2, -1), "Gini impurity is 1 minus that"),
    (lambda c: 1 - np.sum(c**2, -1), "divide the counts by their total"),
    (lambda c: 1 - np.mean(share(c) ** 2, -1), "do not average"),
    (lambda c: 1 - np.sum(share(c) ** 2), "reduce over the last axis only"),
])  # fmt: skip
def test_gini_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_gini(wrong), hint)


@pytest.mark.parametrize("wrong, hint", [
    (lambda c: -np.sum(share(c) * np.log2(share(c)), -1), "0 log 0 = 0"),
    (lambda c: entropy(c, c.sum(-1)) * np.log(2), "in nats"),
    (lambda c: -entropy(c, c.sum(-1)), "the sign is flipped"),
    (lambda c: -np.sum(np.where(c > 0, c * np.log2(np.where(c > 0, c, 1)), 0), -1), "divide the counts"),
])  # fmt: skip
def test_entropy_check_names_the_typical_mistakes(capsys, wrong, hint):
    fails_with(capsys, checks.check_entropy(wrong), hint)


def test_the_nan_mistake_prints_nothing_to_stderr(capsys):
    checks.check_entropy(lambda c: -np.sum(share(c) * np.log2(share(c)), -1))
    assert capsys.readouterr().err == ""  # the book build fails on any stderr in a stored output


# ---------------------------------------------------------------- best split


def split_search(x, y, n_classes, *, midpoint=True, equal_values=False, weighting="share", value="decrease",
                 tie="first"):
    """The reference solution, and (through the flags) the typical mistakes."""
    order = np.argsort(x, kind="stable")
    xs, counts = x[order], np.eye(n_classes)[y[order]]
    left = np.cumsum(counts, axis=0)[:-1]
    right = counts.sum(0) - left
    n = len(x)
    n_left = np.arange(1, n)
    g = lambda c, t: 1 - np.sum(c**2, -1) / t**2  # noqa: E731
    parent = g(counts.sum(0), n)
    if weighting == "share":
        children = n_left / n * g(left, n_left) + (n - n_left) / n * g(right, n - n_left)
    elif weighting == "half":
        children = (g(left, n_left) + g(right, n - n_left)) / 2
    else:  # "count"
        children = n_left * g(left, n_left) + (n - n_left) * g(right, n - n_left)
        parent = n * parent
    decrease = parent - children
    if not equal_values:
        decrease = np.where(xs[1:] > xs[:-1], decrease, -np.inf)
    p = int(np.argmax(decrease)) if tie == "first" else len(decrease) - 1 - int(np.argmax(decrease[::-1]))
    threshold = (xs[p] + xs[p + 1]) / 2 if midpoint else xs[p]
    return threshold, (decrease[p] if value == "decrease" else children[p])


def test_best_split_check_passes_the_reference(capsys):
    assert checks.check_best_split(split_search)
    assert checks.check_best_split(stub).status == "not attempted"


@pytest.mark.parametrize("flags, hint", [
    (dict(midpoint=False), "use the midpoint"),
    (dict(equal_values=True), "between two EQUAL values"),
    (dict(weighting="half"), "by its share of the samples"),
    (dict(weighting="count"), "n times too large"),
    (dict(value="children"), "you returned the children's weighted impurity"),
])  # fmt: skip
def test_best_split_check_names_the_typical_mistakes(capsys, flags, hint):
    fails_with(capsys, checks.check_best_split(lambda x, y, k: split_search(x, y, k, **flags)), hint)


def test_best_split_check_catches_a_largest_threshold_tie_break(capsys):
    fails_with(capsys, checks.check_best_split(lambda x, y, k: split_search(x, y, k, tie="last")), "smallest threshold")


# ---------------------------------------------------------------- walking the tree


def walk(tree, X, *, strict=False, swapped=False, steps=None, values=False):
    node = np.zeros(len(X), dtype=int)
    for _ in range(steps if steps is not None else 100):
        inner = tree.children_left[node] != -1
        if not inner.any():
            break
        x = X[np.arange(len(X)), np.where(inner, tree.feature[node], 0)]
        goes_left = x < tree.threshold[node] if strict else x <= tree.threshold[node]
        left, right = (tree.children_right, tree.children_left) if swapped else (tree.children_left, tree.children_right)
        node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
    return tree.value[node].argmax(1) if values else node


def test_apply_check_passes_the_reference(capsys):
    assert checks.check_apply(walk)
    assert checks.check_apply(stub).status == "not attempted"


@pytest.mark.parametrize("flags, hint", [
    (dict(strict=True), "use <=, not <"),
    (dict(swapped=True), "left and right are swapped"),
    (dict(steps=2), "which are not leaves"),
    (dict(values=True), "you returned predictions"),
])  # fmt: skip
def test_apply_check_names_the_typical_mistakes(capsys, flags, hint):
    fails_with(capsys, checks.check_apply(lambda tree, X: walk(tree, X, **flags)), hint)
