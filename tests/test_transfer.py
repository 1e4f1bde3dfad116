"""Tests of chapter 15's transfer framework: the two arms differ only in their initial weights, runs repeat
exactly with the same seeds, the downstream data is disjoint from pretraining and between its own splits, the
classifier ignores padding, freezing leaves the right parameters trainable, and the summaries compute what they
say on hand-made frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from mlcourse.finetune import downstream_tasks as dt
from mlcourse.finetune.classifier import SequenceClassifier, set_trainable
from mlcourse.finetune.transfer import (TransferConfig, data_efficiency_table, fresh_backbone, meeting_size,
                                        lm_probe_loss, paired_gain, run_transfer, steps_to_reach)
from mlcourse.data.shakespeare import LineRecord
from mlcourse.model.transformer import TransformerConfig, TransformerLM

WORDS = {"much_ado_about_nothing": "merry jest wit", "henry_iv_part_1": "king war crown",
         "romeo_and_juliet": "death love tomb", "hamlet": "the a and"}  # fmt: skip


def byte_encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def synthetic_records() -> list[LineRecord]:
    """Three 'held-out plays' with 6 scenes of 12 lines each, plus one 'pretraining work'."""
    records = []
    for work, words in WORDS.items():
        vocab = words.split()
        for scene in range(1, 7):
            for i in range(12):
                text = f"{vocab[i % 3]} {vocab[(i + scene) % 3]} {i}"
                records.append(LineRecord(work, work, "x", 1, scene, "A", scene * 100 + i, text, i // 3))
    return records


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(123)  # not a seed the runs use: the "pretrained" base must differ from every random arm
    base = TransformerLM(TransformerConfig.mistral(vocab_size=256, d_model=16, n_layers=2, n_heads=2,
                                                   n_kv_heads=1, max_seq_len=64))
    train, evaluation = dt.build_passages(synthetic_records(), byte_encode, lines_per_passage=2, max_tokens=24)
    return base, dt.ClassificationTask(train, evaluation, pad_id=0)


CONFIG = TransferConfig(batch_size=4, min_steps=3, max_steps=4, warmup_steps=1, eval_points=2)


def test_the_two_arms_differ_only_in_their_initial_weights(tiny):
    base, task = tiny
    result = run_transfer(task, base, sizes=[6, 12], seeds=[0, 1], config=CONFIG, progress=False)
    for size in (6, 12):
        for seed in (0, 1):
            pre, rnd = result.run("pretrained", size, seed), result.run("random", size, seed)
            assert pre.subset == rnd.subset and pre.batches == rnd.batches and pre.steps == rnd.steps
    assert result.run("pretrained", 6, 0).batches != result.run("pretrained", 6, 1).batches  # seeds do matter
    heads = [task.build_model(TransformerLM(base.config), seed=3).head.weight for _ in range(2)]
    assert torch.equal(*heads), "the head's initial weights must depend on the seed only"
    pre, rnd = fresh_backbone(base, "pretrained", 0), fresh_backbone(base, "random", 0)
    assert pre.config == rnd.config
    assert torch.equal(pre.layers[0].mlp.up_proj.weight, base.layers[0].mlp.up_proj.weight)
    assert not torch.equal(rnd.layers[0].mlp.up_proj.weight, base.layers[0].mlp.up_proj.weight)


def test_the_base_model_is_not_modified_by_fine_tuning(tiny):
    base, task = tiny
    before = {k: v.clone() for k, v in base.state_dict().items()}
    run_transfer(task, base, sizes=[6], seeds=[0], arms=("pretrained",), config=CONFIG, progress=False)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_same_seeds_give_identical_results(tiny):
    base, task = tiny
    probe = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(0))
    runs = [run_transfer(task, base, sizes=[6], seeds=[2], config=CONFIG, lm_probe=probe, progress=False)
            for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].curves, runs[1].curves)
    assert set(runs[0].curves.metric) == {"accuracy", "loss", "probe_loss"}
    assert torch.equal(runs[0].runs[0].eval_logits, runs[1].runs[0].eval_logits)


def test_training_and_evaluation_scenes_are_disjoint_and_balanced(tiny):
    _, task = tiny
    train_scenes = {(p.work, p.scene) for p in task.train}
    eval_scenes = {(p.work, p.scene) for p in task.evaluation}
    assert train_scenes and eval_scenes and not train_scenes & eval_scenes
    counts = [sum(p.label == k for p in task.evaluation) for k in range(3)]
    assert len(set(counts)) == 1, f"the evaluation set must be balanced, got {counts}"
    subset = task.training_subset(7, seed=0)
    assert sorted(sum(task.train[i].label == k for i in subset) for k in range(3)) == [2, 2, 3]
    assert set(task.training_subset(4, seed=5)) <= set(task.training_subset(10, seed=5)), "subsets must nest"


def test_passages_seen_verbatim_in_pretraining_are_dropped():
    records = synthetic_records()
    copied = [r for r in records if r.work == "hamlet"]
    records += [LineRecord("romeo_and_juliet", "r", "x", 1, 9, "A", 900 + i, r.text, 0) for i, r in
                enumerate(copied[:4])]
    train, evaluation = dt.build_passages(records, byte_encode, lines_per_passage=2)
    hamlet_lines = {r.text for r in copied}
    assert not any(all(line in hamlet_lines for line in p.text.split("\n")) for p in train + evaluation)


def test_no_evaluation_passage_occurs_in_the_pretraining_works(shakespeare_data):
    from mlcourse.data.shakespeare import load_records, load_split_corpus

    records = load_records()
    train, evaluation = dt.build_passages(records, byte_encode, lines_per_passage=3, max_tokens=400)
    pretraining_text, _ = load_split_corpus()
    assert {p.work for p in train + evaluation} == set(dt.GENRE_PLAYS.values())
    assert not [p.text for p in evaluation if p.text in pretraining_text]
    assert not {(p.work, p.act, p.scene) for p in train} & {(p.work, p.act, p.scene) for p in evaluation}


def test_padding_does_not_change_the_features(tiny):
    base, _ = tiny
    for pooling in ("mean", "last"):
        model = SequenceClassifier(base, 3, pooling=pooling).eval()
        seqs = [torch.tensor([5, 6, 7, 8, 9]), torch.tensor([10, 11])]
        padded = torch.zeros(2, 5, dtype=torch.long)
        padded[0], padded[1, :2] = seqs[0], seqs[1]
        with torch.no_grad():
            together = model.features(padded, torch.tensor([5, 2]))
            alone = torch.cat([model.features(s[None], torch.tensor([len(s)])) for s in seqs])
        assert torch.allclose(together, alone, atol=1e-5)
    with pytest.raises(ValueError, match="lengths must lie"):
        model.features(padded, torch.tensor([5, 0]))


def test_freezing_strategies_leave_the_right_parameters_trainable(tiny):
    base, _ = tiny
    model = SequenceClassifier(base, 3)
    head = sum(p.numel() for p in model.head.parameters())
    last = sum(p.numel() for p in base.layers[-1].parameters()) + sum(p.numel() for p in base.norm.parameters())
    assert set_trainable(model, "head") == head
    assert set_trainable(model, "last_layer") == head + last
    assert set_trainable(model, "all") == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="Unknown parts"):
        set_trainable(model, "embeddings")


def test_language_modelling_task_runs_and_learns():
    torch.manual_seed(0)
    base = TransformerLM(TransformerConfig.mistral(vocab_size=256, d_model=16, n_layers=1, n_heads=2,
                                                   n_kv_heads=1, max_seq_len=64))
    ids = torch.tensor(byte_encode("abcab" * 80))
    task = dt.LanguageModelingTask(ids[:300], ids[300:], seq_len=16, bytes_per_token=1.0, n_eval_windows=4)
    config = TransferConfig(batch_size=4, lr=1e-2, min_lr=1e-3, min_steps=30, max_steps=30, eval_points=2)
    curves = run_transfer(task, base, sizes=[200], seeds=[0], arms=("random",), config=config,
                          progress=False).curves
    loss = curves[curves.metric == "loss"].set_index("step").value
    assert loss.iloc[-1] < loss.iloc[0] - 1.0
    bpb = curves[curves.metric == "bpb"].value.iloc[-1]
    assert math.isclose(bpb, loss.iloc[-1] / math.log(2))
    with pytest.raises(ValueError, match="size must be"):
        task.training_subset(10_000, 0)


def frame(values: dict[tuple[str, int, int], float]) -> pd.DataFrame:
    return pd.DataFrame([dict(arm=a, size=s, seed=d, step=10, metric="accuracy", value=v)
                         for (a, s, d), v in values.items()])  # fmt: skip


def test_summaries_on_a_hand_made_frame():
    curves = frame({("pretrained", 32, 0): 0.6, ("pretrained", 32, 1): 0.7, ("random", 32, 0): 0.4,
                    ("random", 32, 1): 0.4, ("pretrained", 128, 0): 0.7, ("pretrained", 128, 1): 0.8,
                    ("random", 128, 0): 0.72, ("random", 128, 1): 0.7})  # fmt: skip
    table = data_efficiency_table(curves)
    assert math.isclose(table.loc[32, ("pretrained", "mean")], 0.65)
    assert math.isclose(table.loc[32, ("pretrained", "std")], math.sqrt(0.005))
    assert meeting_size(curves) == 128  # gap 0.04 < std 0.0707 there; gap 0.25 at 32
    gain = paired_gain(curves)
    assert math.isclose(gain.loc[32, "mean"], 0.25) and math.isclose(gain.loc[128, "mean"], 0.04)
    reach = steps_to_reach(curves, "accuracy", 0.65)
    assert reach.set_index(["arm", "size", "seed"]).first_step_at_target.isna().sum() == 3


def test_paired_gain_has_a_student_t_interval_over_seeds():
    curves = frame({("pretrained", 32, 0): 0.6, ("pretrained", 32, 1): 0.7, ("random", 32, 0): 0.4,
                    ("random", 32, 1): 0.4})  # fmt: skip
    gain = paired_gain(curves).loc[32]  # differences 0.2 and 0.3: mean 0.25, std 0.0707, n = 2
    half = 12.7062 * math.sqrt(0.005) / math.sqrt(2)  # t(0.975, 1 degree of freedom) = 12.706
    assert math.isclose(gain["ci_low"], 0.25 - half, rel_tol=1e-4) and math.isclose(gain["ci_high"], 0.25 + half, rel_tol=1e-4)
    narrower = paired_gain(curves, confidence=0.5).loc[32]
    assert gain["ci_low"] < narrower["ci_low"] < 0.25 < narrower["ci_high"] < gain["ci_high"]


def test_reused_step_zero_metrics_equal_a_fresh_evaluation_for_every_size(tiny):
    """run_transfer measures step 0 once per (arm, seed) and reuses it for the other sizes: that is only right if
    each size's untrained model scores exactly what a freshly built one does."""
    base, task = tiny
    probe = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(0))
    result = run_transfer(task, base, sizes=[6, 12], seeds=[1], config=CONFIG, lm_probe=probe, progress=False)
    start = result.curves[result.curves.step == 0]
    for arm in ("pretrained", "random"):
        model = task.build_model(fresh_backbone(base, arm, 1), 1).eval()
        fresh = task.evaluate(model) | {"probe_loss": lm_probe_loss(model, probe)}
        for size in (6, 12):
            got = start[(start.arm == arm) & (start["size"] == size)].set_index("metric").value
            assert {m: got[m] for m in fresh} == pytest.approx(fresh, rel=1e-6), (arm, size)
    final = result.curves[(result.curves.step > 0) & (result.curves.metric == "accuracy")]
    for record in result.runs:  # the final accuracy comes from the stored logits, computed once
        accuracy = float((record.eval_logits.argmax(-1) == task.eval_batch[2]).float().mean())
        row = final[(final.arm == record.arm) & (final["size"] == record.size) & (final.seed == record.seed)]
        assert row.value.iloc[-1] == pytest.approx(accuracy)
