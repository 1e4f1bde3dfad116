"""Tests of the decoder-only transformer (mlcourse.model.transformer and its parts): shapes, causality, positions,
RoPE, grouped-query attention, the two attention paths, training sanity, parameter formulas, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mlcourse.model.attention import MultiHeadAttention
from mlcourse.model.gqa_attention import GroupedQueryAttention, repeat_kv
from mlcourse.model.size import MISTRAL_7B, flops_per_token, parameter_breakdown, parameter_count
from mlcourse.model.transformer import TransformerConfig, TransformerLM, count_parameters
from mlcourse.model.parts import (
    FeedForward,
    RMSNorm,
    RotaryEmbedding,
    apply_rope,
    sinusoidal_positions,
    sliding_window_mask,
)

VOCAB = 50


def tiny(kind: str = "classic", **changes) -> TransformerConfig:
    base = dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=32)
    return getattr(TransformerConfig, kind)(**{**base, **changes})


def model_of(config: TransformerConfig, seed: int = 0) -> TransformerLM:
    torch.manual_seed(seed)
    return TransformerLM(config)


def tokens(B: int, T: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


ALL_VARIANTS = [
    pytest.param(tiny("classic"), id="classic-sinusoidal"),
    pytest.param(tiny("classic", positions="learned", tie_embeddings=True), id="classic-learned-tied"),
    pytest.param(tiny("classic", norm_placement="post"), id="post-norm"),
    pytest.param(tiny("mistral"), id="mistral"),
    pytest.param(tiny("mistral", sliding_window=3), id="mistral-window3"),
]


@pytest.mark.parametrize("config", ALL_VARIANTS)
def test_logits_have_shape_batch_time_vocab(config):
    assert model_of(config)(tokens(3, 7)).shape == (3, 7, VOCAB)


@pytest.mark.parametrize("config", ALL_VARIANTS)
def test_changing_future_tokens_leaves_earlier_logits_unchanged(config):
    model, x = model_of(config).eval(), tokens(2, 12)
    x_future_changed = x.clone()
    x_future_changed[:, 6:] = (x[:, 6:] + 1) % VOCAB  # change positions 6..11 only
    with torch.no_grad():
        before, after = model(x), model(x_future_changed)
    assert torch.allclose(before[:, :6], after[:, :6], atol=1e-6)  # positions 0..5 cannot see 6..11
    assert not torch.allclose(before[:, 6:], after[:, 6:], atol=1e-3)  # ...while the changed ones do move


def test_sliding_window_hides_keys_older_than_the_window_in_one_layer():
    model, x = model_of(tiny("mistral", n_layers=1, sliding_window=3)).eval(), tokens(1, 10)
    x_old_changed = x.clone()
    x_old_changed[:, 0] = (x[:, 0] + 1) % VOCAB
    with torch.no_grad():
        a, b = model(x), model(x_old_changed)
    assert not torch.allclose(a[:, :3], b[:, :3], atol=1e-4)  # positions 0, 1, 2 read position 0
    assert torch.allclose(a[:, 3:], b[:, 3:], atol=1e-6)  # position 3 reads 1..3 only


def test_sliding_window_mask_keeps_the_last_window_keys_including_itself():
    expected = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(sliding_window_mask(4, 2), expected)
    assert torch.equal(sliding_window_mask(4, None), torch.ones(4, 4, dtype=torch.bool).tril())


def test_sinusoidal_positions_are_all_distinct_and_match_the_formula():
    table = sinusoidal_positions(100, 64)
    distances = torch.cdist(table, table) + torch.eye(100) * 1e9
    assert distances.min() > 1e-3  # no two of the 100 positions share an encoding
    p, i = 7, 5  # column 2i holds sin(p / 10000^(2i/d)), column 2i+1 the cosine
    assert math.isclose(table[p, 2 * i], math.sin(p / 10000 ** (2 * i / 64)), abs_tol=1e-5)
    assert math.isclose(table[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 64)), abs_tol=1e-5)


def test_rope_scores_depend_only_on_the_relative_position():
    torch.manual_seed(0)
    rotary, q, k = RotaryEmbedding(16), torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    cos, sin = rotary(torch.arange(40))

    def score(m: int, n: int) -> float:
        qm = apply_rope(q, cos[m : m + 1], sin[m : m + 1])
        kn = apply_rope(k, cos[n : n + 1], sin[n : n + 1])
        return float((qm * kn).sum())

    assert math.isclose(score(3, 1), score(30, 28), abs_tol=1e-4)  # same offset 2, far apart in absolute terms
    assert math.isclose(score(5, 5), score(20, 20), abs_tol=1e-4)
    assert not math.isclose(score(3, 1), score(3, 2), abs_tol=1e-3)  # a different offset gives another score


def test_rope_is_a_rotation_so_it_preserves_vector_length():
    cos, sin = RotaryEmbedding(8)(torch.arange(5))
    x = torch.randn(2, 3, 5, 8)
    assert torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-5)


def test_gqa_with_as_many_kv_heads_as_heads_equals_chapter_12_1_multi_head_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4, bias=True)
    gqa = GroupedQueryAttention(32, 4, 4, bias=True)
    gqa.load_state_dict(mha.state_dict())  # same names, same shapes
    x = torch.randn(2, 9, 32)
    expected, _ = mha(x, causal=True)
    assert torch.allclose(gqa(x), expected, atol=1e-6)


def test_gqa_equals_multi_head_attention_with_each_kv_head_copied_to_its_group():
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(32, 4, 2, bias=False, path="explicit")
    mha = GroupedQueryAttention(32, 4, 4, bias=False, path="explicit")
    with torch.no_grad():
        mha.q_proj.weight.copy_(gqa.q_proj.weight)
        mha.o_proj.weight.copy_(gqa.o_proj.weight)
        for name in ("k_proj", "v_proj"):  # (H_kv * d_head, d) -> (H * d_head, d), each kv head twice
            w = getattr(gqa, name).weight.view(2, 8, 32)
            getattr(mha, name).weight.copy_(repeat_kv(w[None], 2)[0].reshape(32, 32))
    x = torch.randn(2, 6, 32)
    assert torch.allclose(gqa(x), mha(x), atol=1e-6)
    assert gqa.k_proj.weight.shape == (16, 32)  # half the key parameters


@pytest.mark.parametrize("config", ALL_VARIANTS)
def test_fast_path_and_explicit_path_give_equal_logits(config):
    fast = model_of(config).eval()
    explicit = TransformerLM(config.with_(attention_path="explicit")).eval()
    explicit.load_state_dict(fast.state_dict())
    x = tokens(2, 11)
    with torch.no_grad():
        assert torch.allclose(fast(x), explicit(x), atol=1e-5)
    weights = explicit.attention_weights()
    assert len(weights) == config.n_layers and weights[0].shape == (2, config.n_heads, 11, 11)


def test_rmsnorm_matches_torch_and_layernorm_matches_the_formula():
    x = torch.randn(3, 5, 16) * 4 + 2
    ours, reference = RMSNorm(16, eps=1e-5), torch.nn.RMSNorm(16, eps=1e-5)
    assert torch.allclose(ours(x), reference(x), atol=1e-5)
    ln = torch.nn.LayerNorm(16)
    by_hand = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(ln(x), by_hand, atol=1e-5)


def test_swiglu_feed_forward_is_down_of_silu_gate_times_up():
    ffn, x = FeedForward(8, 12, "swiglu", bias=False), torch.randn(2, 3, 8)
    expected = ffn.down_proj(F.silu(ffn.gate_proj(x)) * ffn.up_proj(x))
    assert torch.allclose(ffn(x), expected) and ffn(x).shape == (2, 3, 8)


@pytest.mark.parametrize("kind", ["classic", "mistral"])
def test_two_layer_model_overfits_two_samples_within_100_steps(kind):
    model = model_of(tiny(kind, d_model=64), seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = tokens(2, 10, seed=1), tokens(2, 10, seed=2)
    for _ in range(100):
        loss = model.loss(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5, f"failed to overfit two samples: loss={loss.item():.3f}"


def test_the_model_and_the_training_loop_share_one_loss():
    from mlcourse.model.transformer import next_token_loss
    from mlcourse.training.loop import lm_loss

    model, window = model_of(tiny("mistral")), tokens(3, 11, seed=4)
    x, y = window[:, :-1], window[:, 1:]
    expected = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # mean over all B * T tokens
    assert torch.equal(model.loss(x, y), expected) and torch.equal(lm_loss(model, window, None), expected)
    low = model(x).to(torch.bfloat16)
    assert next_token_loss(low, y).dtype == torch.float32  # bf16 logits are scored in float32
    assert next_token_loss(model(x).double(), y).dtype == torch.float64  # float64 is kept


@pytest.mark.parametrize("config", ALL_VARIANTS)
def test_every_parameter_receives_a_finite_nonzero_gradient(config):
    model = model_of(config)
    model.loss(tokens(2, 10), tokens(2, 10, seed=1)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(param.grad).all(), f"non-finite gradient in {name}"
        assert param.grad.abs().sum() > 0, f"zero gradient in {name}"


@pytest.mark.parametrize("config", ALL_VARIANTS + [pytest.param(tiny("mistral", n_kv_heads=1, tie_embeddings=True),
                                                                id="mqa-tied")])
def test_parameter_formula_equals_the_parameters_built(config):
    assert parameter_count(config) == count_parameters(model_of(config))


def test_mistral_7b_formula_gives_7_24_billion_and_matches_a_meta_device_build():
    with torch.device("meta"):
        built = count_parameters(TransformerLM(MISTRAL_7B))
    assert parameter_count(MISTRAL_7B) == built == 7_241_732_096
    assert parameter_breakdown(MISTRAL_7B)["embeddings"] == 32000 * 4096


def test_flops_per_token_is_about_six_parameters_when_the_context_is_short():
    c = tiny("classic", d_model=256, n_layers=4, n_heads=4)
    non_embedding = parameter_count(c) - parameter_breakdown(c)["embeddings"]
    ratio = flops_per_token(c, 1, training=True) / (6 * non_embedding)
    assert 0.95 < ratio < 1.05  # the "6 N" rule of thumb, up to biases and norms


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(d_model=30, n_heads=4), "divisible"),
        (dict(n_heads=4, n_kv_heads=3), "divide"),
        (dict(norm="batchnorm"), "Unknown norm"),
    ],
)
def test_bad_configs_raise_errors_that_name_the_problem(bad, words):
    with pytest.raises(ValueError, match=words):
        TransformerLM(tiny("classic", **bad))


def test_too_long_or_unbatched_input_raises_a_clear_error():
    model = model_of(tiny("classic", max_seq_len=8))
    with pytest.raises(ValueError, match="max_seq_len=8"):
        model(tokens(1, 9))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(tokens(1, 5)[0])
