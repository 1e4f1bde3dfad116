"""The one batched greedy decoding (mlcourse.model.generation.greedy_answers) that chapter 16 scores with and
chapter 17 compares with: batching and left padding change no answer, each truncation policy does what it says,
answers stop at the first <eos>, and both callers keep the policy they had before sharing it."""

from __future__ import annotations

import pytest
import torch

from mlcourse.analysis.compare import generate_with_confidence
from mlcourse.data.instructions import Instruction
from mlcourse.finetune.instruction_eval import generate_responses
from mlcourse.finetune.instruction_format import prompt_ids
from mlcourse.model.generation import greedy_answers
from test_compare import tiny_mistral  # random 2-layer Mistral, 50 tokens, 64 positions

PROMPTS = [[1, 5, 6, 7], [1, 9], list(range(3, 40)), [1], [1, 3, 4, 5, 6, 7, 8, 9, 10]]


def one_at_a_time(model, prompt: list[int], new: int, eos: int) -> list[int]:
    """The reference: greedy decoding of one unpadded prompt, the answer cut before its first ``eos``."""
    out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                         max_new_tokens=new, do_sample=False, eos_token_id=eos, pad_token_id=0)
    answer = out[0, len(prompt):].tolist()
    return answer[:answer.index(eos)] if eos in answer else answer


def prompts_seen(model) -> list[list[int]]:
    """The unpadded prompts (calls longer than one position) the model's embedding layer receives, in order."""
    seen: list[list[int]] = []

    def hook(module, args):
        if args[0].shape[1] > 1:
            seen.extend(row[row != 0].tolist() for row in args[0])
    model.model.embed_tokens.register_forward_pre_hook(hook)
    return seen


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("eos", [2, 30])
def test_batched_left_padded_answers_equal_one_prompt_at_a_time(seed, eos):
    model = tiny_mistral(seed)
    got = greedy_answers(model, PROMPTS, eos_id=eos, pad_id=0, max_new_tokens=6, max_len=20, batch_size=3)
    for prompt, row in zip(PROMPTS, got):
        assert row["ids"] == one_at_a_time(model, prompt[-14:], 6, eos), prompt  # keep_last: 20 - 6 tokens


def test_keep_last_cuts_long_prompts_from_the_left_and_keeps_the_answer_budget():
    model = tiny_mistral(1)
    seen = prompts_seen(model)
    got = greedy_answers(model, PROMPTS, eos_id=49, pad_id=0, max_new_tokens=6, max_len=20, batch_size=8)
    assert sorted(seen) == sorted(p[-14:] for p in PROMPTS)
    assert [r["truncated"] for r in got] == [False, False, True, False, False]
    assert all(len(r["ids"]) == 6 or r["stopped"] for r in got)


def test_shorten_answer_keeps_prompts_whole_and_shortens_the_batch_answers():
    model = tiny_mistral(1)
    seen = prompts_seen(model)
    got = greedy_answers(model, PROMPTS, eos_id=49, pad_id=0, max_new_tokens=6, max_len=12, batch_size=2,
                         truncation="shorten_answer")
    assert sorted(seen) == sorted(PROMPTS) and not any(r["truncated"] for r in got)
    # Batches by length: [1], [1, 9] -> room 10, 6 tokens; [1, 5, 6, 7], 9 tokens -> room 3; 37 tokens -> at least 1.
    assert [len(r["ids"]) for r in got] == [3, 6, 1, 6, 3] and not any(r["stopped"] for r in got)
    with pytest.raises(ValueError, match="truncation must be one of"):
        greedy_answers(model, PROMPTS, eos_id=2, pad_id=0, truncation="middle")


def test_answers_stop_at_the_first_eos_and_keep_its_probability():
    model = tiny_mistral(2)
    free = greedy_answers(model, PROMPTS[:2], eos_id=49, pad_id=0, max_new_tokens=6, scores=True)
    eos = free[1]["ids"][3]  # seed 2 answers [32, 31, 13, 23, ...] to [1, 9]: make its 4th token the <eos>
    got = greedy_answers(model, PROMPTS[:2], eos_id=eos, pad_id=0, max_new_tokens=6, scores=True)[1]
    assert got["stopped"] and got["ids"] == free[1]["ids"][:3]
    assert len(got["token_probs"]) == len(got["entropies"]) == 4  # the <eos> step counts
    assert got["token_probs"] == pytest.approx(free[1]["token_probs"][:4], abs=1e-6)
    assert not free[1]["stopped"] and len(free[1]["token_probs"]) == 6


class CharTokenizer:
    """One token per character (ids 3..47), ``<bos>`` 1, ``<pad>`` 0, no chat template: enough for the prompts."""

    bos_token_id, pad_token_id, eos_token_id = 1, 0, 30

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [3 + ord(ch) % 45 for ch in text]}

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(map(str, ids))


def test_chapter_17_keeps_the_last_tokens_and_chapter_16_keeps_the_whole_prompt():
    """The two callers of greedy_answers keep the policies they had before they shared it."""
    model, tok = tiny_mistral(0), CharTokenizer()
    confident = generate_with_confidence(model, PROMPTS, eos_id=30, pad_id=0, max_new_tokens=6, max_len=20)
    assert list(confident.columns) == ["ids", "token_probs", "entropies", "stopped", "truncated"]
    assert confident["truncated"].tolist() == [False, False, True, False, False]
    for prompt, row in zip(PROMPTS, confident.itertuples()):
        assert row.ids == one_at_a_time(model, prompt[-14:], 6, 30)
        assert len(row.token_probs) == len(row.ids) + row.stopped
    examples = [Instruction("ab", "", "x"), Instruction("say hi", "to me", "x"), Instruction("a" * 30, "b" * 10, "x")]
    seen = prompts_seen(model)
    responses = generate_responses(model, tok, examples, max_new_tokens=8, max_len=40, batch_size=1)
    prompts = [prompt_ids(e, tok) for e in examples]
    assert sorted(seen) == sorted(prompts) and len(prompts[2]) > 40  # the long prompt is read whole
    for prompt, row in zip(prompts, responses.itertuples()):
        answer = one_at_a_time(model, prompt, max(1, min(8, 40 - len(prompt))), 30)
        assert (row.response, row.n_tokens) == (tok.decode(answer), len(answer))
    assert responses["n_tokens"].tolist()[2] <= 1  # no room left after it: one token
