"""Tests of mlcourse.model.attention: shapes, masks, gradients, and agreement with PyTorch's own attention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mlcourse.model.attention import MultiHeadAttention, attention_entropy, causal_mask, scaled_dot_product_attention
from torch import nn


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- scaled dot-product attention


def test_hand_sized_example_matches_a_computation_by_hand():
    # 3 tokens, d_k = 2: scores = q k^T / sqrt(2); the numbers below were worked out on paper.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).view(1, 1, 3, 2)
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).view(1, 1, 3, 2)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).view(1, 1, 3, 2)
    out, weights = scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2))  # e^{score} of a matching key; the others have score 0 -> e^0 = 1
    expected_row0 = torch.tensor([a, 1.0, 1.0]) / (a + 2)
    expected_row2 = torch.tensor([a, a, 1.0]) / (2 * a + 1)
    assert torch.allclose(weights[0, 0, 0], expected_row0, atol=1e-6)
    assert torch.allclose(weights[0, 0, 1], expected_row0[[1, 0, 2]], atol=1e-6)
    assert torch.allclose(weights[0, 0, 2], expected_row2, atol=1e-6)
    assert torch.allclose(out[0, 0, 2], expected_row2[:2], atol=1e-6)  # out = weights @ v picks the first two


def test_output_and_weight_shapes_with_different_query_key_and_value_sizes():
    q, k, v = randn(2, 3, 4, 8, seed=1), randn(2, 3, 6, 8, seed=2), randn(2, 3, 6, 5, seed=3)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 4, 5)
    assert weights.shape == (2, 3, 4, 6)


def test_rows_of_the_weights_sum_to_one_with_and_without_mask():
    q, k, v = randn(2, 2, 5, 4, seed=1), randn(2, 2, 5, 4, seed=2), randn(2, 2, 5, 4, seed=3)
    for mask in (None, causal_mask(5)):
        _, weights = scaled_dot_product_attention(q, k, v, mask)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5), atol=1e-6)


@pytest.mark.parametrize("use_mask", ["none", "causal", "padding"])
def test_agrees_with_torch_functional_sdpa(use_mask):
    q, k, v = randn(2, 3, 6, 8, seed=1), randn(2, 3, 6, 8, seed=2), randn(2, 3, 6, 4, seed=3)
    mask = None
    if use_mask == "causal":
        mask = causal_mask(6)
    elif use_mask == "padding":
        mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
        mask[1, ..., 4:] = False  # the second sequence has two padded keys
    ours, _ = scaled_dot_product_attention(q, k, v, mask)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # same convention: True = attend
    assert torch.allclose(ours, reference, atol=1e-5)


def test_custom_scale_agrees_with_torch_functional_sdpa():
    q, k, v = randn(1, 2, 5, 16, seed=1), randn(1, 2, 5, 16, seed=2), randn(1, 2, 5, 16, seed=3)
    ours, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, scale=1.0), atol=1e-5)


def test_causal_mask_gives_exactly_zero_weight_to_the_future():
    q, k, v = randn(1, 1, 6, 4, seed=1), randn(1, 1, 6, 4, seed=2), randn(1, 1, 6, 4, seed=3)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    future = ~causal_mask(6)
    assert torch.all(weights[0, 0][future] == 0)
    assert torch.all(weights[0, 0][~future] > 0)


def test_masked_keys_receive_no_gradient():
    q, k = randn(1, 1, 4, 4, seed=1), randn(1, 1, 4, 4, seed=2)
    v = randn(1, 1, 4, 4, seed=3).requires_grad_(True)
    out, _ = scaled_dot_product_attention(q, k, v, causal_mask(4))
    out[0, 0, 1].sum().backward()  # query 1 may read keys 0 and 1 only
    assert torch.all(v.grad[0, 0, 2:] == 0)
    assert torch.all(v.grad[0, 0, :2].abs().sum(-1) > 0)


def test_causal_mask_values():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(4).dtype == torch.bool
    with pytest.raises(ValueError, match="T must be a positive"):
        causal_mask(0)


def test_gradcheck_in_float64_with_mask():
    q, k, v = (randn(1, 2, 4, 3, seed=s, dtype=torch.float64).requires_grad_(True) for s in (1, 2, 3))
    mask = causal_mask(4)
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (q, k, v))


def test_missing_scale_saturates_the_softmax_at_large_d_k():
    # Unit-variance q, k: q.k has variance d_k, so without 1/sqrt(d_k) the rows become nearly one-hot.
    q, k = randn(1, 1, 16, 512, seed=1), randn(1, 1, 16, 512, seed=2)
    _, scaled = scaled_dot_product_attention(q, k, k)
    _, unscaled = scaled_dot_product_attention(q, k, k, scale=1.0)
    assert attention_entropy(unscaled).mean() < 0.1  # nats: almost all weight on one key
    assert attention_entropy(scaled).mean() > 1.5  # well spread (ln 16 = 2.77 is the maximum)


def test_attention_entropy_extremes_and_masked_zeros():
    assert torch.allclose(attention_entropy(torch.eye(4)), torch.zeros(4))
    assert torch.allclose(attention_entropy(torch.full((2, 5), 0.2)), torch.full((2,), math.log(5)))
    q, k, v = randn(1, 1, 5, 2), randn(1, 1, 5, 2, seed=1), randn(1, 1, 5, 2, seed=2)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(5))
    entropy = attention_entropy(weights)
    assert not torch.isnan(entropy).any()
    assert entropy[0, 0, 0] == 0  # query 0 sees only itself


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape", "message"),
    [
        ((1, 1, 3, 4), (1, 1, 3, 5), (1, 1, 3, 5), r"share their last dimension d_k, got q \(1, 1, 3, 4\)"),
        ((1, 1, 3, 4), (1, 1, 3, 4), (1, 1, 2, 4), r"same number of positions T_k, got k \(1, 1, 3, 4\)"),
        ((1, 3, 4), (1, 1, 3, 4), (1, 1, 3, 4), r"same number of dimensions .* q \(1, 3, 4\)"),
    ],
)
def test_bad_shapes_raise_value_errors_naming_the_shapes(q_shape, k_shape, v_shape, message):
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(torch.zeros(q_shape), torch.zeros(k_shape), torch.zeros(v_shape))


def test_bad_masks_raise_value_errors():
    q = torch.zeros(2, 1, 3, 4)
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast .* \(2, 1, 3, 3\)"):
        scaled_dot_product_attention(q, q, q, causal_mask(4))
    with pytest.raises(ValueError, match="must be a boolean tensor"):
        scaled_dot_product_attention(q, q, q, causal_mask(3).float())


# ---------------------------------------------------------------- multi-head attention


def test_multi_head_attention_preserves_the_input_shape_and_returns_per_head_weights():
    mha = MultiHeadAttention(d_model=16, num_heads=4)
    out, weights = mha(randn(2, 7, 16))
    assert out.shape == (2, 7, 16)
    assert weights.shape == (2, 4, 7, 7)


def test_heads_in_parallel_equal_a_loop_over_heads():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=12, num_heads=3)
    x = randn(2, 5, 12)
    out, _ = mha(x, causal=True)
    q, k, v = mha.q_proj(x), mha.k_proj(x), mha.v_proj(x)  # (B, T, d)
    per_head = []
    for h in range(3):  # the slow, obvious version: head h owns features [4h, 4h + 4)
        cols = slice(4 * h, 4 * h + 4)
        q_h, k_h, v_h = q[:, None, :, cols], k[:, None, :, cols], v[:, None, :, cols]  # (B, 1, T, 4)
        o, _ = scaled_dot_product_attention(q_h, k_h, v_h, causal_mask(5))
        per_head.append(o[:, 0])  # (B, T, 4)
    assert torch.allclose(out, mha.o_proj(torch.cat(per_head, dim=-1)), atol=1e-6)


def test_causal_outputs_do_not_move_when_future_tokens_change():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    x = randn(1, 6, 8)
    x_changed = x.clone()
    x_changed[:, 4:] = randn(1, 2, 8, seed=9)  # change positions 4 and 5 only
    out, _ = mha(x, causal=True)
    out_changed, _ = mha(x_changed, causal=True)
    assert torch.allclose(out[:, :4], out_changed[:, :4], atol=1e-6)
    assert not torch.allclose(out[:, 4:], out_changed[:, 4:], atol=1e-3)


def test_fast_path_without_weights_equals_the_explicit_path():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=16, num_heads=4)
    x = randn(2, 6, 16)
    padding = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    padding[0, ..., -1] = False
    for kwargs in ({}, {"causal": True}, {"mask": padding, "causal": True}):
        explicit, _ = mha(x, **kwargs)
        fused, none = mha(x, need_weights=False, **kwargs)
        assert none is None
        assert torch.allclose(explicit, fused, atol=1e-5)


def _torch_mha_with_our_weights(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    reference = nn.MultiheadAttention(mha.d_model, mha.num_heads, batch_first=True, dtype=mha.q_proj.weight.dtype)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        reference.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        reference.out_proj.weight.copy_(mha.o_proj.weight)
        reference.out_proj.bias.copy_(mha.o_proj.bias)
    return reference


@pytest.mark.parametrize("causal", [False, True])
def test_agrees_with_torch_multihead_attention_in_float64(causal):
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=16, num_heads=4).double()
    reference = _torch_mha_with_our_weights(mha)
    x = randn(3, 7, 16, dtype=torch.float64)
    out, weights = mha(x, causal=causal)
    # nn.MultiheadAttention's boolean mask has the OPPOSITE convention: True = NOT allowed to attend.
    blocked = ~causal_mask(7) if causal else None
    ref_out, ref_weights = reference(x, x, x, attn_mask=blocked, need_weights=True, average_attn_weights=True)
    assert torch.allclose(out, ref_out, atol=1e-6)
    assert torch.allclose(weights.mean(1), ref_weights, atol=1e-6)  # torch averages the weights over heads


def test_agrees_with_torch_multihead_attention_in_float32():
    torch.manual_seed(1)
    mha = MultiHeadAttention(d_model=32, num_heads=8)
    reference = _torch_mha_with_our_weights(mha)
    x = randn(2, 9, 32)
    out, weights = mha(x)
    ref_out, ref_weights = reference(x, x, x, need_weights=True)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(weights.mean(1), ref_weights, atol=1e-5)


def test_gradcheck_multi_head_attention_in_float64():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=6, num_heads=2).double()
    x = randn(1, 4, 6, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: mha(x, causal=True)[0], (x,))


def test_every_parameter_receives_a_gradient():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    out, _ = mha(randn(2, 5, 8), causal=True)
    out.pow(2).mean().backward()
    for name, param in mha.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


def test_multi_head_attention_rejects_bad_configurations_and_inputs():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=4"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model=8\), got \(5, 8\).*unsqueeze"):
        mha(torch.zeros(5, 8))
    with pytest.raises(ValueError, match=r"got \(1, 5, 6\)"):
        mha(torch.zeros(1, 5, 6))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast"):
        mha(torch.zeros(1, 5, 8), mask=causal_mask(4))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast"):
        mha(torch.zeros(1, 5, 8), mask=causal_mask(4), need_weights=False)
