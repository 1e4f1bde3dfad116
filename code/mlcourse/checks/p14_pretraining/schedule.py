"""Checks for chapter 14's optimiser exercises: the warm-up + cosine learning-rate schedule and AdamW's groups.

:func:`check_lr_schedule` takes the learner's ``lr_fn(step, max_lr, min_lr, warmup_steps, total_steps)`` and
compares it with the library's :func:`mlcourse.training.lr_schedule.lr_at` at the steps where schedules usually go
wrong: step 0, the last warm-up step, the end of the warm-up, the midpoint and the end of the cosine, a run
without warm-up, and every step of a short run. A wrong answer is matched against the typical mistakes
(a warm-up that starts at 0, a cosine that ends at 0 instead of ``min_lr``, a decay that counts from step 0
instead of from the end of the warm-up, a cosine that never reaches ``min_lr``) so the verdict names the fix.

:func:`check_parameter_groups` takes the learner's ``groups_fn(model, weight_decay)`` and checks, on a classic model
(LayerNorm, biases, tied embeddings) and a Mistral-style one, that every parameter is in exactly one group and that
the matrices (dim >= 2, the embedding included, as the library's ``parameter_groups`` does) are decayed while
norm gains and biases are not; the verdict names the parameter and the fix.

What it does not do: grade the open-ended experiments (diagnosing a stalled run, data efficiency); their
worked answers, measured, are in the solutions notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.model.transformer import TransformerConfig, TransformerLM
from mlcourse.training.lr_schedule import lr_at

LrFn = Callable[[int, float, float, int, int], float]

# (max_lr, min_lr, warmup_steps, total_steps): a typical run, no warm-up, min_lr = 0, a one-step warm-up
SCHEDULES = [(3e-3, 3e-4, 20, 200), (1e-3, 1e-4, 0, 100), (6e-4, 0.0, 10, 50), (1.0, 0.1, 1, 11)]


def reference_lr(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The library's schedule, with the exercise's positional signature."""
    return lr_at(step, max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup_steps, total_steps=total_steps)


def _mistakes(step: int, max_lr: float, min_lr: float, warmup: int, total: int) -> dict[str, float]:
    """What the common wrong schedules return at ``step``, keyed by the hint that fixes each one."""
    def cosine(progress: float, floor: float) -> float:
        return floor + 0.5 * (max_lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))

    after = step >= warmup
    progress = (step - warmup) / (total - warmup)
    return {
        "the warm-up starts at 0: step 0 already updates the weights, so use max_lr * (step + 1) / warmup_steps":
            max_lr * step / warmup if not after else reference_lr(step, max_lr, min_lr, warmup, total),
        "the cosine ends at 0 instead of min_lr: decay from max_lr to min_lr, "
        "min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2":
            cosine(progress, 0.0) if after else reference_lr(step, max_lr, min_lr, warmup, total),
        "the cosine's progress must count from the end of the warm-up, (step - warmup_steps) / "
        "(total_steps - warmup_steps), not from step 0":
            cosine(step / total, min_lr) if after else reference_lr(step, max_lr, min_lr, warmup, total),
        "the cosine reaches min_lr one step early or late: progress is (step - warmup_steps) / "
        "(total_steps - warmup_steps), so total_steps gives min_lr":
            cosine((step - warmup) / max(1, total - warmup - 1), min_lr) if after
            else reference_lr(step, max_lr, min_lr, warmup, total),
    }


def check_lr_schedule(fn: LrFn, verbose: bool = True) -> Verdict:
    """``fn(step, max_lr, min_lr, warmup_steps, total_steps)`` must equal :func:`lr_at` at the edges (step 0,
    the end of the warm-up, the midpoint, the last step, ``total_steps``, no warm-up) and at every step of
    four schedules; a wrong value is matched against the common mistakes to name the fix."""

    def check() -> str:
        named = []
        for max_lr, min_lr, warmup, total in SCHEDULES:
            mid = warmup + (total - warmup) // 2 if (total - warmup) % 2 == 0 else None
            edges = [(0, "step 0"), (total - 1, "the last step"), (total, "step total_steps")]
            if warmup:
                edges += [(warmup - 1, "the last warm-up step"), (warmup, "the end of the warm-up")]
            if mid is not None:
                edges.append((mid, "the midpoint of the cosine"))
            named += [(s, what, (max_lr, min_lr, warmup, total)) for s, what in edges]
            named += [(s, f"step {s}", (max_lr, min_lr, warmup, total)) for s in range(total + 1)]
        for step, what, (max_lr, min_lr, warmup, total) in named:
            try:
                got = fn(step, max_lr, min_lr, warmup, total)
            except ZeroDivisionError:
                expect(warmup != 0, f"with warmup_steps=0 your function divides by zero at {what}: a run "
                       "without warm-up starts the cosine at step 0 (lr = max_lr), skip the warm-up branch")
                raise
            expected = reference_lr(step, max_lr, min_lr, warmup, total)
            expect(isinstance(got, int | float) and not isinstance(got, bool),
                   f"expected a float, got {type(got).__name__} at {what}")
            if math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
                continue
            case = (f"at {what} (step={step}, max_lr={max_lr:g}, min_lr={min_lr:g}, warmup_steps={warmup}, "
                    f"total_steps={total})")
            for hint, wrong in _mistakes(step, max_lr, min_lr, warmup, total).items():
                if math.isclose(got, wrong, rel_tol=1e-9, abs_tol=1e-12):
                    expect(False, f"{case}: expected {expected:.6g}, got {got:.6g}; {hint}")
            expect(False, f"{case}: expected {expected:.6g}, got {got:.6g}")
        return f"{len(SCHEDULES)} schedules, every step and the edges"

    return run_check("warm-up + cosine learning-rate schedule = lr_at", check, verbose=verbose)


def check_parameter_groups(fn: Callable, verbose: bool = True) -> Verdict:
    """``fn(model, weight_decay)`` must return AdamW groups (dicts with ``params`` and ``weight_decay``) that hold
    every parameter once: matrices (dim >= 2, embeddings too) with ``weight_decay``, vectors (norms, biases) with 0."""

    def check() -> str:
        torch.manual_seed(0)
        models = [TransformerLM(TransformerConfig.classic(vocab_size=40, d_model=16, n_layers=1, n_heads=2,
                                                          tie_embeddings=True)),
                  TransformerLM(TransformerConfig.mistral(vocab_size=40, d_model=16, n_layers=1, n_heads=2))]
        for model in models:
            kind = "classic model (LayerNorm, biases, tied embeddings)" if model.config.bias else "Mistral-style model"
            groups = fn(model, 0.1)
            expect(isinstance(groups, list | tuple) and all(isinstance(g, dict) and "params" in g for g in groups),
                   f"expected a list of dicts with 'params' and 'weight_decay', got {type(groups).__name__}")
            names = {id(p): n for n, p in model.named_parameters()}
            seen: dict[int, float] = {}
            for group in groups:
                for p in group["params"]:
                    expect(id(p) not in seen, f"{names.get(id(p), 'a tensor')} is in two groups ({kind}); a tied "
                           "matrix must appear once (model.parameters() lists it once)")
                    seen[id(p)] = float(group.get("weight_decay", 0.0))
            missing = [n for i, n in names.items() if i not in seen]
            expect(not missing, f"{missing[:3]} are in no group ({kind}): AdamW would never update them")
            for p_id, name in names.items():
                p = dict(model.named_parameters())[name]
                want, got = (0.1 if p.dim() >= 2 else 0.0), seen[p_id]
                if got == want:
                    continue
                if p.dim() < 2:
                    what = "norm gain" if "norm" in name else "bias"
                    expect(False, f"the {what} {name} has weight_decay={got:g} ({kind}); norms and biases get none: "
                           "put tensors with p.dim() < 2 in a group with weight_decay=0")
                if "embed" in name:
                    expect(False, f"the embedding {name} has weight_decay={got:g}; the library decays every matrix, "
                           "embeddings too (p.dim() >= 2), as GPT-2 and nanoGPT do")
                expect(False, f"the matrix {name} has weight_decay={got:g}, expected {want:g}")
        return "a classic and a Mistral-style model: matrices decayed, norms and biases not, each tensor once"

    return run_check("AdamW parameter groups = parameter_groups", check, verbose=verbose)
