"""Which causal LM chapter 16 tunes: the course's own Mistral-architecture model, or Mistral 7B, by one name.

What it does:
  * :func:`load_causal_lm`: ``base_model="course"`` (the chapter-14 base model of a profile, trained once and
    saved in Hugging Face Mistral format), a local folder (``config.json`` + weights), or a hub name such as
    ``"mistralai/Mistral-7B-v0.1"`` read from the local Hugging Face cache only (this course never downloads).
    Missing weights raise ``FileNotFoundError`` saying what is needed and where to put it; the tokenizer is
    checked against the model's embedding; gradient checkpointing comes with the input-gradient fix peft needs
    when the embeddings are frozen.
  * :func:`mistral_7b_config` and :func:`lora_parameter_count`: Mistral 7B's published architecture, built on
    PyTorch's ``meta`` device (shapes only, no memory, runs in CI) with the same ``LoraConfig`` applied, which
    gives its exact trainable-parameter count.
  * :func:`memory_estimate`: bytes for weights, adapter, gradients, AdamW state and activations at a batch size
    and sequence length, with and without gradient checkpointing (an estimate, labelled as such).

What it does not do: download weights, quantise, or measure memory (a GPU run measures; this estimates).

Taught in chapter 16 (Instruction tuning with LoRA); chapter 17 loads its models through it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import torch

MISTRAL_7B = "mistralai/Mistral-7B-v0.1"
GIB = 1024**3


def mistral_7b_config():
    """``MistralConfig`` of Mistral 7B v0.1 (its published config.json, written out here)."""
    from transformers import MistralConfig

    return MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu",
                         max_position_embeddings=32768, rms_norm_eps=1e-5, sliding_window=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)


def lora_parameter_count(config, lora_config) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}`` of ``MistralForCausalLM(config)`` with ``lora_config`` applied, built
    on the ``meta`` device: exact counts, no weights allocated."""
    from transformers import MistralForCausalLM

    from mlcourse.finetune.lora import add_peft_lora

    with torch.device("meta"):
        model = add_peft_lora(MistralForCausalLM(config), lora_config)
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad)}


def memory_estimate(config, trainable: int, *, batch_size: int, seq_len: int, gradient_checkpointing: bool,
                    weight_bytes: int = 2) -> dict[str, float]:  # fmt: skip
    """Estimated GiB per part of a LoRA training step (weights in ``weight_bytes``, adapter and AdamW in float32).

    Activations per layer ~ 34 * B * T * d bytes in 16-bit (Korthikanti et al. 2022, with a fused attention
    that stores no T x T matrix); gradient checkpointing keeps only each layer's input (2 * B * T * d) plus one
    layer's full activations. The float32 logits and their gradient add 8 * B * T * V. An estimate: the
    allocator, the CUDA context and fragmentation add more (measure on the device to know).
    """
    n_total = sum(_matrix_sizes(config))
    tokens, d, layers = batch_size * seq_len, config.hidden_size, config.num_hidden_layers
    per_layer = 34 * tokens * d
    acts = (layers * 2 * tokens * d + per_layer) if gradient_checkpointing else layers * per_layer
    parts = {"weights": n_total * weight_bytes, "adapter": trainable * 4, "gradients": trainable * 4,
             "adamw_state": trainable * 8, "activations": acts, "logits": 8 * tokens * config.vocab_size}
    out = {k: v / GIB for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out


def _matrix_sizes(config) -> list[int]:
    d, f, v, layers = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (getattr(config, "head_dim", None) or d // config.num_attention_heads)
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * f + 2 * d  # q, o; k, v; gate, up, down; two norms
    return [v * d, layers * per_layer, d, 0 if config.tie_word_embeddings else v * d]


def resolve_base_model(base_model: str | os.PathLike = "course", profile: str = "quick") -> Path | str:
    """The folder (or hub name) ``base_model`` stands for; ``"course"`` trains chapter 14's model when missing."""
    if str(base_model) == "course":
        from mlcourse.training.base_model import base_dir, load_base

        if profile == "quick":
            load_base("quick", progress=False)  # trains it once (under a lock) when missing
        folder = base_dir(profile) / "hf"
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"{folder} is missing: run chapter 14's {profile} profile first "
                                    f"(mlcourse.training.base_model.train_base({profile!r})).")
        return folder
    path = Path(base_model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} has no config.json: it is not a Hugging Face model folder.")
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(base_model)):
        return str(base_model)
    raise ValueError(f"unknown base model {str(base_model)!r}: pass 'course', a local folder with config.json, "
                     f"or a Hugging Face name such as {MISTRAL_7B!r} whose weights are in your local cache.")


def load_causal_lm(base_model: str | os.PathLike = "course", *, profile: str = "quick",
                   dtype: torch.dtype | None = None, gradient_checkpointing: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """``(model, tokenizer)``: a ``transformers`` causal LM (eval mode) and its tokenizer, from local files only.

    ``dtype`` defaults to float32 for the course's model and bfloat16 for anything else (Mistral 7B: 14.5 GB).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mlcourse.finetune.instruction_format import check_tokenizer_fits

    source = resolve_base_model(base_model, profile)
    dtype = dtype or (torch.float32 if str(base_model) == "course" else torch.bfloat16)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # transformers' loading bars, not errors
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
    except OSError as err:
        raise FileNotFoundError(
            f"the weights of {source} are not on this machine ({type(err).__name__}). Needed: the model's "
            "config.json, tokenizer files and *.safetensors (Mistral 7B: about 14.5 GB in bfloat16). Put them in a "
            "folder and pass base_model='<that folder>', or place them in the Hugging Face cache "
            "(~/.cache/huggingface/hub, e.g. with `hf download mistralai/Mistral-7B-v0.1` on a machine with "
            "network access).") from err
    check_tokenizer_fits(tokenizer, model)
    if tokenizer.pad_token is None:  # Mistral 7B has none; labels are masked by position, so any id will do
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()  # frozen embeddings: without this no gradient reaches the adapters
        model.config.use_cache = False
    return model.eval(), tokenizer
