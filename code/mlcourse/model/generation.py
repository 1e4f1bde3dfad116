"""Sampling text from a language model, one token at a time: greedy, temperature, top-k and top-p (nucleus).

At each step the model reads the last ``max_context`` tokens, its logits for the next token are divided by the
temperature (T < 1 sharpens the distribution, T > 1 flattens it, T = 0 means "take the argmax"), optionally
truncated to the ``top_k`` most likely tokens and/or to the smallest set whose probability reaches ``top_p``,
renormalised, and one token is drawn from a ``torch.Generator`` (so a seeded sample is repeatable).

The key-value cache (``use_cache``, on by default for a model that accepts one): without it every new token
re-runs the model over the whole (cropped) context, O(T) positions of work per token; with it the prompt is
run once (the "prefill"), every layer keeps its keys and values in a :class:`~mlcourse.model.transformer.KVCache`,
and each new token runs the model on that one position, its RoPE angle offset by the cache length. The output
is the same, token for token: a causal model's keys and values of position t never depend on what comes after
t. Once the sequence outgrows ``max_context`` the no-cache path crops the oldest tokens, which changes every
kept position's keys; the cache is then rebuilt from the cropped window at every step, to stay exact (and as
slow as no cache). :func:`kv_cache_bytes` is the cache's memory formula.

:func:`greedy_answers` is the batched greedy decoding of a ``transformers`` model (left padding, an attention
mask, a stated truncation policy) that chapter 16 scores answers with and chapter 17 compares models with.

What it deliberately does not do: beam search, repetition penalties, stop strings, a rolling cache.

Taught in chapter 14 (Pretraining a tiny transformer on Shakespeare).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from mlcourse.model.transformer import KVCache, TransformerConfig, TransformerLM


def _check_arguments(prompt_ids: torch.Tensor, vocab_size: int | None, max_new_tokens: int, temperature: float,
                     top_k: int | None, top_p: float | None) -> None:
    if prompt_ids.dim() != 2 or prompt_ids.shape[1] == 0:
        raise ValueError(f"prompt_ids must be (B, T) with T >= 1, got shape {tuple(prompt_ids.shape)}; "
                         "add .unsqueeze(0) to a single prompt.")
    if prompt_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"prompt_ids must hold integer token ids, got dtype {prompt_ids.dtype}.")
    if vocab_size is not None and (prompt_ids.min() < 0 or prompt_ids.max() >= vocab_size):
        raise ValueError(f"prompt ids must lie in [0, {vocab_size}), got min {int(prompt_ids.min())}, "
                         f"max {int(prompt_ids.max())}; encode with the model's own tokenizer.")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}.")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}.")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be None or in (0, 1], got {top_p!r}.")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the top-p nucleus. logits: (B, V) -> (B, V)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest logit of each row
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens *before* it already reach top_p; the most likely token always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    max_context: int | None = None,
    use_cache: bool | None = None,
) -> torch.Tensor:
    """Continue each prompt by ``max_new_tokens`` tokens.

    Args:
        model: maps ids (B, T) to logits (B, T, V), e.g. :class:`~mlcourse.model.transformer.TransformerLM`.
        prompt_ids: (B, T) or (T,) token ids on any device (moved to the model's).
        max_new_tokens: how many tokens to append.
        temperature: 0 = greedy (argmax; ``top_k``/``top_p`` are then irrelevant); else logits / temperature.
        top_k, top_p: keep only the k most likely tokens / the smallest set with probability >= p.
        generator: the source of randomness (a CPU generator works for a model on a GPU too).
        max_context: how many of the latest tokens the model reads; default ``model.config.max_seq_len``.
            A model with absolute positions cannot read more than its table; a RoPE model could, but it was
            trained on windows of at most that length and the cost without a cache grows quadratically.
        use_cache: keep every layer's keys and values (same output, far less work per token). ``None`` (default):
            when the model accepts a cache (``model.forward(ids, cache=...)``, as ``TransformerLM`` does) and no
            attention edit (chapter 13.5) is active; ``True`` for a model without one is an error.

    Returns (B, T + max_new_tokens) ids: the prompt followed by the new tokens. (T,) in gives (T + n,) out.
    """
    single = prompt_ids.dim() == 1
    ids = prompt_ids.unsqueeze(0) if single else prompt_ids
    config = getattr(model, "config", None)
    _check_arguments(ids, getattr(config, "vocab_size", None), max_new_tokens, temperature, top_k, top_p)
    limit = getattr(config, "max_seq_len", None)
    if max_context is None:
        max_context = limit
    elif limit is not None and getattr(config, "positions", None) in ("learned", "sinusoidal") and max_context > limit:
        raise ValueError(f"max_context={max_context} exceeds the model's position table ({limit}); use <= {limit}.")
    cacheable = _accepts_cache(model)
    if use_cache and not cacheable:
        raise ValueError(f"use_cache=True, but {type(model).__name__} takes no key-value cache (or an attention edit is "
                         "active); use use_cache=False.")
    use_cache = cacheable if use_cache is None else use_cache
    device = next(model.parameters()).device
    ids = ids.to(device=device, dtype=torch.long)
    was_training = model.training
    model.eval()
    cache = None
    try:
        for _ in range(max_new_tokens):
            context = ids if max_context is None else ids[:, -max_context:]  # (B, <= max_context)
            if not use_cache:
                logits = model(context)[:, -1, :].float()  # (B, V): only the last position predicts the next token
            elif cache is None or context.shape[1] == len(cache):  # prefill, or the window slid: rebuild
                cache = KVCache(len(model.layers))
                logits = model(context, cache=cache)[:, -1, :].float()  # (B, V)
            else:  # one new position; its keys and values join the cache
                logits = model(ids[:, -1:], cache=cache)[:, -1, :].float()  # (B, 1) -> (B, V)
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                probs = filter_logits(logits / temperature, top_k, top_p).softmax(dim=-1)  # (B, V)
                if generator is not None and generator.device != probs.device:
                    probs = probs.to(generator.device)
                next_id = torch.multinomial(probs, 1, generator=generator).to(device)  # (B, 1)
            ids = torch.cat([ids, next_id], dim=1)  # (B, T + 1)
    finally:
        model.train(was_training)
    return ids[0] if single else ids


def _accepts_cache(model: nn.Module) -> bool:
    """True for a :class:`TransformerLM` whose attention layers have no edit hook (whose weights a cache would skip)."""
    return isinstance(model, TransformerLM) and all(layer.self_attn.edit_weights is None for layer in model.layers)


def kv_cache_bytes(config: TransformerConfig, positions: int, batch_size: int = 1, bytes_per_number: int = 4) -> int:
    """Memory of a full key-value cache: 2 (k, v) x layers x kv_heads x d_head x positions x batch x bytes.

    Grouped-query attention divides it by n_heads / n_kv_heads (Mistral 7B: 4). float32 = 4 bytes, bf16 = 2.
    """
    return 2 * config.n_layers * config.kv_heads * config.d_head * positions * batch_size * bytes_per_number


def sample_texts(model: nn.Module, prompts: Sequence[str], encode: Callable[[str], Sequence[int]],
                 decode: Callable[[Sequence[int]], str], max_new_tokens: int, *, temperature: float = 0.8,
                 top_k: int | None = 40, top_p: float | None = None, seed: int = 0) -> list[str]:
    """Prompt text in, prompt + continuation text out, one per prompt; prompt i draws from ``seed + i``."""
    texts = []
    for i, prompt in enumerate(prompts):
        prompt_ids = torch.as_tensor(list(encode(prompt)), dtype=torch.long)  # (T,)
        out = generate(model, prompt_ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                       generator=torch.Generator().manual_seed(seed + i))
        texts.append(decode(out.tolist()))
    return texts


TRUNCATION = ("keep_last", "shorten_answer")  # how greedy_answers fits prompt + answer into max_len


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int, max_len: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:  # fmt: skip
    """``(ids, mask, truncated)``: (B, T) ids left-padded with ``pad_id``, (B, T) mask (1 = real token), and
    whether each prompt lost its first tokens to ``max_len``."""
    cut = [list(p)[-max_len:] if max_len else list(p) for p in prompts]
    width = max(len(p) for p in cut)
    ids = torch.full((len(cut), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(cut):
        if p:
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
    return ids, mask, [len(c) < len(p) for c, p in zip(cut, prompts)]


@torch.no_grad()
def greedy_answers(model, prompts: Sequence[Sequence[int]], *, eos_id: int, pad_id: int, max_new_tokens: int = 24,
                   max_len: int | None = None, batch_size: int = 64, truncation: str = "keep_last",
                   scores: bool = False) -> list[dict]:  # fmt: skip
    """Greedy answers of a ``transformers`` causal LM (peft or not) to ``prompts`` (lists of ids): batches of
    similar lengths, left-padded, with an attention mask. One dict per prompt, in order (chapters 16 and 17).

    ``max_len`` (default the model's ``max_position_embeddings``) caps prompt + answer; ``truncation`` says how:
    ``"keep_last"``: a prompt keeps its last ``max_len - max_new_tokens`` tokens (flagged ``truncated``), every
    answer may take ``max_new_tokens``; ``"shorten_answer"``: prompts stay whole and a batch's answers get
    ``max_len`` minus its longest prompt (at least 1, at most ``max_new_tokens``).
    Keys: ``ids`` (the answer, up to and without the first ``<eos>``), ``stopped`` (``<eos>`` generated),
    ``truncated``; with ``scores``, ``token_probs`` (probability of each generated token, the ``<eos>`` included)
    and ``entropies`` (nats, of each step's next-token distribution, same positions).
    """
    if truncation not in TRUNCATION:
        raise ValueError(f"truncation must be one of {TRUNCATION}, got {truncation!r}.")
    max_len = max_len or model.config.max_position_embeddings
    keep = max(1, max_len - max_new_tokens) if truncation == "keep_last" else None
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths batch together
    rows: dict[int, dict] = {}
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        ids, mask, truncated = left_pad([prompts[i] for i in chunk], pad_id, keep)  # (B, T), (B, T)
        new = max_new_tokens if keep else max(1, min(max_new_tokens, max_len - ids.shape[1]))
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                             eos_token_id=eos_id, pad_token_id=pad_id, output_logits=scores,
                             return_dict_in_generate=True)
        answers = out.sequences[:, ids.shape[1]:]  # (B, S), S <= new
        if scores:
            logp = torch.stack(out.logits, dim=1).float().log_softmax(-1)  # (B, S, V) raw logits of each step
            chosen = logp.gather(-1, answers.unsqueeze(-1)).squeeze(-1).exp()  # (B, S)
            entropy = -(logp.exp() * logp).sum(-1)  # (B, S)
        for row, i in enumerate(chunk):
            tokens = answers[row].tolist()
            stopped = eos_id in tokens
            end = tokens.index(eos_id) if stopped else len(tokens)
            rows[i] = {"ids": tokens[:end], "stopped": stopped, "truncated": truncated[row]}
            if scores:  # the <eos> step counts: its probability is the model's confidence that the answer ends
                rows[i] |= {"token_probs": chosen[row, :end + stopped].tolist(),
                            "entropies": entropy[row, :end + stopped].tolist()}
    model.train(was_training)
    return [rows[i] for i in range(len(prompts))]
