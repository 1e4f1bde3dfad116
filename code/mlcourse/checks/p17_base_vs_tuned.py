"""Checks for the exercises of chapter 17 (base vs instruction-tuned).

* :func:`check_ece`: the learner's ``ece_fn(confidences, correct, n_bins)`` must equal
  :func:`mlcourse.analysis.calibration.expected_calibration_error` on hand-built cases; the usual mistakes
  (bins weighted equally, a signed gap instead of its absolute value, a confidence of exactly 1 dropped) are named.
* :func:`check_temperature`: the learner's ``fit_fn(logits, labels)`` must return the temperature that minimises
  the validation NLL (as :func:`mlcourse.analysis.calibration.fit_temperature`): on logits made overconfident
  by a known factor it must recover that factor; the reciprocal (multiplying instead of dividing) and a fit that
  ignores the labels are named.
* :func:`check_probe_family`: the learner's ``make_fn()`` must return a new probe family: at least 10
  :class:`~mlcourse.data.instructions.Instruction` items, the same on every call, all from held-out plays, with a
  family name that is not one of chapter 16's or chapter 17's, an expected output, and no passage line that
  occurs in any training example.

What it does not do: grade the measured exercise (rank 4 vs rank 32); its worked answer is in the solutions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mlcourse.analysis.calibration import expected_calibration_error, fit_temperature
from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.data.instructions import FAMILIES, Instruction, build_instructions
from mlcourse.data.probes import FALSE_PREMISE_FAMILIES
from mlcourse.data.shakespeare import split_works

_ECE_CASES = (  # (confidences, correct, n_bins)
    (np.array([0.95] * 6 + [0.55] * 4), np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0]), 10),
    (np.array([0.2] * 4 + [0.8] * 10 + [1.0] * 6), np.array([1, 0, 0, 0] + [1] * 7 + [0] * 3 + [1, 1, 0, 1, 1, 1]), 10),
    (np.array([0.35, 0.62, 0.91, 0.99, 0.48, 0.73]), np.array([0, 1, 1, 1, 1, 0]), 5),
)


def _ece_mistakes(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> dict[str, float]:
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    gaps, signed, sizes = [], [], []
    for b in np.unique(which):
        sel = which == b
        gaps.append(abs(hit[sel].mean() - conf[sel].mean()))
        signed.append(hit[sel].mean() - conf[sel].mean())
        sizes.append(sel.sum())
    weights = np.array(sizes) / len(conf)
    keep = conf < 1.0
    dropped = expected_calibration_error(conf[keep], hit[keep], n_bins) if keep.any() else 0.0
    return {"every bin counts equally: weight each bin's gap by its share of the answers (n_b / N)": float(np.mean(gaps)),
            "the gap is signed: take |accuracy - confidence| per bin, or over- and under-confidence cancel":
                float(np.sum(weights * np.array(signed))),
            "answers with confidence exactly 1 are lost: put them in the last bin (index n_bins - 1)": float(dropped)}


def check_ece(ece_fn: Callable[[np.ndarray, np.ndarray, int], float], verbose: bool = True) -> Verdict:
    """``ece_fn(confidences, correct, n_bins)`` -> a float, the expected calibration error."""

    def check() -> None:
        for conf, hit, n_bins in _ECE_CASES:
            got = float(ece_fn(conf.copy(), hit.copy(), n_bins))
            want = expected_calibration_error(conf, hit, n_bins)
            if abs(got - want) < 1e-9:
                continue
            for hint, wrong in _ece_mistakes(conf, hit, n_bins).items():
                expect(abs(got - wrong) > 1e-9 or abs(wrong - want) < 1e-9, f"{hint} (case with {len(conf)} answers)")
            expect(False, f"expected ECE {want:.4f} for confidences {conf.tolist()} and correct {hit.tolist()} with "
                          f"{n_bins} bins, got {got:.4f}")

    return run_check("expected calibration error", check, verbose=verbose)


def _overconfident(factor: float, n: int = 600, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose labels are drawn from softmax(z), returned multiplied by ``factor`` (too sure when > 1)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, classes, generator=g) * 2.0
    labels = torch.multinomial(torch.softmax(z, -1), 1, generator=g).squeeze(-1)
    return z * factor, labels


def check_temperature(fit_fn: Callable[[torch.Tensor, torch.Tensor], float], verbose: bool = True) -> Verdict:
    """``fit_fn(logits (N, C), labels (N,))`` -> T > 0 minimising the NLL of ``softmax(logits / T)``."""

    def check() -> str:
        for factor in (3.0, 0.5):
            logits, labels = _overconfident(factor)
            want = fit_temperature(logits, labels)
            got = float(fit_fn(logits.clone(), labels.clone()))
            expect(np.isfinite(got) and got > 0, f"the temperature must be a positive number, got {got}")
            if abs(got - want) / want < 0.03:
                continue
            expect(abs(got * want - 1) > 0.05, f"you returned 1/T (about {got:.2f} where T is about {want:.2f}): "
                   "the model's probabilities are softmax(logits / T), divide by T, do not multiply")
            shuffled = fit_fn(logits.clone(), labels.roll(1).clone())
            expect(abs(float(shuffled) - got) > 1e-3, "your temperature does not depend on the labels: minimise the "
                   "negative log-likelihood of the right labels, -mean(log softmax(logits / T)[i, label_i])")
            expect(False, f"logits made {'over' if factor > 1 else 'under'}confident by a factor {factor}: the NLL is "
                          f"smallest at T = {want:.3f}, you returned {got:.3f}")
        return "recovers the temperature of logits made over- and under-confident"

    return run_check("temperature scaling by hand", check, verbose=verbose)


def check_probe_family(make_fn: Callable[[], list[Instruction]], verbose: bool = True) -> Verdict:
    """``make_fn()`` -> a list of at least 10 new-family :class:`Instruction` probes from held-out plays."""

    def check() -> str:
        probes = make_fn()
        expect(isinstance(probes, list) and all(isinstance(p, Instruction) for p in probes),
               "return a list of mlcourse.data.instructions.Instruction")
        expect(len(probes) >= 10, f"a family needs at least 10 probes to measure a rate, got {len(probes)}")
        expect(make_fn() == probes, "two calls gave different probes: seed every random choice "
               "(random.Random(f'{seed}/{family}/{i}')), never the global generator")
        families = {p.family for p in probes}
        taken = families & (set(FAMILIES) | set(FALSE_PREMISE_FAMILIES) | {"out_of_scope", "custom"})
        expect(len(families) == 1 and not taken, f"use one new family name (not one of chapter 16's or 17's), got "
               f"{sorted(families)}")
        expect(all(p.output for p in probes), "every probe needs its expected answer in output (the refusal counts)")
        _, val_works = split_works()
        outside = sorted({p.work for p in probes} - set(val_works))
        expect(not outside, f"probes must come from held-out plays {sorted(val_works)}; set work, found {outside}")
        train = set()
        for e in build_instructions()["train"]:
            train.update(x.split(": ", 1)[-1].strip().lower() for x in e.input.splitlines())
        for p in probes:
            for line in p.input.splitlines():
                text = line.split(": ", 1)[-1].strip().lower()
                expect(text not in train,
                       f"the line {text!r} occurs in a training example: probes must not overlap the tuning data")
        return "deterministic, held-out plays only, no training overlap"

    return run_check("a new probe family", check, verbose=verbose)
