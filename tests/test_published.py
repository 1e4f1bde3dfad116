"""Published full runs: publishing copies numbers, figures and the run record (never weights), the chapter page
prefers the reader's own run and labels where its numbers come from, and the book's execution cache drops a page
that predates the full run."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

import nbformat
import pytest

from mlcourse.course import published
from mlcourse.course.chapter_run import ChapterRun
from mlcourse.course.published import (describe_source, drop_stale_cache, find_results, publish,
                                       write_run_record)

SETTINGS = {"quick": {"steps": 10}, "full": {"steps": 1000}}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(published, "published_dir", lambda: tmp_path / "published")
    return tmp_path


def _full_run(loss: float) -> ChapterRun:
    run = ChapterRun("p99_demo", "full", SETTINGS)
    run.results["loss"] = loss
    run.finish()
    return run


def test_publish_copies_results_figures_logs_and_record_but_never_weights(folders):
    run = _full_run(0.5)
    (run.folder / "loss.png").write_bytes(b"\x89PNG fake")
    (run.folder / "train").mkdir()
    (run.folder / "train" / "metrics.jsonl").write_text('{"step": 1}\n')
    (run.folder / "model.safetensors").write_bytes(b"weights")
    write_run_record(run.folder, "p99_demo", "full", {"steps": 1000}, datetime.now(timezone.utc), 123.4, 0.5)
    target = publish("p99_demo")
    names = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert names == ["loss.png", "provenance.json", "results.json", "train/metrics.jsonl"]
    record = json.loads((target / "provenance.json").read_text())
    assert record["wall_s"] == 123.4 and record["device"].startswith("cpu") and record["published_utc"]
    assert "CPU cores" in record["machine"]


def test_publish_without_a_run_says_which_command_to_run(folders):
    with pytest.raises(FileNotFoundError, match="python -m mlcourse run p99_demo --profile full"):
        publish("p99_demo")


def test_own_run_takes_precedence_over_the_published_one_and_each_is_labelled(folders):
    _full_run(0.5)
    write_run_record(folders / "runs" / "p99_demo" / "full", "p99_demo", "full", {}, datetime.now(timezone.utc),
                     60.0, None)
    publish("p99_demo")
    own = find_results("p99_demo")
    assert own.source == "own" and "Your own" in describe_source(own)
    os.remove(folders / "runs" / "p99_demo" / "full" / "results.json")  # a reader who never ran it
    theirs = find_results("p99_demo")
    assert theirs.source == "published" and theirs.results["loss"] == 0.5
    text = describe_source(theirs)
    assert "published by the course's maintainers" in text and "wall time 1.0 min" in text


def test_chapter_page_shows_the_published_run_with_its_label(folders, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = _full_run(0.25)
    fig, ax = plt.subplots()
    run.save_figure(fig, "curve")
    plt.close(fig)
    publish("p99_demo")
    os.remove(folders / "runs" / "p99_demo" / "full" / "results.json")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    quick = ChapterRun("p99_demo", "quick", SETTINGS)
    quick.results["loss"] = 2.0
    quick.show_full_profile(lambda r: {"loss": r["loss"]}, figures=("curve", "not_saved"))
    assert "published by the course's maintainers" in shown[0].data
    assert shown[2].loc["loss"].tolist() == [2.0, 0.25]
    assert "`curve`" in shown[3].data and shown[4].format == "png" and len(shown) == 5  # not_saved: skipped


def test_cache_record_older_than_the_full_results_is_dropped(folders, tmp_path):
    from jupyter_cache import get_cache

    (tmp_path / "chapters").mkdir()
    notebook = tmp_path / "chapters" / "p99_demo.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=1)])
    nbformat.write(nb, notebook)
    cache = get_cache(str(tmp_path / "cache"))
    cache.cache_notebook_file(str(notebook), check_validity=False)
    assert drop_stale_cache(tmp_path / "cache", ["p99_demo"]) == []  # no full run yet: the page stays cached
    time.sleep(1.1)
    _full_run(0.5)  # a full run after the page was cached
    assert drop_stale_cache(tmp_path / "cache", ["p99_demo"]) == ["p99_demo"]
    assert cache.list_cache_records() == []
    assert drop_stale_cache(tmp_path / "missing", ["p99_demo"]) == []


def test_a_broken_published_file_is_named_and_a_missing_record_is_empty(folders):
    _full_run(0.5)
    publish("p99_demo")
    os.remove(folders / "runs" / "p99_demo" / "full" / "results.json")
    os.remove(folders / "published" / "p99_demo" / "full" / "provenance.json")
    assert find_results("p99_demo").provenance == {}  # no record: described as such, not an error
    (folders / "published" / "p99_demo" / "full" / "results.json").write_text("{half")
    with pytest.raises(ValueError, match="results.json is not valid JSON.*delete it and run or publish again"):
        find_results("p99_demo")


def test_a_newer_study_a_chapter_shows_also_drops_its_cached_page(folders, tmp_path, monkeypatch):
    from jupyter_cache import get_cache

    from mlcourse.course.results import save_results

    monkeypatch.setitem(published.SHOWN_WITH, "p99_demo", ("p99_study",))
    (tmp_path / "chapters").mkdir()
    notebook = tmp_path / "chapters" / "p99_demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=1)]), notebook)
    get_cache(str(tmp_path / "cache")).cache_notebook_file(str(notebook), check_validity=False)
    time.sleep(1.1)
    save_results(tmp_path / "published" / "p99_study" / "full", {"alpha": 0.06})  # e.g. `mlcourse scaling --publish`
    assert drop_stale_cache(tmp_path / "cache", ["p99_demo"]) == ["p99_demo"]
