"""Tests of mlcourse.checks.p15_pretrained_vs_random: the chapter 15 checks pass the reference answers, report an untouched stub
as not attempted, and name the typical mistakes (a flipped sign, every step instead of the last, the population
std, a head-only freeze that forgets to freeze, a last-layer freeze that forgets the final norm)."""

from __future__ import annotations

from mlcourse.finetune.classifier import set_trainable
from mlcourse.finetune.transfer import paired_gain
from mlcourse.checks import p15_pretrained_vs_random as tchecks


def stub(*args, **kwargs):
    raise NotImplementedError


def test_untouched_stubs_read_as_not_attempted(capsys):
    assert tchecks.check_pretraining_gain(stub).status == "not attempted"
    assert tchecks.check_set_trainable(stub).status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out


def test_the_reference_answers_pass():
    assert tchecks.check_pretraining_gain(paired_gain, verbose=False)
    assert tchecks.check_set_trainable(set_trainable, verbose=False)


def test_a_flipped_sign_is_named():
    flipped = lambda curves, metric: -paired_gain(curves, metric).assign(std=paired_gain(curves, metric)["std"] * -1)
    verdict = tchecks.check_pretraining_gain(flipped, verbose=False)
    assert verdict.status == "failed" and "pretrained minus random" in verdict.detail


def test_using_every_step_and_the_population_std_are_named():
    def every_step(curves, metric):
        wide = curves[curves.metric == metric].pivot_table(index=["size", "seed", "step"], columns="arm", values="value")
        return (wide["pretrained"] - wide["random"]).groupby(level="size").agg(["mean", "std"])

    def population_std(curves, metric):
        gain = paired_gain(curves, metric)
        return gain.assign(std=gain["std"] * ((gain["count"] - 1) / gain["count"]) ** 0.5)

    assert "last evaluated step" in tchecks.check_pretraining_gain(every_step, verbose=False).detail
    assert "ddof=1" in tchecks.check_pretraining_gain(population_std, verbose=False).detail


def test_freezing_mistakes_are_named():
    def head_without_freezing(model, parts):
        for p in model.head.parameters():
            p.requires_grad_(True)

    def last_layer_without_norm(model, parts):
        set_trainable(model, parts)
        if parts == "last_layer":
            for p in model.backbone.norm.parameters():
                p.requires_grad_(False)

    v1 = tchecks.check_set_trainable(head_without_freezing, verbose=False)
    v2 = tchecks.check_set_trainable(last_layer_without_norm, verbose=False)
    assert v1.status == "failed" and "requires_grad=False" in v1.detail
    assert v2.status == "failed" and "final norm" in v2.detail
