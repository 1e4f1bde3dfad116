"""How a training step's time splits between forward, backward and the optimizer.

:func:`profile_step_phases` runs a few steps of a copy of the model on random ids and times each phase with
``time.perf_counter`` between device synchronisations; the percentages say where an optimisation would pay
(on a small model on a CPU the optimizer's share is far from negligible; on a GPU the matrix multiplications of
forward and backward dominate, backward costing about twice forward).

What it deliberately does not do: operator-level profiles (use ``torch.profiler`` for those), data loading
(training windows are a cheap gather), or evaluation time.

Taught in chapter 14 (Pretraining a tiny transformer on Shakespeare).
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from mlcourse.course.device import autocast_dtype, resolve_device
from mlcourse.training.lr_schedule import build_adamw
from mlcourse.training.loop import clip_gradients, lm_loss


def profile_step_phases(model: nn.Module, batch_size: int, seq_len: int, *, steps: int = 5, warmup: int = 2,
                        device: str | torch.device = "auto", seed: int = 0) -> dict[str, float]:
    """Time forward, backward and optimizer separately on a copy of ``model`` (the original is untouched).

    Each phase is timed with ``time.perf_counter`` between device synchronisations (without them a GPU's
    asynchronous launches would charge one phase's work to the next); the median over ``steps`` is kept.
    Returns seconds per phase, their percentages of the step and training tokens per second.
    """
    dev = resolve_device(device)
    amp = autocast_dtype(dev)
    work = copy.deepcopy(model).to(dev).train()
    optimizer = build_adamw(work, lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95), device=dev)
    vocab = work.config.vocab_size
    window = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=torch.Generator().manual_seed(seed)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (torch.mps.synchronize if dev.type == "mps" else None)
    times: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    for i in range(warmup + steps):
        marks = []
        for phase in range(4):
            if sync:
                sync()
            marks.append(time.perf_counter())
            if phase == 0:
                loss = lm_loss(work, window, amp)
            elif phase == 1:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            elif phase == 2:
                clip_gradients(work, 1.0)
                optimizer.step()
        if i >= warmup:
            for name, t0, t1 in zip(times, marks, marks[1:]):
                times[name].append(t1 - t0)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    total = sum(median.values())
    out = {f"{name}_s": s for name, s in median.items()}
    out.update({f"{name}_pct": 100 * s / total for name, s in median.items()})
    out["step_s"], out["tokens_per_s"] = total, batch_size * seq_len / total
    return out
