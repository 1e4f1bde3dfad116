"""Instruction tuning with LoRA in chapter 14's loop; the tuned adapter is cached and loaded like the base model.

What it does:
  * :data:`TUNE_SETTINGS`: per profile, the adapter (r = 32 as the seed asks, alpha = 2r, dropout, all seven
    linear projections) and the run (steps, batch, learning rate and schedule, clipping).
  * :func:`tune`: loads the base model (:func:`mlcourse.finetune.causal_lm.load_causal_lm`, any Mistral-format
    causal LM), adds peft's LoRA, encodes the instruction data (:mod:`mlcourse.finetune.instruction_format`) and
    trains with :func:`mlcourse.training.loop.train` (warm-up, cosine, clipping, checkpoints, metrics JSONL,
    kill-and-resume), passing the loop a batch function and a masked loss. The adapter is saved with
    ``save_pretrained`` into ``<folder>/adapter/``; ``tuned.json``, written last, marks the run as done.
  * :func:`load_tuned`: the tuned model (peft, eval mode) and its tokenizer, for chapters 16 and 17, their
    exercises and solutions: ``runs/p16_instruction_tuning/<profile>/`` is tuned once under a file lock when
    missing (as :func:`mlcourse.training.base_model.load_base` does), then reused.
  * :func:`tuning_data`: the encoded training and held-out examples of a tokenizer.

What it does not do: evaluate (:mod:`mlcourse.finetune.instruction_eval`), or tune the full model (chapter 17
compares that).

Taught in chapter 16 (Instruction tuning with LoRA); chapter 17 loads what it saves.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from mlcourse.course.atomic import write_json_atomic
from mlcourse.course.paths import runs_dir
from mlcourse.course.profiles import check_profile
from mlcourse.data.instructions import Instruction, build_instructions
from mlcourse.finetune.causal_lm import load_causal_lm
from mlcourse.finetune.instruction_format import encode_dataset, masked_lm_loss, sample_examples
from mlcourse.finetune.lora import ALL_LINEAR, add_peft_lora, lora_config, trainable_parameters
from mlcourse.training.loop import TrainConfig, TrainResult, train

STEM = "p16_instruction_tuning"
DONE_FILE = "tuned.json"
LOCK_FILE = ".tune.lock"

TUNE_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "lora": dict(r=32, alpha=64.0, dropout=0.05, targets=ALL_LINEAR),
        "train": dict(steps=200, batch_size=16, seq_len=128, lr=8e-3, min_lr=8e-4, warmup_steps=20,
                      weight_decay=0.0, eval_every=50, eval_batches=4, checkpoint_every=100, log_every=10),
        "max_len": 128,
    },
    "full": {
        "lora": dict(r=32, alpha=64.0, dropout=0.05, targets=ALL_LINEAR),
        "train": dict(steps=3000, batch_size=32, seq_len=256, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                      weight_decay=0.0, eval_every=250, eval_batches=16, checkpoint_every=250, log_every=50),
        "max_len": 256,
    },
}


def tune_dir(profile: str) -> Path:
    """``runs/p16_instruction_tuning/<profile>/`` (not created)."""
    return runs_dir() / STEM / check_profile(profile)


def tuning_data(tokenizer, max_len: int, *, train_examples: Sequence[Instruction] | None = None,
                heldout_examples: Sequence[Instruction] | None = None, **encode: Any
                ) -> dict[str, Any]:  # fmt: skip
    """Encoded (N, 2, max_len) tensors of the training and held-out examples, plus the examples themselves.

    ``encode`` passes ``train_on_prompt`` / ``mask_eos`` to the *training* tensor only (the held-out loss is
    always measured the right way, so runs with and without a bug are compared on the same yardstick).
    """
    if train_examples is None or heldout_examples is None:
        built = build_instructions()
        train_examples = built["train"] if train_examples is None else train_examples
        heldout_examples = built["heldout"] if heldout_examples is None else heldout_examples
    train_tensor, dropped_train = encode_dataset(train_examples, tokenizer, max_len, **encode)
    heldout_tensor, dropped_heldout = encode_dataset(heldout_examples, tokenizer, max_len)
    return {"train": train_tensor, "heldout": heldout_tensor, "train_examples": list(train_examples),
            "heldout_examples": list(heldout_examples), "dropped": (dropped_train, dropped_heldout)}


def tune(profile: str = "quick", folder: str | os.PathLike | None = None, *, base_model: str = "course",
         lora: dict[str, Any] | None = None, train_examples: Sequence[Instruction] | None = None,
         train_on_prompt: bool = False, mask_eos: bool = False, gradient_checkpointing: bool = False,
         progress: bool = True, **overrides: Any) -> tuple[Any, Any, TrainResult]:  # fmt: skip
    """Tune a LoRA adapter on the instruction data into ``folder`` (default :func:`tune_dir`); resumes a killed run.

    ``lora`` and ``overrides`` change fields of :data:`TUNE_SETTINGS` (``r``, ``targets``; ``steps``, ``lr``, ...);
    a run with changes should go to its own ``folder``. Returns the peft model (eval mode, CPU), the tokenizer
    and the loop's :class:`~mlcourse.training.loop.TrainResult`.
    """
    settings = TUNE_SETTINGS[check_profile(profile)]
    folder = Path(folder) if folder is not None else tune_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    adapter = {**settings["lora"], **(lora or {})}
    config = TrainConfig(**{**settings["train"], "progress": progress, **overrides})
    model, tokenizer = load_causal_lm(base_model, profile=profile, gradient_checkpointing=gradient_checkpointing)
    data = tuning_data(tokenizer, settings["max_len"], train_examples=train_examples,
                       train_on_prompt=train_on_prompt, mask_eos=mask_eos)
    torch.manual_seed(config.seed)  # the adapters' initial A depends on the seed only
    model = add_peft_lora(model, lora_config(**adapter))
    result = train(model, data["train"], data["heldout"], config, folder / "train", resume=True,
                   batch_fn=sample_examples, loss_fn=masked_lm_loss)
    model.cpu().eval()
    model.save_pretrained(folder / "adapter")
    trainable, total = trainable_parameters(model)
    write_json_atomic(folder / DONE_FILE, {
        "profile": profile, "base_model": str(base_model), "lora": {**adapter, "targets": list(adapter["targets"])},
        "train_config": config.to_dict(), "train_on_prompt": train_on_prompt, "mask_eos": mask_eos,
        "trainable_parameters": trainable, "total_parameters": total, "val_loss": result.val_loss,
        "elapsed_s": result.elapsed_s, "train_examples": int(len(data["train"])),
        "dropped_too_long": list(data["dropped"])}, indent=2)  # fmt: skip
    return model, tokenizer, result


def is_tuned(profile: str) -> bool:
    """True when ``runs/p16_instruction_tuning/<profile>/tuned.json`` exists (written last by :func:`tune`)."""
    return (tune_dir(profile) / DONE_FILE).exists()


def load_adapter(folder: str | os.PathLike, *, profile: str = "quick") -> tuple[Any, Any]:
    """The peft model saved in ``folder`` (``adapter/`` + ``tuned.json``) on its base model, and the tokenizer."""
    from peft import PeftModel

    folder = Path(folder)
    info = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))
    model, tokenizer = load_causal_lm(info["base_model"], profile=profile)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return PeftModel.from_pretrained(model, folder / "adapter").eval(), tokenizer


def load_tuned(profile: str | None = None, *, progress: bool = True) -> tuple[Any, Any]:
    """The instruction-tuned model (peft over the course's base model, eval mode, CPU) and its tokenizer.

    ``profile=None``: the ``full`` run when done, else ``quick``. ``"quick"`` is tuned (well under a minute on 2
    CPU cores, after the base model exists) when missing; ``"full"`` never tunes implicitly. Concurrent callers
    tune once (a file lock); the base model is reached with ``model.disable_adapter()``.
    """
    if profile is None:
        profile = "full" if is_tuned("full") else "quick"
    folder = tune_dir(profile)
    if not is_tuned(profile):
        if profile == "full":
            raise FileNotFoundError(f"{folder / DONE_FILE} is missing: run tune('full') (hours on a CPU) first.")
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / LOCK_FILE)):
            if not is_tuned(profile):
                print(f"tuning the {profile} adapter into {folder} (once; later calls load it)", flush=True)
                tune(profile, folder, progress=progress)
    return load_adapter(folder, profile=profile)
