"""The scaling study as one run: the IsoFLOP grid and the repetition study, their fits, figures and results.

What it does:
  * :func:`summarize`: the numbers a reader needs from the grid and the repetition tables (the fitted power law
    with its uncertainty, the IsoFLOP optima and the exponent of N_opt against C, tokens per parameter at the
    optimum, the repetition study's best losses), as a JSON-able dict.
  * :func:`plot_isoflop`, :func:`plot_frontier`, :func:`plot_repetition`: the three figures, used by chapter 14
    and by :func:`run_study`, so the published figures and the chapter's are the same code.
  * :func:`run_study`: both experiments into ``runs/p14_scaling_law/<profile>/`` with ``results.json``, the
    figures and a run record (machine, commit, wall time), resumable (each finished run is one line on disk).
    ``python -m mlcourse scaling --profile full [--publish]`` calls it; ``--publish`` then copies the results,
    figures and logs into ``chapters/published/p14_scaling_law/full/`` (:func:`mlcourse.course.published.publish`),
    where chapter 14 finds them.

What it deliberately does not do: choose the base model's profile (chapter 14 reads these numbers and says why
:data:`mlcourse.training.base_model.BASE_SETTINGS` is what it is). Taught in chapter 14.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter
import numpy as np
import pandas as pd

from mlcourse.course.paths import runs_dir
from mlcourse.course.plots import use_course_style
from mlcourse.course.profiles import check_profile
from mlcourse.course.results import read_json, save_results
from mlcourse.labs.scaling_fit import PUBLISHED, fit_exponent, fit_power_law, frontier, isoflop_optima
from mlcourse.labs.scaling_law import GRIDS, REPETITIONS, bpe_stream, char_stream, run_grid, run_repetition

STEM = "p14_scaling_law"  # its own folder under runs/ and chapters/published/; chapter 14 shows it


def summarize(runs: pd.DataFrame, repetition: pd.DataFrame | None = None) -> dict[str, Any]:
    """The fitted numbers of the grid (and of the repetition study when given), JSON-able."""
    fit = fit_power_law(runs)
    optima = isoflop_optima(runs)
    front = frontier(runs)
    inside = optima[optima["bracketed"]]
    summary: dict[str, Any] = {
        "alpha": fit.alpha, "alpha_se": fit.alpha_se, "alpha_ci95": [fit.alpha_low, fit.alpha_high], "a": fit.a,
        "frontier": front[["budget", "size", "n_params", "flops", "loss"]].to_dict("records"),
        "isoflop": optima.to_dict("records"), "n_sizes": int(runs["size"].nunique()),
        "n_budgets": int(runs["budget"].nunique()), "n_seeds": int(runs["seed"].nunique()),
        "size_span": float(runs["n_params"].max() / runs["n_params"].min()), "published": PUBLISHED,
        "seconds": float(runs["seconds"].sum()),
    }
    if len(inside) >= 2:
        exponent, exponent_se, _ = fit_exponent(inside["flops"], inside["n_opt"])
        tokens = inside["flops"] / (6 * inside["n_opt"])  # D = C / 6N at the optimum
        summary.update(n_opt_exponent=exponent, n_opt_exponent_se=exponent_se,
                       tokens_per_parameter=(tokens / inside["n_opt"]).tolist())
    if repetition is not None and len(repetition):
        cols = ["fraction", "unique_tokens", "passes", "dropout", "weight_decay", "val_loss", "best_val_loss",
                "best_step", "last_val_loss", "steps"]
        summary["repetition"] = repetition[cols].to_dict("records")
    return summary


def plot_isoflop(runs: pd.DataFrame) -> plt.Figure:
    """Held-out loss against N at each budget (mean of seeds, bars = min-max), with the fitted parabolas."""
    use_course_style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    means = runs.groupby(["budget", "size"], as_index=False).agg(
        n=("n_params", "first"), loss=("val_loss", "mean"), low=("val_loss", "min"), high=("val_loss", "max"))
    optima = isoflop_optima(runs).set_index("budget")
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, means["budget"].nunique()))
    for color, (budget, g) in zip(colors, means.groupby("budget")):
        g = g.sort_values("n")
        ax.errorbar(g["n"], g["loss"], yerr=[g["loss"] - g["low"], g["high"] - g["loss"]], fmt="o", color=color,
                    capsize=2, label=f"C = {budget:.1e} FLOPs")
        x = np.linspace(np.log10(g["n"].min()), np.log10(g["n"].max()), 50)
        parabola = np.polyfit(np.log10(g["n"]), g["loss"], 2)
        ax.plot(10 ** x, np.polyval(parabola, x), color=color, lw=1, alpha=0.7)
        if optima.loc[budget, "bracketed"]:
            ax.plot(optima.loc[budget, "n_opt"], optima.loc[budget, "loss_opt"], "*", color=color, ms=12, mec="k")
    ax.set(xscale="log", xlabel="parameters N (weights that multiply per token)",
           ylabel="held-out loss (nats per character)", title="IsoFLOP profiles: which size is best at each budget")
    ax.legend(fontsize=8)
    return fig


def plot_frontier(runs: pd.DataFrame) -> plt.Figure:
    """Every run's held-out loss against its compute, the frontier and the fitted power law, log-log."""
    use_course_style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for size, g in runs.groupby("size", sort=False):
        ax.scatter(g["flops"], g["val_loss"], s=18, alpha=0.7, label=f"{size} (N = {g['n_params'].iloc[0]:,})")
    front, fit = frontier(runs), fit_power_law(runs)
    ax.plot(front["flops"], front["loss"], "k-", lw=1, label="frontier (best size per budget)")
    c = np.geomspace(runs["flops"].min(), runs["flops"].max() * 3, 50)
    interval = (f"95% CI {fit.alpha_low:.3f}-{fit.alpha_high:.3f}" if runs["seed"].nunique() > 1
                else "one seed: no interval")
    ax.plot(c, fit.predict(c), "r--", lw=1.5, label=f"fit: L = {fit.a:.2f} C^-{fit.alpha:.3f} ({interval})")
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)", ylabel="held-out loss (nats per character)",
           title="Held-out loss against compute: the compute-optimal frontier")
    ax.yaxis.set_major_formatter(ScalarFormatter())  # plain numbers on the log axis, not 2 x 10^0
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels collide on a narrow figure
    ax.legend(fontsize=7)
    return fig


def plot_repetition(repetition: pd.DataFrame) -> plt.Figure:
    """Held-out loss along training for each data fraction (passes) and regulariser."""
    use_course_style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    styles = {0: "-", 1: "--", 2: ":"}
    colors = plt.cm.plasma(np.linspace(0.05, 0.75, repetition["fraction"].nunique()))
    regs = list(dict.fromkeys(zip(repetition["dropout"], repetition["weight_decay"])))
    for color, (fraction, g) in zip(colors, repetition.groupby("fraction", sort=False)):
        for _, row in g.iterrows():
            curve = pd.DataFrame(row["curve"]).iloc[1:]
            style = styles[regs.index((row["dropout"], row["weight_decay"])) % 3]
            tokens = curve["step"] * row["tokens"] / row["steps"]
            share = "all the data" if fraction == 1 else f"1/{round(1 / fraction)} of the data"
            ax.plot(tokens / row["unique_tokens"], curve["val_loss"], style, color=color,
                    label=f"{share}, dropout {row['dropout']}, weight decay {row['weight_decay']}")
    ax.set(xscale="log", xlabel="passes over the training tokens", ylabel="held-out loss (nats per token)",
           title="Repeating data: held-out loss as the same tokens come back")
    ax.legend(fontsize=7)
    return fig


def run_study(profile: str = "full", *, folder: Path | None = None, publish: bool = False) -> dict[str, Any]:
    """Run (or resume) both experiments of ``profile``, write results, figures and a run record; return results."""
    from mlcourse.course.published import publish as publish_run, write_run_record

    folder = folder or runs_dir() / STEM / check_profile(profile)
    folder.mkdir(parents=True, exist_ok=True)
    started, start = datetime.now(timezone.utc), time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    runs = run_grid(GRIDS[profile], char_stream(), folder)
    repetition = run_repetition(REPETITIONS[profile], bpe_stream(folder), folder)
    results = {"profile": profile, "device": "cpu", **summarize(runs, repetition)}
    results["training_seconds"] = float(runs["seconds"].sum() + repetition["seconds"].sum())
    for name, fig in (("isoflop", plot_isoflop(runs)), ("frontier", plot_frontier(runs)),
                      ("repetition", plot_repetition(repetition))):
        fig.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    save_results(folder, results)
    # A resumed study trained part of its models earlier: the record's wall time is the larger of this session's and
    # the sum of every model's own training time (what a run from scratch would take on this machine).
    wall = max(time.perf_counter() - start, results["training_seconds"])
    previous = read_json(folder / "run.json", "delete it and run the study again") or {}
    if previous.get("started_utc"):  # the study began in an earlier session: keep that start
        started = min(started, datetime.fromisoformat(previous["started_utc"]))
    write_run_record(folder, STEM, profile, {"profile": profile}, started, wall, load_start)
    if publish:
        print(f"published -> {publish_run(STEM, profile)}")
    return results
