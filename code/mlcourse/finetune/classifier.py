"""A sequence classifier on top of the course's language model, and the freezing strategies of chapter 15.

What it does:
  * :class:`SequenceClassifier`: a :class:`~mlcourse.model.transformer.TransformerLM` backbone plus one linear head
    that reads the backbone's final hidden states (``TransformerLM.hidden_states``) of each right-padded
    sequence: their mean over the real tokens (``pooling="mean"``, the default) or the state at the last real
    token (``"last"``). The model has no padding mask, but attention is causal: a real token never attends to
    the pads that follow it, so the real positions' states equal those of an unpadded forward pass (a test
    checks this) and the pads are simply left out of the pooling.
  * :func:`init_head`: the head's initial weights from its own ``torch.Generator``, so that both arms of a
    comparison (pretrained / random backbone) start with the *same* head.
  * :func:`set_trainable`: which parameters fine-tuning updates: ``"all"``, ``"last_layer"`` (the last block,
    the final norm and the head) or ``"head"`` (a linear probe on frozen features).

What it deliberately does not do: attention pooling or a [CLS] token (extensions), dropout, or train: the loop
is :func:`mlcourse.finetune.transfer.run_transfer`. The backbone's ``lm_head`` is kept, unused by the
classifier, so the fine-tuned backbone can still be scored as a language model (the forgetting measurement).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.model.transformer import TransformerLM

TrainParts = Literal["all", "last_layer", "head"]
TRAIN_PARTS: tuple[str, ...] = ("all", "last_layer", "head")


def init_head(head: nn.Linear, seed: int, std: float = 0.02) -> None:
    """Normal(0, ``std``) weights and zero bias, drawn from a generator seeded by ``seed`` only (not by the
    global RNG), so the head starts identically whatever backbone it sits on."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * std)
        if head.bias is not None:
            head.bias.zero_()


class SequenceClassifier(nn.Module):
    """Token ids (B, T), right-padded, with their lengths (B,) -> class logits (B, n_classes)."""

    def __init__(self, backbone: TransformerLM, n_classes: int, head_seed: int = 0, pooling: str = "mean") -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}.")
        self.backbone, self.pooling = backbone, pooling
        self.head = nn.Linear(backbone.config.d_model, n_classes)
        init_head(self.head, head_seed)

    def features(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled hidden states of the real tokens: (B, T), (B,) -> (B, d_model)."""
        if lengths.shape != input_ids.shape[:1]:
            raise ValueError(f"lengths must have shape ({input_ids.shape[0]},), one per sequence, "
                             f"got {tuple(lengths.shape)}.")
        if int(lengths.min()) < 1 or int(lengths.max()) > input_ids.shape[1]:
            raise ValueError(f"lengths must lie in 1..{input_ids.shape[1]} (the padded length), got "
                             f"min {int(lengths.min())}, max {int(lengths.max())}.")
        hidden = self.backbone.hidden_states(input_ids)  # (B, T, d_model)
        lengths = lengths.to(hidden.device)
        if self.pooling == "last":
            return hidden[torch.arange(len(lengths), device=hidden.device), lengths - 1]  # (B, d_model)
        real = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]  # (B, T) mask
        return (hidden * real[..., None]).sum(1) / lengths[:, None]  # (B, d_model): mean over real tokens

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T), (B,) -> logits (B, n_classes)."""
        return self.head(self.features(input_ids, lengths))

    def loss(self, input_ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the class predictions; labels (B,) in [0, n_classes)."""
        return F.cross_entropy(self(input_ids, lengths), labels)


def set_trainable(model: nn.Module, parts: str) -> int:
    """Freeze everything except ``parts`` and return the number of trainable parameters.

    ``model`` is a :class:`SequenceClassifier` (its ``head`` is the task head) or a bare
    :class:`TransformerLM` (then its ``lm_head`` plays the head's part).

    * ``"all"``: every parameter (full fine-tuning);
    * ``"last_layer"``: the last decoder block, the final norm and the head;
    * ``"head"``: the head only, on frozen features (a "linear probe").
    """
    if parts not in TRAIN_PARTS:
        raise ValueError(f"Unknown parts {parts!r}; choose one of {TRAIN_PARTS}.")
    lm = model.backbone if isinstance(model, SequenceClassifier) else model
    head = model.head if isinstance(model, SequenceClassifier) else lm.lm_head
    if not isinstance(lm, TransformerLM):
        raise TypeError(f"expected a SequenceClassifier or a TransformerLM, got {type(model).__name__}.")
    for param in model.parameters():
        param.requires_grad_(parts == "all")
    if parts != "all":
        chosen = [head] + ([lm.layers[-1], lm.norm] if parts == "last_layer" else [])
        for module in chosen:
            for param in module.parameters():
                param.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
