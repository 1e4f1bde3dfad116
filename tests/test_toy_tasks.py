"""Tests of mlcourse.labs.toy_tasks: generators correct by construction and deterministic, the model, the loop,
and the leaking-mask signature the chapter relies on (loss below the ln(V) floor)."""

from __future__ import annotations

import math

import pytest
import torch
from mlcourse.model.attention import causal_mask
from mlcourse.labs.toy_tasks import (
    IGNORE_INDEX,
    TinyAttentionModel,
    copy_batch,
    copy_ideal_keys,
    copy_predictable,
    copy_task_report,
    future_leak,
    loss_by_position,
    mean_attention,
    pattern_match,
    prev_first_batch,
    reverse_batch,
    reverse_ideal_keys,
    train_model,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "make",
    [lambda g: reverse_batch(4, 6, 5, g), lambda g: copy_batch(4, 3, 5, g), lambda g: prev_first_batch(4, 6, 5, g)],
)
def test_generators_are_deterministic_given_a_seed(make):
    x1, y1 = make(gen(7))
    x2, y2 = make(gen(7))
    x3, _ = make(gen(8))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)


def test_reverse_target_is_the_flipped_input():
    x, y = reverse_batch(8, 7, 10, gen(0))
    assert x.shape == y.shape == (8, 7)
    assert torch.equal(y, x.flip(-1))
    assert x.min() >= 0 and x.max() < 10
    ideal = reverse_ideal_keys(7)
    assert torch.equal(y, x[:, ideal])  # reading key T-1-i gives exactly the target


def test_copy_sequences_repeat_their_first_half_after_a_separator():
    n, V = 4, 6
    x, y = copy_batch(5, n, V, gen(0))
    assert x.shape == y.shape == (5, 2 * n)
    assert torch.all(x[:, n] == V)  # the separator is token V
    assert torch.equal(x[:, 1:], y[:, :-1])  # next-token prediction: y is x shifted by one
    assert torch.equal(y[:, n:], x[:, :n])  # the second half repeats the first
    assert torch.all(y[:, n - 1] == V)


def test_copy_ideal_keys_hold_the_target_and_match_the_predictable_positions():
    n = 5
    x, y = copy_batch(6, n, 7, gen(1))
    keys = copy_ideal_keys(n)
    queries = keys >= 0
    assert torch.equal(x[:, keys[queries]], y[:, queries])  # key i - n holds the token query i must predict
    assert copy_predictable(n).tolist() == [False] * (n - 1) + [True] * (n + 1)


def test_prev_first_target_encodes_previous_and_first_token():
    V = 6
    x, y = prev_first_batch(3, 5, V, gen(2))
    assert torch.all(y[:, 0] == IGNORE_INDEX)
    assert torch.equal(y[:, 1:] // V, x[:, :-1])
    assert torch.equal(y[:, 1:] % V, x[:, :1].expand(-1, 4))


def test_generators_reject_bad_sizes():
    with pytest.raises(ValueError, match="vocab_size >= 2"):
        reverse_batch(2, 4, 1, gen(0))


def test_model_shapes_and_causal_independence_from_the_future():
    torch.manual_seed(0)
    model = TinyAttentionModel(vocab_size=7, num_classes=7, seq_len=6, d_model=16, num_heads=2, causal=True)
    x = torch.randint(0, 7, (3, 6), generator=gen(0))
    logits, weights = model(x)
    assert logits.shape == (3, 6, 7)
    assert weights.shape == (3, 2, 6, 6)
    x_changed = x.clone()
    x_changed[:, 4:] = (x[:, 4:] + 1) % 7
    logits_changed, _ = model(x_changed)
    assert torch.allclose(logits[:, :4], logits_changed[:, :4], atol=1e-6)
    with pytest.raises(ValueError, match="exceeds the model's seq_len=6"):
        model(torch.zeros(1, 7, dtype=torch.long))


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = TinyAttentionModel(8, 8, 6, d_model=16)
    losses = train_model(model, lambda g: reverse_batch(32, 6, 8, g), steps=60, progress=False)
    assert len(losses) == 60
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_training_is_reproducible_with_a_seed():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = TinyAttentionModel(8, 8, 6, d_model=16)
        runs.append(train_model(model, lambda g: reverse_batch(16, 6, 8, g), steps=5, seed=3, progress=False))
    assert runs[0] == runs[1]


def _train_copy(mask_kind: str, n: int = 4, V: int = 8, steps: int = 200) -> dict[str, float]:
    torch.manual_seed(0)
    T = 2 * n
    model = TinyAttentionModel(V + 1, V + 1, T, d_model=16, causal=mask_kind != "none")
    mask = torch.ones(T, T, dtype=torch.bool).tril(1) if mask_kind == "off_by_one" else None
    train_model(model, lambda g: copy_batch(64, n, V, g), steps, lr=1e-2, mask=mask, progress=False)
    return copy_task_report(model, n, V, mask=mask)


def test_correct_causal_mask_cannot_beat_the_ln_v_floor_but_learns_the_copy():
    report = _train_copy("causal")
    assert report["floor"] == pytest.approx(math.log(8))
    assert report["loss_unpredictable"] > report["floor"] - 0.05  # sampling noise only
    assert report["acc_predictable"] > 0.9


@pytest.mark.parametrize("mask_kind", ["off_by_one", "none"])
def test_a_leaking_mask_beats_the_impossible_floor(mask_kind):
    report = _train_copy(mask_kind)
    assert report["loss_unpredictable"] < report["floor"] - 1.0  # only possible by reading the future


def test_loss_by_position_ignores_ignored_targets():
    torch.manual_seed(0)
    model = TinyAttentionModel(5, 25, 4, d_model=8, causal=True)
    x, y = prev_first_batch(16, 4, 5, gen(0))
    loss, acc = loss_by_position(model, x, y)
    assert torch.isnan(loss[0]) and torch.isnan(acc[0])  # position 0 has no target
    assert torch.isfinite(loss[1:]).all() and ((acc[1:] >= 0) & (acc[1:] <= 1)).all()


def test_pattern_match_is_perfect_on_the_ideal_pattern_and_skips_queries_without_one():
    keys = reverse_ideal_keys(5)
    ideal = torch.eye(5)[keys]  # one-hot rows on the anti-diagonal
    assert pattern_match(ideal, keys) == (1.0, 1.0)
    uniform = torch.full((5, 5), 0.2)
    assert pattern_match(uniform, torch.tensor([-1, -1, 0, 1, 2]))[1] == pytest.approx(0.2)


def test_mean_attention_averages_over_the_batch():
    torch.manual_seed(0)
    model = TinyAttentionModel(6, 6, 5, d_model=8, num_heads=2, causal=True)
    x, _ = reverse_batch(10, 5, 6, gen(0))
    averaged = mean_attention(model, x)
    assert averaged.shape == (2, 5, 5)
    assert torch.allclose(averaged.sum(-1), torch.ones(2, 5), atol=1e-6)
    assert torch.all(averaged[:, ~causal_mask(5)] == 0)


def test_future_leak_is_zero_for_a_causal_model_and_positive_for_a_leaking_mask():
    torch.manual_seed(0)
    model = TinyAttentionModel(6, 6, 8, d_model=8, causal=True)
    x, _ = reverse_batch(4, 8, 6, gen(0))
    assert future_leak(lambda t: model(t)[0], x, 3, gen(1)) == 0.0
    leaking = torch.ones(8, 8, dtype=torch.bool).tril(1)
    assert future_leak(lambda t: model(t, leaking)[0], x, 3, gen(1)) > 1e-4
    floats = torch.randn(2, 8, 8, generator=gen(2))
    assert future_leak(lambda t: t.cumsum(1), floats, 5, gen(3)) == 0.0  # a running sum only looks back
