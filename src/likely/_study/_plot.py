"""Pictures of a study (the sampling distribution becoming normal, coverage and efficiency
against n) and of a bootstrap distribution. Figures are built without pyplot, so they work
with any backend and are safe in scripts and servers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._engine.errors import ModelError

if TYPE_CHECKING:
    from ._bootstrap import Bootstrap
    from ._study import Study


def _normal_pdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def plot_study(study: Study, params: Sequence[str] | None = None) -> Any:
    from matplotlib.figure import Figure

    labels = list(params) if params is not None else study.labels[:4]
    unknown = [p for p in labels if p not in study.labels]
    if unknown or not labels:
        raise ModelError(f"params must name studied quantities {study.labels}, got {unknown}")
    cols = max(len(labels), 2)
    fig = Figure(figsize=(3.6 * cols, 6.6), layout="constrained")
    grid = fig.add_gridspec(2, 2 * cols)
    table = study.table()
    colors = [f"C{i % 10}" for i in range(len(study.runs))]
    for c, lab in enumerate(labels):
        j = study.labels.index(lab)
        ax = fig.add_subplot(grid[0, 2 * c : 2 * c + 2])
        truth = float(study.truth.iloc[j])
        kept = [run.estimates[run.ok, j] for run in study.runs]
        ends = [np.quantile(e, [0.005, 0.995]) for e in kept if e.size >= 2]
        if not ends:
            continue
        # the range of the bulk of every run's estimates (the widest tails are left out)
        lo, hi = min(e[0] for e in ends), max(e[1] for e in ends)
        bins = np.linspace(lo, hi, 60)
        grid_x = np.linspace(lo, hi, 400)
        for run, est, color in zip(study.runs, kept, colors):
            if est.size < 2:
                continue
            inside = est[(est >= lo) & (est <= hi)]
            # a density over all the run's estimates, those outside the range included
            scale = 1.0 / (est.size * (bins[1] - bins[0]))
            ax.hist(
                inside,
                bins=list(bins),
                weights=np.full(inside.size, scale),
                histtype="step",
                color=color,
            )
            sd = float(run.crlb_sd[j])
            if np.isfinite(sd) and sd > 0:
                ax.plot(grid_x, _normal_pdf(grid_x, truth, sd), color=color, ls="--", lw=1)
            ax.plot([], [], color=color, label=f"n = {run.n}")
        ax.axvline(truth, color="k", lw=0.8)
        ax.set_title(f"{lab}: estimates vs N(truth, CRLB)", fontsize=9)
        ax.set_xlabel(lab)
        ax.legend(fontsize=7)
    ns = np.array(study.n, dtype=float)
    half = cols
    cov = fig.add_subplot(grid[1, :half])
    eff = fig.add_subplot(grid[1, half:])
    band = 1.96 * np.sqrt(study.level * (1 - study.level) / study.reps)
    cov.axhspan(study.level - band, study.level + band, color="0.85", label="Monte Carlo band")
    cov.axhline(study.level, color="k", lw=0.8)
    eff.axhline(1.0, color="k", lw=0.8)
    for i, lab in enumerate(labels):
        rows = table[table["param"] == lab]
        color = f"C{i % 10}"
        cov.plot(ns, rows["coverage_wald"], "o-", color=color, label=f"{lab} Wald")
        if rows["profile_reps"].gt(0).any():
            cov.plot(ns, rows["coverage_profile"], "s--", color=color, label=f"{lab} profile")
        eff.plot(ns, rows["efficiency"], "o-", color=color, label=lab)
    for ax, title in (
        (cov, f"coverage of {study.level:g} intervals"),
        (eff, "efficiency: sd / Cramér–Rao bound"),
    ):
        if len(ns) > 1:
            ax.set_xscale("log")
        ax.set_xlabel("n")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{study.model.name}: {study.reps} replicates per n", fontsize=10)
    return fig


def plot_bootstrap(boot: Bootstrap, level: float = 0.95) -> Any:
    import warnings

    from matplotlib.figure import Figure

    from .._engine.errors import InferenceWarning

    labels = boot.labels[:6]
    fig = Figure(figsize=(3.6 * len(labels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(labels), squeeze=False)[0]
    pct = boot.conf_int(level, "percentile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferenceWarning)
        bca = boot.conf_int(level, "bca")
    for ax, lab in zip(axes, labels):
        values = boot.estimates[lab].to_numpy()
        ax.hist(values, bins=50, density=True, color="0.7")
        ax.axvline(boot.estimate[lab], color="k", lw=1, label="estimate")
        for ci, color, name in ((pct, "C0", "percentile"), (bca, "C1", "BCa")):
            for end in ("lower", "upper"):
                ax.axvline(ci.loc[lab, end], color=color, ls="--", lw=1)
            ax.plot([], [], color=color, ls="--", label=name)
        ax.set_title(lab, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{boot.kind} bootstrap, {boot.reps} replicates", fontsize=10)
    return fig
