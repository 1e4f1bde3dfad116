"""The checks of chapter 17's exercises: the reference solutions pass, stubs read as "not attempted", and each
typical mistake fails with the hint that names it."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from check_helpers import clear_output, fails_with, stub  # noqa: F401 - clear_output is an autouse fixture
from mlcourse.analysis.calibration import expected_calibration_error, fit_temperature
from mlcourse.checks.p17_base_vs_tuned import check_ece, check_probe_family, check_temperature
from mlcourse.data.instructions import REFUSAL, Instruction, build_instructions
from mlcourse.data.probes import heldout_passages
from mlcourse.data.instructions import render_passage


def good_probes():
    passages = heldout_passages()
    rng = random.Random("0/my_family")
    picked = rng.sample(passages, 12)
    return [Instruction(f"Repeat line {4 + i % 3} of the passage.", render_passage(c), REFUSAL, "my_family",
                        "false_premise", c[0].work) for i, c in enumerate(picked)]


def test_reference_solutions_pass():
    assert check_ece(expected_calibration_error)
    assert check_temperature(fit_temperature)
    assert check_probe_family(good_probes)


def test_stubs_are_not_attempted(capsys):
    for check in (check_ece, check_temperature, check_probe_family):
        assert check(stub).status == "not attempted"


def unweighted(conf, hit, n_bins):
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(np.mean([abs(hit[which == b].mean() - conf[which == b].mean()) for b in np.unique(which)]))


def signed(conf, hit, n_bins):
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(sum((which == b).mean() * (hit[which == b].mean() - conf[which == b].mean()) for b in np.unique(which)))


def drops_one(conf, hit, n_bins):
    keep = conf < 1.0
    return expected_calibration_error(conf[keep], hit[keep], n_bins)


@pytest.mark.parametrize("bug, hint", [
    (unweighted, "every bin counts equally"),
    (signed, "the gap is signed"),
    (drops_one, "confidence exactly 1 are lost"),
    (lambda c, h, n: 0.0, "expected ECE"),
])
def test_ece_mistakes_are_named(capsys, bug, hint):
    fails_with(capsys, check_ece(bug), hint)


@pytest.mark.parametrize("bug, hint", [
    (lambda z, y: 1.0 / fit_temperature(z, y), "you returned 1/T"),
    (lambda z, y: float(z.std()), "does not depend on the labels"),
    (lambda z, y: 1.0, "does not depend on the labels"),
    (lambda z, y: 1.5 * fit_temperature(z, y), "the NLL is smallest at"),
    (lambda z, y: -1.0, "positive number"),
])
def test_temperature_mistakes_are_named(capsys, bug, hint):
    fails_with(capsys, check_temperature(bug), hint)


def test_probe_family_mistakes_are_named(capsys):
    fails_with(capsys, check_probe_family(lambda: good_probes()[:5]), "at least 10 probes")
    fails_with(capsys, check_probe_family(lambda: random.sample(good_probes(), 12)), "two calls gave different")
    renamed = lambda: [Instruction(p.instruction, p.input, p.output, "missing_line", p.kind, p.work)  # noqa: E731
                       for p in good_probes()]
    fails_with(capsys, check_probe_family(renamed), "new family name")
    train = build_instructions()["train"][:12]
    leaky = lambda: [Instruction("Who speaks?", e.input, "X", "my_family", "x", "romeo_and_juliet") for e in train]  # noqa: E731
    fails_with(capsys, check_probe_family(leaky), "occurs in a training example")
    elsewhere = lambda: [Instruction(p.instruction, p.input, p.output, p.family, p.kind, "hamlet") for p in good_probes()]  # noqa: E731
    fails_with(capsys, check_probe_family(elsewhere), "held-out plays")
