"""Scaled dot-product attention, the causal mask and multi-head self-attention, returning the weights.

What it does:
  * ``scaled_dot_product_attention(q, k, v, mask)``: softmax(q k^T / sqrt(d_k)) v, written out step by step so
    that every intermediate (scores, weights) can be inspected; it returns the attention weights too.
  * ``causal_mask(T)``: the lower-triangular boolean mask of a decoder (query i may read keys 0..i).
  * ``attention_entropy(attn_weights)``: how spread out each query's attention is, in nats.
  * ``MultiHeadAttention``: self-attention with all heads computed in parallel (one matrix multiply per
    projection, a reshape to (B, H, T, d_head), no Python loop over heads). Its projections are named like
    Mistral's (q_proj, k_proj, v_proj, o_proj), so later chapters can copy weights across without renaming.

Mask convention, used everywhere in the course: a boolean tensor where ``True`` means "this query MAY attend to
this key". It is the convention of ``torch.nn.functional.scaled_dot_product_attention``; note that
``torch.nn.MultiheadAttention`` uses the OPPOSITE one (True = blocked). Float (additive) masks are not accepted.

What it deliberately does not do: dropout, cross-attention (keys from another sequence), key-value caching,
rotary position embeddings or grouped-query attention (chapter 12 adds the last two on top of this module).
A query row whose keys are ALL masked has nothing to attend to: its weights come out as NaN, loudly, rather
than as a silent uniform average.

Taught in chapter 12.1 (Attention mechanisms).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> None:
    """Raise ``ValueError`` unless ``mask`` is boolean and broadcasts to ``scores_shape`` (B, H, T_q, T_k)."""
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}. "
            "Convert a 0/1 mask with mask.bool(); an additive float mask is not accepted here."
        )
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores' shape "
            f"{tuple(scores_shape)} (B, H, T_q, T_k). Use (T_q, T_k) for one mask shared by all, "
            "(B, 1, 1, T_k) for per-sequence padding, or the full (B, H, T_q, T_k)."
        )


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale, masked) v, returning the output and the attention weights.

    Args:
        q: queries, (B, H, T_q, d_k). Any number of leading dimensions works, as long as q, k, v agree.
        k: keys, (B, H, T_k, d_k).
        v: values, (B, H, T_k, d_v).
        mask: optional boolean mask broadcastable to (B, H, T_q, T_k); ``True`` = the query may attend to
            that key, ``False`` = it may not (its weight becomes exactly 0).
        scale: multiplies the scores; ``None`` means 1/sqrt(d_k), which keeps the scores' variance near 1.

    Returns:
        (out, attn_weights): out is (B, H, T_q, d_v); attn_weights is (B, H, T_q, T_k), each row sums to 1.

    Raises ``ValueError`` naming the shapes when q and k disagree on d_k, k and v on T_k, or the mask does
    not fit.
    """
    if q.dim() < 2 or q.dim() != k.dim() or k.dim() != v.dim():
        raise ValueError(
            f"q, k, v must have the same number of dimensions (B, H, T, d), got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}."
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share their last dimension d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}."
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of positions T_k, got k {tuple(k.shape)} and v {tuple(v.shape)}."
        )
    d_k = q.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d_k)

    scores = (q @ k.transpose(-2, -1)) * scale  # (B, H, T_q, d_k) @ (B, H, d_k, T_k) -> (B, H, T_q, T_k)
    if mask is not None:
        _check_mask(mask, scores.shape)
        # -inf before the softmax gives exactly 0 after it: a forbidden key gets no weight and no gradient.
        scores = scores.masked_fill(~mask, float("-inf"))
    attn_weights = torch.softmax(scores, dim=-1)  # (B, H, T_q, T_k), normalised over the keys
    out = attn_weights @ v  # (B, H, T_q, T_k) @ (B, H, T_k, d_v) -> (B, H, T_q, d_v)
    return out, attn_weights


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The (T, T) boolean mask of a decoder: entry [i, j] is True when key j <= query i (the past and itself).

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    if T < 1:
        raise ValueError(f"T must be a positive sequence length, got {T}.")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # diagonal=0: i attends to j <= i


def attention_entropy(attn_weights: torch.Tensor) -> torch.Tensor:
    """Entropy of each query's attention distribution, in nats: -sum_j a_ij log a_ij.

    Args:
        attn_weights: (..., T_q, T_k), rows summing to 1 (masked keys have weight exactly 0).

    Returns:
        (..., T_q): 0 when a query looks at one key only, log(T_k) when it spreads evenly over all of them.
    """
    # xlogy(a, a) = a log a, and 0 where a == 0 (so masked keys contribute nothing instead of NaN).
    return -torch.special.xlogy(attn_weights, attn_weights).sum(dim=-1)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: project x to q, k, v, split into heads, attend per head, merge, project.

    Args:
        d_model: width of the input and output vectors.
        num_heads: number of heads H; each works in d_head = d_model / H dimensions.
        bias: whether the four projections have a bias.
        scale: score scale passed to :func:`scaled_dot_product_attention`; ``None`` = 1/sqrt(d_head).
            (Chapter 12.1 sets 1.0 on purpose, to show what a missing sqrt(d_k) does.)
    """

    def __init__(self, d_model: int, num_heads: int, *, bias: bool = True, scale: float | None = None) -> None:
        super().__init__()
        if num_heads < 1 or d_model < 1:
            raise ValueError(f"d_model and num_heads must be positive, got d_model={d_model}, num_heads={num_heads}.")
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}: each head needs d_model / num_heads "
                f"dimensions. Pick num_heads among the divisors of {d_model}."
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.scale = scale
        # One projection per role covers all heads at once: output features [h*d_head:(h+1)*d_head] are head h.
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_head).transpose(1, 2)  # (B, T, d) -> (B, H, T, d_head)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention over the positions of x.

        Args:
            x: (B, T, d_model).
            mask: optional boolean mask broadcastable to (B, H, T, T), True = may attend (e.g. (T, T), or
                (B, 1, 1, T) for padding).
            causal: also apply :func:`causal_mask` (combined with ``mask`` by logical AND).
            need_weights: return the (B, H, T, T) weights. ``False`` takes PyTorch's fused kernel instead of
                the explicit path (faster, same result) and returns ``None`` for the weights.

        Returns:
            (out, attn_weights): out is (B, T, d_model); attn_weights is (B, H, T, T) or None.
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"x must have shape (B, T, d_model={self.d_model}), got {tuple(x.shape)}."
                + (" Add a batch dimension with x.unsqueeze(0)." if x.dim() == 2 else "")
            )
        B, T, _ = x.shape
        if causal:
            tril = causal_mask(T, device=x.device)  # (T, T)
            mask = tril if mask is None else mask & tril  # broadcasts to (B, H, T, T)
        q = self._split_heads(self.q_proj(x))  # (B, T, d) -> (B, H, T, d_head)
        k = self._split_heads(self.k_proj(x))  # (B, H, T, d_head)
        v = self._split_heads(self.v_proj(x))  # (B, H, T, d_head)

        if need_weights:
            out, attn_weights = scaled_dot_product_attention(q, k, v, mask, scale=self.scale)  # (B, H, T, d_head)
        else:
            if mask is not None:
                _check_mask(mask, torch.Size((B, self.num_heads, T, T)))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)  # (B, H, T, d_head)
            attn_weights = None
        out = out.transpose(1, 2).reshape(B, T, self.d_model)  # (B, H, T, d_head) -> (B, T, H * d_head)
        return self.o_proj(out), attn_weights  # (B, T, d_model)
