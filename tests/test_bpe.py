"""Byte-level BPE: the fast trainer against a naive reference, encoding, round trips, special tokens,
save/load and the Hugging Face export.

Trained on slices of the real corpus with small vocabularies so that the file runs in seconds; the round trip
runs on the whole corpus.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
import regex
from mlcourse.data import load_corpus
from mlcourse.tokenizers import BPETokenizer, count_pretokens, train_merges
from mlcourse.tokenizers.bpe import GPT2_PATTERN, render, unrender
from mlcourse.tokenizers.bpe_train import merge_pair
from mlcourse.tokenizers.hf_tokenizer import check_export, export, to_transformers
from transformers import AutoTokenizer

TRICKY = "naïve café — 日本語 🎭👑  \t\n\n  x  y\u00a0z\u2003w 1234 ١٢٣ e\u0301 it's I'LL we'VE Ⅻ ﬁ 𝔘 \r\n"


def naive_train(word_counts: Counter[bytes], num_tokens: int) -> list[tuple[int, int, int]]:
    """The textbook trainer: recount every pair of every word before each merge. Same tie-breaking rule as
    the fast one: highest count, then the smallest (left_id, right_id); a merge that spells an existing token
    reuses its id."""
    words = {tuple(w): n for w, n in word_counts.items()}
    vocab = [bytes([b]) for b in range(256)]
    merges = []
    while len(vocab) < num_tokens:
        counts: Counter[tuple[int, int]] = Counter()
        for ids, n in words.items():
            for pair in itertools.pairwise(ids):
                counts[pair] += n
        if not counts:
            break
        (a, b), _ = min(counts.items(), key=lambda item: (-item[1], item[0]))
        new_bytes = vocab[a] + vocab[b]
        new_id = vocab.index(new_bytes) if new_bytes in vocab else len(vocab)
        if new_id == len(vocab):
            vocab.append(new_bytes)
        merges.append((a, b, new_id))
        merged: Counter[tuple[int, ...]] = Counter()
        for ids, n in words.items():
            merged[tuple(merge_pair(list(ids), a, b, new_id))] += n
        words = dict(merged)
    return merges


def reference_encode(tokenizer: BPETokenizer, text: str) -> list[int]:
    """Apply every merge in rank order to every pre-token: what 'lowest rank first' must give."""
    ids: list[int] = []
    for piece in regex.findall(GPT2_PATTERN, text):
        piece_ids = list(piece.encode("utf-8"))
        for a, b, new_id in tokenizer.merges:
            piece_ids = merge_pair(piece_ids, a, b, new_id)
        ids.extend(piece_ids)
    return ids


@pytest.fixture(scope="module")
def corpus(shakespeare_data) -> str:
    return load_corpus()


@pytest.fixture(scope="module")
def tokenizer(corpus: str) -> BPETokenizer:
    return BPETokenizer.train(corpus[:300_000], vocab_size=600)


def test_fast_trainer_gives_the_same_merges_as_the_naive_reference_on_real_text(corpus):
    counts = count_pretokens(corpus[:50_000], GPT2_PATTERN)
    fast, vocab = train_merges(counts, 256 + 200)
    assert fast == naive_train(counts, 256 + 200)
    assert len(fast) >= 200 and len(set(vocab)) == len(vocab) == 456


def test_ties_go_to_the_smallest_pair_on_a_hand_sized_example():
    # "aaabdaaabac": (a,a) occurs 4 times -> 256; then (a,b) and (256,a) tie at 2 -> the smaller pair (97, 98)
    merges, vocab = train_merges(Counter({b"aaabdaaabac": 1}), 258)
    assert merges == [(97, 97, 256), (97, 98, 257)]
    assert vocab[256:] == [b"aa", b"ab"]


def test_vocab_size_counts_bytes_merges_and_special_tokens(tokenizer):
    assert tokenizer.vocab_size == 600
    assert len(tokenizer.vocab) == 600 - 3 and len(tokenizer.merges) >= 600 - 256 - 3
    assert [tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id] == [597, 598, 599]


def test_encoding_applies_merges_lowest_rank_first(tokenizer, corpus):
    sample = corpus[400_000:420_000] + TRICKY
    assert tokenizer.encode(sample) == reference_encode(tokenizer, sample)


def test_encode_cache_gives_the_same_ids_twice(tokenizer):
    first = tokenizer.encode("The quality of mercy is not strained")
    assert tokenizer._cache  # filled by the first call
    assert tokenizer.encode("The quality of mercy is not strained") == first


def test_round_trip_on_the_whole_corpus(tokenizer, corpus):
    ids = tokenizer.encode(corpus)
    assert tokenizer.decode(ids) == corpus
    assert len(ids) < 0.6 * len(corpus.encode("utf-8"))  # merges learned on a slice compress the rest too


@pytest.mark.parametrize("text", ["", "naïve café — 日本語 🎭👑", TRICKY, "\n\n\n", "   ", "'s'll"])
def test_round_trip_on_empty_non_ascii_and_emoji(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_unseen_characters_fall_back_to_bytes_never_unk(tokenizer):
    ids = tokenizer.encode("🎭")
    assert ids == list("🎭".encode())  # four byte tokens, all < 256


def test_special_tokens_are_single_ids_when_allowed_and_never_split(tokenizer):
    text = "<bos>To be<eos><pad><pad>"
    ids = tokenizer.encode(text, allowed_special="all")
    assert ids[0] == tokenizer.bos_id and ids[-3:] == [tokenizer.eos_id, tokenizer.pad_id, tokenizer.pad_id]
    assert tokenizer.decode(ids) == text
    only_eos = tokenizer.encode(text, allowed_special={"<eos>"})
    assert only_eos.count(tokenizer.eos_id) == 1 and tokenizer.bos_id not in only_eos


def test_special_token_names_are_plain_text_by_default(tokenizer):
    ids = tokenizer.encode("<eos>")
    assert tokenizer.eos_id not in ids and all(i < len(tokenizer.vocab) for i in ids)
    assert tokenizer.decode(ids) == "<eos>"


def test_unknown_special_token_name_raises_a_clear_error(tokenizer):
    with pytest.raises(KeyError, match="unknown special token '<mask>'"):
        tokenizer.token_id("<mask>")
    with pytest.raises(KeyError, match="<mask>"):
        tokenizer.encode("x", allowed_special={"<mask>"})


def test_decoding_an_invalid_id_raises_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match=r"token id 600 is not in this tokenizer \(valid ids: 0..599\)"):
        tokenizer.decode([1, 600])
    with pytest.raises(ValueError, match="token id -1"):
        tokenizer.decode([-1])


def test_save_load_round_trip_gives_identical_encodings(tokenizer, corpus, tmp_path):
    path = tokenizer.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(path)
    sample = corpus[-50_000:] + TRICKY
    assert loaded.encode(sample) == tokenizer.encode(sample)
    assert loaded.special_tokens == tokenizer.special_tokens and loaded.merges == tokenizer.merges


def test_saved_file_is_readable_json(tokenizer, tmp_path):
    payload = json.loads(tokenizer.save(tmp_path / "bpe.json").read_text(encoding="utf-8"))
    assert payload["pattern"] == GPT2_PATTERN and payload["special_tokens"]["<eos>"] == tokenizer.eos_id
    assert "Ġthe" in payload["vocab"]  # " the", with the space spelled Ġ
    assert unrender(render(b" the\n\xff")) == b" the\n\xff"


@pytest.mark.parametrize("content", ["not json {", '{"format": "something-else"}', "[1, 2]"])
def test_loading_a_wrong_file_names_the_file(tmp_path, content):
    path = tmp_path / "wrong.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="wrong.json"):
        BPETokenizer.load(path)


def test_loading_a_corrupt_file_names_the_file(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "bpe.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["merges"][10][2] = 5  # a merge pointing at the wrong id
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ValueError, match="bpe.json is corrupt"):
        BPETokenizer.load(path)
    payload = json.loads(tokenizer.save(tmp_path / "bpe.json").read_text(encoding="utf-8"))
    payload["vocab"][300] = "Ġxyz"  # vocab disagreeing with merges
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ValueError, match="bpe.json is corrupt"):
        BPETokenizer.load(path)


def test_too_small_vocab_size_raises():
    with pytest.raises(ValueError, match="vocab_size=200"):
        BPETokenizer.train("abc", vocab_size=200)


def test_hf_export_encodes_like_ours_on_a_large_slice(tokenizer, corpus):
    hf = to_transformers(tokenizer)
    report = check_export(tokenizer, hf, corpus[:1_000_000] + TRICKY + "<bos>x<eos>")
    assert report["mismatched_chunks"] == 0 and report["tokens"] > 200_000
    ids = tokenizer.encode(TRICKY)
    assert hf.decode(ids) == TRICKY
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id) == (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)


def test_hf_export_survives_save_pretrained_and_from_pretrained(tokenizer, tmp_path):
    reloaded = AutoTokenizer.from_pretrained(export(tokenizer, tmp_path / "hf"))
    text = "Friends, Romans, countrymen 🎭<eos>"
    assert reloaded(text, add_special_tokens=False)["input_ids"] == tokenizer.encode(text, allowed_special="all")
    assert reloaded.pad_token == "<pad>" and len(reloaded) == tokenizer.vocab_size
