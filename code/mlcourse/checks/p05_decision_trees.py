"""Checks for the exercises of chapter 5 (decision trees): each compares the learner's NumPy function with the
library's (:mod:`mlcourse.classical.tree_split`, :mod:`mlcourse.classical.tree`) on fixed inputs.

Where a wrong answer has a typical cause (proportions not normalised, 1 - sum p^2 forgotten, natural log
instead of log2, 0 log 0 read as NaN, a threshold at a sample value instead of the midpoint, a threshold between
two equal values, children not weighted by their share of the samples, x == threshold sent right, left and
right swapped, a walk that stops before the leaf), the failure line names that cause. Every check prints one
verdict line (see :mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.tree import DecisionTreeClassifier, TreeArrays
from mlcourse.classical.tree_split import best_splits, entropy, gini

# class weights: a 50/50 node, a pure node, a three-class node with an empty class, fractional weights
COUNTS = np.array([[5.0, 5.0, 0.0], [0.0, 12.0, 0.0], [2.0, 6.0, 2.0], [0.5, 1.5, 3.0]])


def _array(name: str, got: object) -> np.ndarray:
    """``got`` as a float64 array, or a failure saying what came back instead."""
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {name} as a NumPy array or a float, got {type(got).__name__}") from None


def _close(name: str, got: object, expected: np.ndarray, *, atol: float = 1e-10, context: str = "") -> None:
    """:func:`~mlcourse.checks.core.expect_close` for NumPy values (shapes, max abs difference and where)."""
    expect_close(name, torch.as_tensor(_array(name, got)), torch.as_tensor(np.asarray(expected, dtype=np.float64)),
                 atol=atol, rtol=1e-8, context=context)  # fmt: skip


def _same(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == np.shape(expected) and bool(np.allclose(got, expected, rtol=1e-8, atol=1e-10, equal_nan=True))


def _quiet(fn: Callable, *args) -> object:
    """``fn(*args)`` with NumPy's divide/invalid warnings silenced (a learner's 0 log 0 must not print to stderr)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


def _check_impurity(fn: Callable[[np.ndarray], np.ndarray], name: str, reference: Callable, hints: list) -> None:
    for counts in (COUNTS, COUNTS[2]):
        context = f"counts of shape {counts.shape}"
        got = _array(f"{name}(counts)", _quiet(fn, counts))
        ref = reference(counts, counts.sum(-1))
        if got.shape != np.shape(ref):
            raise CheckFailed(f"expected shape {np.shape(ref)} ({context}), got {got.shape}: reduce over the last "
                              "axis only (the classes), so each row of counts gives one impurity")  # fmt: skip
        for wrong, hint in hints:
            if not _same(wrong(counts), ref) and _same(got, wrong(counts)):
                raise CheckFailed(f"{hint} ({context})")
        _close(f"{name}(counts)", got, ref, context=context)


def check_gini(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(counts (..., K)) -> (...)``: the Gini impurity 1 - sum_k p_k^2 of each row of class weights."""

    def body() -> str:
        share = lambda c: c / c.sum(-1, keepdims=True)  # noqa: E731
        _check_impurity(fn, "gini", gini, [
            (lambda c: np.sum(share(c) ** 2, -1), "you returned sum_k p_k^2 (the chance that two draws agree); "
                                                  "the Gini impurity is 1 minus that"),
            (lambda c: 1 - np.sum(c**2, -1), "divide the counts by their total first: p_k = c_k / sum_j c_j"),
            (lambda c: 1 - np.sum(share(c), -1) ** 2, "square each p_k, then sum: 1 - sum_k p_k^2, not 1 - (sum p)^2"),
            (lambda c: 1 - np.mean(share(c) ** 2, -1), "sum over the classes, do not average: 1 - sum_k p_k^2"),
        ])  # fmt: skip
        return "1 - sum p_k^2 per row, weights and empty classes included"

    return run_check("Gini impurity", body)


def check_entropy(fn: Callable[[np.ndarray], np.ndarray]) -> Verdict:
    """``fn(counts (..., K)) -> (...)``: the entropy -sum_k p_k log2 p_k in bits, with 0 log 0 = 0."""

    def body() -> str:
        got = _array("entropy(counts)", _quiet(fn, COUNTS))
        if got.shape == (len(COUNTS),) and np.isnan(got).any() and not np.isnan(got).all():
            raise CheckFailed(f"got NaN for the rows with an empty class ({np.flatnonzero(np.isnan(got)).tolist()}): "
                              "p log p is 0 * (-inf) = NaN there. By continuity 0 log 0 = 0: use only the p_k > 0, "
                              "e.g. np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)")  # fmt: skip
        _check_impurity(fn, "entropy", entropy, [
            (lambda c: entropy(c, c.sum(-1)) * np.log(2), "your entropy is in nats (natural log); trees use bits: np.log2"),
            (lambda c: -entropy(c, c.sum(-1)), "the sign is flipped: the entropy is MINUS sum p log2 p (each log is <= 0)"),
            (lambda c: -np.sum(np.where(c > 0, c * np.log2(np.where(c > 0, c, 1)), 0), -1),
             "divide the counts by their total first: p_k = c_k / sum_j c_j"),
        ])  # fmt: skip
        return "-sum p_k log2 p_k per row, in bits, 0 log 0 = 0"

    return run_check("entropy", body)


def reference_best_split(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[float, float]:
    """(threshold, Gini decrease per sample) of the best split of one feature, from the library's search."""
    stats = np.eye(n_classes)[y]
    proxy, threshold, _ = best_splits(x[:, None], stats, np.ones(len(x)), "gini")
    left = x <= threshold[0]
    g = lambda m: gini(stats[m].sum(0), np.asarray(m.sum()))  # noqa: E731
    return float(threshold[0]), float(g(np.ones(len(x), bool)) - left.mean() * g(left) - (~left).mean() * g(~left))


def _split_cases() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=40)
    y1 = (x1 + 0.7 * rng.normal(size=40) > 0.3).astype(int)
    x2 = rng.integers(0, 8, size=50).astype(float)  # many repeated values
    y2 = np.where(x2 < 3, 0, np.where(x2 < 6, 1, 2))
    y2[rng.choice(50, 8, replace=False)] = rng.integers(0, 3, 8)
    return [("4 points, sorted", np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1]), 2),
            ("6 points, thresholds 2.5 and 4.5 equally good", np.arange(1.0, 7.0), np.array([0, 0, 1, 1, 0, 0]), 2),
            ("8 points, only 2 distinct values", np.repeat([1.0, 2.0], 4), np.array([0, 0, 1, 1, 1, 1, 1, 1]), 2),
            ("40 unsorted points, 2 classes", x1, y1, 2),
            ("50 points with repeated values, 3 classes", x2, y2, 3)]  # fmt: skip


def check_best_split(fn: Callable[[np.ndarray, np.ndarray, int], tuple]) -> Verdict:
    """``fn(x (n,), y (n,) in 0..K-1, n_classes) -> (threshold, decrease)``: the best Gini split of one feature.

    The decrease is per sample: G(node) - (n_L / n) G(left) - (n_R / n) G(right); left is x <= threshold, and
    the threshold is the midpoint between the two neighbouring distinct values (smallest threshold on a tie).
    """

    def body() -> str:
        for description, x, y, k in _split_cases():
            got = _quiet(fn, x.copy(), y.copy(), k)
            expect(isinstance(got, tuple) and len(got) == 2, f"expected (threshold, decrease), got {got!r:.80}")
            threshold, decrease = (float(np.asarray(v, dtype=np.float64)) for v in got)
            ref_threshold, ref_decrease = reference_best_split(x, y, k)
            values = np.unique(x)
            onehot = np.eye(k)[y]
            g = lambda m: float(gini(onehot[m].sum(0), np.asarray(m.sum())))  # noqa: E731
            left = x <= threshold
            if abs(decrease - ref_decrease) > 1e-10:
                unweighted = g(np.ones(len(x), bool)) - (g(left) + g(~left)) / 2 if 0 < left.sum() < len(x) else None
                children = left.mean() * g(left) + (~left).mean() * g(~left) if 0 < left.sum() < len(x) else None
                if unweighted is not None and abs(decrease - unweighted) < 1e-10:
                    raise CheckFailed(f"weight each child's impurity by its share of the samples, n_L / n and n_R / n, "
                                      f"not 1/2 each ({description})")  # fmt: skip
                if children is not None and abs(decrease - children) < 1e-10:
                    raise CheckFailed(f"you returned the children's weighted impurity; return the decrease, "
                                      f"G(node) minus it ({description})")  # fmt: skip
                if abs(decrease - len(x) * ref_decrease) < 1e-8:
                    raise CheckFailed(f"your decrease is n times too large: weight the children by n_L / n and "
                                      f"n_R / n, not by n_L and n_R ({description})")  # fmt: skip
                if decrease > ref_decrease + 1e-10:
                    raise CheckFailed(f"expected decrease {ref_decrease:.6f}, got {decrease:.6f}, more than any real "
                                      f"split: did you score a position between two EQUAL values of x? No threshold "
                                      f"separates them; allow only positions where x_sorted[p] < x_sorted[p + 1] "
                                      f"({description})")  # fmt: skip
                raise CheckFailed(f"expected decrease {ref_decrease:.6f} at threshold {ref_threshold:.4g}, got "
                                  f"{decrease:.6f} at {threshold:.4g} ({description})")  # fmt: skip
            if abs(threshold - ref_threshold) > 1e-12:
                if threshold in values:
                    raise CheckFailed(f"expected threshold {ref_threshold:.6g}, got {threshold:.6g}, a value of x "
                                      f"itself: use the midpoint between the two neighbouring distinct values "
                                      f"({description})")  # fmt: skip
                raise CheckFailed(f"the decrease is right but expected threshold {ref_threshold:.6g}, got "
                                  f"{threshold:.6g}: on a tie take the smallest threshold (np.argmax returns the "
                                  f"first maximum) ({description})")  # fmt: skip
        return "best threshold and Gini decrease, with unsorted and repeated values"

    return run_check("best Gini split of one feature", body)


def _fitted_tree() -> tuple[TreeArrays, np.ndarray, np.ndarray]:
    """(tree, X, leaves): a depth-4 tree on 3-class data, and rows that include values exactly at thresholds."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 3))
    y = np.digitize(X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=200), [-0.5, 0.5])
    model = DecisionTreeClassifier(max_depth=4).fit(X, y)
    t = model.tree_
    inner = np.flatnonzero(t.children_left != -1)
    on_threshold = rng.normal(size=(len(inner), 3))
    on_threshold[np.arange(len(inner)), t.feature[inner]] = t.threshold[inner]  # x == threshold at some node
    X_test = np.vstack([rng.normal(size=(60, 3)), on_threshold])
    return t, X_test, model.apply(X_test)


def check_apply(fn: Callable[[TreeArrays, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(tree, X (n, d)) -> (n,)``: the index of the leaf each row reaches, walking the tree's arrays."""

    def body() -> str:
        tree, X, ref = _fitted_tree()
        got = _array("the leaf indices", _quiet(fn, tree, X.copy()))
        expect(got.shape == ref.shape, f"expected one leaf index per row, shape {ref.shape}, got shape {got.shape}")
        if not np.array_equal(got, ref) and np.array_equal(got, tree.value[ref].argmax(1)):
            raise CheckFailed("you returned predictions; return the index of the leaf (tree.value[leaf] is its prediction)")
        not_leaf = tree.children_left[got.astype(int) % tree.node_count] != -1
        if not np.all(got == ref) and not_leaf.any():
            raise CheckFailed(f"{not_leaf.sum()} rows end at node(s) {np.unique(got[not_leaf]).astype(int).tolist()}, "
                              "which are not leaves: keep walking until children_left[node] == -1")  # fmt: skip
        mirrored = TreeArrays(tree.feature, tree.threshold, tree.children_right, tree.children_left, tree.value,
                              tree.impurity, tree.n_node_samples, tree.weighted_n_node_samples)  # fmt: skip
        if np.array_equal(got, _walk(mirrored, X)) and not np.array_equal(got, ref):
            raise CheckFailed("left and right are swapped: x[feature] <= threshold goes to children_left")
        wrong = np.flatnonzero(got != ref)
        if len(wrong) and np.array_equal(got, _walk(tree, X, strict=True)):
            raise CheckFailed(f"{len(wrong)} rows whose value equals a threshold went right: the rule is "
                              "x[feature] <= threshold goes left (use <=, not <)")  # fmt: skip
        if len(wrong):
            raise CheckFailed(f"expected leaf {int(ref[wrong[0]])} for row {wrong[0]}, got {got[wrong[0]]:g} "
                              f"({len(wrong)} of {len(ref)} rows differ)")  # fmt: skip
        return "every row reaches the library's leaf, values at thresholds included"

    return run_check("walking the tree", body)


def _walk(tree: TreeArrays, X: np.ndarray, strict: bool = False) -> np.ndarray:
    """The leaves, walked row by row (``strict``: the common mistake x < threshold)."""
    leaves = []
    for x in X:
        node = 0
        while tree.children_left[node] != -1:
            value, threshold = x[tree.feature[node]], tree.threshold[node]
            node = tree.children_left[node] if (value < threshold if strict else value <= threshold) \
                else tree.children_right[node]  # fmt: skip
        leaves.append(node)
    return np.array(leaves)
