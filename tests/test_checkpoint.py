"""Checkpoints: exact round trip, kill-and-resume, corrupt and truncated files, pruning, no pickle."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from mlcourse.training import checkpoint as ckpt
from mlcourse.training.lr_schedule import build_adamw
from mlcourse.training.loop import TrainConfig, lm_loss, sample_windows, train
from mlcourse.model.transformer import TransformerConfig, TransformerLM
from safetensors.torch import load_file

VOCAB = 40
MODEL = dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=64)
RUN = dict(steps=12, batch_size=4, seq_len=16, lr=3e-3, min_lr=3e-4, warmup_steps=2, log_every=2, eval_every=8,
           eval_batches=1, checkpoint_every=4, keep_checkpoints=3, progress=False, device="cpu")


def make_model(seed: int = 0, **changes) -> TransformerLM:
    torch.manual_seed(seed)
    return TransformerLM(TransformerConfig.mistral(**{**MODEL, **changes}))


def make_ids() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, VOCAB, (3000,), generator=torch.Generator().manual_seed(5))
    return ids[:2500], ids[2500:]


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), f"{name} differs"


def test_round_trip_restores_the_identical_next_step_loss(tmp_path):
    model, (train_ids, _) = make_model(), make_ids()
    optimizer = build_adamw(model, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)

    def step(m, opt) -> float:
        loss = lm_loss(m, sample_windows(train_ids, 4, 16, generator), None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step(model, optimizer)
    state = {"sampler_state": ckpt.generator_state(generator), "model_config": model.config.to_dict()}
    folder = ckpt.save_checkpoint(tmp_path, 3, model, optimizer, state)
    expected_loss = step(model, optimizer)  # one more step of the original, then the same step of the copy

    copy = make_model(seed=99)  # different initial weights: everything must come from the checkpoint
    copy_opt = build_adamw(copy, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), device=torch.device("cpu"))
    loaded = ckpt.load_checkpoint(folder, copy, copy_opt)
    ckpt.set_generator_state(generator, loaded["sampler_state"])
    assert loaded["step"] == 3 and step(copy, copy_opt) == expected_loss
    assert_same_weights(model, copy)  # identical AdamW moments give identical updated weights


def test_rng_states_survive_a_json_round_trip():
    torch.manual_seed(3)
    saved = json.loads(json.dumps(ckpt.rng_states()))
    first = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    ckpt.set_rng_states(saved)
    second = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(first[0], second[0]) and first[1:] == second[1:]


def test_tied_embeddings_are_stored_once_and_restored(tmp_path):
    model = make_model(tie_embeddings=True)
    optimizer = build_adamw(model, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.95), device=torch.device("cpu"))
    folder = ckpt.save_checkpoint(tmp_path, 1, model, optimizer, {"model_config": model.config.to_dict()})
    assert len(load_file(str(folder / "model.safetensors"))) == len(list(model.parameters()))
    copy = make_model(seed=1, tie_embeddings=True)
    ckpt.load_checkpoint(folder, copy)
    assert_same_weights(model, copy)
    assert copy.lm_head.weight.data_ptr() == copy.embed_tokens.weight.data_ptr()  # still one shared matrix


def test_a_checkpoint_is_safetensors_and_json_only_and_older_ones_are_pruned(tmp_path):
    train_ids, val_ids = make_ids()
    train(make_model(), train_ids, val_ids, TrainConfig(**{**RUN, "keep_checkpoints": 2}), tmp_path)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_8", "step_12"]
    assert (tmp_path / "latest").read_text().strip() == "step_12"
    folder = tmp_path / "step_12"
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    assert state["step"] == 12 and state["tokens_seen"] == 12 * 4 * 16 and state["format_version"] == 1
    assert set(state["rng"]) >= {"python", "numpy", "torch_cpu"} and state["sampler_state"]
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary folder left behind


def test_a_different_model_config_is_refused_before_touching_the_model(tmp_path):
    model = make_model()
    optimizer = build_adamw(model, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.95), device=torch.device("cpu"))
    folder = ckpt.save_checkpoint(tmp_path, 1, model, optimizer, {"model_config": model.config.to_dict()})
    other = make_model(seed=1, rope_theta=500.0)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ckpt.CheckpointError, match="rope_theta"):
        ckpt.load_checkpoint(folder, other)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_nan_weights_are_never_checkpointed(tmp_path):
    model = make_model()
    optimizer = build_adamw(model, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.95), device=torch.device("cpu"))
    with torch.no_grad():
        model.norm.weight[0] = float("nan")
    with pytest.raises(ckpt.CheckpointError, match="non-finite"):
        ckpt.save_checkpoint(tmp_path, 1, model, optimizer, {})
    assert ckpt.list_checkpoints(tmp_path) == []


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> tuple[TransformerLM, Path]:
    """An uninterrupted run's final model and its run folder (checkpoints at steps 4, 8, 12)."""
    train_ids, val_ids = make_ids()
    reference, run = make_model(), tmp_path_factory.mktemp("finished")
    train(reference, train_ids, val_ids, TrainConfig(**RUN), run)
    return reference, run


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "truncate_state_json"])
def test_a_corrupt_checkpoint_gives_a_clear_error_and_resume_falls_back(tmp_path, finished_runs, damage, capsys):
    reference, finished = finished_runs
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    good = file_hashes(run / "step_8")
    target = run / "step_12" / ("state.json" if damage == "truncate_state_json" else "model.safetensors")
    data = target.read_bytes()
    if damage == "flip_a_byte":
        target.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        target.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="step_12") as err:
        ckpt.load_checkpoint(run / "step_12", make_model())
    assert "resume falls back" in str(err.value) or "re-run" in str(err.value)
    assert file_hashes(run / "step_8") == good  # the previous checkpoint is untouched

    resumed = make_model(seed=7)
    train_ids, val_ids = make_ids()
    result = train(resumed, train_ids, val_ids, TrainConfig(**RUN), run, resume=True)
    assert result.resumed_from == 8 and "skipping unusable checkpoint" in capsys.readouterr().out
    assert_same_weights(reference, resumed)  # the fallback continued the same curve to the same end
    assert ckpt.read_state(run / "step_12")["step"] == 12  # and replaced the corrupt checkpoint with a good one


CHILD = textwrap.dedent(
    """
    import json, sys, time, torch
    from mlcourse.training.loop import TrainConfig, train
    from mlcourse.model.transformer import TransformerConfig, TransformerLM

    class SlowLM(TransformerLM):  # same numbers, slower steps: leaves time to kill the run mid-way
        def forward(self, ids):
            if self.training:
                time.sleep(0.1)
            return super().forward(ids)

    model_kw, run_kw, run_dir = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    ids = torch.randint(0, model_kw["vocab_size"], (3000,), generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    model = SlowLM(TransformerConfig.mistral(**model_kw))
    train(model, ids[:2500], ids[2500:], TrainConfig(**run_kw), run_dir)
    print("finished")
    """
)


def test_a_run_killed_with_sigkill_resumes_to_exactly_the_same_weights(tmp_path):
    train_ids, val_ids = make_ids()
    config = TrainConfig(**{**RUN, "steps": 16})
    script, run = tmp_path / "child.py", tmp_path / "killed"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), json.dumps(MODEL), json.dumps({**RUN, "steps": 16}),
                              str(run)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not (run / "step_8").exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    output = child.communicate()[0].decode()
    assert child.returncode == -signal.SIGKILL, output
    assert "finished" not in output and not (run / "step_16").exists()  # it really died mid-way

    resumed = make_model(seed=123)
    result = train(resumed, train_ids, val_ids, config, run, resume=True)
    assert result.resumed_from is not None and 8 <= result.resumed_from < 16
    uninterrupted = make_model()
    reference = train(uninterrupted, train_ids, val_ids, config, tmp_path / "uninterrupted")
    assert_same_weights(uninterrupted, resumed)
    curve = lambda r: [(m["step"], m["train_loss"], m["val_loss"], m["lr"]) for m in r.metrics]
    assert curve(result) == curve(reference)  # the metrics log continues the same curve, no gap, no duplicate
