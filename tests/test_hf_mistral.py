"""Tests of mlcourse.model.hf_mistral: our Mistral-option model and transformers.MistralForCausalLM compute the same
logits, before and after a save_pretrained / from_pretrained round trip through disk."""

from __future__ import annotations

import json

import pytest
import torch
from mlcourse.model import hf_mistral
from mlcourse.model.transformer import TransformerConfig, TransformerLM, count_parameters
from transformers import MistralForCausalLM

VOCAB = 80


def mistral_model(seed: int = 0, **changes) -> TransformerLM:
    base = dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_seq_len=64)
    torch.manual_seed(seed)
    return TransformerLM(TransformerConfig.mistral(**{**base, **changes})).eval()


def tokens(B: int = 2, T: int = 13) -> torch.Tensor:
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize(
    "changes",
    [{}, {"sliding_window": 4}, {"tie_embeddings": True}, {"n_kv_heads": 4, "rope_theta": 500.0}],
    ids=["gqa", "sliding-window-4", "tied", "mha-theta500"],
)
def test_hf_mistral_with_our_weights_gives_the_same_logits(changes):
    ours = mistral_model(**changes)
    theirs = hf_mistral.to_hf(ours)
    with torch.no_grad():
        delta = (ours(tokens()) - theirs(tokens()).logits).abs().max().item()
    assert delta < 1e-5, f"max |logits difference| = {delta}"
    assert count_parameters(theirs) == count_parameters(ours)


def test_save_pretrained_folder_loads_in_transformers_and_back_into_ours(tmp_path):
    ours = mistral_model(sliding_window=5)
    hf_mistral.save_pretrained(ours, tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model_type"] == "mistral" and config["num_key_value_heads"] == 2
    assert (tmp_path / "ckpt" / "model.safetensors").exists()
    theirs = MistralForCausalLM.from_pretrained(tmp_path / "ckpt", local_files_only=True)
    back = hf_mistral.load_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        expected = ours(tokens())
        assert (theirs(tokens()).logits - expected).abs().max() < 1e-5
        assert (back(tokens()) - expected).abs().max() < 1e-5
    assert back.config == ours.config


def test_from_hf_reads_a_model_built_by_transformers():
    torch.manual_seed(1)
    theirs = MistralForCausalLM(hf_mistral.to_mistral_config(mistral_model().config)).eval()
    ours = hf_mistral.from_hf(theirs)
    with torch.no_grad():
        assert (ours(tokens()) - theirs(tokens()).logits).abs().max() < 1e-5


def test_attention_dropout_travels_both_ways_and_acts_only_in_training(tmp_path):
    ours = mistral_model(attn_dropout=0.25)
    assert hf_mistral.to_mistral_config(ours.config).attention_dropout == 0.25
    hf_mistral.save_pretrained(ours, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["attention_dropout"] == 0.25
    assert hf_mistral.load_pretrained(tmp_path / "ckpt").config == ours.config  # attn_dropout=0.25 back
    assert hf_mistral.load_pretrained(tmp_path / "ckpt", attn_dropout=0.0).config.attn_dropout == 0.0
    theirs = hf_mistral.to_hf(ours)
    with torch.no_grad():
        assert (theirs(tokens()).logits - ours(tokens())).abs().max() < 1e-5  # eval: no dropout on either side
        theirs.train()
        torch.manual_seed(0)
        assert (theirs(tokens()).logits - ours(tokens())).abs().max() > 1e-3  # training: weights dropped


def test_classic_model_cannot_be_exported_and_the_error_names_the_fields():
    classic = TransformerLM(TransformerConfig.classic(vocab_size=VOCAB, d_model=32, n_heads=4))
    with pytest.raises(ValueError, match="norm.*layernorm"):
        hf_mistral.to_hf(classic)


def test_loading_a_folder_without_config_raises_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        hf_mistral.load_pretrained(tmp_path)
