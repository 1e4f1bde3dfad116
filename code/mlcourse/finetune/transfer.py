"""What pretraining buys: one fine-tuning pipeline run from pretrained and from random weights (chapter 15).

What it does:
  * :class:`TransferConfig`: the fine-tuning recipe both arms share (batch, learning rate and schedule,
    weight decay, clipping, which parts train, the step budget rule, how often to evaluate).
  * :func:`run_transfer`: for every (size, seed) and every arm, fine-tunes a fresh copy of the model on a
    task of :mod:`mlcourse.finetune.downstream_tasks` and returns a :class:`TransferResult` whose ``curves``
    is a tidy frame, one row per (arm, size, seed, step, metric): learning curves and final values together.
  * Fairness, by construction: for one (size, seed) both arms get the same training subset, the same data
    order (a generator seeded from (seed, size), independent of the weights), the same head initialisation
    and the same optimiser, schedule and number of steps. The *only* difference is the backbone's initial
    weights: a copy of the pretrained model, or ``TransformerLM(same config)`` initialised from ``seed``.
    Each run records the batches it saw, so a test can check this.
  * The step budget: ``steps = clamp(epochs * size / batch_size, min_steps, max_steps)``, the same for both
    arms; no early stopping (that would need a validation split; choosing the best step on the evaluation
    set would leak it). Evaluation at ``eval_points`` evenly spaced steps, step 0 included (measured once per
    (arm, seed) and reused for every size: the untrained model does not depend on the size).
  * Capability preservation: with ``lm_probe`` windows (N, T + 1), the backbone's language-model loss (its
    original ``lm_head``) before and after fine-tuning, as metrics ``probe_loss`` at step 0 and at the end.
  * Summaries: :func:`final_values`, :func:`data_efficiency_table`, :func:`meeting_size`, :func:`paired_gain`
    (with a confidence interval over seeds), :func:`steps_to_reach`.

What it deliberately does not do: tune hyperparameters per arm (a fair but different question, see the
chapter's FAQ), mixed precision, or save models (the runs are small; predictions are kept for analysis).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mlcourse.course.device import resolve_device
from mlcourse.finetune.classifier import SequenceClassifier, set_trainable
from mlcourse.training.lr_schedule import lr_at, parameter_groups
from mlcourse.training.loop import clip_gradients, evaluate
from mlcourse.model.transformer import TransformerLM

ARMS = ("pretrained", "random")


@dataclass(frozen=True)
class TransferConfig:
    """The recipe both arms share."""

    batch_size: int = 16
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 4
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    epochs: float = 4.0  # passes over the training subset, within [min_steps, max_steps]
    min_steps: int = 24
    max_steps: int = 80
    eval_points: int = 5  # evaluations per run, evenly spaced, step 0 and the last step included
    train_parts: str = "all"  # "all", "last_layer" or "head" (see classifier.set_trainable)

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(f"need 1 <= min_steps <= max_steps, got {self.min_steps} and {self.max_steps}.")
        if self.warmup_steps >= self.min_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be < min_steps={self.min_steps}.")
        if self.eval_points < 2:
            raise ValueError(f"eval_points must be >= 2 (the start and the end), got {self.eval_points}.")

    def steps_for(self, size: int) -> int:
        """Optimizer steps for a training set of ``size`` examples (or tokens / window starts)."""
        return int(min(self.max_steps, max(self.min_steps, round(self.epochs * size / self.batch_size))))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """One fine-tuning run: which arm, size and seed, the batches it saw, its final predictions."""

    arm: str
    size: int
    seed: int
    steps: int
    subset: list[int]
    batches: list[list[int]]
    wall_s: float
    eval_logits: torch.Tensor | None = None  # (N_eval, n_classes), classification only


@dataclass
class TransferResult:
    curves: pd.DataFrame  # arm, size, seed, step, examples_seen, metric, value
    runs: list[RunRecord] = field(default_factory=list)

    def run(self, arm: str, size: int, seed: int) -> RunRecord:
        return next(r for r in self.runs if (r.arm, r.size, r.seed) == (arm, size, seed))


def data_order(subset_len: int, steps: int, batch_size: int, seed: int, size: int) -> list[list[int]]:
    """Positions into the subset for every step: epoch after epoch of random permutations, from a generator
    seeded by (seed, size) only, so both arms see the same batches in the same order."""
    generator = torch.Generator().manual_seed(1_000_003 * seed + size)
    stream: list[int] = []
    while len(stream) < steps * batch_size:
        stream += torch.randperm(subset_len, generator=generator).tolist()
    return [stream[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def fresh_backbone(base: TransformerLM, arm: str, seed: int) -> TransformerLM:
    """The starting backbone of ``arm``: a copy of ``base`` or the same architecture initialised from ``seed``."""
    if arm == "pretrained":
        return copy.deepcopy(base)
    if arm == "random":
        torch.manual_seed(seed)
        return TransformerLM(base.config)
    raise ValueError(f"Unknown arm {arm!r}; valid arms are {ARMS}.")


@torch.no_grad()
def lm_probe_loss(model: nn.Module, windows: torch.Tensor) -> float:
    """The backbone's next-token loss (nats per token) on fixed windows (N, T + 1), with its own ``lm_head``."""
    lm = model.backbone if isinstance(model, SequenceClassifier) else model
    return evaluate(lm, windows, batch_size=len(windows))  # one batch, eval mode, the mode restored after


def _evaluation_rows(task: Any, model: nn.Module, key: dict[str, Any], step: int, batch_size: int,
                     lm_probe: torch.Tensor | None, metrics: dict[str, float] | None = None,
                     logits: torch.Tensor | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Tidy rows of the task's metrics at ``step`` (plus ``probe_loss`` when ``lm_probe`` is given). ``metrics``:
    values measured already (then nothing is evaluated); ``logits``: the model's predictions, already computed."""
    if metrics is None:
        model.eval()
        metrics = task.evaluate(model) if logits is None else task.evaluate(model, logits=logits)
        if lm_probe is not None:
            metrics["probe_loss"] = lm_probe_loss(model, lm_probe)
        model.train()
    return [{**key, "step": step, "examples_seen": step * batch_size, "metric": name, "value": value}
            for name, value in metrics.items()]  # fmt: skip


def run_transfer(task: Any, base: TransformerLM, sizes: Sequence[int], seeds: Sequence[int], *,
                 arms: Sequence[str] = ARMS, config: TransferConfig = TransferConfig(),
                 lm_probe: torch.Tensor | None = None, device: str | torch.device = "auto",
                 progress: bool = True) -> TransferResult:  # fmt: skip
    """Fine-tune every arm at every training-set size and seed; see the module docstring for the rules.

    ``task``: a :class:`~mlcourse.finetune.downstream_tasks.ClassificationTask` or ``LanguageModelingTask``.
    ``base``: the pretrained model (not modified: each run gets a copy). ``lm_probe``: held-out windows
    (N, T + 1) for the forgetting measurement. ``device``: where each run trains, a name (``"auto"``: cuda, mps,
    cpu, the first present) or a ``torch.device``; batches are built on the CPU and moved there, results come
    back on the CPU. Returns the tidy curves and one :class:`RunRecord` per run.
    """
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"Unknown arm(s) {unknown}; valid arms are {ARMS}.")
    device = resolve_device(device)
    if max(sizes) > task.pool_size:
        raise ValueError(f"size {max(sizes)} is larger than the training pool ({task.pool_size}); drop it.")
    c, rows, runs = config, [], []
    # The model at step 0 depends on (arm, seed) only (the backbone copy or init, the head seeded by seed), not on
    # the size: its metrics are measured once per (arm, seed) and reused for every size.
    initial: dict[tuple[str, int], dict[str, float]] = {}
    jobs = [(size, seed, arm) for size in sizes for seed in seeds for arm in arms]
    for size, seed, arm in tqdm(jobs, desc="fine-tuning runs", disable=not progress, file=sys.stdout,
                                mininterval=5.0, ncols=100):  # fmt: skip
        start = time.perf_counter()
        model = task.build_model(fresh_backbone(base, arm, seed), seed).to(device)
        set_trainable(model, c.train_parts)
        model.train()
        optimizer = torch.optim.AdamW(parameter_groups(model, c.weight_decay), lr=c.lr, betas=(0.9, 0.95))
        subset = task.training_subset(size, seed)
        steps = c.steps_for(size)
        order = data_order(len(subset), steps, c.batch_size, seed, size)
        eval_steps = sorted({round(i * steps / (c.eval_points - 1)) for i in range(c.eval_points)})
        key = {"arm": arm, "size": size, "seed": seed}
        batches = []
        for step in range(steps):
            if step == 0:
                first = _evaluation_rows(task, model, key, 0, c.batch_size, lm_probe, initial.get((arm, seed)))
                initial[(arm, seed)] = {r["metric"]: r["value"] for r in first}
                rows += first
            elif step in eval_steps:
                rows += _evaluation_rows(task, model, key, step, c.batch_size, None)
            lr = lr_at(step, max_lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps, total_steps=steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch_indices = [subset[i] for i in order[step]]
            batches.append(batch_indices)
            batch = task.make_batch(batch_indices)  # a tensor or a tuple of tensors, on the CPU
            batch = batch.to(device) if torch.is_tensor(batch) else tuple(t.to(device) for t in batch)
            loss = task.train_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model, c.grad_clip)  # frozen parameters have no gradient and are left out
            optimizer.step()
        model.eval()
        logits = task.predict(model) if hasattr(task, "predict") else None  # (N_eval, C), kept for analysis
        rows += _evaluation_rows(task, model, key, steps, c.batch_size, lm_probe, logits=logits)
        runs.append(RunRecord(arm, size, seed, steps, subset, batches, time.perf_counter() - start, logits))
    return TransferResult(pd.DataFrame(rows), runs)


def final_values(curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (arm, size, seed): the metric at the run's last step."""
    rows = curves[curves.metric == metric]
    last = rows.groupby(["arm", "size", "seed"]).step.transform("max")
    return rows[rows.step == last][["arm", "size", "seed", "step", "value"]].reset_index(drop=True)


def data_efficiency_table(curves: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Final ``metric``: mean and sample std over seeds, one row per size, columns (arm, mean|std|seeds)."""
    table = final_values(curves, metric).groupby(["size", "arm"]).value.agg(["mean", "std", "count"])
    table = table.rename(columns={"count": "seeds"}).unstack("arm")
    return table.swaplevel(axis=1).sort_index(axis=1)


def meeting_size(curves: pd.DataFrame, metric: str = "accuracy", higher_is_better: bool = True) -> int | None:
    """The smallest size at which the random arm's mean is within one standard deviation (the larger of the
    two arms') of the pretrained arm's mean, or better; ``None`` when it never gets there."""
    table = data_efficiency_table(curves, metric)
    for size, row in table.iterrows():
        gap = row[("pretrained", "mean")] - row[("random", "mean")]
        gap = gap if higher_is_better else -gap
        spread = max(row[("pretrained", "std")], row[("random", "std")])
        if gap <= (0.0 if math.isnan(spread) else spread):
            return int(size)
    return None


def paired_gain(curves: pd.DataFrame, metric: str = "accuracy", confidence: float = 0.95) -> pd.DataFrame:
    """Pretrained minus random, paired by (size, seed), per size: ``mean``, sample ``std`` and ``count`` of the
    differences, and a Student-t confidence interval of the mean gain, ``ci_low`` .. ``ci_high``
    (mean ± t(confidence, n - 1) · std / √n). Pairing removes what the two arms share (the subset, the order),
    so the spread is the arms' own; the interval covers seed-to-seed variation on this evaluation set."""
    from scipy.stats import t as student_t

    final = final_values(curves, metric).pivot_table(index=["size", "seed"], columns="arm", values="value")
    diff = (final["pretrained"] - final["random"]).rename("gain")
    table = diff.groupby(level="size").agg(["mean", "std", "count"])
    half = [student_t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
            for sd, n in zip(table["std"], table["count"])]  # fmt: skip
    return table.assign(ci_low=table["mean"] - half, ci_high=table["mean"] + half)


def steps_to_reach(curves: pd.DataFrame, metric: str, target: float, higher_is_better: bool = True) -> pd.DataFrame:
    """For each run, the first evaluated step whose ``metric`` reaches ``target`` (NaN: never)."""
    rows = curves[curves.metric == metric].sort_values("step")
    hit = rows.value >= target if higher_is_better else rows.value <= target
    first = rows[hit].groupby(["arm", "size", "seed"]).step.min()
    every = rows.groupby(["arm", "size", "seed"]).step.max().rename("steps")
    return pd.concat([every, first.rename("first_step_at_target")], axis=1).reset_index()


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    predicted = logits.argmax(-1)
    return torch.bincount(labels * n_classes + predicted, minlength=n_classes**2).reshape(n_classes, n_classes)


def mean_eval_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Cross-entropy (nats) of stored evaluation logits (N, C) against labels (N,)."""
    return float(F.cross_entropy(logits, labels))
