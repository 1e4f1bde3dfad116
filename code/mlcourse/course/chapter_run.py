"""The one helper around a chapter's experiment: profile, device, run folder, timings, figures, results.

Every chapter notebook starts the same way (resolve its ``quick``/``full`` knobs, pick the device, make a run
folder) and ends the same way (save what it measured, show the ``full`` run's numbers beside the quick ones when
they exist). :class:`ChapterRun` holds that scaffolding once, so a notebook holds only its experiment::

    run = ChapterRun("p12_1_attention", profile, {"quick": dict(steps=400), "full": dict(steps=2000)},
                     dict(steps=steps), seed=seed, device=device, run_dir=run_dir)
    with run.timed("training"):
        ...                                    # run.settings["steps"], run.device
    run.results["loss"] = final_loss
    run.save_figure(fig, "loss_curve")         # <run folder>/loss_curve.png
    run.finish()                               # <run folder>/results.json (atomic)
    run.show_full_profile(headline)            # the full run's numbers beside this page's, when it exists

What it does not do: run the experiment, choose a chapter's knobs, or execute notebooks (that is
:mod:`mlcourse.course.runner`). Taught implicitly by every chapter (12.1 onwards); the runner and the book build
read what it writes.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from mlcourse.course.device import describe_device, resolve_device, seed_everything
from mlcourse.course.paths import repo_root
from mlcourse.course.plots import use_course_style
from mlcourse.course.profiles import resolve_profile
from mlcourse.course.published import describe_source, find_results
from mlcourse.course.results import run_dir_for, save_results

FIGURE_DPI = 110


class ChapterRun:
    """A chapter's run: resolved knobs, the device, the run folder and what the run measured.

    Args:
        stem: the chapter's notebook stem, e.g. ``"p12_1_attention"`` (names ``runs/<stem>/<profile>/``).
        profile: ``"quick"`` or ``"full"`` (from the parameters cell).
        settings: ``{"quick": {...}, "full": {...}}``, the knobs of each profile (same keys in both).
        overrides: the parameters cell's knob values; ``None`` keeps the profile's value.
        seed: seeds Python, NumPy and torch once, here, and is recorded in the results.
        device: ``"auto"`` (cuda > mps > cpu), a device name or a ``torch.device``; resolved once (by
            :func:`mlcourse.course.device.resolve_device`) into :attr:`device`.
        run_dir: the folder for figures and ``results.json``; ``None`` gives ``runs/<stem>/<profile>/``.
        threads: torch's CPU threads for this chapter; ``None`` keeps the process's setting (which
            ``OMP_NUM_THREADS`` sets, as CI does for its parallel workers).

    Raises ``ValueError`` for an unknown profile or knob, and for an unknown or absent device.
    """

    def __init__(self, stem: str, profile: str, settings: Mapping[str, Mapping[str, Any]],
                 overrides: Mapping[str, Any] | None = None, *, seed: int = 0, device: str | torch.device = "auto",
                 run_dir: str | os.PathLike | None = None, threads: int | None = None) -> None:  # fmt: skip
        self.stem = stem
        self.profile = profile
        self.settings: dict[str, Any] = resolve_profile(profile, settings, overrides)
        self.device: torch.device = resolve_device(device)
        if threads is not None:
            torch.set_num_threads(threads)
        seed_everything(seed)
        use_course_style()
        self.folder: Path = run_dir_for(stem, profile, run_dir)
        self.timings: dict[str, float] = {}
        self.results: dict[str, Any] = {"profile": profile, "seed": seed, "settings": self.settings,
                                        "device": describe_device(self.device)}  # fmt: skip

    @property
    def shown_folder(self) -> Path:
        """The run folder as a reader should see it: relative to the course's root when it lies inside."""
        root = repo_root()
        return self.folder.relative_to(root) if self.folder.is_relative_to(root) else self.folder

    def describe(self) -> str:
        """Two lines for the set-up cell: the resolved knobs, the device and where results go."""
        return (f"profile {self.profile!r}: {self.settings}\n"
                f"device: {describe_device(self.device)}; results and figures go to {self.shown_folder}/")

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the ``with`` block (wall clock, seconds) into ``timings[name]``, saved with the results."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<run folder>/<name>.png``; the notebook still displays it inline."""
        path = self.folder / f"{name}.png"
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
        return path

    def finish(self) -> None:
        """Write :attr:`results` (with the timings) to ``<run folder>/results.json`` atomically; print where."""
        self.results["timings_s"] = self.timings
        self.results.setdefault("device", str(self.device))  # a published run says what it ran on
        saved = save_results(self.folder, self.results)
        print(f"saved the measured numbers to {self.shown_folder / saved.name}")


    def show_full_profile(self, headline: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None, *,
                          show: Callable[[dict[str, Any]], None] | None = None, first_run: tuple[str, ...] = (),
                          ready: bool = True, figures: tuple[str, ...] = ()) -> None:
        """Show the ``full`` run's numbers beside this page's, or say how to produce them.

        Args:
            headline: picks the numbers worth comparing from a results dict; the table shows this page's and the
                full run's side by side.
            show: instead of (or after) the table, displays whatever the chapter wants from the full results.
            first_run: stems of chapters whose full run this one needs first (e.g. the base model's).
            ready: ``False`` when the full results exist but something else it needs does not yet.
            figures: names of figures the full run saved (``run.save_figure(fig, name)``) to show below the table.

        Returns nothing, so that it can end a cell without the table being shown twice.
        """
        import pandas as pd
        from IPython.display import Image, Markdown, display

        if self.profile == "full":
            display(Markdown("**This page was produced by the `full` profile**: every figure above shows the full run."))
            return
        found = find_results(self.stem, "full")
        if found is None or not ready:
            commands = ", then ".join(f"`python -m mlcourse run {stem} --profile full`"
                                      for stem in (*first_run, self.stem))
            display(Markdown(f"The `full` profile has not been run on this machine yet, so this page shows the "
                             f"`quick` profile only. Run {commands} to add it here."))
            return
        full = found.results
        display(Markdown(f"The figures above come from the **quick** profile. {describe_source(found)}"))
        if headline is not None:
            display(Markdown("The full run's numbers are in the right column:"))
            table = pd.DataFrame({"quick (this page)": pd.Series(headline(self.results)),
                                  "full": pd.Series(headline(full))})
            display(table)
        if show is not None:
            show(full)
        for name in figures:
            path = found.folder / f"{name}.png"
            if path.exists():  # a figure the full run did not save is skipped, not an error
                display(Markdown(f"*The full run's figure `{name}`:*"))
                display(Image(filename=str(path)))
