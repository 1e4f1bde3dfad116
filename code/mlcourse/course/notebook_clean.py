"""Clean stored notebook outputs: progress bars keep their final state only.

A progress bar (tqdm) redraws itself by writing a carriage return and the new state. Jupyter shows only the
last state, but the notebook file stores every redraw, and the book used to render them as a log of dozens of
lines. :func:`collapse_carriage_returns` does what a terminal does: for each line, only the text after its
last carriage return survives. It is applied

- when the book is built (``mlcourse.course.site_assets`` cleans each notebook as Sphinx reads it), so the site
  shows final bars whatever the stored file holds;
- to the stored files themselves, from the command line (idempotent; files that need nothing are not
  rewritten)::

      python -m mlcourse.course.notebook_clean chapters/*/*.ipynb exercises/*.ipynb solutions/*.ipynb

It does not touch cell sources, rich outputs or metadata, nor how a bar is drawn while a chapter runs.

Serves every chapter with a progress bar (1, 3-6, 9, 10, 12-15 at the time of writing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def collapse_carriage_returns(text: str) -> str:
    """The text a terminal would show: per line, what follows the last ``\\r`` (``\\r\\n`` is a plain newline)."""
    text = text.replace("\r\n", "\n")
    if "\r" not in text:
        return text
    lines = text.split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line else line for line in lines)


def _merge_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive stream outputs of the same stream, as Jupyter does when it displays them."""
    merged: list[dict[str, Any]] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = _joined(previous) + _joined(output)
        else:
            merged.append(dict(output, text=_joined(output)) if output.get("output_type") == "stream" else output)
    return merged


def _joined(output: dict[str, Any]) -> str:
    raw = output.get("text", "")
    return "".join(raw) if isinstance(raw, list) else raw


def clean_outputs(nb: dict[str, Any]) -> int:
    """Merge and collapse the stream outputs of every cell of ``nb`` (in place); return how many cells changed."""
    changed = 0
    for cell in nb.get("cells", []):
        outputs = cell.get("outputs") or []
        streams = [o for o in outputs if o.get("output_type") == "stream"]
        if not any("\r" in _joined(o) for o in streams):
            continue
        cleaned = _merge_streams(outputs)
        for output in cleaned:
            if output.get("output_type") == "stream":
                output["text"] = collapse_carriage_returns(output["text"]).splitlines(keepends=True)
        cell["outputs"] = cleaned
        changed += 1
    return changed


def clean_notebook_text(source: str) -> str:
    """``clean_outputs`` on a notebook given as JSON text; returns the input unchanged when nothing changes."""
    if "\\r" not in source:
        return source
    nb = json.loads(source)
    if not clean_outputs(nb):
        return source
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def clean_notebook_file(path: Path) -> int:
    """Clean the stored outputs of the notebook at ``path``; rewrite it only if something changed."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = clean_outputs(nb)
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: clean each notebook named; print what changed."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m mlcourse.course.notebook_clean NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for path in paths:
        changed = clean_notebook_file(path)
        if changed:
            print(f"{path}: {changed} cell(s) with progress bars collapsed to their final state")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
