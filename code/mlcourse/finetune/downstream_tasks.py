"""Downstream tasks for chapter 15, built only from text the base model never saw in pretraining.

What it does:
  * :func:`build_passages`: short passages (``lines_per_passage`` consecutive spoken lines of one scene, no
    speaker names) from the three held-out plays, one per genre: *Much Ado About Nothing* (comedy),
    *Henry IV, Part 1* (history), *Romeo and Juliet* (tragedy). The split is by **scene**: every
    ``eval_every``-th scene of a play (in play order) is an evaluation scene, the others are training scenes,
    so no two adjacent lines end up on both sides. A passage whose every line also occurs as a line of a
    pretraining work ("My lord?") is dropped: the base model may have seen it verbatim.
  * :class:`ClassificationTask`: "which kind of play is this passage from?" (3 classes). A fixed evaluation
    set, balanced per class; training subsets balanced per class and nested (the 32 examples of a seed are
    inside its 128).
  * :class:`LanguageModelingTask`: next-token prediction on a new text: windows of a training stream (its first
    ``size`` tokens) and fixed evaluation windows, scored in nats per token and bits per byte.
  * :func:`scene_texts` and :func:`python_source_texts`: the held-out plays' training/evaluation scenes as text
    (a near domain) and Python standard-library modules (a distant domain) for the language-modelling task.

What it deliberately does not do: tokenise with anything but the caller's ``encode``, or train (see
:mod:`mlcourse.finetune.transfer`). Every task exposes the same four methods, which is all the loop needs:
``build_model``, ``training_subset``, ``make_batch``, ``train_loss`` and ``evaluate``.
"""

from __future__ import annotations

import math
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.finetune.classifier import SequenceClassifier
from mlcourse.training.batching import pad_batch
from mlcourse.data.shakespeare import LineRecord, build_corpus, split_works
from mlcourse.training.loop import evaluate
from mlcourse.model.transformer import TransformerLM

# One held-out play per genre: the label of a passage is its play's genre.
GENRE_PLAYS: dict[str, str] = {"comedy": "much_ado_about_nothing", "history": "henry_iv_part_1",
                               "tragedy": "romeo_and_juliet"}  # fmt: skip
LABELS: tuple[str, ...] = tuple(GENRE_PLAYS)
# A distant domain: standard-library modules (the files differ slightly between Python versions).
PYTHON_TRAIN_MODULES = ("argparse.py", "textwrap.py", "string.py", "csv.py", "heapq.py", "bisect.py",
                        "fractions.py", "calendar.py", "difflib.py", "shlex.py", "queue.py", "fnmatch.py")
PYTHON_EVAL_MODULES = ("statistics.py", "glob.py", "colorsys.py", "sched.py")


@dataclass(frozen=True)
class Passage:
    """A few consecutive spoken lines of one scene of a held-out play."""

    work: str
    label: int  # index into LABELS
    act: int | None
    scene: int | None
    line_no: int  # of the first line
    text: str
    ids: tuple[int, ...]


def scene_split(records: Sequence[LineRecord], eval_every: int = 3) -> dict[tuple, str]:
    """``{(work, act, scene): "train" | "eval"}``: scene i of each work (play order) is "eval" when
    ``i % eval_every == 1``, so evaluation scenes are spread over the whole play."""
    if eval_every < 2:
        raise ValueError(f"eval_every must be >= 2 (1 would leave no training scenes), got {eval_every}.")
    scenes: dict[str, list[tuple]] = {}
    for r in sorted(records, key=lambda r: (r.work, r.line_no)):
        key = (r.work, r.act, r.scene)
        if key not in scenes.setdefault(r.work, []):
            scenes[r.work].append(key)
    return {key: ("eval" if i % eval_every == 1 else "train") for keys in scenes.values() for i, key in enumerate(keys)}


def build_passages(records: Sequence[LineRecord], encode: Callable[[str], Sequence[int]], *,
                   lines_per_passage: int = 2, max_tokens: int = 32,
                   eval_every: int = 3) -> tuple[list[Passage], list[Passage]]:  # fmt: skip
    """(training passages, evaluation passages) of the plays in :data:`GENRE_PLAYS`.

    ``records``: every parsed line (the pretraining works are needed for the verbatim-overlap filter).
    Ids longer than ``max_tokens`` are cut to their first ``max_tokens``.
    """
    train_works, _ = split_works()
    seen_lines = {r.text for r in records if r.work in set(train_works)}
    if not seen_lines:
        raise ValueError("records hold no pretraining work: pass load_records(), all works, for the overlap filter.")
    plays = {work: LABELS.index(genre) for genre, work in GENRE_PLAYS.items()}
    lines = sorted((r for r in records if r.work in plays), key=lambda r: (r.work, r.line_no))
    split = scene_split(lines, eval_every)
    by_scene: dict[tuple, list[LineRecord]] = {}
    for r in lines:
        by_scene.setdefault((r.work, r.act, r.scene), []).append(r)
    out: dict[str, list[Passage]] = {"train": [], "eval": []}
    for key, rows in by_scene.items():
        for i in range(0, len(rows) - lines_per_passage + 1, lines_per_passage):  # non-overlapping chunks
            chunk = rows[i:i + lines_per_passage]
            if all(r.text in seen_lines for r in chunk):
                continue  # the whole passage may occur verbatim in pretraining: leakage
            text = "\n".join(r.text for r in chunk)
            ids = tuple(int(t) for t in encode(text))[:max_tokens]
            out[split[key]].append(Passage(key[0], plays[key[0]], key[1], key[2], chunk[0].line_no, text, ids))
    return out["train"], out["eval"]


def balanced_indices(labels: Sequence[int], per_class: Sequence[int], generator: torch.Generator) -> list[int]:
    """Indices of ``per_class[k]`` random examples of each class k (first ones of a per-class permutation,
    so a larger request with the same generator seed contains a smaller one)."""
    labels_t = torch.as_tensor(labels)
    chosen = []
    for k, n in enumerate(per_class):
        members = torch.nonzero(labels_t == k).flatten()
        if n > len(members):
            raise ValueError(f"asked for {n} examples of class {k} but the pool has {len(members)}; "
                             "use a smaller size.")
        chosen += members[torch.randperm(len(members), generator=generator)[:n]].tolist()
    return sorted(chosen)


class ClassificationTask:
    """Passage -> class. Metrics: ``accuracy`` and ``loss`` (cross-entropy, nats) on the fixed evaluation set."""

    kind = "classification"

    def __init__(self, train: Sequence[Passage], evaluation: Sequence[Passage], pad_id: int,
                 n_eval_per_class: int | None = None, label_names: Sequence[str] = LABELS) -> None:  # fmt: skip
        self.label_names = tuple(label_names)
        self.n_classes = len(self.label_names)
        self.train, self.pad_id = list(train), pad_id
        labels = [p.label for p in evaluation]
        counts = [labels.count(k) for k in range(self.n_classes)]
        n = min(counts) if n_eval_per_class is None else n_eval_per_class
        keep = balanced_indices(labels, [n] * self.n_classes, torch.Generator().manual_seed(0))  # fixed for all
        self.evaluation = [evaluation[i] for i in keep]
        self.eval_batch = self.make_batch_of(self.evaluation)

    @property
    def pool_size(self) -> int:
        return len(self.train)

    def build_model(self, backbone: TransformerLM, seed: int) -> SequenceClassifier:
        return SequenceClassifier(backbone, self.n_classes, head_seed=seed)

    def training_subset(self, size: int, seed: int) -> list[int]:
        """``size`` training indices, classes as equal as possible, nested in ``size`` for one ``seed``."""
        per_class = [size // self.n_classes + (k < size % self.n_classes) for k in range(self.n_classes)]
        return balanced_indices([p.label for p in self.train], per_class, torch.Generator().manual_seed(seed))

    def make_batch_of(self, passages: Sequence[Passage]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-padded ids (B, T), lengths (B,), labels (B,)."""
        padded = pad_batch([p.ids for p in passages], self.pad_id)  # chapter 13's padding
        return padded.input_ids, padded.attention_mask.sum(1), torch.tensor([p.label for p in passages])

    def make_batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, ...]:
        return self.make_batch_of([self.train[i] for i in indices])

    def train_loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return model.loss(*batch)

    @torch.no_grad()
    def predict(self, model: nn.Module, batch_size: int = 128) -> torch.Tensor:
        """Logits (N_eval, n_classes) on the evaluation set, on the CPU (the model may be on any device)."""
        device = next(model.parameters()).device
        input_ids, lengths, _ = (t.to(device) for t in self.eval_batch)
        return torch.cat([model(input_ids[i:i + batch_size], lengths[i:i + batch_size]).float().cpu()
                          for i in range(0, len(lengths), batch_size)])  # fmt: skip

    def evaluate(self, model: nn.Module, logits: torch.Tensor | None = None) -> dict[str, float]:
        """Accuracy and loss on the evaluation set; ``logits``: the model's predictions when already computed."""
        logits = self.predict(model) if logits is None else logits
        labels = self.eval_batch[2]
        return {"accuracy": float((logits.argmax(-1) == labels).float().mean()),
                "loss": float(F.cross_entropy(logits, labels))}  # fmt: skip


class LanguageModelingTask:
    """Next-token prediction on a new text. ``size`` = training tokens (a prefix of the stream).
    Metrics: ``loss`` (nats per token) and ``bpb`` (bits per byte) on fixed evaluation windows."""

    kind = "language modelling"

    def __init__(self, train_ids: torch.Tensor, eval_ids: torch.Tensor, seq_len: int, bytes_per_token: float,
                 n_eval_windows: int = 32) -> None:  # fmt: skip
        if len(eval_ids) < seq_len + 1 or len(train_ids) < seq_len + 1:
            raise ValueError(f"both streams need more than seq_len + 1 = {seq_len + 1} tokens, got "
                             f"{len(train_ids)} training and {len(eval_ids)} evaluation tokens.")
        self.train_ids, self.seq_len, self.bytes_per_token = train_ids, seq_len, bytes_per_token
        starts = torch.linspace(0, len(eval_ids) - seq_len - 1, n_eval_windows).long()  # evenly spread, fixed
        self.eval_windows = eval_ids[starts[:, None] + torch.arange(seq_len + 1)]  # (N, T + 1)

    @property
    def pool_size(self) -> int:
        return len(self.train_ids)

    def build_model(self, backbone: TransformerLM, seed: int) -> TransformerLM:
        return backbone

    def training_subset(self, size: int, seed: int) -> list[int]:
        """Window starts inside the first ``size`` tokens (the same text for every seed)."""
        if not self.seq_len + 1 < size <= len(self.train_ids):
            raise ValueError(f"size must be in ({self.seq_len + 1}, {len(self.train_ids)}] tokens, got {size}.")
        return list(range(size - self.seq_len))

    def make_batch(self, starts: Sequence[int]) -> torch.Tensor:
        return self.train_ids[torch.tensor(starts)[:, None] + torch.arange(self.seq_len + 1)]  # (B, T + 1)

    def train_loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return model.loss(batch[:, :-1], batch[:, 1:])

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        loss = evaluate(model, self.eval_windows, batch_size=len(self.eval_windows))  # nats per token
        return {"loss": loss, "bpb": loss / math.log(2) / self.bytes_per_token}


def scene_texts(records: Sequence[LineRecord], works: Sequence[str], eval_every: int = 3) -> tuple[str, str]:
    """(training-scene text, evaluation-scene text) of ``works``, in the pretraining corpus's format."""
    chosen = [r for r in records if r.work in set(works)]
    split = scene_split(chosen, eval_every)
    return (build_corpus(r for r in chosen if split[(r.work, r.act, r.scene)] == "train"),
            build_corpus(r for r in chosen if split[(r.work, r.act, r.scene)] == "eval"))  # fmt: skip


def python_source_texts(train_modules: Sequence[str] = PYTHON_TRAIN_MODULES,
                        eval_modules: Sequence[str] = PYTHON_EVAL_MODULES) -> tuple[str, str]:  # fmt: skip
    """(training text, evaluation text): standard-library source files of the running Python, read offline."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])

    def read(names: Sequence[str]) -> str:
        missing = [n for n in names if not (stdlib / n).exists()]
        if missing:
            raise FileNotFoundError(f"{missing} not found in {stdlib}; pass other module file names.")
        return "\n\n".join((stdlib / n).read_text(encoding="utf-8") for n in names)

    return read(train_modules), read(eval_modules)
