"""Gradient boosting for the squared error, from scratch: a sum of small trees, each fitted to the residuals.

What it does: :class:`GradientBoostingRegressor` builds ``F_M(x) = F_0 + nu * sum_m h_m(x)``, starting from the
mean of the targets, ``F_0 = mean(y)``. Stage ``m`` (:func:`boosting_stage`) computes the negative gradient of
the loss ``1/2 (y - F)^2`` with respect to the current predictions, which for this loss is the residual
``y - F`` (:func:`squared_error_negative_gradient`), fits a small regression tree ``h_m`` to it (the chapter 5
tree, :class:`~mlcourse.classical.tree.DecisionTreeRegressor`), and takes a shrunken step
``F <- F + nu h_m(X)`` with the learning rate ``nu``. ``staged_predict`` gives the predictions after every
stage, so one fit traces the whole error curve against the number of trees. With the same settings it equals
scikit-learn's ``GradientBoostingRegressor`` (whose historical ``friedman_mse`` criterion ranks splits exactly as
the squared error does; scikit-learn 1.9 uses the squared error) up to ties between equally good splits.

What it does not do: other losses (absolute, Huber, log-loss for classification: they change the negative
gradient and the leaf values), subsampling of rows (stochastic gradient boosting), early stopping on a
validation set (the chapter watches ``staged_predict`` instead), or histogram binning of the features, which
is what makes scikit-learn's ``HistGradientBoostingRegressor`` fast. Taught in chapter 6.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from mlcourse.classical.forest import TreeEnsemble
from mlcourse.classical.tree import DecisionTreeRegressor
from mlcourse.classical.validation import check_fitted


def half_squared_error(y: np.ndarray, F: np.ndarray) -> float:
    """The boosting loss ``mean(1/2 (y - F)^2)`` for targets y (n,) and current predictions F (n,)."""
    return float(0.5 * np.mean((y - F) ** 2))


def squared_error_negative_gradient(y: np.ndarray, F: np.ndarray) -> np.ndarray:
    """``-d/dF_i [1/2 (y_i - F_i)^2] = y_i - F_i``, the residuals (n,): what the next tree is fitted to."""
    return y - F


def boosting_stage(X: np.ndarray, y: np.ndarray, F: np.ndarray, learning_rate: float,
                   make_tree: Callable[[], Any]) -> tuple[Any, np.ndarray]:  # fmt: skip
    """One stage of gradient boosting: fit a tree to the residuals and take a shrunken step.

    Args:
        X: (n, d) training inputs; y: (n,) targets; F: (n,) the model's current predictions on X.
        learning_rate: the shrinkage ``nu`` in ``F <- F + nu h(X)`` (0 < nu <= 1).
        make_tree: returns a fresh, unfitted regression tree.

    Returns ``(tree, F_new)``: the fitted tree ``h`` and the new predictions (n,), a new array (F is not modified).
    """
    residuals = squared_error_negative_gradient(y, F)  # (n,): the direction in which the loss falls fastest
    tree = make_tree().fit(X, residuals)  # h approximates the residuals with a few leaves
    return tree, F + learning_rate * tree.predict(X)  # a small step along h, not all the way


class GradientBoostingRegressor(TreeEnsemble):
    """Gradient-boosted regression trees for the squared error (scikit-learn's parameter names and defaults).

    Args:
        n_estimators: the number of stages (trees) M.
        learning_rate: the shrinkage nu applied to every tree; smaller needs more trees and overfits later.
        max_depth, min_samples_split, min_samples_leaf, max_features: passed to every tree.
        random_state: seeds the trees (it matters only for ``max_features`` and for ties between splits).

    Attributes after ``fit``: ``init_`` (the constant F_0 = mean(y)), ``estimators_`` (the M trees),
    ``train_score_`` (M,) (the training mean squared error after each stage, as scikit-learn's),
    ``n_features_in_``, ``feature_importances_`` (d,).
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.1, *, max_depth: int | None = 3,
                 min_samples_split: int = 2, min_samples_leaf: int = 1, max_features: int | float | str | None = None,
                 random_state: int | None = None) -> None:  # fmt: skip
        super().__init__(n_estimators, max_depth=max_depth, min_samples_split=min_samples_split,
                         min_samples_leaf=min_samples_leaf, max_features=max_features, random_state=random_state)
        self.learning_rate = learning_rate

    def _make_tree(self, rng: np.random.Generator) -> DecisionTreeRegressor:
        return DecisionTreeRegressor(max_depth=self.max_depth, min_samples_split=self.min_samples_split,
                                     min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                                     random_state=int(rng.integers(2**31 - 1)))  # fmt: skip

    def fit(self, X: Any, y: Any) -> "GradientBoostingRegressor":
        """Fit M stages on X (n, d) and y (n,); raises ``ValueError`` for bad input or settings."""
        X, y = self._check_fit_input(X, y)
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}: it is the fraction of "
                             "each tree's correction that is applied (0.1 is a common choice).")
        rng = np.random.default_rng(self.random_state)
        self.n_features_in_ = X.shape[1]
        self.init_ = float(y.mean())  # F_0: the best constant for the squared error
        F = np.full(len(y), self.init_)  # (n,)
        self.estimators_, scores = [], []
        for _ in range(int(self.n_estimators)):
            tree, F = boosting_stage(X, y, F, self.learning_rate, lambda: self._make_tree(rng))
            self.estimators_.append(tree)
            scores.append(float(np.mean((y - F) ** 2)))
        self.train_score_ = np.array(scores)  # (M,) training MSE after each stage
        return self

    def staged_predict(self, X: Any) -> Iterator[np.ndarray]:
        """Yield the predictions (n,) after stage 1, 2, ..., M: the whole learning curve from one fit."""
        X = self._check_input(X)
        F = np.full(len(X), self.init_)
        for tree in self.estimators_:
            F = F + self.learning_rate * tree.predict(X)
            yield F

    def predict(self, X: Any) -> np.ndarray:
        """X (n, d) -> (n,): ``F_0 + nu * sum_m h_m(X)``."""
        X = self._check_input(X)
        return self.init_ + self.learning_rate * np.sum([tree.predict(X) for tree in self.estimators_], axis=0)

    def score(self, X: Any, y: Any) -> float:
        """The coefficient of determination R^2 of the predictions on (X, y)."""
        y = np.asarray(y, dtype=np.float64)
        return float(1 - np.sum((y - self.predict(X)) ** 2) / np.sum((y - y.mean()) ** 2))

    @property
    def feature_importances_(self) -> np.ndarray:
        """(d,) impurity importance: each feature's total decrease of the squared error, summed over all the
        splits of all the trees (weighted by the rows they split), normalised to sum to 1, as scikit-learn's."""
        check_fitted(self, "estimators_")
        total = np.zeros(self.n_features_in_)
        for tree in self.estimators_:
            t = tree.tree_
            internal = np.flatnonzero(t.children_left >= 0)
            wi = t.weighted_n_node_samples * t.impurity  # (n_nodes,) weight x impurity
            decrease = wi[internal] - wi[t.children_left[internal]] - wi[t.children_right[internal]]
            total += np.bincount(t.feature[internal], weights=decrease, minlength=self.n_features_in_)
        return total / total.sum() if total.sum() > 0 else total
