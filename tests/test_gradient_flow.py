"""Tests of mlcourse.labs.gradient_flow: the table's shape, and the exponential (RNN) vs 1/T (attention) behaviour."""

from __future__ import annotations

import time

import pytest
import torch
from mlcourse.labs.gradient_flow import (
    SelfAttentionLayer,
    build_sequence_model,
    first_position_summary,
    input_gradient_norms,
    measure_gradient_flow,
)
from torch import nn


@pytest.fixture(scope="module")
def table():
    return measure_gradient_flow([16, 64], seeds=(0, 1), d_model=16, batch_size=4)


def test_table_is_tidy_with_one_row_per_model_length_seed_and_position(table):
    assert list(table.columns) == ["model", "seq_len", "seed", "position", "distance", "grad_norm"]
    assert len(table) == 3 * 2 * (16 + 64)  # 3 models x 2 seeds x positions of both lengths
    assert set(table["model"]) == {"rnn", "lstm", "attention"}
    assert (table["distance"] == table["seq_len"] - 1 - table["position"]).all()


def test_rnn_gradient_to_the_first_position_is_orders_of_magnitude_below_attention_at_t64(table):
    summary = first_position_summary(table)
    assert summary.loc["rnn", 64] < 1e-6 * summary.loc["attention", 64]
    assert summary.loc["lstm", 64] < 1e-6 * summary.loc["attention", 64]


def test_rnn_gradient_decays_exponentially_while_attention_decays_like_one_over_t(table):
    summary = first_position_summary(table)
    # 48 more steps: the RNN loses many decades, attention about a factor 64 / 16 = 4.
    assert summary.loc["rnn", 64] < 1e-10 * summary.loc["rnn", 16]
    assert 2 < summary.loc["attention", 16] / summary.loc["attention", 64] < 8


def test_rnn_gradient_shrinks_with_distance_from_the_loss(table):
    one = table[(table["model"] == "rnn") & (table["seq_len"] == 64) & (table["seed"] == 0)]
    near, far = one[one["distance"] == 1]["grad_norm"].item(), one[one["distance"] == 40]["grad_norm"].item()
    assert far < 1e-6 * near


def test_measurement_is_deterministic_and_fast():
    start = time.perf_counter()
    a = measure_gradient_flow([32], seeds=(0,), d_model=8, batch_size=2)
    b = measure_gradient_flow([32], seeds=(0,), d_model=8, batch_size=2)
    assert a.equals(b)
    assert time.perf_counter() - start < 5


def test_custom_builders_are_accepted():
    builders = {"rnn": None, "attention + residual": lambda d: SelfAttentionLayer(d, residual=True),
                "gru": lambda d: _GRU(d)}  # None: the built-in kind of that name
    table = measure_gradient_flow([8], builders, seeds=(0,), d_model=8, batch_size=2)
    assert set(table["model"]) == set(builders)
    first = first_position_summary(table)
    # a residual connection adds x_T to y_T only: the gradient reaching x_1 is that of plain attention
    plain = first_position_summary(measure_gradient_flow([8], ["attention"], seeds=(0,), d_model=8, batch_size=2))
    assert first.loc["attention + residual", 8] == pytest.approx(plain.loc["attention", 8], rel=1e-9)


class _GRU(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.gru = nn.GRU(d, d, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0]


def test_input_gradient_norms_match_autograd_on_a_linear_model():
    # y_t = W x_t (no mixing over time): only the last position gets a gradient, of norm ||W^T u||.
    lin = nn.Linear(3, 3, bias=False).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    norms = input_gradient_norms(lin, x, torch.Generator().manual_seed(0))
    assert norms.shape == (2, 4)
    assert torch.all(norms[:, :-1] == 0) and torch.all(norms[:, -1] > 0)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="Unknown model kind 'gru'"):
        build_sequence_model("gru")
