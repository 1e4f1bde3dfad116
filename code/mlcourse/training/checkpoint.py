"""Training checkpoints as safetensors + JSON, written atomically, verified when read.

A checkpoint is a folder ``<run_dir>/step_<N>/`` holding
  * ``model.safetensors``: the model's tensors (a tied matrix stored once);
  * ``optimizer.safetensors``: AdamW's per-parameter state flattened to ``state.<index>.<name>``
    (``exp_avg``, ``exp_avg_sq``, ``step``);
  * ``state.json``: everything else: step, tokens seen, the model and training configs, the optimizer's
    hyper-parameter groups, the RNG states (Python, NumPy, torch CPU and CUDA, the data sampler's
    ``torch.Generator``), a metrics summary, the format version and the sha256 of both safetensors files.
``<run_dir>/latest`` names the newest complete checkpoint.

Writing is crash-safe: files go into a hidden temporary folder beside the final one, are fsync'ed, the folder
is renamed into place with ``os.replace`` (atomic on one file system), and only then is ``latest`` replaced,
itself with :func:`mlcourse.course.atomic.write_text_atomic` (the course's one atomic file write, also used by
:func:`truncate_jsonl`). A SIGKILL at any moment leaves either the old checkpoint or the new one, never half of
one. Only the last ``keep_last`` checkpoints are kept. :func:`truncate_jsonl` cuts a run's JSONL logs back to a
checkpoint's step when a killed run resumes.

What it deliberately does not do: pickle. Nothing here calls ``torch.save``/``torch.load``; a checkpoint from
someone else is data, not code. It also does not shard large models or save to remote storage.

Taught in chapter 14 (Pretraining a tiny transformer on Shakespeare).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from mlcourse.course.atomic import write_text_atomic

FORMAT_VERSION = 1
LATEST = "latest"
_STEP_DIR = re.compile(r"^step_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupt, or from a different model."""


class ConfigMismatch(CheckpointError):
    """A sound checkpoint of a *different* model: resuming must not skip it and silently start afresh."""


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()  # reads in blocks, not all at once


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a power cut cannot reorder it after the rename."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- RNG states as JSON (lists and base64, never pickle) -----------------------------------------------------
def _b64(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _from_b64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def generator_state(generator: torch.Generator) -> str:
    """A ``torch.Generator``'s state as base64 text (restore with :func:`set_generator_state`)."""
    return _b64(generator.get_state())


def set_generator_state(generator: torch.Generator, text: str) -> None:
    generator.set_state(_from_b64(text))


def rng_states() -> dict[str, Any]:
    """The global RNG states of Python, NumPy, torch's CPU and (when present) every CUDA device."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch_cpu": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        states["torch_cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA states only when this machine has CUDA)."""
    version, mt_state, gauss = states["python"]
    random.setstate((version, tuple(mt_state), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_from_b64(states["torch_cpu"]))
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_from_b64(s) for s in states["torch_cuda"]])


# ---- optimizer state <-> flat tensors + JSON -------------------------------------------------------------------
def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """AdamW's ``state_dict`` as ``{"state.<i>.<name>": tensor}`` plus the JSON-able rest."""
    full = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, per_param in full["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in full["param_groups"]]
    return tensors, {"param_groups": groups, "scalar_state": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalar_state"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# ---- finding checkpoints ---------------------------------------------------------------------------------------
def step_of(path: Path) -> int:
    match = _STEP_DIR.match(Path(path).name)
    if not match:
        raise ValueError(f"{path} is not a checkpoint folder (expected a name like step_120).")
    return int(match.group(1))


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The ``step_<N>`` folders of ``run_dir``, oldest first (only complete ones exist: they are renamed in)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)), key=step_of)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint ``<run_dir>/latest`` names, else the newest ``step_<N>`` folder, else ``None``."""
    pointer = Path(run_dir) / LATEST
    if pointer.exists():
        candidate = Path(run_dir) / pointer.read_text(encoding="utf-8").strip()
        if candidate.is_dir():
            return candidate
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


# ---- save and load ---------------------------------------------------------------------------------------------
def save_checkpoint(
    run_dir: str | os.PathLike,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    *,
    keep_last: int = 3,
) -> Path:
    """Write ``<run_dir>/step_<step>/`` atomically, point ``latest`` at it and prune older checkpoints.

    ``state`` is the JSON-able rest (tokens seen, configs, RNG states, metrics summary); ``step``,
    ``format_version``, the optimizer groups and the file hashes are added here. Refuses (``CheckpointError``)
    to write a model with a NaN or inf weight: a checkpoint must always be a good place to resume from.
    """
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1, got {keep_last}.")
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise CheckpointError(f"refusing to checkpoint step {step}: non-finite values in {bad[:3]}.")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"step_{step}"
    for stale in run_dir.glob(".tmp-step_*"):  # left by a run killed mid-write (one writer per run_dir)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = run_dir / f".tmp-step_{step}-{os.getpid()}"
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))  # drops the duplicate name of a tied matrix
    opt_tensors, opt_meta = _flatten_optimizer(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    files = {name: _sha256(tmp / name) for name in ("model.safetensors", "optimizer.safetensors")}
    record = {**state, "step": step, "format_version": FORMAT_VERSION, "optimizer": opt_meta, "sha256": files}
    (tmp / "state.json").write_text(json.dumps(record, indent=1, default=float), encoding="utf-8")
    for name in (*files, "state.json"):
        _fsync(tmp / name)
    _fsync(tmp)
    if final.exists():  # the same step written before a crash, or a corrupt copy: the new one supersedes it
        stale = run_dir / f".stale-step_{step}-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(tmp, final)
    write_text_atomic(run_dir / LATEST, final.name + "\n")
    _fsync(run_dir)  # the new folder and the new pointer survive a power cut
    # Keep the newest keep_last checkpoints up to this step; later ones (left by an abandoned run) are overwritten
    # as this run reaches their steps.
    older = [p for p in list_checkpoints(run_dir) if step_of(p) <= step]
    for old in older[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder, after checking that both safetensors files match their sha256."""
    path = Path(path)
    state_file = path / "state.json"
    fix = f"delete {path} (resume falls back to the previous checkpoint) or re-run training"
    if not state_file.exists():
        raise CheckpointError(f"{state_file} is missing: {path} is not a complete checkpoint; {fix}.")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{state_file} is not valid JSON ({err}): truncated or corrupt; {fix}.") from err
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{state_file} has format_version {state.get('format_version')!r}, this code reads "
                              f"{FORMAT_VERSION}; re-run training with this version of the course.")
    if not isinstance(state.get("sha256"), dict):
        raise CheckpointError(f"{state_file} records no sha256 of the tensor files; {fix}.")
    for name, expected in state["sha256"].items():
        file = path / name
        if not file.exists():
            raise CheckpointError(f"{file} is missing; {fix}.")
        actual = _sha256(file)
        if actual != expected:
            raise CheckpointError(f"{file} is corrupt or truncated (sha256 {actual[:12]}... but state.json "
                                  f"recorded {expected[:12]}...); {fix}.")
    return state


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Load a checkpoint folder into ``model`` (and ``optimizer``); return its ``state.json`` as a dict.

    Every file is verified (sha256, JSON, the model config) *before* any tensor is copied, so a failed load
    leaves ``model`` as it was. Raises :class:`CheckpointError` naming the file and the fix.
    """
    path = Path(path)
    state = read_state(path)
    config = getattr(model, "config", None)
    saved = state.get("model_config")
    if config is not None and saved is not None and hasattr(config, "to_dict"):
        current = json.loads(json.dumps(config.to_dict()))
        diff = sorted(k for k in set(current) | set(saved) if current.get(k) != saved.get(k))
        if diff:
            raise ConfigMismatch(f"{path} was trained with a different model config ({diff}: saved "
                                  f"{[saved.get(k) for k in diff]}, now {[current.get(k) for k in diff]}); "
                                  "build the model from state['model_config'] or use another run folder.")
    device = next(model.parameters()).device
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False, device=str(device))
    if missing or unexpected:
        raise CheckpointError(f"{path / 'model.safetensors'} does not fit the model: missing {missing}, "
                              f"unexpected {unexpected}; use the model config stored in state.json.")
    if optimizer is not None:
        tensors = load_file(str(path / "optimizer.safetensors"))
        saved = _unflatten_optimizer(tensors, state["optimizer"])
        for group, current in zip(saved["param_groups"], optimizer.param_groups):
            for key in ("fused", "foreach", "capturable", "differentiable"):  # this machine's kernels, not the
                if key in current:                                           # saver's (a GPU run read on a CPU)
                    group[key] = current[key]
        optimizer.load_state_dict(saved)
    return state


def truncate_jsonl(path: str | os.PathLike, up_to_step: int) -> list[dict[str, Any]]:
    """Keep the lines of a JSONL run log whose ``step`` <= ``up_to_step`` (rewritten atomically); return them.

    A resumed run calls it with its checkpoint's step, so its log continues the curve without duplicates; a
    half-written last line (the process was killed mid-write) is dropped. A missing file becomes an empty one.
    """
    path = Path(path)
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    rows = [row for row in rows if row["step"] <= up_to_step]
    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))
    return rows
