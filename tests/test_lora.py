"""Chapter 16's LoRA: from scratch equal to peft on identical A and B, only the adapters train, merging changes
nothing in float32, save/load reproduces outputs, the Mistral 7B count on the meta device, and clear errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mlcourse.finetune.causal_lm import (MISTRAL_7B, load_causal_lm, lora_parameter_count, memory_estimate,
                                         mistral_7b_config, resolve_base_model)
from mlcourse.finetune.instruction_format import check_tokenizer_fits, masked_lm_loss, model_logits
from mlcourse.finetune.lora import (ALL_LINEAR, QV, LoRALinear, apply_lora, copy_lora_to_peft, lora_config,
                                    lora_update_norms, merge_lora, trainable_parameters)
from mlcourse.model import hf_mistral
from mlcourse.model.transformer import TransformerConfig, TransformerLM


def tiny() -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(TransformerConfig.mistral(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                                   max_seq_len=16)).eval()


def test_lora_linear_starts_equal_to_its_base_and_merges_to_w_plus_scaled_ba():
    torch.manual_seed(0)
    base = nn.Linear(8, 6, bias=False)
    layer = LoRALinear(copy.deepcopy(base), r=4, alpha=8.0)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), base(x))  # B = 0 at the start
    with torch.no_grad():
        layer.B.normal_()
    expected = base.weight + 2.0 * layer.B @ layer.A  # alpha / r = 2
    torch.testing.assert_close(layer.merged_weight(), expected)
    torch.testing.assert_close(layer(x), x @ expected.T)


def test_only_adapters_train_and_the_base_weights_stay_untouched():
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = apply_lora(model, ALL_LINEAR, r=4, alpha=8.0)
    assert len(names) == 2 * 7
    trainable, total = trainable_parameters(model)
    d, kv, ff = 32, 2 * 8, model.config.ff_dim
    per_layer = 4 * ((d + d) * 2 + (d + kv) * 2 + (d + ff) * 3)  # q, o; k, v; gate, up, down
    assert trainable == 2 * per_layer and total > trainable
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    ids = torch.randint(0, 50, (2, 2, 10))
    for _ in range(3):
        masked_lm_loss(model.train(), ids, None).backward()
        opt.step()
        opt.zero_grad()
    after = {k.replace(".base.", "."): v for k, v in model.state_dict().items() if not k.endswith((".A", ".B"))}
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    assert lora_update_norms(model)["norm"].gt(0).all()


def test_ours_equals_peft_on_identical_a_and_b_and_merging_changes_nothing():
    from peft import get_peft_model

    model = tiny()
    hf = hf_mistral.to_hf(model)
    apply_lora(model, ALL_LINEAR, r=4, alpha=8.0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.B.normal_(std=0.1)
    peft_model = get_peft_model(hf, lora_config(r=4, alpha=8.0, dropout=0.0))
    assert copy_lora_to_peft(model, peft_model) == 14
    ids = torch.randint(0, 50, (2, 12))
    ours = model(ids)
    torch.testing.assert_close(model_logits(peft_model.eval(), ids), ours, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merge_lora(model)(ids), ours, atol=1e-5, rtol=1e-5)
    merged = peft_model.merge_and_unload()
    torch.testing.assert_close(merged(ids).logits, ours, atol=1e-5, rtol=1e-5)


def test_save_and_reload_reproduces_outputs(tmp_path):
    from peft import PeftModel, get_peft_model

    hf = hf_mistral.to_hf(tiny())
    torch.manual_seed(1)
    peft_model = get_peft_model(copy.deepcopy(hf), lora_config(r=4, alpha=8.0, targets=QV))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1)
    peft_model.save_pretrained(tmp_path / "adapter")
    again = PeftModel.from_pretrained(copy.deepcopy(hf), tmp_path / "adapter").eval()
    ids = torch.randint(0, 50, (2, 12))
    torch.testing.assert_close(again(ids).logits, peft_model.eval()(ids).logits, rtol=0, atol=0)


def test_mistral_7b_trainable_parameters_on_the_meta_device():
    config = mistral_7b_config()
    all_linear = lora_parameter_count(config, lora_config(r=32, targets=ALL_LINEAR))
    qv = lora_parameter_count(config, lora_config(r=32, targets=QV))
    assert all_linear["total"] - all_linear["trainable"] == 7_241_732_096  # Mistral 7B's published size
    assert all_linear["trainable"] == 32 * 32 * ((4096 + 4096) * 2 + (4096 + 1024) * 2 + (4096 + 14336) * 3)
    assert qv["trainable"] == 32 * 32 * ((4096 + 4096) + (4096 + 1024)) == 13_631_488
    estimate = memory_estimate(config, all_linear["trainable"], batch_size=1, seq_len=512,
                               gradient_checkpointing=True)
    assert 13.0 < estimate["weights"] < 14.0 and estimate["total"] > estimate["weights"]
    without = memory_estimate(config, all_linear["trainable"], batch_size=1, seq_len=512,
                              gradient_checkpointing=False)
    assert without["activations"] > estimate["activations"]


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown base model"):
        resolve_base_model("no such model")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_base_model(tmp_path)
    assert resolve_base_model(MISTRAL_7B) == MISTRAL_7B
    with pytest.raises(ValueError, match="no nn.Linear named like"):
        apply_lora(tiny(), ("wq",))

    class Tok:
        def __len__(self):
            return 51

    with pytest.raises(ValueError, match="do not belong together"):
        check_tokenizer_fits(Tok(), hf_mistral.to_hf(tiny()))


def test_missing_mistral_weights_say_what_is_needed_and_where(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="14.5 GB.*base_model='<that folder>'"):
        load_causal_lm(MISTRAL_7B)


def test_chapter_14_loop_tunes_instruction_batches_and_resumes(tmp_path):
    from mlcourse.finetune.instruction_format import IGNORE, sample_examples
    from mlcourse.training.loop import TrainConfig, train

    model = tiny()
    apply_lora(model, ALL_LINEAR, r=4, alpha=8.0)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith((".A", ".B"))}
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49, (40, 12), generator=g)
    labels = ids.clone()
    labels[:, :6] = IGNORE  # a 6-token "prompt"
    data = torch.stack([ids, labels], dim=1)  # (N, 2, T)
    config = TrainConfig(steps=6, batch_size=4, seq_len=12, lr=3e-2, min_lr=1e-2, warmup_steps=1, eval_every=3,
                         eval_batches=2, checkpoint_every=3, log_every=3, progress=False, device="cpu")
    result = train(model, data[:32], data[32:], config, tmp_path, batch_fn=sample_examples, loss_fn=masked_lm_loss)
    evals = [r for r in result.metrics if r["train_eval_loss"] is not None]
    assert result.step == 6 and evals[-1]["train_eval_loss"] < evals[0]["train_eval_loss"]  # fixed training sample
    for key, value in frozen.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    again = train(model, data[:32], data[32:], config, tmp_path, resume=True, batch_fn=sample_examples,
                  loss_fn=masked_lm_loss)
    assert again.resumed_from == 6 and again.val_loss == result.val_loss
