"""Where the course keeps things on disk: the repository root, downloaded data and executed runs.

The library is installed in editable mode from ``code/``, so the repository root is two levels above this
file. ``MLCOURSE_ROOT`` overrides it (useful when the package is installed elsewhere). Outside a clone (a
notebook downloaded alone, the package installed from ``pyproject.toml``), the root is ``./mlcourse_home``
(:data:`HOME`), the folder the notebooks' bootstrap cell (:mod:`mlcourse.course.bootstrap`) makes and marks, so a
notebook reopened later in the same folder finds its data without setting anything. Nothing here creates
files; callers create the folders they write into.

Serves every chapter: runs, data and the book all resolve their folders here.
"""

from __future__ import annotations

import os
from pathlib import Path

_MARKER = "_toc.yml"  # only the course's root has this file
HOME = "mlcourse_home"  # outside a clone: the course's home in the current folder, made by the bootstrap cell
_INSTALLED_FROM = Path(__file__).resolve().parents[2]  # code/mlcourse/course/paths.py -> the checkout's root


def repo_root() -> Path:
    """The course's root folder (the one holding ``_toc.yml``).

    Order: ``$MLCOURSE_ROOT``; the checkout this package was installed from; the current directory;
    ``./mlcourse_home`` (:data:`HOME`, outside a clone); a parent of the current directory. Raises
    ``FileNotFoundError`` saying what to set when none of them is marked as the course's root.
    """
    env = os.environ.get("MLCOURSE_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / _MARKER).exists():
            raise FileNotFoundError(f"MLCOURSE_ROOT={env} has no {_MARKER}; point it at the course's root folder.")
        return root
    for folder in [_INSTALLED_FROM, Path.cwd(), Path.cwd() / HOME, *Path.cwd().parents]:
        if (folder / _MARKER).exists():
            return folder
    raise FileNotFoundError(
        f"Cannot find the course's root folder (the one with {_MARKER}). Run from inside the checkout, run the "
        f"notebook's first cell (it makes ./{HOME}), or set MLCOURSE_ROOT=/path/to/the/course."
    )


def data_dir() -> Path:
    """``<root>/data``: downloaded and prepared data (git-ignored). ``$MLCOURSE_DATA`` overrides it."""
    env = os.environ.get("MLCOURSE_DATA")
    return Path(env).expanduser().resolve() if env else repo_root() / "data"


def runs_dir() -> Path:
    """``<root>/runs``: artifacts of executed chapter runs, ``runs/<chapter>/<profile>/`` (git-ignored)."""
    env = os.environ.get("MLCOURSE_RUNS")
    return Path(env).expanduser().resolve() if env else repo_root() / "runs"
