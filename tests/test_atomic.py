"""The one atomic file write (mlcourse.course.atomic) and the modules that write through it."""

from __future__ import annotations

import json
import stat

import pytest

from mlcourse.course.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from mlcourse.course.results import save_results
from mlcourse.training.checkpoint import truncate_jsonl


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_writer_replaces_the_file_readably_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    assert write_bytes_atomic(target, b"\x00new") == target
    assert target.read_bytes() == b"\x00new" and _mode(target) == 0o644
    write_text_atomic(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode("utf-8")
    write_json_atomic(target, {"b": 1, "a": [1.5]}, indent=2, sort_keys=True)
    assert target.read_text(encoding="utf-8") == json.dumps({"b": 1, "a": [1.5]}, indent=2, sort_keys=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})  # JSON cannot encode it
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "\udcff")  # a lone surrogate: not encodable, fails mid-write
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_results_json_bytes_are_those_of_json_dump_with_the_course_settings(tmp_path):
    results = {"loss": 1.25, "steps": 3, "curve": [0.5, 0.25], "nested": {"z": 1, "a": 2}}
    path = save_results(tmp_path, results)
    expected = json.dumps(results, indent=2, sort_keys=True, default=float)
    assert path.read_text(encoding="utf-8") == expected and _mode(path) == 0o644


def test_truncate_jsonl_rewrites_through_the_atomic_writer(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3', encoding="utf-8")  # last line half-written
    assert truncate_jsonl(log, 1) == [{"step": 1}]
    assert log.read_text(encoding="utf-8") == '{"step": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
