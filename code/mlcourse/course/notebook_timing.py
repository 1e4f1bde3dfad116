"""A pytest plugin for CI: how long each notebook took under nbval, the ten slowest printed at the end.

nbval reports one test per cell; this plugin adds the cells' durations up per notebook (on the controller, so it
works under pytest-xdist too) and prints the slowest ones, so that a chapter that outgrows its ``quick`` budget is
seen in the CI log. Load it with ``pytest -p mlcourse.course.notebook_timing`` (the Makefile's ``test-notebooks``
does). It does not time anything itself and changes no test outcome. Serves every chapter's CI run.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SHOWN = 10
_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: Any) -> None:
    """Add each cell's setup, call and teardown time to its notebook's total."""
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the slowest notebooks (seconds of cell execution, kernel start-up excluded)."""
    if not _seconds:
        return
    slowest = sorted(_seconds.items(), key=lambda item: -item[1])[:SHOWN]
    terminalreporter.write_sep("=", f"{len(slowest)} slowest notebooks (of {len(_seconds)})")
    for path, seconds in slowest:
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
    terminalreporter.write_line(f"{sum(_seconds.values()):8.1f} s  all notebooks together (summed over workers)")
