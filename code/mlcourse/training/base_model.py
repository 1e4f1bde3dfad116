"""The course's pretrained base model: chapter 14 trains it, chapters 13.5, 15, 16 and 17 load it.

What it does:
  * :data:`BASE_SETTINGS`: the one definition of the base model per profile (tokenizer size, architecture,
    training run). ``quick`` is a real small model trained in about two minutes on 2 CPU cores; ``full`` is the
    same shape trained on about 6 passes over the corpus, designed from chapter 14's scaling and repetition
    measurements (minutes on a GPU, a quarter of an hour on 2 CPU cores). Both export the best held-out checkpoint.
  * :func:`train_base`: takes chapter 13's tokenizer (:func:`mlcourse.tokenizers.recipe.course_tokenizer`,
    trained on the training works only), packs the works into one token stream (each followed by ``<eos>``),
    trains the Mistral-style model with :func:`mlcourse.training.loop.train` (resumable: a killed run continues
    where it stopped; one trainer per folder, under a file lock), and saves the result, all under
    ``runs/p14_pretraining/<profile>/``::

        tokenizer.json        our BPE (readable JSON)
        train/                checkpoints, metrics.jsonl, samples.jsonl
        hf/                   MistralForCausalLM + tokenizer, for transformers / peft (chapters 16-17)
        base.json             written last: what was trained, its validation loss; its presence = "done"

  * :func:`load_base`: the model and tokenizer; ``profile=None`` takes the full run when it is done, else the
    quick one, training the quick one first when it does not exist yet. A file lock makes two processes that ask
    at the same time (CI runs notebooks in parallel) train it once: the second waits, then loads.

What it deliberately does not do: choose hyperparameters per machine (the profiles are fixed so that results
are comparable), or download anything.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from mlcourse.model import hf_mistral
from mlcourse.training.batching import pack_documents
from mlcourse.training.checkpoint import latest_checkpoint, load_checkpoint
from mlcourse.data.shakespeare import build_corpus, load_records, split_works
from mlcourse.course.atomic import write_json_atomic
from mlcourse.course.paths import runs_dir
from mlcourse.course.profiles import check_profile
from mlcourse.tokenizers import BPETokenizer
from mlcourse.tokenizers.recipe import course_tokenizer
from mlcourse.training.loop import TrainConfig, TrainResult, train
from mlcourse.model.transformer import TransformerConfig, TransformerLM

STEM = "p14_pretraining"
BASE_FILE = "base.json"
LOCK_FILE = ".train.lock"

# The base model of each profile. Tokenizer: chapter 13's 4,096-token byte-level BPE (trained on the training
# works only). Model: Mistral's choices (RMSNorm, RoPE, SwiGLU, grouped-query attention).
BASE_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "vocab_size": 4096,
        "model": dict(d_model=128, n_layers=4, n_heads=4, n_kv_heads=2, max_seq_len=128),
        "train": dict(steps=260, batch_size=16, seq_len=128, lr=3e-3, min_lr=3e-4, warmup_steps=20,
                      eval_every=65, eval_batches=8, checkpoint_every=65, sample_tokens=48, keep_best=True),
    },
    # Designed from chapter 14's measurements (section "Designing the full profile"): the corpus (1.4 M training tokens), not
    # compute, is the limit, so the full run keeps the quick width and depth (about 1 M parameters outside the
    # embedding, near the frontier's extrapolated optimum) and trains it for about 6 passes (the repetition study's
    # held-out loss still fell at 5.7 passes for a similar parameters-to-tokens ratio), with weight decay 1.0 (best
    # there), no dropout (it did not help there) and the best held-out checkpoint exported.
    "full": {
        "vocab_size": 4096,
        "model": dict(d_model=128, n_layers=4, n_heads=4, n_kv_heads=2, max_seq_len=256),
        "train": dict(steps=1050, batch_size=32, seq_len=256, lr=3e-3, min_lr=3e-4, warmup_steps=50,
                      weight_decay=1.0, eval_every=50, eval_batches=16, checkpoint_every=50, sample_tokens=120,
                      keep_best=True),
    },
}


@dataclass
class BaseData:
    """The base model's tokenizer and data: 1-D id streams of the training and held-out works."""

    tokenizer: BPETokenizer
    train_ids: torch.Tensor  # (N_train,)
    val_ids: torch.Tensor  # (N_val,)
    val_bytes_per_token: float


def base_dir(profile: str) -> Path:
    """``runs/p14_pretraining/<profile>/`` (not created)."""
    return runs_dir() / STEM / check_profile(profile)


def model_config(profile: str, vocab_size: int) -> TransformerConfig:
    """The base model's architecture for ``profile``."""
    return TransformerConfig.mistral(vocab_size=vocab_size, **BASE_SETTINGS[profile]["model"])


def train_config(profile: str, **overrides: Any) -> TrainConfig:
    """The base model's training run for ``profile``; ``overrides`` change single fields (e.g. ``device``)."""
    return TrainConfig(**{**BASE_SETTINGS[profile]["train"], **overrides})


def prepare_data(folder: Path, vocab_size: int) -> BaseData:
    """Load the tokenizer of ``folder/tokenizer.json`` (a resumed run) or copy chapter 13's ``course_tokenizer``
    (trained on the training works only, cached in ``data/tokenizers/``) there; encode the works, each ending in
    ``<eos>``."""
    records = load_records()
    train_works, val_works = split_works()
    texts = {w: build_corpus(r for r in records if r.work == w) for w in (*train_works, *val_works)}
    path = folder / "tokenizer.json"
    if path.exists():
        tokenizer = BPETokenizer.load(path)
    else:
        tokenizer = course_tokenizer(vocab_size)  # the one recipe: trained on the training works, once per machine
        tokenizer.save(path)  # written before any training, so a resumed run uses the same ids
    encoded = {w: tokenizer.encode(t) for w, t in texts.items()}
    val_bytes = sum(len(texts[w].encode("utf-8")) + 1 for w in val_works)  # + 1: the <eos> stands for a break
    train_ids = pack_documents((encoded[w] for w in train_works), tokenizer.eos_id, vocab_size=tokenizer.vocab_size)
    val_ids = pack_documents((encoded[w] for w in val_works), tokenizer.eos_id, vocab_size=tokenizer.vocab_size)
    return BaseData(tokenizer, train_ids, val_ids, val_bytes / len(val_ids))


def _export_hf(model: TransformerLM, tokenizer: BPETokenizer, target: Path) -> None:
    """Write the Hugging Face copy into a temporary folder, then move it into place (never half a folder)."""
    from mlcourse.tokenizers.hf_tokenizer import export

    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".hf-"))
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' "Writing model shards" bar, not an error
        hf_mistral.save_pretrained(model, staging)
        export(tokenizer, staging)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


def train_base(profile: str = "quick", *, folder: str | os.PathLike | None = None, progress: bool = True,
               **overrides: Any) -> tuple[TransformerLM, BPETokenizer, TrainResult]:  # fmt: skip
    """Train the base model of ``profile`` into ``folder`` (default :func:`base_dir`), resuming a killed run.

    A finished run returns at once (nothing is retrained). ``overrides`` change fields of the training run
    (``steps``, ``device``, ...); a run with overrides should go to its own ``folder``.
    Returns the trained model (eval mode, CPU), its tokenizer and the :class:`TrainResult`.
    """
    folder = Path(folder) if folder is not None else base_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    # One trainer per folder: notebooks executed in parallel (CI) that all need the base model wait here, and the
    # ones that come second resume the finished run, which returns at once.
    with FileLock(str(folder / LOCK_FILE)):
        if not (folder / BASE_FILE).exists():
            print(f"training the {profile} base model into {folder} (once; later calls load it)", flush=True)
        return _train(profile, folder, progress, overrides)


def _train(profile: str, folder: Path, progress: bool, overrides: dict[str, Any]
           ) -> tuple[TransformerLM, BPETokenizer, TrainResult]:  # fmt: skip
    data = prepare_data(folder, BASE_SETTINGS[profile]["vocab_size"])
    config = train_config(profile, progress=progress, **overrides)
    torch.manual_seed(config.seed)  # the initial weights depend on the seed only
    model = TransformerLM(model_config(profile, data.tokenizer.vocab_size))
    result = train(model, data.train_ids, data.val_ids, config, folder / "train", resume=True,
                   encode=data.tokenizer.encode, decode=data.tokenizer.decode,
                   bytes_per_token=data.val_bytes_per_token)
    exported = result.best_checkpoint or result.checkpoint  # early stopping: the lowest held-out loss, not the last
    if result.best_checkpoint is not None:
        load_checkpoint(result.best_checkpoint, model)
    model.cpu().eval()
    _export_hf(model, data.tokenizer, folder / "hf")
    best = result.best_checkpoint is not None
    write_json_atomic(folder / BASE_FILE, {
        "profile": profile, "model_config": model.config.to_dict(), "train_config": config.to_dict(),
        "checkpoint": str(exported.relative_to(folder)) if exported else None,
        "best_step": result.best_step if best else result.step, "last_step": result.step,
        "val_loss": result.best_val_loss if best else result.val_loss,
        "val_bpb": bits_per_byte(result.best_val_loss, data.val_bytes_per_token) if best else result.val_bpb,
        "last_val_loss": result.val_loss, "tokens_seen": result.tokens_seen,
        "val_bytes_per_token": data.val_bytes_per_token, "train_tokens": len(data.train_ids),
        "val_tokens": len(data.val_ids)}, indent=2)  # fmt: skip
    return model, data.tokenizer, result


def bits_per_byte(loss: float, bytes_per_token: float) -> float:
    """Nats per token -> bits per byte (the measure that compares tokenizers)."""
    return loss / math.log(2) / bytes_per_token


def is_trained(profile: str) -> bool:
    """True when ``runs/p14_pretraining/<profile>/base.json`` exists (written last by :func:`train_base`)."""
    return (base_dir(profile) / BASE_FILE).exists()


def _load(folder: Path) -> tuple[TransformerLM, BPETokenizer]:
    info = json.loads((folder / BASE_FILE).read_text(encoding="utf-8"))
    tokenizer = BPETokenizer.load(folder / "tokenizer.json")
    model = TransformerLM(TransformerConfig(**info["model_config"]))
    checkpoint = folder / info["checkpoint"] if info.get("checkpoint") else latest_checkpoint(folder / "train")
    if checkpoint is None:
        raise FileNotFoundError(f"{folder / 'train'} has no checkpoint although {folder / BASE_FILE} exists; "
                                f"delete {folder} and call load_base() again to retrain it.")
    load_checkpoint(checkpoint, model)
    return model.eval(), tokenizer


def load_base(profile: str | None = None, *, progress: bool = True) -> tuple[TransformerLM, BPETokenizer]:
    """The pretrained base model (eval mode, CPU) and its tokenizer.

    ``profile=None``: the ``full`` run when it is done, otherwise the ``quick`` one. ``"quick"`` trains it
    (about two minutes on 2 CPU cores) when it does not exist yet; ``"full"`` never trains implicitly (a quarter
    of an hour on 2 CPU cores): it raises ``FileNotFoundError`` saying how to run it. Concurrent callers train once (a file lock).
    """
    if profile is None:
        profile = "full" if is_trained("full") else "quick"
    folder = base_dir(profile)
    if is_trained(profile):
        return _load(folder)
    if profile == "full":
        raise FileNotFoundError(f"the full base model is not trained yet ({folder / BASE_FILE} is missing): run "
                                "`python -m mlcourse run p14_pretraining --profile full` (the chapter, with the base model's "
                                "full run: about 15 minutes of it on 2 CPU cores, minutes on a GPU), or train the model alone "
                                "with base_model.train_base('full'), or use load_base('quick').")
    train_base(profile, progress=progress)  # under the folder's lock: concurrent callers train it once
    return _load(folder)
