"""The small shared modules: paths, device choice and seeding, profiles, results files, offline charts, book config."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from mlcourse.course import paths
from mlcourse.course.book_build import derived_config
from mlcourse.course.device import describe_device, pick_device, resolve_device, seed_everything
from mlcourse.course.plots import show_chart
from mlcourse.course.profiles import check_profile, resolve_profile
from mlcourse.course.results import load_results, read_json, run_dir_for, save_results

SETTINGS = {"quick": {"steps": 10, "width": 8}, "full": {"steps": 1000, "width": 64}}


def test_repo_root_is_the_folder_with_the_toc():
    assert (paths.repo_root() / "_toc.yml").exists()


def test_mlcourse_root_must_point_at_a_course(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCOURSE_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="has no _toc.yml"):
        paths.repo_root()


def test_outside_a_clone_the_root_is_the_home_the_bootstrap_cell_made(monkeypatch, tmp_path):
    """A notebook downloaded alone, reopened after its first run: the package is installed (not from a clone),
    MLCOURSE_ROOT is gone with the old kernel, and ./mlcourse_home is where the bootstrap cell put the data."""
    monkeypatch.delenv("MLCOURSE_ROOT", raising=False)
    monkeypatch.delenv("MLCOURSE_DATA", raising=False)
    monkeypatch.setattr(paths, "_INSTALLED_FROM", tmp_path / "site-packages")
    folder = tmp_path / "downloads"
    folder.mkdir()
    monkeypatch.chdir(folder)
    with pytest.raises(FileNotFoundError, match="makes ./mlcourse_home.*MLCOURSE_ROOT"):
        paths.repo_root()
    (folder / paths.HOME).mkdir()
    (folder / paths.HOME / "_toc.yml").touch()  # as the bootstrap cell marks it
    assert paths.repo_root() == folder / "mlcourse_home" and paths.data_dir() == folder / "mlcourse_home" / "data"
    monkeypatch.chdir(folder / paths.HOME)
    assert paths.repo_root() == folder / "mlcourse_home"
    (tmp_path / "_toc.yml").touch()  # some other Jupyter Book above the downloads folder
    monkeypatch.chdir(folder)
    assert paths.repo_root() == folder / "mlcourse_home", "the course's own home comes before a parent's _toc.yml"


def test_auto_device_on_this_machine_is_a_real_device():
    device = pick_device("auto")
    assert device.type in {"cuda", "mps", "cpu"}
    assert describe_device(device)


def test_unknown_device_names_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of auto, cuda, mps, cpu"):
        pick_device("tpu")


def test_asking_for_cuda_gives_it_or_says_what_to_do():
    if torch.cuda.is_available():
        assert pick_device("cuda").type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA GPU is visible"):
            pick_device("cuda")


def test_seeding_makes_draws_repeatable():
    a = torch.randn(3, generator=seed_everything(5))
    b = torch.randn(3, generator=seed_everything(5))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(-1)


def test_resolve_device_passes_a_torch_device_through_and_resolves_names_once():
    cpu = torch.device("cpu")
    assert resolve_device(cpu) is cpu
    assert resolve_device("auto") == pick_device("auto") and resolve_device("cpu") == cpu
    with pytest.raises(ValueError, match="choose one of auto, cuda, mps, cpu"):
        resolve_device("gpu")


def test_one_profile_check_behind_every_function_that_takes_a_profile(monkeypatch, tmp_path):
    from mlcourse.training.base_model import base_dir

    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path))
    assert check_profile("full") == "full"
    message = "Unknown profile 'medium'; valid profiles are quick, full."
    for call in (lambda: check_profile("medium"), lambda: resolve_profile("medium", SETTINGS),
                 lambda: run_dir_for("p00_demo", "medium"), lambda: run_dir_for("p00_demo", "medium", tmp_path),
                 lambda: base_dir("medium")):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message


def test_profile_overrides_replace_only_given_values():
    assert resolve_profile("quick", SETTINGS, {"steps": None, "width": 16}) == {"steps": 10, "width": 16}
    assert resolve_profile("full", SETTINGS) == {"steps": 1000, "width": 64}


@pytest.mark.parametrize(
    "profile, overrides, message",
    [("medium", None, "valid profiles are quick, full"), ("quick", {"stepz": 3}, "valid ones are steps, width")],
)
def test_bad_profile_or_knob_lists_the_valid_ones(profile, overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve_profile(profile, SETTINGS, overrides)


def test_results_round_trip_and_missing_run(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path))
    assert load_results("p00_demo", "full") is None
    folder = run_dir_for("p00_demo", "full")
    save_results(folder, {"loss": 0.25, "curve": [1.0, 0.5]})
    assert load_results("p00_demo", "full") == {"loss": 0.25, "curve": [1.0, 0.5]}
    assert [p.name for p in folder.iterdir()] == ["results.json"], "the atomic write left a temporary file"


def test_corrupt_results_file_is_named_in_the_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCOURSE_RUNS", str(tmp_path))
    folder = run_dir_for("p00_demo", "quick")
    (folder / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="results.json is not valid JSON.*delete it and re-run the quick profile"):
        load_results("p00_demo", "quick")


def test_read_json_is_none_for_a_missing_file_and_names_the_remedy_for_a_broken_one(tmp_path):
    assert read_json(tmp_path / "absent.json", "run it") is None
    (tmp_path / "run.json").write_text('{"wall_s": 1.5}')
    assert read_json(tmp_path / "run.json", "run it") == {"wall_s": 1.5}
    (tmp_path / "run.json").write_text('{"wall_s": 1.')
    with pytest.raises(ValueError, match=r"run.json is not valid JSON \(.*\); delete it and publish again\.$"):
        read_json(tmp_path / "run.json", "publish again")


def test_offline_chart_embeds_the_spec_and_waits_for_the_shipped_bundle():
    import altair as alt
    import pandas as pd

    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]}), title="demo").mark_point().encode(x="x", y="y")
    html = show_chart(chart)._repr_html_()
    assert 'class="mlcourse-vega"' in html and "window.vegaEmbed" in html
    spec = json.loads(html.split("var spec = ", 1)[1].split(";\n", 1)[0])
    assert spec["title"] == "demo" and spec["mark"]["type"] == "point"
    assert show_chart(chart)._repr_html_() == html, "the same chart must give the same HTML (stable notebooks)"


def test_ci_book_config_differs_from_the_real_one_only_in_execution(tmp_path):
    root = paths.repo_root()
    original = yaml.safe_load((root / "_config.yml").read_text())
    derived = yaml.safe_load(derived_config(root, "off").read_text())
    assert derived["execute"]["execute_notebooks"] == "off"
    derived["execute"]["execute_notebooks"] = original["execute"]["execute_notebooks"]
    assert derived == original
    with pytest.raises(ValueError, match="valid modes are cache, off"):
        derived_config(root, "auto")
