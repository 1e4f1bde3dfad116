"""Tests of the chapter 12 checks of the learner's decoder (mlcourse.checks.p12_transformer.attention, .blocks):
a correct learner's module passes every check, an untouched stub reads as not attempted, and one typical bug per
check fails with the message that names it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from check_helpers import fails_with, stub
from torch import nn

from mlcourse.checks import p12_transformer as checks
from mlcourse.model.parts import make_norm, sinusoidal_positions
from mlcourse.model.transformer import TransformerConfig, next_token_loss


class Attention(nn.Module):
    """A correct learner's attention; the knobs turn on one typical bug each."""

    split_transposed, mask, scale_by_head, merge_transposed, grouped = True, True, True, True, True

    def __init__(self, d_model, n_heads, n_kv_heads=None, bias=True):
        super().__init__()
        self.h, self.h_kv, self.d_head = n_heads, n_kv_heads or n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, self.h_kv * self.d_head, bias=bias)
        self.v_proj = nn.Linear(d_model, self.h_kv * self.d_head, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def split(self, t, n):
        B, T, _ = t.shape
        return t.view(B, T, n, self.d_head).transpose(1, 2) if self.split_transposed else t.reshape(B, n, T, self.d_head)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.split(self.q_proj(x), self.h), self.split(self.k_proj(x), self.h_kv), self.split(self.v_proj(x), self.h_kv)
        g = self.h // self.h_kv
        k, v = (k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)) if self.grouped else (k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head if self.scale_by_head else 1)
        if self.mask:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        out = scores.softmax(-1) @ v
        out = out.transpose(1, 2).reshape(B, T, d) if self.merge_transposed else out.reshape(B, T, d)
        return self.o_proj(out)


class FeedForward(nn.Module):
    act = staticmethod(F.gelu)
    swap = False

    def __init__(self, d_model, d_ff, kind="gelu", bias=True):
        super().__init__()
        self.kind = kind
        if kind == "swiglu":
            self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        if self.kind == "swiglu":
            gate, up = (self.up_proj(x), self.gate_proj(x)) if self.swap else (self.gate_proj(x), self.up_proj(x))
            return self.down_proj(F.silu(gate) * up)
        return self.down_proj(self.act(self.up_proj(x)))


class Block(nn.Module):
    attn_residual, post_norm = True, False

    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c.d_model, c.n_heads, n_kv_heads=c.kv_heads, bias=c.bias)
        self.mlp = FeedForward(c.d_model, c.ff_dim, c.ffn, bias=c.bias)
        self.input_layernorm = make_norm(c.norm, c.d_model, c.norm_eps, c.bias)
        self.post_attention_layernorm = make_norm(c.norm, c.d_model, c.norm_eps, c.bias)

    def forward(self, x):
        if self.post_norm:
            h = self.input_layernorm(x + self.self_attn(x))
            return self.post_attention_layernorm(h + self.mlp(h))
        a = self.self_attn(self.input_layernorm(x))
        h = x + a if self.attn_residual else a
        return h + self.mlp(self.post_attention_layernorm(h))


class LM(nn.Module):
    tied, position_scale, final_norm = True, None, True

    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.d_model)
        scale = c.init_std * math.sqrt(2) if self.position_scale is None else self.position_scale
        self.register_buffer("position_table", sinusoidal_positions(c.max_seq_len, c.d_model) * scale)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = make_norm(c.norm, c.d_model, c.norm_eps, c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if self.tied:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, ids):
        x = self.embed_tokens(ids) + self.position_table[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x) if self.final_norm else x)

    def loss(self, ids, targets):
        return next_token_loss(self(ids), targets)


def bug(cls, **knobs):
    """A subclass of a correct module with one knob turned."""
    return type(f"Buggy{cls.__name__}", (cls,), knobs)


def test_correct_modules_pass_every_check():
    assert checks.check_attention(Attention)
    assert checks.check_grouped_attention(Attention)
    assert checks.check_gelu_mlp(FeedForward)
    assert checks.check_swiglu(FeedForward)
    assert checks.check_decoder_block(Block)
    assert checks.check_language_model(LM)


def test_untouched_stubs_read_as_not_attempted():
    for check in (checks.check_attention, checks.check_grouped_attention, checks.check_gelu_mlp, checks.check_swiglu,
                  checks.check_decoder_block, checks.check_language_model):
        assert check(stub).status == "not attempted"


def test_attention_bugs_are_named(capsys):
    fails_with(capsys, checks.check_attention(bug(Attention, split_transposed=False)), "heads split without the transpose")
    fails_with(capsys, checks.check_attention(bug(Attention, merge_transposed=False)), "heads merged without the transpose")
    fails_with(capsys, checks.check_attention(bug(Attention, mask=False)), "no causal mask")
    fails_with(capsys, checks.check_attention(bug(Attention, scale_by_head=False)), "not scaled")
    fails_with(capsys, checks.check_grouped_attention(bug(Attention, grouped=False)), "tiled instead of grouped")


def test_feed_forward_bugs_are_named(capsys):
    fails_with(capsys, checks.check_gelu_mlp(bug(FeedForward, act=staticmethod(F.relu))), "ReLU instead of GELU")
    tanh = staticmethod(lambda z: F.gelu(z, approximate="tanh"))
    fails_with(capsys, checks.check_gelu_mlp(bug(FeedForward, act=tanh)), "tanh approximation")
    fails_with(capsys, checks.check_swiglu(bug(FeedForward, swap=True)), "gate and up swapped")


def test_block_and_model_bugs_are_named(capsys):
    fails_with(capsys, checks.check_decoder_block(bug(Block, attn_residual=False)), "attention's residual is missing")
    fails_with(capsys, checks.check_decoder_block(bug(Block, post_norm=True)), "post-norm")
    fails_with(capsys, checks.check_language_model(bug(LM, tied=False)), "head is not tied")
    fails_with(capsys, checks.check_language_model(bug(LM, position_scale=1.0)), "unscaled sinusoids")
    fails_with(capsys, checks.check_language_model(bug(LM, final_norm=False)), "no final norm")


def test_training_curve_check_names_the_step_where_curves_part(capsys):
    assert checks.check_training_curve([3.0, 2.5, 2.0], [3.0, 2.51, 2.0])
    capsys.readouterr()
    fails_with(capsys, checks.check_training_curve([3.0, 2.5, 2.3], [3.0, 2.5, 2.0]), "part at step 2")
    fails_with(capsys, checks.check_training_curve([3.1, 2.5], [3.0, 2.5]), "first step's loss differs")
