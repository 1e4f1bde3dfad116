"""Tests of mlcourse.checks.p09_model_selection: every check passes the reference solution, reads an untouched
stub as "not attempted", and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import itertools
import math

import numpy as np

from mlcourse.checks import p09_model_selection as checks
from mlcourse.classical import search


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def fails_with(verdict, capsys, hint: str) -> None:
    out = capsys.readouterr().out
    assert verdict.status == "failed", out
    assert hint in out, out


# ---------------------------------------------------------------- grid expansion


def grid_reference(grid):
    keys = sorted(grid)
    return [dict(zip(keys, v)) for v in itertools.product(*(grid[k] for k in keys))]


def test_grid_check(capsys):
    assert checks.check_expand_grid(grid_reference)
    assert checks.check_expand_grid(stub).status == "not attempted"
    capsys.readouterr()
    fails_with(checks.check_expand_grid(lambda g: [dict(zip(g, v)) for v in zip(*g.values())]), capsys, "(zip)")
    fails_with(checks.check_expand_grid(
        lambda g: [dict(zip(sorted(g)[::-1], v)) for v in itertools.product(*(g[k] for k in sorted(g)[::-1]))]),
        capsys, "the LAST sorted key (kernel) must vary fastest")  # fmt: skip
    fails_with(checks.check_expand_grid(lambda g: [dict(zip(g, v)) for v in itertools.product(*g.values())]),
               capsys, "sort the keys first")  # fmt: skip
    fails_with(checks.check_expand_grid(lambda g: list(itertools.product(*g.values()))), capsys, "list of dicts")


# ---------------------------------------------------------------- random candidates


def random_reference(ranges, n_iter, rng):
    return [{k: float(10 ** rng.uniform(math.log10(lo), math.log10(hi))) for k, (lo, hi) in ranges.items()}
            for _ in range(n_iter)]  # fmt: skip


def test_random_check(capsys):
    assert checks.check_random_candidates(random_reference)
    assert checks.check_random_candidates(stub).status == "not attempted"
    capsys.readouterr()
    uniform = lambda r, n, rng: [{k: rng.uniform(lo, hi) for k, (lo, hi) in r.items()} for _ in range(n)]  # noqa: E731
    fails_with(checks.check_random_candidates(uniform), capsys, "you drew uniformly between low and high")

    def once(r, n, rng):
        c = random_reference(r, 1, rng)[0]
        return [dict(c) for _ in range(n)]

    fails_with(checks.check_random_candidates(once), capsys, "draw every value afresh")

    def same_draw(r, n, rng):
        out = []
        for _ in range(n):
            u = rng.uniform()
            out.append({k: 10 ** (math.log10(lo) + u * (math.log10(hi) - math.log10(lo))) for k, (lo, hi) in r.items()})
        return out

    fails_with(checks.check_random_candidates(same_draw), capsys, "draw each hyperparameter independently")


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

    fails_with(checks.check_halving_round(floor), capsys, "round up")
    fails_with(checks.check_halving_round(worst), capsys, "you kept the worst candidates")
    fails_with(checks.check_halving_round(added), capsys, "multiply by the factor")
    fails_with(checks.check_halving_round(lambda c, e, n, f: halving_reference(c, e, n, f)[0]), capsys, "expected a tuple")


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

    fails_with(checks.check_nested_cv(leaky), capsys, "the inner search ran on all of X")
    fails_with(checks.check_nested_cv(peeking), capsys, "best OUTER test score")
    fails_with(checks.check_nested_cv(no_refit), capsys, "for each outer (train, test)")
    fails_with(checks.check_nested_cv(lambda *a: nested_reference(*a)[:3]), capsys, "expected 5 outer scores")
