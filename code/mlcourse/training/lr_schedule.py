"""The optimiser's settings for pretraining: AdamW parameter groups and the warm-up + cosine learning-rate schedule.

What it does:
  * :func:`lr_at`: a pure function of the step number. Linear warm-up from ``max_lr / warmup_steps`` to
    ``max_lr`` over the first ``warmup_steps`` steps, then half a cosine down to ``min_lr`` at ``total_steps``.
    Warm-up keeps the first updates small while Adam's second-moment estimates are still noisy; the cosine
    spends the end of the run at small steps, where the loss settles into a minimum instead of bouncing around it.
  * :func:`parameter_groups` / :func:`build_adamw`: weight decay only on matrices (tensors with dim >= 2:
    the linear layers and the token embedding), none on vectors (norm gains, biases). Shrinking a norm's gain
    or a bias towards zero is not a useful prior (they set scales and offsets, not features), and it fights the
    norm. Embeddings are decayed, as in GPT-2 / nanoGPT: they are matrices of features like any linear layer,
    and with tied embeddings the same matrix *is* the output layer, so it must get one treatment.

What it deliberately does not do: other optimisers or schedules (constant, step, WSD), per-layer learning
rates, or gradient clipping (that lives in :mod:`mlcourse.training.loop`).

Taught in chapter 14 (Pretraining a tiny transformer on Shakespeare).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate for optimizer step ``step`` (0-based: step 0 is the first update).

    * ``step < warmup_steps``: ``max_lr * (step + 1) / warmup_steps`` (never 0, so step 0 already learns);
    * then ``min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2`` with
      ``progress = (step - warmup_steps) / (total_steps - warmup_steps)``, clamped to [0, 1], so
      ``lr_at(warmup_steps) == max_lr``, the midpoint gives the mean of the two and ``total_steps`` gives ``min_lr``.

    Raises ``ValueError`` on a negative step, ``min_lr > max_lr`` or ``warmup_steps >= total_steps``.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}.")
    if warmup_steps < 0 or warmup_steps >= total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, total_steps={total_steps}; "
            "shorten the warm-up (a few percent of the run is typical)."
        )
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: matrices (dim >= 2) with ``weight_decay``, vectors (norms, biases) with none.

    Tied parameters appear once (``named_parameters`` de-duplicates them).
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}.")
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "matrices"},
        {"params": no_decay, "weight_decay": 0.0, "name": "norms_and_biases"},
    ]


def build_adamw(
    model: nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`; the fused CUDA kernel on a GPU (one launch for all parameters)."""
    fused = device.type == "cuda"
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=tuple(betas), fused=fused)
