"""The exercise checks of chapter 8 (cross-validation): each passes the reference solution, reads a stub as 'not
attempted', and fails the typical mistakes with the hint that names them."""

from __future__ import annotations

import numpy as np
import pytest

from mlcourse.checks import p08_cross_validation as checks
from mlcourse.classical.cross_validation import cross_val_scores
from mlcourse.classical.splitters import KFold, StratifiedKFold
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)


def reference_kfold(n, k):
    return [test for _, test in KFold(k).split(np.zeros((n, 1)))]


def reference_stratified(y, k):
    folds = np.empty(len(y), dtype=int)
    for i, (_, test) in enumerate(StratifiedKFold(k).split(np.zeros((len(y), 1)), y)):
        folds[test] = i
    return folds


def test_kfold_check(capsys):
    assert checks.check_kfold_indices(reference_kfold)
    assert checks.check_kfold_indices(lambda n, k: np.array_split(np.arange(n), k))  # same folds, another way
    assert checks.check_kfold_indices(stub).status == "not attempted"
    capsys.readouterr()
    fails_with(capsys, checks.check_kfold_indices(lambda n, k: [np.arange(i * (n // k), (i + 1) * (n // k))
                                                               for i in range(k)]), "are dropped")
    fails_with(capsys, checks.check_kfold_indices(lambda n, k: [f for f in reversed(np.array_split(np.arange(n)[::-1], k))]),
               "FIRST n % k folds")


def test_stratified_check(capsys):
    assert checks.check_stratified_folds(reference_stratified)
    assert checks.check_stratified_folds(stub).status == "not attempted"
    capsys.readouterr()
    blocks = lambda y, k: np.repeat(np.arange(k), int(np.ceil(len(y) / k)))[: len(y)]  # noqa: E731
    fails_with(capsys, checks.check_stratified_folds(blocks), "Did you cut consecutive blocks")


def test_cross_val_scores_check(capsys):
    def reference(make_model, X, y, splits, score):
        return cross_val_scores(make_model, X, y, splits, score)

    def on_train(make_model, X, y, splits, score):
        out = []
        for tr, _ in splits:
            m = make_model().fit(X[tr], y[tr])
            out.append(score(y[tr], m.predict(X[tr])))
        return np.array(out)

    def one_model(make_model, X, y, splits, score):
        m = make_model()
        return np.array([score(y[te], m.fit(X[tr], y[tr]).predict(X[te])) for tr, te in splits])

    def flipped(make_model, X, y, splits, score):
        return np.array([score(make_model().fit(X[tr], y[tr]).predict(X[te]), y[te]) for tr, te in splits])

    assert checks.check_cross_val_scores(reference)
    assert checks.check_cross_val_scores(stub).status == "not attempted"
    capsys.readouterr()
    fails_with(capsys, checks.check_cross_val_scores(on_train), "TRAINING-fold scores")
    fails_with(capsys, checks.check_cross_val_scores(one_model), "call make_model() inside the loop")
    fails_with(capsys, checks.check_cross_val_scores(flipped), "score(y_true, y_pred)")
