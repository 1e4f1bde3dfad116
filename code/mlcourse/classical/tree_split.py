"""Impurities and the vectorised best-split search of a CART decision tree (the inner loop of every tree fit).

What it does: the three node impurities of chapter 5, computed from a node's summed statistics, and
:func:`best_splits`, which scores every threshold of every candidate feature at once, without a Python loop over
thresholds. Each feature is sorted once per node; cumulative sums of the per-sample statistics then give, for
every split position p (the p + 1 smallest values go left), the left child's statistics, and the right child's
are the node's total minus the left::

    gini(c, W)    = 1 - sum_k (c_k / W)^2                c: (K,) class weights in the node, W = sum_k c_k
    entropy(c, W) = - sum_k (c_k / W) log2 (c_k / W)     (bits, as scikit-learn; 0 log 0 = 0)
    squared(s, W) = s_2 / W - (s_1 / W)^2                s = (sum w y, sum w y^2): the weighted variance
    decrease      = i(node) - (W_L / W) i(left) - (W_R / W) i(right)

The search ranks candidates by scikit-learn's *proxy* (the decrease up to terms that are constant within a node:
``-(W_L i_L + W_R i_R)`` for classification, ``s_L^2 / W_L + s_R^2 / W_R`` for squared error) so that it picks
the same split. Two sorted values closer than :data:`FEATURE_THRESHOLD` count as equal (no threshold between
them); a feature whose values all lie within it is constant; the threshold is the midpoint ``x_p / 2 + x_{p+1} /
2``; ties go to the smallest threshold, then to the first candidate feature.

What it does not do: missing values, monotonic constraints, sparse input, a minimum leaf *weight*, or random
thresholds (chapter 6's extra trees). Its memory is (n_node, n_candidates, n_statistics) floats per node, fine
for the course's data sets, not for millions of rows. Taught in chapter 5 (used by chapter 6's ensembles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_THRESHOLD = 1e-7  # values closer than this are one value (scikit-learn's constant)
CRITERIA = {"classification": ("gini", "entropy"), "regression": ("squared_error",)}


def gini(counts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Gini impurity 1 - sum_k p_k^2 of class weights ``counts`` (..., K) with sums ``total`` (...)."""
    return 1.0 - np.sum(counts**2, axis=-1) / total**2


def entropy(counts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Entropy - sum_k p_k log2 p_k in bits of class weights ``counts`` (..., K) with sums ``total`` (...)."""
    p = counts / total[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return -np.sum(terms, axis=-1)


def squared_error(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Weighted variance s_2 / W - (s_1 / W)^2 from ``sums`` (..., 2) = (sum w y, sum w y^2) and weights ``total``."""
    mean = sums[..., 0] / total
    return sums[..., 1] / total - mean**2


IMPURITY = {"gini": gini, "entropy": entropy, "squared_error": squared_error}


def node_impurity(criterion: str, stats: np.ndarray, weight: float) -> float:
    """Impurity of one node from its summed statistics ``stats`` (S,) and total weight (see the module header).

    For gini and entropy the total is the sum of the class weights themselves, so a pure node is exactly 0.
    """
    total = np.sum(stats) if criterion in CRITERIA["classification"] else weight
    return float(IMPURITY[criterion](stats, np.asarray(total)))


@dataclass
class Split:
    """The best split of one node: samples with ``X[:, feature] <= threshold`` go left."""

    feature: int  # column index in X
    threshold: float  # midpoint between two neighbouring distinct values
    proxy: float  # the ranking score (larger is better); not the impurity decrease itself


def best_splits(X: np.ndarray, stats: np.ndarray, w: np.ndarray, criterion: str,
                min_samples_leaf: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Best split of every column of ``X``, all thresholds scored at once with cumulative sums.

    Args:
        X: (n, F) the node's samples, candidate features only.
        stats: (n, S) per-sample statistics *already multiplied by the sample weights*: one-hot classes times w
            (S = K) for gini/entropy, (w y, w y^2) (S = 2) for squared_error.
        w: (n,) positive sample weights.
        criterion: "gini", "entropy" or "squared_error".
        min_samples_leaf: each child must keep at least this many samples (rows, not weight).

    Returns:
        proxy (F,): the best score per feature, ``-inf`` when the feature has no allowed split;
        threshold (F,): its threshold (NaN where proxy is -inf); constant (F,): True where the feature is constant.
    """
    n, n_feat = X.shape
    if n < 2:
        return np.full(n_feat, -np.inf), np.full(n_feat, np.nan), np.ones(n_feat, dtype=bool)
    order = np.argsort(X, axis=0, kind="stable")  # (n, F): sort each feature once
    xs = np.take_along_axis(X, order, axis=0)
    constant = xs[-1] <= xs[0] + FEATURE_THRESHOLD
    left = np.cumsum(stats[order], axis=0)[:-1]  # (n - 1, F, S): statistics of the p + 1 smallest samples
    right = np.sum(stats, axis=0) - left  # the rest: the node's total minus the left
    if criterion == "squared_error":
        w_left = np.cumsum(w[order], axis=0)[:-1]  # (n - 1, F)
        w_right = w.sum() - w_left
    else:  # the class weights' own sums: a pure child then has impurity exactly 0
        w_left, w_right = left.sum(axis=-1), right.sum(axis=-1)
    n_left = np.arange(1, n)[:, None]
    allowed = ((xs[1:] > xs[:-1] + FEATURE_THRESHOLD)  # a threshold fits between positions p and p + 1
               & (n_left >= min_samples_leaf) & (n - n_left >= min_samples_leaf))  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        if criterion == "squared_error":
            score = left[..., 0] ** 2 / w_left + right[..., 0] ** 2 / w_right
        else:
            impurity = IMPURITY[criterion]
            score = -(w_left * impurity(left, w_left) + w_right * impurity(right, w_right))
    score = np.where(allowed, score, -np.inf)
    best = np.argmax(score, axis=0)  # first maximum: the smallest threshold wins a tie
    cols = np.arange(n_feat)
    proxy = score[best, cols]
    threshold = np.where(np.isfinite(proxy), xs[best, cols] / 2.0 + xs[best + 1, cols] / 2.0, np.nan)
    return proxy, threshold, constant


def choose_split(X: np.ndarray, stats: np.ndarray, w: np.ndarray, criterion: str, min_samples_leaf: int,
                 max_features: int, rng: np.random.Generator) -> Split | None:  # fmt: skip
    """The best split of a node over ``max_features`` candidate features; ``None`` when no split is allowed.

    With ``max_features < n_features`` the features are visited in the order of ``rng.permutation`` and the
    first ``max_features`` are scored; if all of those are constant, further features are drawn until a
    non-constant one is found (as scikit-learn does). Ties between features go to the first one visited, so with
    all features the lowest column index wins (scikit-learn visits them in a random order: see chapter 5).
    """
    n_features = X.shape[1]
    order = np.arange(n_features) if max_features >= n_features else rng.permutation(n_features)
    proxy, threshold, constant = best_splits(X[:, order[:max_features]], stats, w, criterion, min_samples_leaf)
    if constant.all() and max_features < n_features:  # keep drawing until one non-constant feature is seen
        more = best_splits(X[:, order[max_features:]], stats, w, criterion, min_samples_leaf)
        stop = int(np.argmax(~more[2])) + 1 if (~more[2]).any() else len(more[2])
        proxy, threshold = (np.concatenate([proxy, more[0][:stop]]), np.concatenate([threshold, more[1][:stop]]))
    if not np.isfinite(proxy).any():
        return None
    i = int(np.argmax(proxy))
    return Split(feature=int(order[i]), threshold=float(threshold[i]), proxy=float(proxy[i]))
