"""Long runs a reader can see without running them: publishing a ``full`` run's results into the repository.

A ``full`` profile takes minutes to hours. A maintainer who has run one (``python -m mlcourse run <chapter>
--profile full``) publishes what a reader should see with ``python -m mlcourse publish <chapter>``:

    chapters/published/<stem>/full/
        results.json      the numbers the chapter measured (copied from runs/<stem>/full/)
        provenance.json   where they come from: machine, torch, device, date, commit, wall time, load
        *.png *.svg       the run's figures; small *.jsonl logs (metrics, samples)

never weights or checkpoints (:data:`NEVER_PUBLISHED`). A chapter shows the full run it finds with
:func:`find_results`: the reader's own ``runs/<stem>/full/`` first (their machine, their run), else the published
one, each labelled as such by :func:`describe_source`.

The book's execution cache keys a notebook on its code only, so a page cached before a full run would keep saying
that the run does not exist. :func:`drop_stale_cache` removes the cache record of every chapter whose full
results are newer than its cached execution; ``python -m mlcourse book`` calls it before building.

What it deliberately does not do: upload anything, or publish a ``quick`` run (every build makes its own).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlcourse.course.paths import repo_root, runs_dir
from mlcourse.course.results import RESULTS_FILE, load_results, read_json

RUN_RECORD = "run.json"  # written by the runner next to results.json: wall time, machine, commit
PROVENANCE = "provenance.json"
FIGURE_SUFFIXES = (".png", ".svg")
LOG_SUFFIXES = (".jsonl",)
MAX_LOG_BYTES = 2_000_000  # a metrics or samples log larger than this stays local
NEVER_PUBLISHED = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".npz")


def published_dir() -> Path:
    """``<root>/chapters/published``: the tracked folder of published runs."""
    return repo_root() / "chapters" / "published"


@dataclass(frozen=True)
class FoundResults:
    """A full run's results and where they come from (:func:`find_results`)."""

    results: dict[str, Any]
    folder: Path  # the folder holding results.json
    source: str  # "own" (runs/ on this machine) or "published" (chapters/published/)
    provenance: dict[str, Any]  # run.json / provenance.json, {} when the run did not record one


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, ``{}`` when there is none; a broken file raises :func:`read_json`'s error."""
    return read_json(path, "run or publish again") or {}


def find_results(stem: str, profile: str = "full") -> FoundResults | None:
    """The reader's own ``runs/<stem>/<profile>/`` results, else the published ones, else ``None``."""
    own = load_results(stem, profile)
    if own is not None:
        folder = runs_dir() / stem / profile
        return FoundResults(own, folder, "own", _read_json(folder / RUN_RECORD))
    folder = published_dir() / stem / profile
    published = _read_json(folder / RESULTS_FILE)
    if not published:
        return None
    return FoundResults(published, folder, "published", _read_json(folder / PROVENANCE))


def describe_source(found: FoundResults) -> str:
    """One Markdown sentence saying which run produced these numbers: machine, date, commit, wall time."""
    p = found.provenance
    where = f"`{found.folder.relative_to(repo_root())}/`" if found.folder.is_relative_to(repo_root()) else f"`{found.folder}`"
    details = []
    if p.get("machine"):
        details.append(p["machine"])
    if p.get("device"):
        details.append(f"device `{p['device']}`")
    if p.get("finished_utc"):
        details.append(f"finished {p['finished_utc'][:16].replace('T', ' ')} UTC")
    if p.get("commit"):
        details.append(f"commit `{p['commit'][:10]}`" + (" with local changes" if p.get("dirty") else ""))
    if p.get("wall_s") is not None:
        details.append(f"wall time {p['wall_s'] / 60:.1f} min")
    if p.get("load_note"):
        details.append(p["load_note"])
    said = "; ".join(details) if details else "no run record"
    if found.source == "own":
        return f"Your own `full` run on this machine, from {where} ({said})."
    return (f"A `full` run **published by the course's maintainers**, from {where} ({said}). "
            "Your own full run, when you do one, replaces it on your machine.")


def publish(stem: str, profile: str = "full") -> Path:
    """Copy ``runs/<stem>/<profile>/``'s results, run record, figures and small logs into the published folder.

    Raises ``FileNotFoundError`` (saying which command to run) when the run has not produced results yet. The
    previous publication of the same chapter is replaced only after the new one is complete.
    """
    source = runs_dir() / stem / profile
    if not (source / RESULTS_FILE).exists():
        raise FileNotFoundError(f"{source / RESULTS_FILE} does not exist: run `python -m mlcourse run {stem} "
                                f"--profile {profile}` first, then publish.")
    target = published_dir() / stem / profile
    staging = target.with_name(f".{profile}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(source / RESULTS_FILE, staging / RESULTS_FILE)
    record = _read_json(source / RUN_RECORD)
    record["published_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (staging / PROVENANCE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.suffix in NEVER_PUBLISHED or "checkpoint" in path.parts:
            continue
        small_log = path.suffix in LOG_SUFFIXES and path.stat().st_size <= MAX_LOG_BYTES
        if path.suffix in FIGURE_SUFFIXES or small_log:
            copy = staging / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


#: Studies a chapter shows besides its own full run (``python -m mlcourse scaling`` for chapter 14).
SHOWN_WITH = {"p14_pretraining": ("p14_scaling_law",)}


def _newest_results_time(stem: str) -> float | None:
    """Modification time of the newest full results (own or published) of ``stem`` or a study it shows, or None."""
    times = [p.stat().st_mtime for name in (stem, *SHOWN_WITH.get(stem, ()))
             for p in (runs_dir() / name / "full" / RESULTS_FILE, published_dir() / name / "full" / RESULTS_FILE)
             if p.exists()]
    return max(times) if times else None


def drop_stale_cache(cache_path: Path, stems: list[str]) -> list[str]:
    """Remove the execution-cache record of each chapter whose full results are newer than that record.

    ``cache_path`` is Jupyter Book's jupyter-cache folder (``_build/.jupyter_cache``). Returns the stems whose
    record was dropped (those pages are executed again by the build, and then show the full run).
    """
    if not (cache_path / "global.db").exists():
        return []
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_path))
    dropped = []
    for record in cache.list_cache_records():
        stem = Path(record.uri).stem
        if stem not in stems or "chapters" not in Path(record.uri).parts:  # exercises share the stem: not theirs
            continue
        newest = _newest_results_time(stem)
        created = record.created.replace(tzinfo=timezone.utc) if record.created.tzinfo is None else record.created
        if newest is not None and newest > created.timestamp():
            cache.remove_cache(record.pk)
            dropped.append(stem)
    return dropped


def _git(*args: str) -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_description() -> str:
    """E.g. ``"Linux x86_64, 2 CPU cores, torch 2.13.0"``: what the run's wall time was measured on."""
    import os
    import platform

    import torch

    text = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        text += ", Apple MPS"
    return text


def write_run_record(folder: Path, stem: str, profile: str, parameters: dict[str, Any], started: datetime,
                     wall_s: float, load_start: float | None) -> Path:
    """Write ``folder/run.json``: what ran, where, when, at which commit and how long it took.

    ``load_start`` is the 1-minute load average when the run began: when it (or the load at the end) exceeds the
    number of cores, the record says the machine was shared, so the wall time is read as an upper bound.
    """
    import os

    from mlcourse.course.atomic import write_json_atomic

    results = _read_json(folder / RESULTS_FILE)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy = max(x for x in (load_start, load_end, 0.0) if x is not None)
    record = {
        "stem": stem, "profile": profile, "parameters": parameters, "machine": machine_description(),
        "device": results.get("device"), "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_s": round(wall_s, 1),
        "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "load_average": [load_start, load_end],
        "load_note": ("machine shared with other jobs during the run (load average above the core count)"
                      if busy > (os.cpu_count() or 1) else None),
    }
    return write_json_atomic(folder / RUN_RECORD, record, indent=2, sort_keys=True)
