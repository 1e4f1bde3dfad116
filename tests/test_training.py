"""The training loop: learning, the schedule, clipping, weight-decay groups, logs, samples and divergence."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from mlcourse.training import checkpoint as ckpt
from mlcourse.training.lr_schedule import lr_at, parameter_groups
from mlcourse.labs.step_profile import profile_step_phases
from mlcourse.training.loop import TrainConfig, TrainingDiverged, clip_gradients, lm_loss, train
from mlcourse.model.transformer import TransformerConfig, TransformerLM

VOCAB = 16
MODEL = dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=64)
RUN = dict(steps=12, batch_size=4, seq_len=16, lr=1e-2, min_lr=1e-3, warmup_steps=2, log_every=2, eval_every=6,
           eval_batches=1, checkpoint_every=4, progress=False, device="cpu")
LETTERS = "abcdefghijklmno "  # a 16-symbol "tokenizer" for the sample test


def make_model(seed: int = 0) -> TransformerLM:
    torch.manual_seed(seed)
    return TransformerLM(TransformerConfig.mistral(**MODEL))


def pattern_ids(n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable stream: a fixed random permutation of the vocabulary, repeated (the next token is determined)."""
    cycle = torch.randperm(VOCAB, generator=torch.Generator().manual_seed(0))
    ids = cycle.repeat(n // VOCAB + 1)[:n]
    return ids[: int(0.8 * n)], ids[int(0.8 * n):]


def test_loss_decreases_on_a_tiny_config(tmp_path):
    result = train(make_model(), *pattern_ids(), TrainConfig(**{**RUN, "steps": 30, "eval_every": 30}), tmp_path)
    first, last = result.metrics[0], result.metrics[-1]
    assert first["step"] == 0 and math.isclose(first["val_loss"], math.log(VOCAB), rel_tol=0.2)  # chance level
    assert last["val_loss"] < 0.5 * first["val_loss"] and last["train_loss"] < result.metrics[1]["train_loss"]


def test_schedule_values_at_known_steps():
    lr = lambda step: lr_at(step, max_lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110)
    assert lr(0) == pytest.approx(0.1) and lr(4) == pytest.approx(0.5) and lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)  # the peak, where the cosine starts
    assert lr(60) == pytest.approx(0.55)  # half-way through the cosine: the mean of max and min
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)  # the floor, also after the end
    decay = [lr(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(0, max_lr=1.0, min_lr=0.0, warmup_steps=0, total_steps=10) == 1.0  # no warm-up


@pytest.mark.parametrize("kwargs", [dict(warmup_steps=10, total_steps=10), dict(min_lr=2.0), dict(step=-1)])
def test_schedule_rejects_impossible_settings(kwargs):
    args = {**dict(step=0, max_lr=1.0, min_lr=0.1, warmup_steps=1, total_steps=10), **kwargs}
    with pytest.raises(ValueError):
        lr_at(args.pop("step"), **args)


def test_clipping_bounds_the_norm_and_reports_the_norm_before_clipping():
    model, (ids, _) = make_model(), pattern_ids()
    window = ids[:17].repeat(4, 1)
    (1000 * lm_loss(model, window, None)).backward()  # a deliberately huge gradient
    before = clip_gradients(model, None)  # None only measures
    assert before > 1.0
    assert clip_gradients(model, 0.5) == pytest.approx(before, rel=1e-5)
    after = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
    assert after <= 0.5 * (1 + 1e-5) and after == pytest.approx(0.5, rel=1e-4)


def test_weight_decay_goes_to_matrices_only():
    model = make_model()
    decay, no_decay = parameter_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert any(p is model.embed_tokens.weight for p in decay["params"])  # embeddings are decayed (see the module)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_metrics_and_samples_are_logged_with_their_step(tmp_path):
    encode = lambda text: [LETTERS.index(ch) for ch in text]
    decode = lambda ids: "".join(LETTERS[i] for i in ids)
    config = TrainConfig(**{**RUN, "sample_prompts": ("abc", "no"), "sample_tokens": 5})
    result = train(make_model(), *pattern_ids(), config, tmp_path, encode=encode, decode=decode, bytes_per_token=2.0)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == json.loads(json.dumps(result.metrics))
    assert [r["step"] for r in rows] == [0, 2, 4, 6, 8, 10, 12]
    assert {"step", "tokens_seen", "train_loss", "val_loss", "val_ppl", "val_bpb", "lr", "grad_norm",
            "tokens_per_s", "elapsed_s"} <= set(rows[0])
    last = rows[-1]
    assert last["tokens_seen"] == 12 * 4 * 16 and last["val_ppl"] == pytest.approx(math.exp(last["val_loss"]))
    assert last["val_bpb"] == pytest.approx(last["val_loss"] / math.log(2) / 2.0)
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [(s["step"], s["prompt"]) for s in samples] == [(s, p) for s in (0, 6, 12) for p in ("abc", "no")]
    assert all(s["text"].startswith(s["prompt"]) and len(s["text"]) == len(s["prompt"]) + 5 for s in samples)


class PoisonedLM(TransformerLM):
    """Returns NaN logits from its ``poison_at``-th training forward pass on (an injected divergence)."""

    poison_at = 7

    def forward(self, ids):
        logits = super().forward(ids)
        if self.training:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls >= self.poison_at:
                return logits * float("nan")
        return logits


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = PoisonedLM(TransformerConfig.mistral(**MODEL))
    with pytest.raises(TrainingDiverged, match="diverged at step 7.*step_4") as err:
        train(model, *pattern_ids(), TrainConfig(**RUN), tmp_path)
    assert err.value.step == 7 and err.value.checkpoint == tmp_path / "step_4"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_4"]
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the optimizer never applied the NaN step
    fresh = make_model(seed=1)
    ckpt.load_checkpoint(tmp_path / "step_4", fresh)  # verifies and loads: a good place to resume from


def test_a_huge_learning_rate_without_clipping_diverges_with_a_clear_message(tmp_path):
    config = TrainConfig(**{**RUN, "lr": 1e12, "min_lr": 0.0, "grad_clip": None, "steps": 20, "checkpoint_every": 20})
    with pytest.raises(TrainingDiverged, match="Lower the learning rate"):
        train(make_model(), *pattern_ids(), config, tmp_path)
    assert ckpt.list_checkpoints(tmp_path) == []


def test_a_run_folder_with_checkpoints_is_not_silently_mixed(tmp_path):
    config = TrainConfig(**{**RUN, "steps": 4})
    train(make_model(), *pattern_ids(), config, tmp_path)
    with pytest.raises(FileExistsError, match="resume=True"):
        train(make_model(), *pattern_ids(), config, tmp_path)
    again = train(make_model(), *pattern_ids(), config, tmp_path, resume=True)  # finished: returns at once
    assert again.resumed_from == 4 and again.metrics[-1]["step"] == 4


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="1-D"):
        train(make_model(), torch.zeros(4, 100, dtype=torch.long), torch.zeros(100, dtype=torch.long),
              TrainConfig(**RUN), tmp_path)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_step_profile_splits_the_step_into_three_phases():
    shares = profile_step_phases(make_model(), batch_size=2, seq_len=16, steps=2, warmup=1, device="cpu")
    assert sum(shares[f"{p}_pct"] for p in ("forward", "backward", "optimizer")) == pytest.approx(100.0)
    assert all(shares[f"{p}_s"] > 0 for p in ("forward", "backward", "optimizer")) and shares["tokens_per_s"] > 0


def test_resume_without_a_checkpoint_starts_afresh_with_a_clean_log(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9.9}\n{"step": 2, "tra')  # killed early
    result = train(make_model(), *pattern_ids(), TrainConfig(**{**RUN, "steps": 4}), tmp_path, resume=True)
    assert result.resumed_from is None
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 2, 4]


def test_keep_best_keeps_the_checkpoint_of_the_lowest_held_out_loss_across_a_resume(tmp_path):
    from mlcourse.training.loop import evaluate, sample_windows

    train_ids, _ = pattern_ids()
    other = torch.randperm(VOCAB, generator=torch.Generator().manual_seed(1)).repeat(30)  # a different cycle:
    config = TrainConfig(**{**RUN, "eval_every": 2, "keep_best": True})  # learning the training cycle hurts it
    first = train(make_model(), train_ids, other, config, tmp_path / "a")
    evals = {r["step"]: r["val_loss"] for r in first.metrics if r["val_loss"] is not None and r["step"] > 0}
    assert first.best_step == min(evals, key=evals.get) and first.best_val_loss == evals[first.best_step]
    assert first.best_step < config.steps  # the held-out loss rose after its minimum: the last step is not the best
    assert first.best_checkpoint == tmp_path / "a" / "best" / f"step_{first.best_step}"
    model = make_model(seed=5)
    ckpt.load_checkpoint(first.best_checkpoint, model)  # the kept weights give the logged held-out loss
    windows = sample_windows(other, config.eval_batches * config.batch_size, config.seq_len,
                             torch.Generator().manual_seed(config.seed + 1))
    assert evaluate(model, windows, config.batch_size) == pytest.approx(first.best_val_loss, abs=1e-5)
    # A killed run resumed from an earlier checkpoint finds the same best step (a later best/ is dropped first).
    again = train(make_model(), train_ids, other, config, tmp_path / "b")
    for later in ckpt.list_checkpoints(tmp_path / "b")[1:]:
        shutil.rmtree(later)
    (tmp_path / "b" / ckpt.LATEST).unlink()
    resumed = train(make_model(), train_ids, other, config, tmp_path / "b", resume=True)
    assert resumed.resumed_from == 4 and resumed.best_step == first.best_step == again.best_step
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "b" / "best")] == [f"step_{first.best_step}"]
    assert train(make_model(), train_ids, other, TrainConfig(**RUN), tmp_path / "c").best_checkpoint is None
