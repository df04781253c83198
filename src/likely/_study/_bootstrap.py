"""The bootstrap of a fit: nonparametric (frequency weights on the fit's own data) or
parametric (data simulated from the fit), every replicate refitted in one compiled, vmapped
Newton solve per chunk; percentile, basic and BCa intervals.

Definitions (Efron and Tibshirani 1993, An Introduction to the Bootstrap, ch. 13-14; the
same conventions as `scipy.stats.bootstrap`): with theta* the replicates and alpha =
(1 - level) / 2,

- percentile: the alpha and 1 - alpha quantiles of theta* (linear interpolation);
- basic: 2 theta_hat minus those quantiles, swapped;
- BCa: the quantiles at Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for z = z_alpha, z_(1-alpha),
  where z0 = Phi^-1(share of theta* below theta_hat, ties counting half) and the
  acceleration a = sum d^3 / (6 (sum d^2)^(3/2)) with d_i = mean(theta_(.)) - theta_(i)
  over the leave-one-out (jackknife) estimates theta_(i).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._engine.censoring import CensoredModel
from .._engine.errors import ConvergenceWarning, InferenceWarning, ModelError
from .._engine.problem import Problem
from .._engine.result import Fit, _z
from . import _batch as B
from ._progress import Progress
from ._simulate import BLOCK, block_rng, seed_sequence, simulator_for
from ._study import CHUNK_ELEMENTS, _check_model

KINDS = ("nonparametric", "parametric")
METHODS = ("percentile", "basic", "bca")
#: Above this many rows the BCa acceleration comes from the empirical influence values
#: (the infinitesimal jackknife, one pass over the scores) instead of n leave-one-out fits.
JACKKNIFE_MAX_ROWS = 2000


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap replicates of a fit's estimates and the intervals built from them."""

    kind: str
    estimate: pd.Series  # the fit's estimate of each quantity
    replicates: np.ndarray  # (reps, k); rows of failed refits are NaN
    status: np.ndarray  # (reps,) 0 = converged
    jackknife: np.ndarray  # (m, k) leave-one-out estimates, or influence values
    jackknife_counts: np.ndarray  # (m,) observations each row of `jackknife` stands for
    acceleration_method: str  # "jackknife" or "influence"
    _problem: Problem = field(repr=False)
    _fixed: dict[str, np.ndarray] = field(repr=False)
    _u: np.ndarray = field(repr=False)  # (reps, p) unconstrained replicates
    _u_hat: np.ndarray = field(repr=False)
    _jack_u: np.ndarray = field(repr=False)  # (m, p) leave-one-out u, or influence on u

    @property
    def labels(self) -> list[str]:
        return list(self.estimate.index)

    @property
    def ok(self) -> np.ndarray:
        return (self.status == 0) & np.all(np.isfinite(self.replicates), axis=1)

    @property
    def reps(self) -> int:
        return int(self.status.shape[0])

    @property
    def failed(self) -> int:
        """Replicates whose refit did not converge (left out of everything)."""
        return int(self.reps - self.ok.sum())

    @property
    def estimates(self) -> pd.DataFrame:
        """The bootstrap distribution: one row per successful replicate."""
        return pd.DataFrame(self.replicates[self.ok], columns=self.labels)

    @property
    def se(self) -> pd.Series:
        """Bootstrap standard errors: the sd of the replicates (ddof = 1)."""
        return pd.Series(
            np.std(self.replicates[self.ok], axis=0, ddof=1), index=self.labels, name="se"
        )

    @property
    def bias(self) -> pd.Series:
        """Bootstrap estimate of the bias: mean of the replicates minus the estimate."""
        mean = np.mean(self.replicates[self.ok], axis=0)
        return pd.Series(mean - self.estimate.to_numpy(), index=self.labels, name="bias")

    @property
    def acceleration(self) -> pd.Series:
        """BCa's acceleration a for each quantity."""
        return pd.Series(_acceleration(self), index=self.labels, name="acceleration")

    def conf_int(self, level: float = 0.95, method: str = "percentile") -> pd.DataFrame:
        """Bootstrap confidence intervals: method "percentile", "basic" or "bca"."""
        if method not in METHODS:
            raise ModelError(f"method must be one of {METHODS}, got {method!r}")
        z = _z(level)
        alpha = (1.0 - level) / 2.0
        theta = self.replicates[self.ok]
        if theta.shape[0] < 2:
            raise ModelError("fewer than two successful bootstrap replicates")
        hat = self.estimate.to_numpy()
        k = theta.shape[1]
        if method == "bca":
            from scipy.special import ndtr, ndtri

            below = (np.sum(theta < hat, axis=0) + np.sum(theta <= hat, axis=0)) / (
                2.0 * theta.shape[0]
            )
            z0 = ndtri(below)
            a = _acceleration(self)
            probs = np.empty((k, 2))
            for i, zz in enumerate((-z, z)):
                num = z0 + zz
                probs[:, i] = ndtr(z0 + num / (1.0 - a * num))
            bad = ~np.all(np.isfinite(probs), axis=1)
            if bad.any():
                names = [self.labels[j] for j in np.flatnonzero(bad)]
                warnings.warn(
                    f"BCa interval undefined for {names} (a degenerate bootstrap distribution "
                    "or every replicate on one side of the estimate)",
                    InferenceWarning,
                    stacklevel=2,
                )
        else:
            probs = np.tile([alpha, 1.0 - alpha], (k, 1))
        lower, upper = np.full(k, np.nan), np.full(k, np.nan)
        for j in range(k):
            if np.all(np.isfinite(probs[j])):
                lower[j], upper[j] = np.quantile(theta[:, j], probs[j])
        if method == "basic":
            lower, upper = 2.0 * hat - upper, 2.0 * hat - lower
        return pd.DataFrame({"lower": lower, "upper": upper}, index=self.labels)

    def transform(self, g: Callable[[Mapping[str, Any]], Any]) -> Bootstrap:
        """The bootstrap of g(theta): g applied to every replicate (invariance), with the
        jackknife (or influence values) carried along for BCa. `g` is written in jax.numpy."""
        names = B.transform_names(self._problem, g, self._u_hat, self._fixed)
        est, G = B.apply_transform(self._problem, g, self._u_hat[None, :], self._fixed)
        reps = np.full((self.reps, est.shape[1]), np.nan)
        good = np.all(np.isfinite(self._u), axis=1)
        if good.any():
            reps[good] = B.apply_transform(self._problem, g, self._u[good], self._fixed)[0]
        if self.acceleration_method == "jackknife":
            jack = B.apply_transform(self._problem, g, self._jack_u, self._fixed)[0]
        else:
            jack = self._jack_u @ G[0].T
        return Bootstrap(
            self.kind,
            pd.Series(est[0], index=names, name="estimate"),
            reps,
            self.status,
            jack,
            self.jackknife_counts,
            self.acceleration_method,
            self._problem,
            self._fixed,
            self._u,
            self._u_hat,
            self._jack_u,
        )

    def plot(self, level: float = 0.95) -> Any:
        """Histograms of the bootstrap distribution with the percentile and BCa intervals."""
        from ._plot import plot_bootstrap

        return plot_bootstrap(self, level)

    def __repr__(self) -> str:
        t = pd.DataFrame({"estimate": self.estimate, "boot se": self.se, "bias": self.bias})
        pct = self.conf_int(method="percentile")
        t["pct lower"], t["pct upper"] = pct["lower"], pct["upper"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferenceWarning)
            bca = self.conf_int(method="bca")
        t["BCa lower"], t["BCa upper"] = bca["lower"], bca["upper"]
        with pd.option_context("display.float_format", "{:.6g}".format, "display.width", 140):
            body = t.to_string()
        return (
            f"Bootstrap ({self.kind}), {self.reps} replicates, {self.failed} failed; 95% "
            f"intervals; acceleration from the {self.acceleration_method}\n{body}"
        )


def _acceleration(boot: Bootstrap) -> np.ndarray:
    c = boot.jackknife_counts.astype(float)
    vals = boot.jackknife
    if boot.acceleration_method == "jackknife":
        d = (c @ vals) / c.sum() - vals
    else:  # influence values: theta_(i) - theta_hat ~ -IF_i / (n - 1)
        d = vals - (c @ vals) / c.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c @ d**3) / (6.0 * (c @ d**2) ** 1.5)


def bootstrap(
    fit: Fit,
    reps: int = 2000,
    kind: str = "nonparametric",
    *,
    key: Any = 0,
    chunk: int | None = None,
    progress: bool | None = None,
    max_iter: int = 100,
    indices: np.ndarray | None = None,
) -> Bootstrap:
    """Bootstrap a fit: refit `reps` resampled (or simulated) data sets.

    Parameters
    ----------
    fit : the fit to bootstrap.
    reps : number of bootstrap replicates.
    kind : "nonparametric" resamples the observations (multinomial frequency weights on the
        fit's own rows, all refits sharing one copy of the data; for a regression, rows are
        resampled as pairs); "parametric" simulates new data from the fitted model (a GLM's
        design held fixed).
    key : an int seed or a jax PRNG key.
    chunk, progress, max_iter : as in `lk.study`.
    indices : (reps, n) row indices of the resamples to use instead of drawing them (to
        reproduce another tool's resamples); nonparametric, unit weights only.

    Returns
    -------
    Bootstrap, with ``conf_int(level, method="percentile" | "basic" | "bca")``, ``se``,
    ``bias``, ``estimates`` (the bootstrap distribution) and ``transform(g)``.
    """
    if not isinstance(fit, Fit):
        raise ModelError(f"bootstrap needs a Fit, got {type(fit).__name__}")
    if kind not in KINDS:
        raise ModelError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(reps, int | np.integer) or reps < 2:
        raise ModelError(f"reps must be a whole number >= 2, got {reps!r}")
    reps = int(reps)
    ctx = fit._ctx
    problem = ctx.problem
    model = problem.model
    if fit.method == "proximal newton":
        raise ModelError(
            "an L1 (Laplace) prior makes the objective non-smooth; the batched Newton refits "
            "of the bootstrap need a smooth one"
        )
    if isinstance(model, CensoredModel):
        if kind == "parametric":
            raise ModelError(
                "a parametric bootstrap of censored data needs the censoring mechanism; use "
                "kind='nonparametric' (resampling the censored observations)"
            )
        _check_model(model.base)
    else:
        _check_model(model)
    if fit.boundary:
        raise ModelError(
            f"the estimate of {list(fit.boundary)} is on the boundary of the parameter space; "
            "the bootstrap needs an interior estimate to start from"
        )
    u_hat = np.asarray(fit._u, dtype=float)
    fixed = {k: np.asarray(v) for k, v in ctx.fixed.items()}
    w = np.asarray(ctx.weights, dtype=float)
    n = w.shape[0]
    whole = bool(np.all(w == np.round(w)))
    root = seed_sequence(key)
    labels = list(problem.layout.labels)
    estimate = pd.Series(B.natural(problem, u_hat[None, :])[0][0], index=labels, name="estimate")

    if indices is not None:
        if kind != "nonparametric" or not np.all(w == 1.0):
            raise ModelError("indices= is for the nonparametric bootstrap of unweighted fits")
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != n or idx.min() < 0 or idx.max() >= n:
            raise ModelError(f"indices must be an array (reps, {n}) of row numbers 0..{n - 1}")
        reps = idx.shape[0]

    values = {k: np.asarray(v, float) for k, v in fit.values.items()}
    simulator = None
    rows_drawn, sim_weights = n, w
    if kind == "parametric":
        simulator = simulator_for(model, fit_data=ctx.data, fit_weights=w)
        if simulator.shared is None:  # a distribution: draw every observation afresh
            if not whole:
                raise ModelError(
                    "the parametric bootstrap of a fit with non-integer weights is not defined"
                )
            rows_drawn = round(float(w.sum()))
            sim_weights = np.ones(rows_drawn)

    def draw(b: int, size: int) -> tuple[Any, Any, np.ndarray, bool]:
        """(data, axes, weights, weights batched) of the replicates of block b."""
        if simulator is not None:
            data, axes = simulator.batch(values, size, rows_drawn, block_rng(root, (2,), b))
            return data, axes, sim_weights, False
        if indices is not None:
            rows = np.asarray(indices)[b * BLOCK : b * BLOCK + size]
            counts = np.zeros((size, n))
            np.add.at(counts, (np.arange(size)[:, None], rows), 1.0)
            return ctx.data, None, counts, True
        rng = block_rng(root, (1,), b)
        if whole:  # resample the observations: a row of frequency w is w observations
            total = round(float(w.sum()))
            return ctx.data, None, rng.multinomial(total, w / w.sum(), size).astype(float), True
        return ctx.data, None, rng.multinomial(n, np.full(n, 1.0 / n), size) * w, True

    lanes = reps if reps * rows_drawn <= CHUNK_ELEMENTS else CHUNK_ELEMENTS // rows_drawn
    if chunk is not None:
        if not isinstance(chunk, int) or chunk < 1:
            raise ModelError(f"chunk must be a whole number >= 1, got {chunk!r}")
        lanes = chunk
    lanes = B.lanes_for(reps) if lanes >= reps else max(BLOCK, lanes // BLOCK * BLOCK)

    bar = Progress(reps, f"bootstrap ({kind})", progress)
    u_all = np.full((reps, u_hat.shape[0]), np.nan)
    nat = np.full((reps, len(labels)), np.nan)
    status = np.empty(reps, dtype=int)
    try:
        for start in range(0, reps, lanes):
            stop = min(start + lanes, reps)
            blocks = [
                B.Batch(problem, *draw(b, min(BLOCK, reps - b * BLOCK))).reduced()
                for b in range(start // BLOCK, -(-stop // BLOCK))
            ]
            batch = blocks[0].concat(blocks[1:])
            u0 = np.tile(u_hat, (stop - start, 1))
            res = B.fit_lanes(batch, u0, fixed, max_iter=max_iter, lanes=lanes)
            status[start:stop] = res.status
            u_all[start:stop] = np.where(res.converged[:, None], res.u, np.nan)
            nat[start:stop] = np.where(res.converged[:, None], res.natural, np.nan)
            bar.update(stop - start)
    finally:
        bar.close()
    failed = int(np.sum(status != 0))
    if failed:
        warnings.warn(
            f"{model.name}: {failed} of {reps} bootstrap refits did not converge; they are left "
            "out of the bootstrap distribution (see .failed and .status)",
            ConvergenceWarning,
            stacklevel=2,
        )
    jack_u, jack, counts, method = _jackknife(fit, problem, u_hat, fixed, w, whole, max_iter)
    return Bootstrap(
        kind, estimate, nat, status, jack, counts, method, problem, fixed, u_all, u_hat, jack_u
    )


def _jackknife(
    fit: Fit,
    problem: Problem,
    u_hat: np.ndarray,
    fixed: dict,
    w: np.ndarray,
    whole: bool,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """For BCa's acceleration: the leave-one-out refits (u, natural values, how many
    observations each stands for), or for many rows the empirical influence values I^-1 s_i
    on u and on the natural scale (the infinitesimal jackknife)."""
    rows = np.flatnonzero(w > 0)
    counts = w[rows] if whole else np.ones(rows.size)
    if rows.size > JACKKNIFE_MAX_ROWS:
        scores = np.asarray(fit._ctx.derivatives.scores(u_hat))[: w.shape[0]]
        influence = scores[rows] @ np.nan_to_num(fit._cov_u)
        return influence, influence @ fit._jac.T, counts, "influence"
    n = w.shape[0]
    lanes = B.lanes_for(min(rows.size, max(1, CHUNK_ELEMENTS // n)))
    u_out = np.empty((rows.size, u_hat.shape[0]))
    nat_out = np.empty((rows.size, fit._jac.shape[0]))
    ok = np.ones(rows.size, dtype=bool)
    for start in range(0, rows.size, lanes):
        stop = min(start + lanes, rows.size)
        sel = rows[start:stop]
        weights = np.tile(w, (stop - start, 1))
        # one observation out: a frequency weight drops by one (a whole row, for real weights)
        weights[np.arange(stop - start), sel] -= 1.0 if whole else w[sel]
        batch = B.Batch(problem, fit._ctx.data, None, weights, True).reduced()
        res = B.fit_lanes(batch, np.tile(u_hat, (stop - start, 1)), fixed, max_iter=max_iter)
        u_out[start:stop], nat_out[start:stop] = res.u, res.natural
        ok[start:stop] = res.converged
    if not ok.all():
        warnings.warn(
            f"{int((~ok).sum())} jackknife refit(s) did not converge; BCa's acceleration "
            "leaves them out",
            InferenceWarning,
            stacklevel=3,
        )
    return u_out[ok], nat_out[ok], counts[ok], "jackknife"
