"""Character-level and word-level tokenizers, and the out-of-vocabulary (OOV) rate of a word vocabulary.

Two ends of the vocabulary trade-off, before byte-level BPE (``bpe.py``) sits between them:

- ``CharTokenizer``: one id per distinct character seen in training. Tiny vocabulary, long sequences; a
  character never seen in training (an emoji, an accented letter) becomes ``<unk>``.
- ``WordTokenizer``: one id per word or punctuation mark seen at least ``min_freq`` times. Short sequences,
  a large vocabulary, and every rare or new word collapses into ``<unk>``: information the model can never
  recover. ``oov_rate`` measures how often that happens on held-out text.

Word-level decoding is lossy on purpose: whitespace is not kept (words are re-joined with single spaces) and
``<unk>`` cannot be turned back into the word it replaced.

What it does not do: subword units (``bpe.py``, ``sentencepiece_tok.py``), lower-casing or stemming.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

from collections import Counter

import regex

UNK = "<unk>"
# a word (letters, digits, inner apostrophes: "o'er", "king's") or a single punctuation mark
WORD_PATTERN = r"[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]"


class CharTokenizer:
    """Id per character, ``<unk>`` (id 0) for characters not seen in the training text."""

    def __init__(self, chars: list[str]) -> None:
        self.itos: list[str] = [UNK, *sorted(set(chars) - {UNK})]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}
        self.unk_id = 0

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        return cls(list(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(c, self.unk_id) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self._token(i) for i in ids)

    def _token(self, i: int) -> str:
        if not 0 <= i < len(self.itos):
            raise ValueError(f"token id {i} is out of range for a vocabulary of {len(self.itos)} characters")
        return self.itos[i]


class WordTokenizer:
    """Id per word/punctuation mark seen ``min_freq`` times in training; ``<unk>`` (id 0) for the rest.

    Words are split by ``WORD_PATTERN``; case is kept ("King" and "king" are different words).
    """

    def __init__(self, words: list[str]) -> None:
        self.itos: list[str] = [UNK, *[w for w in words if w != UNK]]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.unk_id = 0
        self._splitter = regex.compile(WORD_PATTERN)

    @classmethod
    def train(cls, text: str, min_freq: int = 1, max_size: int | None = None) -> WordTokenizer:
        """Vocabulary: words of ``text`` seen at least ``min_freq`` times, most frequent first (ties in
        alphabetical order), at most ``max_size`` of them (``<unk>`` not counted)."""
        return cls.from_counts(Counter(regex.findall(WORD_PATTERN, text)), min_freq, max_size)

    @classmethod
    def from_counts(cls, counts: Counter[str], min_freq: int = 1, max_size: int | None = None) -> WordTokenizer:
        """As ``train``, from word counts already made (to try several ``min_freq`` without re-reading)."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        ranked = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_size] if max_size is not None else ranked)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def tokenize(self, text: str) -> list[str]:
        """The words and punctuation marks of ``text``, in order (whitespace dropped)."""
        return self._splitter.findall(text)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.unk_id) for w in self.tokenize(text)]

    def decode(self, ids: list[int]) -> str:
        """Tokens joined by single spaces (lossy: original spacing and the words behind ``<unk>`` are gone)."""
        words = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is out of range for a vocabulary of {len(self.itos)} words")
            words.append(self.itos[i])
        return " ".join(words)


def oov_rate(tokenizer: CharTokenizer | WordTokenizer, text: str) -> float:
    """Fraction of the tokens of ``text`` that ``tokenizer`` maps to ``<unk>`` (0.0 for an empty text).

    For a word tokenizer trained on some plays and applied to others, this is the share of running words the
    model would see as ``<unk>``.
    """
    tokens = tokenizer.tokenize(text)
    if not tokens:
        return 0.0
    return sum(t not in tokenizer.stoi for t in tokens) / len(tokens)


def oov_words(tokenizer: WordTokenizer, text: str, top: int = 10) -> list[tuple[str, int]]:
    """The ``top`` most frequent words of ``text`` missing from the vocabulary, with their counts."""
    missing = Counter(w for w in tokenizer.tokenize(text) if w not in tokenizer.stoi)
    return missing.most_common(top)
