"""The parts a decoder block is assembled from: norms, position encodings, feed-forward networks, window masks.

What it does, each part in its classic form and in the form Mistral 7B uses:
  * norms: ``nn.LayerNorm`` (classic: subtract the mean, divide by the standard deviation, scale and shift) and
    :class:`RMSNorm` (Mistral: divide by the root mean square only, scale, no shift). ``make_norm`` picks one.
    :meth:`RMSNorm.explicit` is the formula written out op by op; by default the module runs
    :class:`FusedRMSNorm` instead, the same numbers with a hand-written backward pass (half the small ops).
  * absolute positions added to the token embeddings: :func:`sinusoidal_positions` (fixed sines and cosines)
    or a learned table (an ``nn.Embedding`` built in :mod:`mlcourse.model.transformer`).
  * rotary position embeddings (RoPE, Mistral): :class:`RotaryEmbedding` gives cos/sin per position and
    :func:`apply_rope` rotates each (i, i + d/2) pair of a query or key by a position-dependent angle, so that
    q_m . k_n depends on m - n only. The pairing is the "rotate half" layout of Hugging Face's Mistral code, so
    weights copy across with no permutation. :func:`apply_rope_fused` gives the same rotation in three ops (a
    roll and a fused multiply-add against a sign-folded sine) for both queries and keys.
  * :func:`use_fused_parts`: switch a whole model between the explicit and the fused versions (the chapter and
    the tests check that both give the same logits; ``python -m mlcourse bench`` times them).
  * feed-forward networks: :class:`FeedForward` with ``kind="gelu"`` (up_proj -> GELU -> down_proj) or
    ``kind="swiglu"`` (down_proj(SiLU(gate_proj x) * up_proj x), Mistral's MLP with the same names).
  * :func:`sliding_window_mask`: the causal mask in which query i reads only the last ``window`` keys.

What it deliberately does not do: dropout, RoPE scaling variants (NTK, YaRN), key-value caches, or mixed
precision policy. The attention itself lives in :mod:`mlcourse.model.attention` and :mod:`mlcourse.model.gqa_attention`.

Taught in chapter 12 (The decoder-only transformer from scratch).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.model.attention import causal_mask

NormKind = Literal["layernorm", "rmsnorm", "none"]
FFNKind = Literal["gelu", "swiglu"]


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, over the last dimension: LayerNorm without the mean and the bias.

    Computed in float32 whatever the input dtype (as Hugging Face's ``MistralRMSNorm`` does), then cast back.
    ``fused=True`` (the default) runs :class:`FusedRMSNorm` on float32 inputs; ``fused=False`` runs
    :meth:`explicit`. Both give the same values and gradients (to float32 rounding).
    """

    def __init__(self, d_model: int, eps: float = 1e-5, fused: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.fused = fused
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_model) -> (..., d_model)."""
        if self.fused and x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            return FusedRMSNorm.apply(x, self.weight, self.eps)
        return self.explicit(x)

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The formula op by op (what autograd differentiates): x: (..., d_model) -> (..., d_model)."""
        x32 = x.float()
        rms_inv = torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # (..., 1)
        return self.weight * (x32 * rms_inv).to(x.dtype)


class FusedRMSNorm(torch.autograd.Function):
    """RMSNorm with its gradient written by hand: 6 ops forward and 8 backward instead of autograd's ~20.

    With x_hat = x * r, r = 1 / sqrt(mean(x^2) + eps) and y = x_hat * w, the backward pass is
    dL/dw = sum over positions of g * x_hat and dL/dx = r * (g w - x_hat * mean(g w * x_hat)).
    (``torch.nn.functional.rms_norm`` is no faster on CPU: there it is the same composite of small ops.)
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        rms_inv = torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + eps)  # (..., 1)
        x_hat = x * rms_inv  # (..., d)
        ctx.save_for_backward(x_hat, rms_inv, weight)
        return x_hat * weight

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        x_hat, rms_inv, weight = ctx.saved_tensors
        grad_weight = (grad * x_hat).reshape(-1, x_hat.shape[-1]).sum(dim=0)  # (d,)
        grad_x_hat = grad * weight  # (..., d)
        grad_x = rms_inv * (grad_x_hat - x_hat * (grad_x_hat * x_hat).mean(dim=-1, keepdim=True))
        return grad_x, grad_weight, None


def make_norm(kind: NormKind, d_model: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """A LayerNorm, an :class:`RMSNorm` or an identity (``"none"``, for the ablations), over ``d_model``."""
    if kind == "layernorm":
        return nn.LayerNorm(d_model, eps=eps, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(d_model, eps=eps)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown norm {kind!r}; use 'layernorm', 'rmsnorm' or 'none'.")


def sinusoidal_positions(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed position table of "Attention is all you need": (max_len, d_model).

    Row p, columns 2i and 2i+1 hold sin(p / base^(2i/d)) and cos(p / base^(2i/d)): every dimension pair is a
    clock with its own period, from 2*pi (fast) to base*2*pi (slow), so every row is different.
    """
    if d_model % 2 != 0 or max_len < 1:
        raise ValueError(f"sinusoidal positions need an even d_model and max_len >= 1, got {d_model}, {max_len}.")
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    inv_freq = torch.exp(-math.log(base) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (d/2,)
    angles = position * inv_freq  # (max_len, d/2)
    table = torch.empty(max_len, d_model)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a 90 degree turn of every (i, i+d/2) pair."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (i, i + d/2) pair of x by the angle of its position: x * cos + rotate_half(x) * sin.

    Args:
        x: queries or keys, (B, H, T, d_head).
        cos, sin: (T, d_head) from :class:`RotaryEmbedding` (each angle appears twice, once per half).
    """
    if cos.shape != (x.shape[-2], x.shape[-1]):
        raise ValueError(f"cos/sin of shape {tuple(cos.shape)} do not fit x of shape {tuple(x.shape)} (B, H, T, d).")
    return x * cos + rotate_half(x) * sin


def apply_rope_fused(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`apply_rope` on queries and keys with fewer ops: rotate_half(x) * sin == roll(x) * signed_sin.

    Rolling the last dimension by d/2 swaps the halves, (x1, x2) -> (x2, x1), in one op; the minus sign of
    rotate_half moves into the sine table (its first half negated, once for q and k). Each rotation is then
    ``addcmul(x * cos, roll(x), signed_sin)``: 3 ops instead of 7. q: (B, H, T, d), k: (B, H_kv, T, d).
    """
    half = q.shape[-1] // 2
    if cos.shape != (q.shape[-2], q.shape[-1]):
        raise ValueError(f"cos/sin of shape {tuple(cos.shape)} do not fit q of shape {tuple(q.shape)} (B, H, T, d).")
    signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)  # (T, d): -sin on the first half
    q = torch.addcmul(q * cos, q.roll(half, dims=-1), signed_sin)  # (B, H, T, d)
    k = torch.addcmul(k * cos, k.roll(half, dims=-1), signed_sin)  # (B, H_kv, T, d)
    return q, k


def use_fused_parts(model: nn.Module, fused: bool = True) -> nn.Module:
    """Switch every RMSNorm and RoPE of ``model`` to the fused (``True``) or the explicit (``False``) version.

    Weights, outputs and gradients stay the same (to float32 rounding); only the number of small ops changes.
    Returns ``model``. Modules that take part have a ``fused`` (RMSNorm) or ``fused_rope`` (attention) attribute.
    """
    for module in model.modules():
        if isinstance(module, RMSNorm):
            module.fused = fused
        if hasattr(module, "fused_rope"):
            module.fused_rope = fused
    return model


class RotaryEmbedding(nn.Module):
    """cos and sin of the rotary angles p * theta^(-2i/d_head) for positions p = 0 .. T-1.

    The frequencies are a non-persistent buffer (rebuilt from ``theta``, never saved in a checkpoint), as in
    Hugging Face's Mistral. :meth:`angles` computes the table; ``forward`` looks rows up in a cached copy (built
    once, regrown when a longer position is asked for), so a training step does not recompute cos and sin.
    """

    def __init__(self, d_head: int, theta: float = 10000.0) -> None:
        super().__init__()
        if d_head % 2 != 0:
            raise ValueError(f"RoPE rotates pairs of dimensions, so d_head must be even, got {d_head}.")
        inv_freq = 1.0 / theta ** (torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)  # (d_head/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._table: tuple[torch.Tensor, torch.Tensor] | None = None  # (cos, sin), each (N, d_head), float32

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """positions: (T,) -> angles (T, d_head), the same angle for i and i + d_head/2."""
        angles = positions.float()[:, None] * self.inv_freq.float()[None, :]  # (T, d_head/2)
        return torch.cat((angles, angles), dim=-1)  # (T, d_head)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions: (T,) integer positions -> (cos, sin), each (T, d_head), rows of the cached table."""
        if torch.compiler.is_compiling():  # inside a compiled graph: no Python int from a tensor, compute the rows
            angles = self.angles(positions)
            return angles.cos(), angles.sin()
        needed = int(positions.max()) + 1 if positions.numel() else 0
        table = self._table
        if table is None or table[0].shape[0] < needed or table[0].device != self.inv_freq.device:
            size = max(256, 1 << max(needed - 1, 0).bit_length())  # room to grow: powers of two
            angles = self.angles(torch.arange(size, device=self.inv_freq.device))  # (size, d_head)
            table = self._table = (angles.cos(), angles.sin())
        positions = positions.to(table[0].device)
        return table[0][positions], table[1][positions]  # (T, d_head) each


class FeedForward(nn.Module):
    """The position-wise MLP of a block, applied to every position independently.

    ``kind="gelu"``: down_proj(GELU(up_proj x)), the classic two-layer MLP (GPT-2, BERT).
    ``kind="swiglu"``: down_proj(SiLU(gate_proj x) * up_proj x), the gated MLP of Mistral and LLaMA; its third
    matrix is why Mistral's d_ff (14336) is 3.5 x d_model rather than 4 x: the same budget spread over 3 matrices.
    """

    def __init__(self, d_model: int, d_ff: int, kind: FFNKind = "gelu", bias: bool = True) -> None:
        super().__init__()
        if kind not in ("gelu", "swiglu"):
            raise ValueError(f"Unknown feed-forward kind {kind!r}; use 'gelu' or 'swiglu'.")
        self.kind = kind
        if kind == "swiglu":
            self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_ff) inside -> (B, T, d_model)."""
        if self.kind == "swiglu":
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(F.gelu(self.up_proj(x)))


def sliding_window_mask(T: int, window: int | None, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) boolean mask, True where query i may read key j: i - window < j <= i (``None``: plain causal).

    With ``window=w`` each query sees itself and the w - 1 keys before it, the convention of Hugging Face's
    Mistral (``sliding_window=4096`` there). Stacked layers still pass information further: after L layers a
    position can be influenced by about L * (w - 1) positions back.
    """
    mask = causal_mask(T, device=device)
    if window is None:
        return mask
    if window < 1:
        raise ValueError(f"sliding window must be a positive number of keys, got {window}.")
    return mask.triu(diagonal=-(window - 1))  # drop keys more than window-1 positions back
