"""Chapter 16's instruction data and its formatting: deterministic, split by play with no leakage, labels masked on
the prompt with the end-of-sequence token kept, Alpaca files read (and bad ones refused) clearly."""

from __future__ import annotations

import json
import re

import pytest
import torch

from mlcourse.data.alpaca import load_alpaca, save_alpaca
from mlcourse.data.instructions import (FAKE_CHARACTERS, FAKE_PLAYS, FAMILIES, REFUSAL, Instruction,
                                        build_instructions, format_ok)
from mlcourse.data.shakespeare import load_records, split_works
from mlcourse.finetune.instruction_format import (IGNORE, encode_dataset, encode_example, masked_lm_loss,
                                                  prompt_ids, sample_examples)


@pytest.fixture(scope="module")
def data():
    return build_instructions()


@pytest.fixture(scope="module")
def tokenizer():
    from mlcourse.tokenizers import BPETokenizer
    from mlcourse.tokenizers.hf_tokenizer import to_transformers

    text = "".join(f"{e.instruction}\n{e.input}\n{e.output}\n" for e in build_instructions()["train"][:300])
    return to_transformers(BPETokenizer.train(text + "[INST] [/INST]", 400))


def test_about_ten_thousand_examples_in_every_family(data):
    assert 9_000 <= len(data["train"]) + len(data["heldout"]) <= 12_000
    for split in ("train", "heldout"):
        assert {e.family for e in data[split]} == set(FAMILIES), split


def test_the_data_is_deterministic(data):
    again = build_instructions()
    assert [e.to_dict() for e in again["train"]] == [e.to_dict() for e in data["train"]]
    assert [e.to_dict() for e in again["heldout"]] == [e.to_dict() for e in data["heldout"]]
    other = build_instructions(seed=1)["train"]
    assert [e.to_dict() for e in other] != [e.to_dict() for e in data["train"]]


def test_split_by_play_and_no_heldout_line_in_any_training_example(data):
    _, val_works = split_works()
    assert {e.work for e in data["heldout"]} <= set(val_works)
    assert not {e.work for e in data["train"]} & set(val_works)
    heldout_lines = {r.text.strip().lower() for r in load_records() if r.work in val_works and r.speaker}
    for e in data["train"]:
        lines = [re.sub(r"^[A-Z][A-Z .'-]*: ", "", line) for line in e.input.splitlines()] + [e.output]
        assert not any(line.strip().lower() in heldout_lines for line in lines), e


def test_made_up_names_and_titles_are_in_no_play():
    records = load_records()
    speakers = {r.speaker for r in records}
    titles = {r.title for r in records}
    assert not set(FAKE_CHARACTERS) & speakers and not set(FAKE_PLAYS) & titles


def test_unanswerable_items_ask_for_the_refusal_and_answerable_ones_never_do(data):
    for e in data["train"]:
        assert (e.output == REFUSAL) == (e.kind == "unanswerable"), e


def test_reference_answers_obey_their_own_format_rules(data):
    for e in data["heldout"]:
        assert format_ok(e.output, e.meta), e


@pytest.mark.parametrize("meta, good, bad", [
    ({"rule": "capitals"}, "MY LORD", "My lord"),
    ({"rule": "n_words", "n": 3}, "to be or", "to be"),
    ({"rule": "json_keys", "keys": ["speaker", "lines"]}, '{"speaker": "A", "lines": 1}', '{"speaker": "A"}'),
    ({"rule": "end_phrase", "phrase": "Amen."}, "ROMEO. Amen.", "ROMEO."),
    ({"rule": "no_commas"}, "my lord my liege", "my lord, my liege"),
])
def test_format_rules_accept_and_reject(meta, good, bad):
    assert format_ok(good, meta) and not format_ok(bad, meta)


def test_loose_compliance_forgives_quotes_and_extra_lines():
    meta = {"rule": "capitals"}
    assert not format_ok('"MY LORD"\nmore text', meta) and format_ok('"MY LORD"\nmore text', meta, loose=True)


def test_labels_are_masked_on_the_prompt_and_keep_the_eos(tokenizer):
    example = Instruction("Who speaks first in this passage?", "ROMEO: Peace.", "ROMEO")
    ids, labels = encode_example(example, tokenizer)
    n_prompt = len(prompt_ids(example, tokenizer))
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] and labels[-1] == tokenizer.eos_token_id
    _, bug = encode_example(example, tokenizer, mask_eos=True)
    assert bug[-1] == IGNORE
    _, on_prompt = encode_example(example, tokenizer, train_on_prompt=True)
    assert on_prompt == ids


def test_a_chat_template_is_used_when_the_tokenizer_has_one(tokenizer):
    import copy

    chat = copy.deepcopy(tokenizer)
    chat.chat_template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }}"
                          " [/INST]{% endif %}{% endfor %}")
    example = Instruction("Say hi.", "", "hi")
    ids = prompt_ids(example, chat)
    assert ids == [chat.bos_token_id] + chat("[INST] Say hi. [/INST]", add_special_tokens=False)["input_ids"]


def test_batches_pad_with_the_pad_token_and_the_loss_ignores_padding(tokenizer):
    examples = [Instruction("Who?", "A: x", "A"), Instruction("Repeat line 1.", "B: a longer line here", "a longer")]
    data, dropped = encode_dataset(examples, tokenizer, 64)
    assert data.shape == (2, 2, 64) and dropped == 0
    assert (data[0, 0, -1] == tokenizer.pad_token_id) and (data[0, 1, -1] == IGNORE)
    batch = sample_examples(data, 4, 64, torch.Generator().manual_seed(0))
    assert batch.shape[:2] == (4, 2) and batch.shape[-1] <= 64

    class Uniform(torch.nn.Module):
        def forward(self, ids):  # (B, T) -> (B, T, V) of equal logits: loss = ln V on every labelled token
            return torch.zeros(*ids.shape, len(tokenizer))

    loss = masked_lm_loss(Uniform(), batch, None)
    assert torch.isclose(loss, torch.log(torch.tensor(float(len(tokenizer)))))
    short = int((data[0, 0] != tokenizer.pad_token_id).sum())  # the first example's length
    kept, dropped = encode_dataset(examples, tokenizer, short)
    assert len(kept) == 1 and dropped == 1  # the longer one is dropped, never cut
    with pytest.raises(ValueError, match="longer than max_len"):
        encode_dataset(examples, tokenizer, 3)


def test_alpaca_round_trip_and_missing_fields(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"instruction": "Say hi.", "input": "", "output": "hi"},
                                {"instruction": "Add.", "output": "2"}]), encoding="utf-8")
    examples = load_alpaca(path)
    assert [(e.instruction, e.input, e.output) for e in examples] == [("Say hi.", "", "hi"), ("Add.", "", "2")]
    assert load_alpaca(save_alpaca(examples, tmp_path / "again.json")) == examples
    path.write_text(json.dumps([{"instruction": "Say hi.", "input": ""}]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"item 0 lacks the field\(s\) \['output'\]"):
        load_alpaca(path)
    path.write_text(json.dumps({"instruction": "x"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a list"):
        load_alpaca(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_alpaca(tmp_path / "missing.json")


def test_scores_count_exact_answers_refusals_format_and_stopping():
    import pandas as pd

    from mlcourse.finetune.instruction_eval import behaviour_summary, family_table, is_refusal, score_responses

    examples = [Instruction("Who speaks first?", "A: x", "ROMEO", "first_speaker", "passage"),
                Instruction("Capitals.", "A: x", "WHOSE", "capitals", "format", meta='{"rule": "capitals"}'),
                Instruction("Lines of X?", "A: x", REFUSAL, "missing_character", "unanswerable"),
                Instruction("Who speaks first?", "A: x", "JULIET", "first_speaker", "passage")]
    responses = pd.DataFrame({"response": [" romeo.", "WHOM", REFUSAL, REFUSAL], "stopped": [True, True, True, False],
                              "n_tokens": [2, 2, 12, 40]})
    scores = score_responses(examples, responses)
    assert scores["correct"].tolist() == [True, False, True, False]
    assert scores["strict"].tolist()[1] and is_refusal(REFUSAL) and not is_refusal("ROMEO")
    summary = behaviour_summary({"m": scores})["m"]
    assert summary["refusal_rate"] == 1.0 and summary["false_refusal_rate"] == 1 / 3
    assert summary["eos_rate"] == 0.75 and summary["format_strict"] == 1.0
    table = family_table({"m": scores})
    assert table.loc["first_speaker", "m"] == 0.5 and table.loc["first_speaker", "n"] == 2
