"""Device choice, dtype policy, seeding and determinism.

The course's one device policy: every function that takes a ``device`` accepts a name or a ``torch.device``,
defaults to ``"auto"``, and turns it into a ``torch.device`` with :func:`resolve_device`, once, at its start.
``pick_device`` prefers CUDA, then Apple's MPS, then the CPU; a chapter's ``device`` parameter overrides it.
``seed_everything`` makes a run repeatable on one machine (same hardware, same library versions); results on a
GPU differ from the CPU in the last digits, which is why the course compares numbers with tolerances.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

VALID_DEVICES = ("auto", "cuda", "mps", "cpu")


def pick_device(preferred: str = "auto") -> torch.device:
    """Return the device to compute on: ``"auto"`` gives cuda > mps > cpu; a named one must be available.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` when the named device is not present here.
    """
    if preferred not in VALID_DEVICES:
        raise ValueError(f"Unknown device {preferred!r}; choose one of {', '.join(VALID_DEVICES)}.")
    if preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preferred == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is visible; use device='auto' or 'cpu'.")
    if preferred == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device='mps' was asked for but Apple's MPS is not available; use 'auto' or 'cpu'.")
    return torch.device(preferred)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device to compute on: a ``torch.device`` is returned unchanged (e.g. ``torch.device("cuda:1")``, or
    what :func:`pick_device` chose before); a name (``"auto"``, ``"cuda"``, ``"mps"``, ``"cpu"``) goes through
    :func:`pick_device`, with its errors for an unknown or absent device."""
    if isinstance(device, torch.device):
        return device
    return pick_device(device)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype worth using on ``device``: bf16 on CUDA GPUs that support it, else None (fp32).

    MPS and CPU train in float32 here: bf16 on CPU is slower for small models, and MPS autocast is still uneven.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same way.

    Pass the returned generator to code that draws random numbers, so that an experiment's randomness does
    not depend on what ran before it in the notebook.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return torch.Generator().manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (slower on GPU; a no-op cost on CPU). Warns instead of failing."""
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def describe_device(device: torch.device) -> str:
    """One line naming the hardware a result was measured on (printed by chapters next to their timings)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU"
    return f"cpu: {torch.get_num_threads()} threads"
