"""Instruction data for chapter 16, generated deterministically from the parsed Shakespeare corpus.

What it does:
  * :class:`Instruction`: one example in the Alpaca shape (``instruction``, ``input``, ``output``) plus where it
    came from (``work``), its task ``family`` and the ``kind`` of family (what a small model can or cannot do).
  * :func:`build_instructions`: about 10,000 examples over the plays (poems have no speakers), one per short
    passage (three consecutive spoken lines of one scene), the family drawn per passage from a seeded generator
    keyed by (work, position), so the data never depends on the order or the machine. Families:

    - ``passage`` (answer from the given passage): who speaks first, how many lines X speaks, repeat line n,
      which of three characters appears;
    - ``classify`` (choose among given options): is the scene from a comedy, a history or a tragedy;
    - ``format`` (verifiable instructions in the style of IFEval): capitals, exactly n words, JSON with given
      keys, end with a given phrase, no commas; :func:`format_ok` checks them (strict and loose);
    - ``recall`` (no passage): which of three plays a line is from;
    - ``unanswerable``: a character that is not in the passage, a line number the passage does not have, a play
      that does not exist; the right answer is the fixed :data:`REFUSAL`.

  * The split is **by play**: the held-out plays are the base model's own validation plays (chapter 14 never
    trained on them), so neither pretraining nor tuning ever saw a held-out line. A training passage with a line
    that also occurs verbatim in a held-out play ("My lord?") is dropped, so no held-out line appears in a
    training example. Held-out recall questions offer the three held-out titles: chance is 1/3 by construction.

What it does not do: tokenise or apply a prompt template (:mod:`mlcourse.finetune.instruction_format`), or read
other people's data (:mod:`mlcourse.data.alpaca` loads Alpaca-format JSON).

Taught in chapter 16 (Instruction tuning with LoRA); chapter 17 probes the tuned model with the same families.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import groupby

from mlcourse.data.shakespeare import GENRE, LineRecord, load_records, split_works

REFUSAL = "I cannot answer that from what I was given."
FAMILIES: dict[str, str] = {  # family -> kind
    "first_speaker": "passage", "count_lines": "passage", "nth_line": "passage", "which_appears": "passage",
    "genre": "classify",
    "capitals": "format", "n_words": "format", "json_keys": "format", "end_phrase": "format",
    "no_commas": "format",
    "which_play": "recall",
    "missing_character": "unanswerable", "missing_line": "unanswerable", "missing_play": "unanswerable",
}
KINDS = ("passage", "classify", "format", "recall", "unanswerable")
# How often each family is drawn: the refusal is one fixed sentence, the easiest target there is; at equal weight
# (3 of 14 families, 21%) the quick model learned to refuse nearly everything. At 0.6 each, about 14% of the data.
FAMILY_WEIGHTS = {f: (0.6 if kind == "unanswerable" else 1.0) for f, kind in FAMILIES.items()}
PLAY_GENRES = ("comedy", "history", "tragedy")
# Names and titles that are in no play of the corpus (the tests check it).
FAKE_CHARACTERS = ("BELVORIN", "CASSIMERE", "ODRANTO", "FENWICK", "MALVERIA", "TOBALDO", "QUENTILLA", "ROSMARCO")
FAKE_PLAYS = ("The Tragedy of Belvorin", "The Merry Knights of Kent", "King Edmund the Fourth",
              "The Two Maids of Padua", "Cassimere and Odranto")
END_PHRASES = ("So it is.", "Amen.", "That is all.")
MAX_LINE_CHARS = 56  # passage lines longer than this are skipped: the quick base model reads 128 tokens


@dataclass(frozen=True)
class Instruction:
    """One example: ``instruction`` + optional ``input`` -> ``output`` (the Alpaca fields), with its origin."""

    instruction: str
    input: str
    output: str
    family: str = "custom"
    kind: str = "custom"
    work: str = ""
    meta: str = ""  # JSON of what a checker needs (the format rule's arguments)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _passages(records: Sequence[LineRecord]) -> list[list[LineRecord]]:
    """Non-overlapping runs of three short consecutive spoken lines within one scene."""
    out = []
    for _, scene in groupby(records, key=lambda r: (r.work, r.act, r.scene)):
        lines = [r for r in scene if r.speaker]
        for i in range(0, len(lines) - 2, 3):
            chunk = lines[i:i + 3]
            if all(len(r.text) <= MAX_LINE_CHARS for r in chunk):
                out.append(chunk)
    return out


def render_passage(chunk: Sequence[LineRecord]) -> str:
    """``SPEAKER: text`` per line, one line each."""
    return "\n".join(f"{r.speaker}: {r.text}" for r in chunk)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z']+", text)


def _example(family: str, chunk: list[LineRecord], rng: random.Random, titles: dict[str, str],
             pool: Sequence[str]) -> Instruction | None:  # fmt: skip
    """One example of ``family`` on ``chunk``; ``pool``: the works recall options come from (same split)."""
    passage, work = render_passage(chunk), chunk[0].work
    speakers = sorted({r.speaker for r in chunk})
    make = lambda ins, out, inp=passage, meta=None: Instruction(  # noqa: E731
        ins, inp, out, family, FAMILIES[family], work, json.dumps(meta or {}))
    if family == "first_speaker":
        return make("Who speaks first in this passage?", chunk[0].speaker)
    if family == "count_lines":
        who = rng.choice(speakers)
        return make(f"How many lines does {who} speak in this passage?", str(sum(r.speaker == who for r in chunk)))
    if family == "nth_line":
        n = rng.randrange(3)
        return make(f"Repeat line {n + 1} of the passage without the speaker.", chunk[n].text)
    if family == "which_appears":
        others = [s for s in FAKE_CHARACTERS]
        options = [rng.choice(speakers), *rng.sample(others, 2)]
        rng.shuffle(options)
        return make(f"Which of these characters appears in the passage: {', '.join(options)}?",
                    next(o for o in options if o in speakers))
    if family == "genre":
        return make("Is this scene from a comedy, a history or a tragedy? Answer with one word.", GENRE[work])
    if family == "capitals":
        n = rng.randrange(3)
        words = _words(chunk[n].text)
        if not words:
            return None
        return make(f"Give the first word of line {n + 1} in capital letters.", words[0].upper(),
                    meta={"rule": "capitals"})
    if family == "n_words":
        n, k = rng.randrange(3), rng.randint(2, 4)
        words = _words(chunk[n].text)
        if len(words) < k:
            return None
        return make(f"Give the first {k} words of line {n + 1}, exactly {k} words.", " ".join(words[:k]),
                    meta={"rule": "n_words", "n": k})
    if family == "json_keys":
        out = json.dumps({"speaker": chunk[0].speaker, "lines": sum(r.speaker == chunk[0].speaker for r in chunk)})
        return make('Answer in JSON with keys "speaker" and "lines": who speaks first, and how many lines?', out,
                    meta={"rule": "json_keys", "keys": ["speaker", "lines"]})
    if family == "end_phrase":
        phrase = rng.choice(END_PHRASES)
        return make(f"Who speaks last? End your answer with '{phrase}'", f"{chunk[-1].speaker}. {phrase}",
                    meta={"rule": "end_phrase", "phrase": phrase})
    if family == "no_commas":
        order = list(dict.fromkeys(r.speaker for r in chunk))  # first appearance order
        return make("Name the speakers of this passage in order, without any commas.", " ".join(order),
                    meta={"rule": "no_commas"})
    if family == "which_play":
        line = max(chunk, key=lambda r: len(r.text)).text
        options = [work, *rng.sample([w for w in pool if w != work], 2)]
        rng.shuffle(options)
        names = "; ".join(titles[w] for w in options)
        return make(f"Which play is this line from: {names}?", titles[work], inp=line)
    if family == "missing_character":
        return make(f"How many lines does {rng.choice(FAKE_CHARACTERS)} speak in this passage?", REFUSAL)
    if family == "missing_line":
        return make(f"Repeat line {rng.randint(5, 9)} of the passage without the speaker.", REFUSAL)
    if family == "missing_play":
        return make(f"Who speaks first in {rng.choice(FAKE_PLAYS)}?", REFUSAL, inp="")
    raise ValueError(f"unknown family {family!r}; choose from {sorted(FAMILIES)}")


def build_instructions(records: Sequence[LineRecord] | None = None, *, seed: int = 0, train_every: int = 3
                       ) -> dict[str, list[Instruction]]:  # fmt: skip
    """``{"train": [...], "heldout": [...]}``: one example per passage, family drawn per (seed, work, passage).

    ``train_every``: a training play gives one example per ``train_every`` passages (3: about 8,700 training
    examples; with the 1,851 held-out ones, the seed's "about 10k"). Held-out plays give one per passage.

    Deterministic: the same records and seed give the same list on every machine (``random.Random`` seeded with
    a string hashes it with SHA-512, not Python's salted ``hash``).
    """
    records = list(load_records() if records is None else records)
    train_works, val_works = split_works()
    plays = [w for w in GENRE if GENRE[w] in PLAY_GENRES]
    titles = {r.work: r.title for r in records}
    heldout_lines = {r.text.strip().lower() for r in records if r.work in val_works and r.speaker}
    by_work: dict[str, list[LineRecord]] = {}
    for r in records:
        by_work.setdefault(r.work, []).append(r)
    out: dict[str, list[Instruction]] = {"train": [], "heldout": []}
    for split, works in (("train", train_works), ("heldout", val_works)):
        pool = sorted(w for w in works if w in plays and w in titles)
        for work in pool:
            for i, chunk in enumerate(_passages(by_work[work])):
                if split == "train" and i % train_every:
                    continue
                if split == "train" and any(r.text.strip().lower() in heldout_lines for r in chunk):
                    continue  # the verbatim-leak filter
                rng = random.Random(f"{seed}/{work}/{i}")
                family = rng.choices(sorted(FAMILIES), weights=[FAMILY_WEIGHTS[f] for f in sorted(FAMILIES)])[0]
                example = _example(family, chunk, rng, titles, pool)
                if example is not None:
                    out[split].append(example)
    return out


def family_counts(examples: Sequence[Instruction]) -> dict[str, int]:
    """``{family: count}`` in :data:`FAMILIES` order."""
    return {f: n for f in FAMILIES if (n := sum(e.family == f for e in examples))}


def format_ok(response: str, meta: str | dict, *, loose: bool = False) -> bool:
    """Whether ``response`` obeys the format rule in ``meta`` (IFEval-style, verifiable by code).

    ``loose`` forgives what IFEval's loose score forgives: surrounding whitespace, quotes and asterisks, and
    anything after the first line. An example without a rule is always compliant.
    """
    rule = (json.loads(meta) if meta else {}) if isinstance(meta, str) else meta  # "" (Alpaca data): no rule
    text = response.strip()
    if loose:
        text = (text.splitlines() or [""])[0].strip().strip("\"'*` ")
    kind = rule.get("rule")
    if kind is None:
        return True
    if kind == "capitals":
        return bool(re.search(r"[A-Za-z]", text)) and text == text.upper()
    if kind == "n_words":
        return len(_words(text) if loose else text.split()) == rule["n"]
    if kind == "json_keys":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return False
        return isinstance(value, dict) and sorted(value) == sorted(rule["keys"])
    if kind == "end_phrase":
        return text.endswith(rule["phrase"]) or (loose and text.lower().rstrip(".").endswith(
            rule["phrase"].lower().rstrip(".")))
    if kind == "no_commas":
        return "," not in text and bool(text)
    raise ValueError(f"unknown format rule {kind!r} in {rule}")
