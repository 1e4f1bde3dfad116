"""The key-value cache: cached generation equals uncached generation token for token (greedy and seeded sampling,
GQA + RoPE, sliding windows, absolute positions, prompts longer than the context), the cached logits equal the
full forward pass's, the memory formula counts what the cache holds, and models without a cache still work."""

from __future__ import annotations

import pytest
import torch
from mlcourse.model.generation import generate, kv_cache_bytes
from mlcourse.model.transformer import KVCache, TransformerConfig, TransformerLM

VOCAB = 40


def make(**changes) -> TransformerLM:
    torch.manual_seed(0)
    config = TransformerConfig.mistral(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=24)
    return TransformerLM(config.with_(**changes)).eval()


def prompt(T: int = 5, B: int = 2) -> torch.Tensor:
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("changes", [{}, {"sliding_window": 4}, {"attention_path": "explicit"}, {"n_kv_heads": 4}])
def test_cached_logits_equal_the_full_forward_pass(changes):
    model, ids = make(**changes), prompt(12)
    with torch.no_grad():
        full = model(ids)  # (B, 12, V)
        cache = KVCache(model.config.n_layers)
        steps = [model(ids[:, :5], cache=cache)] + [model(ids[:, t:t + 1], cache=cache) for t in range(5, 12)]
    assert len(cache) == 12
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("changes", [{}, {"sliding_window": 4}])
def test_greedy_with_and_without_cache_agree_token_for_token(changes):
    model = make(**changes)
    cached = generate(model, prompt(), 15, temperature=0, use_cache=True)
    assert torch.equal(cached, generate(model, prompt(), 15, temperature=0, use_cache=False))


def test_seeded_sampling_with_and_without_cache_agree_token_for_token():
    model = make()
    for settings in ({"temperature": 1.0}, {"temperature": 0.8, "top_k": 10}, {"temperature": 1.2, "top_p": 0.9}):
        runs = [generate(model, prompt(), 15, generator=torch.Generator().manual_seed(5), use_cache=c, **settings)
                for c in (True, False)]
        assert torch.equal(*runs), settings


def test_beyond_the_context_the_cache_is_rebuilt_and_stays_exact():
    model = make()  # max_seq_len 24: 5 + 30 tokens slide the window
    cached = generate(model, prompt(), 30, temperature=0, use_cache=True)
    assert torch.equal(cached, generate(model, prompt(), 30, temperature=0, use_cache=False))
    long_prompt = prompt(T=30)  # longer than the context from the start
    assert torch.equal(generate(model, long_prompt, 4, temperature=0, use_cache=True),
                       generate(model, long_prompt, 4, temperature=0, use_cache=False))


def test_absolute_positions_are_offset_by_the_cache_length():
    torch.manual_seed(0)
    for positions in ("learned", "sinusoidal"):
        model = TransformerLM(TransformerConfig.classic(vocab_size=VOCAB, d_model=32, n_heads=4, positions=positions,
                                                        max_seq_len=16)).eval()
        assert torch.equal(generate(model, prompt(), 20, temperature=0, use_cache=True),
                           generate(model, prompt(), 20, temperature=0, use_cache=False))


def test_the_default_uses_the_cache_and_a_plain_model_falls_back():
    model = make()
    assert torch.equal(generate(model, prompt(), 6, temperature=0), generate(model, prompt(), 6, temperature=0,
                                                                              use_cache=True))

    class Wrapped(torch.nn.Module):  # any ids -> logits module (e.g. a learner's): no cache argument
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.inner(ids)

    assert torch.equal(generate(Wrapped(), prompt(), 6, temperature=0), generate(model, prompt(), 6, temperature=0))
    with pytest.raises(ValueError, match="use_cache=False"):
        generate(Wrapped(), prompt(), 1, use_cache=True)


def test_the_memory_formula_counts_what_the_cache_holds():
    model = make()
    cache = KVCache(model.config.n_layers)
    with torch.no_grad():
        model(prompt(T=7, B=3), cache=cache)
    c = model.config
    assert cache.nbytes() == kv_cache_bytes(c, 7, batch_size=3) == 2 * c.n_layers * c.kv_heads * c.d_head * 7 * 3 * 4
    assert kv_cache_bytes(c.with_(n_kv_heads=4), 7) == 4 * kv_cache_bytes(c, 7)  # GQA: 1 kv head instead of 4


def test_absolute_positions_refuse_to_run_past_their_table_with_a_cache():
    torch.manual_seed(0)
    model = TransformerLM(TransformerConfig.classic(vocab_size=VOCAB, d_model=32, n_heads=4, max_seq_len=8))
    cache = KVCache(model.config.n_layers)
    with torch.no_grad():
        model(prompt(T=8), cache=cache)
        with pytest.raises(ValueError, match="max_seq_len=8"):
            model(prompt(T=1), cache=cache)
