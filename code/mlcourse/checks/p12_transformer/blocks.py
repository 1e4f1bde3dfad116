"""Checks for exercises 2 to 4 of chapter 12: the learner's feed-forward networks, decoder block and whole model.

The learner writes ``FeedForward(d_model, d_ff, kind, bias)`` (``"gelu"``: up_proj, down_proj; ``"swiglu"``:
gate_proj, up_proj, down_proj), ``DecoderBlock(config)`` (self_attn, mlp, input_layernorm,
post_attention_layernorm) and ``LanguageModel(config)`` (embed_tokens, layers, norm, lm_head, tied), with the
library's names. Each check loads the library module's ``state_dict`` (random weights, norms included) into
the learner's module and compares outputs within 1e-5; when they differ it recomputes the library's module
with one typical mistake at a time (ReLU or tanh-GELU for GELU, gate and up swapped, a missing residual, the
residual adding the normalised stream, post-norm, one norm used twice, no positions, unscaled positions, no
final norm, an untied head) and names the one that matches. :func:`check_training_curve` compares the
learner's training losses with the library model's on the same weights and batches. Nothing is trained here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mlcourse.checks.core import CheckFailed, Verdict, expect, run_check
from mlcourse.checks.p12_transformer.attention import diagnose, load_reference, randomise
from mlcourse.model.parts import FeedForward, sinusoidal_positions
from mlcourse.model.transformer import DecoderBlock, TransformerConfig, TransformerLM


def _check_ffn(cls: type[nn.Module], kind: str, variants_of) -> str:
    for seed, (d, d_ff, bias) in enumerate(((16, 40, True), (24, 56, False))):
        reference = randomise(FeedForward(d, d_ff, kind, bias=bias), seed)
        mine = cls(d, d_ff, kind, bias)
        load_reference(mine, reference, f"{kind} feed-forward")
        x = torch.randn(2, 5, d, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            got, expected = mine(x), reference(x)
        diagnose(got, expected, variants_of(reference, x), "feed-forward output", f"d={d}, d_ff={d_ff}, bias={bias}")
    return "equals the library on identical weights (2 sizes, with and without biases)"


def check_gelu_mlp(cls: type[nn.Module]) -> Verdict:
    """``cls(d_model, d_ff, "gelu", bias)``: down_proj(GELU(up_proj x))."""

    def variants(ref: FeedForward, x: torch.Tensor) -> dict:
        return {
            "ReLU instead of GELU: use F.gelu": lambda: ref.down_proj(F.relu(ref.up_proj(x))),
            "the tanh approximation of GELU; the library uses the exact one, F.gelu(x) (approximate='none')":
                lambda: ref.down_proj(F.gelu(ref.up_proj(x), approximate="tanh")),
            "no activation between up_proj and down_proj: two linear maps make one linear map":
                lambda: ref.down_proj(ref.up_proj(x)),
            "GELU after down_proj instead of between the two projections": lambda: F.gelu(ref.down_proj(ref.up_proj(x))),
        }

    return run_check("GELU feed-forward", lambda: _check_ffn(cls, "gelu", variants))


def check_swiglu(cls: type[nn.Module]) -> Verdict:
    """``cls(d_model, d_ff, "swiglu", bias)``: down_proj(SiLU(gate_proj x) * up_proj x)."""

    def variants(ref: FeedForward, x: torch.Tensor) -> dict:
        g, u = ref.gate_proj(x), ref.up_proj(x)
        return {
            "gate and up swapped: the SiLU goes on gate_proj(x), which then multiplies up_proj(x)":
                lambda: ref.down_proj(F.silu(u) * g),
            "sigmoid instead of SiLU: SiLU(z) = z * sigmoid(z)": lambda: ref.down_proj(torch.sigmoid(g) * u),
            "GELU instead of SiLU (that is GEGLU; Mistral uses SiLU)": lambda: ref.down_proj(F.gelu(g) * u),
            "no gate: the product with SiLU(gate_proj x) is missing": lambda: ref.down_proj(F.silu(u)),
            "added instead of multiplied: SiLU(gate_proj x) * up_proj x": lambda: ref.down_proj(F.silu(g) + u),
        }

    return run_check("SwiGLU feed-forward", lambda: _check_ffn(cls, "swiglu", variants))


def _block_variants(ref: DecoderBlock, x: torch.Tensor) -> dict:
    n1, n2, attn, mlp = ref.input_layernorm, ref.post_attention_layernorm, ref.self_attn, ref.mlp

    def no_attn_residual() -> torch.Tensor:
        h = attn(n1(x))
        return h + mlp(n2(h))

    def no_mlp_residual() -> torch.Tensor:
        return mlp(n2(x + attn(n1(x))))

    def normed_residual() -> torch.Tensor:
        h = n1(x) + attn(n1(x))
        return n2(h) + mlp(n2(h))

    def post_norm() -> torch.Tensor:
        h = n1(x + attn(x))
        return n2(h + mlp(h))

    def one_norm() -> torch.Tensor:
        h = x + attn(n1(x))
        return h + mlp(n1(h))

    def swapped_norms() -> torch.Tensor:
        h = x + attn(n2(x))
        return h + mlp(n1(h))

    def parallel() -> torch.Tensor:
        return x + attn(n1(x)) + mlp(n2(x))

    return {
        "the attention's residual is missing: h = x + self_attn(input_layernorm(x))": no_attn_residual,
        "the feed-forward's residual is missing: the block returns h + mlp(post_attention_layernorm(h))": no_mlp_residual,
        "the residual adds the normalised stream: add the attention's output to x itself, not to norm(x)": normed_residual,
        "post-norm (norm after the addition); this block is pre-norm: x + f(norm(x))": post_norm,
        "input_layernorm used twice: the feed-forward reads post_attention_layernorm(h)": one_norm,
        "the two norms swapped: input_layernorm goes before attention, post_attention_layernorm before the MLP": swapped_norms,
        "the feed-forward reads x instead of h = x + attention(...): the two sublayers run in sequence": parallel,
    }


def check_decoder_block(cls: type[nn.Module]) -> Verdict:
    """``cls(config)``: pre-norm block x + attn(norm1(x)), then + mlp(norm2(.)), classic and Mistral-style."""

    def body() -> str:
        configs = {
            "classic (LayerNorm, GELU, 4 heads)": TransformerConfig.classic(d_model=16, n_heads=4, d_ff=40),
            "Mistral-style (RMSNorm, SwiGLU, 4:2 heads, no biases)":
                TransformerConfig.mistral(d_model=16, n_heads=4, n_kv_heads=2, d_ff=40, positions="none"),
        }
        for seed, (name, config) in enumerate(configs.items()):
            reference = randomise(DecoderBlock(config), seed).eval()
            mine = cls(config)
            load_reference(mine, reference, "decoder block")
            mine.eval()
            x = torch.randn(2, 7, 16, generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                got, expected = mine(x), reference(x)
            diagnose(got, expected, _block_variants(reference, x), "block output", name)
        return "equals the library's pre-norm block, classic and Mistral-style"

    return run_check("pre-norm decoder block", body)


def _lm_variants(ref: TransformerLM, ids: torch.Tensor) -> dict:
    T, d = ids.shape[1], ref.config.d_model
    table = ref.position_table[:T]  # (T, d), the library's scaled sinusoids

    def run(x: torch.Tensor, final_norm: bool = True) -> torch.Tensor:
        for layer in ref.layers:
            x = layer(x)
        return ref.lm_head(ref.norm(x) if final_norm else x)

    raw = sinusoidal_positions(ref.config.max_seq_len, d)[:T]  # the unit-amplitude table of the 2017 paper
    emb = ref.embed_tokens(ids)  # (B, T, d)
    return {
        "no positions added to the token embeddings": lambda: run(emb),
        "unscaled sinusoids: the library scales the table so a position weighs as much as a token "
        "(see the chapter's position-scale section)": lambda: run(emb + raw),
        "no final norm before lm_head": lambda: run(emb + table, final_norm=False),
        "the embeddings multiplied by sqrt(d_model) (the 2017 paper's choice, not this library's)":
            lambda: run(emb * math.sqrt(d) + table),
    }


def check_language_model(cls: type[nn.Module]) -> Verdict:
    """``cls(config)`` for a classic config with ``tie_embeddings=True``: ids (B, T) -> logits (B, T, V)."""

    def body() -> str:
        config = TransformerConfig.classic(vocab_size=23, d_model=16, n_layers=2, n_heads=4, d_ff=40, max_seq_len=12,
                                           tie_embeddings=True)
        reference = randomise(TransformerLM(config), 0).eval()
        mine = cls(config)
        head, embed = getattr(mine, "lm_head", None), getattr(mine, "embed_tokens", None)
        expect(head is not None and embed is not None, "name the parts embed_tokens, layers, norm and lm_head")
        if head.weight is not embed.weight:
            raise CheckFailed("the head is not tied: lm_head.weight must BE embed_tokens.weight "
                              "(self.lm_head.weight = self.embed_tokens.weight), one (V, d) matrix read in and out")
        load_reference(mine, reference, "language model")
        mine.eval()
        ids = torch.randint(0, 23, (2, 9), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            got, expected = mine(ids), reference(ids)
        diagnose(got, expected, _lm_variants(reference, ids), "logits",
                 "classic config, 2 layers, d=16, V=23, ids of shape (2, 9)")
        return "equals the library's TransformerLM on identical weights, with a tied head"

    return run_check("language model", body)


def check_training_curve(mine: list[float], library: list[float], tolerance: float = 0.02) -> Verdict:
    """The learner's per-step training losses against the library model's, same weights and batches:
    every step within ``tolerance`` nats (rounding differences of the two implementations grow a little)."""

    def body() -> str:
        expect(len(mine) == len(library), f"expected {len(library)} losses, got {len(mine)}")
        gaps = [abs(a - b) for a, b in zip(mine, library)]
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        expect(gaps[0] < 1e-4, f"the first step's loss differs ({mine[0]:.4f} vs {library[0]:.4f}): the models "
                               "are not the same function; pass the checks above first")
        expect(gaps[worst] <= tolerance, f"the curves part at step {worst}: {mine[worst]:.4f} vs {library[worst]:.4f} "
                                         f"(tolerance {tolerance} nats); does your model use dropout or a different loss?")
        return f"the two curves agree within {tolerance} nats at every step"

    return run_check("training curve", body)
