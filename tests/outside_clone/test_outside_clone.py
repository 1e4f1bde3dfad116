"""A chapter notebook runs alone, outside a clone, as a reader who downloaded it (or opened it in Colab) runs it.

One chapter notebook is copied into an empty folder, with the bootstrap cell of :mod:`mlcourse.course.bootstrap`
as its first code cell, and executed with a fresh virtual environment's Python: the cell must install the
library and its requirements, fetch the corpus from PyPI, and the notebook then runs top to bottom.

Two things stand in for the outside world: ``MLCOURSE_SOURCE`` points pip at this checkout instead of GitHub
(which this test cannot assume reachable, and which would test the pushed code, not this one), and torch is
linked in from the course's environment, as Colab preinstalls it (PyPI's Linux torch is the 2.5 GB CUDA build;
the cell installs the course's pin only when no torch is present). Everything else comes from PyPI.
Needs network access to PyPI; takes a few minutes (its wall time is printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import torch

from mlcourse.course.bootstrap import TAG, cell_source, ensure_bootstrap_cell
from mlcourse.course.catalog import available
from mlcourse.course.paths import repo_root

CHAPTER = available()[0]  # chapter 1: NumPy and scikit-learn, under a minute once installed
TORCH_DEPS = ["sympy", "networkx", "jinja2", "fsspec", "typing-extensions", "filelock", "setuptools>=77.0.3"]
KERNEL_TOOLS = ["nbclient==0.11.0", "nbformat==5.11.1", "ipykernel==7.4.0"]  # what Jupyter/Colab provides around a notebook


def _link_torch(site_packages: Path) -> None:
    """Make the course environment's torch importable in the fresh environment, as a preinstalled package."""
    source = Path(torch.__file__).parents[1]
    for entry in source.iterdir():
        if entry.name in ("torch", "torchgen", "functorch") or (entry.name.startswith("torch-")
                                                                 and entry.name.endswith(".dist-info")):
            (site_packages / entry.name).symlink_to(entry)


def test_a_downloaded_chapter_notebook_runs_alone(tmp_path):
    root = repo_root()
    folder = tmp_path / "downloads"
    folder.mkdir()
    nb = json.loads(CHAPTER.chapter_path.read_text(encoding="utf-8"))
    ensure_bootstrap_cell(nb, cell_source(root))
    notebook = folder / CHAPTER.chapter_path.name
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site_packages = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    _link_torch(site_packages)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLCOURSE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(MLCOURSE_SOURCE=str(root), OMP_NUM_THREADS="1", PATH=f"{env_dir / 'bin'}:{env['PATH']}")
    subprocess.run([python, "-m", "pip", "install", "--quiet", *TORCH_DEPS, *KERNEL_TOOLS], check=True, env=env)
    assert subprocess.run([python, "-c", "import mlcourse"], env=env, cwd=folder).returncode != 0, \
        "the fresh environment must not see the course's library before the bootstrap cell runs"

    start = time.monotonic()
    result = subprocess.run(
        [python, "-c", "import sys, nbformat; from nbclient import NotebookClient;"
         "nb = nbformat.read(sys.argv[1], 4); NotebookClient(nb, timeout=1500, kernel_name='python3',"
         " resources={'metadata': {'path': sys.argv[2]}}).execute(); nbformat.write(nb, sys.argv[1])",
         str(notebook), str(folder)],
        env=env, cwd=folder, capture_output=True, text=True,
    )
    wall = time.monotonic() - start
    print(f"outside-a-clone run of {CHAPTER.stem}: {wall:.0f} s (install + data + the chapter)", file=sys.stderr)
    assert result.returncode == 0, f"the notebook failed outside a clone:\n{result.stderr[-3000:]}"
    executed = json.loads(notebook.read_text(encoding="utf-8"))
    first_code = next(c for c in executed["cells"] if c["cell_type"] == "code")
    assert TAG in first_code["metadata"]["tags"]
    installed = subprocess.check_output([python, "-c", "import mlcourse; print(mlcourse.__file__)"], env=env,
                                        cwd=folder, text=True).strip()
    assert Path(installed).is_relative_to(site_packages), f"mlcourse came from {installed}, not the fresh install"
    assert (folder / "mlcourse_home" / "data").is_dir(), "the corpus was not fetched into ./mlcourse_home/data"
    shutil.rmtree(env_dir, ignore_errors=True)
