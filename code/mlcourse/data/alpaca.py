"""Read and write instruction data in the Alpaca JSON format, so readers can tune chapter 16's code on their data.

What it does:
  * :func:`load_alpaca`: a JSON file holding a list of objects with ``instruction``, ``input`` (may be empty or
    absent) and ``output`` (the format of the Stanford Alpaca release), or JSON lines of the same objects,
    into :class:`~mlcourse.data.instructions.Instruction` records (family ``"custom"``). A missing field, a
    field that is not a string, or a file that is not a list raises ``ValueError`` naming the file, the item
    and the field.
  * :func:`save_alpaca`: the inverse (only the three Alpaca fields are written).

What it does not do: download any dataset, deduplicate or filter (your data, your choices), or apply a template.

Taught in chapter 16 (Instruction tuning with LoRA).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from mlcourse.data.instructions import Instruction

REQUIRED = ("instruction", "output")


def load_alpaca(path: str | os.PathLike) -> list[Instruction]:
    """The examples of an Alpaca-format file (a JSON list, or JSON lines when the name ends in ``.jsonl``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; write a JSON list of "
                                '{"instruction": ..., "input": ..., "output": ...} objects there.')
    text = path.read_text(encoding="utf-8")
    try:
        items = ([json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl"
                 else json.loads(text))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from err
    if not isinstance(items, list):
        raise ValueError(f"{path} holds a {type(items).__name__}, not a list of examples.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: item {i} is a {type(item).__name__}, not an object with "
                             f"{', '.join(REQUIRED)} and an optional input.")
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise ValueError(f"{path}: item {i} lacks the field(s) {missing}; every example needs "
                             f"'instruction' and 'output' ('input' may be empty). It has {sorted(item)}.")
        for key in ("instruction", "input", "output"):
            if key in item and not isinstance(item[key], str):
                raise ValueError(f"{path}: item {i} field {key!r} is a {type(item[key]).__name__}, not a string.")
        out.append(Instruction(item["instruction"], item.get("input", ""), item["output"]))
    return out


def save_alpaca(examples: Sequence[Instruction], path: str | os.PathLike) -> Path:
    """Write ``examples`` as an Alpaca JSON list (``instruction``, ``input``, ``output``) and return the path."""
    path = Path(path)
    rows = [{"instruction": e.instruction, "input": e.input, "output": e.output} for e in examples]
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
