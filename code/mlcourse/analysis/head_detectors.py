"""Detectors for common attention-head types, each a score per (layer, head) next to its causal baseline.

Every detector takes attention weights (B, L, H, T, T) (from :func:`mlcourse.analysis.attention.attention_maps`)
and returns an (L, H) tensor: the average, over the queries where the pattern is defined, of the weight a head
puts on the keys the pattern names. The same function applied to :func:`uniform_causal` weights gives the
*baseline*, what a head that attends evenly to everything the causal mask allows would score; a head is of a
type only when its score is well above that baseline (early rows see few keys, so even a blind head puts a lot
of weight on "the previous token" there).

  * previous-token: weight on key i - 1.
  * first-token (sink): weight on key 0, for queries i >= 1 (heads that park attention on the first token).
  * duplicate-token: weight on earlier keys holding the same token id as the query.
  * induction: weight on keys j whose *previous* token equals the query's token (j - 1 matches i, j <= i), the
    copying pattern "A B ... A -> look at B". :func:`repeated_random_tokens` builds its standard probe, random
    tokens repeated twice, where only copying can predict the second half.
  * delimiter: weight on newline / punctuation keys; its baseline is the share of such keys among the visible
    ones, so frequent delimiters are not mistaken for a preference.

What it does not do: decide a threshold for "is a head of this type" (the chapter reads scores against
baselines), or search for head types it has no detector for.

Taught in chapter 13.5 (Attention visualisation and analysis).
"""

from __future__ import annotations

import pandas as pd
import torch

from mlcourse.analysis.attention import uniform_causal

DELIMITERS = "\n.,;:!?"


def _check(weights: torch.Tensor) -> torch.Tensor:
    if weights.dim() != 5 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be (B, L, H, T, T), got shape {tuple(weights.shape)}; "
                         "add a batch dimension with .unsqueeze(0).")
    return weights.double()


def _masked_mean(mass: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """mass (B, L, H, T) averaged over the (B, T) positions where ``valid`` (B, T) is True -> (L, H)."""
    valid = valid[:, None, None, :].to(mass.dtype)  # (B, 1, 1, T)
    count = valid.sum(dim=(0, 3))
    if (count == 0).all():
        return torch.full(mass.shape[1:3], float("nan"), dtype=mass.dtype)
    return (mass * valid).sum(dim=(0, 3)) / count


def _key_mass(weights: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Weight each query puts on its selected keys: weights (B, L, H, T, T), keys (B, T, T) bool -> (B, L, H, T)."""
    return (weights * keys[:, None, None].to(weights.dtype)).sum(-1)


def previous_token_score(weights: torch.Tensor) -> torch.Tensor:
    """Mean weight on key i - 1 over queries i >= 1: (B, L, H, T, T) -> (L, H)."""
    w = _check(weights)
    B, _, _, T, _ = w.shape
    keys = torch.diag(torch.ones(T - 1, dtype=torch.bool), -1).expand(B, T, T)  # key j = i - 1
    valid = (torch.arange(T) >= 1).expand(B, T)
    return _masked_mean(_key_mass(w, keys), valid)


def first_token_score(weights: torch.Tensor) -> torch.Tensor:
    """Mean weight on key 0 over queries i >= 1 (the "attention sink"): (B, L, H, T, T) -> (L, H)."""
    w = _check(weights)
    B, _, _, T, _ = w.shape
    return _masked_mean(w[..., 0], (torch.arange(T) >= 1).expand(B, T))


def duplicate_token_score(weights: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean weight on earlier keys j < i with ids[j] == ids[i], over queries that have one: -> (L, H)."""
    w = _check(weights)
    T = w.shape[-1]
    same = ids[:, :, None] == ids[:, None, :]  # (B, T, T): same token at query i and key j
    keys = same & torch.tril(torch.ones(T, T, dtype=torch.bool), -1)  # strictly earlier keys
    return _masked_mean(_key_mass(w, keys), keys.any(-1))


def induction_score(weights: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean weight on keys j <= i whose previous token equals the query's (ids[j-1] == ids[i]), over queries
    that have such a key: (B, L, H, T, T), ids (B, T) -> (L, H)."""
    w = _check(weights)
    B, T = ids.shape
    prev = torch.cat([torch.full((B, 1), -1, dtype=ids.dtype), ids[:, :-1]], dim=1)  # (B, T): token before j
    keys = (ids[:, :, None] == prev[:, None, :]) & torch.tril(torch.ones(T, T, dtype=torch.bool))  # (B, T, T)
    return _masked_mean(_key_mass(w, keys), keys.any(-1))


def delimiter_score(weights: torch.Tensor, is_delimiter: torch.Tensor) -> torch.Tensor:
    """Mean weight on delimiter keys over queries i >= 1: weights (B, L, H, T, T), is_delimiter (B, T) -> (L, H)."""
    w = _check(weights)
    B, T = is_delimiter.shape
    keys = is_delimiter[:, None, :] & torch.tril(torch.ones(T, T, dtype=torch.bool))  # (B, T, T)
    return _masked_mean(_key_mass(w, keys), (torch.arange(T) >= 1).expand(B, T))


def delimiter_mask(tokenizer, ids: torch.Tensor, delimiters: str = DELIMITERS) -> torch.Tensor:
    """(B, T) bool: True where the token's text, spaces aside, is made only of ``delimiters`` characters."""
    cache: dict[int, bool] = {}
    def is_delim(t: int) -> bool:
        if t not in cache:
            text = tokenizer.decode([t]).replace(" ", "")
            cache[t] = bool(text) and all(c in delimiters for c in text)
        return cache[t]
    return torch.tensor([[is_delim(int(t)) for t in row] for row in ids], dtype=torch.bool)


def repeated_random_tokens(n_sequences: int, length: int, vocab_size: int, seed: int = 0,
                           low: int = 0) -> torch.Tensor:  # fmt: skip
    """(B, 2 * length) ids: ``length`` random tokens from [low, vocab_size), then the same tokens again.

    No token repeats inside one half, so the only way to predict the second half is to copy from the first.
    """
    if length > vocab_size - low:
        raise ValueError(f"length={length} distinct tokens need a range of at least that many ids, "
                         f"got [{low}, {vocab_size}).")
    g = torch.Generator().manual_seed(seed)
    half = torch.stack([torch.randperm(vocab_size - low, generator=g)[:length] + low for _ in range(n_sequences)])
    return torch.cat([half, half], dim=1)


def detector_frame(weights: torch.Tensor, ids: torch.Tensor, is_delimiter: torch.Tensor | None = None,
                   probe: str = "text") -> pd.DataFrame:  # fmt: skip
    """Every detector on ``weights`` (B, L, H, T, T) of ``ids`` (B, T): one tidy row per (detector, layer, head)
    with its score, the causal baseline (the same detector on uniform causal weights), the lift (score /
    baseline) and the excess (score - baseline: the weight the head puts on those keys beyond what the mask
    alone gives; unlike the lift, it compares across detectors whose baselines differ)."""
    B, L, H, T, _ = weights.shape
    blind = uniform_causal(T).expand(B, L, H, T, T)
    detectors = {
        "previous-token": lambda w: previous_token_score(w),
        "first-token": lambda w: first_token_score(w),
        "duplicate-token": lambda w: duplicate_token_score(w, ids),
        "induction": lambda w: induction_score(w, ids),
    }
    if is_delimiter is not None:
        detectors["delimiter"] = lambda w: delimiter_score(w, is_delimiter)
    rows = []
    for name, score_fn in detectors.items():
        score, baseline = score_fn(weights), score_fn(blind)
        for layer in range(L):
            for head in range(H):
                s, b = score[layer, head].item(), baseline[layer, head].item()
                rows.append({"probe": probe, "detector": name, "layer": layer, "head": head, "score": s,
                             "baseline": b, "lift": s / b if b > 0 else float("nan"), "excess": s - b})
    return pd.DataFrame(rows)
