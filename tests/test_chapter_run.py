"""ChapterRun: the scaffolding every chapter goes through (profile, device, run folder, timings, figures, results)."""

from __future__ import annotations

import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mlcourse.course.chapter_run import ChapterRun  # noqa: E402

SETTINGS = {"quick": {"steps": 10, "width": 4}, "full": {"steps": 1000, "width": 64}}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_resolves_the_profile_and_keeps_overrides_that_are_set(runs):
    run = ChapterRun("p99_demo", "full", SETTINGS, dict(steps=None, width=8), seed=3)
    assert run.settings == {"steps": 1000, "width": 8}
    assert run.device == torch.device("cpu") or run.device.type in ("cuda", "mps")
    assert run.folder == runs / "p99_demo" / "full" and run.folder.is_dir()
    assert run.results["seed"] == 3 and run.results["profile"] == "full" and run.results["settings"] == run.settings


def test_bad_profile_knob_or_device_is_refused_with_the_valid_choices(runs):
    with pytest.raises(ValueError, match="valid profiles are quick, full"):
        ChapterRun("p99_demo", "fast", SETTINGS)
    with pytest.raises(ValueError, match="Unknown setting 'stpes'; valid ones are steps, width"):
        ChapterRun("p99_demo", "quick", SETTINGS, dict(stpes=5))
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        ChapterRun("p99_demo", "quick", SETTINGS, device="gpu")


def test_seeds_once_so_the_global_generators_repeat(runs):
    ChapterRun("p99_demo", "quick", SETTINGS, seed=7)
    first = torch.rand(3)
    ChapterRun("p99_demo", "quick", SETTINGS, seed=7)
    assert torch.equal(first, torch.rand(3))


def test_run_dir_overrides_the_default_folder(runs, tmp_path):
    run = ChapterRun("p99_demo", "quick", SETTINGS, run_dir=tmp_path / "elsewhere")
    assert run.folder == tmp_path / "elsewhere" and run.folder.is_dir()
    assert run.shown_folder == run.folder  # outside the course's root: shown whole


def test_timed_records_wall_time_even_when_the_block_fails(runs):
    run = ChapterRun("p99_demo", "quick", SETTINGS)
    with run.timed("sleep"):
        time.sleep(0.02)
    with pytest.raises(RuntimeError), run.timed("failing"):
        raise RuntimeError("boom")
    assert run.timings["sleep"] >= 0.02 and "failing" in run.timings


def test_figures_and_results_land_in_the_run_folder(runs, capsys):
    run = ChapterRun("p99_demo", "quick", SETTINGS)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert run.save_figure(fig, "line").exists()
    run.results["loss"] = 1.5
    with run.timed("work"):
        pass
    assert run.finish() is None
    saved = json.loads((run.folder / "results.json").read_text())
    assert saved["loss"] == 1.5 and "work" in saved["timings_s"] and saved["settings"] == {"steps": 10, "width": 4}
    assert "results.json" in capsys.readouterr().out


def _displayed(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    return shown


def test_full_profile_section_says_how_to_produce_it_when_missing(runs, monkeypatch):
    shown = _displayed(monkeypatch)
    run = ChapterRun("p99_demo", "quick", SETTINGS)
    assert run.show_full_profile(lambda r: {"steps": r["settings"]["steps"]}, first_run=("p14_pretraining",)) is None
    text = shown[0].data
    assert "has not been run" in text and "run p14_pretraining --profile full`, then" in text and "p99_demo" in text


def test_full_profile_section_shows_both_columns_when_the_full_run_exists(runs, monkeypatch):
    full = ChapterRun("p99_demo", "full", SETTINGS)
    full.results["loss"] = 0.5
    full.finish()
    shown = _displayed(monkeypatch)
    quick = ChapterRun("p99_demo", "quick", SETTINGS)
    quick.results["loss"] = 2.0
    seen = []
    quick.show_full_profile(lambda r: {"loss": r["loss"]}, show=seen.append)
    table = shown[-1]
    assert list(table.columns) == ["quick (this page)", "full"] and table.loc["loss"].tolist() == [2.0, 0.5]
    assert seen and seen[0]["loss"] == 0.5  # show() receives the full run's results
    shown.clear()
    quick.show_full_profile(lambda r: {"loss": r["loss"]}, ready=False)  # e.g. the base model is missing
    assert "has not been run" in shown[0].data

