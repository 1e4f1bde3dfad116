"""Checks for the exercises of chapter 15 (pretrained vs random initialisation).

* :func:`check_pretraining_gain`: the learner's ``gain_fn(curves, metric)`` must return, per training-set size,
  the mean and sample standard deviation over seeds of (pretrained − random) at each run's *last* step, paired
  by seed, like :func:`mlcourse.finetune.transfer.paired_gain`. A wrong answer is matched against the usual
  mistakes (random − pretrained, every evaluated step instead of the last, the population std, unpaired
  differences) so the verdict names the fix.
* :func:`check_set_trainable`: the learner's ``freeze_fn(model, parts)`` must leave exactly the parameters of
  :func:`mlcourse.finetune.classifier.set_trainable` trainable for ``"head"``, ``"last_layer"`` and ``"all"``.

What it does not do: grade the measured experiments (domain shift, freezing at several sizes); their worked
answers are in the solutions notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import torch

from mlcourse.finetune.classifier import SequenceClassifier, set_trainable
from mlcourse.finetune.transfer import paired_gain
from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.model.transformer import TransformerConfig, TransformerLM


def example_curves() -> pd.DataFrame:
    """A small tidy frame: 2 sizes x 3 seeds x 2 arms, evaluated at steps 0, 5 and 10 (numbers chosen so that
    every mistake gives a different answer)."""
    finals = {("pretrained", 32): [0.62, 0.70, 0.65], ("random", 32): [0.40, 0.45, 0.35],
              ("pretrained", 128): [0.72, 0.74, 0.78], ("random", 128): [0.69, 0.61, 0.70]}  # fmt: skip
    rows = []
    for (arm, size), values in finals.items():
        for seed, final in enumerate(values):
            for step, value in ((0, 0.33), (5, (0.33 + final) / 2 + 0.01 * seed), (10, final)):
                rows.append(dict(arm=arm, size=size, seed=seed, step=step, metric="accuracy", value=value))
                rows.append(dict(arm=arm, size=size, seed=seed, step=step, metric="loss", value=1.1 - value))
    return pd.DataFrame(rows)


def _mistakes(curves: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    rows = curves[curves.metric == metric]
    last = rows[rows.step == rows.groupby(["arm", "size", "seed"]).step.transform("max")]
    wide = last.pivot_table(index=["size", "seed"], columns="arm", values="value")
    every = rows.pivot_table(index=["size", "seed", "step"], columns="arm", values="value")
    by_size = last.groupby(["size", "arm"]).value
    unpaired_std = (by_size.var().unstack()["pretrained"] + by_size.var().unstack()["random"]) ** 0.5
    reference = paired_gain(curves, metric)
    return {
        "the sign is flipped: the gain is pretrained minus random":
            (wide["random"] - wide["pretrained"]).groupby(level="size").agg(["mean", "std"]),
        "use each run's last evaluated step only, not every step of the learning curve":
            (every["pretrained"] - every["random"]).groupby(level="size").agg(["mean", "std"]),
        "use the sample standard deviation (ddof=1, pandas' default), not the population one":
            (wide["pretrained"] - wide["random"]).groupby(level="size").agg(["mean", lambda d: d.std(ddof=0)])
            .set_axis(["mean", "std"], axis=1),
        "pair the runs by seed (subtract within each seed, then take the std of the differences); the std of "
        "two independent arms is larger": reference.assign(std=unpaired_std)[["mean", "std"]],
    }


def check_pretraining_gain(gain_fn: Callable[[pd.DataFrame, str], pd.DataFrame], verbose: bool = True) -> Verdict:
    """``gain_fn(curves, metric)`` -> frame indexed by size with columns ``mean`` and ``std`` of the paired
    gains (pretrained − random at the last step, one difference per seed)."""

    def check() -> str:
        for metric in ("accuracy", "loss"):
            curves = example_curves()
            got = gain_fn(curves.copy(), metric)
            expect(isinstance(got, pd.DataFrame), f"expected a pandas DataFrame, got {type(got).__name__}")
            expect({"mean", "std"} <= set(got.columns), f"expected columns 'mean' and 'std', got {list(got.columns)}")
            reference = paired_gain(curves, metric)
            expect(sorted(got.index.tolist()) == sorted(reference.index.tolist()),
                   f"expected one row per size {reference.index.tolist()}, got index {got.index.tolist()}")
            got = got.loc[reference.index]
            for column in ("mean", "std"):
                for size in reference.index:
                    want, have = float(reference.loc[size, column]), float(got.loc[size, column])
                    if math.isclose(want, have, rel_tol=1e-6, abs_tol=1e-9):
                        continue
                    for hint, wrong in _mistakes(curves, metric).items():
                        if math.isclose(float(wrong.loc[size, column]), have, rel_tol=1e-6, abs_tol=1e-9):
                            expect(False, f"{metric}, size {size}: expected {column} {want:.4f}, got {have:.4f}; {hint}")
                    expect(False, f"{metric}, size {size}: expected {column} {want:.4f}, got {have:.4f}")
        return "paired by seed, last step, both metrics"

    return run_check("pretraining gain per size = paired mean and std over seeds", check, verbose=verbose)


def _tiny_classifier() -> SequenceClassifier:
    torch.manual_seed(0)
    lm = TransformerLM(TransformerConfig.mistral(vocab_size=64, d_model=16, n_layers=3, n_heads=2, n_kv_heads=1))
    return SequenceClassifier(lm, 3)


def check_set_trainable(freeze_fn: Callable[[SequenceClassifier, str], object], verbose: bool = True) -> Verdict:
    """``freeze_fn(model, parts)`` must set ``requires_grad`` so that exactly the parameters of ``parts``
    ("head", "last_layer", "all") train, as :func:`mlcourse.finetune.classifier.set_trainable` does."""

    def check() -> str:
        for parts in ("head", "last_layer", "all", "head"):  # "head" again: undo an earlier "all"
            model, reference = _tiny_classifier(), _tiny_classifier()
            set_trainable(model, "head" if parts == "all" else "all")  # the state an earlier call may leave
            freeze_fn(model, parts)
            set_trainable(reference, parts)
            want = {n for n, p in reference.named_parameters() if p.requires_grad}
            got = {n for n, p in model.named_parameters() if p.requires_grad}
            missing, extra = sorted(want - got), sorted(got - want)
            hints = []
            if any(n.startswith("backbone.norm") for n in missing):
                hints.append("the final norm sits between the last block and the head: it trains with the last layer")
            if any(n.startswith("head") for n in missing):
                hints.append("the head must always train: it starts random")
            if extra and parts != "all":
                hints.append("set requires_grad=False on every other parameter first (an earlier call may have "
                             "left them trainable)")
            expect(not missing and not extra, f"parts={parts!r}: should train but frozen {missing[:4]}, should be "
                   f"frozen but trainable {extra[:4]}" + (f"; {'; '.join(hints)}" if hints else ""))
        return "head, last layer + final norm + head, all"

    return run_check("freezing strategies leave the right parameters trainable", check, verbose=verbose)
