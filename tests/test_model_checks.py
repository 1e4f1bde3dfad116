"""Tests of mlcourse.labs.model_checks: the six checks pass on correct models of both families and fail, with a
row that says so, on a model broken in the way each check is meant to catch."""

from __future__ import annotations

import pytest
import torch

from mlcourse.labs import model_checks as mc
from mlcourse.model.transformer import TransformerConfig, TransformerLM

TINY = dict(vocab_size=19, d_model=16, n_layers=2, n_heads=4, max_seq_len=16)


@pytest.mark.parametrize("config", [TransformerConfig.classic(**TINY), TransformerConfig.mistral(**TINY, n_kv_heads=2, d_ff=40)],
                         ids=["classic", "mistral"])
def test_every_check_passes_on_a_correct_model(config):
    rows = mc.run_model_checks(config)
    assert [r["check"] for r in rows] == ["output shape", "causal mask", "distinct positions", "overfit two samples",
                                          "finite gradients", "gradcheck (attention)"]
    assert all(r["passed"] for r in rows), rows


def test_a_model_whose_attention_reads_the_future_fails_the_causal_check():
    model = TransformerLM(TransformerConfig.classic(**TINY, attention_path="explicit")).eval()
    for layer in model.layers:  # replace every pattern by a uniform average over ALL keys, future included
        layer.self_attn.edit_weights = lambda w: torch.ones_like(w) / w.shape[-1]
    row = mc.check_causality(model)
    assert not row["passed"] and "after 5" in row["result"]


def test_checks_fail_without_positions_without_learning_and_with_a_frozen_part():
    assert not mc.check_distinct_positions(TransformerLM(TransformerConfig.classic(**TINY, positions="none")))["passed"]
    assert not mc.check_overfits_two_samples(TransformerConfig.classic(**TINY), steps=20, lr=0.0)["passed"]
    model = TransformerLM(TransformerConfig.classic(**TINY))
    model.layers[0].mlp.up_proj.weight.requires_grad_(False)  # a part cut off from the gradient
    row = mc.check_gradients(model)
    assert not row["passed"] and "layers.0.mlp.up_proj.weight" in row["result"]
