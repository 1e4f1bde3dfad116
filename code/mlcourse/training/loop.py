"""The pretraining loop: AdamW, warm-up + cosine, clipping, evaluation, metrics, samples, resumable checkpoints.

What it does:
  * :class:`TrainConfig`: every knob of a run (steps, batch, schedule, clipping, evaluation, checkpoints,
    samples, seed, device, ``torch.compile``).
  * :func:`train`: trains a :class:`~mlcourse.model.transformer.TransformerLM` on a 1-D tensor of token ids. Batches
    are random (B, T + 1) windows drawn from a ``torch.Generator`` whose state goes into every checkpoint, so a
    run killed at any moment and resumed with ``resume=True`` continues the *same* curve, bit for bit on one
    machine. It writes to ``run_dir``: ``metrics.jsonl`` (one line per log step), ``samples.jsonl`` (fixed
    prompts at every evaluation) and ``step_<N>/`` checkpoints (:mod:`mlcourse.training.checkpoint`).
  * Divergence: a NaN/inf loss or gradient norm raises :class:`TrainingDiverged` (step, value, last good
    checkpoint): a blown-up run stops loudly instead of returning a flag a notebook could overlook. A checkpoint
    is never written from non-finite weights, so the last one on disk is always a good place to resume from.

Device policy: cuda trains under bf16 autocast with fused AdamW (optionally ``torch.compile``); mps and cpu train
in float32. Early stopping: ``keep_best=True`` also keeps the checkpoint of the lowest held-out loss in
``run_dir/best/`` (the base model exports it). Not done here: gradient accumulation, cutting a run short (it runs
its steps; ``best/`` holds what a stopped run would have kept), or tokenisation (ids in, ids out).

Taught in chapter 14 (Pretraining a tiny transformer on Shakespeare).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from mlcourse.training import checkpoint as ckpt
from mlcourse.training.distributed import SINGLE, World
from mlcourse.training.batching import random_windows
from mlcourse.course.device import autocast_dtype, resolve_device
from mlcourse.model.generation import sample_texts
from mlcourse.model.transformer import next_token_loss
from mlcourse.training.lr_schedule import build_adamw, lr_at

BEST_DIR = "best"  # run_dir/best/step_<N>: the checkpoint of the lowest held-out loss (keep_best=True)
_CURVE_FIELDS = ("steps", "batch_size", "seq_len", "lr", "min_lr", "warmup_steps", "weight_decay", "betas",
                 "grad_clip", "seed", "eval_batches")  # fields that change the curve (checked on resume)


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became NaN/inf. ``step``, ``value``, ``checkpoint`` say where and what is left."""

    def __init__(self, step: int, what: str, value: float, checkpoint: Path | None) -> None:
        self.step, self.value, self.checkpoint = step, value, checkpoint
        kept = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written yet"
        super().__init__(f"training diverged at step {step}: {what} = {value}; {kept}. Lower the learning rate, "
                         "lengthen the warm-up or set grad_clip (e.g. 1.0), then re-run.")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (the model's architecture lives in its own config)."""

    steps: int = 1000
    batch_size: int = 32
    seq_len: int = 128
    lr: float = 1e-3  # peak learning rate, reached at the end of the warm-up
    min_lr: float = 1e-4  # where the cosine ends
    warmup_steps: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0  # max global L2 norm; None = no clipping (the norm is still measured)
    log_every: int = 10
    eval_every: int = 100  # also the sampling interval
    eval_batches: int = 8
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    sample_prompts: tuple[str, ...] = ("ROMEO:", "First Citizen:\nBefore we proceed", "To be, or not")
    sample_tokens: int = 120
    temperature: float = 0.8
    top_k: int | None = 40
    seed: int = 0
    device: str = "auto"  # a name, resolved by course.device.resolve_device (a name keeps the config JSON-able)
    compile: bool = False
    keep_best: bool = False  # also keep the checkpoint of the lowest held-out loss in run_dir/best/ (early stopping)
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "log_every", "eval_every", "eval_batches",
                     "checkpoint_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}.")
        lr_at(0, max_lr=self.lr, min_lr=self.min_lr, warmup_steps=self.warmup_steps, total_steps=self.steps)
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}.")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))  # tuples -> lists, as they come back from JSON


@dataclass
class TrainResult:
    """What a run ended with; ``metrics`` holds every line of ``metrics.jsonl``."""

    step: int
    tokens_seen: int
    val_loss: float | None
    val_bpb: float | None
    elapsed_s: float
    tokens_per_s: float
    checkpoint: Path | None
    resumed_from: int | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    best_step: int | None = None  # the evaluation step of the lowest held-out loss (step 0 excluded)
    best_val_loss: float | None = None
    best_checkpoint: Path | None = None  # run_dir/best/step_<best_step> when keep_best, else None


def sample_windows(ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> torch.Tensor:
    """(batch_size, seq_len + 1) random windows of the 1-D ``ids``: inputs are [:, :-1], targets [:, 1:].

    The same draws as chapter 13's :func:`mlcourse.training.batching.random_windows`, kept as one (B, T + 1) tensor so a
    batch moves to the device in one copy.
    """
    x, y = random_windows(ids, batch_size, seq_len, generator)  # (B, T) each, y = x shifted by one
    return torch.cat([x, y[:, -1:]], dim=1)  # (B, T + 1)


def clip_gradients(model: nn.Module, max_norm: float | None) -> float:
    """Scale all gradients so their global L2 norm is at most ``max_norm``; return the norm *before* clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(params, float("inf") if max_norm is None else max_norm))


def lm_loss(model: nn.Module, window: torch.Tensor, amp: torch.dtype | None) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of a (B, T + 1) window: the model reads ``window[:, :-1]`` (under
    autocast to ``amp`` when given) and is scored on ``window[:, 1:]`` by :func:`next_token_loss`, in float32."""
    x, y = window[:, :-1], window[:, 1:]
    with torch.autocast(window.device.type, dtype=amp) if amp else contextlib.nullcontext():
        logits = model(x)  # (B, T, V)
    return next_token_loss(logits, y)


@torch.no_grad()
def evaluate(model: nn.Module, windows: torch.Tensor, batch_size: int, amp: torch.dtype | None = None,
             loss_fn: Callable[[nn.Module, torch.Tensor, torch.dtype | None], torch.Tensor] | None = None,
             world: World = SINGLE) -> float:
    """Mean loss (nats per token) over fixed (N, T + 1) windows, in eval mode, batch by batch.
    ``loss_fn`` (default :func:`lm_loss`) scores one batch; chapter 16 passes a masked instruction loss.
    ``world`` (several processes): each rank scores its rows of every batch; the ranks average (chapter 18)."""
    loss_fn = loss_fn or lm_loss
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = [loss_fn(model, world.shard(windows[i:i + batch_size]).to(device), amp).item()
              for i in range(0, len(windows), batch_size)]
    model.train(was_training)
    return world.mean(sum(losses) / len(losses))


def train(
    model: nn.Module,
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    decode: Callable[[Sequence[int]], str] | None = None,
    encode: Callable[[str], Sequence[int]] | None = None,
    bytes_per_token: float | None = None,
    resume: bool = False,
    overwrite: bool = False,
    batch_fn: Callable[[torch.Tensor, int, int, torch.Generator], torch.Tensor] | None = None,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.dtype | None], torch.Tensor] | None = None,
    world: World = SINGLE,
) -> TrainResult:
    """Train ``model`` in place on windows of ``train_ids`` (1-D ids), evaluating on windows of ``val_ids``.

    ``bytes_per_token``: UTF-8 bytes per token of this tokenizer on this text, for bits per byte
    (``val_loss / ln 2 / bytes_per_token``), the measure that compares tokenizers; ``None`` leaves it out.
    ``encode``/``decode`` turn the sample prompts into ids and samples back into text (no samples without them).
    ``resume=True`` continues from the newest checkpoint of ``run_dir`` that verifies (a corrupt one is reported
    and skipped); a finished run returns at once. ``overwrite=True`` deletes an earlier run's files first;
    with neither, a ``run_dir`` that already holds checkpoints is an error (nothing is silently mixed).
    Raises :class:`TrainingDiverged` when the loss or gradient norm becomes NaN/inf.
    ``batch_fn(data, batch_size, seq_len, generator)`` (default :func:`sample_windows`) draws a batch from
    ``train_ids``/``val_ids`` and ``loss_fn(model, batch, amp)`` (default :func:`lm_loss`) scores it: chapter 16
    passes (N, 2, T) instruction examples (ids and masked labels) with its own pair; the default checks below
    apply to 1-D streams only. ``world`` (:mod:`mlcourse.training.distributed`, chapter 18): under torchrun each
    rank steps DDP on its rows of the global batch; rank 0 alone logs, samples and writes checkpoints.
    """
    c = config
    custom_batches = batch_fn is not None
    batch_fn, loss_fn = batch_fn or sample_windows, loss_fn or lm_loss
    for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
        if not custom_batches and (ids.dim() != 1 or len(ids) <= c.seq_len + 1):
            raise ValueError(f"{name} must be a 1-D tensor longer than seq_len + 1 = {c.seq_len + 1}, "
                             f"got shape {tuple(ids.shape)}.")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path, samples_path = run_dir / "metrics.jsonl", run_dir / "samples.jsonl"
    if ckpt.list_checkpoints(run_dir) and not (resume or overwrite):
        raise FileExistsError(f"{run_dir} already holds checkpoints; pass resume=True to continue that run, "
                              "overwrite=True to start again, or choose another run_dir.")
    if overwrite and not resume and world.is_main:
        for old in ckpt.list_checkpoints(run_dir):
            shutil.rmtree(old)
        for old in (metrics_path, samples_path, run_dir / ckpt.LATEST):
            old.unlink(missing_ok=True)

    device = resolve_device(c.device)
    amp = autocast_dtype(device)
    model.to(device).train()
    optimizer = build_adamw(model, lr=c.lr, weight_decay=c.weight_decay, betas=c.betas, device=device)
    step_model = torch.compile(world.wrap(model)) if c.compile else world.wrap(model)  # DDP on several ranks
    sampler = torch.Generator().manual_seed(c.seed)  # the training data order: its state is checkpointed
    val_windows = batch_fn(val_ids, c.eval_batches * c.batch_size, c.seq_len,
                                 torch.Generator().manual_seed(c.seed + 1))  # fixed held-out windows
    train_windows = batch_fn(train_ids, c.eval_batches * c.batch_size, c.seq_len,
                                   torch.Generator().manual_seed(c.seed + 2))  # fixed, for train-vs-val curves
    start, tokens_seen, elapsed, resumed_from, last_ckpt = 0, 0, 0.0, None, None

    if resume:
        for candidate in reversed(ckpt.list_checkpoints(run_dir)):
            try:
                state = ckpt.load_checkpoint(candidate, model, optimizer)
            except ckpt.ConfigMismatch:
                raise
            except ckpt.CheckpointError as err:  # corrupt or truncated: fall back to the one before
                print(f"skipping unusable checkpoint: {err}", file=sys.stdout)
                continue
            changed = [k for k in _CURVE_FIELDS if state["train_config"].get(k) != c.to_dict()[k]]
            if changed:
                print(f"note: resuming {candidate} with changed settings {changed}; the curve will differ.")
            ckpt.set_generator_state(sampler, state["sampler_state"])
            ckpt.set_rng_states(state["rng"])
            start, tokens_seen, elapsed = state["step"], state["tokens_seen"], state["elapsed_s"]
            resumed_from, last_ckpt = start, candidate
            break
    keep = start if resumed_from is not None else -1  # a resumed run keeps the old log up to its step; else none
    rows = ckpt.truncate_jsonl(metrics_path, keep) if world.is_main else []  # rank 0 alone writes the logs
    if world.is_main:
        ckpt.truncate_jsonl(samples_path, keep)
    best_dir = run_dir / BEST_DIR
    if world.is_main:  # a best checkpoint from past the resume point (or from an overwritten run) is stale
        for old in ckpt.list_checkpoints(best_dir):
            if ckpt.step_of(old) > start or overwrite and not resume:
                shutil.rmtree(old)
    best = _best_eval(rows)  # (step, val_loss) of the log kept so far, or None

    def log_row(step: int, train_loss: float | None, lr: float | None, grad_norm: float | None,
                tokens_per_s: float | None, with_eval: bool) -> dict[str, Any]:
        nonlocal best
        row = {"step": step, "tokens_seen": tokens_seen, "train_loss": train_loss, "train_eval_loss": None,
               "val_loss": None, "val_ppl": None, "val_bpb": None, "lr": lr, "grad_norm": grad_norm,
               "tokens_per_s": tokens_per_s, "elapsed_s": round(elapsed, 3)}
        if with_eval:
            val = evaluate(step_model, val_windows, c.batch_size, amp, loss_fn, world)
            row.update(val_loss=val, val_ppl=math.exp(min(val, 50.0)),
                       val_bpb=val / math.log(2) / bytes_per_token if bytes_per_token else None,
                       train_eval_loss=evaluate(step_model, train_windows, c.batch_size, amp, loss_fn, world))
            if encode is not None and decode is not None and world.is_main:
                texts = sample_texts(model, c.sample_prompts, encode, decode, c.sample_tokens,
                                     temperature=c.temperature, top_k=c.top_k, seed=c.seed + 1000 * step)
                with open(samples_path, "a", encoding="utf-8") as handle:
                    handle.writelines(json.dumps({"step": step, "prompt": prompt, "temperature": c.temperature,
                                                 "top_k": c.top_k, "text": text}) + "\n" for prompt, text in zip(c.sample_prompts, texts))
        rows.append(row)
        if world.is_main:
            with open(metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if with_eval and step > 0 and (best is None or row["val_loss"] < best[1]):
            best = (step, row["val_loss"])
            if c.keep_best and world.is_main:  # the weights of the lowest held-out loss so far (early stopping)
                save(step, best_dir, keep_last=1)
        return row

    def save(step: int, folder: Path = run_dir, keep_last: int = c.keep_checkpoints) -> Path:
        state = {"tokens_seen": tokens_seen, "elapsed_s": elapsed, "sampler_state": ckpt.generator_state(sampler),
                 "rng": ckpt.rng_states(), "train_config": c.to_dict(),
                 "model_config": model.config.to_dict() if hasattr(model, "config") else None,
                 "metrics_summary": {"last": rows[-1] if rows else None, "best_val_loss": min(
                     (r["val_loss"] for r in rows if r["val_loss"] is not None), default=None)}}
        try:
            return ckpt.save_checkpoint(folder, step, model, optimizer, state, keep_last=keep_last)
        except ckpt.CheckpointError as err:
            raise TrainingDiverged(step, "a weight", float("nan"), last_ckpt) from err

    wall_start = time.perf_counter() - elapsed  # elapsed_s counts evaluation too; tokens_per_s does not
    if start == 0:
        log_row(0, None, None, None, None, with_eval=True)
    with tqdm(total=c.steps, initial=start, desc="train", disable=not c.progress or not world.is_main, file=sys.stdout,
              mininterval=5.0, ncols=100) as bar:  # the with-block closes the bar when training diverges too
        window_losses: list[float] = []
        window_start, train_seconds = time.perf_counter(), 0.0
        for step in range(start, c.steps):
            lr = lr_at(step, max_lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps, total_steps=c.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            window = world.shard(batch_fn(train_ids, c.batch_size, c.seq_len, sampler)).to(device, non_blocking=True)
            loss = loss_fn(step_model, window, amp)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = clip_gradients(model, c.grad_clip)  # a float: one sync per step, small next to the step
            loss_value = world.mean(loss.item())  # the global batch's mean loss
            if not math.isfinite(loss_value):  # checked before optimizer.step(): the weights stay finite
                raise TrainingDiverged(step + 1, "the training loss", loss_value, last_ckpt)
            if not math.isfinite(grad_norm):
                raise TrainingDiverged(step + 1, "the gradient norm", grad_norm, last_ckpt)
            optimizer.step()
            window_losses.append(loss_value)
            done, tokens_seen = step + 1, tokens_seen + c.batch_size * c.seq_len
            bar.update(1)
            is_eval = done % c.eval_every == 0 or done == c.steps
            if done % c.log_every == 0 or is_eval or done % c.checkpoint_every == 0:
                seconds = time.perf_counter() - window_start
                train_seconds += seconds
                elapsed = time.perf_counter() - wall_start
                rate = round(len(window_losses) * c.batch_size * c.seq_len / seconds, 1)
                row = log_row(done, sum(window_losses) / len(window_losses), lr, grad_norm, rate, is_eval)
                bar.set_postfix(loss=f"{row['train_loss']:.3f}",
                                val="-" if row["val_loss"] is None else f"{row['val_loss']:.3f}")
                window_losses = []
                if done % c.checkpoint_every == 0 or done == c.steps:
                    elapsed = time.perf_counter() - wall_start
                    last_ckpt = save(done) if world.is_main else None
                    world.barrier()  # on disk before any rank goes on
                window_start = time.perf_counter()
    if last_ckpt is None or ckpt.step_of(last_ckpt) != c.steps:
        last_ckpt = ckpt.latest_checkpoint(run_dir)
    evals = [r for r in rows if r["val_loss"] is not None]
    session_tokens = (c.steps - start) * c.batch_size * c.seq_len
    rates = sorted(r["tokens_per_s"] for r in rows if r["tokens_per_s"])  # a finished run read back: its log's
    return TrainResult(
        step=c.steps, tokens_seen=tokens_seen, val_loss=evals[-1]["val_loss"] if evals else None,
        val_bpb=evals[-1]["val_bpb"] if evals else None, elapsed_s=time.perf_counter() - wall_start,
        tokens_per_s=session_tokens / train_seconds if train_seconds else (rates[len(rates) // 2] if rates else 0.0),
        checkpoint=last_ckpt, resumed_from=resumed_from, metrics=rows,
        best_step=best[0] if best else None, best_val_loss=best[1] if best else None,
        best_checkpoint=ckpt.latest_checkpoint(best_dir) if c.keep_best and best else None)


def _best_eval(rows: list[dict[str, Any]]) -> tuple[int, float] | None:
    """(step, val_loss) of the lowest held-out loss logged after step 0, or None."""
    return min(((r["step"], r["val_loss"]) for r in rows if r["val_loss"] is not None and r["step"] > 0),
               key=lambda e: e[1], default=None)

