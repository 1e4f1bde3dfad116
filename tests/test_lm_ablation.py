"""Tests of mlcourse.labs.lm_ablation: the character task's windows, the short training loop and the throughput timer."""

from __future__ import annotations

import torch
from mlcourse.labs.lm_ablation import CharTask, ablation_configs, throughput, train_steps
from mlcourse.model.transformer import TransformerConfig, TransformerLM

TEXT = "to be or not to be, that is the question. " * 40


def test_targets_are_the_inputs_shifted_left_by_one():
    task = CharTask(TEXT, seq_len=12)
    x, y = task.windows(task.train_ids, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 12)
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert "".join(task.chars) == "".join(sorted(set(TEXT)))


def test_windows_come_from_the_shared_sampler_with_the_draws_the_task_always_made():
    task = CharTask(TEXT, seq_len=12)
    g_task, g_old = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(3):
        x, y = task.windows(task.train_ids, 6, g_task)
        starts = torch.randint(0, len(task.train_ids) - 12 - 1, (6,), generator=g_old)  # the task's own former draw
        chunk = task.train_ids[starts[:, None] + torch.arange(13)]
        assert torch.equal(x, chunk[:, :-1]) and torch.equal(y, chunk[:, 1:])


def test_held_out_windows_are_the_same_on_every_call():
    task = CharTask(TEXT, seq_len=8)
    assert all(torch.equal(a, b) for a, b in zip(task.held_out(5), task.held_out(5)))


def test_training_on_a_repetitive_text_lowers_the_loss_and_logs_every_step():
    task = CharTask(TEXT, seq_len=16)
    torch.manual_seed(0)
    model = TransformerLM(TransformerConfig.mistral(vocab_size=task.vocab_size, d_model=32, n_layers=1, n_heads=4))
    log = train_steps(model, task, 60, batch_size=8, lr=1e-2, warmup_steps=5, progress=False)
    assert len(log.losses) == len(log.grad_norms) == 60 and not log.diverged
    assert log.held_out_loss < log.losses[0] - 1.0


def test_ablation_configs_change_only_the_residual_wiring():
    base = TransformerConfig.classic(n_layers=3)
    variants = ablation_configs(base)
    assert variants["post-norm"] == base.with_(norm_placement="post")
    assert variants["no residual"] == base.with_(residual=False)
    assert variants["pre-norm"] == base


def test_throughput_reports_positive_tokens_per_second_for_each_model():
    models = {name: TransformerLM(TransformerConfig.mistral(vocab_size=20, d_model=16, n_layers=1, n_heads=2,
                                                            attention_path=name)) for name in ("fast", "explicit")}
    rates = throughput(models, 20, batch_size=2, seq_len=8, repeats=3, warmup=1)
    assert set(rates) == {"fast", "explicit"} and all(r > 0 for r in rates.values())


def test_component_ladder_changes_one_thing_per_step_and_ends_at_the_mistral_config():
    from dataclasses import asdict

    from mlcourse.labs.lm_ablation import component_ladder

    common = dict(vocab_size=30, d_model=16, n_layers=2, n_heads=4, max_seq_len=16)
    ladder = list(component_ladder(common, d_ff_swiglu=40, n_kv_heads=2).values())
    for before, after in zip(ladder, ladder[1:]):
        changed = {k for k, v in asdict(after).items() if asdict(before)[k] != v}
        assert 1 <= len(changed) <= 2, changed  # one component (SwiGLU brings its width, GQA drops the biases)
    mistral = TransformerConfig.mistral(**common, n_kv_heads=2, d_ff=40)
    assert ladder[-1].with_(position_scale=None) == mistral and ladder[0].position_scale == 1.0


def test_seeded_runs_give_one_row_per_config_and_seed_and_repeat_exactly():
    from mlcourse.labs.lm_ablation import seeded_runs

    task = CharTask(TEXT, seq_len=12)
    configs = {"a": TransformerConfig.classic(vocab_size=task.vocab_size, d_model=16, n_layers=1, n_heads=2,
                                              max_seq_len=12)}
    runs, curves = seeded_runs(configs, task, 3, [0, 1], batch_size=4)
    again, _ = seeded_runs(configs, task, 3, [0, 1], batch_size=4)
    assert [(r["model"], r["seed"]) for r in runs] == [("a", 0), ("a", 1)] and len(curves) == 6
    assert [r["final loss"] for r in runs] == [r["final loss"] for r in again]
    assert runs[0]["final loss"] != runs[1]["final loss"]  # the seed changes the weights and the batches
