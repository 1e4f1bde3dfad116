"""Tokenizers for chapter 13, from the simplest to the one later chapters use.

- ``simple``: character and word tokenizers with ``<unk>``; ``oov_rate`` on held-out text.
- ``bpe`` (+ ``bpe_train``): byte-level BPE from scratch: GPT-2 regex, fast incremental training, encoding
  with merge ranks and a cache, special tokens, readable JSON save/load.
- ``sentencepiece_tok``: SentencePiece BPE and unigram behind the same small interface.
- ``hf_tokenizer``: our BPE as a ``transformers.PreTrainedTokenizerFast`` (imported on demand: it loads
  ``transformers``).
- ``recipe``: ``course_tokenizer()``, the course's 4,096-token BPE trained on the training works only, cached in
  ``data/tokenizers/`` (imported on demand: it loads the corpus); chapter 14's base model trains on it.

Typical use::

    from mlcourse.tokenizers import BPETokenizer
    tokenizer = BPETokenizer.train(train_text, vocab_size=4096)
    ids = tokenizer.encode("To be, or not to be")

    from mlcourse.tokenizers.recipe import course_tokenizer
    tokenizer = course_tokenizer()  # the course's tokenizer: trained once per machine, then loaded
"""

from mlcourse.tokenizers.bpe import DEFAULT_SPECIALS, GPT2_PATTERN, BPETokenizer
from mlcourse.tokenizers.bpe_train import count_pretokens, train_merges
from mlcourse.tokenizers.sentencepiece_tok import SentencePieceTokenizer
from mlcourse.tokenizers.simple import CharTokenizer, WordTokenizer, oov_rate, oov_words

__all__ = [
    "DEFAULT_SPECIALS", "GPT2_PATTERN", "BPETokenizer", "CharTokenizer", "SentencePieceTokenizer",
    "WordTokenizer", "count_pretokens", "oov_rate", "oov_words", "train_merges",
]  # fmt: skip
