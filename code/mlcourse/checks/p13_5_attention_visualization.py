"""Checks for the exercises of chapter 13.5 (attention visualisation and analysis).

* :func:`check_pruning_curve`: the learner's ``prune_curve(model, ablation_table, inputs, targets)`` must
  return the held-out loss with the k least important heads removed *together*, for k = 0 .. number of heads,
  removing heads in the table's order from the least important (the last rank) up. It is compared with
  :func:`reference_pruning_curve` on a tiny random model; the usual mistakes (most important first, one head
  at a time instead of cumulatively, k starting at 1) are recognised and named.
* :func:`check_previous_token_pattern`: ``pattern(T)`` must be the (T, T) weights of a pure previous-token
  head, with row 0 (which has no previous token) on itself so that every row still sums to 1.
* :func:`check_attention_to_positions`: ``score(pattern, targets)`` must be the mean, over the queries named in
  ``targets`` {query: [keys]}, of the total weight each puts on its keys: the building block of a probe.

What it does not do: grade the open-ended parts (which heads to prune, what an intervention shows, which
hypothesis a probe tests); the solutions notebook works them out on the base model.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from mlcourse.analysis.attention import (
    ablate_heads,
    head_ablation_table,
    heldout_loss,
    uniform_causal,
)
from mlcourse.checks.core import Verdict, expect, expect_close, run_check
from mlcourse.model.transformer import TransformerConfig, TransformerLM


def reference_pruning_curve(model: TransformerLM, ablation_table: pd.DataFrame, inputs: torch.Tensor,
                            targets: torch.Tensor, mode: str = "zero") -> list[float]:  # fmt: skip
    """Loss with the k least important heads (largest ``rank`` first) ablated together, k = 0 .. len(table)."""
    order = ablation_table.sort_values("rank", ascending=False)
    heads = list(zip(order["layer"].astype(int), order["head"].astype(int)))
    curve = []
    for k in range(len(heads) + 1):
        with ablate_heads(model, heads[:k], mode=mode):
            curve.append(heldout_loss(model, inputs, targets))
    return curve


def _tiny_problem(seed: int = 0) -> tuple[TransformerLM, pd.DataFrame, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    config = TransformerConfig.mistral(vocab_size=40, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                       max_seq_len=16, init_std=0.2)  # large weights: heads matter unequally
    model = TransformerLM(config).eval()
    ids = torch.randint(0, 40, (4, 13), generator=torch.Generator().manual_seed(seed))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    return model, head_ablation_table(model, inputs, targets), inputs, targets


def check_pruning_curve(prune_curve: Callable, verbose: bool = True) -> Verdict:
    """``prune_curve(model, ablation_table, inputs, targets)`` -> list of n_heads + 1 losses (k = 0 .. n_heads)."""

    def check() -> str:
        model, table, inputs, targets = _tiny_problem()
        expected = reference_pruning_curve(model, table, inputs, targets)
        got = prune_curve(model, table, inputs, targets)
        got = [float(v) for v in got]
        n = len(table)
        expect(len(got) != n or abs(got[0] - expected[1]) > 1e-6,
               f"expected {n + 1} losses (k = 0 .. {n}: k = 0 is the intact model), got {n} starting at k = 1")
        expect(len(got) == n + 1, f"expected {n + 1} losses, one per k = 0 .. {n}, got {len(got)}")
        reversed_table = table.assign(rank=len(table) + 1 - table["rank"])
        wrong_order = reference_pruning_curve(model, reversed_table, inputs, targets)
        expect(not torch.allclose(torch.tensor(got), torch.tensor(wrong_order), atol=1e-6) or n < 2,
               "you removed the most important heads first: start from the largest rank (smallest delta_loss)")
        order = table.sort_values("rank", ascending=False)
        one_at_a_time = [expected[0]] + list(order["loss"])
        expect(not torch.allclose(torch.tensor(got), torch.tensor(one_at_a_time), atol=1e-6),
               "each k ablates only one head: keep the first k heads ablated together (pass all k to ablate_heads)")
        expect_close("pruning curve", torch.tensor(got), torch.tensor(expected), atol=1e-5,
                     context="losses for k = 0 .. n_heads")
        return f"{n + 1} losses match, k = 0 .. {n}"

    return run_check("pruning curve (remove the k least important heads)", check, verbose=verbose)


def reference_previous_token_pattern(T: int) -> torch.Tensor:
    """(T, T): row i puts all its weight on key i - 1; row 0 on itself."""
    pattern = torch.diag(torch.ones(T - 1), -1)
    pattern[0, 0] = 1.0
    return pattern


def check_previous_token_pattern(pattern_fn: Callable[[int], torch.Tensor], verbose: bool = True) -> Verdict:
    """``pattern_fn(T)`` must equal :func:`reference_previous_token_pattern` for several T."""

    def check() -> str:
        for T in (1, 2, 5, 12):
            got = pattern_fn(T)
            expect(isinstance(got, torch.Tensor) and tuple(got.shape) == (T, T),
                   f"expected a ({T}, {T}) tensor for T={T}, got {getattr(got, 'shape', type(got).__name__)}")
            got = got.float()
            expect(bool(got[0, 0] == 1.0), f"row 0 has no previous token, so it must put its weight on itself "
                   f"(got row 0 = {got[0].tolist()}); otherwise the row sums to 0, not 1")
            if T > 1:
                expect(not torch.equal(got, torch.eye(T)),
                       "that is the identity (each query on itself): shift it one key to the left, diagonal -1")
                expect(not bool(torch.triu(got, 1).any()), f"weight on a later key breaks the causal mask (T={T})")
            expect_close(f"pattern for T={T}", got, reference_previous_token_pattern(T), atol=1e-6)
        return "rows sum to 1 and read key i - 1"

    return run_check("a hand-set previous-token pattern", check, verbose=verbose)


def reference_attention_to_positions(pattern: torch.Tensor, targets: dict[int, list[int]]) -> float:
    """Mean over the queries in ``targets`` of the summed weight on their keys; pattern (T, T)."""
    return sum(float(pattern[q, keys].sum()) for q, keys in targets.items()) / len(targets)


def check_attention_to_positions(score_fn: Callable, verbose: bool = True) -> Verdict:
    """``score_fn(pattern (T, T), {query: [keys]})`` must equal :func:`reference_attention_to_positions`."""

    def check() -> str:
        pattern = uniform_causal(6)
        cases = [({5: [0]}, "one query, one key"), ({5: [0, 1, 2]}, "one query, three keys"),
                 ({2: [0, 1], 5: [4]}, "two queries"), ({3: [3]}, "a query on itself")]
        for targets, what in cases:
            got = score_fn(pattern, targets)
            expected = reference_attention_to_positions(pattern, targets)
            got = float(got)
            if len(next(iter(targets.values()))) > 1 and abs(got - expected / len(targets[next(iter(targets))])) < 1e-6:
                expect(False, f"{what}: you averaged the weights over the keys; sum them per query (the mass the "
                       "query puts on its keys), then average over queries")
            expect(abs(got - expected) < 1e-6, f"{what}: expected {expected:.4f}, got {got:.4f} "
                   f"(targets {targets}, pattern = uniform causal weights of 6 tokens)")
        return "sums per query, averages over queries"

    return run_check("attention mass on chosen keys", check, verbose=verbose)
