"""Build the site with Jupyter Book v1, warnings as errors, in one of two execution modes.

- ``cache`` (``make book``): notebooks run with their default (quick) profile, results cached by
  jupyter-cache, so a reader's site shows the reader's own results and unchanged notebooks are not re-run.
- ``off`` (CI): the stored outputs committed with each notebook are rendered as they are; CI has already
  executed every notebook once under nbval, so executing again would double its time.

The mode is applied by writing ``_build/_config.<mode>.yml``, a copy of ``_config.yml`` with only
``execute.execute_notebooks`` changed, so ``_config.yml`` stays the single source of the configuration.

Serves every chapter: ``make book`` and CI build the whole site with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from mlcourse.course.catalog import available
from mlcourse.course.paths import repo_root
from mlcourse.course.published import drop_stale_cache

MODES = ("cache", "off")


def derived_config(root: Path, execute: str) -> Path:
    """Write and return ``_build/_config.<execute>.yml``: ``_config.yml`` with the execution mode set."""
    if execute not in MODES:
        raise ValueError(f"Unknown execution mode {execute!r}; valid modes are {', '.join(MODES)}.")
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = execute
    target = root / "_build" / f"_config.{execute}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


def build_book(execute: str = "cache") -> int:
    """Run ``jupyter-book build`` with ``-W -n --keep-going``; return its exit status (0 = no warnings)."""
    root = repo_root()
    config = derived_config(root, execute)
    if execute == "cache":
        # The cache keys a page on its code only: a page cached before a full run (own or published) would keep
        # saying that the run does not exist. Drop those records so that the build executes them again. Sphinx
        # re-reads only sources newer than its last read, so the notebook's modification time is also set to now
        # (its content is untouched); without it the old page would stay (tests/test_full_run_book.py).
        chapters = {project.stem: project.chapter_path for project in available()}
        for stem in drop_stale_cache(root / "_build" / ".jupyter_cache", list(chapters)):
            chapters[stem].touch()
            print(f"{stem}: full results newer than its cached page; it is executed again")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(root), "--config", str(config), "-W", "-n", "--keep-going"]
    print("$", " ".join(command), flush=True)
    status = subprocess.call(command, cwd=root)
    index = root / "_build" / "html" / "index.html"
    if status == 0:
        print(f"site: {index}")
    else:
        print(f"the book build failed (exit {status}); the warnings above name the file and line.", file=sys.stderr)
    return status
