"""Sampling from a language model: greedy, temperature, top-k, top-p, context cropping and argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from mlcourse.model.generation import filter_logits, generate
from mlcourse.model.transformer import TransformerConfig, TransformerLM

VOCAB = 50


@pytest.fixture(scope="module")
def model() -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(TransformerConfig.mistral(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=64))


@pytest.fixture(scope="module")
def prompt() -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))


def test_greedy_is_deterministic_and_picks_the_argmax(model, prompt):
    first = generate(model, prompt, 8, temperature=0)
    assert torch.equal(first, generate(model, prompt, 8, temperature=0))
    with torch.no_grad():  # the first new token is the argmax of the last position's logits
        assert torch.equal(first[:, 5], model(prompt)[:, -1].argmax(-1))


def test_top_k_one_equals_greedy_whatever_the_temperature(model, prompt):
    greedy = generate(model, prompt, 8, temperature=0)
    for temperature in (0.5, 1.0, 3.0):
        generator = torch.Generator().manual_seed(3)
        sampled = generate(model, prompt, 8, temperature=temperature, top_k=1, generator=generator)
        assert torch.equal(sampled, greedy)


def test_output_shapes_keep_the_prompt_and_add_max_new_tokens(model, prompt):
    out = generate(model, prompt, 7, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 12) and torch.equal(out[:, :5], prompt)
    single = generate(model, prompt[0], 3, temperature=0)
    assert single.shape == (8,) and torch.equal(single, generate(model, prompt[:1], 3, temperature=0)[0])
    assert torch.equal(generate(model, prompt, 0), prompt)
    assert int(out.min()) >= 0 and int(out.max()) < VOCAB


def test_a_seeded_generator_repeats_its_sample_and_another_seed_differs(model, prompt):
    def draw(seed: int) -> torch.Tensor:
        return generate(model, prompt, 20, temperature=1.5, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))


def test_generation_restores_training_mode(model, prompt):
    model.train()
    generate(model, prompt, 2, temperature=0)
    assert model.training
    model.eval()


def test_top_p_keeps_the_smallest_nucleus_reaching_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = lambda p: torch.isfinite(filter_logits(logits, top_p=p))[0].tolist()
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.7) == [True, True, False, False]
    assert kept(0.9) == [True, True, True, False]
    assert kept(1.0) == [True] * 4
    assert torch.isfinite(filter_logits(logits, top_k=2))[0].tolist() == [True, True, False, False]


def test_context_is_cropped_to_the_position_table():
    torch.manual_seed(0)
    classic = TransformerLM(TransformerConfig.classic(vocab_size=VOCAB, d_model=32, n_heads=4, positions="learned",
                                                      max_seq_len=16))
    long_prompt = torch.randint(0, VOCAB, (1, 40), generator=torch.Generator().manual_seed(2))
    out = generate(classic, long_prompt, 4, temperature=0)  # 40 > 16 tokens: would fail without cropping
    cropped = generate(classic, long_prompt[:, -16:], 1, temperature=0)
    assert out.shape == (1, 44) and out[0, 40] == cropped[0, 16]
    with pytest.raises(ValueError, match="position table"):
        generate(classic, long_prompt, 1, max_context=32)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
    ],
)
def test_bad_sampling_settings_raise_a_clear_error(model, prompt, kwargs, message):
    args = {"max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, prompt, **args)


def test_bad_prompts_raise_a_clear_error(model):
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.zeros(1, 2, 3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="lie in"):
        generate(model, torch.tensor([[VOCAB]]), 1)
    with pytest.raises(ValueError, match="integer"):
        generate(model, torch.zeros(1, 3), 1)
