"""Reading a trained model's attention: every head's weights, their entropy, rollout, ablation and interventions.

What it does, for any :class:`mlcourse.model.transformer.TransformerLM` (chapter 13.5 uses the pretrained base model):
  * :func:`attention_maps`: one forward pass on the explicit path (switched on by :func:`explicit_attention` and
    switched back afterwards, even on error) returning all layers' and heads' weights (B, L, H, T, T) and the
    logits. With grouped-query attention two query heads share one key/value head, yet each query head has its
    own queries, so each of the H heads has its own pattern.
  * :func:`entropy_nats`, the entropy of each query row in nats (chapter 12.1's ``attention_entropy``, exact and
    never -0.0), and :func:`normalised_entropy`, the same divided by the causal maximum log(i + 1) (row i sees
    i + 1 keys), so a head is compared with what the mask alone allows.
  * :func:`attention_rollout` (Abnar and Zuidema, 2020): head-averaged maps mixed with the identity for the
    residual path, renormalised, multiplied across layers.
  * :func:`ablate_heads`: a context manager that zeros (or mean-replaces) chosen heads' outputs where they
    enter ``o_proj``; :func:`head_ablation_table` ranks every head by the increase it causes in
    :func:`heldout_loss`, the loss on fixed :func:`heldout_windows` (the training loop's ``evaluate``).
  * :func:`edit_attention`: a context manager that replaces one head's pattern by a function of it before it
    averages the values (an intervention); :func:`knock_out_key` is one such function.

What it deliberately does not do: gradient-based attributions, attention to padding (the model has no padding
mask), plotting (the chapter draws), or any training. Head detectors live in :mod:`.head_detectors`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from mlcourse.model.attention import attention_entropy as row_entropy
from mlcourse.training.batching import random_windows
from mlcourse.training.loop import evaluate
from mlcourse.model.transformer import TransformerLM

Head = tuple[int, int]  # (layer, head), both counted from 0


@contextlib.contextmanager
def explicit_attention(model: TransformerLM) -> Iterator[TransformerLM]:
    """Run every layer on the explicit path (weights kept) inside the block; restore each layer's path after."""
    saved = [layer.self_attn.path for layer in model.layers]
    try:
        for layer in model.layers:
            layer.self_attn.path = "explicit"
        yield model
    finally:
        for layer, path in zip(model.layers, saved):
            layer.self_attn.path = path
            layer.self_attn.last_attn_weights = None  # do not keep (B, H, T, T) tensors alive after the block


@dataclass
class AttentionMaps:
    """The result of :func:`attention_maps`."""

    weights: torch.Tensor  # (B, L, H, T, T): weights[b, l, h, i, j] = how much query i takes from key j
    logits: torch.Tensor  # (B, T, vocab)


def _as_batch(input_ids: torch.Tensor | list[int]) -> torch.Tensor:
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)  # (T,) -> (1, T)
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError(f"input_ids must be (T,) or (B, T) with T >= 1, got shape {tuple(ids.shape)}.")
    return ids


@torch.no_grad()
def attention_maps(model: TransformerLM, input_ids: torch.Tensor | list[int]) -> AttentionMaps:
    """All layers' and heads' attention weights for ``input_ids`` (T,) or (B, T), plus the logits."""
    ids = _as_batch(input_ids).to(next(model.parameters()).device)
    with explicit_attention(model):
        logits = model(ids)  # (B, T, vocab)
        weights = torch.stack(model.attention_weights(), dim=1)  # L x (B, H, T, T) -> (B, L, H, T, T)
    return AttentionMaps(weights.cpu(), logits.cpu())


def entropy_nats(attn_weights: torch.Tensor) -> torch.Tensor:
    """The entropy in nats of each attention row, (..., T_q, T_k) -> (..., T_q): chapter 12.1's
    :func:`mlcourse.model.attention.attention_entropy` (0 log 0 = 0) computed in float64 and never negative, so a
    one-hot row reads 0.0 rather than -0.0. The result has the weights' dtype."""
    entropy = row_entropy(attn_weights.double())
    return (entropy.clamp_min(0.0) + 0.0).to(attn_weights.dtype)  # + 0.0 turns -0.0 into 0.0


def normalised_entropy(attn_weights: torch.Tensor) -> torch.Tensor:
    """Row entropy divided by log(i + 1), the entropy of a uniform causal row i (0-based): (..., T, T) -> (..., T).

    1 = as spread out as the causal mask allows, 0 = all weight on one key. Row 0 sees one key only, so its
    entropy is 0 by construction and its normalised value is NaN (leave it out of averages).
    """
    T = attn_weights.shape[-1]
    if attn_weights.shape[-2] != T:
        raise ValueError(f"causal self-attention weights are square (T, T), got {tuple(attn_weights.shape[-2:])}.")
    ceiling = torch.log(torch.arange(1, T + 1, dtype=torch.float64))  # (T,): log(i + 1)
    return (entropy_nats(attn_weights).double() / ceiling).to(attn_weights.dtype)  # row 0: 0 / 0 = NaN


def uniform_causal(T: int) -> torch.Tensor:
    """The weights a head would have if it attended evenly to everything the causal mask allows: (T, T)."""
    return torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]


def attention_rollout(weights: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Rollout across layers: (..., L, H, T, T) -> (..., T, T), row i = how much input j reaches output i.

    Per layer A' = (1 - residual) * mean_heads(A) + residual * I, rows renormalised; then R = A'_L ... A'_1.
    """
    if weights.dim() < 4:
        raise ValueError(f"weights must be (..., L, H, T, T), got shape {tuple(weights.shape)}.")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be in [0, 1], got {residual}.")
    mixed = (1 - residual) * weights.mean(dim=-3)  # (..., L, T, T)
    mixed = mixed + residual * torch.eye(weights.shape[-1], dtype=weights.dtype)
    mixed = mixed / mixed.sum(-1, keepdim=True)
    rollout = mixed[..., 0, :, :]
    for layer in range(1, mixed.shape[-3]):
        rollout = mixed[..., layer, :, :] @ rollout  # later layers act on what earlier layers gathered
    return rollout


def _check_heads(model: TransformerLM, heads: Iterable[Head]) -> list[Head]:
    heads = [(int(layer), int(head)) for layer, head in heads]
    L, H = model.config.n_layers, model.config.n_heads
    for layer, head in heads:
        if not (0 <= layer < L and 0 <= head < H):
            raise ValueError(f"head (layer={layer}, head={head}) does not exist: layers are 0..{L - 1}, "
                             f"heads 0..{H - 1}.")
    return heads


@contextlib.contextmanager
def ablate_heads(model: TransformerLM, heads: Iterable[Head], mode: str = "zero") -> Iterator[TransformerLM]:
    """Switch off ``heads`` [(layer, head), ...] inside the block, by editing each head's slice of the
    (B, T, H * d_head) input of its layer's ``o_proj``: ``"zero"`` sets it to 0, ``"mean"`` to its mean over
    the batch and positions (which keeps the next layers' inputs at their usual scale)."""
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}.")
    d_head = model.config.d_head
    by_layer: dict[int, list[int]] = {}
    for layer, head in _check_heads(model, heads):
        by_layer.setdefault(layer, []).append(head)

    def make_hook(head_ids: list[int]) -> Callable:
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            x = args[0].clone()  # (B, T, H * d_head): head h owns columns h*d_head .. (h+1)*d_head - 1
            for h in head_ids:
                cols = slice(h * d_head, (h + 1) * d_head)
                x[..., cols] = 0.0 if mode == "zero" else x[..., cols].mean(dim=(0, 1), keepdim=True)
            return (x, *args[1:])
        return hook

    handles = [model.layers[layer].self_attn.o_proj.register_forward_pre_hook(make_hook(hs))
               for layer, hs in by_layer.items()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def edit_attention(model: TransformerLM, layer: int, head: int,
                   edit: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[TransformerLM]:  # fmt: skip
    """Inside the block, head ``head`` of ``layer`` uses ``edit(pattern)`` instead of its own pattern, where
    pattern is its (B, T, T) weights; the edited rows average the values as usual. All layers run explicitly."""
    _check_heads(model, [(layer, head)])
    attn = model.layers[layer].self_attn

    def replace(weights: torch.Tensor) -> torch.Tensor:  # (B, H, T, T)
        new = edit(weights[:, head])  # (B, T, T)
        if new.shape != weights[:, head].shape:
            raise ValueError(f"edit must return the pattern's shape {tuple(weights[:, head].shape)}, "
                             f"got {tuple(new.shape)}.")
        weights = weights.clone()
        weights[:, head] = new
        return weights

    with explicit_attention(model):
        attn.edit_weights = replace
        try:
            yield model
        finally:
            attn.edit_weights = None


def knock_out_key(query: int, key: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """An edit for :func:`edit_attention`: row ``query`` loses its weight on ``key``, the rest renormalised."""
    def edit(pattern: torch.Tensor) -> torch.Tensor:  # (B, T, T)
        pattern = pattern.clone()
        pattern[:, query, key] = 0.0
        pattern[:, query] = pattern[:, query] / pattern[:, query].sum(-1, keepdim=True).clamp_min(1e-12)
        return pattern
    return edit


def heldout_windows(val_ids: torch.Tensor, n_windows: int, seq_len: int, seed: int = 0
                    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``n_windows`` fixed random windows of the held-out stream: inputs and next-token targets, both (N, T)."""
    return random_windows(val_ids, n_windows, seq_len, generator=torch.Generator().manual_seed(seed))


def heldout_loss(model: TransformerLM, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token loss (nats per token) of ``model`` on the (N, T) windows ``inputs`` and their ``targets``
    (``inputs`` shifted by one, as :func:`heldout_windows` returns them), measured by the training loop's
    :func:`~mlcourse.training.loop.evaluate`: eval mode, no gradients, ``batch_size`` windows at a time."""
    if inputs.shape != targets.shape or not torch.equal(inputs[:, 1:], targets[:, :-1]):
        raise ValueError("targets must be inputs shifted left by one token, both (N, T), as heldout_windows gives.")
    windows = torch.cat([inputs, targets[:, -1:]], dim=1)  # (N, T + 1): each window and its next token
    return evaluate(model, windows, batch_size)


def head_ablation_table(model: TransformerLM, inputs: torch.Tensor, targets: torch.Tensor,
                        mode: str = "zero") -> pd.DataFrame:  # fmt: skip
    """Ablate every head alone; one row per head: layer, head, loss, delta_loss (nats/token), rank (1 = most
    important), sorted by rank. The intact model's loss is in ``frame.attrs["base_loss"]``."""
    base = heldout_loss(model, inputs, targets)
    rows = []
    for layer in range(model.config.n_layers):
        for head in range(model.config.n_heads):
            with ablate_heads(model, [(layer, head)], mode=mode):
                loss = heldout_loss(model, inputs, targets)
            rows.append({"layer": layer, "head": head, "loss": loss, "delta_loss": loss - base})
    table = pd.DataFrame(rows).sort_values("delta_loss", ascending=False, ignore_index=True)
    table["rank"] = range(1, len(table) + 1)
    table.attrs["base_loss"] = base
    return table


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) in nats between the next-token distributions of two logit tensors (..., V) -> (...)."""
    log_p, log_q = F.log_softmax(logits_p.double(), -1), F.log_softmax(logits_q.double(), -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def token_labels(tokenizer, ids: Iterable[int]) -> list[str]:
    """Readable labels of token ids: decoded text, newline shown as ⏎, leading space as ·, position appended
    so repeated tokens stay distinct on a chart axis (``'·the|3'``)."""
    labels = []
    for i, t in enumerate(ids):
        text = tokenizer.decode([int(t)]).replace("\n", "⏎").replace(" ", "·")
        labels.append(f"{text}|{i}")
    return labels


def causal_max_entropy(T: int) -> float:
    """Mean of log(i + 1) over rows 1..T-1: the average row entropy of a uniform causal head (nats)."""
    return sum(math.log(i + 1) for i in range(1, T)) / max(1, T - 1)
