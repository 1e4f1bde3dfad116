"""A decoder-only transformer language model: one implementation, classic or Mistral parts chosen by its config.

What it does:
  * :class:`TransformerConfig`: every architectural choice as a field. :meth:`TransformerConfig.classic` gives the
    GPT-2 style model the seed teaches (LayerNorm, sinusoidal or learned positions, GELU MLP, biases);
    :meth:`TransformerConfig.mistral` gives Mistral 7B's choices (RMSNorm, RoPE, SwiGLU, grouped-query
    attention, sliding window, no biases). The ablation fields (``norm_placement="post"``, ``residual=False``,
    ``norm="none"``, ``attn_scale=1.0``) exist so that chapter 12 can measure what each part buys.
  * :class:`DecoderBlock`: x + attn(norm(x)), then x + mlp(norm(x)) (pre-norm), or the post-norm variant.
  * :class:`TransformerLM`: token embeddings (+ absolute positions) -> blocks -> final norm -> LM head, giving
    next-token logits (B, T, vocab). Module names follow Hugging Face's ``MistralForCausalLM`` (embed_tokens,
    layers.i.self_attn.q_proj, input_layernorm, mlp.gate_proj, norm, lm_head), so :mod:`mlcourse.model.hf_mistral`
    converts by copying tensors.
  * :func:`next_token_loss`: the course's one language-model loss (mean cross-entropy of the logits against the
    next tokens); :meth:`TransformerLM.loss` and the training loop's ``lm_loss`` go through it.

Chapter 14 adds attention and residual dropout (``attn_dropout``, ``resid_dropout``, default 0: active in
training mode only) and the key-value cache plumbing: ``forward(ids, cache=KVCache(...))`` reads the positions
already cached, offsets the positions (RoPE angles, absolute tables) by the cache length and appends the new
keys and values; :mod:`mlcourse.model.generation` drives it.

What it deliberately does not do: the sampling loop (chapter 14's ``generation``), padding masks, the
training loop. Parameter and FLOP formulas live in :mod:`mlcourse.model.size`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.model.gqa_attention import AttentionPath, GroupedQueryAttention, LayerKVCache
from mlcourse.model.parts import FeedForward, FFNKind, NormKind, RotaryEmbedding, make_norm, sinusoidal_positions

PositionKind = Literal["sinusoidal", "learned", "rope", "none"]


@dataclass(frozen=True)
class TransformerConfig:
    """The architecture of a :class:`TransformerLM`. Defaults: a tiny classic model."""

    vocab_size: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int | None = None  # None = n_heads (multi-head); fewer = grouped-query attention
    d_ff: int | None = None  # None = 4 * d_model
    max_seq_len: int = 128  # size of the absolute position table; RoPE has no table but HF records it
    norm: NormKind = "layernorm"
    norm_placement: Literal["pre", "post"] = "pre"
    residual: bool = True
    positions: PositionKind = "sinusoidal"
    ffn: FFNKind = "gelu"
    sliding_window: int | None = None
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    bias: bool = True
    tie_embeddings: bool = False
    attn_scale: float | None = None  # None = 1/sqrt(d_head)
    attention_path: AttentionPath = "fast"
    init_std: float = 0.02
    # Sinusoid amplitude; None = init_std * sqrt(2), so a position vector is as long as a token embedding at
    # initialisation (both about init_std * sqrt(d)). 1.0 is the 2017 table, which here outweighs a token ~35:1.
    position_scale: float | None = None
    attn_dropout: float = 0.0  # probability of dropping an attention weight (training mode only)
    resid_dropout: float = 0.0  # probability of dropping a unit of each block's output before it joins the residual

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}.")
        if self.n_heads % self.kv_heads != 0:
            raise ValueError(f"n_kv_heads={self.n_kv_heads} must divide n_heads={self.n_heads}.")
        if self.positions == "rope" and self.d_head % 2 != 0:
            raise ValueError(f"RoPE needs an even head size, got d_head={self.d_head}.")
        for name in ("vocab_size", "d_model", "n_layers", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        for name in ("attn_dropout", "resid_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}.")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def ff_dim(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    def with_(self, **changes: Any) -> "TransformerConfig":
        """A copy with some fields changed (the config is frozen)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; the dropout fields only when non-zero, so that configs saved before they existed
        (the cached base model's ``base.json``, its checkpoints) still compare equal to a new default one."""
        fields = asdict(self)
        for name in ("attn_dropout", "resid_dropout"):
            if fields[name] == 0.0:
                del fields[name]
        return fields

    @classmethod
    def classic(cls, **changes: Any) -> "TransformerConfig":
        """GPT-2 style: LayerNorm, sinusoidal positions, GELU MLP (d_ff = 4 d), biases, pre-norm."""
        base = dict(norm="layernorm", positions="sinusoidal", ffn="gelu", bias=True, n_kv_heads=None)
        return cls(**{**base, **changes})

    @classmethod
    def mistral(cls, **changes: Any) -> "TransformerConfig":
        """Mistral 7B's choices: RMSNorm, RoPE, SwiGLU, GQA (H / 4 key-value heads), no biases, untied head."""
        n_heads = changes.get("n_heads", cls.n_heads)
        base = dict(norm="rmsnorm", positions="rope", ffn="swiglu", bias=False, n_kv_heads=max(1, n_heads // 4),
                    tie_embeddings=False)
        return cls(**{**base, **changes})


class DecoderBlock(nn.Module):
    """One layer: self-attention then feed-forward, each wrapped in a norm and a residual connection.

    pre-norm  (GPT-2, Mistral): x = x + attn(norm1(x));  x = x + mlp(norm2(x))
    post-norm (2017 paper):     x = norm1(x + attn(x));  x = norm2(x + mlp(x))
    ``residual=False`` drops the "x +" (the ablation that shows why it is there).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = config
        self.pre_norm = c.norm_placement == "pre"
        self.residual = c.residual
        self.self_attn = GroupedQueryAttention(
            c.d_model, c.n_heads, c.kv_heads, bias=c.bias, window=c.sliding_window, scale=c.attn_scale,
            path=c.attention_path, dropout=c.attn_dropout,
        )
        self.resid_dropout = nn.Dropout(c.resid_dropout)  # on each sub-layer's output (identity when p = 0)
        self.mlp = FeedForward(c.d_model, c.ff_dim, c.ffn, bias=c.bias)
        self.input_layernorm = make_norm(c.norm, c.d_model, c.norm_eps, c.bias)  # HF's names for norm1, norm2
        self.post_attention_layernorm = make_norm(c.norm, c.d_model, c.norm_eps, c.bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: LayerKVCache | None = None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model); ``cache``: this layer's past keys and values (generation)."""
        if self.pre_norm:
            h = self.resid_dropout(self.self_attn(self.input_layernorm(x), rope, cache))
            x = x + h if self.residual else h
            h = self.resid_dropout(self.mlp(self.post_attention_layernorm(x)))
            return x + h if self.residual else h
        h = self.resid_dropout(self.self_attn(x, rope, cache))
        x = self.input_layernorm(x + h if self.residual else h)
        h = self.resid_dropout(self.mlp(x))
        return self.post_attention_layernorm(x + h if self.residual else h)


class KVCache:
    """The key-value cache of a whole model for generation: one :class:`LayerKVCache` per layer; ``len`` = positions
    cached. Memory: 2 (k and v) x layers x kv_heads x d_head x positions x batch x bytes per number."""

    def __init__(self, n_layers: int) -> None:
        self.layers = [LayerKVCache() for _ in range(n_layers)]

    def __len__(self) -> int:
        return len(self.layers[0])

    def nbytes(self) -> int:
        """Bytes held by the cached keys and values."""
        return sum(t.numel() * t.element_size() for c in self.layers for t in (c.k, c.v) if t is not None)


class TransformerLM(nn.Module):
    """Decoder-only language model: token ids (B, T) -> next-token logits (B, T, vocab_size)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embed_tokens = nn.Embedding(c.vocab_size, c.d_model)
        if c.positions == "learned":
            self.embed_positions = nn.Embedding(c.max_seq_len, c.d_model)
        elif c.positions == "sinusoidal":
            scale = c.init_std * math.sqrt(2) if c.position_scale is None else c.position_scale
            self.register_buffer("position_table", sinusoidal_positions(c.max_seq_len, c.d_model) * scale, persistent=False)
        self.rotary = RotaryEmbedding(c.d_head, c.rope_theta) if c.positions == "rope" else None
        self.layers = nn.ModuleList(DecoderBlock(c) for _ in range(c.n_layers))
        # Post-norm blocks already end in a norm; pre-norm blocks leave the residual stream unnormalised.
        self.norm = make_norm(c.norm if c.norm_placement == "pre" else "none", c.d_model, c.norm_eps, c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight  # one (vocab, d) matrix reads tokens in and out
        if self.embed_tokens.weight.device.type != "meta":
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, init_std) weights, zero biases, unit norms; residual output projections scaled by
        1/sqrt(2 n_layers), so the variance of the residual stream does not grow with depth (GPT-2's rule)."""
        std = self.config.init_std
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.dim() == 1:  # norm weights
                nn.init.ones_(param)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, std=std / math.sqrt(2 * self.config.n_layers))
            else:
                nn.init.normal_(param, std=std)

    def forward(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """input_ids: (B, T) integers in [0, vocab_size) -> logits (B, T, vocab_size).

        With ``cache`` (generation), input_ids are the T tokens that follow the ``len(cache)`` cached ones; their
        keys and values are appended to the cache.
        """
        return self.lm_head(self.hidden_states(input_ids, cache))  # (B, T, d_model) -> (B, T, vocab_size)

    def hidden_states(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """input_ids: (B, T) -> the final-normed residual stream (B, T, d_model), what the LM head reads.

        A classification head (chapter 15) reads these vectors instead of the next-token logits.
        """
        c = self.config
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}; add .unsqueeze(0).")
        B, T = input_ids.shape
        past = 0 if cache is None else len(cache)  # positions already cached: the new ones start there
        if c.positions in ("learned", "sinusoidal") and past + T > c.max_seq_len:
            raise ValueError(f"sequence of {past + T} tokens is longer than max_seq_len={c.max_seq_len}; crop it.")
        x = self.embed_tokens(input_ids)  # (B, T) -> (B, T, d_model)
        positions = torch.arange(past, past + T, device=input_ids.device)  # (T,)
        if c.positions == "learned":
            x = x + self.embed_positions(positions)  # (T, d) broadcasts over the batch
        elif c.positions == "sinusoidal":
            x = x + self.position_table[past:past + T]
        rope = self.rotary(positions) if self.rotary is not None else None  # (cos, sin), each (T, d_head)
        for i, layer in enumerate(self.layers):
            x = layer(x, rope, None if cache is None else cache.layers[i])  # (B, T, d_model)
        return self.norm(x)  # (B, T, d_model)

    def loss(self, input_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (:func:`next_token_loss`); targets (B, T) are usually input_ids shifted
        left by one."""
        return next_token_loss(self(input_ids), targets)

    def attention_weights(self) -> list[torch.Tensor | None]:
        """Each layer's (B, H, T, T) weights from the last forward pass (explicit path only, else None)."""
        return [layer.self_attn.last_attn_weights for layer in self.layers]


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per token of logits (B, T, vocab) against target ids (B, T): the course's one
    language-model loss (:meth:`TransformerLM.loss` and training's ``lm_loss`` both call it).

    Computed in float32 at least: logits made under bf16 autocast are cast up first (a softmax over thousands of
    tokens in bf16 loses the small probabilities); float32 and float64 logits are used as they are.
    """
    if logits.dtype != torch.float64:
        logits = logits.float()  # a no-op for float32
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (a tied matrix counts once); works on the ``meta`` device too."""
    return sum(p.numel() for p in model.parameters())  # .parameters() already de-duplicates shared tensors
