"""Chapter 17's full fine-tuning baseline: the same run as the LoRA one except the learning rate, cached like
chapter 16's adapter, and the full profile never trains implicitly."""

from __future__ import annotations

import json

import pytest

from mlcourse.finetune import full_finetune as ff
from mlcourse.finetune.instruction_tuning import TUNE_SETTINGS


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_full_fine_tuning_matches_the_lora_run_but_for_the_learning_rate(profile):
    full, lora = ff.FULL_SETTINGS[profile], TUNE_SETTINGS[profile]
    assert full["max_len"] == lora["max_len"]
    same = {k: v for k, v in full["train"].items() if k not in ("lr", "min_lr")}
    assert same == {k: v for k, v in lora["train"].items() if k not in ("lr", "min_lr")}
    assert full["train"]["lr"] < lora["train"]["lr"] and full["train"]["min_lr"] < full["train"]["lr"]


def test_cache_folder_and_the_full_profile_never_trains_implicitly(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path))
    assert ff.full_tune_dir("quick") == tmp_path.resolve() / "p17_base_vs_tuned" / "quick" / "full_finetune"
    assert not ff.is_full_tuned("full")
    with pytest.raises(FileNotFoundError, match=r"full_tune\('full'\)"):
        ff.load_full_tuned("full")
    with pytest.raises(ValueError):
        ff.full_tune_dir("medium")


def test_a_cached_run_with_other_settings_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path))
    assert ff.stale_settings("quick") == {}  # nothing cached
    folder = ff.full_tune_dir("quick")
    folder.mkdir(parents=True)
    config = dict(ff.FULL_SETTINGS["quick"]["train"])
    (folder / ff.DONE_FILE).write_text(json.dumps({"train_config": config}))
    assert ff.stale_settings("quick") == {}
    (folder / ff.DONE_FILE).write_text(json.dumps({"train_config": {**config, "steps": 7}}))
    assert ff.stale_settings("quick") == {"steps": (7, config["steps"])}


def test_the_base_fingerprint_changes_with_the_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights v1")
    first = ff.base_fingerprint(str(tmp_path))
    assert first == ff.base_fingerprint(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"weights v2")
    assert ff.base_fingerprint(str(tmp_path)) != first
    assert ff.base_fingerprint("mistralai/Mistral-7B-v0.1") == "mistralai/Mistral-7B-v0.1"
