"""`lk.fit` on Dask collections: the engine's path, with the data on the cluster.

The steps mirror `likely._engine.fit.fit`: check the options, prepare the data (here, each
partition on a worker), take start values (the model's `init` on the first partition with
rows), run the engine's damped Newton (or proximal Newton for L1 priors) on a
`DaskDerivatives`, and build the `Fit`. Closed forms and BFGS need the data in memory; on
Dask every model is fitted by Newton, to the same optimum.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._engine import inference
from .._engine.censoring import Censored, CensoredModel
from .._engine.errors import ConvergenceWarning, DataError, InferenceWarning, ModelError
from .._engine.fit import (
    METHODS,
    _active_set_covariance,
    _check_prior,
    _is_l1,
    _jacobian,
    _l1_terms,
    _loglik_without_a_pass,
)
from .._engine.model import AbstractModel, Layout, check_param_values
from .._engine.problem import Problem
from .._engine.result import Fit
from .._engine.solvers import NOT_FINITE, SolverResult, newton, proximal_newton
from . import is_dask
from ._cluster import Cluster
from ._derivatives import DaskDerivatives
from ._kernels import InitJob, KernelJob
from ._partitions import align
from ._prepare import ModelPreparer
from ._progress import Options
from ._result import DaskContext, DaskFit, covariance


def check_method(model: AbstractModel, method: str) -> None:
    if method not in METHODS:
        raise ModelError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("closed_form", "bfgs"):
        raise ModelError(
            f"method={method!r} needs the data in memory; on Dask the fit is Newton's method "
            "over per-partition sums (method='auto' or 'newton'), which reaches the same MLE"
        )
    from ..models.latent._mixture import Mixture

    if isinstance(model, Mixture) and method == "newton":
        return  # the marginal likelihood by Newton, as in memory (EM: `_mixture`)
    if type(model).fit_override is not AbstractModel.fit_override:
        raise ModelError(
            f"{model.name} has its own fitting algorithm, which does not run on Dask yet (EM "
            "runs on Dask for lk.Mixture of Normal, Poisson, Exponential or Bernoulli "
            "components); compute the data into memory first (ddf.compute())"
        )


def fit_dask(
    model: AbstractModel,
    data: Any,
    *,
    weights: Any = None,
    event: Any = None,
    entry: Any = None,
    init: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    prior: Mapping[str, Any] | None = None,
    method: str = "auto",
    cov: str | None = None,
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> Fit:
    """`lk.fit(model, data, ...)` where data (or weights, event) are Dask collections.

    The same options as `lk.fit`; Dask options come from ``dask.config`` (see
    `likely._dask._progress.Options`): ``likely.persist``, ``likely.progress``,
    ``likely.chunk-rows``, ``likely.split-every``.
    """
    if not isinstance(model, AbstractModel):
        raise ModelError(f"fit needs a likely model (e.g. lk.Normal()), got {type(model).__name__}")
    from ..models.latent._mixture import Mixture

    if isinstance(model, Mixture) and method in ("auto", "em"):
        from ._mixture import mixture_dask

        return mixture_dask(
            model, data, weights=weights, event=event, entry=entry, init=init, fixed=fixed,
            prior=prior, method=method, cov=cov, max_iter=max_iter, tol=tol,
        )  # fmt: skip
    check_method(model, method)
    cov_type = cov or ("observed" if model.smooth else "expected")
    if cov_type not in inference.COV_TYPES:
        raise ModelError(f"cov must be one of {inference.COV_TYPES}, got {cov!r}")
    spec = model.param_spec
    fixed_values = check_param_values(spec, fixed or {}, "fixed")
    init_values = check_param_values(spec, init or {}, "init")
    priors = _check_prior(spec, prior or {}, fixed_values)
    both = set(fixed_values) & set(init_values)
    if both:
        raise ModelError(f"{sorted(both)} given in both init and fixed; choose one")
    if len(fixed_values) == len(spec):
        raise ModelError("every parameter is fixed: there is nothing to estimate")

    pieces: dict[str, Any] = {"weights": weights}
    if isinstance(data, Censored):
        if event is not None:
            raise ModelError("give either event= or lk.Censored data, not both")
        if getattr(data, "entry", None) is not None:
            if entry is not None:
                raise ModelError("give the entry times once: in lk.Censored(..., entry=) or entry=")
            entry = data.entry
        pieces.update(lower=data.lower, upper=data.upper)
    else:
        pieces.update(data=data, event=event)
    constant_entry = None
    if entry is not None and not is_dask(entry):
        if np.ndim(entry) != 0:
            raise ModelError(
                "entry= with Dask data must be a Dask collection partitioned like the data, "
                "or one number for every row"
            )
        constant_entry = float(entry)
    elif entry is not None:
        pieces["entry"] = entry
    censored = isinstance(data, Censored) or event is not None or entry is not None
    work_model = CensoredModel(model) if censored else model
    preparer = ModelPreparer(work_model, constant_entry)
    cluster = Cluster(align(pieces), preparer, Options.from_config())
    return estimate(
        cluster,
        work_model,
        fixed=fixed_values,
        init=init_values,
        priors=lambda first: priors,
        cov_type=cov_type,
        max_iter=max_iter,
        tol=tol,
    )


def estimate(
    cluster: Cluster,
    model: AbstractModel,
    *,
    fixed: dict[str, np.ndarray],
    init: dict[str, np.ndarray],
    priors: Callable[[dict[str, Any]], tuple],
    cov_type: str,
    max_iter: int | None,
    tol: float,
    first_want: tuple[str, ...] = (),
    fuse: tuple[str, ...] = (),
    stream_fuse: tuple[str, ...] = (),
    check_first: Callable[[dict[str, Any]], None] | None = None,
) -> DaskFit:
    """Start values, Newton over partition sums, and the `Fit`.

    The first pass (at the start values) also computes `first_want` (design checks) for
    `check_first`; `priors(first)` gives the prior terms (a GLM's depend on its columns).
    Every Newton pass also computes `fuse`, and `stream_fuse` (the sandwich's meat, say)
    when the partitions are not kept in memory, where one more pass would read them again.
    """
    spec = model.param_spec
    start = cluster.start(InitJob(model, fixed, init))
    cluster.persist_if_wanted(int(start["nbytes"]))
    free = {k: start["values"][k] for k in spec if k not in fixed}
    layout = Layout.build(spec, free, model)
    cluster.set_kernel(KernelJob(Problem(model, layout, ()), fixed, cluster.options.chunk_rows))
    if cov_type == "robust":
        stream_fuse = (*stream_fuse, "meat")
    if not cluster.persisted:  # reading the data again would cost more than these sums
        fuse = (*fuse, *stream_fuse)
    u0 = layout.to_unconstrained(free)
    bare = DaskDerivatives(cluster, Problem(model, layout, ()), fixed, 1.0, fuse)
    first = bare.sums(u0, ("vgh", *fuse, *first_want))
    scale = float(first["sum_w"])
    if not scale > 0:
        raise DataError("weights sum to zero: no observation carries weight")
    if check_first is not None:
        check_first(first)
    problem = Problem(model, layout, priors(first))
    derivs = DaskDerivatives(cluster, problem, fixed, scale, fuse, memo=bare.memo)
    ctx = DaskContext(problem, derivs)

    l1 = _l1_terms(problem.prior, layout)
    if l1 is not None:
        smooth = Problem(model, layout, tuple((k, p) for k, p in problem.prior if not _is_l1(p)))
        smooth_derivs = DaskDerivatives(cluster, smooth, fixed, scale, fuse, memo=bare.memo)
        chosen = "proximal newton"
        solver = proximal_newton(
            smooth_derivs.value_grad_hess, u0, l1[1] / scale, l1[0], max_iter=max_iter or 200
        )
    else:
        chosen = "newton"
        solver = newton(derivs.value_grad_hess, u0, gtol=tol, max_iter=max_iter or 100)
    if solver.status == NOT_FINITE and solver.iterations == 0:
        raise _bad_start(derivs, model, u0)
    nat = layout.to_natural(jnp.asarray(solver.u))
    values = {k: np.asarray(v) for k, v in nat.items()}
    values.update(fixed)
    if not solver.converged:
        warnings.warn(
            f"{model.name}: the optimiser did not converge ({solver.message}; "
            f"{solver.iterations} iterations, max |gradient| {np.max(np.abs(solver.grad)):.2g}). "
            "Try: better start values (init=...), a larger max_iter, rescaling the data, or "
            "check that the model is identified.",
            ConvergenceWarning,
            stacklevel=4,
        )
    result = finish(ctx, values, solver, chosen, cov_type)
    if l1 is not None:
        result = _active_set_covariance(result, l1)  # type: ignore[assignment]
    return result


def finish(
    ctx: DaskContext, values: dict, solver: SolverResult, method: str, cov_type: str
) -> DaskFit:
    """The `Fit` at the solution, as the engine's `_finish` builds it, from passes."""
    problem = ctx.problem
    layout = problem.layout
    u = solver.u
    boundary: list[str] = []
    for b in layout.blocks:
        mask = b.constraint.on_boundary(values[b.name])
        boundary += [lab for lab, m in zip(b.labels, np.ravel(mask)) if m]
    note = None
    p = layout.size
    if boundary:
        cov_u = np.full((p, p), np.nan)
        jac = np.full((len(layout.labels), p), np.nan)
        note = (
            f"{', '.join(boundary)} on the boundary of the parameter space: Wald standard errors "
            "and intervals do not exist there; use conf_int(method='profile')"
        )
        warnings.warn(f"{problem.model.name}: {note}", InferenceWarning, stacklevel=4)
        ll = ctx.derivatives.loglik_natural(values)
    else:
        hess = solver.hess if (cov_type != "expected" and method == "newton") else None
        cov_u, note = covariance(ctx, u, values, cov_type, hess)
        jac = _jacobian(problem, u, values)
        known = _loglik_without_a_pass(ctx, values, solver, method)
        ll = ctx.derivatives.loglik(u) if known is None else known
    grad_norm = float(np.max(np.abs(solver.grad))) if solver.grad.size else 0.0
    return DaskFit(
        model=problem.model,
        values={k: np.asarray(values[k]) for k in problem.model.param_spec},
        loglik=ll,
        nobs=ctx.scale,
        converged=solver.converged,
        iterations=solver.iterations,
        message=solver.message,
        grad_norm=grad_norm,
        method=method,
        cov_type=cov_type,
        boundary=tuple(boundary),
        note=note,
        _ctx=ctx,
        _u=u,
        _cov_u=cov_u,
        _jac=jac,
    )


def _bad_start(derivs: DaskDerivatives, model: AbstractModel, u0: np.ndarray) -> ModelError:
    """Where the log-likelihood is not finite at the start values (one pass)."""
    values = derivs.natural(u0)
    found = derivs.cluster.run(u0, ("bad_start",), {"values": values}).get("first_bad")
    where = " (its gradient is not finite there)"
    if found is not None:
        part, row, value = found
        where = f" for row {row} of partition {part} (log-density {value})"
    start = {k: np.asarray(v).tolist() for k, v in values.items()}
    return ModelError(
        f"the log-likelihood of {model.name} is not finite at the start values{where}; "
        f"give better start values with init={{...}} (start was {start})"
    )
