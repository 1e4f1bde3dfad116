"""Tests of mlcourse.checks.p12_transformer: the chapter 12 exercise checks pass the library's own functions,
report an untouched stub as not attempted, and name the typical mistakes."""

from __future__ import annotations

import torch


def stub(*args, **kwargs):
    raise NotImplementedError


def test_transformer_checks_pass_the_references_and_name_typical_mistakes(capsys):
    from mlcourse.checks import p12_transformer as tchecks
    from mlcourse.model.size import parameter_count
    from mlcourse.model.parts import RMSNorm, RotaryEmbedding, apply_rope

    def rms(x, weight, eps):
        norm = RMSNorm(x.shape[-1], eps)
        with torch.no_grad():
            norm.weight.copy_(weight)
            return norm(x)

    def rope(x, positions, theta):
        cos, sin = RotaryEmbedding(x.shape[-1], theta)(positions)
        return apply_rope(x, cos, sin)

    assert tchecks.check_rms_norm(rms)
    assert tchecks.check_rope(rope)
    assert tchecks.check_parameter_count(parameter_count)
    assert tchecks.check_rms_norm(stub).status == "not attempted"
    layer_norm_like = lambda x, w, eps: rms(x - x.mean(-1, keepdim=True), w, eps)  # noqa: E731
    verdict = tchecks.check_rms_norm(layer_norm_like)
    assert not verdict and "mean" in verdict.detail
    tied_twice = lambda c: parameter_count(c) + (c.vocab_size * c.d_model if c.tie_embeddings else 0)  # noqa: E731
    verdict = tchecks.check_parameter_count(tied_twice)
    assert not verdict and "once" in verdict.detail
