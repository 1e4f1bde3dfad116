"""The course's one atomic file write: a reader sees the old file or the new one, never half of one.

What it does: :func:`write_bytes_atomic`, :func:`write_text_atomic` and :func:`write_json_atomic` write the
content to a uniquely named temporary file in the target's own folder (so the rename stays on one file
system), flush and ``fsync`` it, make it readable by everyone (``0o644``: ``mkstemp`` creates ``0o600``) and
move it over the target with ``os.replace``, which is atomic. If anything fails, or the process is
interrupted before the rename, the temporary file is removed and the target is untouched. Two processes that
write the same path at once each use their own temporary file; the last rename wins.

What it does not do: create the folder, ``fsync`` the folder after the rename (a checkpoint does that itself,
where a power cut must not lose the new name), lock a file against other writers, or stage whole folders (the
checkpoint folders and the Hugging Face export are built in a hidden folder and renamed into place by their
own modules).

Who relies on it: every chapter's ``results.json`` (:mod:`mlcourse.course.results`, from chapter 12.1 on); the
Shakespeare texts and the cached corpus (chapter 13's :mod:`mlcourse.data`, loaded by every later chapter); the
metrics logs and the ``latest`` pointer of a resumable run (chapter 14's :mod:`mlcourse.training.checkpoint`,
also used by 13); the base model's ``base.json`` (chapter 14, read by 13.5 and 15); the book build's Vega bundle.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o644  # owner reads and writes, everyone else reads: a course artifact is meant to be shared


def _write_atomic(path: str | os.PathLike, write: Callable[[IO[Any]], Any], mode: str,
                  encoding: str | None = None) -> Path:  # fmt: skip
    """Call ``write(handle)`` on a temporary file beside ``path``, then move it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the bytes are on disk before the new name points at them
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included: never leave the temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Replace the file at ``path`` by ``data`` atomically; return the path."""
    return _write_atomic(path, lambda handle: handle.write(data), "wb")


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Replace the file at ``path`` by ``text`` (opened in text mode, like ``Path.write_text``) atomically."""
    return _write_atomic(path, lambda handle: handle.write(text), "w", encoding)


def write_json_atomic(path: str | os.PathLike, obj: Any, **json_kwargs: Any) -> Path:
    """Replace the file at ``path`` by ``json.dump(obj, **json_kwargs)`` (UTF-8, no trailing newline) atomically.

    ``json_kwargs`` go to :func:`json.dump` unchanged, e.g. ``indent=2, sort_keys=True, default=float``. The
    object is serialised before the temporary file is opened, so an object JSON cannot encode raises
    ``TypeError`` with the target untouched and nothing left behind.
    """
    return write_text_atomic(path, json.dumps(obj, **json_kwargs))
