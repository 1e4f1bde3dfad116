"""Run one prompt suite through several models on identical inputs and read off what differs (chapter 17).

What it does (any ``transformers`` causal LM, peft or not; prompts arrive as token ids, so every model reads
exactly the same ids, built once by the caller):
  * :func:`generate_with_confidence`: greedy answers with, per generated token, the probability the model gave
    it and the entropy of its next-token distribution (nats); one row per prompt. The decoding is
    :func:`mlcourse.model.generation.greedy_answers` (shared with chapter 16), whose ``"keep_last"`` policy
    keeps the last tokens of a prompt longer than the context (:func:`left_pad`) and flags it as truncated.
  * :func:`compare_generations`: the same for each model of a dict, stacked into one tidy table (``model``,
    ``item``, ``response``, ``stopped``, ``n_tokens``, ``first_prob``, ``mean_prob``, ``mean_entropy``).
  * :func:`choice_logits`: for multiple-choice prompts, the log-likelihood of each option's tokens after the
    prompt, an (N, C) tensor: softmax over it is the model's probability of each option (calibration).
  * :func:`segment_ids`: a prompt's ids with a segment label per token (``instruction``, ``content``,
    ``template``) from the tokenizer's character offsets.
  * :func:`attention_mass`: for our ``TransformerLM`` (chapter 13.5's :func:`mlcourse.analysis.attention.
    attention_maps`), the attention mass the last prompt position puts on each segment, per layer and head.

What it does not do: build prompts or score answers against references (the chapter does, with chapter 16's
template and :mod:`mlcourse.finetune.instruction_eval`), sample (greedy only: results must not depend on a seed),
or plot.

Taught in chapter 17 (Base vs instruction-tuned: a comparative analysis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mlcourse.analysis.attention import attention_maps
from mlcourse.model.generation import greedy_answers, left_pad  # noqa: F401  (compare.left_pad, as before)


def _logits(model, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, V) logits of a Hugging Face / peft model (``.logits``) or of a model that returns a tensor."""
    out = model(input_ids=ids, attention_mask=mask) if mask is not None else model(ids)
    return out if isinstance(out, torch.Tensor) else out.logits


def generate_with_confidence(model, prompts: Sequence[Sequence[int]], *, eos_id: int, pad_id: int,
                             max_new_tokens: int = 24, max_len: int | None = None, batch_size: int = 64
                             ) -> pd.DataFrame:  # fmt: skip
    """Greedy answers to ``prompts`` (lists of ids), one row per prompt, in order.

    Columns: ``ids`` (generated, without ``<eos>``), ``token_probs`` (probability of each generated token,
    ``<eos>`` included when generated), ``entropies`` (nats, same positions), ``stopped``, ``truncated``.
    ``max_len`` (default the model's ``max_position_embeddings``) caps prompt + answer: longer prompts keep
    their last ``max_len - max_new_tokens`` tokens.
    """
    rows = greedy_answers(model, prompts, eos_id=eos_id, pad_id=pad_id, max_new_tokens=max_new_tokens,
                          max_len=max_len, batch_size=batch_size, truncation="keep_last", scores=True)
    return pd.DataFrame(rows, columns=["ids", "token_probs", "entropies", "stopped", "truncated"])


def compare_generations(models: Mapping[str, object], prompts: Sequence[Sequence[int]],
                        decode: Callable[[list[int]], str], **generate) -> pd.DataFrame:  # fmt: skip
    """:func:`generate_with_confidence` for each model on the same ``prompts``; one tidy row per (model, item).

    ``first_prob``: probability of the first answer token; ``mean_prob``: geometric mean of the answer's token
    probabilities (the model's confidence in the whole answer); ``mean_entropy`` in nats.
    """
    frames = []
    for name, model in models.items():
        got = generate_with_confidence(model, prompts, **generate)
        probs = got["token_probs"].map(lambda p: np.asarray(p) if p else np.asarray([np.nan]))
        frames.append(pd.DataFrame({
            "model": name, "item": range(len(prompts)), "response": got["ids"].map(decode),
            "stopped": got["stopped"], "truncated": got["truncated"], "n_tokens": got["ids"].map(len),
            "first_prob": probs.map(lambda p: float(p[0])),
            "mean_prob": probs.map(lambda p: float(np.exp(np.log(np.clip(p, 1e-12, 1)).mean()))),
            "mean_entropy": got["entropies"].map(lambda e: float(np.mean(e)) if e else np.nan)}))
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def choice_logits(model, prompts: Sequence[Sequence[int]], options: Sequence[Sequence[Sequence[int]]], *,
                  pad_id: int, batch_size: int = 96) -> torch.Tensor:  # fmt: skip
    """(N, C) log-likelihood of each option's tokens after its prompt: ``sum_t log p(option_t | prompt, option_<t)``.

    ``options[i][c]`` are the ids of option ``c`` of prompt ``i`` (every prompt has the same number C). The
    sequences are right-padded (a causal model's logits before the padding do not depend on it).
    """
    seqs = [(i, c, list(p) + list(o), len(p)) for i, (p, opts) in enumerate(zip(prompts, options))
            for c, o in enumerate(opts)]
    n_options = len(options[0])
    if any(len(o) != n_options for o in options):
        raise ValueError("every prompt needs the same number of options")
    scores = torch.zeros(len(prompts), n_options, dtype=torch.float64)
    was_training = model.training
    model.eval()
    for start in range(0, len(seqs), batch_size):
        chunk = seqs[start:start + batch_size]
        width = max(len(s) for _, _, s, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        for row, (_, _, s, _) in enumerate(chunk):
            ids[row, :len(s)] = torch.tensor(s)
        logp = _logits(model, ids).float().log_softmax(-1)  # (B, T, V)
        for row, (i, c, s, n_prompt) in enumerate(chunk):
            positions = torch.arange(n_prompt - 1, len(s) - 1)  # position t predicts token t + 1
            scores[i, c] = logp[row, positions, ids[row, positions + 1]].double().sum()
    model.train(was_training)
    return scores


def segment_ids(tokenizer, text: str, segments: Mapping[str, str], *, bos: bool = True
                ) -> tuple[list[int], list[str]]:  # fmt: skip
    """``(ids, labels)``: ``text`` tokenised (``<bos>`` first when ``bos``), each token labelled with the name of
    the first segment whose text (found in ``text``, in order) overlaps it, else ``"template"``."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans, cursor = [], 0
    for name, piece in segments.items():
        if not piece:
            continue
        where = text.find(piece, cursor)
        if where < 0:
            raise ValueError(f"segment {name!r} is not in the text after position {cursor}")
        spans.append((name, where, where + len(piece)))
        cursor = where + len(piece)
    labels = [next((n for n, a, b in spans if s < b and e > a), "template") for s, e in enc["offset_mapping"]]
    head = [tokenizer.bos_token_id] if bos and tokenizer.bos_token_id is not None else []
    return head + list(enc["input_ids"]), (["template"] if head else []) + labels


@torch.no_grad()
def attention_mass(lm, ids: Sequence[int], labels: Sequence[str]) -> pd.DataFrame:
    """Attention mass of the last position (where the answer's first token is predicted) on each segment.

    ``lm``: our ``TransformerLM`` (a tuned Hugging Face model converts with
    :func:`mlcourse.model.hf_mistral.from_hf` after merging its adapter). One row per (layer, head, segment):
    ``mass`` in [0, 1]; the masses of one head sum to 1.
    """
    weights = attention_maps(lm, list(ids)).weights[0][:, :, -1, :]  # (L, H, T): the last query row
    names = sorted(set(labels))
    rows = []
    for name in names:
        keys = torch.tensor([lab == name for lab in labels])
        mass = weights[:, :, keys].sum(-1)  # (L, H)
        for layer in range(mass.shape[0]):
            for head in range(mass.shape[1]):
                rows.append({"layer": layer, "head": head, "segment": name, "mass": float(mass[layer, head])})
    return pd.DataFrame(rows)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % at z = 1.96); unlike p +- z*sqrt(p(1-p)/n) it stays in
    [0, 1] and is not empty at p = 0 or 1, which small probe families hit."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


FAILURE_MODES = ("correct", "false refusal", "fabrication", "format violation", "wrong answer",
                 "never stops", "empty answer")  # fmt: skip


def failure_mode(*, correct: bool, refused: bool, should_refuse: bool, format_ok: bool, stopped: bool,
                 response: str) -> str:  # fmt: skip
    """One label of :data:`FAILURE_MODES` per scored answer, the first that applies in this order:
    correct; never stops (no ``<eos>`` within the budget); empty answer; false refusal (refused an answerable
    item); fabrication (answered where the right answer declines or corrects); format violation; wrong answer."""
    if correct:
        return "correct"
    if not stopped:
        return "never stops"
    if not response.strip():
        return "empty answer"
    if refused and not should_refuse:
        return "false refusal"
    if should_refuse:
        return "fabrication"
    return "wrong answer" if format_ok else "format violation"
