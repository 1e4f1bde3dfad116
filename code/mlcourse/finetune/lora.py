"""LoRA from scratch, and the same adapters through ``peft``: chapter 16's low-rank fine-tuning.

What it does:
  * :class:`LoRALinear`: wraps a frozen ``nn.Linear`` (weight W, shape (out, in)) and adds a trainable low-rank
    update: ``y = x W^T + (alpha / r) * dropout(x) A^T B^T`` with A (r, in) random (Kaiming-uniform, as peft)
    and B (out, r) zero, so the wrapped model starts exactly equal to the base model.
    :meth:`LoRALinear.merged_weight` is ``W + (alpha / r) B A``.
  * :func:`apply_lora` / :func:`merge_lora`: put wrappers on every ``nn.Linear`` whose name ends with one of the
    target names (``q_proj``, ...), freezing everything else; and fold them back into plain ``nn.Linear`` layers.
  * :func:`lora_config`: the ``peft.LoraConfig`` of the same adapter; :data:`ALL_LINEAR` (all seven projections
    of a Mistral block) and :data:`QV` (peft's historical default for Llama/Mistral: q and v only).
  * :func:`add_peft_lora`: ``peft.get_peft_model`` (quietly).
  * :func:`copy_lora_to_peft`: copies our A and B into a peft model, which shows the two are the same function.
  * :func:`trainable_parameters` and :func:`lora_update_norms` (``||(alpha/r) B A||_F`` per layer and module,
    for ours and for peft's): which adapted matrices moved most.

What it does not do: train (:mod:`mlcourse.finetune.instruction_tuning` runs chapter 14's loop), quantise
(QLoRA), or other adapter kinds (DoRA, prefix tuning).

Taught in chapter 16 (Instruction tuning with LoRA); chapter 17 reads the update norms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QV = ("q_proj", "v_proj")


class LoRALinear(nn.Module):
    """``base`` (frozen) plus ``(alpha / r) * B A``: A (r, in) Kaiming-uniform, B (out, r) zeros."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got {r}.")
        self.base, self.r, self.alpha = base, r, alpha
        self.scale = alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features, dtype=base.weight.dtype, device=base.weight.device))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype, device=base.weight.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # peft's init of lora_A (nn.Linear's default)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        update = self.dropout(x) @ self.A.T @ self.B.T  # (..., r) then (..., out)
        return self.base(x) + self.scale * update

    def delta_weight(self) -> torch.Tensor:
        """(out, in): the update ``(alpha / r) B A`` the adapter adds to W."""
        return self.scale * self.B @ self.A

    def merged_weight(self) -> torch.Tensor:
        """(out, in): ``W + (alpha / r) B A``."""
        return self.base.weight + self.delta_weight()


def _targets(model: nn.Module, targets: Sequence[str]) -> list[str]:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.split(".")[-1] in targets]
    if not names:
        raise ValueError(f"no nn.Linear named like {list(targets)} in this model; its linear layers end in "
                         f"{sorted({n.split('.')[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})}.")
    return names


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def apply_lora(model: nn.Module, targets: Sequence[str] = ALL_LINEAR, r: int = 32, alpha: float = 64.0,
               dropout: float = 0.0) -> list[str]:  # fmt: skip
    """Freeze ``model`` and wrap each target ``nn.Linear`` in a :class:`LoRALinear` (in place); return their names.

    Module names end in Hugging Face's names (``layers.0.attn.q_proj``), so the same ``targets`` fit our model
    and ``MistralForCausalLM``.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    names = _targets(model, targets)
    for name in names:
        _set(model, name, LoRALinear(model.get_submodule(name), r, alpha, dropout))
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by an ``nn.Linear`` holding ``W + (alpha/r) B A`` (in place)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            merged = nn.Linear(module.base.in_features, module.base.out_features, bias=module.base.bias is not None)
            merged.to(module.base.weight)
            with torch.no_grad():
                merged.weight.copy_(module.merged_weight())
                if module.base.bias is not None:
                    merged.bias.copy_(module.base.bias)
            _set(model, name, merged)
    return model


def lora_config(r: int = 32, alpha: float = 64.0, dropout: float = 0.05, targets: Sequence[str] = ALL_LINEAR):
    """The ``peft.LoraConfig`` of a causal-LM adapter with these settings."""
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=alpha, lora_dropout=dropout,
                      target_modules=list(targets), bias="none")


def add_peft_lora(model: nn.Module, config) -> nn.Module:
    """``peft.get_peft_model(model, config)`` without transformers 5's deprecation warning about peft's own call
    of ``is_gradient_checkpointing`` (not ours to fix; notebooks must not print to stderr)."""
    import warnings

    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def _peft_pairs(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """``{module name: (A, B, scale)}`` of a peft model's LoRA layers (adapter ``default``)."""
    pairs = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            pairs[name] = (module.lora_A["default"].weight, module.lora_B["default"].weight,
                           float(module.scaling["default"]))
    return pairs


def copy_lora_to_peft(ours: nn.Module, peft_model: nn.Module) -> int:
    """Copy every :class:`LoRALinear`'s A and B into the peft layer of the same name; return how many."""
    theirs = {re.sub(r"^base_model\.model\.(model\.)?", "", n): v for n, v in _peft_pairs(peft_model).items()}
    copied = 0
    with torch.no_grad():
        for name, module in ours.named_modules():
            if isinstance(module, LoRALinear):
                key = name.removeprefix("model.")
                if key not in theirs:
                    raise KeyError(f"peft model has no LoRA layer {key!r}; it has {sorted(theirs)[:4]}...")
                A, B, scale = theirs[key]
                if not math.isclose(scale, module.scale):
                    raise ValueError(f"{key}: peft scales by {scale}, ours by {module.scale}; use the same r and alpha.")
                A.copy_(module.A)
                B.copy_(module.B)
                copied += 1
    return copied


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (a tied matrix counts once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


@torch.no_grad()
def lora_update_norms(model: nn.Module) -> pd.DataFrame:
    """One row per adapted matrix: ``layer``, ``module`` (q_proj, ...) and ``norm`` = ||(alpha/r) B A||_F, for our
    :class:`LoRALinear` layers and for peft's."""
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            rows.append((name, module.delta_weight()))
    rows += [(name, s * B @ A) for name, (A, B, s) in _peft_pairs(model).items()]
    out = []
    for name, delta in rows:
        layer = re.search(r"layers\.(\d+)\.", name)
        out.append({"layer": int(layer.group(1)) if layer else -1, "module": name.split(".")[-1],
                    "norm": float(delta.float().norm())})
    return pd.DataFrame(out, columns=["layer", "module", "norm"])
