"""Checks for chapter 14's exercises on decoding: top-k / top-p truncation, the sampling loop, the attention step of a
key-value cache and generation with the cache, each against the library (:mod:`mlcourse.model.generation`).

* :func:`check_filter_logits`: the kept tokens (finite logits) on hand-sized distributions whose order is shuffled,
  and on a random batch, equal :func:`~mlcourse.model.generation.filter_logits`'s; names a nucleus kept on the wrong
  side, a nucleus that drops the token crossing p, a mask left in sorted order, a top-k of the wrong size, changed
  logits.
* :func:`check_generate`: greedy and seeded samples (temperature, top-k, top-p) equal ``generate``'s token for
  token; names a temperature applied to probabilities or multiplied in, a greedy step that samples, a draw that
  ignores the generator.
* :func:`check_attention_step`: a prefill and single-token steps of the learner's cached attention equal the
  layer's full-sequence output; names RoPE positions not offset by the cache length, a prefill without its causal
  mask, a query that does not read the cached keys.
* :func:`check_cached_generate`: generation with ``model(ids, cache=...)`` equals the no-cache output token for
  token, and feeds the model one token per step after the prefill.

What it does not do: judge the quality of samples, or time the learner's code (the chapter measures the speed-up).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mlcourse.checks.core import Verdict, expect, expect_close, run_check
from mlcourse.model.generation import filter_logits, generate
from mlcourse.model.gqa_attention import GroupedQueryAttention, repeat_kv
from mlcourse.model.parts import RotaryEmbedding, apply_rope, sliding_window_mask
from mlcourse.model.transformer import TransformerConfig, TransformerLM

VOCAB = 48


def _kept(logits: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(logits)


def check_filter_logits(fn: Callable[..., torch.Tensor], verbose: bool = True) -> Verdict:
    """``fn(logits (B, V), top_k=None, top_p=None)`` must set to -inf exactly the tokens the library drops and leave
    the others' logits unchanged."""

    def check() -> str:
        probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])  # sorted: 0.5, 0.3, 0.15, 0.05 (shuffled on purpose)
        cases = [(probs.log(), None, p) for p in (0.4, 0.5, 0.7, 0.9, 1.0)] + [(probs.log(), k, None) for k in (1, 2, 4)]
        batch = torch.randn(3, 50, generator=torch.Generator().manual_seed(0)) * 2
        cases += [(batch, 10, None), (batch, None, 0.8), (batch, 10, 0.8)]
        for logits, top_k, top_p in cases:
            what = f"top_k={top_k}, top_p={top_p}, probabilities {[round(x, 2) for x in logits.softmax(-1)[0].tolist()][:6]}"
            got = fn(logits.clone(), top_k=top_k, top_p=top_p)
            expect(isinstance(got, torch.Tensor) and got.shape == logits.shape,
                   f"expected a tensor of shape {tuple(logits.shape)} ({what}), got {getattr(got, 'shape', type(got))}")
            expected = filter_logits(logits, top_k, top_p)
            keep, want = _kept(got), _kept(expected)
            if not torch.equal(keep, want):
                top = logits.argmax(-1, keepdim=True)
                if top_p is not None and top_k is None:
                    expect(keep.sum(-1).tolist() != want.sum(-1).tolist(), f"{what}: the right number of tokens, but "
                           "the wrong ones: a mask made in sorted order must be scattered back to vocabulary order")
                    expect(keep.gather(-1, top).all() or not keep.any(), f"{what}: the most likely token was dropped; "
                           "top-p keeps the wrong side: the nucleus is the MOST likely tokens whose probabilities add "
                           "up to p")
                    mass = logits.softmax(-1).masked_fill(~keep, 0).sum(-1)
                    expect(not (mass < top_p - 1e-6).any(), f"{what}: you keep {keep.sum().item()} tokens with "
                           f"probability {mass.min().item():.2f} < p; the token that crosses p must stay: drop a token "
                           "only when the tokens before it already reach p")
                if top_k is not None and top_p is None:
                    expect(keep.sum(-1).eq(top_k).all(), f"{what}: top-k kept {keep.sum(-1).tolist()} tokens per row, "
                           f"expected {top_k}")
                expect(False, f"{what}: kept tokens {keep.nonzero()[:, -1].tolist()[:12]}, expected "
                       f"{want.nonzero()[:, -1].tolist()[:12]}")
            expect(torch.equal(got[keep], logits[keep]), f"{what}: the kept logits changed; leave them as they are "
                   "(the softmax after the filter renormalises)")
        return f"{len(cases)} cases: top-k, top-p and both, shuffled vocabularies"

    return run_check("top-k and top-p truncation = filter_logits", check, verbose=verbose)


def peaked_model(max_seq_len: int = 64) -> TransformerLM:
    """A random 2-layer model whose output layer is scaled up, so its next-token distributions are peaked."""
    torch.manual_seed(0)
    model = TransformerLM(TransformerConfig.mistral(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4,
                                                    max_seq_len=max_seq_len)).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(60)
    return model


SETTINGS = [dict(temperature=0.0), dict(temperature=1.0), dict(temperature=0.6, top_k=5),
            dict(temperature=1.3, top_p=0.9)]


def check_generate(fn: Callable[..., torch.Tensor], verbose: bool = True) -> Verdict:
    """``fn(model, prompt_ids (B, T), max_new_tokens, temperature, top_k, top_p, generator)`` must give the same
    (B, T + n) ids as the library's ``generate`` with the same generator, for greedy and three sampling settings."""

    def check() -> str:
        model, prompt = peaked_model(), torch.randint(0, VOCAB, (2, 4), generator=torch.Generator().manual_seed(1))

        def ours(**s) -> torch.Tensor:
            return generate(model, prompt, 12, use_cache=False, generator=torch.Generator().manual_seed(7),
                            **{"top_k": None, "top_p": None, **s})

        def theirs(**s) -> torch.Tensor:
            s = {"top_k": None, "top_p": None, **s}
            return fn(model, prompt.clone(), 12, s["temperature"], s["top_k"], s["top_p"],
                      torch.Generator().manual_seed(7))

        for s in SETTINGS:
            got, expected = theirs(**s), ours(**s)
            expect(isinstance(got, torch.Tensor) and got.shape == expected.shape,
                   f"with {s}: expected ids of shape {tuple(expected.shape)} (the prompt, then 12 new tokens), got "
                   f"{getattr(got, 'shape', type(got))}")
            if torch.equal(got, expected):
                continue
            expect(torch.equal(got[:, :4], prompt), f"with {s}: the output must start with the prompt")
            expect(s["temperature"] != 0, "with temperature 0 (greedy), take the argmax of the last position's logits")
            expect(torch.equal(got, theirs(**s)), f"with {s}: two calls with the same seed differ; draw with "
                   "torch.multinomial(probs, 1, generator=generator)")
            if s["temperature"] != 1.0:
                expect(not torch.equal(got, ours(**{**s, "temperature": 1.0})), f"with {s}: your samples equal those "
                       "at temperature 1; divide the LOGITS by the temperature before the softmax")
                expect(not torch.equal(got, ours(**{**s, "temperature": 1 / s["temperature"]})), f"with {s}: you "
                       "multiplied the logits by the temperature; divide them")
            first = int((got != expected).any(0).nonzero()[0])
            expect(False, f"with {s}: the first {first - 4} new tokens agree, then expected {expected[:, first].tolist()}, "
                   f"got {got[:, first].tolist()}")
        return "greedy, temperature, top-k and top-p, token for token"

    return run_check("your sampling loop = generate", check, verbose=verbose)


def reference_attention_step(layer: GroupedQueryAttention, rotary: RotaryEmbedding, x: torch.Tensor,
                             past_k: torch.Tensor | None, past_v: torch.Tensor | None, bug: str | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Attention of x's T new positions with a cache of T_past earlier ones: (out, k_all, v_all)."""
    B, T, _ = x.shape
    T_past = 0 if past_k is None else past_k.shape[-2]
    q = layer.q_proj(x).view(B, T, layer.num_heads, layer.d_head).transpose(1, 2)  # (B, H, T, d_head)
    k = layer.k_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)  # (B, H_kv, T, d_head)
    v = layer.v_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)
    start = 0 if bug == "no_offset" else T_past
    cos, sin = rotary(torch.arange(start, start + T))  # the new positions' angles
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    k_all = k if past_k is None else torch.cat([past_k, k], dim=-2)  # (B, H_kv, T_past + T, d_head)
    v_all = v if past_v is None else torch.cat([past_v, v], dim=-2)
    k_read, v_read = (k, v) if bug == "no_concat" else (k_all, v_all)
    T_k = k_read.shape[-2]
    mask = None if bug == "no_mask" else sliding_window_mask(T_k, None)[T_k - T:]  # (T, T_k)
    out = F.scaled_dot_product_attention(q, repeat_kv(k_read, layer.groups), repeat_kv(v_read, layer.groups),
                                         attn_mask=mask)  # (B, H, T, d_head)
    return layer.o_proj(out.transpose(1, 2).reshape(B, T, -1)), k_all, v_all


ATTENTION_BUGS = {
    "no_offset": "the cache positions are not offset: the new tokens were rotated as positions 0, 1, ...; RoPE angles "
                 "must start at the cache length (rotary(torch.arange(T_past, T_past + T)))",
    "no_mask": "the prefill has no causal mask: with several new tokens, token i may read keys 0 .. T_past + i only",
    "no_concat": "the new queries read only the new keys: concatenate the cached keys and values first (dim=-2)",
}


def _run_steps(step_fn: Callable, layer: GroupedQueryAttention, rotary: RotaryEmbedding, x: torch.Tensor,
               **kwargs) -> torch.Tensor:  # fmt: skip
    """A prefill of 5 positions, then one position at a time: the outputs, concatenated (B, T, d)."""
    outs, past_k, past_v = [], None, None
    for lo, hi in [(0, 5)] + [(t, t + 1) for t in range(5, x.shape[1])]:
        out, past_k, past_v = step_fn(layer, rotary, x[:, lo:hi], past_k, past_v, **kwargs)
        outs.append(out)
    return torch.cat(outs, dim=1)


def check_attention_step(fn: Callable, verbose: bool = True) -> Verdict:
    """``fn(layer, rotary, x_new, past_k, past_v) -> (out, k_all, v_all)`` over a prefill and single steps must equal
    the layer's output on the whole sequence (grouped-query attention with RoPE), within 1e-5."""

    def check() -> str:
        torch.manual_seed(0)
        layer, rotary = GroupedQueryAttention(32, 4, 2, bias=False).eval(), RotaryEmbedding(8)
        x = torch.randn(2, 9, 32, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = layer(x, rotary(torch.arange(9)))  # (B, 9, d): no cache
            out, k_all, _ = fn(layer, rotary, x[:, :5], None, None)
            expect(tuple(k_all.shape) == (2, 2, 5, 8), f"after the prefill of 5 tokens the cached keys should be "
                   f"(B, H_kv, 5, d_head) = (2, 2, 5, 8), got {tuple(k_all.shape)}")
            got = _run_steps(fn, layer, rotary, x)
            if not torch.allclose(got, expected, atol=1e-5):
                for bug, hint in ATTENTION_BUGS.items():
                    if torch.allclose(got, _run_steps(reference_attention_step, layer, rotary, x, bug=bug), atol=1e-5):
                        expect(False, hint)
            expect_close("the outputs of the prefill (positions 0-4) and of steps 5-8", got, expected, atol=1e-5)
        return "a prefill of 5 tokens and 4 single steps = the full sequence, GQA + RoPE"

    return run_check("cached attention step = attention over the whole sequence", check, verbose=verbose)


def check_cached_generate(fn: Callable[..., torch.Tensor], verbose: bool = True) -> Verdict:
    """``fn(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, generator)`` using ``model(ids, cache=...)``
    must equal the no-cache ``generate`` token for token and run the model on one token per step after the prefill."""

    def check() -> str:
        model, prompt = peaked_model(), torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(2))
        calls: list[tuple[int, bool]] = []
        hook = model.register_forward_pre_hook(
            lambda m, args, kwargs: calls.append((args[0].shape[1], kwargs.get("cache") is not None)), with_kwargs=True)
        try:
            for s in SETTINGS:
                s = {"top_k": None, "top_p": None, **s}
                calls.clear()
                got = fn(model, prompt.clone(), 20, s["temperature"], s["top_k"], s["top_p"],
                         torch.Generator().manual_seed(11))
                expect(calls and all(cached for _, cached in calls), "the model was called without a cache: create "
                       "cache = KVCache(len(model.layers)) once and call model(ids, cache=cache)")
                lengths = [n for n, _ in calls]
                expect(lengths[0] == prompt.shape[1] and all(n == 1 for n in lengths[1:]), f"the model read "
                       f"{lengths[:6]}... tokens per call; read the prompt once (the prefill), then only the newest "
                       "token, ids[:, -1:]: the cache already holds the rest")
                expected = generate(model, prompt, 20, use_cache=False, generator=torch.Generator().manual_seed(11), **s)
                expect(torch.equal(got, expected), f"with {s}: the cached output differs from the no-cache one: "
                       f"expected {expected[0, 6:14].tolist()}..., got {got[0, 6:14].tolist()}...")
        finally:
            hook.remove()
        return "greedy and sampled, token for token, one token per step after the prefill"

    return run_check("generation with your KV cache = generation without", check, verbose=verbose)
