"""Chapter 14's scaling study: the fits recover known laws; the grid and repetition runs are real, tiny and resumable."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mlcourse.labs import scaling_law as sl
from mlcourse.labs import scaling_study
from mlcourse.labs.scaling_fit import fit_exponent, fit_power_law, frontier, isoflop_optima


def synthetic_runs(alpha: float = 0.2, noise: float = 0.0, seeds: int = 2) -> pd.DataFrame:
    """Loss = 5 C^-alpha * (1 + (log10 N - log10 N_opt(C))^2 / 4), N_opt = C^0.5 / 100 (1e3 to 3e4): a known optimum per budget."""
    rng = np.random.default_rng(0)
    rows = []
    for budget in (1e10, 1e11, 1e12, 1e13):
        n_opt = budget ** 0.5 / 100
        for n in (1e2, 3e2, 1e3, 3e3, 1e4, 3e4, 1e5):
            for seed in range(seeds):
                loss = 5 * budget ** -alpha * (1 + (np.log10(n) - np.log10(n_opt)) ** 2 / 4)
                rows.append({"budget": budget, "size": f"n{int(n)}", "n_params": int(n), "flops": budget,
                             "seed": seed, "val_loss": loss * (1 + noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_the_fits_recover_a_known_power_law_and_the_isoflop_optima():
    runs = synthetic_runs()
    front = frontier(runs)
    assert list(front["budget"]) == [1e10, 1e11, 1e12, 1e13]
    fit = fit_power_law(runs, n_boot=50)
    # The frontier sits on the grid's sizes, a little above the true optimum: the slope is within 0.01.
    assert fit.alpha == pytest.approx(0.2, abs=0.01) and fit.alpha_low <= fit.alpha <= fit.alpha_high
    optima = isoflop_optima(runs)
    assert optima["bracketed"].all()
    assert np.allclose(np.log10(optima["n_opt"]), np.log10(optima["budget"] ** 0.5 / 100), atol=1e-6)
    exponent, se, _ = fit_exponent(optima["flops"], optima["n_opt"])
    assert exponent == pytest.approx(0.5, abs=1e-6) and se == pytest.approx(0.0, abs=1e-6)


def test_noise_widens_the_bootstrap_interval_and_an_unbracketed_optimum_is_said():
    quiet, noisy = fit_power_law(synthetic_runs(noise=0.001), n_boot=200), fit_power_law(synthetic_runs(noise=0.05), n_boot=200)
    assert noisy.alpha_high - noisy.alpha_low > quiet.alpha_high - quiet.alpha_low
    small = synthetic_runs()
    small = small.query("n_params <= 1000 and budget >= 1e11")  # every optimum (3e3 and up) lies above the sizes
    assert not isoflop_optima(small)["bracketed"].any() and isoflop_optima(small)["n_opt"].isna().all()


def test_bad_tables_raise_clear_errors():
    with pytest.raises(ValueError, match="lacks the column"):
        fit_power_law(synthetic_runs().drop(columns="flops"))
    with pytest.raises(ValueError, match="at least 3 sizes"):
        isoflop_optima(synthetic_runs().query("n_params <= 300"))
    with pytest.raises(ValueError, match="at least 2 distinct"):
        fit_exponent(np.array([1.0]), np.array([2.0]))


def tiny_stream() -> sl.Stream:
    generator = torch.Generator().manual_seed(0)
    cycle = torch.randperm(12, generator=generator)
    ids = torch.cat([cycle.repeat(150), torch.randint(0, 12, (600,), generator=generator)])
    return sl.Stream("tiny", ids[:1500], ids[1500:], 12, 1.0)


TINY = sl.ScalingGrid(shapes=(sl.Shape(8, 1, 2, 1), sl.Shape(16, 1, 2, 1), sl.Shape(16, 2, 2, 1)),
                      budgets=(4e7, 1.2e8), seeds=(0, 1), batch_size=4, seq_len=16, lr=1e-2, lr_width=16,
                      eval_windows=8)


def test_the_grid_trains_every_cell_once_at_its_budget_and_resumes(tmp_path, monkeypatch):
    runs = sl.run_grid(TINY, tiny_stream(), tmp_path, verbose=False)
    assert len(runs) == 3 * 2 * 2 and set(runs["size"]) == {"d8-L1", "d16-L1", "d16-L2"}
    assert (runs["flops"] / runs["budget"]).between(0.5, 2.0).all()  # steps rounded, at least 10
    assert (runs.query("size == 'd8-L1'")["lr"] == 2e-2).all()  # lr * lr_width / d_model
    assert not (tmp_path / "cell").exists()  # weights are not kept
    seeds = runs.pivot_table(index=["budget", "size"], columns="seed", values="val_loss")
    assert (seeds[0] != seeds[1]).all()  # seeds differ; the same seed is the same run (below)
    calls = []
    monkeypatch.setattr(sl, "_train_cell", lambda *a, **k: calls.append(a))
    again = sl.run_grid(TINY, tiny_stream(), tmp_path, verbose=False)
    assert calls == [] and again.equals(runs)  # a finished grid is read back, nothing retrained


def test_repetition_counts_passes_and_the_study_writes_results_and_figures(tmp_path, monkeypatch):
    study = sl.RepetitionStudy(shape=sl.Shape(16, 1, 2, 1), tokens=4_000, fractions=(1.0, 0.05),
                               regularizers=({"dropout": 0.0, "weight_decay": 0.1},), evals=4, batch_size=4,
                               seq_len=16)
    monkeypatch.setattr(scaling_study, "GRIDS", {"quick": TINY})
    monkeypatch.setattr(scaling_study, "REPETITIONS", {"quick": study})
    monkeypatch.setattr(scaling_study, "char_stream", tiny_stream)
    monkeypatch.setattr(scaling_study, "bpe_stream", lambda folder: tiny_stream())
    results = scaling_study.run_study("quick", folder=tmp_path)
    rep = pd.DataFrame(results["repetition"])
    assert list(rep["unique_tokens"]) == [1500, 75] and rep["passes"].iloc[1] == pytest.approx(62 * 4 * 16 / 75)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["n_sizes"] == 3 and saved["n_budgets"] == 2 and np.isfinite(saved["alpha"])
    assert all((tmp_path / f"{name}.png").stat().st_size > 10_000 for name in ("isoflop", "frontier", "repetition"))
    assert json.loads((tmp_path / "run.json").read_text())["stem"] == "p14_scaling_law"
