"""The end-to-end project's task: tell a Shakespeare scene's genre (comedy, history, tragedy) from its text.

What it does: the data and the evaluation procedures of chapter 11's project, each small and from scratch::

    scenes         = one row per scene (work, act, scene) of the 34 + 3 plays, its spoken text joined
    dev / test     = split BY PLAY: the test plays are the course's held-out works (one per genre), untouched
    grouped folds  = no play's scenes in two folds (check_no_shared_groups proves it for any folds)
    bootstrap CI   = percentile interval of a metric over resampled scenes (or whole plays)
    temperature    = one scalar T, fitted on out-of-fold logits, that divides the logits: p = softmax(z / T)

* :func:`load_scenes`: a DataFrame, one row per scene with at least ``min_lines`` spoken lines.
* :func:`split_by_play`: (development scenes, test scenes); the test plays :data:`TEST_PLAYS` are
  ``mlcourse.data.shakespeare.VALIDATION_WORKS`` less the poem, which cover the three genres.
* :func:`check_no_shared_groups`: raises, naming the play, when a play's scenes are in two folds.
* :func:`majority_baseline`, :func:`multiclass_brier`, :func:`bootstrap_ci`, :func:`fit_temperature`,
  :func:`top_words_by_genre`, :func:`most_confidently_wrong`.

What it does not do: vectorise text (chapter 10's features, or scikit-learn's ``TfidfVectorizer``), fit the
models being compared (chapters 2-7, or scikit-learn's), or make the folds (chapter 8's splitters, or
scikit-learn's ``StratifiedGroupKFold``). Taught in chapter 11 (An end-to-end ML project).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from mlcourse.classical.softmax import log_softmax, softmax

LABELS: tuple[str, ...] = ("comedy", "history", "tragedy")
# The course's held-out works (mlcourse.data.shakespeare.VALIDATION_WORKS) less the poem: one play per genre,
# each its genre's median-length play. Spelled out because classical/ may not import data/; a test re-checks it.
TEST_PLAYS: tuple[str, ...] = ("henry_iv_part_1", "much_ado_about_nothing", "romeo_and_juliet")


def load_scenes(records: Iterable, min_lines: int = 5) -> pd.DataFrame:
    """One row per scene of the 37 plays (poems left out), in work then source order.

    records: ``mlcourse.data.shakespeare.load_records()`` (anything with ``work``, ``title``, ``genre``,
    ``act``, ``scene`` and ``text`` attributes).

    Columns: ``work``, ``title``, ``genre`` (one of :data:`LABELS`), ``act``, ``scene`` (``-1`` for an epilogue,
    whose scene is None), ``n_lines``, ``n_words``, ``text`` (the spoken lines joined by newlines; no speaker
    names, no stage directions). Scenes with fewer than ``min_lines`` spoken lines (a 3-line epilogue) are
    dropped: too little text to label, and not what the task is about.
    """
    rows: dict[tuple[str, int, int], list] = {}
    for r in records:
        if r.genre not in LABELS:
            continue
        key = (r.work, -1 if r.act is None else r.act, -1 if r.scene is None else r.scene)
        rows.setdefault(key, [r.title, r.genre, []])[2].append(r.text)
    table = [dict(work=w, title=t, genre=g, act=a, scene=s, n_lines=len(lines),
                  n_words=sum(len(x.split()) for x in lines), text="\n".join(lines))
             for (w, a, s), (t, g, lines) in rows.items() if len(lines) >= min_lines]  # fmt: skip
    return pd.DataFrame(table)


def split_by_play(scenes: pd.DataFrame, test_plays: Sequence[str] = TEST_PLAYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(development scenes, test scenes): every scene of a test play goes to test, every other one to development.

    Raises ``ValueError`` when a test play is unknown or the test plays miss a genre (the score would say nothing
    about that genre)."""
    unknown = sorted(set(test_plays) - set(scenes["work"]))
    if unknown:
        raise ValueError(f"test plays {unknown} have no scenes; valid names are the 'work' column's values")
    in_test = scenes["work"].isin(list(test_plays)).to_numpy()
    missing = sorted(set(LABELS) - set(scenes.loc[in_test, "genre"]))
    if missing:
        raise ValueError(f"the test plays {sorted(test_plays)} hold no {missing} scene: pick one play per genre")
    return scenes[~in_test].reset_index(drop=True), scenes[in_test].reset_index(drop=True)


def check_no_shared_groups(folds: Iterable[tuple[np.ndarray, np.ndarray]], groups: Sequence[str]) -> int:
    """Raise ``ValueError`` naming the first group (play) with samples on both sides of a (train, validation)
    split, or any validation sample in two folds; return the number of folds checked.

    folds: pairs of integer index arrays into ``groups`` (n,), as ``KFold.split`` yields them."""
    groups = np.asarray(groups)
    seen_in_validation: set = set()
    n = 0
    for n, (train, val) in enumerate(folds, start=1):
        shared = sorted(map(str, set(groups[np.asarray(train)]) & set(groups[np.asarray(val)])))
        if shared:
            raise ValueError(f"fold {n}: play {shared[0]!r} has scenes in both train and validation "
                             f"({len(shared)} shared play(s)): split by play, not by scene")  # fmt: skip
        again = sorted(map(str, seen_in_validation & set(groups[np.asarray(val)])))
        if again:
            raise ValueError(f"fold {n}: play {again[0]!r} is validated in two folds")
        seen_in_validation |= set(groups[np.asarray(val)])
    return n


def majority_baseline(y_train: Sequence[str], n_predict: int) -> np.ndarray:
    """The most frequent training label, ``n_predict`` times (ties broken by the label's sorted order)."""
    counts = Counter(y_train)
    if not counts:
        raise ValueError("majority_baseline needs at least one training label")
    best = max(sorted(counts), key=lambda label: counts[label])
    return np.array([best] * n_predict, dtype=object)


def multiclass_brier(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str] = LABELS) -> float:
    """Mean over samples of sum_k (p_ik - [y_i = k])^2: 0 is perfect, 2 is confidently wrong. proba (n, K)."""
    proba = np.asarray(proba, dtype=np.float64)
    index = {label: k for k, label in enumerate(labels)}
    if proba.ndim != 2 or proba.shape != (len(y_true), len(labels)):
        raise ValueError(f"proba should have shape ({len(y_true)}, {len(labels)}), got {proba.shape}")
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y_true)), [index[y] for y in y_true]] = 1.0
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def bootstrap_ci(y_true: Sequence, y_pred: Sequence, metric: Callable[[np.ndarray, np.ndarray], float], *,
                 n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                 groups: Sequence | None = None) -> tuple[float, float, float]:  # fmt: skip
    """(point estimate, low, high): the percentile bootstrap interval of ``metric(y_true, y_pred)``.

    Without ``groups``, each replicate draws n scenes with replacement; with ``groups`` (one play name per
    scene), it draws whole plays with replacement and keeps all their scenes, so scenes of one play that err
    together are not counted as independent evidence."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred need the same non-zero length, got {len(y_true)} and {len(y_pred)}")
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = (rng.integers(0, len(y_true), len(y_true)) for _ in range(n_boot))
    else:
        groups = np.asarray(groups)
        members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        draws = (np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
                 for _ in range(n_boot))  # fmt: skip
    stats = np.array([metric(y_true[i], y_pred[i]) for i in draws])
    tail = (1.0 - level) / 2
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(metric(y_true, y_pred)), float(low), float(high)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> float:
    """The temperature T > 0 minimising the mean cross-entropy of softmax(logits / T); logits (n, K), labels (n,)
    integer classes. A log-spaced grid, then a golden-section refinement around its best point; T > 1 softens
    over-confident probabilities, T < 1 sharpens timid ones, and the predicted class never changes."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)

    def nll(t: float) -> float:
        return float(-np.mean(log_softmax(logits / t)[np.arange(len(labels)), labels]))

    grid = np.geomspace(0.05, 20.0, 60) if grid is None else np.asarray(grid)
    i = int(np.argmin([nll(t) for t in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (np.sqrt(5.0) - 1) / 2
    for _ in range(40):  # golden-section search on [lo, hi]
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        lo, hi = (lo, b) if nll(a) < nll(b) else (a, hi)
    return float((lo + hi) / 2)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T), (n, K) -> (n, K)."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


def top_words_by_genre(texts: Sequence[str], genres: Sequence[str], k: int = 10, min_count: int = 20) -> dict[str, list[str]]:
    """The ``k`` words most over-represented in each genre: largest log ratio of the word's rate in the genre to
    its rate in the other genres (add-one smoothed), among lower-cased words seen ``min_count`` times or more."""
    counts = {g: Counter() for g in LABELS}
    for text, genre in zip(texts, genres):
        counts[genre].update(w.strip(".,;:!?'\"()-[]").lower() for w in text.split())
    total = sum(counts.values(), Counter())
    vocab = [w for w, c in total.items() if c >= min_count and w.isalpha()]
    result = {}
    for g in LABELS:
        inside, outside = counts[g], total - counts[g]
        n_in, n_out = sum(inside.values()), sum(outside.values())
        score = {w: np.log((inside[w] + 1) / n_in) - np.log((outside[w] + 1) / n_out) for w in vocab}
        result[g] = sorted(vocab, key=lambda w: (-score[w], w))[:k]
    return result


def most_confidently_wrong(scenes: pd.DataFrame, proba: np.ndarray, k: int = 5) -> pd.DataFrame:
    """The ``k`` misclassified scenes with the highest predicted probability, with columns ``predicted`` and
    ``confidence`` added; proba (n, K) in the order of :data:`LABELS`."""
    proba = np.asarray(proba)
    predicted = np.array(LABELS)[proba.argmax(axis=1)]
    out = scenes.assign(predicted=predicted, confidence=proba.max(axis=1))
    wrong = out[out["predicted"] != out["genre"]]
    return wrong.sort_values("confidence", ascending=False).head(k)
