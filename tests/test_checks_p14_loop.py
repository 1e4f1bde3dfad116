"""Tests of mlcourse.checks.p14_pretraining's loop checks: the reference loop equals the library's train; a correct
learner's loop and save/load pass; stubs read as not attempted; each typical bug is named."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from check_helpers import clear_output, fails_with, stub  # noqa: F401 (clear_output: an autouse fixture)
from mlcourse.checks import p14_pretraining as P
from mlcourse.checks.p14_pretraining import loop as L

import p14_learner as learner


def test_the_reference_loop_equals_the_library_train_exactly():
    train_ids, val_ids = L.tiny_data()
    model = L.tiny_model()
    assert L._distance(L._curve(L.reference_train, model, train_ids, val_ids, L.CONFIG),
                       L._curve(L.library_curve, model, train_ids, val_ids, L.CONFIG)) <= 1e-6


def test_every_bug_moves_the_curve_well_beyond_the_tolerance_and_each_differently():
    train_ids, val_ids = L.tiny_data()
    model = L.tiny_model()
    curves = {bug: L._curve(L.reference_train, model, train_ids, val_ids, L.CONFIG, bug=bug) for bug in L.LOOP_BUGS}
    curves[None] = L._curve(L.reference_train, model, train_ids, val_ids, L.CONFIG)
    for a in curves:
        for b in curves:
            if a != b:
                assert L._distance(curves[a], curves[b]) > 10 * L.TOLERANCE, (a, b)


def test_a_correct_loop_and_checkpoint_pass_and_stubs_are_not_attempted():
    assert P.check_training_loop(learner.my_train)
    assert P.check_resume(learner.my_save, learner.my_load)
    assert P.check_training_loop(stub).status == "not attempted"
    assert P.check_resume(stub, stub).status == "not attempted"


@pytest.mark.parametrize("bug, hint", [("decay_all", "norm gains and biases too"), ("lr_ahead", "one step ahead"),
                                       ("no_clip", "not clipped"), ("stays_in_eval", "stays in eval mode"),
                                       ("eval_in_train_mode", "runs in training mode"), ("betas", "default betas"),
                                       ("no_zero_grad", "accumulate"), ("lr_late", "after optimizer.step()"),
                                       ("no_decay", "get no weight decay")])
def test_each_loop_bug_is_named(capsys, bug, hint):
    def buggy(model, train_ids, val_ids, config):
        return L.reference_train(model, train_ids, val_ids, config, bug=bug)

    fails_with(capsys, P.check_training_loop(buggy), hint)


def test_a_hand_written_loop_that_decays_the_norms_is_named(capsys):
    original = learner.my_parameter_groups
    try:
        learner.my_parameter_groups = lambda model, wd: [{"params": list(model.parameters()), "weight_decay": wd}]
        fails_with(capsys, P.check_training_loop(learner.my_train), "norm gains and biases too")
    finally:
        learner.my_parameter_groups = original


def test_wrong_batches_and_missing_evaluations_are_named(capsys):
    def other_seed(model, train_ids, val_ids, config):
        return learner.my_train(model, train_ids, val_ids, config.__class__(**{**config.__dict__, "seed": 9}))

    fails_with(capsys, P.check_training_loop(other_seed), "torch.Generator().manual_seed(seed + 1)")

    def no_final_eval(model, train_ids, val_ids, config):
        out = learner.my_train(model, train_ids, val_ids, config)
        out["val_loss"].pop(0)
        return out

    fails_with(capsys, P.check_training_loop(no_final_eval), "0 = before training")


def _save_without(key):
    def save(folder, model, optimizer, sampler, step):
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "sampler": sampler.get_state(),
                 "rng": torch.get_rng_state(), "step": step}
        if key == "optimizer":
            state["optimizer"] = copy.deepcopy(optimizer.state_dict()) | {"state": {}}
        elif key == "sampler":
            state["sampler"] = torch.Generator().manual_seed(0).get_state()
        elif key == "rng":
            state["rng"] = torch.Generator().manual_seed(5).get_state()
        elif key == "step":
            state["step"] = 0
        torch.save(state, folder / "checkpoint.pt")

    return save


@pytest.mark.parametrize("missing, hint", [("optimizer", "moment estimates"), ("sampler", "data sampler"),
                                           ("rng", "global random state"), ("step", "expected the saved step")])
def test_each_missing_piece_of_checkpoint_state_is_named(capsys, missing, hint):
    fails_with(capsys, P.check_resume(_save_without(missing), learner.my_load), hint)


def test_schedule_check_still_names_its_mistakes(capsys):
    def warmup_from_zero(step, max_lr, min_lr, warmup, total):
        return max_lr * step / warmup if step < warmup else learner.my_lr_at(step, max_lr, min_lr, warmup, total)

    fails_with(capsys, P.check_lr_schedule(warmup_from_zero), "warm-up starts at 0")
    assert math.isclose(P.reference_lr(0, 1.0, 0.1, 10, 100), 0.1)


@pytest.mark.parametrize("groups, hint", [
    (lambda m, wd: [{"params": list(m.parameters()), "weight_decay": wd}], "norms and biases get none"),
    (lambda m, wd: [{"params": [p for n, p in m.named_parameters() if p.dim() >= 2 and "embed" not in n],
                     "weight_decay": wd},
                    {"params": [p for n, p in m.named_parameters() if p.dim() < 2 or "embed" in n],
                     "weight_decay": 0.0}], "embeddings too"),
    (lambda m, wd: [{"params": [p for p in m.parameters() if p.dim() >= 2], "weight_decay": wd}], "in no group"),
])
def test_parameter_group_mistakes_are_named(capsys, groups, hint):
    assert P.check_parameter_groups(learner.my_parameter_groups)
    capsys.readouterr()
    fails_with(capsys, P.check_parameter_groups(groups), hint)
