"""Tests of mlcourse.checks.p06_random_forests: every check passes the reference solution, reads an untouched
stub as "not attempted", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np

from mlcourse.checks import p06_random_forests as checks
from mlcourse.classical.boosting import boosting_stage
from mlcourse.classical.forest import bootstrap_counts, oob_average, permutation_importance
from mlcourse.classical.tree import DecisionTreeRegressor
from check_helpers import fails_with, stub


# ---------------------------------------------------------------- bootstrap counts


def test_bootstrap_check_passes_the_reference(capsys):
    assert checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.integers(0, n, size=n), minlength=n))
    assert checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.choice(n, size=n), minlength=n))
    assert checks.check_bootstrap_counts(bootstrap_counts)
    assert checks.check_bootstrap_counts(stub).status == "not attempted"
    assert "✓ passed: bootstrap counts" in capsys.readouterr().out


def test_bootstrap_check_names_the_typical_mistakes(capsys):
    capsys.readouterr()
    fails_with(capsys, checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.permutation(n), minlength=n)),
               "without replacement")
    fails_with(capsys, checks.check_bootstrap_counts(lambda n, rng: rng.integers(0, n, size=n)), "np.bincount(indices")
    fails_with(capsys, checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.integers(0, n - 3, size=n))),
               "minlength=n")
    fails_with(capsys,
               checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.integers(0, n, size=n // 2), minlength=n)), "as many draws as there are rows")
    fails_with(capsys, checks.check_bootstrap_counts(lambda n, rng: bootstrap_counts(n, np.random.default_rng(7))),
               "do not follow the rng")
    fails_with(capsys,
               checks.check_bootstrap_counts(lambda n, rng: np.bincount(rng.integers(0, n // 2, size=n), minlength=n)), "were never drawn")


# ---------------------------------------------------------------- out-of-bag average


def test_oob_check_passes_the_reference(capsys):
    def reference(predictions, counts):
        out = counts == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            return (predictions * out).sum(0) / out.sum(0)

    assert checks.check_oob_average(reference)
    assert checks.check_oob_average(lambda p, c: oob_average(p, c)[0])
    assert checks.check_oob_average(stub).status == "not attempted"


def test_oob_check_names_the_typical_mistakes(capsys):
    def masked_mean(predictions, mask, divide_by=None):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (predictions * mask).sum(0) / (mask.sum(0) if divide_by is None else divide_by)

    capsys.readouterr()
    fails_with(capsys, checks.check_oob_average(lambda p, c: p.mean(0)), "you averaged over every tree")
    fails_with(capsys, checks.check_oob_average(lambda p, c: masked_mean(p, c > 0)), "(counts > 0)")
    fails_with(capsys, checks.check_oob_average(lambda p, c: (p * c).sum(0) / c.sum(0)), "weighted the trees")
    fails_with(capsys, checks.check_oob_average(lambda p, c: np.nan_to_num(masked_mean(p, c == 0))), "return NaN there")
    fails_with(capsys, checks.check_oob_average(lambda p, c: masked_mean(p, c == 0, len(p))), "divided by the number")
    fails_with(capsys, checks.check_oob_average(lambda p, c: masked_mean(p, c == 0)[:-1]), "of shape (10,)")


# ---------------------------------------------------------------- permutation importance


def test_permutation_check_passes_the_reference_and_other_valid_orders(capsys):
    def library(model, X, y, n_repeats, rng):
        return permutation_importance(model, X, y, n_repeats=n_repeats, random_state=rng.integers(2**31))

    def repeats_outer(model, X, y, n_repeats, rng):  # another valid order of the permutations
        base, drops = model.score(X, y), np.zeros((X.shape[1], n_repeats))
        for r in range(n_repeats):
            for j in range(X.shape[1]):
                shuffled = X.copy()
                shuffled[:, j] = rng.permutation(X[:, j])
                drops[j, r] = base - model.score(shuffled, y)
        return drops

    assert checks.check_permutation_importance(library)
    assert checks.check_permutation_importance(repeats_outer)
    assert checks.check_permutation_importance(stub).status == "not attempted"


def _importance(model, X, y, n_repeats, rng, *, in_place=False, restore=True, rows=False, sign=1, scores=False):
    """The typical mistakes, switched on one at a time."""
    X_work = X if in_place else X.copy()
    base, drops = model.score(X, y), np.zeros((X.shape[1], n_repeats))
    for j in range(X.shape[1]):
        original = X_work[:, j].copy()
        for r in range(n_repeats):
            if rows:
                X_work = X[rng.permutation(len(X))]
            else:
                X_work[:, j] = original[rng.permutation(len(X))]
            after = model.score(X_work, y)
            drops[j, r] = after if scores else sign * (base - after)
        if restore and not rows:
            X_work[:, j] = original
    return drops


def test_permutation_check_names_the_typical_mistakes(capsys):
    capsys.readouterr()
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a, in_place=True, restore=False)),
               "changed the X it was given")
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a, sign=-1)), "signs are flipped")
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a, scores=True)),
               "returned the scores after shuffling")
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a, restore=False)),
               "feature 2, which the model never uses")
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a, rows=True)),
               "feature 2, which the model never uses")
    fails_with(capsys, checks.check_permutation_importance(lambda *a: _importance(*a).T), "one row per feature")
    fails_with(capsys,
               checks.check_permutation_importance(lambda m, X, y, k, rng: _importance(m, X, y, k, np.random.default_rng())), "same rng seed gave different importances")


# ---------------------------------------------------------------- boosting stage


def test_boosting_check_passes_the_reference(capsys):
    def reference(X, y, F, learning_rate, max_depth):
        tree = DecisionTreeRegressor(max_depth=max_depth).fit(X, y - F)
        return tree, F + learning_rate * tree.predict(X)

    assert checks.check_boosting_stage(reference)
    assert checks.check_boosting_stage(
        lambda X, y, F, lr, d: boosting_stage(X, y, F, lr, lambda: DecisionTreeRegressor(max_depth=d)))
    assert checks.check_boosting_stage(stub).status == "not attempted"


def test_boosting_check_names_the_typical_mistakes(capsys):
    def stage(X, y, F, lr, depth, *, target="residual", step=1.0, base="F", in_place=False):
        targets = {"residual": y - F, "y": y, "flipped": F - y}
        tree = DecisionTreeRegressor(max_depth=depth).fit(X, targets[target])
        start = {"F": F, "zero": 0.0, "mean": y.mean()}[base]
        if in_place:
            F += lr * tree.predict(X)
            return tree, F
        return tree, start + step * lr * tree.predict(X)

    capsys.readouterr()
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, target="y")), "you fitted the tree to y")
    fails_with(capsys, checks.check_boosting_stage(lambda X, y, F, lr, d: stage(X, y, F, 1.0, d)),
               "multiply its prediction by learning_rate")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, target="flipped")), "wrong way")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, step=-1.0)), "wrong way")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, base="zero")), "only the step")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, base="mean")), "restarted from mean(y)")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a, in_place=True)), "modified in place")
    fails_with(capsys, checks.check_boosting_stage(lambda *a: stage(*a)[1]), "expected a tuple (tree, F_new)")
    fails_with(capsys, checks.check_boosting_stage(lambda X, y, F, lr, d: stage(X, y, F, lr, d + 2)), "F_new")
