"""Checks for the exercises of chapter 6 (random forests and boosting): each compares the learner's function with
the library, or, where randomness makes exact agreement impossible, with the properties the answer must have.

The learner writes a bootstrap sample as counts, the out-of-bag average, the permutation importance and one stage
of gradient boosting. Where a wrong answer has a typical cause (drawing without replacement, returning the drawn
indices instead of counts, averaging over the trees that *saw* a row, dividing by the number of trees, a column
shuffled in place and never restored, the importance with its sign flipped, a tree fitted to y instead of the
residuals, no shrinkage), the failure line names it. Every check prints one verdict line (see
:mod:`mlcourse.checks.core`); the inputs are small, fixed and built here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.classical.boosting import boosting_stage
from mlcourse.classical.forest import oob_average, permutation_importance
from mlcourse.classical.tree import DecisionTreeRegressor


def _array(name: str, got: object, shape: tuple[int, ...]) -> np.ndarray:
    """``got`` as a float64 array of exactly ``shape``, or a failure that says what came back."""
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"expected {name} as an array of shape {shape}, got {type(got).__name__} ({err})") from None
    expect(array.shape == shape, f"expected {name} of shape {shape}, got shape {array.shape}")
    return array


def _close(name: str, got: np.ndarray, expected: np.ndarray, *, atol: float = 1e-9, context: str = "") -> None:
    expect_close(name, torch.as_tensor(got), torch.as_tensor(np.asarray(expected, dtype=np.float64)), atol=atol,
                 rtol=1e-9, context=context)  # fmt: skip


def _same(got: np.ndarray, expected: np.ndarray, atol: float = 1e-9) -> bool:
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=atol, rtol=1e-9, equal_nan=True))


# ---------------------------------------------------------------- exercise 1: bootstrap counts


def check_bootstrap_counts(fn: Callable[[int, np.random.Generator], np.ndarray]) -> Verdict:
    """``fn(n, rng) -> counts (n,)``: how often each of n rows is drawn in n uniform draws with replacement."""

    def body() -> str:
        n = 5000
        raw = np.asarray(fn(n, np.random.default_rng(0)))
        if raw.ndim == 1 and len(raw) < n and raw.sum() == n:
            raise CheckFailed(f"got {len(raw)} counts for {n} rows: np.bincount stops at the largest index drawn; "
                              "pass minlength=n so that rows at the end that were never drawn get a 0")
        counts = _array("counts", raw, (n,))
        if np.all(counts == 1):
            raise CheckFailed("every row was drawn exactly once: that is a permutation (drawing without replacement). "
                              "A bootstrap draws n times *with* replacement, so some rows come twice and some never")
        if counts.sum() != n and counts.max() >= 20:
            raise CheckFailed("these look like the drawn row indices, not counts: turn the indices into counts with "
                              "np.bincount(indices, minlength=n)")
        expect(np.all(counts >= 0) and np.all(counts == np.round(counts)), "counts must be whole numbers >= 0")
        expect(counts.sum() == n, f"the counts sum to {counts.sum():.0f}, expected {n}: a bootstrap sample has as "
                                  "many draws as there are rows")  # fmt: skip
        left_out = np.mean(counts == 0)
        expect(abs(left_out - np.exp(-1)) < 0.03, f"{left_out:.1%} of the rows were never drawn, expected about "
               f"1/e = 36.8%: draw each of the n rows uniformly, rng.integers(0, n, size=n)")  # fmt: skip
        again = np.asarray(fn(n, np.random.default_rng(0)))
        other = np.asarray(fn(n, np.random.default_rng(1)))
        expect(np.array_equal(again, counts) and not np.array_equal(other, counts),
               "the counts do not follow the rng you were given (the same seed must give the same sample, another "
               "seed another one): draw with rng.integers, not np.random or a fixed seed")  # fmt: skip
        return "n draws with replacement: counts sum to n and about 1/e of the rows are left out"

    return run_check("bootstrap counts", body)


# ---------------------------------------------------------------- exercise 2: the out-of-bag average


def _oob_case() -> tuple[np.ndarray, np.ndarray]:
    """Tree predictions (B=6, n=10) and bootstrap counts in which row 9 is in every bag."""
    rng = np.random.default_rng(6)
    B, n = 6, 10
    predictions = np.round(rng.normal(50, 20, size=(B, n)), 1)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(B)])
    counts[:, 9] = np.maximum(counts[:, 9], 1)  # row 9: in every bag
    counts[np.arange(9) % B, np.arange(9)] = 0  # rows 0-8: out of at least one bag
    return predictions, counts


def check_oob_average(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Verdict:
    """``fn(tree_predictions (B, n), counts (B, n)) -> (n,)``: each row's mean over the trees it was out of (NaN if none)."""

    def body() -> str:
        predictions, counts = _oob_case()
        B, n = counts.shape
        got = _array("the out-of-bag average", fn(predictions.copy(), counts.copy()), (n,))
        expected = oob_average(predictions, counts)[0]
        if _same(got, expected):
            return "each row averaged over the trees that did not see it; NaN for the row in every bag"
        out, inbag = counts == 0, counts > 0
        if _same(got, predictions.mean(0)):
            raise CheckFailed("you averaged over every tree: only the trees for which the row was out of the bag "
                              "(counts[b, i] == 0) may vote, or the estimate is as optimistic as a training score")
        with np.errstate(invalid="ignore", divide="ignore"):
            if _same(got, (predictions * inbag).sum(0) / inbag.sum(0)):
                raise CheckFailed("you used the trees that saw the row (counts > 0): out of bag means counts == 0")
            if _same(got, (predictions * counts).sum(0) / counts.sum(0)):
                raise CheckFailed("you weighted the trees by the counts, which uses the trees that saw the row: "
                                  "out of bag means counts == 0")
        if _same(got[:-1], expected[:-1]) and not np.isnan(got[-1]):
            raise CheckFailed(f"row 9 was in every bag, so it has no out-of-bag prediction: return NaN there "
                              f"(got {got[-1]:.4g}); the score then leaves it out")  # fmt: skip
        if _same(got[:-1], ((predictions * out).sum(0) / B)[:-1]):
            raise CheckFailed("you divided by the number of trees B: divide by the number of trees the row was out of "
                              "(counts == 0).sum(axis=0)")
        _close("the out-of-bag average", got, expected)
        return ""

    return run_check("out-of-bag average", body)


# ---------------------------------------------------------------- exercise 3: permutation importance


class _LinearModel:
    """A fixed "model" predicting 3 x0 + x1 (x2 unused); ``score`` is R^2, as for a regressor."""

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(1 - np.sum((y - (3 * X[:, 0] + X[:, 1])) ** 2) / np.sum((y - y.mean()) ** 2))


def _importance_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 3))
    return X, 3 * X[:, 0] + X[:, 1]  # Var(y) = 10: shuffling x0 costs 2 * 9 / 10 = 1.8 of R^2, x1 costs 0.2, x2 0


def check_permutation_importance(fn: Callable[[Any, np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]
                                 ) -> Verdict:  # fmt: skip
    """``fn(model, X, y, n_repeats, rng) -> (d, n_repeats)``: score(X, y) minus the score with column j shuffled."""

    def body() -> str:
        X, y = _importance_case()
        X_given = X.copy()
        raw = fn(_LinearModel(), X_given, y, 5, np.random.default_rng(0))
        expect(np.array_equal(X_given, X), "your function changed the X it was given: shuffle a copy (X.copy()), "
                                           "or the next feature, and the caller, see a shuffled column")  # fmt: skip
        if np.shape(raw) == (5, 3):
            raise CheckFailed("got shape (n_repeats, d) = (5, 3): return one row per feature, shape (d, n_repeats)")
        drops = _array("the importances", raw, (3, 5))
        if _same(drops, permutation_importance(_LinearModel(), X, y, n_repeats=5, random_state=0)):
            return "equal to the library's, permutation for permutation"
        mean = drops.mean(1)
        if np.allclose(mean, [-1.8, -0.2, 0.0], atol=0.1):
            raise CheckFailed("the signs are flipped: the importance is the score *before* shuffling minus the score "
                              "after, so a useful feature gets a positive importance")
        if np.allclose(mean, [-0.8, 0.8, 1.0], atol=0.1):
            raise CheckFailed("you returned the scores after shuffling: return the drop, baseline score minus them")
        if abs(mean[2]) > 0.1:
            raise CheckFailed(f"feature 2, which the model never uses, got importance {mean[2]:.3g}, expected 0: "
                              "shuffle only column j, starting from the original X for every feature (a column "
                              "shuffled for feature j - 1 must not stay shuffled, and whole rows must not move)")
        expect(np.allclose(mean, [1.8, 0.2, 0.0], atol=0.1),
               f"mean importances {np.round(mean, 3).tolist()}, expected about [1.8, 0.2, 0.0] for a model 3 x0 + x1 "
               "with R^2 as score: importance[j, r] = score(X, y) - score(X with column j shuffled, y)")  # fmt: skip
        again = _array("the importances", fn(_LinearModel(), X.copy(), y, 5, np.random.default_rng(0)), (3, 5))
        expect(np.array_equal(again, drops), "two calls with the same rng seed gave different importances: draw the "
                                             "permutations from the rng you were given (rng.permutation(n))")  # fmt: skip
        return "the expected drops in R^2 (1.8, 0.2, 0) for a model 3 x0 + x1"

    return run_check("permutation importance", body)


# ---------------------------------------------------------------- exercise 4: one boosting stage


def _stage_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(80, 3))
    y = 5 * np.sin(3 * X[:, 0]) + 2 * X[:, 1] + 0.3 * rng.standard_normal(80)
    return X, y, y.mean() + 0.5 * X[:, 0]  # a current model F that is not a constant


def check_boosting_stage(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float, int], tuple[Any, np.ndarray]]
                         ) -> Verdict:  # fmt: skip
    """``fn(X, y, F, learning_rate, max_depth) -> (tree, F_new)``: fit a tree to y - F, step F + lr * tree(X)."""

    def body() -> str:
        X, y, F = _stage_case()
        lr, depth = 0.3, 2
        F_given = F.copy()
        result = fn(X, y, F_given, lr, depth)
        expect(isinstance(result, tuple) and len(result) == 2,
               f"expected a tuple (tree, F_new), got {type(result).__name__}")  # fmt: skip
        tree, F_new = result
        expect(np.array_equal(F_given, F), "F was modified in place: return F + learning_rate * tree.predict(X) as "
                                           "a new array, the caller still needs the old predictions")  # fmt: skip
        F_new = _array("F_new", F_new, F.shape)
        expect(hasattr(tree, "predict"), f"the first element should be the fitted tree, got {type(tree).__name__}")
        _, expected = boosting_stage(X, y, F, lr, lambda: DecisionTreeRegressor(max_depth=depth))
        if not _same(F_new, expected, atol=1e-8):
            fit = lambda target: DecisionTreeRegressor(max_depth=depth).fit(X, target).predict(X)  # noqa: E731
            mistakes = (
                (F + lr * fit(y), "you fitted the tree to y: fit it to the residuals y - F, the negative gradient"),
                (F + fit(y - F), "you added the whole tree: multiply its prediction by learning_rate (shrinkage)"),
                (F - lr * fit(y - F), "your step goes the wrong way: the residuals are y - F (the negative gradient "
                                      "of 1/2 (y - F)^2), and F_new = F + learning_rate * tree.predict(X)"),
                (lr * fit(y - F), "F_new is only the step: add it to the current predictions F"),
                (y.mean() + lr * fit(y - F), "you restarted from mean(y): add the step to the F you were given"),
            )  # fmt: skip
            for wrong, hint in mistakes:
                if _same(F_new, wrong, atol=1e-8):
                    raise CheckFailed(hint)
            _close("F_new", F_new, expected, atol=1e-8, context=f"learning_rate {lr}, max_depth {depth}")
        expect(np.allclose(tree.predict(X), DecisionTreeRegressor(max_depth=depth).fit(X, y - F).predict(X)),
               "F_new is right but the tree you returned is not the one fitted to the residuals")  # fmt: skip
        return "a depth-2 tree fitted to y - F and a step of 0.3 times its prediction"

    return run_check("boosting stage", body)
