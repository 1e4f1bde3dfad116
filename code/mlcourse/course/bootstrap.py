"""The first code cell of every notebook: outside a clone of the course it installs the library and the data.

A notebook downloaded from the site, or opened in Colab or Binder, has no ``mlcourse`` to import. Its first
code cell (written by this module, tagged ``mlcourse-bootstrap`` and ``remove-cell`` so the site does not show
it) checks for the library; when it is missing the cell

1. installs, with pip, the library from ``MLCOURSE_SOURCE`` (default: the repository named in ``_config.yml``
   at its branch, ``git+<url>@<branch>``; any pip requirement works, e.g. a local checkout or a wheel) and the
   course's pinned run-time requirements (versions read from ``requirements.txt`` when the cell is written;
   torch is left alone when one is already installed, as on Colab);
2. makes a home for the course's data and runs (``MLCOURSE_ROOT``, default ``./mlcourse_home``) and fetches the
   corpus (``python -m mlcourse data``);

then the notebook continues. Inside a clone the cell finds ``mlcourse`` and does nothing.

The repository address lives in one place, ``_config.yml`` (``repository.url`` and ``repository.branch``),
which the site's launch buttons read too. After changing it, or a pin, rewrite the cells::

    python -m mlcourse.course.bootstrap chapters/*/*.ipynb exercises/*.ipynb solutions/*.ipynb

(idempotent: an up-to-date notebook is not rewritten). It does not execute notebooks.

Serves every chapter, exercise and solution notebook (Parts 1-3).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from mlcourse.course.paths import HOME, repo_root

TAG = "mlcourse-bootstrap"
TAGS = [TAG, "remove-cell"]
# What a notebook needs at run time (the rest of requirements.txt builds the book and runs the tests).
RUNTIME = ["numpy", "pandas", "scikit-learn", "matplotlib", "altair", "vl-convert-python", "tqdm", "safetensors",
           "filelock", "transformers", "tokenizers", "regex", "peft", "gensim", "sentencepiece"]  # fmt: skip
TORCH = "torch"


def repository(root: Path | None = None) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository`` section: the one place the address lives."""
    config = yaml.safe_load(((root or repo_root()) / "_config.yml").read_text(encoding="utf-8"))
    section = config.get("repository") or {}
    if not section.get("url"):
        raise ValueError("_config.yml has no repository.url; the bootstrap cell needs it.")
    return str(section["url"]).rstrip("/"), str(section.get("branch") or "main")


def pinned(root: Path | None = None) -> dict[str, str]:
    """``{name: "name==version"}`` for every exact pin in ``requirements.txt``."""
    pins = {}
    for line in ((root or repo_root()) / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(2)}"
    return pins


def cell_source(root: Path | None = None) -> str:
    """The bootstrap cell's code, with the repository and the pins of this checkout written into it."""
    url, branch = repository(root)
    pins = pinned(root)
    missing = [name for name in [*RUNTIME, TORCH] if name.lower() not in pins]
    if missing:
        raise ValueError(f"requirements.txt pins none of {missing}; the bootstrap cell installs them.")
    requirements = [pins[name.lower()] for name in RUNTIME]
    listed = ",\n        ".join(", ".join(json.dumps(r) for r in requirements[i:i + 4]) for i in range(0, len(requirements), 4))
    return f'''# Outside a clone of the course (a downloaded notebook, Colab, Binder) this cell installs the course's
# library and data; inside a clone it does nothing. MLCOURSE_SOURCE: where pip gets the library.
import importlib.util, os, pathlib, subprocess, sys
if importlib.util.find_spec("mlcourse") is None:
    source = os.environ.get("MLCOURSE_SOURCE", "git+{url}@{branch}")
    requirements = [
        {listed},
    ]
    if importlib.util.find_spec("torch") is None:  # Colab has torch; elsewhere install the course's pin
        requirements.append("{pins[TORCH]}")
    print("installing the course library from", source, "(a few minutes, once)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source, *requirements], check=True)
    home = pathlib.Path(os.environ.setdefault("MLCOURSE_ROOT", str(pathlib.Path("{HOME}").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    (home / "_toc.yml").touch()  # marks the folder as the course's root for mlcourse.course.paths
    subprocess.run([sys.executable, "-m", "mlcourse", "data"], check=True)
    importlib.invalidate_caches()'''


def _source_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def ensure_bootstrap_cell(nb: dict[str, Any], source: str) -> bool:
    """Make ``nb``'s first code cell the bootstrap cell with ``source``; return True if ``nb`` changed.

    An existing bootstrap cell (found by its tag, wherever it is) is updated and moved first; otherwise a new
    cell is inserted just before the first code cell (after the title and any opening text).
    """
    cells = nb.setdefault("cells", [])
    existing = next((c for c in cells if TAG in c.get("metadata", {}).get("tags", [])), None)
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
    if existing is not None and cells.index(existing) == first_code and _source_text(existing) == source \
            and existing["metadata"].get("tags") == TAGS and not existing.get("outputs"):
        return False
    if existing is not None:
        cells.remove(existing)
        first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
    cell = {"cell_type": "code", "execution_count": None, "metadata": {"tags": list(TAGS)}, "outputs": [],
            "source": source.splitlines(keepends=True)}
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):  # cell ids exist from nbformat 4.5 on
        cell["id"] = "mlcourse-bootstrap"
    cells.insert(first_code, cell)
    return True


def apply(paths: list[Path], root: Path | None = None) -> list[Path]:
    """Insert or update the bootstrap cell in each notebook; return the notebooks rewritten."""
    source = cell_source(root)
    changed = []
    for path in map(Path, paths):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if ensure_bootstrap_cell(nb, source):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mlcourse.course.bootstrap NOTEBOOK.ipynb ...``."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m mlcourse.course.bootstrap NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for path in apply(paths):
        print(f"{path}: bootstrap cell written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
