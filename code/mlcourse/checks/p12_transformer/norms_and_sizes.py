"""Checks for the later exercises of chapter 12 (the transformer): RMSNorm, RoPE and the parameter-count formula.

Each check compares the learner's function with the library on a few fixed cases and, for the typical
mistakes (LayerNorm's mean subtracted, the eps outside the square root, the adjacent-pair RoPE layout, the
head counted twice in a tied model), names the cause. Every check prints one verdict line (see
:mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`. Nothing is trained here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, run_check
from mlcourse.model.size import MISTRAL_7B, parameter_count
from mlcourse.model.transformer import TransformerConfig, TransformerLM, count_parameters
from mlcourse.model.parts import RMSNorm, RotaryEmbedding, apply_rope


def _rms_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    norm = RMSNorm(x.shape[-1], eps=eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


def check_rms_norm(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    """``fn(x (..., d), weight (d,), eps) -> (..., d)`` must equal x / sqrt(mean(x^2) + eps) * weight."""

    def body() -> str:
        g = torch.Generator().manual_seed(0)
        cases = [
            ("(2, 3, 8), unit weight", torch.randn(2, 3, 8, generator=g) * 3 + 1, torch.ones(8), 1e-5),
            ("(4, 16), random weight", torch.randn(4, 16, generator=g), torch.rand(16, generator=g) + 0.5, 1e-5),
            ("tiny inputs, eps = 1e-2", torch.randn(2, 8, generator=g) * 1e-3, torch.ones(8), 1e-2),
        ]
        for description, x, weight, eps in cases:
            got = fn(x, weight, eps)
            ref = _rms_reference(x, weight, eps)
            if isinstance(got, torch.Tensor) and got.shape == ref.shape and not torch.allclose(got, ref, atol=1e-5):
                centred = x - x.mean(-1, keepdim=True)
                if torch.allclose(got, _rms_reference(centred, weight, eps), atol=1e-5):
                    raise CheckFailed(f"you subtracted the mean: that is LayerNorm, RMSNorm does not centre ({description})")
                if torch.allclose(got, x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * weight, atol=1e-5):
                    raise CheckFailed(f"eps belongs inside the square root: sqrt(mean(x^2) + eps) ({description})")
                if torch.allclose(got, x / x.pow(2).sum(-1, keepdim=True).add(eps).sqrt() * weight, atol=1e-5):
                    raise CheckFailed(f"use the MEAN of x^2 over the last axis, not the sum ({description})")
            expect_close("rms_norm(x, weight, eps)", got, ref, context=description)
        return "matches the library on 3 cases"

    return run_check("RMSNorm", body)


def check_rope(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    """``fn(x (B, H, T, d_head), positions (T,), theta) -> rotated x`` in Hugging Face's rotate-half layout."""

    def body() -> str:
        g = torch.Generator().manual_seed(0)
        for T, d_head, theta in ((5, 8, 10000.0), (7, 16, 500.0)):
            x = torch.randn(2, 3, T, d_head, generator=g)
            positions = torch.arange(T)
            cos, sin = RotaryEmbedding(d_head, theta)(positions)
            ref = apply_rope(x, cos, sin)
            got = fn(x, positions, theta)
            if isinstance(got, torch.Tensor) and got.shape == ref.shape and not torch.allclose(got, ref, atol=1e-5):
                interleaved = x.unflatten(-1, (d_head // 2, 2))  # pairs (2i, 2i+1)
                angles = positions[:, None].float() * RotaryEmbedding(d_head, theta).inv_freq  # (T, d/2)
                a, b = interleaved[..., 0], interleaved[..., 1]
                adj = torch.stack((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1)
                if torch.allclose(got, adj.flatten(-2), atol=1e-5):
                    raise CheckFailed("you rotate adjacent pairs (2i, 2i+1); this course and HF Mistral pair (i, i + d/2)")
                if torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-4) is False:
                    raise CheckFailed("a rotation keeps each vector's length, yours changes it")
            expect_close("rotated x", got, ref, context=f"T={T}, d_head={d_head}, theta={theta}")
        q, k = torch.randn(1, 1, 1, 8, generator=g), torch.randn(1, 1, 1, 8, generator=g)
        at = lambda v, p: fn(v, torch.tensor([p]), 10000.0)  # noqa: E731 - one position at a time
        expect(abs(float((at(q, 3) * at(k, 1)).sum() - (at(q, 40) * at(k, 38)).sum())) < 1e-4,
               "the score <q_m, k_n> should depend on m - n only; (3, 1) and (40, 38) differ")
        return "matches the library; scores depend on the offset only"

    return run_check("RoPE", body)


def check_parameter_count(fn: Callable[[TransformerConfig], int]) -> Verdict:
    """``fn(config) -> int`` for Mistral-style configs (no biases, RMSNorm, RoPE, SwiGLU; tied or not)."""

    def body() -> str:
        configs = [
            TransformerConfig.mistral(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=88),
            TransformerConfig.mistral(vocab_size=97, d_model=48, n_layers=3, n_heads=6, n_kv_heads=1, d_ff=128,
                                      tie_embeddings=True),
            TransformerConfig.mistral(vocab_size=64, d_model=64, n_layers=1, n_heads=8, n_kv_heads=8, d_ff=64),
        ]
        for c in configs:
            got = fn(c)
            built = count_parameters(TransformerLM(c))
            if got == built + c.vocab_size * c.d_model and c.tie_embeddings:
                raise CheckFailed("with tie_embeddings=True the head IS the embedding matrix: count it once")
            expect(got == built, f"expected {built:,} parameters for {c.n_layers} layers, d={c.d_model}, "
                                 f"{c.n_heads}/{c.kv_heads} heads, d_ff={c.ff_dim}, tied={c.tie_embeddings}; got {got:,}")
        got = fn(MISTRAL_7B)
        expect(got == parameter_count(MISTRAL_7B), f"expected 7,241,732,096 for Mistral 7B, got {got:,}")
        return "exact on 3 small configs and on Mistral 7B"

    return run_check("parameter count", body)
