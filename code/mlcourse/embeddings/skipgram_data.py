"""The data side of skip-gram: words, a vocabulary, frequent-word subsampling, (center, context) pairs, noise.

``tokenize_words`` lower-cases a line into words (apostrophes kept: ``"o'er"``, ``"'tis"``); ``Vocab`` maps
the words seen at least ``min_count`` times to ids, most frequent first; ``keep_probabilities`` is
word2vec's subsampling rule; ``skipgram_pairs`` turns sentences of ids into every (center, context) pair
inside a window, vectorised with numpy (no Python loop over tokens); ``noise_distribution`` is the unigram
distribution raised to the 3/4 power that negative samples are drawn from.

What it does not do: the model or its losses (``mlcourse.embeddings.skipgram``), or read the corpus
(``mlcourse.data``).

Taught in chapter 12.25 (Embeddings and representation learning, with 12.5).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|'[a-z]+")


def tokenize_words(line: str) -> list[str]:
    """Lower-cased words of ``line``; punctuation and digits are dropped, inner apostrophes kept."""
    return _WORD.findall(line.lower())


@dataclass
class Vocab:
    """Words seen at least ``min_count`` times; id 0 is the most frequent word. ``counts[i]`` is word i's count."""

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5) -> "Vocab":
        """Count the words of ``sentences`` and keep those with ``count >= min_count`` (ties: alphabetical)."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counter = Counter(w for s in sentences for w in s)
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            raise ValueError(f"no word occurs {min_count} times or more; lower min_count or give more text")
        return cls([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """Ids of the in-vocabulary words of ``words`` (out-of-vocabulary words are dropped), shape (n,)."""
        return np.array([self.index[w] for w in words if w in self.index], dtype=np.int64)


def keep_probability(freqs: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """word2vec's subsampling rule on frequencies f (shares of all tokens): ``min(1, (sqrt(f/t) + 1) * t / f)``.

    Words with f below about 2.6 t are always kept; ``threshold`` t = 0 keeps everything. Shape like ``freqs``.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    freqs = np.asarray(freqs, dtype=np.float64)
    if threshold == 0:
        return np.ones(freqs.shape)
    return np.minimum(1.0, (np.sqrt(freqs / threshold) + 1.0) * threshold / freqs)


def keep_probabilities(counts: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """:func:`keep_probability` of each word of a vocabulary, from its ``counts`` (V,): f = count / total count.

    ``counts`` are raw counts, normalised here; to evaluate the rule at given frequencies, call
    :func:`keep_probability` (normalising a handful of frequencies would change them).
    """
    counts = np.asarray(counts, dtype=np.float64)
    return keep_probability(counts / counts.sum(), threshold)


def skipgram_pairs(
    sentences: Sequence[np.ndarray],
    window: int,
    rng: np.random.Generator,
    keep_prob: np.ndarray | None = None,
    shrink_window: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (center, context) pair of ids within ``window`` of each other, inside one sentence.

    ``sentences``: id arrays. ``keep_prob`` (V,): subsample each token first (a dropped token is removed, so
    its neighbours move closer, as in word2vec). ``shrink_window``: each center draws its own window
    b ~ U{1..window}, so near words pair more often than far ones (word2vec's weighting).
    Returns (centers, contexts), both int64 of shape (P,).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    if lengths.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in sentences])  # (N,) all sentences back to back
    sent = np.repeat(np.arange(len(sentences)), lengths)  # (N,) sentence number of each token
    if keep_prob is not None:  # one draw per token for the whole corpus, no loop over sentences
        kept = rng.random(len(ids)) < keep_prob[ids]
        ids, sent = ids[kept], sent[kept]
    pos = np.arange(len(ids))
    reach = rng.integers(1, window + 1, len(ids)) if shrink_window else np.full(len(ids), window)
    centers, contexts = [], []
    for offset in range(1, window + 1):
        for sign in (-1, 1):
            other = pos + sign * offset  # (N,) the neighbour's position
            ok = (other >= 0) & (other < len(ids)) & (reach >= offset)
            ok[ok] &= sent[other[ok]] == sent[ok]  # never pair across a sentence boundary
            centers.append(ids[ok])
            contexts.append(ids[other[ok]])
    return np.concatenate(centers), np.concatenate(contexts)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> torch.Tensor:
    """Probabilities (V,) to draw negatives from: ``count ** power``, normalised (word2vec uses 3/4)."""
    weights = torch.as_tensor(counts, dtype=torch.float64) ** power
    return (weights / weights.sum()).float()
