"""Byte-level BPE from scratch: pre-tokenise with GPT-2's regex, train merges, encode, decode, save, load.

Text becomes UTF-8 bytes, and every byte is a token (ids 0..255) before any merge. So *every* string, in any
script, with any emoji, is encodable: the worst case is one token per byte. That is why a byte-level
tokenizer needs no ``<unk>`` token: there is no out-of-vocabulary input, unlike the word-level tokenizer of
``simple.py``. Merges (learned by ``bpe_train.py``) then glue frequent byte pairs into longer tokens.

Vocabulary layout: ids ``0..255`` are the bytes; then one id per learned token; then the special tokens
(``<bos>``, ``<eos>``, ``<pad>`` by default), added after the merges. ``vocab_size`` counts all three, so
``BPETokenizer.train(text, vocab_size=4096)`` learns 4096 - 256 - 3 = 3837 tokens.

Special tokens in text: ``encode(text)`` treats the string ``"<eos>"`` in user text as ordinary characters
(bytes), so text cannot inject control tokens. ``encode(text, allowed_special="all")`` (or a set of names)
recognises those names and maps each one to its single id: never split into bytes.

Streaming: ``encode_iterable(chunks)`` encodes text that arrives in pieces (the lines of a file, blocks of a
stream) lazily, with ids equal to those of the whole text: a pre-token cut by a chunk boundary is held back
until the next chunk completes it. ``training.batching.stream_packed_batches`` turns those ids into batches,
so text -> ids -> batches never holds the corpus in memory.

What it does not do: normalise text (no lower-casing, no Unicode normalisation), bound sequence length, or
recognise special-token names while streaming (``encode_iterable`` treats them as text, as ``encode`` does).

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Literal

import regex

from mlcourse.tokenizers.bpe_train import Merge, count_pretokens, merge_pair, tokens_from_merges, train_merges

# GPT-2's pre-tokeniser: contractions, letters with an optional leading space, numbers, punctuation runs,
# whitespace (a run of spaces keeps its last space for the following word: "\s+(?!\S)").
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
DEFAULT_SPECIALS = ("<bos>", "<eos>", "<pad>")
FORMAT_NAME = "mlcourse-byte-bpe"
FORMAT_VERSION = 1
_CACHE_LIMIT = 200_000  # distinct pre-tokens kept in the encode cache
_NEVER = 1 << 62  # the rank of a pair that was never merged
_HOLD_BACK = 8  # characters at the end of a streamed buffer whose pre-tokens are not final yet (>= 3 + 1)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map byte -> one printable character (printable Latin-1 bytes map to themselves, the others to
    chr(256 + n)). It makes byte strings readable in JSON (space is ``Ġ``, newline ``Ċ``) and is exactly the
    alphabet of Hugging Face's ``ByteLevel`` pre-tokeniser."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def render(token: bytes) -> str:
    """The printable spelling of a token's bytes (``b" the"`` -> ``"Ġthe"``); ``unrender`` inverts it."""
    return "".join(BYTE_TO_CHAR[b] for b in token)


def unrender(spelling: str) -> bytes:
    return bytes(CHAR_TO_BYTE[c] for c in spelling)


class BPETokenizer:
    """A trained byte-level BPE. ``merges``: list of (left_id, right_id, new_id) in rank order;
    ``vocab[i]``: the bytes of token i; ``special_tokens``: name -> id (after all learned tokens)."""

    def __init__(self, merges: list[Merge], special_tokens: Collection[str] = DEFAULT_SPECIALS,
                 pattern: str = GPT2_PATTERN) -> None:  # fmt: skip
        self.merges = [tuple(m) for m in merges]
        self.vocab: list[bytes] = tokens_from_merges(self.merges)
        self.pattern = pattern
        self._compiled = regex.compile(pattern)
        # (left, right) -> rank and -> new id; the first merge of a pair wins (later duplicates never fire)
        self._ranks: dict[tuple[int, int], int] = {}
        self._merged_id: dict[tuple[int, int], int] = {}
        for rank, (a, b, new_id) in enumerate(self.merges):
            if (a, b) not in self._ranks:
                self._ranks[(a, b)], self._merged_id[(a, b)] = rank, new_id
        if len(set(special_tokens)) != len(special_tokens) or any(not s for s in special_tokens):
            raise ValueError(f"special tokens must be distinct non-empty strings, got {list(special_tokens)}")
        self.special_tokens = {name: len(self.vocab) + i for i, name in enumerate(special_tokens)}
        self._special_names = {i: name for name, i in self.special_tokens.items()}
        self._cache: dict[str, list[int]] = {}
        self.cache_limit = _CACHE_LIMIT  # pre-tokens kept; the cache is emptied when full, so memory is bounded

    # ----------------------------------------------------------------- training
    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens: Collection[str] = DEFAULT_SPECIALS,
              pattern: str = GPT2_PATTERN, progress: bool = False) -> BPETokenizer:  # fmt: skip
        """Learn ``vocab_size - 256 - len(special_tokens)`` tokens from ``text`` (fewer if the text runs out
        of pairs). Counting pre-tokens takes ~1 s and 3,837 merges ~3 s on the 4.8 MB corpus (2 CPU cores)."""
        num_tokens = vocab_size - len(special_tokens)
        if num_tokens < 256:
            raise ValueError(f"vocab_size={vocab_size} leaves no room for the 256 bytes and "
                             f"{len(special_tokens)} special tokens; use vocab_size >= {256 + len(special_tokens)}")
        merges, _ = train_merges(count_pretokens(text, pattern), num_tokens, progress=progress)
        return cls(merges, special_tokens, pattern)

    # ----------------------------------------------------------------- sizes and special tokens
    @property
    def vocab_size(self) -> int:
        """Rows the embedding table needs: bytes + learned tokens + special tokens."""
        return len(self.vocab) + len(self.special_tokens)

    def token_id(self, name: str) -> int:
        """Id of the special token ``name`` (e.g. ``"<eos>"``); a clear error for an unknown name."""
        if name not in self.special_tokens:
            raise KeyError(f"unknown special token {name!r}; this tokenizer has {sorted(self.special_tokens)} "
                           "(pass special_tokens=... when training to add others)")
        return self.special_tokens[name]

    @property
    def bos_id(self) -> int:
        return self.token_id("<bos>")

    @property
    def eos_id(self) -> int:
        return self.token_id("<eos>")

    @property
    def pad_id(self) -> int:
        return self.token_id("<pad>")

    # ----------------------------------------------------------------- encoding
    def _bpe(self, piece: bytes) -> list[int]:
        """Ids of one pre-token: start from its bytes, repeatedly merge the adjacent pair of lowest rank."""
        ids = list(piece)
        rank_of = self._ranks.get
        while len(ids) >= 2:
            best = min(itertools.pairwise(ids), key=lambda pair: rank_of(pair, _NEVER))
            if best not in self._ranks:
                break  # no adjacent pair was ever merged: done
            ids = merge_pair(ids, best[0], best[1], self._merged_id[best])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of ``text`` with every character treated as text (special-token names are just bytes)."""
        ids: list[int] = []
        for piece in self._compiled.findall(text):
            ids.extend(self._encode_piece(piece))
        return ids

    def encode_iterable(self, chunks: Iterable[str]) -> Iterator[int]:
        """Ids of the concatenation of ``chunks`` (lines of an open file, blocks of any size), lazily: equal to
        ``encode_ordinary("".join(chunks))`` while holding only the current chunk and one pending pre-token.

        A chunk may end in the middle of a pre-token (``" Rom"`` | ``"eo"``), where encoding each chunk alone
        would split the word differently. Worse, the end of the buffer can change an *earlier* piece: after
        ``" we'l"`` the pieces are ``" we"``, ``"'"``, ``"l"``, but ``"'ll"`` is one piece once the next ``"l"``
        arrives. So the last pre-token, and every pre-token that starts within ``_HOLD_BACK`` characters of
        the end of the buffer, are held back until more text shows where they end; the pieces before them are
        final (their match is decided by text inside the buffer: a run ends at a character that is read, a
        contraction needs at most 3 characters, the look-ahead 1). Memory is the largest chunk plus the encode
        cache (at most ``cache_limit`` pre-tokens), never the whole text."""
        pending = ""
        for chunk in chunks:
            pending += chunk
            limit = len(pending) - _HOLD_BACK  # pieces that start after this are held back
            previous = None
            for match in self._compiled.finditer(pending):  # one match at a time: no list of the chunk's pieces
                if previous is not None:
                    if previous.start() > limit:
                        break  # this piece and every later one start near the end: hold them back
                    yield from self._encode_piece(previous.group())
                previous = match
            if previous is not None:  # the last piece, or the first one near the end, and all after it wait
                pending = pending[previous.start():]
        if pending:
            yield from self.encode_ordinary(pending)

    def _encode_piece(self, piece: str) -> list[int]:
        """Ids of one pre-token, through the cache."""
        piece_ids = self._cache.get(piece)
        if piece_ids is None:
            piece_ids = self._bpe(piece.encode("utf-8"))
            if len(self._cache) >= self.cache_limit:
                self._cache.clear()
            self._cache[piece] = piece_ids
        return piece_ids

    def encode(self, text: str, allowed_special: Literal["all", "none"] | Collection[str] = "none") -> list[int]:
        """Ids of ``text``. ``allowed_special``: ``"none"`` (default: special names are ordinary text),
        ``"all"``, or a collection of special-token names to recognise as single ids."""
        if allowed_special == "none":
            return self.encode_ordinary(text)
        names = list(self.special_tokens) if allowed_special == "all" else list(allowed_special)
        for name in names:
            self.token_id(name)  # raises a clear error for an unknown name
        if not names:
            return self.encode_ordinary(text)
        # longest names first so that "<eos>" never wins over a longer name that starts with it
        splitter = "(" + "|".join(regex.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"
        ids: list[int] = []
        for i, chunk in enumerate(regex.split(splitter, text)):
            if i % 2:  # odd chunks are the captured special tokens
                ids.append(self.special_tokens[chunk])
            elif chunk:
                ids.extend(self.encode_ordinary(chunk))
        return ids

    # ----------------------------------------------------------------- decoding
    def decode_bytes(self, ids: list[int]) -> bytes:
        """The bytes of ``ids``; special tokens decode to their names."""
        parts = []
        n = len(self.vocab)
        for i in ids:
            if 0 <= i < n:
                parts.append(self.vocab[i])
            elif i in self._special_names:
                parts.append(self._special_names[i].encode("utf-8"))
            else:
                raise ValueError(f"token id {i} is not in this tokenizer (valid ids: 0..{self.vocab_size - 1}); "
                                 "was it produced by a different tokenizer or a model with a larger vocab_size?")
        return b"".join(parts)

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``. A slice that cuts a multi-byte character shows U+FFFD (replacement character)."""
        return self.decode_bytes([int(i) for i in ids]).decode("utf-8", errors="replace")

    # ----------------------------------------------------------------- save / load
    def save(self, path: str | Path) -> Path:
        """Write a readable JSON file: vocabulary spellings, merges by rank, special tokens, the pattern."""
        path = Path(path)
        payload = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "pattern": self.pattern,
            "byte_alphabet": "gpt2 bytes_to_unicode (space = 'Ġ', newline = 'Ċ')",
            "special_tokens": self.special_tokens,
            "vocab": [render(token) for token in self.vocab],
            "merges": [list(m) for m in self.merges],
        }
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a file written by ``save``; a clear error (naming the file) if it is not one or is corrupt."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a tokenizer file written by BPETokenizer.save (not JSON: {err})") from err
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a {FORMAT_NAME} file (no 'format': '{FORMAT_NAME}' field); "
                             "a Hugging Face tokenizer loads with transformers.AutoTokenizer instead")
        if payload.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} has format version {payload.get('version')!r}; this code reads {FORMAT_VERSION}")
        try:
            specials = payload["special_tokens"]
            tokenizer = cls([tuple(m) for m in payload["merges"]], list(specials), payload["pattern"])
            stored_vocab = [unrender(s) for s in payload["vocab"]]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is corrupt: {err!r}; re-save it from the trained tokenizer") from err
        if stored_vocab != tokenizer.vocab or specials != tokenizer.special_tokens:
            raise ValueError(f"{path} is corrupt: its vocab/special_tokens disagree with its merges; "
                             "re-save it from the trained tokenizer")
        return tokenizer
