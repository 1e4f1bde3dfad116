"""Tests of mlcourse.checks.p09_model_selection: every check passes the reference solution, reads an untouched
stub as "not attempted", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import itertools
import math

import numpy as np

from mlcourse.checks import p09_model_selection as checks
from mlcourse.classical import search
from check_helpers import fails_with, stub


# ---------------------------------------------------------------- grid expansion


def grid_reference(grid):
    keys = sorted(grid)
    return [dict(zip(keys, v)) for v in itertools.product(*(grid[k] for k in keys))]


def test_grid_check(capsys):
    assert checks.check_expand_grid(grid_reference)
    assert checks.check_expand_grid(stub).status == "not attempted"
    capsys.readouterr()
    fails_with(capsys, checks.check_expand_grid(lambda g: [dict(zip(g, v)) for v in zip(*g.values())]), "(zip)")
    fails_with(capsys,
        checks.check_expand_grid(
        lambda g: [dict(zip(sorted(g)[::-1], v)) for v in itertools.product(*(g[k] for k in sorted(g)[::-1]))]), "the LAST sorted key (kernel) must vary fastest")  # fmt: skip
    fails_with(capsys,
               checks.check_expand_grid(lambda g: [dict(zip(g, v)) for v in itertools.product(*g.values())]), "sort the keys first")  # fmt: skip
    fails_with(capsys, checks.check_expand_grid(lambda g: list(itertools.product(*g.values()))), "list of dicts")


# ---------------------------------------------------------------- random candidates


def random_reference(ranges, n_iter, rng):
    return [{k: float(10 ** rng.uniform(math.log10(lo), math.log10(hi))) for k, (lo, hi) in ranges.items()}
            for _ in range(n_iter)]  # fmt: skip


def test_random_check(capsys):
    assert checks.check_random_candidates(random_reference)
    assert checks.check_random_candidates(stub).status == "not attempted"
    capsys.readouterr()
    uniform = lambda r, n, rng: [{k: rng.uniform(lo, hi) for k, (lo, hi) in r.items()} for _ in range(n)]  # noqa: E731
    fails_with(capsys, checks.check_random_candidates(uniform), "you drew uniformly between low and high")

    def once(r, n, rng):
        c = random_reference(r, 1, rng)[0]
        return [dict(c) for _ in range(n)]

    fails_with(capsys, checks.check_random_candidates(once), "draw every value afresh")

    def same_draw(r, n, rng):
        out = []
        for _ in range(n):
            u = rng.uniform()
            out.append({k: 10 ** (math.log10(lo) + u * (math.log10(hi) - math.log10(lo))) for k, (lo, hi) in r.items()})
        return out

    fails_with(capsys, checks.check_random_candidates(same_draw), "draw each hyperparameter independently")


# ---------------------------------------------------------------- halving round


def halving_reference(cands, evaluate, n_resources, factor):
    scores = np.array([evaluate(c, n_resources) for c in cands])
    order = np.argsort(-scores, kind="stable")[: math.ceil(len(cands) / factor)]
    return [cands[i] for i in order], n_resources * factor


def test_halving_check(capsys):
    assert checks.check_halving_round(halving_reference)
    assert checks.check_halving_round(stub).status == "not attempted"
    capsys.readouterr()

    def floor(cands, ev, n, f):
        kept, nxt = halving_reference(cands, ev, n, f)
        return kept[: len(cands) // f], nxt

    def worst(cands, ev, n, f):
        s = np.array([ev(c, n) for c in cands])
        return [cands[i] for i in np.argsort(s)[: math.ceil(len(cands) / f)]], n * f

    def added(cands, ev, n, f):
        return halving_reference(cands, ev, n, f)[0], n + f

    fails_with(capsys, checks.check_halving_round(floor), "round up")
    fails_with(capsys, checks.check_halving_round(worst), "you kept the worst candidates")
    fails_with(capsys, checks.check_halving_round(added), "multiply by the factor")
    fails_with(capsys, checks.check_halving_round(lambda c, e, n, f: halving_reference(c, e, n, f)[0]), "expected a tuple")


# ---------------------------------------------------------------- nested CV


def nested_reference(make, cands, X, y, outer, inner, score):
    return search.nested_cv(make, cands, X, y, outer, inner, score)["outer_scores"]


def test_nested_check(capsys):
    assert checks.check_nested_cv(nested_reference)
    assert checks.check_nested_cv(stub).status == "not attempted"
    capsys.readouterr()

    def leaky(make, cands, X, y, outer, inner, score):
        best = search.evaluate_candidates(make, cands, X, y, inner, score, refit=False).best_params
        return [score(y[te], make(**best).fit(X[tr], y[tr]).predict(X[te])) for tr, te in outer.split(X)]

    def peeking(make, cands, X, y, outer, inner, score):
        return [max(score(y[te], make(**c).fit(X[tr], y[tr]).predict(X[te])) for c in cands) for tr, te in outer.split(X)]

    def no_refit(make, cands, X, y, outer, inner, score):
        return [score(y[te], make(**cands[0]).fit(X[tr], y[tr]).predict(X[te])) for tr, te in outer.split(X)]

    fails_with(capsys, checks.check_nested_cv(leaky), "the inner search ran on all of X")
    fails_with(capsys, checks.check_nested_cv(peeking), "best OUTER test score")
    fails_with(capsys, checks.check_nested_cv(no_refit), "for each outer (train, test)")
    fails_with(capsys, checks.check_nested_cv(lambda *a: nested_reference(*a)[:3]), "expected 5 outer scores")
