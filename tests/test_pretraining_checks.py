"""Tests of mlcourse.checks.p14_pretraining: the chapter 14 schedule check passes the reference, reports an untouched
stub as not attempted, and names the typical mistakes (a warm-up from 0, a cosine to 0, progress counted from
step 0, a division by zero without warm-up)."""

from __future__ import annotations

import math

from mlcourse.checks import p14_pretraining as pchecks


def stub(*args, **kwargs):
    raise NotImplementedError


def schedule(warmup_from_zero=False, floor_zero=False, progress_from_start=False, no_warmup_guard=True):
    def lr(step, max_lr, min_lr, warmup_steps, total_steps):
        if (warmup_steps > 0 or not no_warmup_guard) and step < warmup_steps:
            return max_lr * (step if warmup_from_zero else step + 1) / warmup_steps
        if not no_warmup_guard and step == 0:
            return max_lr * (step + 1) / warmup_steps  # divides by zero when warmup_steps == 0
        floor = 0.0 if floor_zero else min_lr
        start = 0 if progress_from_start else warmup_steps
        progress = min(1.0, (step - start) / (total_steps - start))
        return floor + 0.5 * (max_lr - floor) * (1 + math.cos(math.pi * progress))

    return lr


def test_a_stub_reads_as_not_attempted(capsys):
    assert pchecks.check_lr_schedule(stub).status == "not attempted"
    assert "… not attempted yet" in capsys.readouterr().out


def test_the_reference_and_a_hand_written_schedule_pass():
    assert pchecks.check_lr_schedule(pchecks.reference_lr)
    verdict = pchecks.check_lr_schedule(schedule())
    assert verdict and "every step" in verdict.detail


def test_a_warmup_from_zero_is_named_at_step_0():
    verdict = pchecks.check_lr_schedule(schedule(warmup_from_zero=True))
    assert not verdict and "at step 0" in verdict.detail and "warm-up starts at 0" in verdict.detail


def test_a_cosine_to_zero_is_named():
    verdict = pchecks.check_lr_schedule(schedule(floor_zero=True))
    assert not verdict and "ends at 0 instead of min_lr" in verdict.detail


def test_progress_counted_from_step_0_is_named():
    verdict = pchecks.check_lr_schedule(schedule(progress_from_start=True))
    assert not verdict and "count from the end of the warm-up" in verdict.detail


def test_a_division_by_zero_without_warmup_is_named():
    verdict = pchecks.check_lr_schedule(schedule(no_warmup_guard=False))
    assert not verdict and "warmup_steps=0" in verdict.detail and "divides by zero" in verdict.detail


def test_an_unrelated_wrong_value_still_fails_with_expected_and_got():
    verdict = pchecks.check_lr_schedule(lambda step, max_lr, min_lr, w, t: max_lr)  # a constant schedule
    assert not verdict and "expected" in verdict.detail and "got 0.003" in verdict.detail
