"""Small, measured experiments on the decoder-only transformer: a character-level task, a short training loop,
the residual/norm ablation grid and forward+backward throughput.

What it does:
  * :class:`CharTask`: a text turned into character ids, with random (x, y) windows for next-token prediction
    (y is x shifted left by one) drawn from a seeded ``torch.Generator``, and a fixed held-out set of windows.
  * :func:`train_steps`: Adam(W) with an optional linear warm-up, a tqdm bar, per-step loss and gradient norm;
    a run whose loss turns NaN/inf stops and is reported as diverged instead of raising.
  * :func:`ablation_configs`: pre-norm vs post-norm vs no residual, the same model otherwise.
  * :func:`component_ladder` and :func:`seeded_runs`: classic to Mistral-style one component at a time, each
    trained with several seeds (chapter 12 reports mean and spread).
  * :func:`throughput`: forward+backward tokens per second of a model at one batch shape.

What it deliberately does not do: checkpoints, schedules beyond warm-up, subword tokenizers, evaluation of
samples. Chapter 14's training module does those; this one is sized for a chapter's quick profile.

Taught in chapter 12 (The decoder-only transformer from scratch).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from mlcourse.model.transformer import TransformerConfig, TransformerLM
from mlcourse.training.batching import random_windows


class CharTask:
    """Next-character prediction on ``text``: ids (N,), a vocabulary, training and held-out windows."""

    def __init__(self, text: str, seq_len: int, *, held_out_fraction: float = 0.1, seed: int = 0) -> None:
        if len(text) < 10 * (seq_len + 1):
            raise ValueError(f"text of {len(text)} characters is too short for windows of {seq_len} + 1.")
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        ids = torch.tensor([self.stoi[ch] for ch in text], dtype=torch.long)  # (N,)
        split = int(len(ids) * (1 - held_out_fraction))
        self.train_ids, self.held_out_ids = ids[:split], ids[split:]
        self.seq_len, self.seed = seq_len, seed

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def windows(self, ids: torch.Tensor, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each (batch_size, seq_len): random windows of ``ids`` and the same windows one step later,
        drawn by chapter 13's :func:`~mlcourse.training.batching.random_windows`. The windows never reach the
        last id of ``ids`` (this task's windows have always stopped one short), so the draws, and chapter 12's
        numbers, are the ones this task made before it used the shared sampler."""
        return random_windows(ids[:-1], batch_size, self.seq_len, generator)

    def held_out(self, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed set of held-out windows (the same for every model compared)."""
        return self.windows(self.held_out_ids, batch_size, torch.Generator().manual_seed(self.seed + 1))


@dataclass
class TrainLog:
    """What :func:`train_steps` measured: per-step training loss and gradient norm, held-out loss at the end."""

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    held_out_loss: float = float("nan")
    seconds: float = 0.0
    diverged: bool = False


def train_steps(
    model: nn.Module,
    task: CharTask,
    steps: int,
    *,
    batch_size: int = 16,
    lr: float = 1e-3,
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    seed: int = 0,
    desc: str = "train",
    progress: bool = True,
) -> TrainLog:
    """Train ``model`` (a :class:`~mlcourse.model.transformer.TransformerLM`) for ``steps`` Adam steps on ``task``.

    The batches depend on ``seed`` only, so two models trained with the same seed see the same data.
    The gradient norm is measured before any clipping (there is none here: the ablations want to see it).
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    log, start = TrainLog(), time.perf_counter()
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=5.0, file=sys.stdout, ncols=90)
    for step in bar:
        for group in optimizer.param_groups:  # linear warm-up from lr/warmup to lr, then constant
            group["lr"] = lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr
        x, y = task.windows(task.train_ids, batch_size, generator)
        loss = model.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None))
        log.losses.append(loss.item())
        log.grad_norms.append(grad_norm.item())
        if not math.isfinite(log.losses[-1]):
            log.diverged = True
            break
        optimizer.step()
    log.seconds = time.perf_counter() - start
    if not log.diverged:
        model.eval()
        with torch.no_grad():
            log.held_out_loss = model.loss(*task.held_out()).item()
    return log


def ablation_configs(base: TransformerConfig) -> dict[str, TransformerConfig]:
    """The three wirings of the residual stream compared in chapter 12, otherwise identical to ``base``."""
    return {
        "pre-norm": base.with_(norm_placement="pre", residual=True),
        "post-norm": base.with_(norm_placement="post", residual=True),
        "no residual": base.with_(norm_placement="pre", residual=False),
    }


def component_ladder(common: dict, *, d_ff_swiglu: int, n_kv_heads: int) -> dict[str, TransformerConfig]:
    """From the classic model to the Mistral-style one, one component at a time: each entry changes one thing in
    the entry before it. The first entry is the classic model with the 2017 unit-amplitude position table (the
    configuration before chapter 12's position-scale fix); the last equals ``TransformerConfig.mistral``."""
    classic = TransformerConfig.classic(**common)
    rms = classic.with_(norm="rmsnorm")
    rope = rms.with_(positions="rope")
    swiglu = rope.with_(ffn="swiglu", d_ff=d_ff_swiglu)
    return {
        "classic, unit sinusoids (2017 table)": classic.with_(position_scale=1.0),
        "classic (scaled sinusoids)": classic,
        "+ RMSNorm": rms,
        "+ RoPE": rope,
        "+ SwiGLU": swiglu,
        "+ GQA, no biases (= Mistral-style)": swiglu.with_(n_kv_heads=n_kv_heads, bias=False),
    }


def seeded_runs(configs: dict[str, TransformerConfig], task: CharTask, steps: int, seeds: list[int], *,
                tail: int = 20, **train_kwargs) -> tuple[list[dict], list[dict]]:
    """Train every config once per seed (the seed sets the initial weights and the batches; every config sees the
    same batches for a given seed). Returns (runs, curves): one row per (config, seed) with the final training
    loss (mean of the last ``tail`` steps) and the held-out loss, and one row per (config, seed, step)."""
    runs, curves = [], []
    for name, config in configs.items():
        for seed in seeds:
            torch.manual_seed(seed)
            model = TransformerLM(config)
            log = train_steps(model, task, steps, seed=seed, progress=False, **train_kwargs)
            runs.append({"model": name, "seed": seed, "parameters": sum(p.numel() for p in model.parameters()),
                         "final loss": sum(log.losses[-tail:]) / len(log.losses[-tail:]),
                         "held-out loss": log.held_out_loss, "seconds": log.seconds, "diverged": log.diverged})
            curves += [{"model": name, "seed": seed, "step": s, "loss": loss} for s, loss in enumerate(log.losses)]
    return runs, curves


def throughput(models: dict[str, nn.Module], vocab_size: int, batch_size: int, seq_len: int, *, repeats: int = 7,
               warmup: int = 2, seed: int = 0) -> dict[str, float]:
    """Forward + backward tokens per second of each model on the same random (batch_size, seq_len) input.

    The models take turns step by step (A, B, A, B, ...), so a slow spell of a shared machine hits them all
    alike; each model's median step time gives its rate.
    """
    x = torch.randint(0, vocab_size, (batch_size, seq_len), generator=torch.Generator().manual_seed(seed))
    times: dict[str, list[float]] = {name: [] for name in models}
    for i in range(warmup + repeats):
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            model.zero_grad(set_to_none=True)
            model.loss(x, x).backward()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: batch_size * seq_len / sorted(t)[len(t) // 2] for name, t in times.items()}
