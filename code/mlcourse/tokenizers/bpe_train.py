"""Training a byte-level BPE fast: count pre-tokens once, then merge with incremental pair counts.

The slow textbook trainer recounts every adjacent pair of the whole corpus before each merge: O(corpus) per
merge, hours for a 5 MB text. Two observations make it fast:

1. The text is split into pre-tokens (words with their leading space, runs of punctuation, ...) and a merge
   never crosses a pre-token boundary, so we only need each *distinct* pre-token once with its frequency:
   a ~5 MB corpus has only a few tens of thousands of them (``count_pretokens``).
2. A merge of ``(a, b)`` changes the pair counts only inside the words that contain ``(a, b)``. We keep
   ``pair_counts: (int, int) -> int`` and ``pair_words: (int, int) -> set of word indices`` up to date, touch
   only those words, and find the most frequent pair with a heap with lazy deletion (an entry whose count is
   no longer the pair's current count is stale and skipped when popped).

**Tie-breaking rule** (the naive reference trainer in ``tests/test_bpe.py`` uses the same one): the next merge
is the pair with the highest count; among equal counts, the smallest ``(left_id, right_id)``. Pairs are
counted at every adjacent position, so ``a a a`` holds the pair ``(a, a)`` twice (as Hugging Face and minbpe
count). A merge whose bytes already exist as a token (``ab`` + ``c`` after ``a`` + ``bc``) reuses that
token's id instead of adding a duplicate, so the vocabulary stays a set of distinct byte strings.

What it does not do: pre-tokenise (``bpe.py`` passes the regex), encode, or know about special tokens.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable

import regex
from tqdm import tqdm

# a merge: (left_id, right_id, new_id); its rank is its position in the list of merges
Merge = tuple[int, int, int]


def count_pretokens(text: str, pattern: str | regex.Pattern) -> Counter[bytes]:
    """Frequency of each distinct pre-token of ``text`` (split by ``pattern``), as UTF-8 bytes."""
    compiled = regex.compile(pattern) if isinstance(pattern, str) else pattern
    counts = Counter(compiled.findall(text))
    return Counter({piece.encode("utf-8"): n for piece, n in counts.items()})


def merge_pair(ids: list[int], left: int, right: int, new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``(left, right)`` in ``ids``, scanning left to right."""
    merged: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == left and ids[i + 1] == right:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def train_merges(
    word_counts: Counter[bytes] | dict[bytes, int],
    num_tokens: int,
    *,
    progress: bool = False,
) -> tuple[list[Merge], list[bytes]]:
    """Learn merges until the vocabulary holds ``num_tokens`` distinct byte strings (256 bytes included).

    word_counts: pre-token bytes -> frequency (``count_pretokens``). Returns ``(merges, vocab)``: merges in
    rank order, and ``vocab[i]`` = the bytes of token ``i``. Stops early when no pair is left to merge
    (a tiny text cannot fill a large vocabulary).
    """
    if num_tokens < 256:
        raise ValueError(f"num_tokens={num_tokens} is below the 256 byte tokens; ask for at least 256")
    words: list[list[int]] = [list(word) for word in word_counts]  # word index -> token ids
    freqs: list[int] = [int(n) for n in word_counts.values()]
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    pair_words: dict[tuple[int, int], set[int]] = defaultdict(set)
    for index, ids in enumerate(words):
        for pair in itertools.pairwise(ids):
            pair_counts[pair] += freqs[index]
            pair_words[pair].add(index)
    # heap entries (-count, left, right): the smallest tuple is the highest count, then the smallest pair
    heap = [(-count, a, b) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)

    vocab = [bytes([b]) for b in range(256)]
    id_of = {token: i for i, token in enumerate(vocab)}
    merges: list[Merge] = []
    bar = tqdm(total=num_tokens - 256, desc="BPE merges", disable=not progress)
    while len(vocab) < num_tokens and heap:
        neg_count, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -neg_count:
            continue  # stale entry: the pair's count changed after this entry was pushed
        new_bytes = vocab[a] + vocab[b]
        new_id = id_of.get(new_bytes)
        if new_id is None:
            new_id = id_of[new_bytes] = len(vocab)
            vocab.append(new_bytes)
            bar.update(1)
        merges.append((a, b, new_id))
        _apply_merge(words, freqs, pair_counts, pair_words, heap, (a, b), new_id)
    bar.close()
    return merges, vocab


def _apply_merge(
    words: list[list[int]],
    freqs: list[int],
    pair_counts: dict[tuple[int, int], int],
    pair_words: dict[tuple[int, int], set[int]],
    heap: list[tuple[int, int, int]],
    pair: tuple[int, int],
    new_id: int,
) -> None:
    """Merge ``pair`` in every word that holds it; update counts, word sets and heap for those words only."""
    a, b = pair
    changed: set[tuple[int, int]] = set()
    for index in pair_words.pop(pair, ()):
        old = words[index]
        new = merge_pair(old, a, b, new_id)
        if len(new) == len(old):
            continue  # the set is a superset: this word lost the pair in an earlier merge
        freq = freqs[index]
        # net change of each pair's occurrences in this word: pairs away from the merge sites cancel out, so
        # they are neither recounted nor pushed again (their heap entries stay valid)
        delta: dict[tuple[int, int], int] = {}
        for p in itertools.pairwise(old):
            delta[p] = delta.get(p, 0) - 1
        for p in itertools.pairwise(new):
            delta[p] = delta.get(p, 0) + 1
        for p, n in delta.items():
            if n:
                pair_counts[p] += n * freq
                changed.add(p)
                if n > 0:  # a pair the word did not have before (it holds new_id): register the word
                    pair_words[p].add(index)
        words[index] = new
    for p in changed:
        count = pair_counts[p]
        if count > 0:
            heapq.heappush(heap, (-count, p[0], p[1]))
        else:
            del pair_counts[p]
            pair_words.pop(p, None)


def tokens_from_merges(merges: Iterable[Merge]) -> list[bytes]:
    """Rebuild the vocabulary (``vocab[i]`` = bytes of token ``i``) from the merges alone, checking that each
    merge either adds the next id or reuses the id that already spells the same bytes."""
    vocab = [bytes([b]) for b in range(256)]
    for rank, (a, b, new_id) in enumerate(merges):
        if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
            raise ValueError(f"merge {rank} uses token {max(a, b)} before it exists (vocabulary has {len(vocab)})")
        new_bytes = vocab[a] + vocab[b]
        if new_id == len(vocab):
            vocab.append(new_bytes)
        elif not (new_id < len(vocab) and vocab[new_id] == new_bytes):
            raise ValueError(f"merge {rank} ({a}, {b}) -> {new_id} does not match the vocabulary built so far")
    return vocab
