"""Checks for exercise 1 of chapter 12: the learner's multi-head causal self-attention, then grouped K/V heads.

The learner writes ``CausalSelfAttention(d_model, n_heads, n_kv_heads=None, bias=True)`` with the library's
projection names (q_proj, k_proj, v_proj, o_proj) and ``forward(x (B, T, d)) -> (B, T, d)``. A check builds the
library's :class:`~mlcourse.model.gqa_attention.GroupedQueryAttention` with random weights, loads its
``state_dict`` into the learner's module and compares the outputs within 1e-5. When they differ it recomputes
the attention with the library's weights and one typical mistake at a time (heads split without the transpose,
heads merged without it, no causal mask, no 1/sqrt(d_head), 1/sqrt(d_model), no output projection, K/V heads
tiled instead of grouped) and names the one that matches. The helpers here (random weights, loading) serve
:mod:`mlcourse.checks.p12_transformer.blocks` too. Nothing is trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, expect_shape, run_check
from mlcourse.model.gqa_attention import GroupedQueryAttention

ATOL = 1e-5


def randomise(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter a random value (norm weights near 1, biases small), so that no piece is a no-op."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 1 and not name.endswith("bias"):  # norm weights
                p.copy_(1 + 0.2 * noise)
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
            else:  # (out, in) matrices and embeddings: unit-scale activations
                p.copy_(noise / math.sqrt(p.shape[-1]))
    return module


def load_reference(mine: nn.Module, reference: nn.Module, piece: str) -> None:
    """Load ``reference``'s weights into the learner's module, or fail naming the missing or misshapen tensor."""
    try:
        result = mine.load_state_dict(reference.state_dict(), strict=False)
    except RuntimeError as err:
        detail = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err)[:300])
        raise CheckFailed(f"{piece}: the library's weights do not fit your module: {detail}") from None
    own_params = {name for name, _ in mine.named_parameters()}
    missing = [k for k in result.missing_keys if k in own_params]
    if missing or result.unexpected_keys:
        raise CheckFailed(
            f"{piece}: parameter names differ from the library's: yours lacks {result.unexpected_keys or '-'}, "
            f"has extra {missing or '-'}; use the library's names (q_proj, k_proj, v_proj, o_proj, up_proj, ...)"
        )


def diagnose(got: torch.Tensor, expected: torch.Tensor, variants: dict[str, Callable[[], torch.Tensor]], name: str,
             context: str, otherwise: str | None = None) -> None:
    """Pass if ``got`` matches ``expected``; else fail with the message of the first variant ``got`` matches,
    else with ``otherwise`` if given, else with the largest difference."""
    expect_shape(f"{name} ({context})", got, tuple(expected.shape))
    if torch.allclose(got.detach().double(), expected.double(), atol=ATOL, rtol=1e-4):
        return
    with torch.no_grad():
        for message, make in variants.items():
            try:
                candidate = make()
            except RuntimeError:  # a variant that cannot be built for this shape
                continue
            if candidate.shape == got.shape and torch.allclose(got.detach(), candidate, atol=ATOL, rtol=1e-4):
                raise CheckFailed(f"{message} ({context})")
    if otherwise:
        raise CheckFailed(f"{otherwise} ({context})")
    expect_close(name, got, expected, atol=ATOL, context=context)


def attention_variant(ref: GroupedQueryAttention, x: torch.Tensor, *, split: str = "ok", merge: str = "ok",
                      causal: bool = True, scale: float | None = None, out_proj: bool = True,
                      kv: str = "grouped") -> torch.Tensor:
    """The library's attention with one knob turned to a typical mistake; x (B, T, d) -> (B, T, d)."""
    B, T, _ = x.shape
    H, H_kv, d_head = ref.num_heads, ref.num_kv_heads, ref.d_head

    def heads(t: torch.Tensor, n: int) -> torch.Tensor:  # (B, T, n * d_head) -> (B, n, T, d_head)
        if split == "no transpose":
            return t.reshape(B, n, T, d_head)
        return t.view(B, T, n, d_head).transpose(1, 2)

    q, k, v = heads(ref.q_proj(x), H), heads(ref.k_proj(x), H_kv), heads(ref.v_proj(x), H_kv)
    groups = H // H_kv
    if kv == "grouped":
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)  # (B, H, T, d_head)
    else:  # tiled: query head h reads key/value head h % H_kv
        k, v = k.repeat(1, groups, 1, 1), v.repeat(1, groups, 1, 1)
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(d_head) if scale is None else scale)  # (B, H, T, T)
    if causal:
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    out = scores.softmax(-1) @ v  # (B, H, T, d_head)
    out = out.reshape(B, T, H * d_head) if merge == "no transpose" else out.transpose(1, 2).reshape(B, T, H * d_head)
    return ref.o_proj(out) if out_proj else out


def _check_one(cls: type[nn.Module], d_model: int, n_heads: int, n_kv_heads: int | None, bias: bool, seed: int,
               piece: str) -> None:
    reference = randomise(GroupedQueryAttention(d_model, n_heads, n_kv_heads, bias=bias, path="explicit"), seed)
    mine = cls(d_model, n_heads, n_kv_heads=n_kv_heads, bias=bias)
    load_reference(mine, reference, piece)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 7, d_model, generator=g)  # B=2, T=7, H=4: three different numbers
    context = f"d_model={d_model}, {n_heads} heads, {reference.num_kv_heads} key/value heads, x of shape (2, 7, {d_model})"
    with torch.no_grad():
        got, expected = mine(x), reference(x)
        later = x.clone()
        later[:, 4:] = torch.randn(2, 3, d_model, generator=g)  # change the future of positions 0..3
        leaks = isinstance(got, torch.Tensor) and got.shape == expected.shape and \
            not torch.allclose(mine(later)[:, :4], got[:, :4], atol=ATOL)
    d_head = d_model // n_heads
    variants = {
        "no causal mask: each position also reads the positions after it (mask the scores with -inf above the "
        "diagonal before the softmax)": lambda: attention_variant(reference, x, causal=False),
        "the scores are not scaled: multiply q k^T by 1/sqrt(d_head)": lambda: attention_variant(reference, x, scale=1.0),
        f"the scores are scaled by 1/sqrt(d_model); use the head size, 1/sqrt(d_head) = 1/sqrt({d_head})":
            lambda: attention_variant(reference, x, scale=1 / math.sqrt(d_model)),
        "heads split without the transpose: reshape (B, T, d) to (B, T, H, d_head), then .transpose(1, 2) to "
        "(B, H, T, d_head); a straight reshape to (B, H, T, d_head) mixes positions into the heads":
            lambda: attention_variant(reference, x, split="no transpose"),
        "heads merged without the transpose: (B, H, T, d_head) needs .transpose(1, 2) back to (B, T, H, d_head) "
        "before the reshape to (B, T, d)": lambda: attention_variant(reference, x, merge="no transpose"),
        "the output projection o_proj is not applied to the merged heads":
            lambda: attention_variant(reference, x, out_proj=False),
        "key/value heads tiled instead of grouped: query heads 0..G-1 share key/value head 0 (repeat_interleave "
        "over the head axis), yours gave query head h the key/value head h % H_kv (repeat)":
            lambda: attention_variant(reference, x, kv="tiled"),
    }
    leak = ("your attention reads the future: changing the inputs after position 3 moved the outputs at positions "
            "0..3; query i may only read keys j <= i") if leaks else None
    diagnose(got, expected, variants, "attention output", context, otherwise=leak)


def check_attention(cls: type[nn.Module]) -> Verdict:
    """``cls(d_model, n_heads, n_kv_heads=None, bias=True)``: multi-head causal self-attention (one K/V per head)."""

    def body() -> str:
        _check_one(cls, 16, 4, None, True, 0, "multi-head attention")
        _check_one(cls, 24, 3, None, False, 1, "multi-head attention")
        return "equals the library's attention on identical weights (2 shapes, with and without biases)"

    return run_check("causal self-attention", body)


def check_grouped_attention(cls: type[nn.Module]) -> Verdict:
    """The same class with ``n_kv_heads < n_heads``: query heads share key/value heads in groups."""

    def body() -> str:
        mine = cls(16, 4, n_kv_heads=2, bias=False)
        k_shape = tuple(mine.k_proj.weight.shape) if hasattr(mine, "k_proj") else None
        expect(k_shape == (8, 16), f"with 4 query heads and 2 key/value heads of size 4, k_proj maps 16 -> 2 * 4 = 8 "
                                   f"features: weight (8, 16); yours is {k_shape}")
        _check_one(cls, 16, 4, 2, False, 2, "grouped-query attention")
        _check_one(cls, 24, 6, 1, True, 3, "grouped-query attention")
        return "equals the library's GQA on identical weights (4:2 and 6:1 heads)"

    return run_check("grouped key/value heads", body)
