"""Helpers shared by the tests of the exercise checks (``tests/test_p*_checks.py``): a stub that reads as "not
attempted", and the assertion that a check failed with the hint that names the learner's mistake."""

from __future__ import annotations

from typing import Any

import pytest


def stub(*args: Any, **kwargs: Any) -> Any:
    """A learner's function that has not been written yet."""
    raise NotImplementedError("your code here")


def fails_with(capsys: pytest.CaptureFixture, verdict: Any, hint: str) -> None:
    """The check failed (not "not attempted") and its printed verdict line contains ``hint``."""
    out = capsys.readouterr().out
    assert verdict.status == "failed" and out.startswith("✗ failed"), out
    assert hint in out, out


@pytest.fixture(autouse=True)
def clear_output(capsys: pytest.CaptureFixture) -> None:
    """Start every test with nothing captured, so ``fails_with`` reads only that test's verdict."""
    capsys.readouterr()
