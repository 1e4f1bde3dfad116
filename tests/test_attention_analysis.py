"""mlcourse.analysis.attention and .head_detectors on a tiny random Mistral-style model (no data, seconds):
the extracted weights are the model's own, entropy and rollout match hand-computed values, ablation and
intervention touch only what they name, and each detector fires on the pattern it names."""

from __future__ import annotations

import math

import pytest
import torch
from mlcourse.analysis import attention as aa
from mlcourse.analysis import head_detectors as hd
from mlcourse.model.transformer import TransformerConfig, TransformerLM

L, H, T, V = 2, 4, 10, 50


@pytest.fixture
def model() -> TransformerLM:
    torch.manual_seed(0)
    config = TransformerConfig.mistral(vocab_size=V, d_model=32, n_layers=L, n_heads=H, n_kv_heads=2, max_seq_len=16)
    return TransformerLM(config).eval()


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(0, V, (3, T), generator=torch.Generator().manual_seed(1))


def test_weights_are_causal_distributions_and_the_logits_are_the_fast_paths(model, ids):
    maps = aa.attention_maps(model, ids)
    assert maps.weights.shape == (3, L, H, T, T)
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(3, L, H, T))
    upper = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    assert (maps.weights[..., upper] == 0).all(), "keys after the query must get exactly zero weight"
    with torch.no_grad():
        torch.testing.assert_close(maps.logits, model(ids), atol=1e-5, rtol=1e-4)  # fast path, same model


def test_weights_equal_the_models_own_explicit_weights_and_the_path_is_restored(model, ids):
    maps = aa.attention_maps(model, ids)
    assert all(layer.self_attn.path == "fast" for layer in model.layers)
    explicit = TransformerLM(model.config.with_(attention_path="explicit"))
    explicit.load_state_dict(model.state_dict())
    with torch.no_grad():
        explicit(ids)
    torch.testing.assert_close(maps.weights, torch.stack(explicit.attention_weights(), dim=1))


def test_the_path_is_restored_even_when_the_forward_fails(model):
    with pytest.raises(ValueError):
        aa.attention_maps(model, torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(RuntimeError), aa.explicit_attention(model):
        raise RuntimeError("boom")
    assert all(layer.self_attn.path == "fast" for layer in model.layers)


def test_entropy_of_a_one_hot_row_is_zero_and_of_a_uniform_row_is_log_n():
    rows = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    torch.testing.assert_close(aa.entropy_nats(rows), torch.tensor([0.0, math.log(4)]))


def test_normalised_entropy_is_one_for_the_uniform_causal_head_and_nan_at_row_0():
    ne = aa.normalised_entropy(aa.uniform_causal(6))
    assert math.isnan(ne[0].item())
    torch.testing.assert_close(ne[1:], torch.ones(5))


def test_rollout_matches_a_two_layer_case_computed_by_hand():
    a1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # layer 1: both queries read key 0
    a2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # layer 2: each query reads itself
    weights = torch.stack([a1, a2])[:, None]  # (L=2, H=1, 2, 2)
    # A1' = 0.5 a1 + 0.5 I = [[1, 0], [.5, .5]]; A2' = I; rollout = A2' A1'
    torch.testing.assert_close(aa.attention_rollout(weights), torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    two_heads = torch.stack([a2, a1])[None]  # (L=1, H=2): mean = [[1, 0], [.5, .5]]; 0.5 mean + 0.5 I
    torch.testing.assert_close(aa.attention_rollout(two_heads), torch.tensor([[1.0, 0.0], [0.25, 0.75]]))


def test_ablating_a_head_changes_only_that_heads_slice_of_the_o_proj_input(model, ids):
    seen = []
    hook = model.layers[1].self_attn.o_proj.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        reference = model(ids)
        with aa.ablate_heads(model, [(1, 2)]):
            model(ids)
    hook.remove()
    before, after = seen[:2]
    d = model.config.d_head
    changed = (before != after).any(dim=(0, 1)).view(H, d).any(-1)
    assert changed.tolist() == [False, False, True, False]
    assert (after[..., 2 * d:3 * d] == 0).all()
    with torch.no_grad():
        assert torch.equal(model(ids), reference), "the ablation hook must be removed after the block"


def test_ablation_table_ranks_every_head_and_the_intact_model_is_unchanged(model, ids):
    x, y = ids[:, :-1], ids[:, 1:]
    base = aa.heldout_loss(model, x, y)
    table = aa.head_ablation_table(model, x, y)
    assert len(table) == L * H and table["rank"].tolist() == list(range(1, L * H + 1))
    assert table["delta_loss"].is_monotonic_decreasing and table.attrs["base_loss"] == base
    assert aa.heldout_loss(model, x, y) == base


def test_heldout_loss_is_the_training_loops_evaluate_on_the_same_windows(model, ids):
    from mlcourse.training.loop import evaluate

    x, y = ids[:, :-1], ids[:, 1:]
    assert aa.heldout_loss(model, x, y, batch_size=2) == evaluate(model, ids, batch_size=2)
    with torch.no_grad():
        by_hand = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    assert aa.heldout_loss(model, x, y, batch_size=len(x)) == pytest.approx(by_hand, rel=1e-6)
    with pytest.raises(ValueError, match="shifted left by one"):
        aa.heldout_loss(model, x, x)


def test_bad_heads_and_modes_raise_clear_errors(model):
    with pytest.raises(ValueError, match="layer=5"), aa.ablate_heads(model, [(5, 0)]):
        pass
    with pytest.raises(ValueError, match="mode"), aa.ablate_heads(model, [(0, 0)], mode="random"):
        pass


def test_an_identity_edit_changes_nothing_and_a_knock_out_renormalises_the_row(model, ids):
    with torch.no_grad():
        reference = model(ids)
    with aa.edit_attention(model, 0, 1, lambda p: p), torch.no_grad():
        torch.testing.assert_close(model(ids), reference, atol=1e-5, rtol=1e-4)
    pattern = aa.uniform_causal(4)[None]
    edited = aa.knock_out_key(3, 0)(pattern)
    torch.testing.assert_close(edited[0, 3], torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3]))
    torch.testing.assert_close(edited[0, :3], pattern[0, :3])
    assert model.layers[0].self_attn.edit_weights is None and model.layers[0].self_attn.path == "fast"


def test_an_edit_reaches_the_output_only_from_its_layer_on(model, ids):
    with aa.edit_attention(model, 1, 0, lambda p: torch.eye(T).expand_as(p)):
        maps = aa.attention_maps(model, ids)
    torch.testing.assert_close(maps.weights[:, 1, 0], torch.eye(T).expand(3, T, T))
    assert not torch.equal(maps.weights[:, 1, 1], torch.eye(T).expand(3, T, T))


def test_detectors_fire_on_the_pattern_they_name():
    prev = torch.diag(torch.ones(T - 1), -1)
    prev[0, 0] = 1.0  # (T, T) previous-token head
    first = torch.zeros(T, T)
    first[:, 0] = 1.0
    weights = torch.stack([prev, first])[None, None]  # (B=1, L=1, H=2, T, T)
    ids = hd.repeated_random_tokens(1, T // 2, V, seed=0)
    # the first-token head's query 1 reads key 0, which is also its previous token: 1 of T - 1 queries
    torch.testing.assert_close(hd.previous_token_score(weights), torch.tensor([[1.0, 1.0 / (T - 1)]], dtype=torch.float64))
    torch.testing.assert_close(hd.first_token_score(weights), torch.tensor([[1.0 / (T - 1), 1.0]], dtype=torch.float64))
    induction = torch.zeros(T, T)  # second half query i reads j = i - T/2 + 1, the token after its first copy
    induction[0, 0] = 1.0
    for i in range(1, T):
        induction[i, i - T // 2 + 1 if i >= T // 2 else i - 1] = 1.0
    scores = hd.induction_score(induction[None, None, None], ids)
    assert scores.item() == pytest.approx(1.0)
    assert hd.duplicate_token_score(induction[None, None, None], ids).item() == pytest.approx(0.0)


def test_the_uniform_head_scores_its_own_baseline_and_detector_frame_is_tidy():
    ids = hd.repeated_random_tokens(2, 5, V, seed=3)
    weights = aa.uniform_causal(10).expand(2, 1, 2, 10, 10)
    frame = hd.detector_frame(weights, ids, is_delimiter=ids % 3 == 0)
    assert set(frame.detector) == {"previous-token", "first-token", "duplicate-token", "induction", "delimiter"}
    assert len(frame) == 5 * 2
    torch.testing.assert_close(torch.tensor(frame.lift.values), torch.ones(10, dtype=torch.float64))


def test_repeated_random_tokens_repeat_once_without_repeats_inside_a_half():
    ids = hd.repeated_random_tokens(4, 8, 20, seed=0, low=5)
    assert ids.shape == (4, 16) and torch.equal(ids[:, :8], ids[:, 8:])
    assert all(len(set(row[:8].tolist())) == 8 for row in ids) and ids.min() >= 5
    with pytest.raises(ValueError, match="length=30"):
        hd.repeated_random_tokens(1, 30, 20)
