"""Bagging and random forests from scratch: many trees on bootstrap samples, averaged, with free validation.

What it does:

* :func:`friedman_function` and :func:`sample_friedman`: the chapter's known regression problem (5 useful
  inputs, 5 useless ones), sampled from a seeded generator, so that "another training set" is reproducible.
* :func:`bootstrap_counts`: a bootstrap sample of n rows as counts (how often each row was drawn, with
  replacement). A tree is fitted on the drawn rows with the counts as ``sample_weight``: a row drawn twice
  weighs twice. The rows drawn zero times (about ``(1 - 1/n)^n ~ 1/e = 36.8%``) are that tree's out-of-bag rows.
* :class:`RandomForestClassifier` and :class:`RandomForestRegressor`: B trees (chapter 5's
  :mod:`~mlcourse.classical.tree`), each on its own bootstrap sample and, with ``max_features``, choosing every
  split among a random subset of the features. The classifier averages the trees' class probabilities and
  takes the most probable class (as scikit-learn does); the regressor averages their predictions. *Bagging* is
  the case ``max_features=None`` (every feature at every split); ``bootstrap=False`` fits every tree on all rows.
* :func:`oob_average`: each row's prediction by the trees that did not see it. ``oob_score=True`` turns it into
  an out-of-bag accuracy or R^2, a validation estimate that needs no held-out data.
* ``feature_importances_`` (impurity importance: the trees' impurity decreases per feature, averaged, as
  scikit-learn's) and :func:`permutation_importance` (the drop in score when one column is shuffled).
* :class:`TreeEnsemble`: what a forest and gradient boosting (:mod:`~mlcourse.classical.boosting`) share, the
  number of trees, the settings every tree is grown with, the seed, and the checks of ``fit`` and ``predict``.
* :func:`tree_correlation`: from the predictions of B trees on M independent training sets, the variance
  ``sigma^2`` of one tree and the correlation ``rho`` between two trees of the same forest, which give the
  forest's variance ``rho sigma^2 + (1 - rho) sigma^2 / B`` (:func:`forest_variance`).

What it does not do: parallel fitting (scikit-learn builds its trees in compiled code, on several cores),
class weights, sub-sampled bootstraps (``max_samples``), extremely randomised trees, or out-of-bag
permutation importances (ours permute a held-out set). Taught in chapter 6.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlcourse.classical.tree import DecisionTreeClassifier, DecisionTreeRegressor
from mlcourse.classical.validation import check_fitted, check_predict_input, check_X, check_X_y


def friedman_function(X: np.ndarray) -> np.ndarray:
    """The chapter's known regression function of (n, d >= 5) inputs in [0, 1] (Friedman, 1991), (n,):
    ``10 sin(pi x0 x1) + 20 (x2 - 1/2)^2 + 10 x3 + 5 x4``; the columns after the fifth carry no signal."""
    return 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]


def sample_friedman(n: int, rng: np.random.Generator, *, n_features: int = 10,
                    noise_sd: float = 1.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """X (n, n_features) uniform on [0, 1] and y (n,) = :func:`friedman_function` (X) + Gaussian noise."""
    X = rng.uniform(size=(n, n_features))
    return X, friedman_function(X) + noise_sd * rng.standard_normal(n)


def bootstrap_counts(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_samples,) ints: how many times each row is drawn in n_samples draws with replacement (sum = n_samples)."""
    drawn = rng.integers(0, n_samples, size=n_samples)  # (n,) row indices, repeats allowed
    return np.bincount(drawn, minlength=n_samples)


def oob_average(tree_predictions: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's average over the trees for which it was out of bag.

    Args:
        tree_predictions: (B, n) or (B, n, K): every tree's prediction (or class probabilities) for every row.
        counts: (B, n) bootstrap counts; ``counts[b, i] == 0`` means row i was out of tree b's bag.

    Returns ``(average, n_oob)``: the average over the out-of-bag trees, (n,) or (n, K), NaN for a row that
    was in every bag, and ``n_oob`` (n,), the number of trees it was out of.
    """
    oob = (counts == 0).astype(np.float64)  # (B, n): 1 where tree b did not see row i
    n_oob = oob.sum(axis=0)  # (n,)
    weights = oob.reshape(oob.shape + (1,) * (tree_predictions.ndim - 2))  # (B, n) or (B, n, 1)
    total = (weights * tree_predictions).sum(axis=0)  # (n,) or (n, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = total / n_oob.reshape(n_oob.shape + (1,) * (tree_predictions.ndim - 2))
    return average, n_oob


class TreeEnsemble:
    """An ensemble of chapter 5's trees (a forest, a boosted sum): scikit-learn's parameter names, stored as given
    (checked at ``fit``), and the checks of ``fit`` and ``predict`` input."""

    def __init__(self, n_estimators: int, *, max_depth: int | None, min_samples_split: int, min_samples_leaf: int,
                 max_features: int | float | str | None, random_state: int | None) -> None:  # fmt: skip
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.estimators_: list[Any] | None = None

    def _check_fit_input(self, X: Any, y: Any, *, classification: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Checked X (n, d) and y (n,); ``ValueError`` also for an ``n_estimators`` that is not a positive integer."""
        X, y = check_X_y(X, y, classification=classification)
        if int(self.n_estimators) != self.n_estimators or self.n_estimators < 1:
            raise ValueError(f"n_estimators must be a positive integer, got {self.n_estimators!r}.")
        return X, y

    def _check_input(self, X: Any) -> np.ndarray:
        return check_predict_input(self, X, n_features_from="n_features_in_")


class _Forest(TreeEnsemble):
    """What the classifier and the regressor share: the bootstrap loop, OOB bookkeeping, importances."""

    _tree_class: type = DecisionTreeRegressor
    _classification = False

    def __init__(self, n_estimators: int, *, criterion: str, bootstrap: bool, oob_score: bool,
                 **tree_settings: Any) -> None:  # fmt: skip
        super().__init__(n_estimators, **tree_settings)
        self.criterion = criterion
        self.bootstrap = bootstrap
        self.oob_score = oob_score

    def fit(self, X: Any, y: Any) -> "_Forest":
        """Fit ``n_estimators`` trees, each on its own bootstrap sample of (X (n, d), y (n,))."""
        X, y = self._check_fit_input(X, y, classification=self._classification)
        if self.oob_score and not self.bootstrap:
            raise ValueError("oob_score=True needs bootstrap=True: without bootstrap samples every tree sees every "
                             "row, so no row is out of bag.")
        n = len(y)
        if self._classification:
            self.classes_, y = np.unique(y, return_inverse=True)  # y becomes class indices 0 .. K-1
        rng = np.random.default_rng(self.random_state)
        self.n_features_in_ = X.shape[1]
        self.estimators_, counts = [], []
        for _ in range(int(self.n_estimators)):
            c = bootstrap_counts(n, rng) if self.bootstrap else np.ones(n, dtype=np.int64)
            tree = self._tree_class(criterion=self.criterion, max_depth=self.max_depth,
                                    min_samples_split=self.min_samples_split, min_samples_leaf=self.min_samples_leaf,
                                    max_features=self.max_features, random_state=int(rng.integers(2**31 - 1)))
            # every row goes in with its count as weight: the tree drops the rows of weight 0 (as scikit-learn's
            # does) but still knows every class, even one that this bootstrap sample missed
            tree.fit(X, y, sample_weight=c.astype(np.float64))
            self.estimators_.append(tree)
            counts.append(c)
        self.bootstrap_counts_ = np.array(counts)  # (B, n)
        if self.oob_score:
            self._set_oob(X, y)
        return self

    def tree_predictions(self, X: Any) -> np.ndarray:
        """Every tree's output: (B, n) predictions for the regressor, (B, n, K) class probabilities for the classifier."""
        X = self._check_input(X)
        return np.stack([self._tree_output(tree, X) for tree in self.estimators_])

    def _set_oob(self, X: np.ndarray, y: np.ndarray) -> None:
        average, n_oob = oob_average(self.tree_predictions(X), self.bootstrap_counts_)
        seen = n_oob > 0
        if not seen.all():
            warnings.warn(f"{int((~seen).sum())} of {len(y)} rows were in every tree's bag and have no out-of-bag "
                          "prediction; they are left out of oob_score_. Use more trees.", stacklevel=3)
        if self._classification:
            self.oob_decision_function_ = average  # (n, K)
            self.oob_score_ = float(np.mean(average[seen].argmax(axis=1) == y[seen]))
        else:
            self.oob_prediction_ = average  # (n,)
            self.oob_score_ = float(1 - np.sum((y[seen] - average[seen]) ** 2) / np.sum((y[seen] - y[seen].mean()) ** 2))

    @property
    def feature_importances_(self) -> np.ndarray:
        """(d,) impurity importance: the trees' normalised importances averaged (single-leaf trees skipped), sum 1."""
        check_fitted(self, "estimators_")
        per_tree = [t.feature_importances_ for t in self.estimators_ if t.feature_importances_.sum() > 0]
        if not per_tree:
            return np.zeros(self.n_features_in_)
        mean = np.mean(per_tree, axis=0)
        return mean / mean.sum()


class RandomForestRegressor(_Forest):
    """A random forest of regression trees: the average of B trees' predictions.

    Defaults follow scikit-learn: ``max_features=1.0`` (every feature: plain bagging of regression trees),
    trees grown until their leaves are pure or hold ``min_samples_leaf`` rows. After ``fit`` with
    ``oob_score=True``: ``oob_score_`` (out-of-bag R^2) and ``oob_prediction_`` (n,).
    """

    def __init__(self, n_estimators: int = 100, *, max_features: int | float | str | None = 1.0,
                 max_depth: int | None = None, min_samples_split: int = 2, min_samples_leaf: int = 1,
                 bootstrap: bool = True, oob_score: bool = False, random_state: int | None = None) -> None:  # fmt: skip
        super().__init__(n_estimators, criterion="squared_error", max_features=max_features, max_depth=max_depth,
                         min_samples_split=min_samples_split, min_samples_leaf=min_samples_leaf,
                         bootstrap=bootstrap, oob_score=oob_score, random_state=random_state)  # fmt: skip

    @staticmethod
    def _tree_output(tree: Any, X: np.ndarray) -> np.ndarray:
        return tree.predict(X)

    def predict(self, X: Any) -> np.ndarray:
        """X (n, d) -> (n,): the mean of the trees' predictions."""
        return self.tree_predictions(X).mean(axis=0)

    def score(self, X: Any, y: Any) -> float:
        """The coefficient of determination R^2 on (X, y)."""
        y = np.asarray(y, dtype=np.float64)
        return float(1 - np.sum((y - self.predict(X)) ** 2) / np.sum((y - y.mean()) ** 2))


class RandomForestClassifier(_Forest):
    """A random forest of classification trees: the class with the highest average probability over B trees.

    Defaults follow scikit-learn: ``criterion="gini"``, ``max_features="sqrt"`` (sqrt(d) candidate features per
    split). After ``fit``: ``classes_``; with ``oob_score=True`` also ``oob_score_`` (out-of-bag accuracy) and
    ``oob_decision_function_`` (n, K).
    """

    _tree_class = DecisionTreeClassifier
    _classification = True

    def __init__(self, n_estimators: int = 100, *, criterion: str = "gini",
                 max_features: int | float | str | None = "sqrt", max_depth: int | None = None,
                 min_samples_split: int = 2, min_samples_leaf: int = 1, bootstrap: bool = True,
                 oob_score: bool = False, random_state: int | None = None) -> None:  # fmt: skip
        super().__init__(n_estimators, criterion=criterion, max_features=max_features, max_depth=max_depth,
                         min_samples_split=min_samples_split, min_samples_leaf=min_samples_leaf,
                         bootstrap=bootstrap, oob_score=oob_score, random_state=random_state)  # fmt: skip

    def _tree_output(self, tree: Any, X: np.ndarray) -> np.ndarray:
        """(n, K) probabilities in the forest's class order (the tree's classes are the indices 0 .. K-1)."""
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, tree.classes_.astype(np.int64)] = tree.predict_proba(X)  # placed by class index, not position
        return proba

    def predict_proba(self, X: Any) -> np.ndarray:
        """X (n, d) -> (n, K): the trees' class probabilities averaged (columns in ``classes_`` order)."""
        return self.tree_predictions(X).mean(axis=0)

    def predict(self, X: Any) -> np.ndarray:
        """X (n, d) -> (n,) labels: the class with the highest average probability."""
        proba = self.predict_proba(X)  # checks that the forest is fitted first
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on (X, y)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def permutation_importance(model: Any, X: Any, y: Any, *, n_repeats: int = 5, random_state: int | None = None,
                           groups: list[list[int]] | None = None) -> np.ndarray:  # fmt: skip
    """(d, n_repeats): how much ``model.score`` falls when column j of X is shuffled, for each repeat.

    For every feature j and repeat r, column j is replaced by a random permutation of itself (the other
    columns and y are untouched, so the feature keeps its distribution but loses its link to the target), and
    the importance is ``score(X, y) - score(X_shuffled, y)``. Use held-out data: on the training rows a model
    that memorised noise makes every feature it overfitted look important. Permutations are drawn in the order
    j = 0 .. d-1, r = 0 .. n_repeats-1 from ``np.random.default_rng(random_state)``. With ``groups`` (lists of
    column indices) each group's columns are shuffled together, by one permutation of the rows, and the result
    is (len(groups), n_repeats): what a set of redundant features is worth together.
    """
    X = check_X(X)
    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    groups = [[j] for j in range(X.shape[1])] if groups is None else groups
    baseline = model.score(X, y)
    drops = np.empty((len(groups), n_repeats))
    for g, columns in enumerate(groups):
        X_shuffled = X.copy()  # a copy per feature: the caller's X is never modified
        for r in range(n_repeats):
            X_shuffled[:, columns] = X[rng.permutation(len(X))][:, columns]
            drops[g, r] = baseline - model.score(X_shuffled, y)
    return drops


def tree_correlation(predictions: np.ndarray) -> dict[str, float]:
    """The variance of one tree and the correlation between two trees of one forest, measured.

    Args:
        predictions: (M, B, n) predictions of B trees fitted on each of M independent training sets (one forest
            per training set), at the same n test points.

    A tree's prediction is ``T = mu + a + e``: ``a`` depends on the training set (shared by the trees of one
    forest), ``e`` on the tree's own bootstrap sample and feature draws. The one-way analysis of variance gives
    unbiased estimates, at every test point, of ``within = Var(e)`` (the mean over forests of the variance
    between their trees) and ``between = Var(a)`` (the variance over training sets of the forests' averages,
    minus ``within / B``). Returns, averaged over the n points: ``sigma2 = between + within`` (the variance of
    one tree), ``rho = between / sigma2`` (the correlation of two trees of one forest), ``between`` and
    ``within``. A forest of b such trees then has variance ``rho sigma2 + (1 - rho) sigma2 / b``.
    """
    M, B, _ = predictions.shape
    if M < 2 or B < 2:
        raise ValueError(f"need at least 2 training sets and 2 trees per forest, got M={M}, B={B}.")
    within = predictions.var(axis=1, ddof=1).mean(axis=0)  # (n,) Var(e): spread of the trees of one forest
    forests = predictions.mean(axis=1)  # (M, n) every forest's average
    between = forests.var(axis=0, ddof=1) - within / B  # (n,) Var(a): what no number of trees averages away
    sigma2 = float((between + within).mean())
    return {"sigma2": sigma2, "rho": float(between.mean()) / sigma2, "between": float(between.mean()),
            "within": float(within.mean())}  # fmt: skip


def forest_variance(rho: float, sigma2: float, n_trees: int | np.ndarray) -> np.ndarray | float:
    """``rho sigma2 + (1 - rho) sigma2 / B``: the variance of the average of B trees with variance sigma2 and
    pairwise correlation rho. It falls like 1/B towards the floor ``rho sigma2``, which more trees cannot lower."""
    return rho * sigma2 + (1 - rho) * sigma2 / np.asarray(n_trees, dtype=np.float64)
