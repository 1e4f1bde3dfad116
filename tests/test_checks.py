"""Tests of mlcourse.checks: verdicts (passed / failed / not attempted) and the attention exercise checks,
including the diagnosis they give for the typical mistakes."""

from __future__ import annotations

import math

import pytest
import torch
from mlcourse.model.attention import attention_entropy, causal_mask, scaled_dot_product_attention
from mlcourse.checks import CheckFailed, expect_close, run_check
from mlcourse.checks import p12_1_attention as checks
from mlcourse.checks.core import Verdict
from mlcourse.labs.toy_tasks import pattern_match


def stub(*args, **kwargs):
    raise NotImplementedError


# ---------------------------------------------------------------- core


def test_run_check_reports_passed(capsys):
    verdict = run_check("adds", lambda: "2 cases")
    assert verdict and verdict.status == "passed"
    assert capsys.readouterr().out == "✓ passed: adds: 2 cases\n"


def test_run_check_reports_not_attempted_for_a_stub(capsys):
    verdict = run_check("adds", stub)
    assert not verdict and verdict.status == "not attempted"
    assert capsys.readouterr().out.startswith("… not attempted yet: adds")


def test_run_check_reports_failure_with_expected_and_got(capsys):
    def body():
        expect_close("out", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]))

    verdict = run_check("adds", body)
    out = capsys.readouterr().out
    assert verdict.status == "failed" and not verdict
    assert out.startswith("✗ failed: adds: expected out")
    assert "max abs difference of 0.5 at index (1,)" in out


def test_run_check_turns_other_exceptions_into_a_failure_naming_them(capsys):
    def body():
        raise TypeError("bad operand")

    verdict = run_check("adds", body)
    assert verdict.status == "failed"
    assert "your code raised TypeError: bad operand" in capsys.readouterr().out


def test_expect_close_names_both_shapes():
    with pytest.raises(CheckFailed, match=r"expected out \(case A\) of shape \(2, 3\), got shape \(3, 2\)"):
        expect_close("out", torch.zeros(3, 2), torch.zeros(2, 3), context="case A")
    with pytest.raises(CheckFailed, match="to be a tensor of shape"):
        expect_close("out", [0.0], torch.zeros(1))
    with pytest.raises(CheckFailed, match="got NaN"):
        expect_close("out", torch.tensor([float("nan")]), torch.zeros(1))


def test_verdict_line_formats():
    assert Verdict("x", "failed", "why").line() == "✗ failed: x: why"
    assert Verdict("x", "not attempted").line() == "… not attempted yet: x"


# ---------------------------------------------------------------- attention checks


def test_sdpa_check_passes_the_reference_and_flags_typical_mistakes(capsys):
    assert checks.check_scaled_dot_product_attention(scaled_dot_product_attention)
    assert checks.check_scaled_dot_product_attention(stub).status == "not attempted"

    def no_scale(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v, mask, scale=1.0)

    def inverted(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v, None if mask is None else ~mask)

    def wrong_axis(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        weights = torch.softmax(scores, dim=-2)
        return weights @ v, weights

    capsys.readouterr()
    assert not checks.check_scaled_dot_product_attention(no_scale)
    assert "without the 1/sqrt(d_k) scale" in capsys.readouterr().out
    assert not checks.check_scaled_dot_product_attention(inverted)
    assert "mask is inverted" in capsys.readouterr().out
    assert not checks.check_scaled_dot_product_attention(wrong_axis)
    assert "softmax taken over dim=-1" in capsys.readouterr().out
    assert not checks.check_scaled_dot_product_attention(lambda q, k, v, mask=None: q)
    assert "expected a tuple (out, attn_weights)" in capsys.readouterr().out


def test_causal_mask_check_diagnoses_inversion_and_off_by_one(capsys):
    assert checks.check_causal_mask(causal_mask)
    assert checks.check_causal_mask(stub).status == "not attempted"
    capsys.readouterr()
    assert not checks.check_causal_mask(lambda T: ~causal_mask(T))
    assert "inverted" in capsys.readouterr().out
    assert not checks.check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).tril(1))
    assert "a leak" in capsys.readouterr().out
    assert not checks.check_causal_mask(lambda T: causal_mask(T).int())
    assert "boolean mask" in capsys.readouterr().out


def test_entropy_check_diagnoses_nan_and_bits(capsys):
    assert checks.check_attention_entropy(attention_entropy)
    capsys.readouterr()
    assert not checks.check_attention_entropy(lambda w: -(w * w.log()).sum(-1))
    assert "0 * log(0)" in capsys.readouterr().out
    assert not checks.check_attention_entropy(lambda w: -torch.special.xlogy(w, w).sum(-1) / math.log(2))
    assert "bits" in capsys.readouterr().out


def test_pattern_match_check(capsys):
    assert checks.check_pattern_match(pattern_match)
    assert checks.check_pattern_match(stub).status == "not attempted"

    def keeps_gaps(weights, keys):  # forgets to drop queries whose ideal key is -1
        rows = weights[torch.arange(len(keys)), keys.clamp(min=0)]
        return (weights.argmax(-1) == keys).float().mean().item(), rows.mean().item()

    capsys.readouterr()
    assert not checks.check_pattern_match(keeps_gaps)
    assert "must be left out" in capsys.readouterr().out


def test_head_roles_check(capsys):
    assert checks.check_head_roles(checks.head_roles_reference)
    capsys.readouterr()
    assert not checks.check_head_roles(lambda w: checks.head_roles_reference(w).flip(-1))
    assert "swapped" in capsys.readouterr().out


def test_forget_bias_check(capsys):
    def correct(lstm, value):
        h = lstm.hidden_size
        with torch.no_grad():
            lstm.bias_ih_l0[h : 2 * h] = value
            lstm.bias_hh_l0[h : 2 * h] = 0.0

    def input_gate(lstm, value):
        h = lstm.hidden_size
        with torch.no_grad():
            lstm.bias_ih_l0[:h] = value
            lstm.bias_hh_l0[:h] = 0.0

    assert checks.check_forget_bias(correct)
    assert checks.check_forget_bias(stub).status == "not attempted"
    capsys.readouterr()
    assert not checks.check_forget_bias(input_gate)
    assert "INPUT gate" in capsys.readouterr().out


def test_a_verdict_displays_nothing_in_a_notebook_because_its_line_is_already_printed():
    from IPython.core.interactiveshell import InteractiveShell

    verdict = run_check("adds", lambda: None, verbose=False)
    shown, _ = InteractiveShell.instance().display_formatter.format(verdict)
    assert shown == {}  # IPython shows no execute_result for it
    assert verdict  # but it is still truthy when it passed
