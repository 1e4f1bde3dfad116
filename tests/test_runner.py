"""The runner and the command line: bad input is rejected with the valid choices; a good run executes.

The happy path runs a real (tiny) notebook through papermill in a throw-away course root, so the test takes
seconds and still exercises parameter injection, the run folder and the executed-notebook output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlcourse.__main__ import main
from mlcourse.course.catalog import PROJECTS, available, find
from mlcourse.course.runner import RunnerError, parse_value, validate

STEM = available()[0].stem
PLANNED = "p99_planned"  # added to the catalog as a planned chapter by the fixture below (every real one is written)


@pytest.fixture(autouse=True)
def a_planned_chapter(monkeypatch):
    from mlcourse.course import catalog

    planned = catalog.Project("99", PLANNED, "A chapter not written yet", 3, "planned")
    monkeypatch.setattr(catalog, "PROJECTS", (*catalog.PROJECTS, planned))


def test_list_shows_every_project_and_the_profiles(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for project in PROJECTS:
        assert project.stem in out
    assert "quick" in out and "full" in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "p99_nothing"], "Unknown chapter 'p99_nothing'. Available chapters: " + STEM),
        (["run", PLANNED], "is planned but not written yet"),
        (["run", STEM, "--profile", "huge"], "Unknown profile 'huge'; valid profiles are quick, full"),
        (["run", STEM, "-p", "no_such_knob", "1"], "Unknown parameter 'no_such_knob'"),
        (["run", STEM, "-p", "run_dir", "/tmp/x"], "is set by the runner itself"),
    ],
)
def test_bad_input_exits_nonzero_with_the_valid_choices(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err


def test_unknown_parameter_message_lists_the_valid_parameters():
    with pytest.raises(RunnerError) as info:
        validate(STEM, "quick", [("no_such_knob", "1")])
    message = str(info.value)
    assert "valid parameters are" in message
    assert "seed" in message  # every chapter has a seed knob
    assert "profile" not in message.split("valid parameters are")[1]  # reserved names are not offered


def test_a_chapter_is_found_by_stem_or_number():
    project = available()[0]
    assert find(project.stem) == find(project.number) == project


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("True", True), ("None", None),
                                          ("[1, 2]", [1, 2]), ("cpu", "cpu")])
def test_parameter_values_are_parsed_as_python_literals(text, value):
    assert parse_value(text) == value


def _tiny_course(root: Path) -> None:
    """A course root with one tiny notebook standing in for the first available chapter."""
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    project = available()[0]
    path = root / "chapters" / f"part{project.part}" / f"{project.stem}.ipynb"
    path.parent.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\nseed = 0\nrun_dir = None')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "pathlib.Path(run_dir, 'results.json').write_text(json.dumps({'profile': profile, 'seed': seed}))"
    )
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_executes_the_chapter_into_runs_with_the_parameters(tmp_path):
    _tiny_course(tmp_path)
    env = {"MLCOURSE_ROOT": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [sys.executable, "-m", "mlcourse", "run", STEM, "--profile", "full", "-p", "seed", "7", "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / STEM / "full"
    assert (folder / f"{STEM}.ipynb").exists()
    assert json.loads((folder / "results.json").read_text()) == {"profile": "full", "seed": 7}
