"""Chapter 17's probe suites: deterministic, built from held-out plays only, and shaped as documented."""

from __future__ import annotations

import json

import pytest

from mlcourse.data import probes
from mlcourse.data.instructions import REFUSAL, build_instructions
from mlcourse.data.shakespeare import load_records, split_works


@pytest.fixture(scope="module")
def suites():
    return {"in": probes.in_distribution(4), "oos": probes.out_of_scope(), "fp": probes.false_premises(6),
            "mc": probes.choice_probes(10), "edge": probes.edge_cases()}


def test_generators_are_deterministic(suites):
    again = {"in": probes.in_distribution(4), "oos": probes.out_of_scope(), "fp": probes.false_premises(6),
             "mc": probes.choice_probes(10), "edge": probes.edge_cases()}
    assert again == suites
    assert probes.false_premises(6, seed=1) != suites["fp"]


def test_probes_use_held_out_plays_only_and_no_training_line(suites):
    _, val_works = split_works()
    items = [*suites["in"], *suites["fp"], *[c.as_instruction() for c in suites["mc"]], *suites["edge"]]
    assert {e.work for e in items} <= set(val_works)
    train_text = set()
    for e in build_instructions()["train"]:
        train_text.update(x.strip().lower() for x in e.input.splitlines() if x.strip())
        train_text.add(e.output.strip().lower())
    heldout_lines = {r.text.strip().lower() for r in load_records() if r.work in val_works and r.speaker}
    for e in items:
        for line in e.input.splitlines():
            text = line.split(": ", 1)[-1].strip().lower()
            if text in heldout_lines:  # a passage line: it must not occur in any training example
                assert text not in train_text, (e.family, text)


def test_false_premises_expect_a_refusal_or_a_correction(suites):
    fp = suites["fp"]
    assert [e.family for e in fp] == [f for f in probes.FALSE_PREMISE_FAMILIES for _ in range(6)]
    assert all(e.output == REFUSAL and e.kind == "false_premise" for e in fp)
    for e in fp:
        accept = json.loads(e.meta)["accept"]
        if e.family == "wrong_speaker_quote":
            quoted = e.instruction.split('"')[1]
            speaker = e.instruction.split(" say ")[0].removeprefix("Why does ")
            assert f"{accept[0]}: {quoted}" in e.input and f"{speaker}: {quoted}" not in e.input
        elif e.family == "fake_scene":
            assert int(e.instruction.split("Act ")[1].split(",")[0]) >= 6
        elif e.family == "wrong_play_character":
            name = e.instruction.split("does ")[1].split(" speak")[0]
            assert f"{name}:" not in e.input


def test_choice_probes_have_one_right_option_in_random_places(suites):
    mc = suites["mc"]
    assert len(mc) == 30 and all(len(c.options) == 3 and len(set(c.options)) == 3 for c in mc)
    assert len({c.answer for c in mc}) == 3  # the right option is not always in the same place
    for c in mc:
        assert all(o in c.instruction for o in c.options)
        if c.family == "which_appears":
            assert f"{c.options[c.answer]}:" in c.input


def test_edge_cases_cover_empty_long_and_conflicting_inputs(suites):
    edge = {e.family: e for e in suites["edge"]}
    assert edge["empty_input"].input == "" and edge["empty_instruction"].instruction == ""
    assert len(edge["very_long_input"].input) > 1000
    assert {"conflicting_case", "conflicting_length"} <= set(edge)
