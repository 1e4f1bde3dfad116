"""Calibration measures (chapter 17) on hand-built cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcourse.analysis.calibration import (expected_calibration_error, fit_temperature, reliability_bins,
                                           softmax_confidence)


def test_perfectly_calibrated_bins_have_zero_ece():
    # Bin [0.2, 0.3): 10 answers at 0.25, of which 2.5 cannot be right; use 0.2 and 0.8 with 5 and 10 answers.
    conf = np.array([0.2] * 5 + [0.8] * 10)
    correct = np.array([1, 0, 0, 0, 0] + [1] * 8 + [0] * 2)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_model_has_the_gap_as_ece():
    conf = np.ones(10)  # always 100 % sure ...
    correct = np.array([1, 0] * 5)  # ... and right half the time
    assert expected_calibration_error(conf, correct) == pytest.approx(0.5)


def test_ece_weights_bins_by_their_share():
    # Bin 0.9x: 6 answers at 0.95, 3 right (gap 0.45); bin 0.5x: 4 answers at 0.55, 2 right (gap 0.05).
    conf = np.array([0.95] * 6 + [0.55] * 4)
    correct = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0])
    expected = 0.6 * 0.45 + 0.4 * 0.05
    assert expected_calibration_error(conf, correct) == pytest.approx(expected)


def test_bins_place_edges_and_one_as_documented():
    bins = reliability_bins(np.array([0.0, 0.1, 0.19, 0.999, 1.0]), np.array([0, 1, 1, 1, 0]), n_bins=10)
    assert bins.count.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert np.isnan(bins.accuracy[2]) and bins.accuracy[1] == pytest.approx(1.0)
    assert bins.accuracy[9] == pytest.approx(0.5) and bins.confidence[9] == pytest.approx(0.9995)
    assert [row["count"] for row in bins.table()] == [1, 2, 2]


@pytest.mark.parametrize("conf, correct, message", [
    (np.array([0.5, 1.2]), np.array([1, 0]), "probabilities in \\[0, 1\\]"),
    (np.array([0.5]), np.array([1, 0]), "same length"),
    (np.array([]), np.array([]), "at least one"),
    (np.array([0.5]), np.array([2]), "booleans"),
])
def test_bad_input_says_what_is_wrong(conf, correct, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(conf, correct)


def test_temperature_scaling_recovers_the_temperature_that_generated_the_labels():
    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 5, generator=gen, dtype=torch.float64) * 2.0
    labels = torch.multinomial(torch.softmax(true_logits, dim=-1), 1, generator=gen).squeeze(1)
    overconfident = true_logits * 3.0  # the model's logits are 3x too sharp: the fitted T must undo it
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(*softmax_confidence(overconfident, labels))
    after = expected_calibration_error(*softmax_confidence(overconfident, labels, temperature=t))
    assert after < before / 3


def test_temperature_never_changes_which_answer_is_chosen():
    logits = torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    labels = torch.zeros(50, dtype=torch.long)
    _, right_1 = softmax_confidence(logits, labels, 1.0)
    _, right_7 = softmax_confidence(logits, labels, 7.0)
    assert (right_1 == right_7).all()
