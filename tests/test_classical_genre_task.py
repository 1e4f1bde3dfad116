"""The end-to-end project's data and evaluation pieces (chapter 11): the scene table, the split by play, the
grouped-split check, the majority baseline, the multi-class Brier score, the bootstrap interval and temperature
scaling, each against scikit-learn or a known answer, and bad input refused with a message that says why."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GroupKFold, KFold

from mlcourse.classical import genre_task as gt
from mlcourse.classical.softmax import log_softmax, softmax
from mlcourse.data.shakespeare import GENRE, VALIDATION_WORKS

Rec = namedtuple("Rec", "work title genre act scene text")


def toy_records():
    rows = []
    for work, genre in (("a", "comedy"), ("b", "history"), ("c", "tragedy"), ("d", "comedy")):
        for scene in (1, 2):
            rows += [Rec(work, work.upper(), genre, 1, scene, f"{genre} line {i} of {work}") for i in range(6)]
    rows += [Rec("a", "A", "comedy", None, None, "a short epilogue")] * 3  # dropped: under min_lines
    rows += [Rec("sonnets", "S", "poetry", None, 1, "a sonnet line")] * 14  # poems are not plays
    return rows


def test_load_scenes_groups_lines_by_scene_and_drops_short_scenes_and_poems():
    scenes = gt.load_scenes(toy_records())
    assert len(scenes) == 8 and set(scenes.genre) == set(gt.LABELS)
    assert (scenes.n_lines == 6).all() and scenes.text[0].count("\n") == 5
    assert scenes.n_words[0] == 6 * 5
    assert len(gt.load_scenes(toy_records(), min_lines=1)) == 9  # the epilogue, scene -1


def test_test_plays_are_the_course_held_out_plays():
    """Spelled out in classical/ (which may not import data/); must stay the held-out works less the poem."""
    assert gt.TEST_PLAYS == tuple(sorted(w for w in VALIDATION_WORKS if GENRE[w] != "poetry"))
    assert sorted(GENRE[w] for w in gt.TEST_PLAYS) == sorted(gt.LABELS)


def test_split_by_play_is_disjoint_and_refuses_a_test_set_missing_a_genre():
    scenes = gt.load_scenes(toy_records())
    dev, test = gt.split_by_play(scenes, ["a", "b", "c"])
    assert set(dev.work) == {"d"} and set(test.work) == {"a", "b", "c"} and len(dev) + len(test) == len(scenes)
    with pytest.raises(ValueError, match="hold no \\['tragedy'\\] scene"):
        gt.split_by_play(scenes, ["a", "b"])
    with pytest.raises(ValueError, match="have no scenes"):
        gt.split_by_play(scenes, ["hamlet"])


def test_grouped_check_accepts_grouped_folds_and_names_the_leaking_play():
    groups = np.repeat(["p1", "p2", "p3", "p4", "p5", "p6"], 5)
    X = np.zeros((len(groups), 1))
    assert gt.check_no_shared_groups(GroupKFold(3).split(X, groups=groups), groups) == 3
    with pytest.raises(ValueError, match="fold 1: play 'p\\d' has scenes in both train and validation"):
        gt.check_no_shared_groups(KFold(3, shuffle=True, random_state=0).split(X), groups)
    twice = [(np.arange(10, 30), np.arange(10)), (np.arange(10, 30), np.arange(5))]
    with pytest.raises(ValueError, match="validated in two folds"):
        gt.check_no_shared_groups(twice, groups)


def test_majority_baseline_equals_sklearn_dummy_classifier():
    y = np.array(["tragedy", "comedy", "tragedy", "history", "comedy", "tragedy"])
    ref = DummyClassifier(strategy="most_frequent").fit(np.zeros((6, 1)), y).predict(np.zeros((4, 1)))
    assert list(gt.majority_baseline(y, 4)) == list(ref)
    assert gt.majority_baseline(["b", "a"], 1)[0] == "a"  # a tie goes to the first label in sorted order, as sklearn
    with pytest.raises(ValueError, match="at least one training label"):
        gt.majority_baseline([], 3)


def test_multiclass_brier_matches_its_definition_and_checks_the_shape():
    rng = np.random.default_rng(0)
    proba = softmax(rng.normal(size=(50, 3)))
    y = np.array(gt.LABELS)[rng.integers(0, 3, 50)]
    onehot = (y[:, None] == np.array(gt.LABELS)[None]).astype(float)
    assert gt.multiclass_brier(y, proba) == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, 1)), abs=1e-12)
    assert gt.multiclass_brier(y, onehot) == 0.0 and gt.multiclass_brier(y, 1 - onehot) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="proba should have shape \\(50, 3\\)"):
        gt.multiclass_brier(y, proba[:, :2])


def test_bootstrap_interval_matches_the_normal_approximation():
    """400 scenes, 60 % right: the percentile interval should be close to 0.6 +- 1.96 sqrt(0.24 / 400); tolerance
    0.006 covers the Monte-Carlo noise of 4000 replicates and the discreteness of the accuracy (steps of 1/400)."""
    y_true = np.zeros(400)
    y_pred = np.r_[np.zeros(240), np.ones(160)]
    acc, low, high = gt.bootstrap_ci(y_true, y_pred, lambda a, b: np.mean(a == b), n_boot=4000, seed=1)
    half = 1.96 * np.sqrt(0.24 / 400)
    assert acc == 0.6 and low == pytest.approx(0.6 - half, abs=0.006) and high == pytest.approx(0.6 + half, abs=0.006)
    with pytest.raises(ValueError, match="same non-zero length"):
        gt.bootstrap_ci(y_true, y_pred[:10], lambda a, b: 0.0)


def test_play_bootstrap_equals_scene_bootstrap_with_one_scene_per_play_and_is_wider_when_plays_err_together():
    rng = np.random.default_rng(0)
    y_true, y_pred = np.zeros(60), (rng.random(60) < 0.3).astype(float)
    metric = lambda a, b: float(np.mean(a == b))  # noqa: E731
    assert gt.bootstrap_ci(y_true, y_pred, metric, n_boot=300) == gt.bootstrap_ci(
        y_true, y_pred, metric, n_boot=300, groups=np.arange(60))
    plays = np.repeat(np.arange(6), 10)
    clustered = (plays < 2).astype(float)  # two whole plays wrong
    _, s_lo, s_hi = gt.bootstrap_ci(y_true, clustered, metric, n_boot=2000)
    _, p_lo, p_hi = gt.bootstrap_ci(y_true, clustered, metric, n_boot=2000, groups=plays)
    assert p_hi - p_lo > 1.5 * (s_hi - s_lo)


def test_fit_temperature_equals_a_scipy_minimiser_and_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = 3 * rng.normal(size=(4000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(z / 2.5)])  # the true temperature is 2.5
    T = gt.fit_temperature(z, labels)
    nll = lambda t: -np.mean(log_softmax(z / t)[np.arange(len(labels)), labels])  # noqa: E731
    ref = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-8}).x
    assert T == pytest.approx(ref, abs=1e-4) and T == pytest.approx(2.5, rel=0.1)
    assert np.array_equal(gt.apply_temperature(z, T).argmax(1), z.argmax(1))  # the top class never changes


def test_top_words_and_most_confidently_wrong():
    texts = ["love jest love", "king war crown", "death blood grave"] * 10
    genres = ["comedy", "history", "tragedy"] * 10
    top = gt.top_words_by_genre(texts, genres, k=1, min_count=5)
    assert top == {"comedy": ["love"], "history": ["crown"], "tragedy": ["blood"]}
    scenes = pd.DataFrame({"genre": ["comedy", "history", "tragedy"], "text": ["a", "b", "c"]})
    proba = np.array([[0.1, 0.9, 0.0], [0.0, 1.0, 0.0], [0.6, 0.0, 0.4]])
    wrong = gt.most_confidently_wrong(scenes, proba, k=5)
    assert list(wrong.text) == ["a", "c"] and list(wrong.predicted) == ["history", "comedy"]
