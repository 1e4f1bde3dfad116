"""The exercise checks of chapter 10 (features and preprocessing pipelines): each passes the reference solution,
reads a stub as 'not attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p10_feature_pipelines as checks
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


# ---------------------------------------------------------------- standard scaler


def fit_ok(X, ddof=0, fix_zero=True, axis=0, variance=False):
    mean, std = X.mean(axis=axis), X.std(axis=axis, ddof=ddof)
    scale = X.var(axis=axis) if variance else std
    return mean, (np.where(scale == 0, 1.0, scale) if fix_zero else scale)


def transform_ok(X, mean, scale):
    return (X - mean) / scale


def test_scaler_check_passes_the_reference_and_reads_a_stub(capsys):
    assert checks.check_scaler(fit_ok, transform_ok)
    assert capsys.readouterr().out.startswith("✓ passed: standard scaler")
    assert checks.check_scaler(stub, transform_ok).status == "not attempted"
    assert checks.check_scaler(fit_ok, stub).status == "not attempted"


@pytest.mark.parametrize("kwargs,hint", [
    (dict(ddof=1), "ddof=1 (divides by n - 1)"),
    (dict(fix_zero=False), "set a zero standard deviation to 1"),
    (dict(axis=1), "use axis=0"),
    (dict(variance=True), "take its square root"),
])  # fmt: skip
def test_scaler_check_names_fit_mistakes(capsys, kwargs, hint):
    fails_with(capsys, checks.check_scaler(lambda X: fit_ok(X, **kwargs), transform_ok), hint)


@pytest.mark.parametrize("transform,hint", [
    (lambda X, m, s: (X - X.mean(0)) / X.std(0), "the test rows' own mean"),
    (lambda X, m, s: X / s - m, "subtract the mean before dividing"),
    (lambda X, m, s: (X - m) * s, "multiply instead of divide"),
])  # fmt: skip
def test_scaler_check_names_transform_mistakes(capsys, transform, hint):
    fails_with(capsys, checks.check_scaler(fit_ok, transform), hint)


# ---------------------------------------------------------------- one-hot


def one_hot_ok(train, values, sort=True, unknown_column=False, raise_unknown=False, from_values=False):
    cats = list(np.unique(train)) if sort else list(dict.fromkeys(train))
    if from_values:
        cats = sorted(set(train) | set(values))
    if raise_unknown:
        return np.array([np.eye(len(cats))[cats.index(v)] for v in values])
    rows = [[float(v == c) for c in cats] + ([float(v not in cats)] if unknown_column else []) for v in values]
    return np.array(rows)


def test_one_hot_check_passes_the_reference_and_reads_a_stub(capsys):
    assert checks.check_one_hot(one_hot_ok)
    assert checks.check_one_hot(stub).status == "not attempted"


@pytest.mark.parametrize("kwargs,hint", [
    (dict(sort=False), "order of first appearance"),
    (dict(unknown_column=True), "a column of their own"),
    (dict(raise_unknown=True), "must give a row of zeros, not an error"),
    (dict(from_values=True), "from the training values only"),
])  # fmt: skip
def test_one_hot_check_names_mistakes(capsys, kwargs, hint):
    fails_with(capsys, checks.check_one_hot(lambda t, v: one_hot_ok(t, v, **kwargs)), hint)


# ---------------------------------------------------------------- TF-IDF


def tfidf_ok(counts, df_total=False, smooth=True, plus_one=True, log=np.log, norm=2, fix_zero=True, divide=False):
    n = len(counts)
    df = counts.sum(0) if df_total else (counts > 0).sum(0)
    idf = log((1 + n) / (1 + df)) if smooth else log(n / df)
    idf = idf + 1 if plus_one else idf
    W = counts / idf if divide else counts * idf
    if norm is None:
        return W
    norms = np.linalg.norm(W, ord=norm, axis=1, keepdims=True)
    return W / (np.where(norms == 0, 1.0, norms) if fix_zero else norms)


def test_tfidf_check_passes_the_reference_and_reads_a_stub(capsys):
    assert checks.check_tfidf(tfidf_ok)
    assert checks.check_tfidf(stub).status == "not attempted"


@pytest.mark.parametrize("kwargs,hint", [
    (dict(df_total=True), "texts containing the word"),
    (dict(smooth=False), "no smoothing"),
    (dict(plus_one=False), "the +1 after the logarithm"),
    (dict(log=np.log10), "log10"),
    (dict(norm=None), "not normalised"),
    (dict(norm=1), "unit sum (L1)"),
    (dict(fix_zero=False), "has norm 0"),
    (dict(divide=True), "instead of multiplying"),
])  # fmt: skip
def test_tfidf_check_names_mistakes(capsys, kwargs, hint):
    with np.errstate(divide="ignore", invalid="ignore"):
        fails_with(capsys, checks.check_tfidf(lambda c: tfidf_ok(c, **kwargs)), hint)
