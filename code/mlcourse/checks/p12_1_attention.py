"""Checks for the exercises of chapter 12.1 (attention): each compares the learner's function with a reference.

Where a wrong answer has a typical cause (the mask convention inverted, the sqrt(d_k) forgotten, the softmax over
the wrong axis, 0 * log 0 giving NaN, the wrong LSTM gate), the failure line names that cause. Every check
prints one verdict line (see :mod:`mlcourse.checks.core`) and returns a :class:`~mlcourse.checks.core.Verdict`.
The checks build their own small random inputs from fixed seeds; they do not train anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from mlcourse.model.attention import attention_entropy, causal_mask, scaled_dot_product_attention
from mlcourse.checks.core import CheckFailed, Verdict, expect, expect_close, expect_shape, run_check
from mlcourse.labs.toy_tasks import pattern_match


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4, equal_nan=True)


def _attention_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """(description, q, k, v, mask) cases: hand-sized, batched with heads, causal, padding, large d_k."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    padding = torch.ones(2, 1, 1, 6, dtype=torch.bool)  # (B, 1, 1, T_k): sequence 1 has 2 padded keys
    padding[1, ..., 4:] = False
    return [
        ("3 tokens, d_k = 2, no mask", randn(1, 1, 3, 2), randn(1, 1, 3, 2), randn(1, 1, 3, 2), None),
        ("B=2, H=3, T=5, d_k=8, d_v=4, no mask", randn(2, 3, 5, 8), randn(2, 3, 5, 8), randn(2, 3, 5, 4), None),
        ("causal mask (T, T)", randn(2, 2, 5, 4), randn(2, 2, 5, 4), randn(2, 2, 5, 4), causal_mask(5)),
        ("padding mask (B, 1, 1, T_k), T_q=4, T_k=6", randn(2, 2, 4, 8), randn(2, 2, 6, 8), randn(2, 2, 6, 3), padding),
        ("d_k = 256, no mask", randn(1, 2, 6, 256), randn(1, 2, 6, 256), randn(1, 2, 6, 5), None),
    ]


def _diagnose_attention(weights: torch.Tensor, q, k, v, mask, description: str) -> None:
    """Name the typical cause when the learner's weights are wrong: no scale, inverted mask, wrong softmax axis."""
    if _same(weights, scaled_dot_product_attention(q, k, v, mask, scale=1.0)[1]):
        raise CheckFailed(f"your weights equal softmax(q k^T) without the 1/sqrt(d_k) scale ({description})")
    if mask is not None:
        inverted = scaled_dot_product_attention(q, k, v, ~mask)[1]  # NaN rows: every key blocked
        uniform_rows = torch.where(torch.isnan(inverted), 1.0 / k.shape[-2], inverted)  # masked with -1e9 instead
        if _same(weights, inverted) or _same(weights, uniform_rows):
            raise CheckFailed(f"your mask is inverted: in this course True means 'may attend' ({description})")
    row_sums = weights.sum(-1).double()
    if not torch.isnan(row_sums).any() and not torch.allclose(row_sums, torch.ones(()).double(), atol=1e-4):
        raise CheckFailed(
            f"expected every row of attn_weights to sum to 1 over the keys (the last axis), got row sums between "
            f"{row_sums.min().item():.3g} and {row_sums.max().item():.3g}: is the softmax taken over dim=-1? "
            f"({description})"
        )


def check_scaled_dot_product_attention(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> Verdict:
    """``fn(q, k, v, mask=None) -> (out, attn_weights)`` must match the library on 5 cases, masks included."""

    def body() -> str:
        for description, q, k, v, mask in _attention_cases():
            result = fn(q, k, v) if mask is None else fn(q, k, v, mask)
            expect(
                isinstance(result, tuple) and len(result) == 2,
                f"expected a tuple (out, attn_weights), got {type(result).__name__} (case: {description})",
            )
            out, weights = result
            ref_out, ref_weights = scaled_dot_product_attention(q, k, v, mask)
            wrong_values = isinstance(weights, torch.Tensor) and weights.shape == ref_weights.shape
            if wrong_values and not _same(weights, ref_weights):
                _diagnose_attention(weights, q, k, v, mask, description)
            expect_close("attn_weights", weights, ref_weights, context=description)
            expect_close("out", out, ref_out, context=description)
        return "matches the reference on 5 cases, with and without masks"

    return run_check("scaled dot-product attention", body)


def check_causal_mask(fn: Callable[[int], torch.Tensor]) -> Verdict:
    """``fn(T)`` must return the (T, T) boolean mask with True where key j <= query i."""

    def body() -> str:
        for T in (1, 2, 5, 9):
            got = fn(T)
            expect_shape(f"causal_mask({T})", got, (T, T))
            expect(got.dtype == torch.bool, f"expected a boolean mask, got dtype {got.dtype} (use .bool())")
            ref = causal_mask(T)
            if torch.equal(got, ~ref):
                raise CheckFailed("your mask is inverted: True must mean 'may attend', i.e. keys j <= i")
            if T > 1 and torch.equal(got, torch.ones(T, T, dtype=torch.bool).tril(1)):
                raise CheckFailed("off by one: query i may also see key i + 1, the token it must predict (a leak)")
            if T > 1 and torch.equal(got, torch.ones(T, T, dtype=torch.bool).tril(-1)):
                raise CheckFailed("off by one: query i may not see itself, and query 0 sees nothing at all (NaN rows)")
            if not torch.equal(got, ref):
                wrong = tuple(torch.nonzero(got != ref)[0].tolist())
                raise CheckFailed(
                    f"expected {ref.int().tolist()} for T={T}, got {got.int().tolist()} (first wrong at {wrong})"
                )
        return "correct for T = 1, 2, 5, 9"

    return run_check("causal mask", body)


def check_attention_entropy(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """``fn(attn_weights (..., T_q, T_k)) -> (..., T_q)``: the entropy of each row in nats, 0 log 0 counted as 0."""

    def body() -> str:
        g = torch.Generator().manual_seed(1)
        scores = torch.randn(2, 3, 6, 6, generator=g)
        weights = torch.softmax(scores.masked_fill(~causal_mask(6), float("-inf")), dim=-1)  # exact zeros
        one_hot = torch.eye(4).expand(1, 1, 4, 4)
        uniform = torch.full((1, 1, 3, 5), 0.2)
        for description, w in (("causal weights with exact zeros", weights), ("one-hot rows", one_hot),
                               ("uniform rows over 5 keys", uniform)):
            got = fn(w)
            ref = attention_entropy(w)
            if isinstance(got, torch.Tensor) and got.shape == ref.shape:
                expect(not bool(torch.isnan(got).any()),
                       f"got NaN ({description}): 0 * log(0) must count as 0; use torch.special.xlogy(a, a)")
                if _same(got, ref / math.log(2)) and not _same(got, ref):
                    raise CheckFailed("your entropy is in bits (log base 2); this course uses nats (natural log)")
            expect_close("entropy", got, ref, context=description)
        return "0 for one-hot rows, ln(T_k) for uniform rows, no NaN from masked keys"

    return run_check("attention entropy", body)


def check_pattern_match(fn: Callable[[torch.Tensor, torch.Tensor], tuple[float, float]]) -> Verdict:
    """``fn(attn_weights (T_q, T_k), ideal_keys (T_q,)) -> (argmax_accuracy, mass_on_ideal)``, skipping keys < 0."""

    def body() -> str:
        g = torch.Generator().manual_seed(2)
        T = 8
        weights = torch.softmax(3 * torch.randn(T, T, generator=g), dim=-1)  # (T, T)
        ideal = torch.arange(T).flip(0)
        ideal_with_gaps = torch.where(torch.arange(T) < 3, torch.full_like(ideal, -1), ideal)
        cases = (("anti-diagonal ideal", ideal), ("ideal with -1 (no ideal key) for queries 0-2", ideal_with_gaps))
        for description, keys in cases:
            got = fn(weights, keys)
            expect(isinstance(got, tuple) and len(got) == 2, f"expected (argmax_accuracy, mass_on_ideal), got {got!r}")
            ref = pattern_match(weights, keys)
            for name, g_value, r_value in zip(("argmax_accuracy", "mass_on_ideal"), got, ref):
                expect(abs(float(g_value) - r_value) < 1e-5,
                       f"expected {name} = {r_value:.4f}, got {float(g_value):.4f} ({description}; queries with "
                       "ideal key -1 must be left out)")
        return "argmax accuracy and mass on the ideal keys match, queries without an ideal key left out"

    return run_check("pattern match", body)


def head_roles_reference(attn_weights: torch.Tensor) -> torch.Tensor:
    """(H, T, T) -> (H, 2): mean weight each head puts on the previous token and on the first token, queries i >= 2."""
    i = torch.arange(2, attn_weights.shape[-1])  # query 1's previous token IS the first token: left out
    return torch.stack([attn_weights[:, i, i - 1].mean(-1), attn_weights[:, i, 0].mean(-1)], dim=-1)


def check_head_roles(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """``fn(attn_weights (H, T, T)) -> (H, 2)``: per head, mean weight on [previous token, first token]."""

    def body() -> str:
        g = torch.Generator().manual_seed(3)
        scores = torch.randn(3, 7, 7, generator=g)
        weights = torch.softmax(scores.masked_fill(~causal_mask(7), float("-inf")), dim=-1)  # (H, T, T)
        got = fn(weights)
        ref = head_roles_reference(weights)
        swapped = isinstance(got, torch.Tensor) and got.shape == ref.shape and _same(got, ref.flip(-1))
        if swapped and not _same(got, ref):
            raise CheckFailed("your two columns are swapped: column 0 is the previous token, column 1 the first")
        expect_close("head roles", got, ref, context="3 heads, T = 7, queries i >= 2")
        return "per-head weight on the previous and on the first token"

    return run_check("head roles", body)


def check_forget_bias(fn: Callable[[nn.LSTM, float], None]) -> Verdict:
    """``fn(lstm, value)`` must make the forget gate's total bias (bias_ih + bias_hh) equal value, in place."""

    def body() -> str:
        torch.manual_seed(4)
        lstm = nn.LSTM(6, 5, batch_first=True)
        before_ih, before_hh = lstm.bias_ih_l0.detach().clone(), lstm.bias_hh_l0.detach().clone()
        result = fn(lstm, 2.0)
        expect(result is None or result is lstm, "expected the function to change the LSTM in place")
        h = lstm.hidden_size
        total = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()  # (4h,): gates in PyTorch's order i, f, g, o
        other = torch.cat([torch.arange(0, h), torch.arange(2 * h, 4 * h)])
        changed_other = not torch.allclose(total[other], (before_ih + before_hh)[other])
        if changed_other and torch.allclose(total[:h], torch.full((h,), 2.0)):
            raise CheckFailed("you set the INPUT gate (rows 0:h); PyTorch orders the gates i, f, g, o: forget is h:2h")
        expect(not changed_other, "other gates' biases changed: only rows h:2h (the forget gate) may change")
        expect_close("forget-gate bias (bias_ih + bias_hh)[h:2h]", total[h : 2 * h], torch.full((h,), 2.0))
        return "forget gate set, other gates untouched"

    return run_check("LSTM forget-gate bias", body)
