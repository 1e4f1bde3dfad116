"""Fitting scaling laws: the compute-optimal frontier, a power law with its uncertainty, IsoFLOP optima.

What it does (numpy and pandas only; the runs themselves are :mod:`mlcourse.labs.scaling_law`'s):
  * :func:`frontier`: for each compute budget, the model size with the lowest held-out loss (mean over seeds).
  * :func:`fit_power_law`: least squares of ``log L = log a - alpha log C``, i.e. ``L(C) = a C^-alpha``, with the
    exponent's uncertainty two ways: the standard error of the regression slope, and a bootstrap over seeds
    (each cell's loss redrawn from its own seeds, the frontier and the fit redone) giving a 95 % interval.
  * :func:`isoflop_optima`: Hoffmann et al.'s approach 2: at one budget, held-out loss against log N is close to
    a parabola; its vertex estimates the compute-optimal size N_opt(C) (``None`` when the parabola opens down or
    its vertex lies outside the sizes tried, i.e. the grid does not bracket the optimum).
  * :func:`fit_exponent`: the slope of ``log y`` against ``log x`` with its standard error (N_opt ~ C^a).

The exponents published for comparison (:data:`PUBLISHED`) are quoted from the papers; the chapter states the
caveats of comparing them with a 5 MB corpus.

What it deliberately does not do: fit the three-term form L(N, D) = E + A/N^alpha + B/D^beta (a 4 x 3 grid cannot
pin five parameters), or train anything. Taught in chapter 14 (scaling behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Published results the chapter sets beside ours.
PUBLISHED = {
    "kaplan_alpha_C": 0.050,  # Kaplan et al. 2020: L(C_min) = (C_min / 2.3e8 PF-days)^-0.050
    "kaplan_alpha_N": 0.076,  # L(N) ~ N^-0.076 (non-embedding parameters, data not limiting)
    "kaplan_alpha_D": 0.095,  # L(D) ~ D^-0.095
    "kaplan_N_opt_exponent": 0.73,  # N_opt ~ C^0.73
    "chinchilla_N_opt_exponent": 0.50,  # Hoffmann et al. 2022, approaches 1 and 2: N_opt ~ C^0.50, D_opt ~ C^0.50
    "chinchilla_tokens_per_parameter": 20.0,  # D_opt / N_opt ~ 20 at the compute-optimal point
    "chinchilla_alpha": 0.34, "chinchilla_beta": 0.28, "chinchilla_E": 1.69,  # approach 3's fitted L(N, D)
}


@dataclass(frozen=True)
class PowerLawFit:
    """``L(C) = a * C^-alpha`` fitted on the frontier, with the exponent's uncertainty."""

    a: float
    alpha: float
    alpha_se: float  # standard error of the least-squares slope (log-log)
    alpha_low: float  # 2.5 % and 97.5 % quantiles of the bootstrap over seeds
    alpha_high: float
    n_points: int

    def predict(self, compute: np.ndarray | float) -> np.ndarray:
        """Loss the law predicts at ``compute`` FLOPs."""
        return self.a * np.asarray(compute, dtype=float) ** -self.alpha


def _check(runs: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise ValueError(f"the runs table lacks the column(s) {missing}; it needs {list(columns)} "
                         "(one row per trained model, as scaling_law.run_grid returns).")


def cell_means(runs: pd.DataFrame, loss: str = "val_loss") -> pd.DataFrame:
    """One row per (budget, size): mean and spread over seeds of ``loss``, the mean FLOPs and parameters."""
    _check(runs, ("budget", "size", "n_params", "flops", loss))
    grouped = runs.groupby(["budget", "size"], as_index=False)
    return grouped.agg(n_params=("n_params", "first"), flops=("flops", "mean"), loss=(loss, "mean"),
                       loss_sd=(loss, "std"), seeds=(loss, "size"))


def frontier(runs: pd.DataFrame, loss: str = "val_loss") -> pd.DataFrame:
    """For each budget, the row of :func:`cell_means` with the lowest mean loss: the compute-optimal frontier."""
    means = cell_means(runs, loss)
    best = means.loc[means.groupby("budget")["loss"].idxmin()]
    return best.sort_values("budget").reset_index(drop=True)


def fit_exponent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares of ``log y = c + k log x``: returns (k, its standard error, exp(c)).

    The standard error is NaN with only two points (no residual degree of freedom)."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        raise ValueError(f"a power law needs at least 2 distinct x values, got {len(lx)} point(s).")
    (k, c), residuals, *_ = np.polyfit(lx, ly, 1, full=True)
    dof = len(lx) - 2
    se = float(np.sqrt(residuals[0] / dof / np.sum((lx - lx.mean()) ** 2))) if dof > 0 and len(residuals) else float("nan")
    return float(k), se, float(np.exp(c))


def fit_power_law(runs: pd.DataFrame, loss: str = "val_loss", *, n_boot: int = 1000, seed: int = 0) -> PowerLawFit:
    """Fit ``L = a C^-alpha`` to :func:`frontier` (C = the frontier runs' mean training FLOPs).

    Bootstrap: every (budget, size) cell's loss is the mean of its seeds drawn with replacement; the frontier
    is recomputed (a different size may win) and refitted, ``n_boot`` times."""
    front = frontier(runs, loss)
    slope, se, a = fit_exponent(front["flops"], front["loss"])
    rng = np.random.default_rng(seed)
    groups = [(key, g[loss].to_numpy(), g["flops"].mean()) for key, g in runs.groupby(["budget", "size"])]
    alphas = []
    for _ in range(n_boot):
        drawn = pd.DataFrame([{"budget": b, "size": s, "flops": f, "loss": rng.choice(v, len(v)).mean()}
                              for (b, s), v, f in groups])
        best = drawn.loc[drawn.groupby("budget")["loss"].idxmin()]
        alphas.append(-fit_exponent(best["flops"], best["loss"])[0])
    low, high = np.quantile(alphas, [0.025, 0.975])
    return PowerLawFit(a=a, alpha=-slope, alpha_se=se, alpha_low=float(low), alpha_high=float(high),
                       n_points=len(front))


def isoflop_optima(runs: pd.DataFrame, loss: str = "val_loss") -> pd.DataFrame:
    """Per budget: a parabola of mean loss against log10(N) over the sizes; its vertex N_opt and loss there.

    Columns: budget, flops, n_opt (NaN when not bracketed), loss_opt, curvature, bracketed (bool)."""
    rows = []
    for budget, g in cell_means(runs, loss).groupby("budget"):
        x = np.log10(g["n_params"].to_numpy(dtype=float))
        if len(x) < 3:
            raise ValueError(f"budget {budget:.3g}: a parabola needs at least 3 sizes, got {len(x)}.")
        curvature, b, c = np.polyfit(x, g["loss"].to_numpy(), 2)
        vertex = -b / (2 * curvature) if curvature > 0 else np.nan
        inside = bool(curvature > 0 and x.min() <= vertex <= x.max())
        rows.append({"budget": budget, "flops": g["flops"].mean(), "n_opt": 10 ** vertex if inside else np.nan,
                     "loss_opt": np.polyval([curvature, b, c], vertex) if inside else np.nan,
                     "curvature": curvature, "bracketed": inside})
    return pd.DataFrame(rows)
