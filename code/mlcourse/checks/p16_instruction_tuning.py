"""Checks for the exercises of chapter 16 (instruction tuning with LoRA).

* :func:`check_response_labels`: the learner's ``labels_fn(prompt_ids, response_ids, eos_id)`` must return
  ``(ids, labels)`` like :func:`mlcourse.finetune.instruction_format.encode_example`: the ids are prompt +
  response + ``<eos>``, the labels -100 on the prompt and equal to the ids on the response *and* its ``<eos>``.
  The usual mistakes (no ``<eos>``, a masked ``<eos>``, the prompt not masked, labels shifted by one, a
  different ignore value) are named in the verdict.
* :func:`check_lora_layer`: the learner's ``layer_cls(base, r, alpha)`` must start equal to ``base`` (B = 0),
  train only A and B, and compute ``x W^T + (alpha / r) x A^T B^T``, like
  :class:`mlcourse.finetune.lora.LoRALinear`, on identical A and B; a wrong scale (alpha, 1/r, r/alpha) or
  swapped factors are named.
* :func:`check_lora_count`: the learner's ``count_fn(config, r, targets)`` must give the exact number of LoRA
  parameters, checked against peft on the ``meta`` device for Mistral 7B and a small config (grouped-query k/v
  projections are narrower than q; the MLP projections are wider).

What it does not do: grade the measured ablations (rank, target modules, training on the prompt); their worked
answers are in the solutions notebook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.finetune.causal_lm import lora_parameter_count, mistral_7b_config
from mlcourse.finetune.lora import ALL_LINEAR, QV, LoRALinear, lora_config

IGNORE = -100


def _reference(prompt: list[int], response: list[int], eos: int) -> tuple[list[int], list[int]]:
    ids = prompt + response + [eos]
    return ids, [IGNORE] * len(prompt) + response + [eos]


def _label_mistakes(prompt: list[int], response: list[int], eos: int) -> dict[str, tuple[list[int], list[int]]]:
    ids, labels = _reference(prompt, response, eos)
    return {
        "the <eos> is missing: append eos_id after the response, in the ids and in the labels, or the model never "
        "learns to stop": (prompt + response, [IGNORE] * len(prompt) + response),
        "the <eos> label is masked (-100): keep it, it is the token that teaches the model to stop":
            (ids, labels[:-1] + [IGNORE]),
        "the prompt is not masked: its labels must be -100 (the loss is on the response only)": (ids, list(ids)),
        "the labels are shifted by one: give labels[t] = ids[t] on the response; the loss shifts them itself":
            (ids, [IGNORE] * (len(prompt) - 1) + response + [eos, IGNORE]),
    }


def check_response_labels(labels_fn: Callable[[list[int], list[int], int], tuple[list[int], list[int]]],
                          verbose: bool = True) -> Verdict:  # fmt: skip
    """``labels_fn(prompt_ids, response_ids, eos_id)`` -> ``(ids, labels)`` (two lists of ints, same length)."""

    def check() -> None:
        for prompt, response, eos in (([1, 7, 8, 9], [20, 21], 2), ([1, 5], [30, 31, 32, 33], 99)):
            got = labels_fn(list(prompt), list(response), eos)
            expect(isinstance(got, tuple) and len(got) == 2, f"expected a tuple (ids, labels), got {type(got).__name__}")
            ids, labels = (list(map(int, x)) for x in got)
            want_ids, want_labels = _reference(prompt, response, eos)
            if (ids, labels) == (want_ids, want_labels):
                continue
            for hint, wrong in _label_mistakes(prompt, response, eos).items():
                expect((ids, labels) != tuple(wrong), f"{hint} (prompt {prompt}, response {response}, eos {eos})")
            expect(len(ids) == len(labels), f"ids and labels must have the same length, got {len(ids)} and {len(labels)}")
            expect(ids == want_ids, f"ids: expected prompt + response + [eos] = {want_ids}, got {ids}")
            masked = [x for x in labels[:len(prompt)] if x != IGNORE]
            expect(not masked, f"the prompt's labels must be exactly -100 (PyTorch's ignore_index), got {labels}")
            expect(False, f"labels: expected {want_labels}, got {labels}")

    return run_check("labels on the response only, <eos> kept", check, verbose=verbose)


def _probe_layer(layer_cls: Callable[..., nn.Module], r: int, alpha: float) -> None:
    torch.manual_seed(0)
    base = nn.Linear(12, 8, bias=False)
    x = torch.randn(5, 12)
    layer = layer_cls(base, r, alpha)
    expect(isinstance(layer, nn.Module), f"layer_cls(base, r, alpha) must return an nn.Module, got {type(layer).__name__}")
    params = dict(layer.named_parameters())
    expect("A" in params and "B" in params, f"name the factors A (r, in) and B (out, r); parameters are {list(params)}")
    A, B = params["A"], params["B"]
    expect(tuple(A.shape) == (r, 12) and tuple(B.shape) == (8, r),
           f"expected A of shape {(r, 12)} and B of shape {(8, r)}, got {tuple(A.shape)} and {tuple(B.shape)}")
    expect(bool((B == 0).all()), "B must start at zero, so that the adapted model starts equal to the base model")
    expect(A.abs().sum() > 0, "A must start random (not zero): with A = B = 0 no gradient ever reaches either")
    trainable = sorted(n for n, p in params.items() if p.requires_grad)
    expect(trainable == ["A", "B"], f"only A and B may train (freeze the base layer), trainable: {trainable}")
    with torch.no_grad():
        y0 = layer(x)
        expect(torch.allclose(y0, base(x), atol=1e-6), "at initialisation the output must equal base(x) (B = 0)")
        B.copy_(torch.randn_like(B))
        got = layer(x)
        reference = LoRALinear(base, r, alpha)
        reference.A.copy_(A)
        reference.B.copy_(B)
        want = reference(x)
        if not torch.allclose(got, want, atol=1e-5):
            delta = x @ A.T @ B.T
            for hint, scale in (("scale by alpha / r, not alpha", alpha), ("scale by alpha / r, not 1 / r", 1 / r),
                                ("scale by alpha / r, not r / alpha", r / alpha), ("no scale: multiply the "
                                "update by alpha / r", 1.0)):  # fmt: skip
                expect(not torch.allclose(got, base(x) + scale * delta, atol=1e-5), hint)
            diff = float((got - want).abs().max())
            expect(False, f"expected x W^T + (alpha/r) x A^T B^T (r={r}, alpha={alpha}); max abs difference {diff:.3g}")


def check_lora_layer(layer_cls: Callable[..., nn.Module], verbose: bool = True) -> Verdict:
    """``layer_cls(base: nn.Linear, r, alpha)`` -> module with parameters ``A`` (r, in), ``B`` (out, r)."""

    def check() -> None:
        for r, alpha in ((4, 8.0), (2, 16.0)):
            _probe_layer(layer_cls, r, alpha)

    return run_check("LoRA layer (B = 0 at the start, scale alpha / r)", check, verbose=verbose)


def _count(config, r: int, targets: Sequence[str], *, gqa: bool = True, which: str = "both") -> int:
    """LoRA parameters by formula; ``gqa=False`` and ``which`` reproduce two mistakes."""
    d, f = config.hidden_size, config.intermediate_size
    kv = config.num_key_value_heads * config.head_dim if gqa else d
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d), "gate_proj": (d, f),
              "up_proj": (d, f), "down_proj": (f, d)}  # (in, out)
    pick = {"both": lambda i, o: i + o, "in": lambda i, o: i, "out": lambda i, o: o}[which]
    return config.num_hidden_layers * r * sum(pick(*shapes[t]) for t in targets)


def check_lora_count(count_fn: Callable[[object, int, Sequence[str]], int], verbose: bool = True) -> Verdict:
    """``count_fn(config, r, targets)`` -> number of LoRA parameters of ``MistralForCausalLM(config)``."""
    from transformers import MistralConfig

    def check() -> None:
        small = MistralConfig(vocab_size=100, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=16)
        for config, name in ((small, "a small config"), (mistral_7b_config(), "Mistral 7B")):
            for r, targets in ((32, ALL_LINEAR), (32, QV), (4, ("k_proj", "down_proj"))):
                want = lora_parameter_count(config, lora_config(r=r, targets=targets))["trainable"]
                got = int(count_fn(config, r, tuple(targets)))
                if got != want:
                    expect(got != _count(config, r, targets, gqa=False), f"{name}, r={r}, {list(targets)}: k_proj "
                           "and v_proj map to num_key_value_heads * head_dim outputs (grouped-query attention), "
                           "not hidden_size")
                    for which in ("in", "out"):
                        expect(got != _count(config, r, targets, which=which), f"{name}, r={r}, {list(targets)}: "
                               "count both factors, A (r x in_features) and B (out_features x r)")
                    expect(False, f"{name}, r={r}, targets {list(targets)}: expected {want:,} (peft on the meta "
                           f"device), got {got:,}")

    return run_check("LoRA parameter count (peft on the meta device)", check, verbose=verbose)
