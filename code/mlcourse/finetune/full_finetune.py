"""Full fine-tuning on chapter 16's instruction data, the comparison point for LoRA's forgetting (chapter 17).

What it does:
  * :data:`FULL_SETTINGS`: per profile, the run: the same data, template, loss mask, steps and batch as the LoRA
    run of :data:`mlcourse.finetune.instruction_tuning.TUNE_SETTINGS`, every weight trainable, and a learning
    rate suited to full fine-tuning (lower than LoRA's: the whole model moves, not a low-rank update).
  * :func:`full_tune`: loads the base model (:func:`mlcourse.finetune.causal_lm.load_causal_lm`), encodes the
    instruction data exactly as chapter 16 does (:func:`mlcourse.finetune.instruction_tuning.tuning_data`) and
    trains with chapter 14's loop (:func:`mlcourse.training.loop.train`, with chapter 16's ``batch_fn`` and
    masked loss). The model is saved with ``save_pretrained`` into ``<folder>/model/``; ``full_tuned.json``,
    written last, marks the run as done.
  * :func:`load_full_tuned`: the fully fine-tuned model and its tokenizer; ``runs/p17_base_vs_tuned/<profile>/
    full_finetune/`` is trained once under a file lock when missing, then reused (as ``load_tuned`` does).

What it does not do: evaluate (chapter 17 compares with :mod:`mlcourse.analysis.compare` and
:mod:`mlcourse.finetune.instruction_eval`), or tune Mistral 7B in full (that needs about 16 bytes per parameter,
some 115 GB; the LoRA path of chapter 16 is the one for large models).

Taught in chapter 17 (Base vs instruction-tuned: LoRA learns less and forgets less).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from mlcourse.course.atomic import write_json_atomic
from mlcourse.course.paths import runs_dir
from mlcourse.course.profiles import check_profile
from mlcourse.finetune.causal_lm import load_causal_lm, resolve_base_model
from mlcourse.finetune.instruction_format import masked_lm_loss, sample_examples
from mlcourse.finetune.instruction_tuning import TUNE_SETTINGS, tuning_data
from mlcourse.finetune.lora import trainable_parameters
from mlcourse.training.loop import TrainConfig, TrainResult, train

STEM = "p17_base_vs_tuned"
DONE_FILE = "full_tuned.json"
LOCK_FILE = ".full_tune.lock"

# Same steps, batch and schedule as the LoRA run; only the learning rate differs (full fine-tuning at LoRA's
# 4e-3 moves every weight of a small model far from pretraining; 1e-3 is the usual lower setting).
FULL_SETTINGS: dict[str, dict[str, Any]] = {
    profile: {"train": {**TUNE_SETTINGS[profile]["train"], "lr": lr, "min_lr": lr / 10},
              "max_len": TUNE_SETTINGS[profile]["max_len"]}
    for profile, lr in (("quick", 1e-3), ("full", 2e-4))
}


def base_fingerprint(base_model: str = "course", profile: str = "quick") -> str:
    """SHA-256 of the base model's weight files (a hub name: the name itself), so that a cached run made from an
    older base model (chapter 14 retrained) is recognised as stale."""
    source = resolve_base_model(base_model, profile)
    if not isinstance(source, Path):
        return str(source)
    digest = hashlib.sha256()
    for path in sorted(source.glob("*.safetensors")) + sorted(source.glob("*.bin")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def full_tune_dir(profile: str) -> Path:
    """``runs/p17_base_vs_tuned/<profile>/full_finetune/`` (not created)."""
    return runs_dir() / STEM / check_profile(profile) / "full_finetune"


def full_tune(profile: str = "quick", folder: str | os.PathLike | None = None, *, base_model: str = "course",
              progress: bool = True, **overrides: Any) -> tuple[Any, Any, TrainResult]:  # fmt: skip
    """Fine-tune every weight of the base model on chapter 16's instruction data into ``folder``; resumes.

    ``overrides`` change fields of the run (``steps``, ``lr``, ...). Returns the model (eval mode, CPU), the
    tokenizer and the loop's :class:`~mlcourse.training.loop.TrainResult`.
    """
    settings = FULL_SETTINGS[check_profile(profile)]
    folder = Path(folder) if folder is not None else full_tune_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(**{**settings["train"], "progress": progress, **overrides})
    model, tokenizer = load_causal_lm(base_model, profile=profile)
    fingerprint = base_fingerprint(base_model, profile)  # of the weights this run starts from
    for p in model.parameters():
        p.requires_grad_(True)
    data = tuning_data(tokenizer, settings["max_len"])
    torch.manual_seed(config.seed)
    model.train()
    result = train(model, data["train"], data["heldout"], config, folder / "train", resume=True,
                   batch_fn=sample_examples, loss_fn=masked_lm_loss)
    model.cpu().eval()
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' "Writing model shards" bar, not an error
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
    trainable, total = trainable_parameters(model)
    write_json_atomic(folder / DONE_FILE, {
        "profile": profile, "base_model": str(base_model), "base_fingerprint": fingerprint,
        "train_config": config.to_dict(),
        "trainable_parameters": trainable, "total_parameters": total, "val_loss": result.val_loss,
        "elapsed_s": result.elapsed_s, "train_examples": int(len(data["train"]))}, indent=2)  # fmt: skip
    return model, tokenizer, result


def is_full_tuned(profile: str) -> bool:
    """True when ``full_tuned.json`` exists (written last by :func:`full_tune`)."""
    return (full_tune_dir(profile) / DONE_FILE).exists()


def full_tune_info(profile: str) -> dict[str, Any]:
    """What :func:`full_tune` recorded (settings, parameter counts, validation loss, seconds)."""
    return json.loads((full_tune_dir(profile) / DONE_FILE).read_text(encoding="utf-8"))


def stale_settings(profile: str) -> dict[str, tuple[Any, Any]]:
    """``{field: (cached, current)}`` for the run fields (steps, batch, length, learning rates) in which the cached
    run differs from :data:`FULL_SETTINGS` (empty when it matches, or when nothing is cached)."""
    if not is_full_tuned(profile):
        return {}
    cached = full_tune_info(profile)["train_config"]
    current = FULL_SETTINGS[profile]["train"]
    return {k: (cached.get(k), current[k]) for k in ("steps", "batch_size", "seq_len", "lr", "min_lr")
            if cached.get(k) != current[k]}


def load_full_tuned(profile: str = "quick", *, progress: bool = True) -> tuple[Any, Any]:
    """The fully fine-tuned model (eval mode, CPU) and its tokenizer, trained once under a lock when missing.

    ``"full"`` never trains implicitly (hours on a CPU): run :func:`full_tune` first. A cached run made with other
    settings than :data:`FULL_SETTINGS` is still loaded, with a printed note saying what differs.
    """
    folder = full_tune_dir(profile)
    if profile == "quick" and is_full_tuned(profile) and full_tune_info(profile).get("base_fingerprint") != \
            base_fingerprint("course", profile):
        with FileLock(str(folder.parent / LOCK_FILE)):  # chapter 14's model changed since: this run is stale
            if is_full_tuned(profile) and full_tune_info(profile).get("base_fingerprint") != base_fingerprint(
                    "course", profile):
                print(f"the base model changed since {folder} was fine-tuned: fine-tuning again", flush=True)
                shutil.rmtree(folder)
    if not is_full_tuned(profile):
        if profile == "full":
            raise FileNotFoundError(f"{folder / DONE_FILE} is missing: run full_tune('full') first.")
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder.parent / LOCK_FILE)):
            if not is_full_tuned(profile):
                print(f"fine-tuning every weight into {folder} (once; later calls load it)", flush=True)
                full_tune(profile, folder, progress=progress)
    if changed := stale_settings(profile):
        print(f"note: the cached full fine-tuning in {folder} was run with other settings ({changed}, as (cached, "
              "current)); delete that folder to fine-tune again with the current ones.", flush=True)
    return load_causal_lm(folder / "model", profile=profile, dtype=torch.float32)
