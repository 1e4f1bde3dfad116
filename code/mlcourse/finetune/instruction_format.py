"""Instruction examples -> token ids and labels for chapter 16: the prompt template, the loss mask, the batches.

What it does:
  * :func:`prompt_ids`: the prompt of one example as ids. With a tokenizer that has a chat template (Mistral
    Instruct's ``[INST] ... [/INST]``), ``apply_chat_template`` with ``add_generation_prompt=True``; otherwise
    the course's template :data:`COURSE_TEMPLATE`, the same shape written out, after an explicit ``<bos>``
    (our tokenizer adds no special tokens by itself; special-token names in the user's text stay plain text).
  * :func:`encode_example`: prompt + response + ``<eos>`` as ``(ids, labels)``: labels are -100 on the prompt
    (the loss is on the response only) and the ``<eos>`` is **kept** in the labels, so the model learns to stop.
    ``train_on_prompt=True`` and ``mask_eos=True`` reproduce the two classic bugs the chapter measures.
  * :func:`encode_dataset`: all examples as one (N, 2, T) tensor (ids, labels), right-padded with the pad token
    (labels -100 there); too-long examples are dropped and counted, never cut (a cut response teaches nothing).
  * :func:`sample_examples` and :func:`masked_lm_loss`: the ``batch_fn`` and ``loss_fn`` chapter 14's loop
    (:func:`mlcourse.training.loop.train`) takes, so instruction tuning runs in the same loop as pretraining.

What it does not do: generate or score (:mod:`mlcourse.finetune.instruction_eval`), or pack several examples into
one row (simpler masks; the examples here are short).

Taught in chapter 16 (Instruction tuning with LoRA).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mlcourse.data.instructions import Instruction
from mlcourse.model.transformer import next_token_loss

IGNORE = -100  # the label PyTorch's cross-entropy skips
COURSE_TEMPLATE = "[INST] {instruction}\n{input} [/INST] "  # Mistral Instruct's shape; {input} may be empty


def user_text(example: Instruction) -> str:
    """The user's turn: the instruction, then the input (when there is one) on the next line."""
    return f"{example.instruction}\n{example.input}" if example.input else example.instruction


def prompt_ids(example: Instruction, tokenizer) -> list[int]:
    """Token ids of the prompt (everything the model reads before it answers), special tokens explicit."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": user_text(example)}],
                                            add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    text = COURSE_TEMPLATE.format(instruction=example.instruction, input=example.input).replace("\n ", " ")
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return bos + tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_example(example: Instruction, tokenizer, *, train_on_prompt: bool = False, mask_eos: bool = False
                   ) -> tuple[list[int], list[int]]:  # fmt: skip
    """``(ids, labels)`` of one example: prompt, response, ``<eos>``.

    labels = ids on the response and its ``<eos>``, -100 on the prompt (``train_on_prompt=True``: the prompt too,
    the first bug). ``mask_eos=True`` sets the ``<eos>`` label to -100 (the second bug: nothing teaches stopping).
    """
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos_token; set tokenizer.eos_token (the model must learn to stop).")
    prompt = prompt_ids(example, tokenizer)
    response = tokenizer(example.output, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt + response
    labels = (list(prompt) if train_on_prompt else [IGNORE] * len(prompt)) + list(response)
    if mask_eos:
        labels[-1] = IGNORE
    return ids, labels


def encode_dataset(examples: Sequence[Instruction], tokenizer, max_len: int, *, train_on_prompt: bool = False,
                   mask_eos: bool = False, pad_id: int | None = None) -> tuple[torch.Tensor, int]:  # fmt: skip
    """(N, 2, max_len) long tensor of [ids, labels] rows and the number of examples dropped as too long.

    Rows are right-padded with ``pad_id`` (default: the tokenizer's pad token; its labels are -100). With a
    causal model, padding after the text changes nothing before it, so no attention mask is needed.
    """
    pad = tokenizer.pad_token_id if pad_id is None else pad_id
    if pad is None:
        raise ValueError("the tokenizer has no pad_token; pass pad_id or set tokenizer.pad_token.")
    rows, dropped = [], 0
    for example in examples:
        ids, labels = encode_example(example, tokenizer, train_on_prompt=train_on_prompt, mask_eos=mask_eos)
        if len(ids) > max_len:
            dropped += 1
            continue
        fill = max_len - len(ids)
        rows.append([ids + [pad] * fill, labels + [IGNORE] * fill])
    if not rows:
        raise ValueError(f"every one of the {len(examples)} examples is longer than max_len={max_len} tokens.")
    return torch.tensor(rows, dtype=torch.long), dropped


def sample_examples(data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_fn`` for the loop: ``batch_size`` rows of ``data`` (N, 2, T) drawn with ``generator``, cut to the
    longest labelled position in the batch (at most ``seq_len``): (B, 2, T') with T' <= T."""
    rows = data[torch.randint(len(data), (batch_size,), generator=generator)]  # (B, 2, T)
    used = (rows[:, 1] != IGNORE).any(dim=0).nonzero()  # positions where some row has a label
    end = min(int(used.max()) + 1 if len(used) else rows.shape[-1], seq_len)
    return rows[:, :, :end]


def model_logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """(B, T, V) logits of our ``TransformerLM`` (returns a tensor) or a Hugging Face / peft model (``.logits``)."""
    out = model(ids)
    return out if isinstance(out, torch.Tensor) else out.logits


def masked_lm_loss(model: nn.Module, batch: torch.Tensor, amp: torch.dtype | None) -> torch.Tensor:
    """``loss_fn`` for the loop: mean cross-entropy over labelled positions of a (B, 2, T) batch.

    The model reads ids[:, :-1]; position t is scored on labels[:, t + 1] (-100 skipped) by the course's one LM
    loss, :func:`mlcourse.model.transformer.next_token_loss`, in float32.
    """
    ids, labels = batch[:, 0], batch[:, 1]  # (B, T) each
    with torch.autocast(batch.device.type, dtype=amp) if amp else torch.autocast("cpu", enabled=False):
        logits = model_logits(model, ids[:, :-1])  # (B, T - 1, V)
    return next_token_loss(logits, labels[:, 1:])


def check_tokenizer_fits(tokenizer, model: nn.Module) -> None:
    """Raise ``ValueError`` when the tokenizer can emit ids the model has no embedding row for."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the model's embedding has {rows} rows: "
                         "they do not belong together. Load the tokenizer saved with this model "
                         "(AutoTokenizer.from_pretrained on the same folder).")
