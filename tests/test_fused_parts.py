"""The fused RMSNorm and RoPE of mlcourse.model.parts give the numbers of the explicit versions chapter 12
teaches: values and gradients, alone and inside a whole model; the cached RoPE table equals the formula."""

from __future__ import annotations

import pytest
import torch

from mlcourse.model.parts import RMSNorm, RotaryEmbedding, apply_rope, apply_rope_fused, use_fused_parts
from mlcourse.model.transformer import TransformerConfig, TransformerLM


def values_and_grads(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()  # a non-uniform upstream gradient
    return out.detach(), [t.grad for t in inputs]


def test_fused_rmsnorm_matches_the_explicit_formula_and_its_gradients():
    torch.manual_seed(0)
    x, norm = torch.randn(3, 7, 16) * 3 + 1, RMSNorm(16)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(16))
    results = {}
    for fused in (True, False):
        norm.fused, norm.weight.grad = fused, None
        out, (grad_x,) = values_and_grads(norm, x)
        results[fused] = (out, grad_x, norm.weight.grad.clone())
    for fast, slow in zip(results[True], results[False]):
        assert torch.allclose(fast, slow, atol=1e-5), (fast - slow).abs().max()
    assert torch.allclose(results[True][0], torch.nn.functional.rms_norm(x, (16,), norm.weight, 1e-5), atol=1e-6)


def test_fused_rope_matches_rotate_half_on_queries_and_keys_with_gradients():
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 9, 8), torch.randn(2, 2, 9, 8)  # grouped-query shapes: 4 query heads, 2 kv heads
    cos, sin = RotaryEmbedding(8)(torch.arange(3, 12))  # offset positions, as with a key-value cache
    fast = values_and_grads(lambda a, b: torch.cat([t.flatten() for t in apply_rope_fused(a, b, cos, sin)]), q, k)
    slow = values_and_grads(lambda a, b: torch.cat([apply_rope(a, cos, sin).flatten(), apply_rope(b, cos, sin).flatten()]), q, k)
    assert torch.allclose(fast[0], slow[0], atol=1e-6)
    assert all(torch.allclose(f, s, atol=1e-6) for f, s in zip(fast[1], slow[1]))


def test_rope_table_lookup_equals_the_formula_also_past_its_first_size():
    rotary = RotaryEmbedding(16, theta=500.0)
    positions = torch.tensor([0, 5, 300, 1000])  # beyond the first table (256 rows): it regrows
    cos, sin = rotary(positions)
    angles = rotary.angles(positions)
    assert torch.allclose(cos, angles.cos(), atol=1e-6) and torch.allclose(sin, angles.sin(), atol=1e-6)
    assert cos.shape == (4, 16)


@pytest.mark.parametrize("changes", [{}, {"sliding_window": 3}, {"n_kv_heads": 4}])
def test_whole_model_gives_the_same_logits_and_gradients_fused_or_explicit(changes):
    torch.manual_seed(0)
    model = TransformerLM(TransformerConfig.mistral(vocab_size=40, d_model=32, n_layers=2, n_heads=4,
                                                    max_seq_len=16, **changes))
    x = torch.randint(0, 40, (2, 11))
    grads = {}
    for fused in (True, False):
        use_fused_parts(model, fused)
        model.zero_grad()
        logits = model(x)
        logits.square().mean().backward()
        grads[fused] = (logits.detach(), [p.grad.clone() for p in model.parameters()])
    assert torch.allclose(grads[True][0], grads[False][0], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads[True][1], grads[False][1]))


def test_use_fused_parts_switches_every_norm_and_attention():
    model = use_fused_parts(TransformerLM(TransformerConfig.mistral(vocab_size=20, d_model=16, n_heads=2)), False)
    norms = [m for m in model.modules() if isinstance(m, RMSNorm)]
    assert norms and not any(m.fused for m in norms)
    assert not any(getattr(m, "fused_rope", False) for m in model.modules())
