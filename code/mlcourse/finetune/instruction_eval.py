"""Scoring an instruction-tuned model, before and after, on held-out plays (chapter 16).

What it does:
  * :func:`generate_responses`: greedy answers of any ``transformers`` causal LM (peft or not) to a list of
    examples, prompted exactly as in training (:func:`mlcourse.finetune.instruction_format.prompt_ids`),
    left-padded batches with an attention mask (:func:`mlcourse.model.generation.greedy_answers`, prompts kept
    whole); records whether generation stopped with ``<eos>`` and how long the answer was.
  * :func:`score_responses`: one row per example: ``correct`` (the normalised answer equals the reference;
    for unanswerable items, the answer is the refusal), ``refused``, ``strict``/``loose`` format compliance
    (IFEval-style, :func:`mlcourse.data.instructions.format_ok`), ``stopped`` and ``n_tokens``.
  * :func:`family_table`: accuracy per family with its chance level, and :func:`behaviour_summary`: format
    compliance, refusal rate on unanswerable items, false-refusal rate on answerable ones, EOS rate, length.
  * :func:`heldout_perplexity`: perplexity on held-out plain text (the forgetting measure).

What it does not do: sample (greedy only: results must not depend on a seed), or judge free text with a model
(every score here is computed by code, so it is exact and reproducible).

Taught in chapter 16 (Instruction tuning with LoRA); chapter 17 reuses it.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence

import pandas as pd
import torch

from mlcourse.data.instructions import FAMILIES, REFUSAL, Instruction, format_ok
from mlcourse.finetune.instruction_format import model_logits, prompt_ids
from mlcourse.model.generation import greedy_answers

CHANCE = {"which_appears": 1 / 3, "genre": 1 / 3, "which_play": 1 / 3}  # the answer is one of three given options


def normalise(text: str) -> str:
    """Lower case, inner whitespace collapsed, surrounding whitespace, quotes and final full stops removed."""
    return re.sub(r"\s+", " ", text).strip().strip("\"'`*").rstrip(".").strip().lower()


def is_refusal(response: str) -> bool:
    """Whether the response is (starts like) the fixed refusal."""
    return normalise(response).startswith(normalise(REFUSAL)[:16])


def generate_responses(model, tokenizer, examples: Sequence[Instruction], *, max_new_tokens: int = 40,
                       batch_size: int = 64, max_len: int | None = None) -> pd.DataFrame:  # fmt: skip
    """Greedy responses: columns ``response``, ``stopped`` (``<eos>`` generated) and ``n_tokens``, example order.

    ``max_len`` (default the model's ``max_position_embeddings``) caps prompt + answer: prompts are never cut (a
    cut prompt asks another question); a batch whose longest prompt leaves less room gets shorter answers.
    """
    prompts = [prompt_ids(e, tokenizer) for e in examples]
    rows = greedy_answers(model, prompts, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
                          max_new_tokens=max_new_tokens, max_len=max_len, batch_size=batch_size,
                          truncation="shorten_answer")
    return pd.DataFrame([{"response": tokenizer.decode(r["ids"], skip_special_tokens=True), "stopped": r["stopped"],
                          "n_tokens": len(r["ids"])} for r in rows], columns=["response", "stopped", "n_tokens"])


def score_responses(examples: Sequence[Instruction], responses: pd.DataFrame) -> pd.DataFrame:
    """One row per example: family, kind, reference, response and the scores (see the module header)."""
    rows = []
    for example, (_, got) in zip(examples, responses.iterrows()):
        response = got["response"]
        refused = is_refusal(response)
        if example.kind == "unanswerable":
            correct = refused
        elif example.family == "json_keys":
            correct = normalise(response).replace(" ", "") == normalise(example.output).replace(" ", "")
        else:
            correct = normalise(response) == normalise(example.output)
        rows.append({"family": example.family, "kind": example.kind, "work": example.work,
                     "reference": example.output, "response": response, "correct": bool(correct),
                     "refused": refused, "strict": format_ok(response, example.meta),
                     "loose": format_ok(response, example.meta, loose=True),
                     "stopped": bool(got["stopped"]), "n_tokens": int(got["n_tokens"])})
    return pd.DataFrame(rows)


def evaluate_instructions(model, tokenizer, examples: Sequence[Instruction], **generate) -> pd.DataFrame:
    """:func:`generate_responses` then :func:`score_responses`."""
    return score_responses(examples, generate_responses(model, tokenizer, examples, **generate))


def family_table(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Accuracy per family (rows, in :data:`FAMILIES` order) for each model (columns), with n and chance."""
    families = [f for f in FAMILIES if any((s["family"] == f).any() for s in scores.values())]
    table = pd.DataFrame({name: s.groupby("family")["correct"].mean() for name, s in scores.items()})
    table = table.reindex(families)
    table.insert(0, "kind", [FAMILIES[f] for f in families])
    table.insert(1, "n", [int((next(iter(scores.values()))["family"] == f).sum()) for f in families])
    table["chance"] = [CHANCE.get(f, 0.0) for f in families]
    return table


def behaviour_summary(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model: format compliance (strict, loose; format family), refusal rate on unanswerable items,
    false-refusal rate on answerable ones, EOS rate and mean answer length in tokens."""
    rows = {}
    for name, s in scores.items():
        fmt, unanswerable = s[s["kind"] == "format"], s["kind"] == "unanswerable"
        rows[name] = {"format_strict": fmt["strict"].mean(), "format_loose": fmt["loose"].mean(),
                      "refusal_rate": s.loc[unanswerable, "refused"].mean(),
                      "false_refusal_rate": s.loc[~unanswerable, "refused"].mean(),
                      "eos_rate": s["stopped"].mean(), "mean_tokens": s["n_tokens"].mean(),
                      "accuracy": s["correct"].mean()}
    return pd.DataFrame(rows)


@torch.no_grad()
def heldout_perplexity(model, windows: torch.Tensor, batch_size: int = 16, *, adapter: bool = True) -> float:
    """exp(mean next-token loss) on (N, T + 1) windows of held-out plain text; ``adapter=False`` scores a peft
    model's base (adapters disabled)."""
    was_training = model.training
    model.eval()
    context = contextlib.nullcontext() if adapter else model.disable_adapter()
    losses = []
    with context:
        for i in range(0, len(windows), batch_size):
            window = windows[i:i + batch_size]
            logits = model_logits(model, window[:, :-1])  # (B, T, V)
            losses.append(torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1)).item())
    model.train(was_training)
    return math.exp(sum(losses) / len(losses))
