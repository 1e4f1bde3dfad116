"""pyproject.toml declares what the library needs at run time, with lower bounds that requirements.txt's exact
pins (what CI installs) satisfy, so that ``pip install`` of the package alone (outside a clone) gives a working
library."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

import mlcourse
from mlcourse.course import bootstrap

CODE = Path(mlcourse.__file__).parent
ROOT = CODE.parent.parent

DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml", "vl_convert": "vl-convert-python"}  # import -> pip name
BOOK_TOOLS = {"docutils"}  # the site's Sphinx extensions (course/site_*.py) run only in the book build


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {(r := Requirement(line)).name.lower(): r for line in project.get("dependencies", [])}


def test_everything_the_notebooks_install_is_declared():
    missing = {n.lower() for n in [*bootstrap.RUNTIME, bootstrap.TORCH]} - set(declared())
    assert not missing, f"pyproject.toml's dependencies lack {sorted(missing)}"


def test_every_top_level_import_of_the_library_is_declared():
    """Imports at module level (those inside functions load optional tools: papermill, jupyter_cache, IPython)."""
    found = set()
    for path in CODE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    third_party = {m for m in found if m not in sys.stdlib_module_names and m != "mlcourse"} - BOOK_TOOLS
    missing = {DISTRIBUTION.get(m, m) for m in third_party} - set(declared())
    assert not missing, f"the library imports {sorted(missing)} but pyproject.toml does not declare them"


def test_requirements_pins_satisfy_the_declared_bounds():
    pins = {name: spec.split("==")[1] for name, spec in bootstrap.pinned().items()}
    for name, requirement in declared().items():
        assert requirement.specifier, f"{name}: give a lower bound (requirements.txt holds the exact pin)"
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), \
                f"requirements.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement}"
