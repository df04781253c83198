"""`study`: the sampling properties of maximum likelihood, measured by simulation.

Simulate `reps` data sets of each size n from the model at the true parameters, fit every one
(one compiled, vmapped Newton solve per chunk of replicates), and compare the estimates with
what theory promises: consistency (bias -> 0), asymptotic normality and efficiency (sd ->
the Cramér–Rao bound), and the coverage of Wald and profile-likelihood intervals.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._engine.censoring import CensoredModel
from .._engine.data import as_array
from .._engine.errors import DataError, ModelError
from .._engine.model import AbstractModel, Layout, check_param_values
from .._engine.problem import Problem
from .._engine.result import Fit, _z
from . import _batch as B
from ._progress import Progress
from ._simulate import BLOCK, Draw, Simulator, block_rng, seed_sequence, simulator_for

#: Elements of simulated data per chunk (about 32 MB of float64): bounds the memory.
CHUNK_ELEMENTS = 1 << 22
SERIAL_ELEMENTS = 1 << 18  # blocks of user-simulated data smaller than this reduce in turn


@dataclass(frozen=True)
class Run:
    """The replicates at one sample size; columns follow `Study.labels`."""

    n: int
    estimates: np.ndarray  # (reps, k)
    se: np.ndarray  # (reps, k), NaN where the information is singular
    status: np.ndarray  # (reps,) 0 = converged
    iterations: np.ndarray  # (reps,)
    boundary: np.ndarray  # (reps,) an estimate at the edge of the parameter space
    deviance: np.ndarray  # (reps, k) 2 (l_hat - l_profile(truth)); NaN: not computed
    crlb_sd: np.ndarray  # (k,) the Cramér–Rao bound on the sd at this n

    @property
    def ok(self) -> np.ndarray:
        """Replicates that count: converged with finite estimates."""
        return (self.status == 0) & np.all(np.isfinite(self.estimates), axis=1)


@dataclass(frozen=True)
class Study:
    """The result of `lk.study`: every replicate's estimates and the summaries theory
    predicts. `table()` summarises, `plot()` draws, `estimates` lists every fit."""

    model: AbstractModel
    truth: pd.Series  # the true value of every studied quantity (parameters, then g outputs)
    n: tuple[int, ...]
    reps: int
    level: float
    runs: tuple[Run, ...]
    crlb_source: str
    transformed: tuple[str, ...]  # labels that are outputs of transform=
    _simulator: Simulator = field(repr=False)
    _values: dict[str, np.ndarray] = field(repr=False)
    _root: np.random.SeedSequence = field(repr=False)

    @property
    def labels(self) -> list[str]:
        return list(self.truth.index)

    def table(self) -> pd.DataFrame:
        """One row per (n, quantity).

        Columns: ``truth``; ``mean``, ``bias`` (mean - truth) with its Monte Carlo standard
        error ``bias_mcse`` (sd / sqrt(replicates used)) and ``sd`` of the estimates;
        ``mean_se`` (average of the reported standard errors); ``crlb_sd``, the Cramér–Rao
        bound on the sd, sqrt of the diagonal of I(theta)^-1 with I the expected information
        of n observations at the truth (for g(theta): the delta method,
        G I^-1 G'); ``efficiency`` = sd / crlb_sd (tends to 1: the MLE attains the bound
        asymptotically); ``coverage_wald`` and ``coverage_profile``, the fractions of
        replicates whose interval at `level` contains the truth, with ``profile_reps`` the
        number of replicates behind the profile coverage (0 where there is none: transformed
        quantities, simplex and matrix parameters); ``converged`` (fraction of fits that
        converged), ``failed`` (replicates left out: not converged or non-finite estimates)
        and ``boundary`` (replicates kept whose estimate sits at the edge of the parameter
        space, where the Wald interval degenerates).
        """
        q = _chi2_quantile(self.level)
        z = _z(self.level)
        truth = self.truth.to_numpy()
        rows = []
        for run in self.runs:
            ok = run.ok
            used = int(ok.sum())
            for j, lab in enumerate(self.labels):
                est = run.estimates[ok, j]
                se = run.se[ok, j]
                sd = float(np.std(est, ddof=1)) if used > 1 else math.nan
                mean = float(np.mean(est)) if used else math.nan
                finite_se = se[np.isfinite(se)]
                covered = np.abs(est - truth[j]) <= z * se  # NaN se: no interval, not covered
                dev = run.deviance[ok, j]
                prof = np.isfinite(dev)
                rows.append(
                    {
                        "n": run.n,
                        "param": lab,
                        "truth": truth[j],
                        "mean": mean,
                        "bias": mean - truth[j],
                        "bias_mcse": sd / math.sqrt(used) if used > 1 else math.nan,
                        "sd": sd,
                        "mean_se": float(np.mean(finite_se)) if finite_se.size else math.nan,
                        "crlb_sd": run.crlb_sd[j],
                        "efficiency": sd / run.crlb_sd[j],
                        "coverage_wald": float(np.mean(covered)) if used else math.nan,
                        "coverage_profile": float(np.mean(dev[prof] <= q))
                        if prof.any()
                        else math.nan,
                        "profile_reps": int(prof.sum()),
                        "converged": float(np.mean(run.status == 0)),
                        "failed": int(self.reps - used),
                        "boundary": int(np.sum(run.boundary & ok)),
                    }
                )
        return pd.DataFrame(rows)

    @property
    def estimates(self) -> pd.DataFrame:
        """Every fit: one row per (n, replicate, quantity) with its estimate and se."""
        k = len(self.labels)
        parts = []
        for run in self.runs:
            reps = run.estimates.shape[0]
            parts.append(
                pd.DataFrame(
                    {
                        "n": np.full(reps * k, run.n),
                        "rep": np.repeat(np.arange(reps), k),
                        "param": np.tile(np.asarray(self.labels, dtype=object), reps),
                        "estimate": run.estimates.ravel(),
                        "se": run.se.ravel(),
                        "converged": np.repeat(run.status == 0, k),
                        "boundary": np.repeat(run.boundary, k),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def replicate(self, n: int, rep: int) -> Any:
        """The data set of replicate `rep` at sample size `n`, drawn again from its stream
        (to inspect a failed fit, or to refit it with `lk.fit`)."""
        if n not in self.n:
            raise ModelError(f"n={n} is not one of the study's sample sizes {list(self.n)}")
        if not 0 <= rep < self.reps:
            raise ModelError(f"rep must lie in 0..{self.reps - 1}, got {rep}")
        b = rep // BLOCK
        size = min(BLOCK, self.reps - b * BLOCK)
        data, axes = self._simulator.batch(self._values, size, n, block_rng(self._root, (n,), b))
        return _lane(data, axes, rep % BLOCK)

    def plot(self, params: Sequence[str] | None = None) -> Any:
        """Sampling distributions against the asymptotic normal N(truth, CRLB) at each n,
        coverage against n, and efficiency against n. Returns a matplotlib Figure."""
        from ._plot import plot_study

        return plot_study(self, params)

    def __repr__(self) -> str:
        cols = ["n", "param", "truth", "bias", "sd", "crlb_sd", "efficiency"]
        cols += ["coverage_wald", "coverage_profile", "converged", "failed"]
        with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 140):
            body = self.table()[cols].to_string(index=False)
        return (
            f"Study of {self.model.name}: {self.reps} replicates at n = {list(self.n)}, "
            f"{self.level:g} intervals; Cramér–Rao bound from {self.crlb_source}\n{body}"
        )


def _chi2_quantile(level: float) -> float:
    return _z(level) ** 2  # the chi-square(1) quantile is the squared normal one


def _lane(data: Any, axes: Any, i: int) -> Any:
    if isinstance(data, dict):
        return {k: (v[i] if B.batched(axes, k) else v) for k, v in data.items()}
    return data[i] if axes == 0 else data


def study(
    model: AbstractModel | Fit,
    truth: Mapping[str, Any] | None = None,
    n: int | Sequence[int] | None = None,
    reps: int = 1000,
    *,
    key: Any = 0,
    transform: Callable[[Mapping[str, Any]], Any] | None = None,
    simulate: Draw | None = None,
    covariates: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    level: float = 0.95,
    profile: bool = True,
    chunk: int | None = None,
    progress: bool | None = None,
    max_iter: int = 100,
) -> Study:
    """Simulate and fit `reps` data sets at each sample size: the MLE's sampling properties.

    Parameters
    ----------
    model : a model (``lk.Gamma()``, an ``lk.Model``) with `truth`, or a fitted ``Fit``
        (then the truth defaults to its estimates, its fixed parameters stay fixed, and a
        GLM keeps its design matrix, offset, trials and weights: only y is simulated).
    truth : the true parameter values (natural scale) that the data are simulated from.
    n : sample size(s). None for a GLM fit or with `covariates` (the design's rows), or for
        a fit of a distribution (its number of observations).
    reps : replicates per sample size.
    key : an int seed or a jax PRNG key; the same key gives the same numbers (replicates
        are drawn in blocks of 256 with their own streams, so chunking does not matter).
    transform : ``g(params) -> scalar, array or dict``, written in jax.numpy: the MLE of
        g(theta) is g(theta_hat) (invariance); it is studied with delta-method standard
        errors and its own Cramér–Rao bound.
    simulate : ``simulate(params, size, rng)`` returning data with leading axes
        ``size = (reps, n)`` (an array, or a dict of arrays), drawn with the numpy Generator
        `rng`. Needed for models without a sampler (``lk.Model``); overrides a family's own.
    covariates : arrays held fixed in every replicate (e.g. ``{"X": X}``), merged with the
        dict that `simulate` returns.
    fixed : parameters held at these values (simulated from and not estimated).
    level : the confidence level of the intervals whose coverage is measured.
    profile : also measure the coverage of profile-likelihood intervals (one restricted fit
        per replicate and parameter: the interval contains the truth exactly when the
        likelihood-ratio statistic at the truth is below the chi-square quantile).
    chunk : replicates per compiled batch (a multiple of 256); the default keeps the data of
        one chunk near 4 million numbers.
    progress : show a progress bar (default: only on a terminal).
    max_iter : Newton iterations per fit.

    Returns
    -------
    Study, with ``table()``, ``plot()``, ``estimates`` and ``replicate(n, rep)``.

    Every replicate is fitted by damped Newton with exact derivatives, all replicates of a
    chunk at once, starting at the truth; full exponential families are first reduced to
    their sufficient statistics and start at their closed-form estimate. Replicates that do not converge are counted in ``failed`` and left out of
    the summaries; estimates on the boundary are kept and counted in ``boundary``.

    Example::

        sim = lk.study(lk.Gamma(), truth={"shape": 2.0, "rate": 1.5}, n=[25, 100, 400],
                       reps=2000, key=0)
        sim.table()
    """
    setup = _setup(model, truth, n, fixed, simulate, covariates)
    problem, values, sizes = setup.problem, setup.values, setup.sizes
    if not isinstance(reps, int | np.integer) or reps < 2:
        raise ModelError(f"reps must be a whole number >= 2, got {reps!r}")
    _z(level)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ModelError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    reps = int(reps)
    simulator = simulator_for(
        problem.model,
        simulate=simulate,
        covariates=covariates,
        fit_data=setup.fit_data,
        fit_weights=setup.fit_weights,
    )
    layout = problem.layout
    free = {b.name: values[b.name] for b in layout.blocks}
    u_truth = layout.to_unconstrained(free)
    if not np.all(np.isfinite(u_truth)):
        shown = {k: np.asarray(v).tolist() for k, v in free.items()}
        raise ModelError(
            f"the truth {shown} lies on the boundary of the parameter space; simulate from an "
            "interior point"
        )
    fixed_values = {k: np.asarray(v) for k, v in values.items() if k not in free}
    labels = list(layout.labels)
    nat0, jac0 = B.natural(problem, u_truth[None, :])
    truth_flat = nat0[0]
    names: list[str] = []
    G0 = None
    if transform is not None:
        if not callable(transform):
            raise ModelError("transform must be a function of the parameters, g(params)")
        names = B.transform_names(problem, transform, u_truth, fixed_values)
        clash = set(names) & set(labels)
        if clash:
            raise ModelError(f"transform outputs {sorted(clash)} clash with parameter names")
        g0, G0 = B.apply_transform(problem, transform, u_truth[None, :], fixed_values)
        truth_flat = np.concatenate([truth_flat, g0[0]])
    truth_series = pd.Series(truth_flat, index=labels + names, name="truth")
    plan = _Plan(
        problem=problem,
        simulator=simulator,
        values=values,
        fixed=fixed_values,
        u_truth=u_truth,
        jac0=jac0[0],
        G0=None if G0 is None else G0[0],
        transform=transform,
        profile_index=layout.elementwise_index() if profile else {},
        reps=reps,
        root=seed_sequence(key),
        chunk=chunk,
        max_iter=max_iter,
    )
    bar = Progress(reps * len(sizes), "study", progress)
    runs = []
    source = ""
    try:
        for size in sizes:
            run, source = _run_size(plan, size, bar)
            runs.append(run)
    finally:
        bar.close()
    return Study(
        model=problem.model,
        truth=truth_series,
        n=tuple(sizes),
        reps=reps,
        level=level,
        runs=tuple(runs),
        crlb_source=source,
        transformed=tuple(names),
        _simulator=simulator,
        _values=values,
        _root=plan.root,
    )


@dataclass(frozen=True)
class _Setup:
    problem: Problem
    values: dict[str, np.ndarray]  # every parameter's true value (fixed ones included)
    sizes: list[int]
    fit_data: Any = None  # a fit's data (a GLM's design is held fixed)
    fit_weights: np.ndarray | None = None  # a GLM fit's row weights, held fixed


def _setup(model, truth, n, fixed, simulate, covariates) -> _Setup:
    """The problem, the truth and the sample sizes, from a model or a fit."""
    fit_data, fit_weights = None, None
    if isinstance(model, Fit):
        fit = model
        ctx = fit._ctx
        base = ctx.problem.model
        if fixed:
            raise ModelError("fixed= is taken from the fit; refit with fixed=... to change it")
        _check_model(base)
        values = {k: np.asarray(v, float) for k, v in fit.values.items()}
        if truth:
            given = check_param_values(base.param_spec, truth, "truth")
            clash = sorted(set(given) & set(ctx.fixed))
            if clash:
                raise ModelError(f"{clash} are fixed in the fit; their truth is the fixed value")
            for k, v in given.items():
                if np.shape(v) != np.shape(values[k]):
                    raise ModelError(
                        f"truth[{k!r}] has shape {np.shape(v)}, the fit's {k} has "
                        f"{np.shape(values[k])}"
                    )
            values.update(given)
        problem = ctx.problem
        fit_data = ctx.data
        w = np.asarray(ctx.weights, float)
        rows = None
        if isinstance(fit_data, Mapping) and "X" in fit_data and simulate is None:
            fit_weights = w
            rows = w.shape[0]
        elif not np.all(w == 1.0):
            if np.all(w == np.round(w)):
                rows = int(w.sum())
            else:
                raise ModelError(
                    "the fit has non-integer weights: simulating it needs a simulate=... "
                    "function and n"
                )
        elif covariates is None:
            rows = w.shape[0]
        if n is None and covariates is None:
            n = rows
    else:
        if not isinstance(model, AbstractModel):
            raise ModelError(
                f"study needs a likely model (e.g. lk.Gamma()) or a Fit, got {type(model).__name__}"
            )
        _check_model(model)
        spec = model.param_spec
        if truth is None:
            raise ModelError(f"study needs truth={{...}}: values for {list(spec)}")
        given = check_param_values(spec, truth, "truth")
        held = check_param_values(spec, fixed or {}, "fixed")
        both = sorted(set(given) & set(held))
        if both:
            raise ModelError(f"{both} given in both truth and fixed; give each once")
        missing = [k for k in spec if k not in given and k not in held]
        if missing:
            raise ModelError(f"truth is missing {missing} (the model has {list(spec)})")
        if len(held) == len(spec):
            raise ModelError("every parameter is fixed: there is nothing to estimate")
        values = {k: (given[k] if k in given else held[k]) for k in spec}
        layout = Layout.build(spec, {k: v for k, v in values.items() if k not in held}, model)
        problem = Problem(model, layout)
    return _Setup(problem, values, _sizes(n, covariates), fit_data, fit_weights)


def _check_model(model: AbstractModel) -> None:
    if isinstance(model, CensoredModel):
        raise ModelError(
            "studies of censored fits need the censoring mechanism: use lk.study(model, "
            "truth=..., simulate=...) with a simulate that returns lk.Censored-style data"
        )
    if type(model).fit_override is not AbstractModel.fit_override:
        raise ModelError(
            f"{model.name} is fitted by its own algorithm, not the engine's Newton solver that "
            "studies run in batches"
        )
    if not model.smooth:
        raise ModelError(
            f"{model.name} has a log-likelihood that is not twice differentiable; batched "
            "Newton fits need second derivatives"
        )


def _sizes(n: Any, covariates: Mapping | None) -> list[int]:
    if covariates is not None:
        rows = int(np.shape(next(iter(covariates.values())))[0])
        if n is not None and list(np.atleast_1d(n)) != [rows]:
            raise ModelError(f"with covariates held fixed, n is their row count ({rows})")
        return [rows]
    if n is None:
        raise ModelError("study needs n=..., a sample size or a list of them")
    seq = list(n) if isinstance(n, list | tuple | range | np.ndarray) else [n]
    if not seq:
        raise ModelError("n is empty: give at least one sample size")
    for v in seq:
        if not isinstance(v, int | np.integer) or v < 1:
            raise ModelError(f"sample sizes must be whole numbers >= 1, got {v!r}")
    if len(set(seq)) != len(seq):
        raise ModelError(f"sample sizes repeat: {seq}")
    return [int(v) for v in seq]


def _chunk_size(chunk: int | None, reps: int, n: int, width: int) -> int:
    if chunk is None:
        lanes = max(BLOCK, CHUNK_ELEMENTS // max(n * width, 1) // BLOCK * BLOCK)
    else:
        if not isinstance(chunk, int) or chunk < 1:
            raise ModelError(f"chunk must be a whole number >= 1, got {chunk!r}")
        lanes = -(-chunk // BLOCK) * BLOCK
    return B.lanes_for(reps) if reps <= lanes else lanes


def _reduce_block(problem: Problem, data: Any, axes: Any, weights, checked: bool) -> B.Batch:
    """One block as a solver batch (sufficient statistics where the family has them). Data
    that were not checked value by value are checked through their statistics: a NaN, an
    infinity or a value outside the support spoils the mean it enters."""
    batch = B.Batch(problem, data, axes, weights, False).reduced()
    if checked or batch.problem is problem or np.isfinite(batch.data).all():
        return batch
    lane = int(np.flatnonzero(~np.all(np.isfinite(batch.data), axis=(1, 2)))[0])
    one = _lane(data, axes, lane)
    as_array(one, "simulated data")  # names a NaN or infinite value
    problem.model.prepare(one)  # names a value outside the support
    raise DataError(
        f"a simulated data set (replicate {lane} of its block) gives non-finite "
        "sufficient statistics"
    )


def _width(data: Any) -> int:
    """Numbers per observation in a drawn data set (1 for a scalar family)."""
    leaves = data.values() if isinstance(data, dict) else [data]
    return max(1, sum(int(np.prod(np.shape(v)[2:])) for v in leaves if np.ndim(v) >= 2))


@dataclass(frozen=True)
class _Plan:
    """Everything a study needs at each sample size."""

    problem: Problem
    simulator: Simulator
    values: dict[str, np.ndarray]  # every parameter's true value
    fixed: dict[str, np.ndarray]  # the values of parameters held fixed
    u_truth: np.ndarray  # the free parameters' truth, unconstrained
    jac0: np.ndarray  # d natural / d u at the truth
    G0: np.ndarray | None  # d g / d u at the truth, with a transform
    transform: Any
    profile_index: dict[str, int]  # label -> unconstrained coordinate, for profile coverage
    reps: int
    root: np.random.SeedSequence
    chunk: int | None
    max_iter: int

    @property
    def labels(self) -> list[str]:
        return list(self.problem.layout.labels)

    def draw(self, n: int, b: int, finite: bool = True) -> tuple[Any, Any]:
        """Block b of the replicates at sample size n."""
        size = min(BLOCK, self.reps - b * BLOCK)
        return self.simulator.batch(self.values, size, n, block_rng(self.root, (n,), b), finite)


def _run_size(plan: _Plan, n: int, bar: Progress) -> tuple[Run, str]:
    problem, fixed, reps, u_truth = plan.problem, plan.fixed, plan.reps, plan.u_truth
    simulator = plan.simulator
    weights = simulator.weights if simulator.weights is not None else np.ones(n)
    data0, axes0 = plan.draw(n, 0)
    first = _lane(data0, axes0, 0)
    problem.model.prepare(first)  # the checks of lk.fit: support, shapes
    block0 = B.Batch(problem, data0, axes0, weights, False).reduced()
    # reduced blocks are a few numbers per replicate: one chunk holds them all
    small = block0.problem is not problem
    lanes = B.lanes_for(reps) if small else _chunk_size(plan.chunk, reps, n, _width(data0))
    serial = BLOCK * n * _width(data0) < SERIAL_ELEMENTS
    info_truth = _expected_information(problem, plan.values, first, weights, plan.jac0)
    source = "the analytic expected information"
    q = len(plan.labels) + (plan.G0.shape[0] if plan.G0 is not None else 0)
    est = np.empty((reps, q))
    se = np.empty((reps, q))
    dev = np.full((reps, q), np.nan)
    status = np.empty(reps, dtype=int)
    iters = np.empty(reps, dtype=int)
    boundary = np.empty(reps, dtype=bool)
    for start in range(0, reps, lanes):
        stop = min(start + lanes, reps)
        m = stop - start
        first_b = start // BLOCK
        todo = range(max(first_b, 1), -(-stop // BLOCK))  # block 0 is drawn already

        def reduce(drawn: tuple[Any, Any]) -> B.Batch:
            return _reduce_block(problem, drawn[0], drawn[1], weights, checked=not small)

        if simulator.threaded:  # draw and reduce each block on a worker thread
            blocks = list(_pool().map(lambda b: reduce(plan.draw(n, b, not small)), todo))
        elif serial:  # small blocks: numpy's per-call cost, not the data, dominates them,
            # and worker threads would only contend for the GIL (measured: 20-30% slower)
            blocks = [reduce(plan.draw(n, b, not small)) for b in todo]
        else:  # the user's simulate() in order; the reductions on worker threads
            blocks = list(_pool().map(reduce, [plan.draw(n, b, not small) for b in todo]))
        if first_b == 0:
            blocks.insert(0, block0)
        batch = blocks[0].concat(blocks[1:])
        u0 = np.tile(u_truth, (m, 1))
        if info_truth is None:  # by simulation: the mean observed information at the truth
            # every coordinate pinned: the solver only evaluates the start (the truth)
            at_truth = B.solve(batch, u0, fixed, mask=np.zeros(u0.shape[1]), lanes=lanes)
            good = np.all(np.isfinite(at_truth.info), axis=(1, 2))
            info_truth = np.mean(at_truth.info[good], axis=0)
            source = (
                f"the mean observed information at the truth over {int(good.sum())} "
                "simulated data sets"
            )
        res = B.fit_lanes(
            batch,
            u0,
            fixed,
            max_iter=plan.max_iter,
            lanes=lanes,
            transform=plan.transform,
        )
        cols_est, cols_se = [res.natural], [res.se]
        if res.g is not None and res.g_se is not None:
            cols_est.append(res.g)
            cols_se.append(res.g_se)
        est[start:stop] = np.concatenate(cols_est, axis=1)
        se[start:stop] = np.concatenate(cols_se, axis=1)
        status[start:stop] = res.status
        iters[start:stop] = res.iterations
        boundary[start:stop] = B.on_boundary(problem, res.u)
        for j, lab in enumerate(plan.labels):
            if lab in plan.profile_index:
                i = plan.profile_index[lab]
                d, ok = B.profile_deviance(
                    batch, res, i, float(u_truth[i]), fixed, plan.max_iter, pad=lanes
                )
                dev[start:stop, j] = np.where(ok, d, np.nan)
        bar.update(m, f"n={n}")
    crlb_u = _inverse(info_truth)
    crlb = np.sqrt(np.diag(plan.jac0 @ crlb_u @ plan.jac0.T))
    if plan.G0 is not None:
        crlb = np.concatenate([crlb, np.sqrt(np.diag(plan.G0 @ crlb_u @ plan.G0.T))])
    return Run(n, est, se, status, iters, boundary, dev, crlb), source


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Worker threads for drawing and reducing blocks (numpy releases the GIL in both)."""
    return ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))


def _expected_information(problem: Problem, values: dict, data: Any, weights, jac0) -> Any:
    """The analytic expected information on u at the truth, or None if the model has none."""
    model = problem.model
    try:
        full = model.expected_information(values, model.prepare(data), weights)
    except (NotImplementedError, KeyError, TypeError):
        full = None
    if full is None:
        return None
    all_layout = Layout.build(model.param_spec, values, model)
    free = set(problem.layout.labels)
    keep = [i for i, lab in enumerate(all_layout.labels) if lab in free]
    sub = np.asarray(full, float)[np.ix_(keep, keep)]
    return jac0.T @ sub @ jac0


def _inverse(info: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(0.5 * (info + info.T))
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan)
