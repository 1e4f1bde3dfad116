"""End to end: a reader's full run followed by ``make book`` puts the full run's numbers on the chapter's page.

The path a reader takes, with the course's own code at every step, in a throw-away course root (``MLCOURSE_ROOT``)
holding a two-page book instead of the real twenty chapters:

1. ``python -m mlcourse book --execute cache`` (what ``make book`` runs): the chapter executes its quick profile,
   jupyter-cache stores it, and its "Results of the full profile" section says the full run does not exist.
2. ``python -m mlcourse run 12.1 --profile full``: papermill runs the chapter's full profile into
   ``runs/<stem>/full/`` (``results.json`` and the runner's ``run.json``).
3. ``python -m mlcourse book --execute cache`` again: the build drops the chapter's now stale cache record
   (:func:`mlcourse.course.published.drop_stale_cache`), so the page is executed again and shows the full run,
   found by :func:`~mlcourse.course.published.find_results` and labelled by
   :func:`~mlcourse.course.published.describe_source` (through ``ChapterRun.show_full_profile``, as every chapter).

The other page stands in for a second chapter whose full results predate its cached execution: its record stays.
The tiny chapter's full profile is a Monte Carlo estimate of pi with more samples than the quick one, so that the
two profiles measure different numbers. About 20 s on one core (two book builds, one papermill run).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from mlcourse.__main__ import main
from mlcourse.course.catalog import find

CHAPTER = find("12.1")  # the tiny notebook stands in for this chapter (its stem and part name the files)
OTHER = find("12.25")  # a second chapter of the mini book, whose full run predates its cached page
NOT_RUN = "has not been run on this machine yet"  # ChapterRun.show_full_profile's sentence when no full run exists

PARAMETERS = 'profile = "quick"  # "full": more samples\nseed = 0\ndevice = "cpu"\nrun_dir = None\nsamples = None'
EXPERIMENT = f"""\
import torch

from mlcourse.course.chapter_run import ChapterRun

run = ChapterRun("{CHAPTER.stem}", profile, {{"quick": dict(samples=1_000), "full": dict(samples=400_000)}},
                 dict(samples=samples), seed=seed, device=device, run_dir=run_dir)
with run.timed("estimate"):
    points = torch.rand(run.settings["samples"], 2)  # (samples, 2) uniform in the unit square
    run.results["pi_estimate"] = 4 * (points.pow(2).sum(dim=1) <= 1).double().mean().item()
print(run.describe())
print(f"pi is about {{run.results['pi_estimate']:.6f}}")
run.finish()"""
FULL_PROFILE = """\
def headline(r):
    return {"samples": r["settings"]["samples"], "pi estimate": f"{r['pi_estimate']:.6f}"}

run.show_full_profile(headline)"""


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _mini_book(root: Path) -> None:
    """A course root with a two-chapter book: ``_config.yml`` (cache mode), ``_toc.yml``, an intro, two notebooks."""
    (root / "_config.yml").write_text(
        'title: "Mini course"\nonly_build_toc_files: true\nexclude_patterns: [_build, runs]\n'
        "execute:\n  execute_notebooks: cache\n  timeout: 300\n  allow_errors: false\n  stderr_output: remove-warn\n"
        "sphinx:\n  config:\n    nb_execution_raise_on_error: true\n    nb_execution_show_tb: true\n",
        encoding="utf-8")
    files = [f"chapters/part{p.part}/{p.stem}" for p in (CHAPTER, OTHER)]
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   + "".join(f"- file: {f}\n" for f in files), encoding="utf-8")
    (root / "intro.md").write_text("# Mini course\n\nOne tiny chapter and its full profile.\n", encoding="utf-8")
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    chapter = _notebook([
        nbformat.v4.new_markdown_cell("# A tiny chapter\n\nIt estimates pi by sampling points in the unit square."),
        parameters, nbformat.v4.new_code_cell(EXPERIMENT),
        nbformat.v4.new_markdown_cell(f"({CHAPTER.stem}-full-profile-results)=\n## Results of the full profile"),
        nbformat.v4.new_code_cell(FULL_PROFILE),
    ])
    other = _notebook([nbformat.v4.new_markdown_cell("# Another chapter"), nbformat.v4.new_code_cell("print(6 * 7)")])
    for project, nb in ((CHAPTER, chapter), (OTHER, other)):
        project.chapter_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, project.chapter_path)


def _page(root: Path, project) -> str:
    return (root / "_build" / "html" / "chapters" / f"part{project.part}" / f"{project.stem}.html").read_text(
        encoding="utf-8")


def _cache_records(root: Path) -> dict[str, tuple[int, object]]:
    """``{notebook stem: (record id, created)}`` of the book's execution cache."""
    from jupyter_cache import get_cache

    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    return {Path(r.uri).stem: (r.pk, r.created) for r in cache.list_cache_records()}


def test_a_full_run_followed_by_make_book_puts_its_numbers_on_the_page(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("MLCOURSE_ROOT", str(tmp_path))  # repo_root(), runs/ and the catalog's paths: the mini book
    monkeypatch.delenv("MLCOURSE_RUNS", raising=False)
    _mini_book(tmp_path)
    other_full = tmp_path / "runs" / OTHER.stem / "full"  # the other chapter's full run, done before any build
    other_full.mkdir(parents=True)
    (other_full / "results.json").write_text('{"profile": "full"}\n', encoding="utf-8")

    # 1. `make book` before any full run of the chapter: its page says so.
    assert main(["book", "--execute", "cache"]) == 0, capfd.readouterr().err[-3000:]
    before = _page(tmp_path, CHAPTER)
    assert NOT_RUN in before and "Your own" not in before
    cached = _cache_records(tmp_path)
    assert set(cached) == {CHAPTER.stem, OTHER.stem}
    capfd.readouterr()

    # 2. The reader's full run, through the runner (papermill) as `python -m mlcourse run 12.1 --profile full`.
    assert main(["run", CHAPTER.number, "--profile", "full", "--quiet"]) == 0
    full = tmp_path / "runs" / CHAPTER.stem / "full"
    results = json.loads((full / "results.json").read_text(encoding="utf-8"))
    assert results["profile"] == "full" and results["settings"]["samples"] == 400_000
    assert json.loads((full / "run.json").read_text(encoding="utf-8"))["wall_s"] > 0
    measured = f"{results['pi_estimate']:.6f}"
    assert measured not in before  # the quick page did not hold this number by chance
    capfd.readouterr()

    # 3. `make book` again: the chapter's stale cache record is dropped, the page executed again.
    assert main(["book", "--execute", "cache"]) == 0, capfd.readouterr().err[-3000:]
    out = capfd.readouterr().out

    # 4. The page shows the full run's numbers, labelled as the reader's own run, and no longer says it is missing.
    after = _page(tmp_path, CHAPTER)
    assert NOT_RUN not in after
    assert measured in after and "400000" in after
    assert "Your own <code" in after and f"runs/{CHAPTER.stem}/full/" in after
    # ... because the execution cache was dropped for that page only.
    assert f"{CHAPTER.stem}: full results newer than its cached page" in out
    assert f"{OTHER.stem}: full results newer" not in out
    recached = _cache_records(tmp_path)
    assert recached[OTHER.stem] == cached[OTHER.stem]  # the other page was served from the cache, untouched
    assert recached[CHAPTER.stem][0] != cached[CHAPTER.stem][0]  # the chapter's record is a new execution
