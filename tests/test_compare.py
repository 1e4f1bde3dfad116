"""The base-vs-tuned comparison (chapter 17): identical inputs to every model, confidences that are probabilities,
option log-likelihoods that agree with a direct computation, segment labels and attention masses that add up."""

from __future__ import annotations

import pytest
import torch

from mlcourse.analysis import compare


def tiny_mistral(seed: int):
    """A random 2-layer MistralForCausalLM with a 50-token vocabulary (different weights per seed)."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    config = MistralConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                           bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return MistralForCausalLM(config).eval()


def record_inputs(model) -> list[torch.Tensor]:
    """Every (ids, mask) the model's embedding layer and forward receive, in call order."""
    seen: list[torch.Tensor] = []
    model.model.embed_tokens.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    return seen


PROMPTS = [[1, 5, 6, 7], [1, 9], [1, 3, 4, 5, 6, 7, 8, 9, 10], [1]]


def test_every_model_reads_identical_token_ids():
    models = {"a": tiny_mistral(0), "b": tiny_mistral(1)}
    seen = {name: record_inputs(m) for name, m in models.items()}
    table = compare.compare_generations(models, PROMPTS, str, eos_id=2, pad_id=0, max_new_tokens=5, batch_size=3)
    assert len(table) == 2 * len(PROMPTS)
    # The first call of each batch is the prompt itself: the same ids, padding included, for both models.
    firsts = {name: [s for s in calls if s.shape[1] > 1] for name, calls in seen.items()}
    assert len(firsts["a"]) == len(firsts["b"]) == 2
    for x, y in zip(firsts["a"], firsts["b"]):
        assert torch.equal(x, y)
    # and the prompts sit right-aligned (left padding), in full.
    flat = {tuple(row[row != 0].tolist()) for batch in firsts["a"] for row in batch}
    assert flat == {tuple(p) for p in PROMPTS}
    # different weights, so the answers may differ; the inputs may not.
    assert (table.groupby("model")["item"].apply(list) == [list(range(4))] * 2).all()


def test_confidences_are_the_probabilities_of_the_generated_tokens():
    model = tiny_mistral(0)
    got = compare.generate_with_confidence(model, PROMPTS[:1], eos_id=2, pad_id=0, max_new_tokens=4)
    row = got.iloc[0]
    seq = torch.tensor([PROMPTS[0] + row["ids"]])
    logp = model(seq).logits.log_softmax(-1)[0]
    n = len(PROMPTS[0])
    direct = [logp[n - 1 + k, seq[0, n + k]].exp().item() for k in range(len(row["ids"]))]
    assert row["token_probs"][:len(direct)] == pytest.approx(direct, abs=1e-5)
    assert all(0 <= e <= torch.log(torch.tensor(50.0)).item() + 1e-5 for e in row["entropies"])


def test_left_pad_truncates_from_the_left_and_flags_it():
    ids, mask, cut = compare.left_pad([[1, 2, 3, 4], [5]], pad_id=0, max_len=3)
    assert ids.tolist() == [[2, 3, 4], [0, 0, 5]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert cut == [True, False]


def test_choice_logits_match_a_direct_sum_of_log_probabilities():
    model = tiny_mistral(0)
    prompts, options = [[1, 5, 6], [1, 7]], [[[10, 11], [12]], [[13], [14, 15, 16]]]
    scores = compare.choice_logits(model, prompts, options, pad_id=0, batch_size=3)
    for i, (p, opts) in enumerate(zip(prompts, options)):
        for c, o in enumerate(opts):
            seq = torch.tensor([p + o])
            logp = model(seq).logits.log_softmax(-1)[0]
            direct = sum(logp[len(p) - 1 + k, o[k]].item() for k in range(len(o)))
            assert scores[i, c].item() == pytest.approx(direct, abs=1e-4)
    with pytest.raises(ValueError, match="same number of options"):
        compare.choice_logits(model, prompts, [[[10]], [[11], [12]]], pad_id=0)


class CharTokenizer:
    """One token per character, with offsets: enough to test the segment labels."""

    bos_token_id = 1

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}


def test_segment_ids_label_each_token_by_where_it_came_from():
    ids, labels = compare.segment_ids(CharTokenizer(), "[I] ab\ncd [/I]", {"instruction": "ab", "content": "cd"})
    assert ids[0] == 1 and len(ids) == len(labels) == 15
    assert "".join({"template": "t", "instruction": "i", "content": "c"}[x] for x in labels) == "tttttiitccttttt"
    with pytest.raises(ValueError, match="not in the text"):
        compare.segment_ids(CharTokenizer(), "abc", {"instruction": "zz"})


def test_attention_masses_of_each_head_sum_to_one():
    from mlcourse.model.transformer import TransformerConfig, TransformerLM

    torch.manual_seed(0)
    lm = TransformerLM(TransformerConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=2, max_seq_len=16)).eval()
    table = compare.attention_mass(lm, [1, 2, 3, 4, 5, 6], ["template", "instruction", "instruction", "content",
                                                           "content", "template"])
    assert set(table.segment) == {"template", "instruction", "content"}
    sums = table.groupby(["layer", "head"])["mass"].sum()
    assert len(sums) == 4 and sums.to_numpy() == pytest.approx(1.0, abs=1e-5)


def test_wilson_interval_contains_the_estimate_and_stays_in_range():
    lo, hi = compare.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and 0.2 < hi < 0.35  # known value: 0.278
    assert compare.wilson_interval(5, 10)[0] == pytest.approx(0.2366, abs=1e-3)
    assert compare.wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_failure_modes_are_assigned_in_the_documented_order():
    base = dict(correct=False, refused=False, should_refuse=False, format_ok=True, stopped=True, response="x")
    assert compare.failure_mode(**{**base, "correct": True, "stopped": False}) == "correct"
    assert compare.failure_mode(**{**base, "stopped": False}) == "never stops"
    assert compare.failure_mode(**{**base, "response": " "}) == "empty answer"
    assert compare.failure_mode(**{**base, "refused": True}) == "false refusal"
    assert compare.failure_mode(**{**base, "should_refuse": True}) == "fabrication"
    assert compare.failure_mode(**{**base, "format_ok": False}) == "format violation"
    assert compare.failure_mode(**base) == "wrong answer"
