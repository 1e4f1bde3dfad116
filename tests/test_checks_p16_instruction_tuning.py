"""The checks of chapter 16's exercises: the reference solutions pass, stubs read as "not attempted", and each
typical mistake fails with the hint that names it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from check_helpers import clear_output, fails_with, stub  # noqa: F401 - clear_output is an autouse fixture
from mlcourse.checks.p16_instruction_tuning import (check_lora_count, check_lora_layer, check_response_labels)
from mlcourse.finetune.lora import LoRALinear


def good_labels(prompt, response, eos):
    ids = prompt + response + [eos]
    return ids, [-100] * len(prompt) + response + [eos]


def good_count(config, r, targets):
    d, f = config.hidden_size, config.intermediate_size
    kv = config.num_key_value_heads * config.head_dim
    shapes = {"q_proj": d + d, "k_proj": d + kv, "v_proj": d + kv, "o_proj": d + d, "gate_proj": d + f,
              "up_proj": d + f, "down_proj": f + d}
    return config.num_hidden_layers * r * sum(shapes[t] for t in targets)


def test_reference_solutions_pass():
    assert check_response_labels(good_labels)
    assert check_lora_layer(LoRALinear)
    assert check_lora_count(good_count)


def test_stubs_are_not_attempted(capsys):
    for check in (check_response_labels, check_lora_layer, check_lora_count):
        assert check(stub).status == "not attempted"


@pytest.mark.parametrize("bug, hint", [
    (lambda p, r, e: (p + r, [-100] * len(p) + r), "the <eos> is missing"),
    (lambda p, r, e: (p + r + [e], [-100] * len(p) + r + [-100]), "the <eos> label is masked"),
    (lambda p, r, e: (p + r + [e], p + r + [e]), "the prompt is not masked"),
    (lambda p, r, e: (p + r + [e], [-100] * (len(p) - 1) + r + [e, -100]), "shifted by one"),
    (lambda p, r, e: (p + r + [e], [0] * len(p) + r + [e]), "exactly -100"),
])
def test_label_mistakes_are_named(capsys, bug, hint):
    fails_with(capsys, check_response_labels(bug), hint)


class ScaledBy(LoRALinear):
    """LoRA with a wrong scale."""

    def __init__(self, base, r, alpha, which="alpha"):
        super().__init__(base, r, alpha)
        self.scale = {"alpha": alpha, "1/r": 1 / r}[which]


class NoZeroB(LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        nn.init.normal_(self.B)


class BaseTrains(LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.base.weight.requires_grad_(True)


@pytest.mark.parametrize("bug, hint", [
    (ScaledBy, "not alpha"),
    (lambda b, r, a: ScaledBy(b, r, a, "1/r"), "not 1 / r"),
    (NoZeroB, "B must start at zero"),
    (BaseTrains, "only A and B may train"),
])
def test_lora_layer_mistakes_are_named(capsys, bug, hint):
    fails_with(capsys, check_lora_layer(bug), hint)


def test_lora_count_mistakes_are_named(capsys):
    def no_gqa(config, r, targets):
        d = config.hidden_size
        kv = config.num_key_value_heads * config.head_dim
        return good_count(config, r, targets) + config.num_hidden_layers * r * sum(
            d - kv for t in targets if t in ("k_proj", "v_proj"))

    fails_with(capsys, check_lora_count(no_gqa), "grouped-query attention")

    def only_a(config, r, targets):
        return good_count(config, r, targets) // 2

    fails_with(capsys, check_lora_count(only_a), "expected")
