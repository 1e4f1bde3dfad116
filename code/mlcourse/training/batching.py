"""From token ids to training batches: packing for pretraining, padding + masks for fine-tuning.

Two ways to feed variable-length documents to a causal language model:

- **Packing** (pretraining): concatenate the documents into one stream of ids, each followed by ``<eos>``
  (and optionally preceded by ``<bos>``), then cut (B, T) windows anywhere in it (:func:`random_windows`, the
  course's one window sampler; T is called ``seq_len`` everywhere, and a model's ``max_seq_len`` is the longest
  window it accepts). No padding is wasted; the model learns from ``<eos>`` where one document ends and the
  next begins. ``x = stream[i : i + T]`` and ``y = stream[i + 1 : i + T + 1]``: the label of position t is the
  token at t + 1.
- **Padding** (fine-tuning): keep each example whole, pad it to the batch's longest (or a fixed length),
  return ``attention_mask`` (1 real, 0 pad) and ``labels`` already shifted by one, with ``IGNORE_INDEX``
  (-100) wherever there is nothing to learn: padding, the last real token (nothing follows it) and,
  optionally, the prompt. ``F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)``
  then averages over answer tokens only.

Labels here are shifted already: ``labels[b, t]`` is the target for ``logits[b, t]``. (A ``transformers``
model's ``labels=`` argument shifts internally; give it ``input_ids`` with padding set to -100 instead.)

Every function takes an optional ``vocab_size`` (the model's embedding rows) and fails with a clear message
when an id does not fit: the tokenizer/embedding size mismatch, otherwise an obscure index error on CPU or a
device-side assert on a GPU.

Streaming: :func:`stream_text_batches` reads files in chunks, encodes them with the tokenizer's lazy
``encode_iterable`` and packs the ids with :func:`stream_packed_batches`, so memory stays flat whatever the size
of the corpus. :func:`padding_cost` measures what padding wastes: positions computed per real token.

What it does not do: tokenise (``mlcourse.tokenizers``), shuffle documents, shard, or left-pad for generation.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index


def check_ids(ids: Sequence[int] | torch.Tensor, vocab_size: int | None, where: str = "token ids") -> None:
    """Raise a clear error if an id is negative or >= ``vocab_size`` (None: no check)."""
    if vocab_size is None:
        return
    values = torch.as_tensor(ids, dtype=torch.long)
    if values.numel() == 0:
        return
    top, bottom = int(values.max()), int(values.min())
    if top >= vocab_size:
        raise ValueError(f"{where} contain id {top}, but the model's embedding has vocab_size={vocab_size} rows "
                         f"(ids 0..{vocab_size - 1}). The tokenizer has at least {top + 1} tokens: build the model "
                         "with vocab_size=tokenizer.vocab_size (special tokens included).")
    if bottom < 0:
        raise ValueError(f"{where} contain the negative id {bottom}; ids must be in 0..{vocab_size - 1}")


def pack_documents(documents: Iterable[Sequence[int]], eos_id: int, bos_id: int | None = None,
                   vocab_size: int | None = None) -> torch.Tensor:  # fmt: skip
    """One stream of ids, shape (N,): ``[bos] doc_1 eos [bos] doc_2 eos ...`` (``bos`` only if given)."""
    stream: list[int] = []
    for doc in documents:
        if bos_id is not None:
            stream.append(bos_id)
        stream.extend(int(i) for i in doc)
        stream.append(eos_id)
    packed = torch.tensor(stream, dtype=torch.long)
    check_ids(packed, vocab_size, "packed documents")
    return packed


def _check_window(stream: torch.Tensor, seq_len: int) -> None:
    if stream.ndim != 1:
        raise ValueError(f"stream must be 1-D (N,), got shape {tuple(stream.shape)}; flatten it or pack documents")
    if seq_len < 1 or stream.numel() < seq_len + 1:
        raise ValueError(f"a window needs seq_len + 1 = {seq_len + 1} ids (inputs and their next token); "
                         f"the stream has {stream.numel()}: use a smaller seq_len or more text")


def random_windows(stream: torch.Tensor, batch_size: int, seq_len: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``batch_size`` windows of ``seq_len`` tokens at random offsets: ``x``, ``y`` both (B, T) with
    ``y[:, t] = x[:, t + 1]`` inside the stream (``y`` runs one token past ``x``). Every start in
    0 .. N - T - 1 is equally likely, drawn with one ``torch.randint`` from ``generator``."""
    _check_window(stream, seq_len)
    starts = torch.randint(0, stream.numel() - seq_len, (batch_size,), generator=generator)  # (B,)
    offsets = starts[:, None] + torch.arange(seq_len)  # (B, T)
    return stream[offsets], stream[offsets + 1]


def sequential_windows(stream: torch.Tensor, batch_size: int, seq_len: int, drop_last: bool = False
                       ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Non-overlapping windows in order (an evaluation pass over the stream sees every token once):
    yields ``(x, y)`` of shape (b, T) with b = ``batch_size`` (the last batch smaller unless ``drop_last``)."""
    _check_window(stream, seq_len)
    num_windows = (stream.numel() - 1) // seq_len
    x_all = stream[: num_windows * seq_len].view(num_windows, seq_len)  # (W, T)
    y_all = stream[1 : num_windows * seq_len + 1].view(num_windows, seq_len)  # (W, T)
    for start in range(0, num_windows, batch_size):
        if drop_last and start + batch_size > num_windows:
            break
        yield x_all[start : start + batch_size], y_all[start : start + batch_size]


def stream_packed_batches(documents: Iterable[Iterable[int]], batch_size: int, seq_len: int, eos_id: int,
                          bos_id: int | None = None, vocab_size: int | None = None
                          ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Packing without holding the corpus in memory: read documents lazily (each one a list or any iterable of
    ids, e.g. ``tokenizer.encode_iterable(lines)``), keep a buffer of at most 2 B T + 1 ids, and yield ``(x, y)``
    of shape (B, T) as soon as B * T + 1 ids are buffered. Consecutive batches continue the stream (the last
    target of one batch is the first input of the next); the incomplete tail is dropped. The batches equal
    ``pack_documents`` cut into consecutive (B, T) blocks."""
    need = batch_size * seq_len
    buffer: list[int] = []
    for doc in documents:
        ids = itertools.chain([bos_id] if bos_id is not None else [], doc, [eos_id])
        while block := list(itertools.islice(ids, need)):  # a document is read B * T ids at a time
            buffer.extend(int(i) for i in block)
            while len(buffer) >= need + 1:
                chunk = torch.tensor(buffer[: need + 1], dtype=torch.long)  # (B*T + 1,)
                check_ids(chunk, vocab_size, "document ids")
                yield chunk[:-1].view(batch_size, seq_len), chunk[1:].view(batch_size, seq_len)
                del buffer[:need]  # keep the last id: it is the first input of the next batch


def read_text_chunks(path: str | Path, chunk_chars: int = 1 << 16) -> Iterator[str]:
    """The text of the UTF-8 file ``path``, ``chunk_chars`` characters at a time (the last chunk shorter)."""
    with open(path, encoding="utf-8") as handle:
        while chunk := handle.read(chunk_chars):
            yield chunk


def stream_text_batches(paths: Iterable[str | Path], tokenizer: Any, batch_size: int, seq_len: int, *,
                        use_bos: bool = True, chunk_chars: int = 1 << 16
                        ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Files -> ids -> packed (B, T) batches, streamed end to end: each file is one document
    (``<bos> text <eos>``), read ``chunk_chars`` at a time and encoded with ``tokenizer.encode_iterable``.
    Peak memory is one chunk, one batch and the tokenizer's bounded cache, whatever the number of files."""
    documents = (tokenizer.encode_iterable(read_text_chunks(path, chunk_chars)) for path in paths)
    yield from stream_packed_batches(documents, batch_size, seq_len, tokenizer.eos_id,
                                     tokenizer.bos_id if use_bos else None, tokenizer.vocab_size)


def padding_cost(lengths: Sequence[int], batch_size: int, *, pad_to: int | None = None,
                 sort_by_length: bool = False) -> dict[str, float]:
    """What padding costs: examples of ``lengths`` tokens grouped in order into batches of ``batch_size``, each
    padded to its longest (or to ``pad_to``); ``sort_by_length`` groups examples of similar length (bucketing).

    Returns ``real_tokens``, ``positions`` (B * T summed over batches: what the model computes),
    ``compute_per_real_token`` (positions / real tokens; packing gives 1.0) and ``padding_share``
    (the fraction of positions that are padding)."""
    if not lengths or min(lengths) < 1:
        raise ValueError("padding_cost needs at least one example, every one at least 1 token long")
    order = sorted(lengths) if sort_by_length else list(lengths)
    positions = 0
    for start in range(0, len(order), batch_size):
        group = order[start : start + batch_size]
        width = max(group) if pad_to is None else pad_to
        if max(group) > width:
            raise ValueError(f"an example has {max(group)} tokens but pad_to={pad_to}; raise pad_to or truncate")
        positions += len(group) * width
    real = sum(order)
    return {"real_tokens": real, "positions": positions, "compute_per_real_token": positions / real,
            "padding_share": 1 - real / positions}


@dataclass
class PaddedBatch:
    """``input_ids``, ``attention_mask``, ``labels``: all (B, T). ``labels`` shifted by one, -100 = ignored."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> PaddedBatch:
        return PaddedBatch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, *, prompt_lengths: Sequence[int] | None = None,
              pad_to: int | None = None, bos_id: int | None = None, eos_id: int | None = None,
              vocab_size: int | None = None) -> PaddedBatch:  # fmt: skip
    """Right-pad ``sequences`` into a ``PaddedBatch``.

    ``bos_id``/``eos_id``: prepended/appended to every sequence when given (``eos`` teaches the model to stop).
    ``prompt_lengths[b]``: how many leading ids of sequence b (after the ``bos`` is added) are the prompt;
    the model is not trained to predict them (their labels are -100); the first answer token is kept.
    ``pad_to``: a fixed length T (error if a sequence is longer); default: the longest sequence.
    """
    if not sequences:
        raise ValueError("pad_batch needs at least one sequence")
    if prompt_lengths is not None and len(prompt_lengths) != len(sequences):
        raise ValueError(f"got {len(prompt_lengths)} prompt_lengths for {len(sequences)} sequences")
    full = [([bos_id] if bos_id is not None else []) + [int(i) for i in s] + ([eos_id] if eos_id is not None else [])
            for s in sequences]  # fmt: skip
    longest = max(len(s) for s in full)
    length = longest if pad_to is None else pad_to
    if longest > length:
        raise ValueError(f"a sequence has {longest} ids but pad_to={pad_to}; raise pad_to or truncate the data")
    if longest == 0:
        raise ValueError("every sequence is empty: nothing to pad or learn from")
    batch = len(full)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros(batch, length, dtype=torch.long)  # (B, T)
    labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for b, ids in enumerate(full):
        n = len(ids)
        input_ids[b, :n] = torch.tensor(ids, dtype=torch.long)
        attention_mask[b, :n] = 1
        labels[b, : n - 1] = input_ids[b, 1:n]  # the target of position t is the token at t + 1
        if prompt_lengths is not None:
            prompt = int(prompt_lengths[b])
            if not 0 <= prompt <= n:
                raise ValueError(f"prompt_lengths[{b}]={prompt} is outside 0..{n} (the sequence's length)")
            labels[b, : max(prompt - 1, 0)] = IGNORE_INDEX  # targets that are still prompt tokens
    check_ids(input_ids, vocab_size, "padded batch ids (padding included)")
    return PaddedBatch(input_ids, attention_mask, labels)


def iter_padded_batches(examples: Iterable[Sequence[int]], batch_size: int, pad_id: int,
                        **pad_options: object) -> Iterator[PaddedBatch]:  # fmt: skip
    """Group ``examples`` lazily into batches of ``batch_size`` and pad each (``pad_batch`` options apply;
    prompt lengths are not supported here: call ``pad_batch`` directly for prompt masking)."""
    group: list[Sequence[int]] = []
    for example in examples:
        group.append(example)
        if len(group) == batch_size:
            yield pad_batch(group, pad_id, **pad_options)  # type: ignore[arg-type]
            group = []
    if group:
        yield pad_batch(group, pad_id, **pad_options)  # type: ignore[arg-type]
