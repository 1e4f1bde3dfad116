"""The base-model helper: trains once, then loads; concurrent callers train once; the HF copy matches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mlcourse.training import base_model

TINY = {
    "vocab_size": 300,
    "model": dict(d_model=32, n_layers=1, n_heads=4, n_kv_heads=2, max_seq_len=32),
    "train": dict(steps=6, batch_size=4, seq_len=32, lr=3e-3, min_lr=3e-4, warmup_steps=2, eval_every=3,
                  eval_batches=2, checkpoint_every=3, sample_tokens=8),
}


@pytest.fixture
def tiny_base(shakespeare_data, tmp_path, monkeypatch):
    """load_base with a tiny 'quick' profile in an empty runs folder."""
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setitem(base_model.BASE_SETTINGS, "quick", TINY)
    return tmp_path / "runs"


def test_load_base_trains_once_then_loads(tiny_base, monkeypatch):
    calls = []
    real_train_base = base_model.train_base
    monkeypatch.setattr(base_model, "train_base", lambda *a, **k: calls.append(1) or real_train_base(*a, **k))
    model, tokenizer = base_model.load_base("quick", progress=False)
    again, _ = base_model.load_base(progress=False)  # profile=None: no full run, so the quick one
    assert calls == [1], "the second call must load, not train"
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert tokenizer.vocab_size == TINY["vocab_size"] == model.config.vocab_size
    info = json.loads((tiny_base / "p14_pretraining" / "quick" / "base.json").read_text())
    assert info["train_config"]["steps"] == 6 and info["val_loss"] > 0


def test_hf_copy_gives_the_same_logits(tiny_base):
    from transformers import AutoTokenizer, MistralForCausalLM

    model, tokenizer = base_model.load_base("quick", progress=False)
    folder = tiny_base / "p14_pretraining" / "quick" / "hf"
    hf_model = MistralForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()
    hf_tok = AutoTokenizer.from_pretrained(folder)
    text = "ROMEO:\nBut soft, what light"
    ids = torch.tensor([tokenizer.encode(text)])
    assert hf_tok(text)["input_ids"] == ids[0].tolist()
    with torch.no_grad():
        assert torch.allclose(model(ids), hf_model(ids).logits, atol=1e-4)


def test_the_best_held_out_checkpoint_is_exported_and_its_step_recorded(tiny_base, monkeypatch):
    # The export is the checkpoint of the best evaluation, kept in train/best/, and base.json says which step it is.
    settings = {**TINY, "train": {**TINY["train"], "steps": 12, "eval_every": 2, "checkpoint_every": 4, "lr": 3e-2,
                                  "min_lr": 3e-2, "keep_best": True}}
    monkeypatch.setitem(base_model.BASE_SETTINGS, "quick", settings)
    model, _, result = base_model.train_base("quick", progress=False)
    info = json.loads((tiny_base / "p14_pretraining" / "quick" / "base.json").read_text())
    evals = {r["step"]: r["val_loss"] for r in result.metrics if r["val_loss"] is not None and r["step"] > 0}
    best = min(evals, key=evals.get)
    assert info["best_step"] == best == result.best_step and info["last_step"] == 12  # (best < last: test_training)
    assert info["val_loss"] == pytest.approx(evals[best]) and info["last_val_loss"] == pytest.approx(evals[12])
    assert info["checkpoint"] == f"train/best/step_{best}"
    loaded, _ = base_model.load_base("quick", progress=False)  # what later chapters load is that checkpoint
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_full_profile_is_never_trained_implicitly(tiny_base):
    with pytest.raises(FileNotFoundError, match="--profile full"):
        base_model.load_base("full")


def test_two_processes_train_once(tiny_base, shakespeare_data):
    script = textwrap.dedent(f"""
        from mlcourse.training import base_model
        base_model.BASE_SETTINGS["quick"] = {TINY!r}
        model, tok = base_model.load_base("quick", progress=False)
        print("loaded", sum(p.numel() for p in model.parameters()))
    """)
    env = {**os.environ, "MLCOURSE_RUNS": str(tiny_base)}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum(o.count("training the quick base model") for o in outputs) == 1, outputs
    assert all("loaded" in o for o in outputs)
