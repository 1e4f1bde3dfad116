"""Where a chapter run keeps its artifacts, and how a chapter finds the results of another profile's run.

A chapter executed by the runner (``python -m mlcourse run``) or by the book build writes what it measured to
``runs/<stem>/<profile>/`` (figures, ``results.json``). When a reader has done the hours-long ``full`` run, the
quick chapter can show those numbers too: :func:`load_results` returns them, or ``None`` when that run does not
exist. JSON only (never pickle): a results file is data a reader can open and diff. :func:`read_json` is the one
reader of these JSON files (the published runs of :mod:`mlcourse.course.published` too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlcourse.course.atomic import write_json_atomic
from mlcourse.course.paths import runs_dir
from mlcourse.course.profiles import check_profile

RESULTS_FILE = "results.json"


def run_dir_for(stem: str, profile: str, run_dir: str | os.PathLike | None = None) -> Path:
    """The folder for this chapter run (created): ``run_dir`` if given, else ``runs/<stem>/<profile>/``."""
    check_profile(profile)  # also when run_dir is given: the profile decides what the chapter runs
    folder = Path(run_dir) if run_dir else runs_dir() / stem / profile
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_results(folder: Path, results: dict[str, Any]) -> Path:
    """Write ``results`` as ``folder/results.json`` atomically (a killed write never leaves half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(folder / RESULTS_FILE, results, indent=2, sort_keys=True, default=float)


def load_results(stem: str, profile: str) -> dict[str, Any] | None:
    """The ``results.json`` of ``runs/<stem>/<profile>/``, or ``None`` when that run has not been done.

    Raises ``ValueError`` naming the file when it exists but is not valid JSON (delete it and re-run).
    """
    return read_json(runs_dir() / stem / profile / RESULTS_FILE, f"re-run the {profile} profile")


def read_json(path: Path, what_to_do: str) -> Any:
    """The JSON in ``path``, or ``None`` when there is no such file.

    Raises ``ValueError`` naming the file when it is not valid JSON: "delete it and ``what_to_do``" (e.g. "re-run
    the full profile"), since a half-written or hand-edited file is never worth repairing.
    """
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and {what_to_do}.") from err
