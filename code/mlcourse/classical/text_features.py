"""Bag of words and TF-IDF from scratch, equal to scikit-learn's ``CountVectorizer`` / ``TfidfVectorizer`` defaults.

What it does: :func:`tokenize` splits a text into words with scikit-learn's default rule (lower case, runs of
two or more word characters: "I" and "a" are dropped, "o'er" becomes "er"). :class:`BagOfWords` learns a
vocabulary (sorted words, optionally only those in at least ``min_df`` texts, or the ``max_features`` most
frequent) and turns texts into a sparse (n_texts, n_words) matrix of counts. :func:`idf_weights` and
:func:`tfidf_weighting` are the two formulas of TF-IDF with scikit-learn's defaults (smoothed idf,
``ln((1 + n) / (1 + df)) + 1``, and rows scaled to unit Euclidean length); :class:`TfidfVectorizer` chains them.
:func:`oov_rate` measures how many tokens of new texts a fixed word vocabulary cannot represent, the problem
that chapter 13's subword tokenizers solve. All classes follow scikit-learn's transformer protocol, so they
work inside a ``Pipeline``.

What it does not do: n-grams, stop words, accents, ``max_df``, sublinear tf, or any other tokenizer (chapter 13
builds byte-pair encoding). Taught in chapter 10; reused by chapter 11.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """The words of ``text``: runs of 2+ letters/digits/underscores, lower-cased ("To be, or" -> ["to", "be", "or"])."""
    return TOKEN_PATTERN.findall(text.lower() if lowercase else text)


def _texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("expected an iterable of texts (a list of strings), got one string; wrap it in a list.")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"every text must be a string; got {len(bad)} of type {bad[0]} (missing texts? fill them "
                         "with '' first).")  # fmt: skip
    return texts


class BagOfWords(TransformerMixin, BaseEstimator):
    """Texts -> counts: entry (i, j) is how often word j of ``vocabulary_`` occurs in text i.

    ``vocabulary_`` maps each kept word to its column; the columns are in alphabetical order. ``min_df``: keep
    words that occur in at least that many training texts. ``max_features``: then keep the most frequent
    (total count over the training texts; ties go to the alphabetically first word, as in scikit-learn).
    """

    def __init__(self, lowercase: bool = True, min_df: int = 1, max_features: int | None = None) -> None:
        self.lowercase = lowercase
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, texts: Iterable[str], y: object = None) -> BagOfWords:
        """Learn ``vocabulary_`` (word -> column) from the training texts."""
        self._fit_counts(texts)
        return self

    def _fit_counts(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Fit the vocabulary and return the training counts (n, V), which TF-IDF needs for its document counts."""
        tokens = [tokenize(t, self.lowercase) for t in _texts(texts)]
        doc_freq = Counter(w for words in tokens for w in set(words))
        total = Counter(w for words in tokens for w in words)
        words = sorted(w for w, df in doc_freq.items() if df >= self.min_df)
        if self.max_features is not None and len(words) > self.max_features:
            order = np.argsort([-total[w] for w in words], kind="stable")[: self.max_features]  # ties: alphabetical
            words = sorted(words[i] for i in order)
        if not words:
            raise ValueError("empty vocabulary: the training texts have no word of 2+ letters that passes min_df.")
        self.vocabulary_ = {w: j for j, w in enumerate(words)}
        return self._count(tokens)

    def _count(self, tokens: list[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for i, words in enumerate(tokens):
            hits = [self.vocabulary_[w] for w in words if w in self.vocabulary_]  # words outside are dropped
            rows += [i] * len(hits)
            cols += hits
        data = np.ones(len(rows), dtype=np.int64)
        counts = sp.csr_matrix((data, (rows, cols)), shape=(len(tokens), len(self.vocabulary_)))
        counts.sum_duplicates()  # repeated (i, j) pairs add up to the count
        return counts

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """(n,) texts -> (n, V) sparse int64 counts; words not in ``vocabulary_`` are ignored."""
        if getattr(self, "vocabulary_", None) is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(texts) first.")
        return self._count([tokenize(t, self.lowercase) for t in _texts(texts)])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The vocabulary's words in column order."""
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)


def idf_weights(counts: np.ndarray | sp.spmatrix) -> np.ndarray:
    """(V,) smoothed inverse document frequency ln((1 + n) / (1 + df_j)) + 1 from counts (n, V).

    df_j is the number of texts that contain word j at least once (not its total count). The +1 inside acts
    as if one extra text contained every word (no division by 0); the +1 outside keeps words that occur in
    every text (idf = 1) from being zeroed.
    """
    n = counts.shape[0]
    doc_freq = np.asarray((counts > 0).sum(axis=0)).ravel()  # (V,)
    return np.log((1.0 + n) / (1.0 + doc_freq)) + 1.0


def tfidf_weighting(counts: np.ndarray | sp.spmatrix, idf: np.ndarray) -> sp.csr_matrix:
    """(n, V) counts times idf (V,), each row then divided by its Euclidean norm (all-zero rows stay zero)."""
    weighted = sp.csr_matrix(counts, dtype=np.float64).multiply(idf[None, :]).tocsr()  # (n, V)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())  # (n,)
    norms[norms == 0] = 1.0
    return sp.csr_matrix(weighted.multiply(1.0 / norms[:, None]))


class TfidfVectorizer(BagOfWords):
    """Texts -> TF-IDF: counts (:class:`BagOfWords`) times ``idf_`` (learned on the training texts), unit rows."""

    def fit(self, texts: Iterable[str], y: object = None) -> TfidfVectorizer:
        """Learn ``vocabulary_`` and ``idf_`` (V,) from the training texts."""
        self.idf_ = idf_weights(self._fit_counts(texts))
        return self

    def fit_transform(self, texts: Iterable[str], y: object = None) -> sp.csr_matrix:
        counts = self._fit_counts(texts)
        self.idf_ = idf_weights(counts)
        return tfidf_weighting(counts, self.idf_)

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """(n,) texts -> (n, V) sparse float64, each non-empty row of Euclidean length 1."""
        return tfidf_weighting(super().transform(texts), self.idf_)


def oov_rate(texts: Iterable[str], vocabulary: Iterable[str], lowercase: bool = True) -> tuple[float, Counter]:
    """(fraction of the tokens of ``texts`` not in ``vocabulary``, Counter of those out-of-vocabulary words)."""
    vocabulary = set(vocabulary)
    tokens = [w for t in _texts(texts) for w in tokenize(t, lowercase)]
    missing = Counter(w for w in tokens if w not in vocabulary)
    return (sum(missing.values()) / len(tokens) if tokens else 0.0), missing
