"""Attention and residual dropout: off by default (train and eval mode give the same output), active in training
mode only when p > 0, deterministic in eval mode, on both attention paths; configs without dropout serialise as
before, so runs saved before the fields existed still load."""

from __future__ import annotations

import pytest
import torch
from mlcourse.model.transformer import TransformerConfig, TransformerLM

IDS = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0))


def make(**changes) -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(TransformerConfig.mistral(vocab_size=50, d_model=32, n_layers=2, n_heads=4, **changes))


@pytest.mark.parametrize("path", ["fast", "explicit"])
def test_without_dropout_train_and_eval_mode_agree(path):
    model = make(attention_path=path)
    train_out = model.train()(IDS)
    torch.testing.assert_close(train_out, model.eval()(IDS), atol=0, rtol=0)


@pytest.mark.parametrize("changes", [{"attn_dropout": 0.3}, {"resid_dropout": 0.3},
                                     {"attn_dropout": 0.3, "attention_path": "explicit"}])
def test_with_dropout_training_mode_is_random_and_eval_mode_is_deterministic(changes):
    model = make(**changes)
    reference = make(**{k: v for k, v in changes.items() if "dropout" not in k}).eval()(IDS)
    model.train()
    first, second = model(IDS), model(IDS)
    assert not torch.allclose(first, second) and not torch.allclose(first, reference)
    model.eval()
    torch.testing.assert_close(model(IDS), model(IDS), atol=0, rtol=0)
    torch.testing.assert_close(model(IDS), reference, atol=0, rtol=0)  # eval mode = the same model without dropout


def test_dropout_fields_are_validated_and_left_out_of_to_dict_at_zero():
    with pytest.raises(ValueError, match="attn_dropout"):
        TransformerConfig(attn_dropout=1.0)
    with pytest.raises(ValueError, match="resid_dropout"):
        TransformerConfig(resid_dropout=-0.1)
    plain = TransformerConfig().to_dict()
    assert "attn_dropout" not in plain and "resid_dropout" not in plain  # as configs saved before dropout existed
    assert TransformerConfig(**plain) == TransformerConfig()
    with_dropout = TransformerConfig(resid_dropout=0.1).to_dict()
    assert with_dropout["resid_dropout"] == 0.1 and TransformerConfig(**with_dropout).resid_dropout == 0.1


def test_training_with_dropout_still_learns():
    model = make(attn_dropout=0.1, resid_dropout=0.1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x, y = IDS[:, :-1], IDS[:, 1:]
    losses = []
    for _ in range(30):
        loss = model.loss(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
