"""Tests of mlcourse.checks.p13_5_attention_visualization: each chapter 13.5 check passes a right answer, reports an untouched
stub as not attempted, and names the typical mistake of a wrong one."""

from __future__ import annotations

import torch
from mlcourse.analysis.attention import ablate_heads, heldout_loss
from mlcourse.checks import p13_5_attention_visualization as cc


def stub(*args, **kwargs):
    raise NotImplementedError


def test_stubs_read_as_not_attempted(capsys):
    assert cc.check_pruning_curve(stub).status == "not attempted"
    assert cc.check_previous_token_pattern(stub).status == "not attempted"
    assert cc.check_attention_to_positions(stub).status == "not attempted"
    assert capsys.readouterr().out.count("… not attempted yet") == 3


def test_the_reference_pruning_curve_passes_and_starts_at_the_intact_loss():
    assert cc.check_pruning_curve(cc.reference_pruning_curve)
    model, table, x, y = cc._tiny_problem()
    curve = cc.reference_pruning_curve(model, table, x, y)
    assert len(curve) == len(table) + 1 and curve[0] == heldout_loss(model, x, y)


def test_pruning_most_important_first_is_named():
    def wrong(model, table, x, y):
        return cc.reference_pruning_curve(model, table.assign(rank=len(table) + 1 - table["rank"]), x, y)
    verdict = cc.check_pruning_curve(wrong)
    assert not verdict and "most important heads first" in verdict.detail


def test_pruning_one_head_at_a_time_is_named():
    def wrong(model, table, x, y):
        order = table.sort_values("rank", ascending=False)
        curve = [heldout_loss(model, x, y)]
        for layer, head in zip(order["layer"], order["head"]):
            with ablate_heads(model, [(int(layer), int(head))]):
                curve.append(heldout_loss(model, x, y))
        return curve
    verdict = cc.check_pruning_curve(wrong)
    assert not verdict and "together" in verdict.detail


def test_a_curve_without_k_0_is_named():
    verdict = cc.check_pruning_curve(lambda *a: cc.reference_pruning_curve(*a)[1:])
    assert not verdict and "k = 0" in verdict.detail


def test_previous_token_pattern_reference_passes_and_mistakes_are_named():
    assert cc.check_previous_token_pattern(cc.reference_previous_token_pattern)
    no_row0 = cc.check_previous_token_pattern(lambda T: torch.diag(torch.ones(T - 1), -1))
    assert not no_row0 and "row 0" in no_row0.detail
    identity = cc.check_previous_token_pattern(torch.eye)
    assert not identity and "identity" in identity.detail


def test_attention_to_positions_reference_passes_and_averaging_over_keys_is_named():
    assert cc.check_attention_to_positions(cc.reference_attention_to_positions)
    def mean_over_keys(pattern, targets):
        return sum(float(pattern[q, k].mean()) for q, k in targets.items()) / len(targets)
    verdict = cc.check_attention_to_positions(mean_over_keys)
    assert not verdict and "sum them per query" in verdict.detail
