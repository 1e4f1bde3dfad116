"""The runner: execute a chapter with papermill into ``runs/<stem>/<profile>/``.

``python -m mlcourse run p12_1_attention --profile full -p seed 3`` injects ``profile``, ``run_dir`` and the
``-p`` parameters into the notebook's ``parameters`` cell, executes it top to bottom with a progress bar, and
writes the executed notebook next to the artifacts the chapter saves. Bad input (an unknown chapter, profile
or parameter) is rejected before anything runs, with a message that lists the valid choices.

``--nproc N`` (chapters in :data:`DISTRIBUTED_RUNS`) first trains the chapter's long run on N processes with
``torchrun`` (the appendix chapter 18's launcher, the same training loop), then executes the notebook, which finds
the run finished and loads it; the notebook's parameters cell is unchanged.

It does not build the book or cache executions (the book build does that); it never edits the source notebook.
"""

from __future__ import annotations

import ast
import os
import time
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcourse.course.catalog import Project, find
from mlcourse.course.profiles import check_profile
from mlcourse.course.published import write_run_record
from mlcourse.course.results import run_dir_for

# Set by the runner itself; a user's ``-p`` may not override them.
RESERVED_PARAMETERS = ("profile", "run_dir")


class RunnerError(ValueError):
    """Bad input to the runner: the message says what was wrong and lists the valid choices."""


@dataclass(frozen=True)
class RunRequest:
    project: Project
    profile: str
    parameters: dict[str, Any]


def parse_value(text: str) -> Any:
    """Turn a command-line parameter value into a Python value: ``3`` -> 3, ``0.5`` -> 0.5, ``True``, ``None``,
    ``[1, 2]``; anything that is not a Python literal stays a string (``cpu`` -> "cpu")."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and defaults of the notebook's ``parameters`` cell (via papermill's inspection)."""
    import papermill as pm

    inferred = pm.inspect_notebook(str(path))
    if not inferred:
        raise RunnerError(f"{path} has no cell tagged 'parameters'; the runner needs one to set the profile.")
    return {name: info["default"] for name, info in inferred.items()}


def validate(chapter: str, profile: str, raw_parameters: list[tuple[str, str]]) -> RunRequest:
    """Check the chapter, profile and parameters; return what to run or raise :class:`RunnerError`."""
    try:
        project = find(chapter)
    except KeyError as err:
        raise RunnerError(err.args[0]) from None
    try:
        check_profile(profile)
    except ValueError as err:
        raise RunnerError(str(err)) from None
    if not project.chapter_path.exists():
        raise RunnerError(f"The notebook {project.chapter_path} is missing from this checkout.")
    known = notebook_parameters(project.chapter_path)
    settable = sorted(name for name in known if name not in RESERVED_PARAMETERS)
    parameters: dict[str, Any] = {}
    for name, text in raw_parameters:
        if name in RESERVED_PARAMETERS:
            raise RunnerError(f"Parameter {name!r} is set by the runner itself; use --profile / --output instead.")
        if name not in known:
            raise RunnerError(
                f"Unknown parameter {name!r} for chapter {project.stem}; valid parameters are "
                f"{', '.join(settable)}."
            )
        parameters[name] = parse_value(text)
    return RunRequest(project, profile, parameters)


def run_chapter(request: RunRequest, output_dir: Path | None = None, progress: bool = True) -> Path:
    """Execute the chapter with papermill; return the path of the executed notebook.

    The executed notebook is written to ``<run dir>/<stem>.ipynb`` only when the run finishes; a failing
    run leaves it as far as it got, under the same name, with the error in its output cells (papermill's
    behaviour), and never touches the source notebook or another profile's folder.
    """
    import papermill as pm

    project = request.project
    folder = run_dir_for(project.stem, request.profile, output_dir)
    executed = folder / f"{project.stem}.ipynb"
    parameters = {"profile": request.profile, "run_dir": str(folder), **request.parameters}
    started, load_start = datetime.now(timezone.utc), (os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
    start = time.perf_counter()
    pm.execute_notebook(
        str(project.chapter_path),
        str(executed),
        parameters=parameters,
        cwd=str(project.chapter_path.parent),  # literalinclude and relative paths resolve as in the book
        progress_bar=progress,
        kernel_name="python3",
    )
    wall_s = time.perf_counter() - start
    # The run record (machine, commit, wall time) travels with the results when a maintainer publishes them.
    write_run_record(folder, project.stem, request.profile, request.parameters, started, wall_s, load_start)
    minutes = wall_s / 60
    print(f"{project.stem} ({request.profile}) finished in {minutes:.1f} min -> {executed}")
    return executed


# Chapters whose long run can be trained by torchrun before the notebook runs: the launcher's arguments.
DISTRIBUTED_RUNS = {"p14_pretraining": ["-m", "mlcourse.training.ddp_train", "--profile", "{profile}"]}


def distributed_command(request: RunRequest, nproc: int) -> list[str]:
    """The ``torchrun`` command that trains ``request``'s long run on ``nproc`` processes (one per GPU, or gloo
    processes on a CPU); raises :class:`RunnerError` for a chapter without one or a bad ``nproc``."""
    import sys

    if nproc < 1:
        raise RunnerError(f"--nproc must be >= 1, got {nproc}.")
    launch = DISTRIBUTED_RUNS.get(request.project.stem)
    if launch is None:
        raise RunnerError(f"Chapter {request.project.stem} has no multi-process run; --nproc works for "
                          f"{', '.join(DISTRIBUTED_RUNS)}.")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            *(arg.format(profile=request.profile) for arg in launch)]
