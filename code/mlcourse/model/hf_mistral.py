"""Our Mistral-option :class:`~mlcourse.model.transformer.TransformerLM` <-> ``transformers.MistralForCausalLM``.

What it does:
  * :func:`to_mistral_config` / :func:`from_mistral_config`: our config <-> ``transformers.MistralConfig``.
  * :func:`to_hf` / :func:`from_hf`: the same weights in the other class. Our module names are Hugging Face's
    (``model.`` prefix aside), and our RoPE uses its "rotate half" pairing, so conversion is a tensor copy.
  * :func:`save_pretrained` / :func:`load_pretrained`: a folder that ``MistralForCausalLM.from_pretrained``
    reads (config.json + model.safetensors), and back. This is how chapter 16 fine-tunes the course's own
    model with the code that fine-tunes Mistral 7B.

What it deliberately does not do: tokenizer export (chapter 13), classic options (LayerNorm, GELU, absolute
positions and biases have no slot in Mistral's architecture: converting such a model raises ``ValueError``
saying which field to change), downloads, and ``trust_remote_code`` (never set).

Taught in chapter 12 (The decoder-only transformer from scratch).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mlcourse.model.transformer import TransformerConfig, TransformerLM

_MISTRAL_FIELDS = {"norm": "rmsnorm", "positions": "rope", "ffn": "swiglu", "norm_placement": "pre",
                   "residual": True, "bias": False, "attn_scale": None}


def check_mistral_compatible(config: TransformerConfig) -> None:
    """Raise ``ValueError`` naming every field that Mistral's architecture cannot represent."""
    wrong = {k: getattr(config, k) for k, v in _MISTRAL_FIELDS.items() if getattr(config, k) != v}
    if wrong:
        fix = ", ".join(f"{k}={_MISTRAL_FIELDS[k]!r}" for k in wrong)
        raise ValueError(f"this model cannot become a MistralForCausalLM: it has {wrong}. Build it with "
                         f"TransformerConfig.mistral(...) or set {fix}.")


def to_mistral_config(config: TransformerConfig):
    """The ``transformers.MistralConfig`` of the same architecture; ``attn_dropout`` becomes ``attention_dropout``
    (the same dropout of attention weights in training mode). Mistral has no residual dropout: ``resid_dropout``
    does not travel."""
    from transformers import MistralConfig

    check_mistral_compatible(config)
    return MistralConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model, intermediate_size=config.ff_dim,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
        num_key_value_heads=config.kv_heads, head_dim=config.d_head, hidden_act="silu",
        max_position_embeddings=config.max_seq_len, rms_norm_eps=config.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": float(config.rope_theta)},
        sliding_window=config.sliding_window, tie_word_embeddings=config.tie_embeddings,
        initializer_range=config.init_std, attention_dropout=config.attn_dropout,
    )


def from_mistral_config(hf_config, **changes) -> TransformerConfig:
    """Our config for a ``MistralConfig`` (``changes`` set our own fields, e.g. ``attention_path``);
    ``attention_dropout`` becomes ``attn_dropout``."""
    if hf_config.hidden_act != "silu":
        raise ValueError(f"hidden_act={hf_config.hidden_act!r} is not SwiGLU's 'silu'; our model has no slot for it.")
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // hf_config.num_attention_heads
    if head_dim * hf_config.num_attention_heads != hf_config.hidden_size:
        raise ValueError(f"head_dim={head_dim} x heads != hidden_size={hf_config.hidden_size}; not supported here.")
    rope_theta = (hf_config.rope_parameters or {}).get("rope_theta", 10000.0)
    return TransformerConfig.mistral(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size, d_ff=hf_config.intermediate_size,
        n_layers=hf_config.num_hidden_layers, n_heads=hf_config.num_attention_heads,
        n_kv_heads=hf_config.num_key_value_heads, max_seq_len=hf_config.max_position_embeddings,
        norm_eps=hf_config.rms_norm_eps, rope_theta=float(rope_theta), sliding_window=hf_config.sliding_window,
        tie_embeddings=bool(hf_config.tie_word_embeddings), init_std=hf_config.initializer_range,
        **{"attn_dropout": float(getattr(hf_config, "attention_dropout", 0.0) or 0.0), **changes},
    )


def hf_state_dict(model: TransformerLM) -> dict[str, torch.Tensor]:
    """Our weights under Hugging Face's names: ``model.`` in front of everything but ``lm_head``."""
    check_mistral_compatible(model.config)
    out = {}
    for name, tensor in model.state_dict().items():
        out[name if name.startswith("lm_head.") else f"model.{name}"] = tensor
    return out


def to_hf(model: TransformerLM, attn_implementation: str = "eager"):
    """A ``MistralForCausalLM`` (float32, eval mode) holding a copy of ``model``'s weights."""
    from transformers import MistralForCausalLM

    hf_model = MistralForCausalLM(to_mistral_config(model.config))
    hf_model.config._attn_implementation = attn_implementation
    state = hf_state_dict(model)
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)  # the head is the embedding matrix there too
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (model.config.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight names do not match: missing in ours {missing}, unknown to HF {unexpected}.")
    return hf_model.float().eval()


def from_hf(hf_model, **changes) -> TransformerLM:
    """Our :class:`TransformerLM` with a copy of a ``MistralForCausalLM``'s weights."""
    model = TransformerLM(from_mistral_config(hf_model.config, **changes))
    state = {}
    for name, tensor in hf_model.state_dict().items():
        ours = name.removeprefix("model.")
        if ours.endswith("rotary_emb.inv_freq") or ours.endswith("original_inv_freq"):
            continue  # HF keeps RoPE frequencies as buffers; ours are rebuilt from rope_theta
        state[ours] = tensor.detach().float().clone()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if model.config.tie_embeddings:
        missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"weight names do not match: missing in HF {missing}, unknown to ours {unexpected}.")
    return model.eval()


def save_pretrained(model: TransformerLM, folder: str | os.PathLike) -> Path:
    """Write ``folder`` as a Hugging Face checkpoint (config.json + model.safetensors) and return its path."""
    folder = Path(folder)
    to_hf(model).save_pretrained(folder, safe_serialization=True)
    return folder


def load_pretrained(folder: str | os.PathLike, **changes) -> TransformerLM:
    """Read a Mistral checkpoint folder (ours or any ``MistralForCausalLM``) into our model. Local files only."""
    from transformers import MistralForCausalLM

    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} has no config.json; write it with save_pretrained(model, {str(folder)!r}).")
    hf_model = MistralForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return from_hf(hf_model, **changes)
