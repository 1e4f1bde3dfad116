"""Batching: packed windows for pretraining, padded batches for fine-tuning, and the vocab-size check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mlcourse.training.batching import (
    IGNORE_INDEX,
    check_ids,
    iter_padded_batches,
    pack_documents,
    pad_batch,
    random_windows,
    sequential_windows,
    stream_packed_batches,
)

EOS, BOS, PAD = 9, 8, 0


def test_packing_puts_eos_after_and_optional_bos_before_each_document():
    assert pack_documents([[1, 2], [3]], eos_id=EOS).tolist() == [1, 2, EOS, 3, EOS]
    assert pack_documents([[1, 2], [3]], eos_id=EOS, bos_id=BOS).tolist() == [BOS, 1, 2, EOS, BOS, 3, EOS]


def test_random_windows_have_shape_b_t_and_labels_shifted_by_one():
    stream = torch.arange(100)
    x, y = random_windows(stream, batch_size=4, seq_len=16, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(y, x + 1)  # in an arange stream the next token is the value plus one
    assert int(y.max()) <= 99


def test_random_windows_are_reproducible_with_a_seeded_generator():
    stream = torch.arange(1000)
    first = random_windows(stream, 3, 8, generator=torch.Generator().manual_seed(1))
    second = random_windows(stream, 3, 8, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_sequential_windows_cover_the_stream_once_without_overlap():
    stream = torch.arange(50)
    batches = list(sequential_windows(stream, batch_size=2, seq_len=8))
    xs = torch.cat([x for x, _ in batches])
    assert [tuple(x.shape) for x, _ in batches] == [(2, 8), (2, 8), (2, 8)]
    assert xs.flatten().tolist() == list(range(48))
    assert all(torch.equal(y, x + 1) for x, y in batches)
    assert len(list(sequential_windows(torch.arange(41), batch_size=3, seq_len=8, drop_last=True))) == 1


def test_streaming_packer_continues_the_stream_across_batches():
    documents = ([i] * 5 for i in range(1, 8))  # a generator: read lazily
    batches = list(stream_packed_batches(documents, batch_size=2, seq_len=4, eos_id=EOS))
    stream = pack_documents([[i] * 5 for i in range(1, 8)], eos_id=EOS)
    assert len(batches) == (len(stream) - 1) // 8
    for n, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (2, 4)
        assert torch.equal(x.flatten(), stream[8 * n : 8 * n + 8]) and torch.equal(y.flatten(), stream[8 * n + 1 : 8 * n + 9])


def test_padding_gives_mask_shifted_labels_and_ignores_padding():
    batch = pad_batch([[5, 6, 7], [5]], pad_id=PAD)
    assert batch.input_ids.tolist() == [[5, 6, 7], [5, PAD, PAD]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.labels.tolist() == [[6, 7, IGNORE_INDEX], [IGNORE_INDEX] * 3]


def test_bos_eos_and_fixed_length_padding():
    batch = pad_batch([[5, 6]], pad_id=PAD, bos_id=BOS, eos_id=EOS, pad_to=6)
    assert batch.input_ids.tolist() == [[BOS, 5, 6, EOS, PAD, PAD]]
    assert batch.labels.tolist() == [[5, 6, EOS, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]]
    with pytest.raises(ValueError, match="pad_to=3"):
        pad_batch([[1, 2, 3, 4]], pad_id=PAD, pad_to=3)


def test_prompt_masking_trains_only_on_the_answer():
    # prompt [1, 2, 3], answer [4, 5]: targets 2 and 3 are prompt -> ignored; 4 (first answer token) is kept
    batch = pad_batch([[1, 2, 3, 4, 5], [1, 2]], pad_id=PAD, prompt_lengths=[3, 1])
    assert batch.labels.tolist() == [[-100, -100, 4, 5, -100], [2, -100, -100, -100, -100]]
    with pytest.raises(ValueError, match=r"prompt_lengths\[0\]=9"):
        pad_batch([[1, 2]], pad_id=PAD, prompt_lengths=[9])


def test_padding_does_not_change_the_loss():
    torch.manual_seed(0)
    vocab, seq = 11, [3, 4, 5, 6]
    table = torch.randn(vocab, vocab)  # a bigram "model": logits of the next token depend on the current one
    alone = pad_batch([seq], pad_id=PAD)
    padded = pad_batch([seq], pad_id=PAD, pad_to=10)
    loss = [F.cross_entropy(table[b.input_ids].flatten(0, 1), b.labels.flatten()) for b in (alone, padded)]
    assert torch.allclose(loss[0], loss[1])
    counted = F.cross_entropy(table[padded.input_ids].flatten(0, 1), padded.input_ids.roll(-1, 1).flatten())
    assert not torch.allclose(counted, loss[0])  # the pitfall: pads counted as targets change the loss


def test_iter_padded_batches_groups_lazily():
    batches = list(iter_padded_batches(iter([[1], [1, 2], [1, 2, 3]]), batch_size=2, pad_id=PAD, eos_id=EOS))
    assert [tuple(b.input_ids.shape) for b in batches] == [(2, 3), (1, 4)]
    assert batches[0].to("cpu").input_ids.tolist() == [[1, EOS, PAD], [1, 2, EOS]]


def test_ids_beyond_the_embedding_raise_a_clear_error_naming_both_sizes():
    with pytest.raises(ValueError, match=r"id 4100.*vocab_size=4096.*vocab_size=tokenizer.vocab_size"):
        pack_documents([[1, 4099]], eos_id=4100, vocab_size=4096)
    with pytest.raises(ValueError, match="vocab_size=10"):
        pad_batch([[1, 2]], pad_id=10, vocab_size=10, pad_to=3)  # the pad id itself must fit
    with pytest.raises(ValueError, match="vocab_size=5"):
        next(stream_packed_batches([[7]], 1, 1, eos_id=1, vocab_size=5))
    with pytest.raises(ValueError, match="negative id -3"):
        check_ids([1, -3], vocab_size=5)


def test_bad_shapes_and_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="seq_len \\+ 1 = 11"):
        random_windows(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="must be 1-D"):
        next(sequential_windows(torch.zeros(2, 50, dtype=torch.long), 1, 4))
    with pytest.raises(ValueError, match="at least one sequence"):
        pad_batch([], pad_id=PAD)
    with pytest.raises(ValueError, match="2 prompt_lengths for 1"):
        pad_batch([[1]], pad_id=PAD, prompt_lengths=[1, 1])
