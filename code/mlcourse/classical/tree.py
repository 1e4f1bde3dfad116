"""CART decision trees from scratch: a classifier (Gini or entropy) and a regressor (squared error), with pruning.

What it does: grows a binary tree depth-first. At each node it takes the split that most decreases the weighted
impurity (searched without a loop over thresholds by :mod:`mlcourse.classical.tree_split`), and stops at a pure
node, ``max_depth``, fewer than ``min_samples_split`` samples, or when no split leaves ``min_samples_leaf`` samples
on both sides. The tree is stored as parallel arrays (:class:`TreeArrays`), nodes numbered in pre-order (node 0
is the root, a node's left child is the next node), exactly as scikit-learn's ``tree_``; predicting walks them
for all rows at once. Minimal cost-complexity pruning removes, one at a time, the "weakest link": the internal
node t whose subtree T_t buys the least impurity per extra leaf,

    g(t) = (R(t) - R(T_t)) / (|leaves(T_t)| - 1)      R(.) = sum over leaves of (W_leaf / W_root) * impurity

and ``ccp_alpha`` keeps the smallest subtree reached before g exceeds it. ``sample_weight`` (e.g. bootstrap
counts) multiplies each sample; rows of weight 0 are dropped, so ``n_node_samples`` counts the rows of positive
weight. With ``max_features`` below the number of features, each node scores a random subset drawn with
``numpy.random.default_rng(random_state)`` (chapter 6's random forest).

What it does not do: missing values, categorical splits, multi-output targets, ``max_leaf_nodes`` (best-first
growth), class weights, or speed: each node costs tens to hundreds of microseconds of Python overhead, so it
is about 2 to 15 times slower than scikit-learn's Cython on the course's data (chapter 5 measures it). Taught in
chapter 5 (the base learner of chapter 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlcourse.classical.tree_split import CRITERIA, choose_split, node_impurity
from mlcourse.classical.validation import check_fitted, check_predict_input, check_X_y

TREE_LEAF = -1  # children_left / children_right of a leaf
TREE_UNDEFINED = -2  # feature / threshold of a leaf (scikit-learn's convention)
EPSILON = np.finfo(np.float64).eps  # a node this pure is a leaf


@dataclass
class TreeArrays:
    """A fitted tree as parallel arrays over its n_nodes nodes (pre-order: children after their parent)."""

    feature: np.ndarray  # (n_nodes,) int: the column split on; -2 at leaves
    threshold: np.ndarray  # (n_nodes,) float: go left when x[feature] <= threshold; -2 at leaves
    children_left: np.ndarray  # (n_nodes,) int: -1 at leaves
    children_right: np.ndarray  # (n_nodes,) int: -1 at leaves
    value: np.ndarray  # (n_nodes, K) class fractions, or (n_nodes, 1) mean target
    impurity: np.ndarray  # (n_nodes,) the node's impurity
    n_node_samples: np.ndarray  # (n_nodes,) int: training rows (of positive weight) reaching the node
    weighted_n_node_samples: np.ndarray  # (n_nodes,) float: their total weight

    @property
    def node_count(self) -> int:
        return len(self.feature)

    def subset(self, keep: np.ndarray) -> TreeArrays:
        """The tree restricted to the nodes where ``keep`` (n_nodes,) is True (a pruned tree: whole subtrees go)."""
        new_id = np.cumsum(keep) - 1
        old = np.flatnonzero(keep)
        left, right = self.children_left[old], self.children_right[old]
        leaf = (left == TREE_LEAF) | ~keep[np.maximum(left, 0)]  # kept node whose children were pruned
        return TreeArrays(
            feature=np.where(leaf, TREE_UNDEFINED, self.feature[old]),
            threshold=np.where(leaf, float(TREE_UNDEFINED), self.threshold[old]),
            children_left=np.where(leaf, TREE_LEAF, new_id[np.maximum(left, 0)]),
            children_right=np.where(leaf, TREE_LEAF, new_id[np.maximum(right, 0)]),
            value=self.value[old], impurity=self.impurity[old], n_node_samples=self.n_node_samples[old],
            weighted_n_node_samples=self.weighted_n_node_samples[old])  # fmt: skip


def subtree_ends(tree: TreeArrays) -> np.ndarray:
    """(n_nodes,) one past the last node of each node's subtree: node i's subtree is nodes i .. end[i] - 1."""
    end = np.arange(1, tree.node_count + 1)
    for i in range(tree.node_count - 1, -1, -1):  # children have larger indices than their parent
        if tree.children_left[i] != TREE_LEAF:
            end[i] = end[tree.children_right[i]]
    return end


def weakest_link_pruning(tree: TreeArrays, ccp_alpha: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prune the weakest link repeatedly while its g(t) <= ``ccp_alpha`` (to the root for the default, the path).

    Returns ccp_alphas (m,), starting at 0.0, and impurities (m,), the total leaf impurity R(T) of the subtree
    after each prune, as scikit-learn's ``cost_complexity_pruning_path``; and keep (n_nodes,), the nodes left.
    Ties in g(t) go to the lowest node index (scikit-learn's rule).
    """
    w, imp = tree.weighted_n_node_samples, tree.impurity
    r_node = w * imp / w[0]
    is_leaf = tree.children_left == TREE_LEAF
    end = subtree_ends(tree)
    nodes = np.arange(tree.node_count)
    r_cum, leaves_cum = np.concatenate([[0.0], np.cumsum(r_node * is_leaf)]), np.concatenate([[0], np.cumsum(is_leaf)])
    r_branch, n_leaves = r_cum[end] - r_cum[nodes], leaves_cum[end] - leaves_cum[nodes]  # sums over the leaves below
    parent = np.full(tree.node_count, -1)
    parent[tree.children_left[~is_leaf]] = nodes[~is_leaf]
    parent[tree.children_right[~is_leaf]] = nodes[~is_leaf]
    keep, candidate = np.ones(tree.node_count, dtype=bool), ~is_leaf
    alphas, impurities = [0.0], [r_branch[0]]
    while candidate[0]:
        c = np.flatnonzero(candidate)
        g = (r_node[c] - r_branch[c]) / (n_leaves[c] - 1)
        j = int(np.argmin(g))
        if g[j] > ccp_alpha:
            break
        i = c[j]
        keep[i + 1 : end[i]], candidate[i : end[i]] = False, False  # the branch below i goes; i becomes a leaf
        lost_leaves, r_diff = n_leaves[i] - 1, r_node[i] - r_branch[i]
        n_leaves[i], r_branch[i] = 1, r_node[i]
        a = parent[i]
        while a != -1:  # the ancestors' subtrees lose leaves and gain impurity
            n_leaves[a] -= lost_leaves
            r_branch[a] += r_diff
            a = parent[a]
        alphas.append(float(g[j]))
        impurities.append(r_branch[0])
    return np.array(alphas), np.array(impurities), keep


class _BaseDecisionTree:
    """Shared growth, pruning and traversal; subclasses say how targets become per-sample statistics."""

    _task = "regression"

    def __init__(self, criterion: str, max_depth: int | None = None, min_samples_split: int = 2,
                 min_samples_leaf: int = 1, max_features: int | float | str | None = None, ccp_alpha: float = 0.0,
                 random_state: int | None = None) -> None:  # fmt: skip
        self.criterion, self.max_depth, self.ccp_alpha = criterion, max_depth, ccp_alpha
        self.min_samples_split, self.min_samples_leaf = min_samples_split, min_samples_leaf
        self.max_features, self.random_state = max_features, random_state
        self.tree_: TreeArrays | None = None

    def _check_params(self, n_features: int) -> int:
        """Validate the hyper-parameters; return max_features as a number of features."""
        if self.criterion not in CRITERIA[self._task]:
            raise ValueError(f"criterion must be one of {CRITERIA[self._task]} for {self._task}; got {self.criterion!r}.")
        if self.max_depth is not None and (not isinstance(self.max_depth, (int, np.integer)) or self.max_depth < 1):
            raise ValueError(f"max_depth must be None or an integer >= 1; got {self.max_depth!r}.")
        if not isinstance(self.min_samples_split, (int, np.integer)) or self.min_samples_split < 2:
            raise ValueError(f"min_samples_split must be an integer >= 2; got {self.min_samples_split!r}.")
        if not isinstance(self.min_samples_leaf, (int, np.integer)) or self.min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf must be an integer >= 1; got {self.min_samples_leaf!r}.")
        if not self.ccp_alpha >= 0:
            raise ValueError(f"ccp_alpha must be >= 0 (0 = no pruning); got {self.ccp_alpha!r}.")
        m = self.max_features
        if m is None:
            return n_features
        if m == "sqrt":
            return max(1, int(np.sqrt(n_features)))
        if isinstance(m, (int, np.integer)) and not isinstance(m, bool) and 1 <= m <= n_features:
            return int(m)
        if isinstance(m, float) and 0.0 < m <= 1.0:
            return max(1, int(m * n_features))
        raise ValueError(f"max_features must be None, 'sqrt', an integer in [1, {n_features}] or a fraction in "
                         f"(0, 1]; got {m!r}.")

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """(n, S) per-sample statistics before weighting: (y, y^2) for squared error."""
        return np.column_stack([y, y * y])

    def _node_value(self, stats: np.ndarray, weight: float) -> np.ndarray:
        return np.array([stats[0] / weight])

    def _fit_arrays(self, X, y, sample_weight) -> TreeArrays:
        """Check the input and grow the unpruned tree (sets n_features_in_, max_features_, classes_)."""
        X, y = check_X_y(X, y, classification=self._task == "classification")
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (len(y),):
            raise ValueError(f"sample_weight must have shape ({len(y)},) like y; got {w.shape}.")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight must be finite and non-negative with a positive sum.")
        self.max_features_ = self._check_params(X.shape[1])
        self.n_features_in_ = X.shape[1]
        stats = self._targets(y) * w[:, None]
        keep = w > 0
        return self._grow(X[keep], stats[keep], w[keep], np.random.default_rng(self.random_state))

    def fit(self, X, y, sample_weight=None):
        """Grow the tree on X (n, d) and y (n,), then prune it with ``ccp_alpha``. Returns self."""
        tree = self._fit_arrays(X, y, sample_weight)
        if self.ccp_alpha > 0:
            tree = tree.subset(weakest_link_pruning(tree, self.ccp_alpha)[2])
        self.tree_ = tree
        internal = np.flatnonzero(tree.children_left != TREE_LEAF)
        wi = tree.weighted_n_node_samples * tree.impurity
        decrease = wi[internal] - wi[tree.children_left[internal]] - wi[tree.children_right[internal]]
        importances = np.bincount(tree.feature[internal], weights=decrease, minlength=self.n_features_in_)
        importances = importances / tree.weighted_n_node_samples[0]
        self.feature_importances_ = importances / importances.sum() if importances.sum() > 0 else importances
        return self

    def _grow(self, X: np.ndarray, stats: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> TreeArrays:
        """Depth-first growth with an explicit stack (left child popped first, so the numbering is pre-order)."""
        max_depth = np.inf if self.max_depth is None else self.max_depth
        cols: dict[str, list] = {name: [] for name in TreeArrays.__dataclass_fields__}
        stack = [(np.arange(len(X)), 0, -1, True)]  # (rows, depth, parent, is_left_child)
        while stack:
            rows, depth, parent, is_left = stack.pop()
            node = len(cols["feature"])
            if parent >= 0:
                cols["children_left" if is_left else "children_right"][parent] = node
            node_stats, weight = stats[rows].sum(axis=0), w[rows].sum()
            impurity = node_impurity(self.criterion, node_stats, weight)
            for name, v in (("value", self._node_value(node_stats, weight)), ("impurity", impurity),
                            ("n_node_samples", len(rows)), ("weighted_n_node_samples", weight),
                            ("children_left", TREE_LEAF), ("children_right", TREE_LEAF)):  # fmt: skip
                cols[name].append(v)
            split = None
            if not (depth >= max_depth or len(rows) < self.min_samples_split
                    or len(rows) < 2 * self.min_samples_leaf or impurity <= EPSILON):  # fmt: skip
                split = choose_split(X[rows], stats[rows], w[rows], self.criterion, self.min_samples_leaf,
                                     self.max_features_, rng)  # fmt: skip
            cols["feature"].append(TREE_UNDEFINED if split is None else split.feature)
            cols["threshold"].append(float(TREE_UNDEFINED) if split is None else split.threshold)
            if split is not None:
                goes_left = X[rows, split.feature] <= split.threshold
                stack.append((rows[~goes_left], depth + 1, node, False))
                stack.append((rows[goes_left], depth + 1, node, True))
        return TreeArrays(**{name: np.array(v) for name, v in cols.items()})

    def apply(self, X) -> np.ndarray:
        """(n,) index of the leaf each row of X (n, d) lands in, all rows walked down together."""
        check_fitted(self, "tree_")  # (cost_complexity_pruning_path sets n_features_in_ but keeps no tree)
        X = check_predict_input(self, X, n_features_from="n_features_in_")
        t = self.tree_
        node = np.zeros(len(X), dtype=np.intp)
        active = np.flatnonzero(t.children_left[node] != TREE_LEAF)
        while len(active):
            at = node[active]
            goes_left = X[active, t.feature[at]] <= t.threshold[at]
            node[active] = np.where(goes_left, t.children_left[at], t.children_right[at])
            active = active[t.children_left[node[active]] != TREE_LEAF]
        return node

    def cost_complexity_pruning_path(self, X, y, sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
        """(ccp_alphas, impurities) of the unpruned tree grown on (X, y) with these settings (see module header)."""
        alphas, impurities, _ = weakest_link_pruning(self._fit_arrays(X, y, sample_weight))
        return alphas, impurities

    def get_depth(self) -> int:
        """The number of edges on the longest root-to-leaf path (0 for a single leaf)."""
        check_predict_input(self, np.zeros((1, self.n_features_in_)), n_features_from="n_features_in_")
        depth = np.zeros(self.tree_.node_count, dtype=int)
        for i in np.flatnonzero(self.tree_.children_left != TREE_LEAF):  # parents come before their children
            depth[[self.tree_.children_left[i], self.tree_.children_right[i]]] = depth[i] + 1
        return int(depth.max())

    def get_n_leaves(self) -> int:
        """The number of leaves."""
        check_predict_input(self, np.zeros((1, self.n_features_in_)), n_features_from="n_features_in_")
        return int(np.sum(self.tree_.children_left == TREE_LEAF))


class DecisionTreeClassifier(_BaseDecisionTree):
    """CART classifier: Gini or entropy splits; leaves predict the weighted class fractions of their samples."""

    _task = "classification"

    def __init__(self, criterion: str = "gini", max_depth: int | None = None, min_samples_split: int = 2,
                 min_samples_leaf: int = 1, max_features: int | float | str | None = None, ccp_alpha: float = 0.0,
                 random_state: int | None = None) -> None:  # fmt: skip
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf, max_features, ccp_alpha,
                         random_state)  # fmt: skip

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """(n, K) one-hot classes; sets ``classes_`` (sorted labels)."""
        self.classes_, codes = np.unique(y, return_inverse=True)
        return np.eye(len(self.classes_))[codes]

    def _node_value(self, stats: np.ndarray, weight: float) -> np.ndarray:
        return stats / stats.sum()

    def predict_proba(self, X) -> np.ndarray:
        """(n, K) class probabilities (the leaf's class fractions), columns in ``classes_`` order."""
        leaves = self.apply(X)
        return self.tree_.value[leaves]

    def predict(self, X) -> np.ndarray:
        """(n,) the most frequent class of each row's leaf (ties: the first in ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class DecisionTreeRegressor(_BaseDecisionTree):
    """CART regressor: squared-error splits; leaves predict the weighted mean target of their samples."""

    def __init__(self, criterion: str = "squared_error", max_depth: int | None = None, min_samples_split: int = 2,
                 min_samples_leaf: int = 1, max_features: int | float | str | None = None, ccp_alpha: float = 0.0,
                 random_state: int | None = None) -> None:  # fmt: skip
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf, max_features, ccp_alpha,
                         random_state)  # fmt: skip

    def predict(self, X) -> np.ndarray:
        """(n,) the mean training target of each row's leaf."""
        leaves = self.apply(X)
        return self.tree_.value[leaves, 0]
