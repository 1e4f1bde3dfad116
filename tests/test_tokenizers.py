"""Character and word tokenizers (``<unk>``, OOV rate on held-out plays) and the SentencePiece wrapper."""

from __future__ import annotations

from collections import Counter

import pytest
import regex
from mlcourse.data import load_split_corpus
from mlcourse.tokenizers import CharTokenizer, SentencePieceTokenizer, WordTokenizer, oov_rate, oov_words
from mlcourse.tokenizers.simple import WORD_PATTERN


@pytest.fixture(scope="module")
def split(shakespeare_data) -> tuple[str, str]:
    return load_split_corpus()


@pytest.fixture(scope="module")
def spm_pair(split) -> dict[str, SentencePieceTokenizer]:
    train_text = split[0][:400_000]
    return {kind: SentencePieceTokenizer.train(train_text, vocab_size=600, model_type=kind)
            for kind in ("bpe", "unigram")}  # fmt: skip


def test_char_tokenizer_round_trips_seen_text_and_maps_unseen_chars_to_unk():
    tok = CharTokenizer.train("to be or not to be")
    assert tok.decode(tok.encode("not to be")) == "not to be"
    assert tok.vocab_size == len(set("to be or not to be")) + 1
    assert tok.encode("bé") == [tok.stoi["b"], tok.unk_id]
    assert oov_rate(tok, "bé") == 0.5


def test_word_tokenizer_splits_words_and_punctuation_keeping_apostrophes():
    tok = WordTokenizer.train("O'er the king's hill, my lord!")
    assert tok.tokenize("O'er the king's hill, my lord!") == ["O'er", "the", "king's", "hill", ",", "my", "lord", "!"]


def test_word_tokenizer_min_freq_sends_rare_words_to_unk():
    tok = WordTokenizer.train("the cat and the dog and the bird", min_freq=2)
    assert tok.itos == ["<unk>", "the", "and"]  # most frequent first
    assert tok.decode(tok.encode("the bird and the fish")) == "the <unk> and the <unk>"
    assert oov_rate(tok, "the bird and the fish") == pytest.approx(2 / 5)
    assert oov_words(tok, "fish fish bird") == [("fish", 2), ("bird", 1)]


def test_word_tokenizer_max_size_caps_the_vocabulary():
    tok = WordTokenizer.train("a a a b b c", max_size=2)
    assert tok.itos == ["<unk>", "a", "b"] and tok.vocab_size == 3


def test_oov_rate_on_held_out_plays_is_positive_and_falls_with_a_larger_vocabulary(split):
    train_text, val_text = split
    counts = Counter(regex.findall(WORD_PATTERN, train_text))
    rates = [oov_rate(WordTokenizer.from_counts(counts, min_freq=m), val_text) for m in (5, 2, 1)]
    assert 0 < rates[2] < rates[1] < rates[0] < 0.2  # unseen words remain even with every training word kept
    every_word = WordTokenizer.from_counts(counts)
    assert oov_rate(every_word, train_text[-300_000:]) == 0.0  # no OOV on the training text itself
    assert oov_rate(every_word, "") == 0.0


def test_out_of_range_ids_raise_clear_errors():
    with pytest.raises(ValueError, match="token id 99 is out of range"):
        CharTokenizer.train("abc").decode([99])
    with pytest.raises(ValueError, match="token id 99 is out of range"):
        WordTokenizer.train("abc").decode([99])
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer.train("abc", min_freq=0)


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_sentencepiece_round_trips_and_never_needs_unk(spm_pair, split, kind):
    sp = spm_pair[kind]
    assert sp.vocab_size == 600
    assert (sp.processor.unk_id(), sp.bos_id, sp.eos_id, sp.pad_id) == (0, 1, 2, 3)
    text = "naïve café — 日本語 🎭👑\n  two  spaces\tand a tab"
    ids = sp.encode(text)
    assert sp.decode(ids) == text and 0 not in ids  # byte fallback: no <unk>
    sample = split[1][:20_000]
    assert sp.decode(sp.encode(sample)) == sample
    assert len(sp.encode(sample)) < 0.6 * len(sample.encode("utf-8"))


def test_sentencepiece_save_load_and_pieces(spm_pair, tmp_path):
    sp = spm_pair["bpe"]
    loaded = SentencePieceTokenizer.load(sp.save(tmp_path / "spm.model"))
    assert loaded.encode("To be, or not to be") == sp.encode("To be, or not to be")
    assert "".join(sp.pieces("to be")).replace("▁", " ").strip() == "to be"


def test_sentencepiece_rejects_bad_settings_and_ids(spm_pair):
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer.train("abc", 300, model_type="wordpiece")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vocab_size=100"):
        SentencePieceTokenizer.train("abc", 100)
    with pytest.raises(ValueError, match="token id 600"):
        spm_pair["bpe"].decode([600])
