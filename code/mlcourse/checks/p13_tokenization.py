"""Checks for the exercises of chapter 13 (tokenization): one BPE training step, encoding with merge ranks,
nested vocabularies, bytes per token and the streaming encoder.

Each ``check_*`` takes the learner's function, runs it on hand-built cases (ties, overlapping runs such as
``a a a``) and on slices of the real corpus, compares with the reference (the ``reference_*`` functions here,
or the library's ``train_merges`` and ``BPETokenizer``) and prints one verdict line through
:func:`mlcourse.checks.core.run_check`. The tie rule is the library's: the most frequent pair wins, and among
equal counts the smallest ``(left_id, right_id)``.

What it does not do: grade the open-ended measurements (their worked answers are in the solutions notebook).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.tokenizers import GPT2_PATTERN, BPETokenizer, count_pretokens, train_merges
from mlcourse.tokenizers.bpe_train import Merge, merge_pair

Pair = tuple[int, int]
WordCounts = dict[tuple[int, ...], int]

TRAIN_SLICE_CHARS = 20_000  # the real-text slice of check_train_loop: its first 40 merges include ties
ENCODE_SLICE_CHARS = 100_000  # the slice the tokenizer of check_encode_piece and check_truncate learns from


def reference_most_frequent_pair(word_counts: WordCounts) -> Pair:
    """The pair with the highest count over all words (a word of frequency n adds n per adjacent position,
    so ``(a, a, a)`` holds ``(a, a)`` twice); ties -> the smallest ``(left_id, right_id)``."""
    counts: Counter[Pair] = Counter()
    for ids, n in word_counts.items():
        for pair in itertools.pairwise(ids):
            counts[pair] += n
    if not counts:
        raise ValueError("no word has two ids: there is no pair left to merge")
    return min(counts, key=lambda pair: (-counts[pair], pair))


def reference_encode_piece(piece: bytes, merges: list[Merge]) -> list[int]:
    """Ids of one pre-token: start from its bytes, merge the adjacent pair of lowest rank until none has one."""
    rank = {}
    for r, (a, b, new_id) in enumerate(merges):
        rank.setdefault((a, b), (r, new_id))  # the first merge of a pair wins
    ids = list(piece)
    while len(ids) >= 2:
        best = min(itertools.pairwise(ids), key=lambda p: rank.get(p, (float("inf"), 0))[0])
        if best not in rank:
            break
        ids = merge_pair(ids, best[0], best[1], rank[best][1])
    return ids


def reference_bytes_per_token(tokenizer: BPETokenizer, text: str) -> float:
    """UTF-8 bytes of ``text`` divided by the number of tokens ``tokenizer`` makes of it."""
    return len(text.encode("utf-8")) / len(tokenizer.encode(text))


@lru_cache(maxsize=1)
def _corpus_head() -> str:
    from mlcourse.data import (
        load_corpus,  # imported here: the hand-built checks need no corpus
    )

    return load_corpus()[:ENCODE_SLICE_CHARS]


def real_word_counts(chars: int = TRAIN_SLICE_CHARS) -> WordCounts:
    """Pre-token counts of the first ``chars`` characters of the corpus, keyed by tuples of byte ids."""
    return {tuple(word): n for word, n in count_pretokens(_corpus_head()[:chars], GPT2_PATTERN).items()}


@lru_cache(maxsize=4)
def _tokenizer(vocab_size: int) -> BPETokenizer:
    return BPETokenizer.train(_corpus_head(), vocab_size)


def check_most_frequent_pair(fn: Callable[[WordCounts], Pair], verbose: bool = True) -> Verdict:
    """``fn(word_counts)`` must return the reference pair: frequency-weighted counts at every adjacent
    position, ties to the smallest pair; on hand-built cases and on a slice of the corpus."""

    def check() -> None:
        cases = [
            ("a word of frequency 3 adds 3 per occurrence", {(1, 2, 3): 3, (2, 3): 1, (5, 1, 2): 1}),
            ("a tie between (5, 6) and (1, 2)", {(5, 6): 2, (1, 2): 2, (7, 8, 9): 1}),
            ("an overlapping run (7, 7, 7)", {(1, 2): 1, (7, 7, 7): 1, (3, 4): 1}),
            ("frequencies, not distinct words", {(3, 4): 10, (1, 2, 1, 2, 1, 2): 1, (1, 2): 1}),
        ]
        for name, word_counts in cases:
            got = fn(dict(word_counts))
            expected = reference_most_frequent_pair(word_counts)
            expect(isinstance(got, tuple) and len(got) == 2,
                   f"{name}: expected a tuple (left_id, right_id), got {got!r:.80}")
            got = (int(got[0]), int(got[1]))
            if got == expected:
                continue
            if name.startswith("a tie"):
                expect(False, f"{name}: expected {expected}, got {got}; among equal counts the smallest "
                       "(left_id, right_id) wins, not the first pair seen")
            if name.startswith("an overlapping"):
                expect(False, f"{name}: expected {expected}, got {got}; (7, 7, 7) holds the pair (7, 7) at two "
                       "positions, so it counts twice (count every adjacent position, not distinct pairs)")
            if name.startswith("frequencies"):
                expect(False, f"{name}: expected {expected}, got {got}; weight each word's pairs by the word's "
                       "count (the dict's value)")
            expect(False, f"{name}: expected {expected}, got {got}")
        real = real_word_counts()
        got = fn(dict(real))
        expected = reference_most_frequent_pair(real)
        expect(tuple(got) == expected, f"on the corpus slice: expected {expected}, got {tuple(got)}")

    return run_check("most frequent pair (ties -> smallest pair)", check, verbose=verbose)


def check_merge(fn: Callable[[list[int], Pair, int], list[int]], verbose: bool = True) -> Verdict:
    """``fn(ids, pair, new_id)`` must replace every non-overlapping occurrence, left to right, and leave the
    input list unchanged."""

    def check() -> None:
        cases = [
            ([5, 5, 5], (5, 5), 7, "an overlapping run (5, 5, 5)"),
            ([1, 2, 3, 1, 2], (1, 2), 9, "two occurrences"),
            ([5, 5, 5, 5], (5, 5), 7, "a run (5, 5, 5, 5)"),
            ([3, 1, 2], (1, 2), 9, "the pair at the end"),
            ([2, 1, 2, 1], (1, 3), 9, "no occurrence"),
            ([2, 1], (1, 2), 9, "the reversed pair"),
            ([4], (4, 4), 9, "a single id"),
            ([], (1, 2), 9, "no ids"),
        ]
        for ids, pair, new_id, name in cases:
            given = list(ids)
            got = fn(given, pair, new_id)
            expected = merge_pair(ids, pair[0], pair[1], new_id)
            expect(given == ids, f"{name}: your function changed its input list {ids} into {given}; build a new "
                   "list (the trainer still needs the old one to update the pair counts)")
            expect(isinstance(got, list), f"{name}: expected a list of ids, got {type(got).__name__}")
            if isinstance(got, list) and got.count(new_id) > expected.count(new_id):
                expect(False, f"{name}: merging {pair} -> {new_id} in {ids}: expected {expected}, got {got}; one "
                       "merge uses up both ids, so overlapping occurrences cannot both merge: skip past a merged "
                       "pair and scan on")
            expect(got == expected, f"{name}: merging {pair} -> {new_id} in {ids}: expected {expected}, got {got}")

    return run_check("merge a pair (left to right, no overlap)", check, verbose=verbose)


def check_train_loop(fn: Callable[[WordCounts, int], list[Merge]], num_merges: int = 40,
                     verbose: bool = True) -> Verdict:  # fmt: skip
    """``fn(word_counts, num_merges)`` on a corpus slice must return the same ``(left, right, new_id)`` merges
    as ``train_merges``, new ids counting from 256."""

    def check() -> str:
        real = real_word_counts()
        expected, vocab = train_merges(Counter({bytes(w): n for w, n in real.items()}), 256 + num_merges)
        got = fn(dict(real), num_merges)
        expect(isinstance(got, list) and len(got) == num_merges,
               f"expected a list of {num_merges} merges, got {type(got).__name__} of length {len(got)}"
               if hasattr(got, "__len__") else f"expected a list of {num_merges} merges, got {got!r:.60}")
        for rank, (merge, ref) in enumerate(zip(got, expected)):
            expect(isinstance(merge, tuple | list) and len(merge) == 3,
                   f"merge {rank}: expected a triple (left_id, right_id, new_id), got {merge!r}")
            if tuple(merge) != ref:
                agree = f"the first {rank} merges agree; " if rank else ""
                hint = "; new ids count up from 256" if tuple(merge[:2]) == ref[:2] else ""
                expect(False, f"{agree}merge {rank}: expected {ref[:2]} -> {ref[2]}, the bytes "
                       f"{vocab[ref[2]]!r}, got {tuple(merge[:2])} -> {merge[2]}{hint} (same data, same tie rule: "
                       "recount the pairs after every merge)")
        return f"the same {num_merges} merges as train_merges"

    return run_check("BPE training loop = train_merges", check, verbose=verbose)


def check_encode_piece(fn: Callable[[bytes, list[Merge]], list[int]], verbose: bool = True) -> Verdict:
    """``fn(piece, merges)`` must encode one pre-token by lowest merge rank first: hand-built cases where
    other orders differ, then real words against ``BPETokenizer``."""

    def check() -> str:
        a, b, c = ord("a"), ord("b"), ord("c")
        hand = [
            (b"cabab", [(c, a, 256), (a, b, 257)], "frequent",
             "(a, b) occurs twice in the word but (c, a) has the lower rank: merge by rank, not by count"),
            (b"abc", [(b, c, 256), (a, b, 257)], "leftmost",
             "(a, b) is leftmost but (b, c) has the lower rank: merge by rank, not left to right"),
            (b"abcabc", [(a, b, 256), (256, c, 257)], "repeat",
             "keep merging until no adjacent pair has a rank (a merge can create a new mergeable pair)"),
            (b"", [(a, b, 256)], "empty", "an empty piece has no ids"),
            (b"x", [(a, b, 256)], "single", "one byte stays one id"),
        ]
        for piece, merges, _, hint in hand:
            got = fn(piece, list(merges))
            expected = reference_encode_piece(piece, merges)
            expect(isinstance(got, list), f"{piece!r}: expected a list of ids, got {type(got).__name__}")
            expect(got == expected, f"{piece!r} with merges {merges}: expected {expected}, got {got}; {hint}")
        tokenizer = _tokenizer(512)
        words = [" king", " bloodiest", " Exeunt", "'s", " thee", " naïve", " 🎭", " unbreakable", "\n\n"]
        for word in words:
            got = fn(word.encode("utf-8"), list(tokenizer.merges))
            expected = tokenizer.encode(word)
            expect(got == expected, f"{word!r} with the 512-token tokenizer: expected {expected} "
                   f"({[tokenizer.vocab[i] for i in expected]}), got {got}")
        return f"{len(hand)} hand-built cases, {len(words)} real pre-tokens"

    return run_check("encode a pre-token by merge rank", check, verbose=verbose)


def reference_truncate(tokenizer: BPETokenizer, vocab_size: int) -> BPETokenizer:
    """The tokenizer made of ``tokenizer``'s first merges, with ``vocab_size`` ids in all (special tokens too)."""
    keep = vocab_size - 256 - len(tokenizer.special_tokens)
    if not 0 <= keep <= len(tokenizer.vocab) - 256:
        raise ValueError(f"vocab_size={vocab_size} is outside {256 + len(tokenizer.special_tokens)}.."
                         f"{tokenizer.vocab_size} for this tokenizer")
    merges, added = [], 0
    for merge in tokenizer.merges:
        if added == keep:
            break
        merges.append(merge)
        added += merge[2] == 256 + added  # a merge that reuses an existing id adds no token
    return BPETokenizer(merges, list(tokenizer.special_tokens), tokenizer.pattern)


def check_truncate(fn: Callable[[BPETokenizer, int], BPETokenizer], verbose: bool = True) -> Verdict:
    """``fn(tokenizer, vocab_size)`` must keep the first merges so that the result has ``vocab_size`` ids;
    it must equal a tokenizer trained at that size from scratch (BPE vocabularies are nested)."""

    def check() -> str:
        big = _tokenizer(1024)
        for size in (300, 512, 1000):
            got = fn(big, size)
            expect(isinstance(got, BPETokenizer), f"vocab_size {size}: expected a BPETokenizer, got "
                   f"{type(got).__name__}")
            if got.vocab_size != size:
                diff = got.vocab_size - size
                hint = {3: "; the 3 special tokens count in vocab_size too: keep vocab_size - 256 - 3 merges",
                        256: "; the 256 byte tokens count in vocab_size too: keep vocab_size - 256 - 3 merges",
                        259: "; keep vocab_size - 256 - 3 merges (bytes and special tokens count too)"}.get(diff, "")
                expect(False, f"vocab_size {size}: your tokenizer has vocab_size {got.vocab_size}{hint}")
            trained = _tokenizer(size)  # trained from scratch at this size
            if got.merges != trained.merges:
                prefix = got.merges == big.merges[: len(got.merges)]
                expect(False, f"vocab_size {size}: your merges differ from a tokenizer trained at that size"
                       + ("" if prefix else "; keep the *first* merges (lowest ranks), they were learned first"))
        return "equal to tokenizers trained at 300, 512 and 1000 from scratch"

    return run_check("truncate a BPE vocabulary (nested vocabularies)", check, verbose=verbose)


def check_bytes_per_token(fn: Callable[[BPETokenizer, str], float], verbose: bool = True) -> Verdict:
    """``fn(tokenizer, text)`` must return UTF-8 bytes per token (not characters, not tokens per byte)."""

    def check() -> None:
        tokenizer = _tokenizer(512)
        texts = [_corpus_head()[-3000:], "Naïve café — 日本語 🎭, quoth the king.\n"]
        for text in texts:
            got = fn(tokenizer, text)
            expected = reference_bytes_per_token(tokenizer, text)
            n_tokens = len(tokenizer.encode(text))
            expect(isinstance(got, int | float), f"expected a number, got {type(got).__name__}")
            if abs(got - len(text) / n_tokens) < 1e-9 and len(text) != len(text.encode("utf-8")):
                expect(False, f"on {text[:25]!r}: expected {expected:.4f}, got {got:.4f} = characters per "
                       "token; count UTF-8 bytes (len(text.encode('utf-8'))): 'é' is 2 bytes, '🎭' 4")
            if expected and abs(got * expected - 1) < 1e-9:
                expect(False, f"expected {expected:.4f}, got {got:.4f} = tokens per byte: divide the other way")
            expect(abs(got - expected) < 1e-9, f"on {text[:25]!r}: expected {expected:.4f}, got {got:.4f}")

    return run_check("bytes per token", check, verbose=verbose)


STREAM_CASES = [[" Rom", "eo"], ["a   ", "x"], ["To be, or not", " to be"], ["it'", "s"], ["", "ab", ""],
                ["🎭", "👑 x"], ["river we'l", "l encamp"]]


def _chunked(text: str, seed: int, largest: int) -> list[str]:
    """``text`` cut into chunks of 1..largest characters at seeded random places."""
    import random

    rng, chunks, i = random.Random(seed), [], 0
    while i < len(text):
        step = rng.randint(1, largest)
        chunks.append(text[i : i + step])
        i += step
    return chunks


def check_encode_iterable(fn: Callable[[BPETokenizer, list[str]], object], verbose: bool = True) -> Verdict:
    """``fn(tokenizer, chunks)`` must yield the ids of ``"".join(chunks)``, exactly as ``tokenizer.encode`` of the
    whole text, lazily (the first ids before the last chunk is read)."""

    def check() -> str:
        tokenizer = _tokenizer(512)
        real = _corpus_head()[:6000] + " naïve café 🎭  \n\n  end"
        cases = STREAM_CASES + [_chunked(real, seed, largest) for seed, largest in ((0, 7), (1, 60))]
        for chunks in cases:
            text = "".join(chunks)
            want = tokenizer.encode(text)
            got = [int(i) for i in fn(tokenizer, list(chunks))]
            if got == want:
                continue
            shown = repr(chunks) if len(chunks) <= 6 else f"{len(chunks)} chunks of real text"
            per_chunk = [i for c in chunks for i in tokenizer.encode(c)]
            expect(got != per_chunk, f"on {shown}: you encode each chunk on its own; a pre-token cut by a chunk "
                   "boundary (' Rom' | 'eo') must be held back until the next chunk shows where it ends")
            expect(chunks != ["river we'l", "l encamp"], f"on {shown}: the piece *before* the last can change too: "
                   "\" we'l\" splits into \" we\", \"'\", \"l\", but \"'ll\" is one piece once the next \"l\" arrives; "
                   "hold back every pre-token that starts within a few characters of the end, not only the last")
            expect(not (len(got) < len(want) and got == want[: len(got)]),
                   f"on {shown}: the last {len(want) - len(got)} ids are missing; when the chunks run out, encode "
                   "what is still held back")
            first = next(k for k in range(min(len(got), len(want)) + 1)
                         if k == len(got) or k == len(want) or got[k] != want[k])
            expect(False, f"on {shown}: ids differ from encode(whole text) at position {first}: expected "
                   f"{want[first:first + 5]}, got {got[first:first + 5]}")
        read = 0

        def long_source():
            nonlocal read
            for _ in range(5000):
                read += 1
                yield "Now is the winter of our discontent. "

        ids = iter(fn(tokenizer, long_source()))
        first_ids = [next(ids) for _ in range(20)]
        expect(first_ids == tokenizer.encode("Now is the winter of our discontent. " * 10)[:20],
               f"on a long stream: the first ids are {first_ids[:5]}..., not those of the text")
        expect(read < 100, f"not lazy: {read} of 5,000 chunks were read before the first 20 ids came out; yield ids "
               "as soon as they are final (a generator with `yield`), instead of building a list")
        return f"equal to whole-text encoding on {len(cases)} chunkings, lazy"

    return run_check("streaming encoder (encode_iterable)", check, verbose=verbose)
