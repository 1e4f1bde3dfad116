"""Tests of mlcourse.checks.p13_tokenization: the chapter 13 exercise checks pass the references, report an
untouched stub as not attempted, and name the typical mistakes (ties, overlapping runs, rank order, the
special tokens in vocab_size, characters instead of bytes)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from mlcourse.checks import p13_tokenization as tchecks
from mlcourse.tokenizers import BPETokenizer
from mlcourse.tokenizers.bpe_train import merge_pair


def stub(*args, **kwargs):
    raise NotImplementedError


def pair_counts(word_counts, distinct=False, weighted=True):
    counts = Counter()
    for ids, n in word_counts.items():
        pairs = itertools.pairwise(ids)
        for pair in set(pairs) if distinct else pairs:
            counts[pair] += n if weighted else 1
    return counts


def merge(ids, pair, new_id):
    return merge_pair(ids, pair[0], pair[1], new_id)


def train_loop(most_frequent_pair, first_id=256):
    def train(word_counts, num_merges):
        merges = []
        for i in range(num_merges):
            pair = most_frequent_pair(word_counts)
            merges.append((*pair, first_id + i))
            word_counts = {tuple(merge(list(w), pair, first_id + i)): n for w, n in word_counts.items()}
        return merges

    return train


def test_every_check_reports_a_stub_as_not_attempted(capsys):
    for check in (tchecks.check_most_frequent_pair, tchecks.check_merge, tchecks.check_train_loop,
                  tchecks.check_encode_piece, tchecks.check_truncate, tchecks.check_bytes_per_token,
                  tchecks.check_encode_iterable):  # fmt: skip
        verdict = check(stub)
        assert verdict.status == "not attempted", check.__name__
    assert capsys.readouterr().out.count("… not attempted yet") == 7


def test_most_frequent_pair_check_passes_the_reference_and_names_ties_overlaps_and_frequencies():
    assert tchecks.check_most_frequent_pair(tchecks.reference_most_frequent_pair)
    first_seen = lambda wc: pair_counts(wc).most_common(1)[0][0]  # noqa: E731 - ties to insertion order
    verdict = tchecks.check_most_frequent_pair(first_seen)
    assert not verdict and "smallest" in verdict.detail
    distinct = lambda wc: min((c := pair_counts(wc, distinct=True)), key=lambda p: (-c[p], p))  # noqa: E731
    verdict = tchecks.check_most_frequent_pair(distinct)
    assert not verdict and "counts twice" in verdict.detail
    unweighted = lambda wc: min((c := pair_counts(wc, weighted=False)), key=lambda p: (-c[p], p))  # noqa: E731
    verdict = tchecks.check_most_frequent_pair(unweighted)
    assert not verdict and "weight each word" in verdict.detail


def test_merge_check_names_the_overlap_and_an_input_changed_in_place():
    assert tchecks.check_merge(merge)

    def overlapping(ids, pair, new_id):  # steps one id after a merge instead of two
        out, i = [], 0
        while i < len(ids):
            out.append(new_id if tuple(ids[i : i + 2]) == pair else ids[i])
            i += 1
        return out

    verdict = tchecks.check_merge(overlapping)
    assert not verdict and "overlapping occurrences" in verdict.detail

    def in_place(ids, pair, new_id):
        ids[:] = merge(list(ids), pair, new_id)
        return ids

    verdict = tchecks.check_merge(in_place)
    assert not verdict and "changed its input" in verdict.detail


def test_train_loop_check_matches_train_merges_and_catches_a_wrong_tie_rule_or_first_id():
    verdict = tchecks.check_train_loop(train_loop(tchecks.reference_most_frequent_pair))
    assert verdict and "40 merges" in verdict.detail
    largest_on_ties = lambda wc: max((c := pair_counts(wc)), key=lambda p: (c[p], p))  # noqa: E731
    verdict = tchecks.check_train_loop(train_loop(largest_on_ties))
    assert not verdict and "the first 23 merges agree" in verdict.detail  # the slice's first tie is at rank 23
    verdict = tchecks.check_train_loop(train_loop(tchecks.reference_most_frequent_pair, first_id=257))
    assert not verdict and "count up from 256" in verdict.detail


def test_encode_check_separates_rank_order_from_frequency_leftmost_and_single_pass():
    assert tchecks.check_encode_piece(tchecks.reference_encode_piece)

    def by_frequency(piece, merges):
        ids, new = list(piece), {(a, b): n for a, b, n in merges}
        while True:
            counts = Counter(p for p in itertools.pairwise(ids) if p in new)
            if not counts:
                return ids
            pair = counts.most_common(1)[0][0]
            ids = merge(ids, pair, new[pair])

    def leftmost(piece, merges):
        ids, new = list(piece), {(a, b): n for a, b, n in merges}
        while (pair := next((p for p in itertools.pairwise(ids) if p in new), None)) is not None:
            ids = merge(ids, pair, new[pair])
        return ids

    def one_pass(piece, merges):  # each pair present at the start merged once; new pairs never looked at
        ids = list(piece)
        present = set(itertools.pairwise(ids))
        for a, b, n in merges:
            if (a, b) in present:
                ids = merge(ids, (a, b), n)
        return ids

    for wrong, words in ((by_frequency, "not by count"), (leftmost, "not left to right"),
                         (one_pass, "keep merging")):  # fmt: skip
        verdict = tchecks.check_encode_piece(wrong)
        assert not verdict and words in verdict.detail, wrong.__name__


def test_truncate_check_proves_nesting_and_names_the_special_tokens():
    verdict = tchecks.check_truncate(tchecks.reference_truncate)
    assert verdict and "trained at 300, 512 and 1000" in verdict.detail
    no_specials = lambda tok, v: BPETokenizer(tok.merges[: v - 256])  # noqa: E731
    verdict = tchecks.check_truncate(no_specials)
    assert not verdict and "special tokens count" in verdict.detail
    last = lambda tok, v: BPETokenizer(tok.merges[len(tok.merges) - (v - 259) :])  # noqa: E731
    verdict = tchecks.check_truncate(last)
    assert not verdict  # the last merges use ids that do not exist yet: the learner's code raises


def test_bytes_per_token_check_names_characters_and_the_inverted_ratio():
    assert tchecks.check_bytes_per_token(tchecks.reference_bytes_per_token)
    chars = lambda tok, text: len(text) / len(tok.encode(text))  # noqa: E731
    verdict = tchecks.check_bytes_per_token(chars)
    assert not verdict and "UTF-8 bytes" in verdict.detail
    inverted = lambda tok, text: len(tok.encode(text)) / len(text.encode("utf-8"))  # noqa: E731
    verdict = tchecks.check_bytes_per_token(inverted)
    assert not verdict and "divide the other way" in verdict.detail


def test_references_agree_with_the_library_and_reject_an_empty_count():
    tokenizer = tchecks._tokenizer(512)
    for word in (" king", " bloodiest", " 🎭"):
        assert tchecks.reference_encode_piece(word.encode(), list(tokenizer.merges)) == tokenizer.encode(word)
    assert tchecks.reference_truncate(tokenizer, 300).merges == tokenizer.merges[:41]
    with pytest.raises(ValueError, match="no pair left"):
        tchecks.reference_most_frequent_pair({(1,): 5})
    with pytest.raises(ValueError, match="vocab_size=600 is outside"):
        tchecks.reference_truncate(tokenizer, 600)


def test_encode_iterable_check_passes_the_library_and_names_chunk_boundaries_the_tail_and_laziness():
    assert tchecks.check_encode_iterable(lambda tok, chunks: tok.encode_iterable(chunks))
    per_chunk = lambda tok, chunks: (i for c in chunks for i in tok.encode(c))  # noqa: E731 - the classic bug
    verdict = tchecks.check_encode_iterable(per_chunk)
    assert not verdict and "each chunk on its own" in verdict.detail

    def drops_tail(tok, chunks):  # holds back the last pre-token and forgets it at the end
        pending = ""
        for chunk in chunks:
            pending += chunk
            pieces = tok._compiled.findall(pending)
            for piece in pieces[:-1]:
                yield from tok.encode(piece)
            pending = pieces[-1] if pieces else pending

    verdict = tchecks.check_encode_iterable(drops_tail)
    assert not verdict and "are missing" in verdict.detail
    def last_only(tok, chunks):  # holds back only the last pre-token: wrong when a contraction is cut
        pending = ""
        for chunk in chunks:
            pending += chunk
            pieces = tok._compiled.findall(pending)
            for piece in pieces[:-1]:
                yield from tok.encode(piece)
            pending = pieces[-1] if pieces else pending
        yield from tok.encode(pending)

    verdict = tchecks.check_encode_iterable(last_only)
    assert not verdict and "before* the last can change" in verdict.detail
    eager = lambda tok, chunks: tok.encode("".join(chunks))  # noqa: E731 - right ids, reads everything first
    verdict = tchecks.check_encode_iterable(eager)
    assert not verdict and "not lazy" in verdict.detail
