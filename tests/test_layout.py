"""The library's house rules (DESIGN.md section 3), checked from the source so that they cannot drift:

packages by role in a fixed order with no upward imports and no import circles, small modules, every module's
header naming the chapter(s) that teach it, the catalog knowing where each chapter's code lives, and the
exercise checks named by the notebook they serve.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import mlcourse
from mlcourse.course.catalog import PROJECTS, modules_taught_by

CODE = Path(mlcourse.__file__).parent
ROOT = CODE.parent.parent

# Bottom to top: a package may import its own modules and any package of a lower rank, never one above it.
RANK = {"course": 0, "data": 1, "classical": 1, "tokenizers": 2, "model": 2, "embeddings": 2, "training": 3,
        "labs": 4, "analysis": 4, "finetune": 5, "checks": 6}  # fmt: skip
MAX_LINES = 350


def modules() -> dict[str, Path]:
    """``{"model.attention": path, ...}`` for every module of the library (``__init__`` as the package name)."""
    found = {}
    for path in sorted(CODE.rglob("*.py")):
        parts = path.relative_to(CODE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """The ``mlcourse`` modules ``path`` imports (``from mlcourse.x import y`` counts ``x.y`` when that is a module)."""
    known = modules()
    result = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlcourse"):
            base = node.module.removeprefix("mlcourse").lstrip(".")
            targets = [f"{base}.{a.name}".lstrip(".") for a in node.names]
            targets = [t if t in known else base for t in targets]
        elif isinstance(node, ast.Import):
            targets = [a.name.removeprefix("mlcourse").lstrip(".") for a in node.names if a.name.startswith("mlcourse")]
        result.update(t for t in targets if t)
    return result


def package_of(module: str) -> str:
    return module.split(".")[0]


def test_every_module_lives_in_a_role_package():
    top_level = [m for m in modules() if "." not in m and m not in RANK and m not in ("", "__main__")]
    assert not top_level, f"modules at the top of mlcourse/ instead of in a role package: {top_level}"


def test_no_package_imports_one_above_it():
    upward = []
    for module, path in modules().items():
        if module in ("", "__main__"):
            continue
        for target in imports_of(path):
            here, there = package_of(module), package_of(target)
            if here != there and RANK[there] >= RANK[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, f"imports that go up or sideways between packages: {upward}"


def test_no_import_circles():
    graph = {m: imports_of(p) for m, p in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail(f"import circle: {' -> '.join(trail[trail.index(nxt):] + [nxt])}")
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_are_small(module):
    lines = len(modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"mlcourse.{module} has {lines} lines; split it (the house limit is {MAX_LINES})"


def test_the_catalog_knows_every_module_a_chapter_teaches():
    library = {m for m in modules() if "." in m and package_of(m) not in ("course", "checks")}
    taught = modules_taught_by()
    assert not set(taught) - set(modules()), f"catalog lists modules that do not exist: {set(taught) - set(modules())}"
    assert not library - set(taught), f"modules no chapter's catalog entry lists: {sorted(library - set(taught))}"


@pytest.mark.parametrize("module", sorted(modules_taught_by()))
def test_module_header_names_the_chapters_that_teach_it(module):
    doc = ast.get_docstring(ast.parse(modules()[module].read_text(encoding="utf-8"))) or ""
    numbers = modules_taught_by()[module]
    named = [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?![\d]|\.\d)", doc)]
    assert named, f"the docstring of mlcourse.{module} should name the chapter(s) that teach it: {numbers}"


@pytest.mark.parametrize("module", sorted(m for m in modules() if m and m != "__main__"))
def test_every_module_header_says_which_chapters_it_serves(module):
    doc = ast.get_docstring(ast.parse(modules()[module].read_text(encoding="utf-8"))) or ""
    assert "chapter" in doc.lower(), f"the docstring of mlcourse.{module} should say which chapter(s) it serves"


@pytest.mark.parametrize("module", sorted(m for m in modules() if m.count(".") == 0 and m))
def test_every_package_says_what_lives_there(module):
    doc = ast.get_docstring(ast.parse(modules()[module].read_text(encoding="utf-8"))) or ""
    assert len(doc) > 80 and "chapter" in doc.lower(), f"mlcourse/{module}/__init__.py needs a docstring naming its chapters"


def test_checks_are_named_by_the_notebook_they_serve():
    stems = {p.stem for p in PROJECTS if p.status == "available"}
    checks = {m.split(".")[1] for m in modules() if m.startswith("checks.")} - {"core"}
    assert checks <= stems, f"checks modules that match no chapter stem: {checks - stems}"
    for stem in checks:
        assert (ROOT / "exercises" / f"{stem}.ipynb").exists(), f"mlcourse.checks.{stem} serves no exercises notebook"


def test_the_book_reads_in_the_catalog_order():
    """The sidebar and "next" follow the order of the catalog, which is the order the chapters build on each other
    (13.5 reads the model that 14 trains, so it comes after 14)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = [c for part in toc["parts"] for c in part["chapters"]]
    files = [c["file"] for c in entries]
    chapters = [Path(f).name for f in files if f.startswith("chapters/part") and not f.endswith("index")]
    assert chapters == [p.stem for p in PROJECTS if p.status == "available"]
    for stem in chapters:  # each chapter holds its exercises and its solutions, nested under it in the sidebar
        entry = next(c for c in entries if c["file"].startswith("chapters/") and c["file"].endswith("/" + stem))
        nested = [s["file"] for s in entry.get("sections", [])]
        assert nested == [f"exercises/{stem}", f"solutions/{stem}"], stem
