"""Pictures of a fit: the profile log-likelihood, coefficients with intervals, and, for a
distribution fitted to one column of data, the fitted density over the data and QQ / PP plots.

Each function draws on `ax` (a new figure when None) and returns the Axes. `Fit` exposes them
as methods (`fit.plot_profile("rate")`); the drawing code lives here.

Censored data (right-censored, e.g. `lk.fit(model, t, event=e)`): the empirical distribution
in QQ and PP plots is the Kaplan-Meier estimate, which is the ordinary empirical distribution
when nothing is censored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._engine.errors import ModelError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._engine.result import Fit


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


# ---------------------------------------------------------------------------------- profile
@dataclass(frozen=True)
class ProfileCurve:
    """The profile log-likelihood of one parameter, relative to its maximum."""

    param: str
    grid: np.ndarray  # natural-scale values of the parameter
    relative: np.ndarray  # max over the others of l(param, others) - l_hat
    estimate: float
    se: float
    interval: tuple[float, float]  # profile-likelihood interval at `level`
    level: float
    cutoff: float  # chi2_1(level) / 2: the interval is {relative >= -cutoff}


def profile_curve(fit: Fit, param: str, level: float = 0.95, points: int = 41) -> ProfileCurve:
    """Evaluate the profile log-likelihood of `param` on a grid that covers its interval."""
    from scipy.stats import chi2

    from ._engine.profile import _EDGE, profile_deviance

    layout = fit._ctx.problem.layout
    where = layout.elementwise_index()
    if param not in where:
        known = list(where)
        raise ModelError(
            f"no profile for {param!r}: it is fixed, unknown, or part of a simplex or matrix "
            f"parameter; profiles exist for {known}"
        )
    j = where[param]
    block = next(b for b in layout.blocks if b.offset <= j < b.offset + b.size)
    c = block.constraint
    lo, hi = (float(v) for v in fit.conf_int(level, "profile", [param]).iloc[0])
    u_hat = np.clip(np.asarray(fit._u, dtype=float), -_EDGE, _EDGE)
    var_u = fit._cov_u[j, j]
    se_u = float(np.sqrt(var_u)) if np.isfinite(var_u) and var_u > 0 else 1.0

    def to_u(value: float, side: float) -> float:
        if not np.isfinite(value):
            return float(u_hat[j] + side * 4.0 * se_u)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = float(np.asarray(c.inverse(np.array([value]))).ravel()[0])
        return float(np.clip(u, -_EDGE, _EDGE)) if np.isfinite(u) else side * _EDGE

    half = max(points // 2, 3)
    grid_u, dev = [u_hat[j]], [0.0]
    for side, end in ((-1.0, lo), (1.0, hi)):
        stop = to_u(end, side)
        stop = u_hat[j] + 1.35 * (stop - u_hat[j])  # run a little past the interval's end
        if stop == u_hat[j]:
            continue
        start = u_hat
        for uj in np.linspace(u_hat[j], stop, half + 1)[1:]:
            d, u = profile_deviance(fit, j, float(uj), start)
            if not np.isfinite(d):
                break
            grid_u.append(float(uj))
            dev.append(d)
            start = u
    order = np.argsort(grid_u)
    gu = np.asarray(grid_u)[order]
    import jax.numpy as jnp

    grid = np.array([float(np.asarray(c.forward(jnp.asarray([v]), ())).ravel()[0]) for v in gu])
    return ProfileCurve(
        param,
        grid,
        -0.5 * np.asarray(dev)[order],
        float(fit.params[param]),
        float(fit.se[param]),
        (lo, hi),
        level,
        float(chi2.ppf(level, 1)) / 2,
    )


def plot_profile(
    fit: Fit, param: str, level: float = 0.95, ax: Axes | None = None, points: int = 41
) -> Axes:
    """Profile log-likelihood of `param` (relative to the maximum), with the profile
    interval shaded, the Wald interval and the Wald quadratic approximation dashed."""
    pc = profile_curve(fit, param, level, points)
    ax = _axes(ax)
    what = "log posterior" if fit.is_map else "log-likelihood"
    ax.plot(pc.grid, pc.relative, color="C0", lw=2, label=f"profile {what}")
    if np.isfinite(pc.se) and pc.se > 0:
        z = np.sqrt(2 * pc.cutoff)
        wald = -0.5 * ((pc.grid - pc.estimate) / pc.se) ** 2
        ax.plot(pc.grid, wald, color="C1", ls="--", lw=1.2, label="Wald (quadratic) approximation")
        for v in (pc.estimate - z * pc.se, pc.estimate + z * pc.se):
            ax.axvline(v, color="C1", ls=":", lw=1)
    lo, hi = pc.interval
    left = lo if np.isfinite(lo) else pc.grid[0]
    right = hi if np.isfinite(hi) else pc.grid[-1]
    pct = f"{pc.level * 100:g}%"
    ax.axvspan(left, right, color="C0", alpha=0.12, label=f"{pct} profile interval")
    ax.axhline(-pc.cutoff, color="grey", lw=0.8, label=f"-chi2_1({pc.level:g}) / 2")
    ax.axvline(pc.estimate, color="k", lw=0.8, ls="--")
    finite = pc.relative[np.isfinite(pc.relative)]
    bottom = min(-3.0 * pc.cutoff, float(finite.min()) if finite.size else -3.0 * pc.cutoff)
    ax.set_ylim(bottom, 0.15 * pc.cutoff)
    ax.set_xlim(pc.grid[0], pc.grid[-1])
    ax.set_xlabel(param)
    ax.set_ylabel(f"{what} - maximum")
    ax.set_title(f"{fit.model.name}: profile of {param} (MLE {pc.estimate:.4g})")
    ax.legend(fontsize=8, loc="lower center")
    return ax


# ---------------------------------------------------------------------------- coefficients
def _coef_labels(fit: Fit) -> list[str]:
    """Regression coefficients (a parameter named "beta") if there are any, else every free
    parameter."""
    free = set(fit._free_labels)
    blocks = [b for b in fit._all_layout.blocks if b.name == "beta"]
    labels = blocks[0].labels if blocks else fit.labels
    return [lab for lab in labels if lab in free]


def plot_coef(
    fit: Fit,
    level: float = 0.95,
    method: str = "wald",
    params: list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Estimates as points with their `level` intervals as bars, one row per parameter."""
    labels = list(params) if params is not None else _coef_labels(fit)
    ci = fit.conf_int(level, method, labels)
    est = fit.params[labels].to_numpy()
    ax = _axes(ax, (6.0, 1.2 + 0.35 * len(labels)))
    y = np.arange(len(labels))[::-1]
    lower = est - ci["lower"].to_numpy()
    upper = ci["upper"].to_numpy() - est
    ax.errorbar(est, y, xerr=[lower, upper], fmt="o", color="C0", ecolor="C0", capsize=3)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_xlabel(f"estimate with {level * 100:g}% {method} interval")
    ax.set_title(fit.model.name)
    return ax


# ------------------------------------------------------------------- univariate distributions
@dataclass(frozen=True)
class _Univariate:
    model: Any  # the distribution (without the censoring wrapper)
    values: dict[str, np.ndarray]
    x: np.ndarray  # observed values; for censored data the left end of each interval
    w: np.ndarray
    observed: np.ndarray  # True for exact observations, False for right-censored ones
    discrete: bool

    @property
    def censored(self) -> bool:
        return not bool(self.observed.all())


def _univariate(fit: Fit, what: str) -> _Univariate:
    from ._engine.censoring import EXACT, RIGHT, CensoredModel
    from .distributions import (
        Bernoulli,
        Binomial,
        Categorical,
        Geometric,
        NegativeBinomial,
        Poisson,
    )

    model = fit.model
    data = fit._ctx.data
    w = np.asarray(fit._ctx.weights, dtype=float)
    if isinstance(model, CensoredModel):
        base = model.base
        kind = np.asarray(data["kind"])
        if not np.isin(kind, (EXACT, RIGHT)).all():
            raise ModelError(
                f"{what} handles exact and right-censored observations; this fit has left- or "
                "interval-censored ones"
            )
        x, observed = np.asarray(data["a"], dtype=float), kind == EXACT
    else:
        base = model
        if not isinstance(data, np.ndarray) or data.ndim != 1:
            raise ModelError(
                f"{what} is for a distribution fitted to one column of numbers; {model.name} "
                "was fitted to other data (for regressions use plot_coef or plot_profile)"
            )
        x = np.asarray(data, dtype=float)
        observed = np.ones(x.shape, dtype=bool)
    keep = w > 0
    discrete = isinstance(
        base, Bernoulli | Binomial | Categorical | Geometric | NegativeBinomial | Poisson
    )
    values = {k: np.asarray(v) for k, v in fit.values.items()}
    return _Univariate(base, values, x[keep], w[keep], observed[keep], discrete)


def scipy_twin(model: Any, values: dict[str, np.ndarray]) -> Any:
    """The scipy.stats frozen distribution equal to a built-in family at `values`, or None."""
    from scipy import stats

    from . import distributions as d

    p = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    s = {k: float(v) for k, v in p.items() if v.ndim == 0}
    twins: dict[type, Any] = {
        d.Normal: lambda: stats.norm(s["mu"], s["sigma"]),
        d.LogNormal: lambda: stats.lognorm(s["sigma"], scale=np.exp(s["mu"])),
        d.Exponential: lambda: stats.expon(scale=1 / s["rate"]),
        d.Gamma: lambda: stats.gamma(s["shape"], scale=1 / s["rate"]),
        d.Weibull: lambda: stats.weibull_min(s["shape"], scale=s["scale"]),
        d.Beta: lambda: stats.beta(s["a"], s["b"]),
        d.Laplace: lambda: stats.laplace(s["loc"], s["scale"]),
        d.StudentT: lambda: stats.t(s["df"], s["loc"], s["scale"]),
        d.Bernoulli: lambda: stats.bernoulli(s["p"]),
        d.Binomial: lambda: stats.binom(model.n, s["p"]),
        d.Poisson: lambda: stats.poisson(s["rate"]),
        d.Geometric: lambda: stats.geom(s["p"]),
        d.NegativeBinomial: lambda: stats.nbinom(1 / s["alpha"], 1 / (1 + s["alpha"] * s["mu"])),
        d.Categorical: lambda: stats.rv_discrete(values=(np.arange(p["p"].size), p["p"])),
    }
    make = twins.get(type(model))
    return None if make is None else make()


def _cdf(u: _Univariate, x: np.ndarray) -> np.ndarray:
    twin = scipy_twin(u.model, u.values)
    if twin is not None:
        return np.asarray(twin.cdf(x), dtype=float)
    logcdf = getattr(u.model, "logcdf", None)
    if logcdf is None:
        raise ModelError(f"{u.model.name} has no logcdf, so its QQ and PP plots cannot be drawn")
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in u.values.items()}
    return np.exp(np.asarray(logcdf(params, jnp.asarray(x, dtype=float))))


def _ppf(u: _Univariate, q: np.ndarray) -> np.ndarray:
    twin = scipy_twin(u.model, u.values)
    if twin is not None:
        return np.asarray(twin.ppf(q), dtype=float)
    # a model of your own: invert its cdf by bisection from a bracket around the data
    span = float(np.ptp(u.x)) or 1.0
    lo = np.full(q.shape, float(u.x.min()) - span)
    hi = np.full(q.shape, float(u.x.max()) + span)
    lower_end = float(getattr(u.model, "support_lower", -np.inf))
    for _ in range(60):
        low = _cdf(u, lo) > q
        high = _cdf(u, hi) < q
        if not (low.any() or high.any()):
            break
        lo = np.where(low, np.maximum(lo - 2 * span, lower_end), lo)
        hi = np.where(high, hi + 2 * span, hi)
        span *= 2
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        below = _cdf(u, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def kaplan_meier(
    x: np.ndarray, observed: np.ndarray, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the distribution function at the distinct observed times.

    Returns (times, F just before each time, F at each time). Without censoring this is the
    (weighted) empirical distribution function.
    """
    w = np.ones_like(x, dtype=float) if w is None else np.asarray(w, dtype=float)
    order = np.argsort(x, kind="stable")
    x, observed, w = x[order], observed[order], w[order]
    times, first = np.unique(x, return_index=True)
    at_risk = w.sum() - np.concatenate([[0.0], np.cumsum(w)])[first]
    events = np.add.reduceat(np.where(observed, w, 0.0), first)
    keep = events > 0
    times, at_risk, events = times[keep], at_risk[keep], events[keep]
    surv = np.cumprod(1.0 - events / at_risk)
    before = np.concatenate([[1.0], surv[:-1]])
    return times, 1.0 - before, 1.0 - surv


def _empirical(u: _Univariate) -> tuple[np.ndarray, np.ndarray]:
    """(distinct observed values, empirical probability plotted against each): the middle
    of the Kaplan-Meier step for continuous families, its top for discrete ones."""
    times, before, after = kaplan_meier(u.x, u.observed, u.w)
    return times, (after if u.discrete else 0.5 * (before + after))


def plot_density(
    fit: Fit,
    ax: Axes | None = None,
    bins: Any = "auto",
    hist: bool = True,
    label: str | None = None,
) -> Axes:
    """The fitted density (or probability mass function) over a histogram (bar chart) of the
    data. Censored data are shown as tick marks (observed) and triangles (censored), not as a
    histogram, which censoring would bias."""
    import jax.numpy as jnp

    u = _univariate(fit, "plot_density")
    ax = _axes(ax)
    params = {k: jnp.asarray(v) for k, v in u.values.items()}
    name = label or f"fitted {u.model.name}"
    if u.discrete:
        top = int(max(u.x.max(), 1))
        if isinstance(getattr(u.model, "n", None), int):  # Binomial: the whole support
            top = int(u.model.n)
        elif u.values.get("p", np.zeros(())).ndim == 1:  # Categorical: one bar per category
            top = int(u.values["p"].size - 1)
        grid = np.arange(0, top + 1, dtype=float)
        pmf = np.exp(np.asarray(u.model.logpdf(params, jnp.asarray(grid))))
        if hist and not u.censored:
            freq = np.bincount(u.x.astype(int), weights=u.w, minlength=grid.size)[: grid.size]
            ax.bar(grid, freq / u.w.sum(), width=0.8, color="0.8", label="data (proportion)")
        ax.plot(grid, pmf, "o", color="C0" if label is None else None, label=name)
        ax.vlines(grid, 0, pmf, color="C0" if label is None else None, lw=1)
        ax.set_ylabel("probability")
    else:
        lo, hi = float(u.x.min()), float(u.x.max())
        pad = 0.05 * (hi - lo or 1.0)
        lower_end = float(getattr(u.model, "support_lower", -np.inf))
        grid = np.linspace(max(lo - pad, lower_end), hi + pad, 400)
        with np.errstate(all="ignore"):
            dens = np.exp(np.asarray(u.model.logpdf(params, jnp.asarray(grid))))
        dens = np.where(np.isfinite(dens), dens, np.nan)
        if hist and not u.censored:
            edges = np.histogram_bin_edges(u.x, bins)  # numpy picks "auto" bins unweighted
            ax.hist(u.x, bins=list(edges), weights=u.w, density=True, color="0.8", label="data")
        ax.plot(grid, dens, lw=2, label=name)
        ax.set_ylabel("density")
    if u.censored and hist:
        ax.plot(u.x[u.observed], np.zeros(int(u.observed.sum())), "|", color="k", ms=10,
                label="observed")  # fmt: skip
        ax.plot(u.x[~u.observed], np.zeros(int((~u.observed).sum())), ">", color="C3", ms=4,
                mfc="none", label="censored")  # fmt: skip
    ax.set_xlabel("x")
    ax.set_title(f"{u.model.name} fitted to {u.x.size} observations")
    ax.legend(fontsize=8)
    return ax


def plot_qq(fit: Fit, ax: Axes | None = None) -> Axes:
    """Quantile-quantile plot: observed values against the fitted distribution's quantiles
    at their empirical probabilities; on the diagonal when the family fits."""
    u = _univariate(fit, "plot_qq")
    times, prob = _empirical(u)
    ok = (prob > 0) & (prob < 1)
    theory = _ppf(u, prob[ok])
    ax = _axes(ax, (4.5, 4.5))
    ax.plot(theory, times[ok], "o", ms=3.5, alpha=0.7, color="C0")
    both = np.concatenate([theory[np.isfinite(theory)], times[ok]])
    a, b = float(both.min()), float(both.max())
    ax.plot([a, b], [a, b], color="C3", lw=1)
    ax.set_xlabel(f"{u.model.name} quantiles")
    ax.set_ylabel("observed" + (" (Kaplan-Meier)" if u.censored else ""))
    ax.set_title("QQ plot")
    return ax


def plot_pp(fit: Fit, ax: Axes | None = None) -> Axes:
    """Probability-probability plot: the empirical distribution function against the fitted
    one at each observed value; on the diagonal when the family fits."""
    u = _univariate(fit, "plot_pp")
    times, prob = _empirical(u)
    ax = _axes(ax, (4.5, 4.5))
    ax.plot(_cdf(u, times), prob, "o", ms=3.5, alpha=0.7, color="C0")
    ax.plot([0, 1], [0, 1], color="C3", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"fitted {u.model.name} cdf")
    ax.set_ylabel("empirical cdf" + (" (Kaplan-Meier)" if u.censored else ""))
    ax.set_title("PP plot")
    return ax


def plot_cdf(fit: Fit, ax: Axes | None = None, empirical: bool = True, label: str | None = None):
    """The fitted distribution function, over the empirical one (Kaplan-Meier if censored)."""
    u = _univariate(fit, "plot_cdf")
    ax = _axes(ax)
    if empirical:
        times, _, after = kaplan_meier(u.x, u.observed, u.w)
        ax.step(np.concatenate([[times[0]], times]), np.concatenate([[0.0], after]),
                where="post", color="k", lw=1,
                label="Kaplan-Meier" if u.censored else "empirical")  # fmt: skip
    lo, hi = float(u.x.min()), float(u.x.max())
    grid = np.linspace(lo, hi, 300) if not u.discrete else np.arange(np.floor(lo), hi + 1)
    ax.plot(grid, _cdf(u, grid), lw=1.8, label=label or f"fitted {u.model.name}",
            drawstyle="steps-post" if u.discrete else "default")  # fmt: skip
    ax.set_xlabel("x")
    ax.set_ylabel("cumulative probability")
    ax.legend(fontsize=8)
    return ax
