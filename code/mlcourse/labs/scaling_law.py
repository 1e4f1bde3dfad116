"""Scaling experiments on the course's corpus: held-out loss against model size, compute and passes over the data.

What it does:
  * :class:`Stream`: training and held-out id streams. :func:`char_stream`: characters of the training and
    held-out works (the IsoFLOP grid: with a 4,096-token vocabulary the tied head would be most of every small
    model's compute, and no size below a million parameters could become compute-optimal within a CPU budget);
    :func:`bpe_stream`: the base model's own tokens (the repetition study, which designs the base model).
  * :data:`GRIDS`: per profile, an IsoFLOP grid (Hoffmann et al. 2022, approach 2): every model shape is trained
    at every compute budget C (training FLOPs), on D = C / (FLOPs per token) tokens, each run with its own
    warm-up + cosine schedule ending at its last step (a run cut from a longer schedule would be judged
    unfairly: Chinchilla's correction of Kaplan et al.), with several seeds.
  * :func:`run_grid`: trains every cell with chapter 14's loop (:func:`mlcourse.training.loop.train`), scores it
    on one fixed held-out set shared by all cells, and appends one JSON line per finished cell to
    ``grid.jsonl``: a killed study resumes where it stopped; a finished one is read back at once.
  * :func:`run_repetition`: one shape, one token budget, the training stream cut to a fraction of the works
    (so the same tokens are seen 1, 8, 64 ... times), with and without dropout / extra weight decay: how held-out
    loss depends on passes over the data, the evidence for the full base model's dropout and length.
  * ``python -m mlcourse scaling [--profile full] [--publish]`` runs the study (:mod:`mlcourse.labs.scaling_study`).

Compute per token is :func:`mlcourse.model.size.flops_per_token` (training = 3 x forward: 6 per parameter that
multiplies, the tied head included, plus the attention scores). N (``n_params``) counts the weights that multiply
per token (the head included; at the character level it is 2-12 % of them, so N is close to Kaplan's
non-embedding count, also recorded).

What it deliberately does not do: fit (:mod:`mlcourse.labs.scaling_fit`), plot, or tune a learning rate per size
(one rate for all; stated in the chapter). Taught in chapter 14 (scaling behaviour).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mlcourse.model.size import flops_per_token, parameter_breakdown
from mlcourse.model.transformer import TransformerConfig, TransformerLM
from mlcourse.data.shakespeare import load_split_corpus
from mlcourse.tokenizers.simple import CharTokenizer
from mlcourse.training.base_model import bits_per_byte, prepare_data
from mlcourse.training.loop import TrainConfig, evaluate, sample_windows, train

GRID_FILE = "grid.jsonl"
REPETITION_FILE = "repetition.jsonl"


@dataclass(frozen=True)
class Stream:
    """1-D id streams of the training and held-out works, with what turns nats per token into bits per byte."""

    name: str  # "char" or "bpe"
    train_ids: torch.Tensor  # (N_train,)
    val_ids: torch.Tensor  # (N_val,)
    vocab_size: int
    bytes_per_token: float  # UTF-8 bytes per token of the held-out text


def char_stream() -> Stream:
    """Characters of the training works (ids from :class:`~mlcourse.tokenizers.simple.CharTokenizer` trained on
    them) and of the held-out works (a character never seen in training is ``<unk>``)."""
    train_text, val_text = load_split_corpus()
    tokenizer = CharTokenizer.train(train_text)
    ids = [torch.tensor(tokenizer.encode(t), dtype=torch.long) for t in (train_text, val_text)]
    return Stream("char", ids[0], ids[1], tokenizer.vocab_size, len(val_text.encode("utf-8")) / len(val_text))


def bpe_stream(folder: Path) -> Stream:
    """The base model's tokens: chapter 13's 4,096-token BPE (copied into ``folder``), works packed with <eos>."""
    data = prepare_data(folder, 4096)
    return Stream("bpe", data.train_ids, data.val_ids, data.tokenizer.vocab_size, data.val_bytes_per_token)


@dataclass(frozen=True)
class Shape:
    """A model size: width, depth, query heads, key/value heads (Mistral options, the base model's tokenizer)."""

    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int

    @property
    def name(self) -> str:
        return f"d{self.d_model}-L{self.n_layers}"

    def config(self, vocab_size: int, seq_len: int, dropout: float = 0.0) -> TransformerConfig:
        return TransformerConfig.mistral(vocab_size=vocab_size, d_model=self.d_model, n_layers=self.n_layers,
                                         n_heads=self.n_heads, n_kv_heads=self.n_kv_heads, max_seq_len=seq_len,
                                         attn_dropout=dropout, resid_dropout=dropout)


@dataclass(frozen=True)
class ScalingGrid:
    """Shapes x budgets (training FLOPs) x seeds, and the run settings every cell shares."""

    shapes: tuple[Shape, ...]
    budgets: tuple[float, ...]
    seeds: tuple[int, ...]
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3  # the peak rate at width lr_width; a shape of width d gets lr * lr_width / d
    lr_width: int = 32
    eval_windows: int = 128  # held-out windows of seq_len tokens, the same for every cell

    def lr_for(self, shape: Shape) -> float:
        """Peak learning rate inversely proportional to width (muP's rule for Adam on hidden matrices): one fixed
        rate would favour whichever size it happens to suit (measured in chapter 14)."""
        return self.lr * self.lr_width / shape.d_model

    def steps(self, shape: Shape, budget: float, vocab_size: int) -> int:
        """Optimizer steps that spend ``budget`` FLOPs (at least 10: a schedule needs room to warm up)."""
        per_step = flops_per_token(shape.config(vocab_size, self.seq_len), self.seq_len, training=True)
        return max(10, round(budget / (per_step * self.batch_size * self.seq_len)))


_SHAPES = (Shape(12, 2, 2, 1), Shape(16, 2, 2, 1), Shape(24, 2, 2, 1), Shape(32, 2, 2, 1), Shape(48, 2, 4, 2),
           Shape(64, 3, 4, 2))
#: Character-level IsoFLOP grids (peak rate 1e-2 at width 32). quick: 4 shapes (5k-33k parameters), 3 budgets,
#: 1 seed: about a minute on one core. full: 5 shapes (9k-189k, 22x), 4 budgets, 2 seeds: about 25 minutes on 2 cores.
GRIDS = {
    "quick": ScalingGrid(shapes=_SHAPES[:4], budgets=(1.5e10, 4.5e10, 1.35e11), seeds=(0,), seq_len=128, lr=1e-2),
    "full": ScalingGrid(shapes=_SHAPES[1:], budgets=(1e11, 3e11, 9e11, 2.7e12), seeds=(0, 1), seq_len=128, lr=1e-2),
}


def n_params(config: TransformerConfig) -> dict[str, int]:
    """Parameters that multiply per token (attention, MLP, the head even when tied), and the non-embedding ones."""
    parts = parameter_breakdown(config)
    non_embedding = parts["attention"] + parts["mlp"] + parts["norms"]
    return {"n_params": parts["attention"] + parts["mlp"] + config.vocab_size * config.d_model,
            "n_non_embedding": non_embedding}


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _train_cell(data: Stream, train_ids: torch.Tensor, config: TransformerConfig, run: TrainConfig,
                folder: Path, held_out: torch.Tensor) -> dict[str, Any]:
    """Train one model from seed ``run.seed``, score it on ``held_out``; the cell's files are removed after."""
    torch.manual_seed(run.seed)
    model = TransformerLM(config)
    start = time.perf_counter()
    result = train(model, train_ids, data.val_ids, run, folder, overwrite=True)
    loss = evaluate(model, held_out, run.batch_size)
    seconds = time.perf_counter() - start
    shutil.rmtree(folder, ignore_errors=True)  # the numbers are kept; the weights are not needed again
    per_token = flops_per_token(config, run.seq_len, training=True)
    tokens = run.steps * run.batch_size * run.seq_len
    return {**n_params(config), "lr": run.lr, "steps": run.steps, "tokens": tokens, "flops": float(per_token * tokens),
            "passes": tokens / len(train_ids), "val_loss": loss, "val_bpb": bits_per_byte(loss, data.bytes_per_token),
            "seconds": round(seconds, 2), "curve": [
                {"step": r["step"], "val_loss": r["val_loss"]} for r in result.metrics if r["val_loss"] is not None]}


def _held_out(data: Stream, windows: int, seq_len: int) -> torch.Tensor:
    return sample_windows(data.val_ids, windows, seq_len, torch.Generator().manual_seed(1234))  # (W, T + 1)


def _run_config(grid: ScalingGrid, steps: int, seed: int, lr: float, evals: int = 1, **changes: Any) -> TrainConfig:
    settings = dict(steps=steps, batch_size=grid.batch_size, seq_len=grid.seq_len, lr=lr, min_lr=lr / 10,
                    warmup_steps=max(1, steps // 10), eval_every=max(1, steps // evals), eval_batches=1,
                    log_every=max(1, steps // 10), checkpoint_every=steps, keep_checkpoints=1, seed=seed,
                    device="cpu", progress=False)
    return TrainConfig(**{**settings, **changes})


def run_grid(grid: ScalingGrid, data: Stream, folder: Path, *, verbose: bool = True) -> pd.DataFrame:
    """Train every (shape, budget, seed) cell not yet in ``folder/grid.jsonl``; return all cells as a table.

    Columns: size, d_model, n_layers, budget, seed, n_params, n_non_embedding, steps, tokens, flops, passes,
    val_loss (nats/token on the shared held-out windows), val_bpb, seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / GRID_FILE
    done = {(r["size"], r["budget"], r["seed"]) for r in _read_lines(path)}
    held_out = _held_out(data, grid.eval_windows, grid.seq_len)
    vocab = data.vocab_size
    for budget in grid.budgets:
        for shape in grid.shapes:
            for seed in grid.seeds:
                if (shape.name, budget, seed) in done:
                    continue
                run = _run_config(grid, grid.steps(shape, budget, vocab), seed, grid.lr_for(shape))
                row = {"size": shape.name, **asdict(shape), "budget": budget, "seed": seed,
                       **_train_cell(data, data.train_ids, shape.config(vocab, grid.seq_len), run,
                                     folder / "cell", held_out)}
                with open(path, "a", encoding="utf-8") as handle:  # one line per finished cell: resumable
                    handle.write(json.dumps({k: v for k, v in row.items() if k != "curve"}) + "\n")
                if verbose:
                    print(f"C={budget:.1e} {shape.name:9s} seed {seed}: {run.steps:5d} steps, "
                          f"{row['passes']:.2f} passes, held-out {row['val_loss']:.3f} nats ({row['seconds']:.0f} s)",
                          flush=True)
    table = pd.DataFrame(_read_lines(path))
    wanted = {(s.name, b, seed) for s in grid.shapes for b in grid.budgets for seed in grid.seeds}
    return table[[(s, b, seed) in wanted for s, b, seed in zip(table["size"], table["budget"], table["seed"])]]


@dataclass(frozen=True)
class RepetitionStudy:
    """One shape trained on ``tokens`` tokens drawn from the first ``fraction`` of the training stream."""

    shape: Shape = Shape(64, 3, 4, 2)  # on the base model's BPE tokens
    tokens: int = 1_000_000
    fractions: tuple[float, ...] = (1.0, 1 / 8, 1 / 64)
    regularizers: tuple[dict[str, float], ...] = (
        {"dropout": 0.0, "weight_decay": 0.1}, {"dropout": 0.1, "weight_decay": 0.1},
        {"dropout": 0.0, "weight_decay": 1.0})
    seed: int = 0
    evals: int = 10  # held-out evaluations along each run: where the curve turns up
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3

    def settings(self) -> ScalingGrid:
        """The run settings as a one-shape grid (the same schedule rules as the IsoFLOP cells)."""
        return ScalingGrid(shapes=(self.shape,), budgets=(), seeds=(self.seed,), batch_size=self.batch_size,
                           seq_len=self.seq_len, lr=self.lr)


#: The full study is the evidence for the base model's design; the quick one (two fractions, about 40 s on one
#: core) only shows the effect appearing.
REPETITIONS = {"quick": RepetitionStudy(tokens=200_000, fractions=(1.0, 1 / 128),
                                        regularizers=RepetitionStudy.regularizers[:2]),
               "full": RepetitionStudy()}


def run_repetition(study: RepetitionStudy, data: Stream, folder: Path, *, verbose: bool = True) -> pd.DataFrame:
    """Train ``study.shape`` for ``study.tokens`` tokens on each data fraction x regularizer; resumable per run.

    Columns: fraction, unique_tokens, passes, dropout, weight_decay, val_loss (end, on the grid's shared held-out
    windows), curve (list of {step, val_loss} on the loop's held-out windows), its best_val_loss, best_step and
    last_val_loss, steps."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPETITION_FILE
    done = {(r["fraction"], r["dropout"], r["weight_decay"]) for r in _read_lines(path)}
    grid = study.settings()
    held_out = _held_out(data, grid.eval_windows, grid.seq_len)
    steps = max(10, round(study.tokens / (grid.batch_size * grid.seq_len)))
    for fraction in study.fractions:
        subset = data.train_ids[: max(grid.seq_len + 2, int(len(data.train_ids) * fraction))]
        for reg in study.regularizers:
            if (fraction, reg["dropout"], reg["weight_decay"]) in done:
                continue
            run = _run_config(grid, steps, study.seed, study.lr, evals=study.evals, weight_decay=reg["weight_decay"],
                              eval_batches=4)  # 4 x batch_size held-out windows per point of the curve
            config = study.shape.config(data.vocab_size, grid.seq_len, dropout=reg["dropout"])
            row = _train_cell(data, subset, config, run, folder / "cell", held_out)
            best = min(row["curve"][1:], key=lambda r: r["val_loss"])  # the curve: the loop's held-out windows
            row = {"fraction": fraction, "unique_tokens": len(subset), **reg, **row, "best_val_loss": best["val_loss"],
                   "best_step": best["step"], "last_val_loss": row["curve"][-1]["val_loss"]}
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            if verbose:
                print(f"{fraction:.4f} of the data ({row['passes']:.1f} passes), dropout {reg['dropout']}, "
                      f"weight decay {reg['weight_decay']}: end {row['last_val_loss']:.3f}, best "
                      f"{best['val_loss']:.3f} at step {best['step']}/{steps}", flush=True)
    return pd.DataFrame(_read_lines(path))
