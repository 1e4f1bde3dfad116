"""SentencePiece (BPE or unigram) trained on our text, behind the same small interface as ``BPETokenizer``.

SentencePiece is what Llama 1-2 and Mistral use. It differs from our byte-level BPE in three ways worth
seeing side by side: it works on Unicode characters (bytes only as a fallback), it marks spaces with
``▁`` instead of splitting words off by a regex, and besides BPE it offers the *unigram* model (start from
a large vocabulary, prune the pieces whose removal costs the least likelihood).

Settings chosen so that the comparison with ours is fair: ``byte_fallback=True`` (a character outside the
vocabulary becomes its UTF-8 bytes ``<0x..>``, so nothing is ``<unk>``), no text normalisation
(``identity``), whitespace kept as is, and the same special tokens (``<unk>`` 0, ``<bos>`` 1, ``<eos>`` 2,
``<pad>`` 3). SentencePiece reads training text as one sentence per line, so newlines are never inside a
piece and encode as the byte ``<0x0A>``.

What it does not do: export to Hugging Face (``hf_tokenizer.py`` is for our BPE), or stream huge corpora.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

import sentencepiece as spm


class SentencePieceTokenizer:
    """A trained SentencePiece model: ``encode``/``decode``/``vocab_size``/``pieces`` and the special ids."""

    def __init__(self, model_proto: bytes) -> None:
        self.model_proto = model_proto
        self.processor = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, text: str, vocab_size: int, model_type: Literal["bpe", "unigram"] = "bpe",
              num_threads: int = 2, max_sentences: int = 0) -> SentencePieceTokenizer:  # fmt: skip
        """Train on ``text`` (written to a file in a temporary folder: SentencePiece trains from files).

        vocab_size counts everything: 4 special tokens, 256 byte-fallback pieces and the learned pieces.
        ``max_sentences > 0`` trains on a random sample of that many lines (faster, for tests).
        """
        if model_type not in ("bpe", "unigram"):
            raise ValueError(f"model_type must be 'bpe' or 'unigram', got {model_type!r}")
        if vocab_size < 4 + 256 + 1:
            raise ValueError(f"vocab_size={vocab_size} is too small: 4 special tokens and 256 byte-fallback "
                             "pieces come first; use vocab_size >= 261")
        with tempfile.TemporaryDirectory() as folder:
            corpus = Path(folder) / "train.txt"
            corpus.write_text(text, encoding="utf-8")
            prefix = Path(folder) / "spm"
            spm.SentencePieceTrainer.train(
                input=str(corpus),
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                model_type=model_type,
                byte_fallback=True,
                character_coverage=1.0,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                split_digits=False,
                unk_id=0, bos_id=1, eos_id=2, pad_id=3,
                unk_piece="<unk>", bos_piece="<bos>", eos_piece="<eos>", pad_piece="<pad>",
                num_threads=num_threads,
                input_sentence_size=max_sentences,
                shuffle_input_sentence=True,
                hard_vocab_limit=False,  # a small text may not support the full size: take what it gives
                minloglevel=2,  # quiet: warnings and errors only
            )  # fmt: skip
            return cls(prefix.with_suffix(".model").read_bytes())

    @classmethod
    def load(cls, path: str | Path) -> SentencePieceTokenizer:
        return cls(Path(path).read_bytes())

    def save(self, path: str | Path) -> Path:
        """Write the ``.model`` file (a protobuf; ``spm.SentencePieceProcessor(model_file=...)`` reads it)."""
        path = Path(path)
        path.write_bytes(self.model_proto)
        return path

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    @property
    def bos_id(self) -> int:
        return self.processor.bos_id()

    @property
    def eos_id(self) -> int:
        return self.processor.eos_id()

    @property
    def pad_id(self) -> int:
        return self.processor.pad_id()

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text, out_type=int)

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text`` as strings (``▁`` marks a space)."""
        return self.processor.encode(text, out_type=str)

    def decode(self, ids: list[int]) -> str:
        bad = [i for i in ids if not 0 <= int(i) < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is not in this SentencePiece model (valid: 0..{self.vocab_size - 1})")
        return self.processor.decode([int(i) for i in ids])
