"""Tests of mlcourse.checks.p14_pretraining's decoding checks: correct answers pass, stubs read as not attempted,
and each typical bug (top-p on the wrong side or one token short, a sorted mask, temperature misapplied, an
unseeded draw, RoPE positions not offset, no prefill mask, no cached keys, no cache or whole-sequence feeding)
fails with a message that names it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)
from mlcourse.checks import p14_pretraining as P
from mlcourse.checks.p14_pretraining import sampling as S

import p14_learner as learner


def test_correct_answers_pass_and_stubs_are_not_attempted():
    assert P.check_filter_logits(learner.my_filter_logits)
    assert P.check_generate(learner.my_generate)
    assert P.check_attention_step(learner.my_attention_step)
    assert P.check_cached_generate(learner.my_generate_cached)
    for check in (P.check_filter_logits, P.check_generate, P.check_attention_step, P.check_cached_generate):
        assert check(stub).status == "not attempted"


def top_p_bug(kind):
    def filt(logits, top_k=None, top_p=None):
        if top_k is not None or top_p is None:
            return learner.my_filter_logits(logits, top_k, top_p)
        sorted_logits, order = torch.sort(logits, dim=-1, descending=kind != "wrong_side")
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs
        drop = (probs.cumsum(-1) > top_p) if kind == "short" else before >= top_p
        if kind == "sorted_mask":
            return logits.masked_fill(drop, float("-inf"))
        return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return filt


@pytest.mark.parametrize("kind, hint", [("wrong_side", "wrong side"), ("short", "the token that crosses p must stay"),
                                        ("sorted_mask", "scattered back")])
def test_top_p_mistakes_are_named(capsys, kind, hint):
    fails_with(capsys, P.check_filter_logits(top_p_bug(kind)), hint)


def test_top_k_of_the_wrong_size_and_changed_logits_are_named(capsys):
    def k_plus_one(logits, top_k=None, top_p=None):
        return learner.my_filter_logits(logits, None if top_k is None else top_k + 1, top_p)

    fails_with(capsys, P.check_filter_logits(k_plus_one), "top-k kept")

    def softmaxed(logits, top_k=None, top_p=None):
        out = learner.my_filter_logits(logits, top_k, top_p)
        return out.log_softmax(-1)

    fails_with(capsys, P.check_filter_logits(softmaxed), "kept logits changed")


def generate_bug(kind):
    @torch.no_grad()
    def gen(model, prompt_ids, n, temperature=1.0, top_k=None, top_p=None, generator=None):
        ids = prompt_ids
        for _ in range(n):
            logits = model(ids)[:, -1, :]
            if temperature == 0 and kind != "greedy_samples":
                nxt = logits.argmax(-1, keepdim=True)
            else:
                t = temperature or 1.0
                scaled = {"after_softmax": logits, "multiplied": logits * t}.get(kind, logits / t)
                probs = learner.my_filter_logits(scaled, top_k, top_p).softmax(-1)
                if kind == "after_softmax":
                    probs = probs / t
                nxt = torch.multinomial(probs, 1, generator=None if kind == "unseeded" else generator)
            ids = torch.cat([ids, nxt], dim=1)
        return ids
    return gen


@pytest.mark.parametrize("kind, hint", [("after_softmax", "divide the LOGITS"), ("multiplied", "multiplied the logits"),
                                        ("greedy_samples", "take the argmax"), ("unseeded", "generator=generator")])
def test_sampling_mistakes_are_named(capsys, kind, hint):
    fails_with(capsys, P.check_generate(generate_bug(kind)), hint)


@pytest.mark.parametrize("bug", sorted(S.ATTENTION_BUGS))
def test_each_cache_attention_bug_is_named(capsys, bug):
    def buggy(layer, rotary, x, past_k, past_v):
        return S.reference_attention_step(layer, rotary, x, past_k, past_v, bug=bug)

    fails_with(capsys, P.check_attention_step(buggy), S.ATTENTION_BUGS[bug][:40])


def test_a_hand_written_step_without_the_position_offset_is_named(capsys):
    def no_offset(layer, rotary, x, past_k, past_v):
        B, T, _ = x.shape
        q = layer.q_proj(x).view(B, T, layer.num_heads, layer.d_head).transpose(1, 2)
        k = layer.k_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)
        v = layer.v_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)
        cos, sin = rotary(torch.arange(T))  # the bug: positions restart at 0 at every step
        q, k = learner.apply_rope(q, cos, sin), learner.apply_rope(k, cos, sin)
        if past_k is not None:
            k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        mask = torch.ones(k.shape[2], k.shape[2], dtype=torch.bool).tril()[k.shape[2] - T:]
        out = F.scaled_dot_product_attention(q, learner.repeat_kv(k, layer.groups), learner.repeat_kv(v, layer.groups),
                                             attn_mask=mask)
        return layer.o_proj(out.transpose(1, 2).reshape(B, T, -1)), k, v

    fails_with(capsys, P.check_attention_step(no_offset), "positions are not offset")


def test_cached_generation_without_a_cache_or_feeding_everything_is_named(capsys):
    fails_with(capsys, P.check_cached_generate(learner.my_generate), "without a cache")

    @torch.no_grad()
    def whole_sequence(model, prompt_ids, n, temperature=1.0, top_k=None, top_p=None, generator=None):
        cache = learner.KVCache(len(model.layers))
        ids = prompt_ids
        for _ in range(n):
            logits = model(ids, cache=cache)[:, -1, :]
            ids = torch.cat([ids, learner._next(logits, temperature, top_k, top_p, generator)], dim=1)
        return ids

    fails_with(capsys, P.check_cached_generate(whole_sequence), "read the prompt once")
