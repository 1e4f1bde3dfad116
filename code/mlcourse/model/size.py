"""How big a transformer is from its config alone: parameters by formula, FLOPs per token, Mistral 7B's numbers.

What it does:
  * :func:`parameter_count` adds up, part by part, the parameters a :class:`~mlcourse.model.transformer.TransformerConfig`
    implies; the tests and chapter 12 check it against the parameters actually built (on the ``meta`` device for
    Mistral 7B, so no 29 GB of memory is needed).
  * :func:`flops_per_token`: forward-pass floating point operations per token (2 per multiply-add), and the
    usual training estimate of 3x (the backward pass costs about twice the forward).
  * :data:`MISTRAL_7B`: the published configuration of Mistral-7B-v0.1, as our config.

What it deliberately does not do: memory estimates (activations, optimizer state) or measured timings.
"""

from __future__ import annotations

from mlcourse.model.transformer import TransformerConfig

#: Mistral-7B-v0.1 (vocab 32000, hidden 4096, MLP 14336, 32 layers, 32 query heads, 8 key-value heads,
#: RoPE theta 10000, sliding window 4096, 32768 positions, RMSNorm eps 1e-5, untied embeddings).
MISTRAL_7B = TransformerConfig.mistral(
    vocab_size=32000, d_model=4096, d_ff=14336, n_layers=32, n_heads=32, n_kv_heads=8, rope_theta=10000.0,
    sliding_window=4096, max_seq_len=32768, norm_eps=1e-5, tie_embeddings=False,
)


def parameter_breakdown(c: TransformerConfig) -> dict[str, int]:
    """Parameters per part: embeddings, positions, attention, mlp, norms, lm_head (all layers together)."""
    d, d_attn, d_kv = c.d_model, c.n_heads * c.d_head, c.kv_heads * c.d_head
    attention = d * d_attn + 2 * d * d_kv + d_attn * d  # q, k, v, o weights
    n_ffn_in = 2 if c.ffn == "swiglu" else 1  # gate_proj and up_proj, or up_proj alone
    mlp = n_ffn_in * d * c.ff_dim + c.ff_dim * d
    if c.bias:
        attention += d_attn + 2 * d_kv + d
        mlp += n_ffn_in * c.ff_dim + d
    per_norm = {"layernorm": 2 * d if c.bias else d, "rmsnorm": d, "none": 0}[c.norm]
    final_norm = per_norm if c.norm_placement == "pre" else 0
    return {
        "embeddings": c.vocab_size * d,
        "positions": c.max_seq_len * d if c.positions == "learned" else 0,  # sinusoidal and RoPE: no parameters
        "attention": c.n_layers * attention,
        "mlp": c.n_layers * mlp,
        "norms": c.n_layers * 2 * per_norm + final_norm,
        "lm_head": 0 if c.tie_embeddings else c.vocab_size * d,
    }


def parameter_count(c: TransformerConfig) -> int:
    """Total parameters of ``TransformerLM(c)``, from the config alone (Mistral 7B: 7,241,732,096)."""
    return sum(parameter_breakdown(c).values())


def flops_per_token(c: TransformerConfig, seq_len: int, *, training: bool = False) -> int:
    """Floating point operations per token for a sequence of ``seq_len`` tokens (a multiply-add counts 2).

    Forward = 2 x (every matrix-multiply weight: attention, mlp, lm_head) + the attention scores and their
    weighted sum, 2 x 2 x n_layers x seq_len x d_attn (q k^T and a v over the full T x T grid; a sliding window
    shortens it to min(T, window)). Embedding look-ups and norms are left out (no multiply-adds worth counting).
    ``training=True`` returns 3x the forward: the backward pass computes two products per forward one.
    """
    parts = parameter_breakdown(c)
    matmul_weights = parts["attention"] + parts["mlp"] + c.vocab_size * c.d_model  # the head multiplies even if tied
    keys = seq_len if c.sliding_window is None else min(seq_len, c.sliding_window)
    forward = 2 * matmul_weights + 4 * c.n_layers * keys * c.n_heads * c.d_head
    return 3 * forward if training else forward
