"""Synthetic sequence tasks whose correct attention pattern is known, a one-layer attention model, and its loop.

Tasks (all generated with a ``torch.Generator``, so a seed gives the same batches on every machine):
  * REVERSE (read with no mask): the target at position i is the input token at position T-1-i. The ideal
    attention pattern is the anti-diagonal.
  * COPY (causal, next-token prediction): ``a_1 .. a_n SEP a_1 .. a_n``. The first half is random, so no model
    that only sees the past can predict it better than chance: its loss is at least ln(V). The second half
    repeats the first, so query i (i >= n) should read key i - n, which holds the token that comes next: a
    diagonal shifted by n. A model whose loss on the first half drops below ln(V) is seeing the future.
  * PREV_FIRST (causal): the target at position i >= 1 names the ordered pair (token at i-1, token at 0), a
    class among V*V. One head has to blend both positions into one vector (unequal weights keep them apart);
    two heads can take one position each: a task for measuring head specialisation.

The model: token embedding + learned position embedding -> one :class:`MultiHeadAttention` (+ residual) ->
linear output head. No MLP, no LayerNorm, no stacking: the smallest model in which attention has to do the
work, so its weights can be read off directly. Around it: a minimal Adam loop with a tqdm bar, and measurements
(loss and accuracy per position, the COPY report against the ln(V) floor, the match of an attention map with its
ideal pattern, and ``future_leak``, the test that a causal model's outputs ignore the future).

Not here: real text, tokenizers, padding, checkpoints, schedules; the transformer of chapter 12 has those.

Taught in chapter 12.1 (Attention mechanisms).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mlcourse.model.attention import MultiHeadAttention, causal_mask

IGNORE_INDEX = -100  # targets with this value are left out of the loss (F.cross_entropy's default)

Batch = tuple[torch.Tensor, torch.Tensor]  # (x, y): input tokens (B, T) and target classes (B, T)


def _random_tokens(batch_size: int, length: int, vocab_size: int, generator: torch.Generator) -> torch.Tensor:
    if batch_size < 1 or length < 1 or vocab_size < 2:
        raise ValueError(
            f"need batch_size >= 1, length >= 1 and vocab_size >= 2, got {batch_size}, {length}, {vocab_size}."
        )
    return torch.randint(0, vocab_size, (batch_size, length), generator=generator)  # (B, length)


def reverse_batch(batch_size: int, seq_len: int, vocab_size: int, generator: torch.Generator) -> Batch:
    """REVERSE: x is random tokens (B, T); y = x flipped along time, so y[:, i] = x[:, T-1-i]."""
    x = _random_tokens(batch_size, seq_len, vocab_size, generator)  # (B, T)
    return x, x.flip(-1)


def reverse_ideal_keys(seq_len: int) -> torch.Tensor:
    """(T,) long: the key each REVERSE query should read, T-1-i (the anti-diagonal)."""
    return torch.arange(seq_len).flip(0)


def copy_batch(batch_size: int, half_len: int, vocab_size: int, generator: torch.Generator) -> Batch:
    """COPY for next-token prediction: s = [a_1..a_n, SEP, a_1..a_n], x = s[:-1], y = s[1:], both (B, 2n).

    Content tokens are 0..V-1 and SEP is token V, so the model needs V + 1 input tokens.
    """
    first_half = _random_tokens(batch_size, half_len, vocab_size, generator)  # (B, n)
    sep = torch.full((batch_size, 1), vocab_size, dtype=first_half.dtype)  # (B, 1)
    s = torch.cat([first_half, sep, first_half], dim=1)  # (B, 2n + 1)
    return s[:, :-1], s[:, 1:]  # (B, 2n) each


def copy_predictable(half_len: int) -> torch.Tensor:
    """(2n,) bool: True where the COPY target can be known from the past (positions n-1 .. 2n-1)."""
    return torch.arange(2 * half_len) >= half_len - 1


def copy_ideal_keys(half_len: int) -> torch.Tensor:
    """(2n,) long: the key each COPY query should read (i - n for i >= n), -1 where there is none."""
    i = torch.arange(2 * half_len)
    return torch.where(i >= half_len, i - half_len, torch.full_like(i, -1))


def prev_first_batch(batch_size: int, seq_len: int, vocab_size: int, generator: torch.Generator) -> Batch:
    """PREV_FIRST: y[:, i] = x[:, i-1] * V + x[:, 0] for i >= 1 (a class among V*V); y[:, 0] is ignored."""
    x = _random_tokens(batch_size, seq_len, vocab_size, generator)  # (B, T)
    y = torch.full_like(x, IGNORE_INDEX)
    y[:, 1:] = x[:, :-1] * vocab_size + x[:, :1]  # (B, T-1): previous token, then the first token
    return x, y


class TinyAttentionModel(nn.Module):
    """tokens -> embedding + position -> one multi-head attention (+ residual) -> logits.

    Args:
        vocab_size: number of input tokens.
        num_classes: number of output classes (``vocab_size`` for most tasks).
        seq_len: the longest sequence; one learned position vector per position.
        d_model, num_heads: width and number of heads of the attention layer.
        causal: apply the causal mask by default (a mask given to ``forward`` replaces it).
        residual: add the layer's input to its output (the standard transformer wiring).
        scale: attention score scale, ``None`` = 1/sqrt(d_head).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        seq_len: int,
        d_model: int = 32,
        num_heads: int = 1,
        *,
        causal: bool = False,
        residual: bool = True,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.causal = causal
        self.residual = residual
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)
        self.attn = MultiHeadAttention(d_model, num_heads, scale=scale)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T) tokens -> (logits (B, T, num_classes), attn_weights (B, H, T, T))."""
        T = x.shape[1]
        if T > self.seq_len:
            raise ValueError(f"sequence length {T} exceeds the model's seq_len={self.seq_len}.")
        if mask is None and self.causal:
            mask = causal_mask(T, device=x.device)  # (T, T)
        h = self.tok_emb(x) + self.pos_emb(torch.arange(T, device=x.device))  # (B, T, d) + (T, d) -> (B, T, d)
        attn_out, attn_weights = self.attn(h, mask)  # (B, T, d), (B, H, T, T)
        h = h + attn_out if self.residual else attn_out  # (B, T, d)
        return self.head(h), attn_weights  # (B, T, num_classes)


def sequence_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over all positions whose target is not IGNORE_INDEX. logits (B, T, C), y (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)


def train_model(
    model: nn.Module,
    make_batch: Callable[[torch.Generator], Batch],
    steps: int,
    *,
    lr: float = 3e-3,
    seed: int = 0,
    mask: torch.Tensor | None = None,
    progress: bool = True,
    desc: str = "training",
) -> list[float]:
    """Train ``model`` with Adam on fresh batches from ``make_batch(generator)``; return the loss of every step.

    ``mask`` (boolean, True = may attend) replaces the model's own mask; the pitfalls section passes a wrong one
    on purpose. Batches come from a generator seeded with ``seed`` and are moved to the model's device.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    mask = None if mask is None else mask.to(device)
    losses: list[float] = []
    model.train()
    # stdout, not stderr: the book shows stdout, and a text bar works in Jupyter, Colab and the terminal alike
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=1.0, file=sys.stdout, ncols=90)
    for _ in bar:
        x, y = (t.to(device) for t in make_batch(generator))
        logits, _ = model(x, mask)  # (B, T, C)
        loss = sequence_loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    model.eval()
    return losses


@torch.no_grad()
def loss_by_position(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position mean loss and accuracy over the batch: two (T,) tensors (NaN where y is all ignored)."""
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    logits, _ = model(x, None if mask is None else mask.to(device))  # (B, T, C)
    loss = F.cross_entropy(logits.transpose(1, 2), y, ignore_index=IGNORE_INDEX, reduction="none")  # (B, T)
    kept = (y != IGNORE_INDEX).float()  # (B, T)
    correct = (logits.argmax(-1) == y).float() * kept  # (B, T)
    count = kept.sum(0)  # (T,)
    return (loss * kept).sum(0).cpu() / count.cpu(), correct.sum(0).cpu() / count.cpu()


def copy_task_report(
    model: nn.Module,
    half_len: int,
    vocab_size: int,
    *,
    batch_size: int = 512,
    seed: int = 1234,
    mask: torch.Tensor | None = None,
) -> dict[str, float]:
    """Loss and accuracy of a COPY model on the unpredictable first half and the predictable rest.

    ``floor`` is ln(V): the least loss any model that sees only the past can reach on the first half.
    """
    x, y = copy_batch(batch_size, half_len, vocab_size, torch.Generator().manual_seed(seed))
    loss, acc = loss_by_position(model, x, y, mask)  # (2n,), (2n,)
    predictable = copy_predictable(half_len)  # (2n,)
    return {
        "loss_unpredictable": loss[~predictable].mean().item(),
        "loss_predictable": loss[predictable].mean().item(),
        "acc_unpredictable": acc[~predictable].mean().item(),
        "acc_predictable": acc[predictable].mean().item(),
        "floor": math.log(vocab_size),
    }


def pattern_match(attn_weights: torch.Tensor, ideal_keys: torch.Tensor) -> tuple[float, float]:
    """How well a (T_q, T_k) attention map follows an ideal pattern given as one key per query (-1 = none).

    Returns (argmax_accuracy, mass_on_ideal): the fraction of queries whose largest weight is on their ideal key,
    and the mean weight they put there. Queries whose ideal key is -1 are left out.
    """
    queries = torch.nonzero(ideal_keys >= 0).squeeze(-1)  # (Q,) queries that have an ideal key
    keys = ideal_keys[queries]  # (Q,)
    rows = attn_weights[queries]  # (Q, T_k)
    argmax_accuracy = (rows.argmax(-1) == keys).float().mean().item()
    mass_on_ideal = rows.gather(-1, keys.unsqueeze(-1)).mean().item()  # (Q, 1) -> scalar
    return argmax_accuracy, mass_on_ideal


@torch.no_grad()
def future_leak(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, position: int, generator: torch.Generator
) -> float:
    """The debugging test for causality: how much do outputs up to ``position`` move when the future changes?

    Replaces every input after ``position`` (random tokens for integer x, N(0, 1) vectors for float x) and
    returns the largest absolute change of ``forward(x)[:, :position + 1]``. A causal model gives exactly 0.

    Args:
        forward: maps x (B, T) or (B, T, d) to outputs (B, T, ...).
        x: the inputs; position: the last position that must not be affected.
    """
    x_changed = x.clone()
    future = x_changed[:, position + 1 :]  # (B, T - position - 1, ...)
    if x.is_floating_point():
        future.copy_(torch.randn(future.shape, generator=generator, dtype=x.dtype))
    else:
        future.copy_(torch.randint(0, int(x.max()) + 1, future.shape, generator=generator))
    before, after = forward(x)[:, : position + 1], forward(x_changed)[:, : position + 1]
    return (before - after).abs().max().item()


@torch.no_grad()
def mean_attention(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention weights averaged over a batch of inputs x (B, T): (H, T, T) on the CPU."""
    device = next(model.parameters()).device
    _, attn_weights = model(x.to(device), None if mask is None else mask.to(device))  # (B, H, T, T)
    return attn_weights.mean(0).cpu()
