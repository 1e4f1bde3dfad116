"""Causal self-attention as a decoder block uses it: grouped-query heads, optional RoPE and sliding window.

What it does: :class:`GroupedQueryAttention` extends chapter 12.1's multi-head attention with the three changes
Mistral 7B makes, each switched by an argument, so that one class covers the classic block and Mistral's:
  * grouped-query attention (GQA): ``num_heads`` query heads share ``num_kv_heads`` key/value heads (Mistral:
    32 and 8, so k_proj and v_proj are 4x smaller and so is the key-value cache). ``num_kv_heads == num_heads``
    is ordinary multi-head attention, with the same weights and the same output as :class:`MultiHeadAttention`.
  * rotary position embeddings applied to q and k after the projections (cos, sin come from the caller).
  * a sliding-window causal mask (``window`` keys per query).
Two paths give the same output: the explicit one calls :func:`mlcourse.model.attention.scaled_dot_product_attention`
(every score inspectable, attention weights returned), the fast one ``F.scaled_dot_product_attention`` (fused,
no (T, T) weights kept for the backward pass).

For generation it also takes a :class:`LayerKVCache`: the keys and values of the positions already seen are kept,
so a new token computes only its own q, k, v and attends to the stored ones (chapter 14's key-value cache;
the caller passes RoPE angles for the new positions, offset by the cache length). Attention dropout
(``dropout``, default 0) drops attention weights in training mode only.

What it deliberately does not do: padding masks, cross-attention, a rolling (windowed) cache buffer.
The projections are named and shaped like Hugging Face's ``MistralAttention``, so weights copy across as is.

Taught in chapter 12 (The decoder-only transformer from scratch); the cache and dropout in chapter 14.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.model.attention import scaled_dot_product_attention
from mlcourse.model.parts import apply_rope, apply_rope_fused, sliding_window_mask

AttentionPath = Literal["fast", "explicit"]


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, H_kv, T, d) -> (B, H_kv * groups, T, d): key/value head g serves query heads g*groups .. g*groups+groups-1."""
    if groups == 1:
        return x
    B, H_kv, T, d = x.shape
    return x[:, :, None].expand(B, H_kv, groups, T, d).reshape(B, H_kv * groups, T, d)


class LayerKVCache:
    """One layer's past keys and values, each (B, H_kv, T_past, d_head); empty (``None``) before the first call."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        """T_past: how many positions are stored."""
        return 0 if self.k is None else self.k.shape[-2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' k, v (B, H_kv, T_new, d_head); return all of them (B, H_kv, T_past + T_new, d_head)."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``num_heads`` query heads and ``num_kv_heads`` shared key/value heads.

    Args:
        d_model: width of the input and output vectors.
        num_heads: query heads H; each has d_head = d_model / H dimensions.
        num_kv_heads: key/value heads H_kv, a divisor of H (``None`` = H, plain multi-head attention).
        bias: whether the four projections have a bias (classic: yes; Mistral: no).
        window: sliding window in keys (``None`` = every earlier key).
        scale: score scale, ``None`` = 1/sqrt(d_head) (the ablations set 1.0 to drop the sqrt(d_k)).
        path: ``"fast"`` (fused PyTorch kernel) or ``"explicit"`` (chapter 12.1's function, weights kept).
        dropout: probability of zeroing an attention weight in training mode (kept ones are scaled by 1 / (1 - p));
            0 (the default) and eval mode leave the weights as they are.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        *,
        bias: bool = True,
        window: int | None = None,
        scale: float | None = None,
        path: AttentionPath = "fast",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if num_heads < 1 or d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} must be a positive multiple of num_heads={num_heads}.")
        if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
            raise ValueError(
                f"num_kv_heads={num_kv_heads} must divide num_heads={num_heads} (each key/value head serves a "
                "whole group of query heads); Mistral 7B uses 32 and 8."
            )
        if path not in ("fast", "explicit"):
            raise ValueError(f"Unknown attention path {path!r}; use 'fast' or 'explicit'.")
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.d_head = d_model // num_heads
        self.groups = num_heads // num_kv_heads
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"attention dropout must be in [0, 1), got {dropout}.")
        self.window, self.scale, self.path, self.dropout = window, scale, path, dropout
        self.q_proj = nn.Linear(d_model, num_heads * self.d_head, bias=bias)
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.d_head, bias=bias)  # H_kv / H of the q_proj's size
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.d_head, bias=bias)
        self.o_proj = nn.Linear(num_heads * self.d_head, d_model, bias=bias)
        self.last_attn_weights: torch.Tensor | None = None  # (B, H, T, T), kept by the explicit path only
        # Explicit path only: a function (B, H, T, T) -> (B, H, T, T) that replaces the weights before they
        # average v (chapter 13.5's interventions set it through mlcourse.analysis.attention.edit_attention).
        self.edit_weights: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.fused_rope = True  # False: chapter 12's explicit apply_rope (same numbers, more small ops)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: LayerKVCache | None = None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model). ``rope``: (cos, sin), each (T, d_head), for x's positions, or ``None``.

        ``cache``: the keys and values of the T_past positions before x (appended to here); x's queries then
        attend to T_past + T keys, query i to keys 0 .. T_past + i (and the window).
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, d_model={self.d_model}), got {tuple(x.shape)}.")
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, self.d_head).transpose(1, 2)  # (B, H, T, d_head)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, self.d_head).transpose(1, 2)  # (B, H_kv, T, d_head)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, self.d_head).transpose(1, 2)  # (B, H_kv, T, d_head)
        if rope is not None:
            cos, sin = rope
            if self.fused_rope:  # positions enter here, not in the input
                q, k = apply_rope_fused(q, k, cos, sin)
            else:
                q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H_kv, T_k, d_head) with T_k = T_past + T
        T_k = k.shape[-2]
        p = self.dropout if self.training else 0.0

        if self.path == "explicit":
            mask = sliding_window_mask(T_k, self.window, device=x.device)[T_k - T:]  # (T, T_k): the last T queries
            k, v = repeat_kv(k, self.groups), repeat_kv(v, self.groups)  # (B, H, T_k, d_head)
            out, self.last_attn_weights = scaled_dot_product_attention(q, k, v, mask, scale=self.scale)
            if self.edit_weights is not None:  # analysis hook (chapter 13.5): a new pattern, then it averages v
                self.last_attn_weights = self.edit_weights(self.last_attn_weights)  # (B, H, T, T_k) -> same
                out = self.last_attn_weights @ v  # (B, H, T, d_head)
            if p > 0:  # dropout on the weights, as the fused kernel's dropout_p does
                out = F.dropout(self.last_attn_weights, p, training=True) @ v  # (B, H, T, d_head)
        elif T_k == T and (self.window is None or self.window >= T):
            # is_causal lets the kernel skip the upper triangle; enable_gqa shares k, v without copying them.
            out = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, scale=self.scale, dropout_p=p, enable_gqa=self.groups > 1
            )
        else:  # a window, or cached keys: the (T, T_k) mask's rows are the last T rows of the causal (T_k, T_k) one
            mask = sliding_window_mask(T_k, self.window, device=x.device)[T_k - T:]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale, dropout_p=p,
                                                 enable_gqa=self.groups > 1)
        out = out.transpose(1, 2).reshape(B, T, self.num_heads * self.d_head)  # (B, H, T, d_head) -> (B, T, H*d_head)
        return self.o_proj(out)  # (B, T, d_model)
