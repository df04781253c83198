"""`fit`: one path from a model and data to the MLE (or MAP) with full inference."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import inference
from .censoring import Censored, CensoredModel, truncated
from .data import as_weights, bucket, nrows, pad_rows, wsum
from .device import to_device
from .errors import ConvergenceWarning, DataError, InferenceWarning, ModelError
from .model import AbstractModel, Layout, check_logpdf_shape, check_param_values, explain_bad_start
from .problem import Problem
from .result import Fit
from .solvers import NOT_FINITE, SolverResult, bfgs, newton, proximal_newton

METHODS = ("auto", "closed_form", "newton", "bfgs")
_NEWTON_MAX_PARAMS = 200


class Context:
    """What a `Fit` needs to recompute: the problem, the data, fixed values, the scale."""

    def __init__(self, problem: Problem, data: Any, weights: np.ndarray, fixed: dict) -> None:
        self.problem = problem
        self.data = data
        self.weights = weights
        self.fixed = fixed
        self.scale = wsum(weights)
        self.closed_form = False

    @cached_property
    def device(self) -> tuple[Any, jnp.ndarray, dict[str, jnp.ndarray]]:
        """Data padded to a bucketed row count and moved to JAX, once."""
        n = self.weights.shape[0]
        data, w = pad_rows(self.data, self.weights, bucket(n))
        jdata = jax.tree_util.tree_map(to_device, data)
        return jdata, to_device(w), {k: to_device(v) for k, v in self.fixed.items()}

    def args(self) -> tuple[Any, ...]:
        d, w, f = self.device
        return (d, w, f, self.scale)

    @cached_property
    def derivatives(self) -> Any:
        """The model's structured derivatives if it has them, else autodiff on the problem."""
        custom = self.problem.model.derivatives(self.problem, self.data, self.weights, self.fixed)
        if custom is not None:
            return custom
        return inference.AutodiffDerivatives(self.problem, *self.args())

    def solve(
        self,
        u0: np.ndarray,
        *,
        method: str,
        mask: np.ndarray | None = None,
        max_iter: int | None = None,
        tol: float = 1e-12,
    ) -> SolverResult:
        if method == "bfgs":
            return bfgs(
                self.problem, u0, self.args(), mask=mask, gtol=tol, max_iter=max_iter or 1000
            )
        vgh = self.derivatives.value_grad_hess
        return newton(vgh, u0, mask=mask, gtol=tol, max_iter=max_iter or 100)


def fit(
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
    """Fit `model` to `data` by maximum likelihood (or MAP when `prior` is given).

    Parameters
    ----------
    model : a distribution such as ``lk.Gamma()``, or ``lk.Model(logpdf, params=...)``.
    data : array (observations along the first axis), dict of such arrays, or
        ``lk.Censored(lower, upper)`` for censored observations.
    weights : frequency weights, one per observation (a weight of 2 = the row twice).
    event : right censoring in the survival convention: 1 = observed, 0 = censored at `data`.
    entry : left truncation (delayed entry), one time per observation or a scalar: each row
        contributes its (censored) log-likelihood minus log S(entry). 0 or None: none.
    init : start values by name (natural scale); their shapes set array parameters' shapes.
    fixed : parameters held at given values (not estimated).
    prior : ``{name: lk.priors.X(...)}``; the result is then the MAP estimate, and its
        standard errors are Laplace-approximation posterior standard deviations.
    method : "auto" (closed form where one exists, else Newton, BFGS above 200 parameters),
        "closed_form", "newton" or "bfgs".
    cov : "observed" (default), "expected" (analytic Fisher information) or "robust"
        (sandwich). Models whose log-density is not smooth default to "expected".
    max_iter, tol : iteration limit and gradient tolerance (on the mean log-likelihood).
    """
    if not isinstance(model, AbstractModel):
        raise ModelError(f"fit needs a likely model (e.g. lk.Normal()), got {type(model).__name__}")
    from .._dask import any_dask

    if any_dask(data, weights, event, entry):  # Dask collections: sums over partitions
        from .._dask._fit import fit_dask

        return fit_dask(
            model, data, weights=weights, event=event, entry=entry, init=init, fixed=fixed,
            prior=prior, method=method, cov=cov, max_iter=max_iter, tol=tol,
        )  # fmt: skip
    custom = model.fit_override(
        data,
        weights=weights,
        event=event,
        entry=entry,
        init=init,
        fixed=fixed,
        prior=prior,
        method=method,
        cov=cov,
        max_iter=max_iter,
        tol=tol,
    )
    if custom is not None:
        return custom
    if method not in METHODS:
        raise ModelError(f"method must be one of {METHODS}, got {method!r}")
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

    if event is not None:
        if isinstance(data, Censored):
            raise ModelError("give either event= or lk.Censored data, not both")
        data = Censored.right(data, event)
    if entry is not None:
        data = truncated(data, entry)
    if isinstance(data, Censored):
        model = CensoredModel(model)
    prepared = model.prepare(data)
    if isinstance(model, CensoredModel):
        model = model.narrowed(prepared)
    n = nrows(prepared)
    w = as_weights(weights, n)

    simple = not fixed_values and not priors and not isinstance(model, CensoredModel)
    closed = None
    if method in ("auto", "closed_form") and simple:
        closed = _closed_form(model, prepared, w)
    if method == "closed_form" and closed is None:
        why = "it has none" if simple else "fixed parameters, priors or censoring need Newton"
        raise ModelError(f"no closed-form MLE for {model.name} here: {why}")

    if closed is not None:
        values = {k: np.asarray(v, float) for k, v in closed.items()}
        layout = Layout.build(spec, values, model)
        ctx = Context(Problem(model, layout, priors), prepared, w, {})
        ctx.closed_form = True
        u = layout.to_unconstrained(values)
        solver = SolverResult(u, np.nan, np.zeros_like(u), None, 0, 0)
        try:
            return _finish(ctx, values, solver, "closed form", cov_type)
        except (OverflowError, ZeroDivisionError) as e:
            raise DataError(_overflow(model, e)) from e

    given = set(init_values) | set(fixed_values)
    start = {} if given >= set(spec) else model.init(prepared, w)
    start = {k: np.asarray(v, float) for k, v in start.items() if k not in fixed_values}
    start.update(init_values)
    free = {k: start[k] for k in spec if k not in fixed_values}
    layout = Layout.build(spec, free, model)
    check_logpdf_shape(model, {**free, **fixed_values}, prepared)
    ctx = Context(Problem(model, layout, priors), prepared, w, fixed_values)
    chosen = method
    if method == "auto":
        chosen = "newton" if layout.size <= _NEWTON_MAX_PARAMS else "bfgs"
    l1 = _l1_terms(priors, layout)
    if l1 is not None:
        # L1 (Laplace) priors: exact MAP by proximal Newton on the smooth rest
        smooth = tuple((k, p) for k, p in priors if not _is_l1(p))
        smooth_ctx = Context(Problem(model, layout, smooth), prepared, w, fixed_values)
        chosen = "proximal newton"
        solver = proximal_newton(
            smooth_ctx.derivatives.value_grad_hess,
            layout.to_unconstrained(free),
            l1[1] / ctx.scale,
            l1[0],
            max_iter=max_iter or 200,
        )
    else:
        solver = ctx.solve(layout.to_unconstrained(free), method=chosen, max_iter=max_iter, tol=tol)
    if solver.status == NOT_FINITE and solver.iterations == 0:
        raise explain_bad_start(model, {**free, **fixed_values}, prepared)
    nat = layout.to_natural_np(solver.u)
    values = {k: np.asarray(v) for k, v in nat.items()}
    values.update(fixed_values)
    if not solver.converged:
        warnings.warn(
            f"{model.name}: the optimiser did not converge ({solver.message}; "
            f"{solver.iterations} iterations, max |gradient| {np.max(np.abs(solver.grad)):.2g}). "
            "Try: better start values (init=...), a larger max_iter, method='bfgs', rescaling "
            "the data, or check that the model is identified.",
            ConvergenceWarning,
            stacklevel=2,
        )
    result = _finish(ctx, values, solver, chosen, cov_type)
    if l1 is not None:
        result = _active_set_covariance(result, l1)
    return result


def _is_l1(prior: Any) -> bool:
    hook = getattr(prior, "l1", None)
    return hook is not None and hook((1,)) is not None


def _l1_terms(priors: tuple, layout: Layout) -> tuple[np.ndarray, np.ndarray] | None:
    """(center, weight) over the unconstrained vector for L1 priors, or None if there are none."""
    center, weight = np.zeros(layout.size), np.zeros(layout.size)
    found = False
    for name, prior in priors:
        if not _is_l1(prior):
            continue
        block = next((b for b in layout.blocks if b.name == name), None)
        if block is None:
            continue
        if block.constraint.name != "real":
            raise ModelError(
                f"an L1 (Laplace) prior needs a real-valued parameter; {name!r} is {block.constraint!r}"
            )
        c, wt = prior.l1(block.shape)
        sl = slice(block.offset, block.offset + block.size)
        center[sl], weight[sl] = np.ravel(c), np.ravel(wt)
        found = True
    return (center, weight) if found else None


def _active_set_covariance(result: Fit, l1: tuple[np.ndarray, np.ndarray]) -> Fit:
    """Laplace-approximation covariance on the non-zero coordinates; none at the kinks."""
    center, weight = l1
    zero = (weight > 0) & (result._u == center)
    if not zero.any():
        return result
    ctx = result._ctx
    info = ctx.derivatives.value_grad_hess(result._u)[2] * ctx.scale
    active = np.flatnonzero(~zero)
    cov_u = np.full_like(info, np.nan)
    labels = _u_labels(ctx.problem.layout)
    sub, note = inference.covariance_u(info[np.ix_(active, active)], [labels[i] for i in active])
    cov_u[np.ix_(active, active)] = sub
    zeros = [labels[i] for i in np.flatnonzero(zero)]
    shrunk = (
        f"{len(zeros)} coefficient(s) shrunk to exactly 0 by the L1 prior ({', '.join(zeros[:8])}"
        f"{', ...' if len(zeros) > 8 else ''}): the Laplace approximation does not apply at the "
        "kink, so they have no posterior sd"
    )
    return result.replace(_cov_u=cov_u, note=shrunk if note is None else f"{shrunk}; {note}")


def _check_prior(spec, prior: Mapping[str, Any], fixed: Mapping[str, Any]):
    unknown = set(prior) - set(spec)
    if unknown:
        raise ModelError(
            f"prior names unknown parameter(s) {sorted(unknown)}; model has {list(spec)}"
        )
    clash = set(prior) & set(fixed)
    if clash:
        raise ModelError(f"{sorted(clash)} are fixed, so a prior on them has no effect")
    for k, p in prior.items():
        if not hasattr(p, "logpdf"):
            raise ModelError(
                f"prior[{k!r}] must be a prior such as lk.priors.Normal(0, 1), got {p!r}"
            )
    return tuple((k, prior[k]) for k in spec if k in prior)


def information_u(
    ctx: Context,
    u: np.ndarray,
    values: dict,
    kind: str,
    hess: np.ndarray | None,
    jac: np.ndarray | None = None,
):
    """(information on u, meat or None) for cov type `kind`; `jac` is d natural / d u at u
    when the caller has it."""
    problem = ctx.problem
    model = problem.model
    # For a full exponential family at an unrestricted MLE, observed = expected information:
    # use the analytic form and skip compiling a Hessian.
    unrestricted = not ctx.fixed and not problem.prior and ctx.closed_form
    full = None
    if kind == "observed" and hess is None and unrestricted and model.exponential_family:
        full = model.expected_information(values, ctx.data, ctx.weights)
        if full is not None:
            kind = "expected"
    if kind == "expected":
        if full is None:
            full = model.expected_information(values, ctx.data, ctx.weights)
        if full is None:
            raise ModelError(
                f"{problem.model.name} has no analytic expected information here; "
                "use cov='observed' or cov='robust'"
            )
        if jac is None:
            jac = _jacobian(problem, u, values)
        sub = np.asarray(full)
        if ctx.fixed:
            all_layout = Layout.build(problem.model.param_spec, values, problem.model)
            free = set(problem.layout.labels)
            keep = [i for i, lab in enumerate(all_layout.labels) if lab in free]
            sub = sub[np.ix_(keep, keep)]
        return jac.T @ sub @ jac, None
    if hess is None:
        hess = ctx.derivatives.value_grad_hess(u)[2]
    info = hess * ctx.scale
    if kind == "robust":
        w = ctx.weights
        s = ctx.derivatives.scores(u)[: w.shape[0]]  # drop padding rows
        return info, s.T @ (w[:, None] * s)
    return info, None


def _finish(ctx: Context, values: dict, solver: SolverResult, method: str, cov_type: str) -> Fit:
    problem = ctx.problem
    layout = problem.layout
    u = solver.u
    boundary = []
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
        warnings.warn(f"{problem.model.name}: {note}", InferenceWarning, stacklevel=3)
        known = _loglik_without_a_pass(ctx, values, solver, method)  # e.g. +inf at sigma = 0
        ll = inference.loglik_value_natural(problem, values, ctx) if known is None else known
    else:
        hess = solver.hess if (cov_type != "expected" and method == "newton") else None
        jac = _jacobian(problem, u, values)
        info, meat = information_u(ctx, u, values, cov_type, hess, jac)
        cov_u, note = inference.covariance_u(info, _u_labels(layout), meat)
        if note is None:
            note = _flat_at_the_edge(layout, cov_u, jac)
        if note is not None:
            warnings.warn(f"{problem.model.name}: {note}", InferenceWarning, stacklevel=3)
        known = _loglik_without_a_pass(ctx, values, solver, method)
        ll = ctx.derivatives.loglik(u) if known is None else known
    grad_norm = max((abs(g) for g in solver.grad.tolist()), default=0.0)
    return Fit(
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


def _loglik_without_a_pass(
    ctx: Context, values: dict, solver: SolverResult, method: str
) -> float | None:
    """The log-likelihood when it is already known: Newton's last value (no prior), or a
    closed form's expression in sufficient statistics."""
    problem = ctx.problem
    if method == "newton" and not problem.prior and np.isfinite(solver.value):
        return -solver.value * ctx.scale
    closed = getattr(problem.model, "loglik_at_mle", None)
    if ctx.closed_form and closed is not None:
        value = closed(values, ctx.data, ctx.weights)
        return None if value is None else float(value)
    return None


def _jacobian(problem: Problem, u: np.ndarray, values: dict) -> np.ndarray:
    """d natural / d u: analytic and diagonal when every block is elementwise."""
    blocks = problem.layout.blocks
    if all(b.constraint.elementwise for b in blocks):
        diag = [np.ravel(b.constraint.derivative(values[b.name])) for b in blocks]
        return np.diag(np.concatenate(diag)) if diag else np.zeros((0, 0))
    return np.asarray(inference.natural_jacobian(problem, to_device(u)))


def _u_labels(layout: Layout) -> list[str]:
    out = []
    for b in layout.blocks:
        if b.constraint.elementwise:
            out += b.labels
        else:
            out += [f"{b.name} (coordinate {i})" for i in range(b.size)]
    return out


def refinish(fit_: Fit, cov_type: str) -> Fit:
    """The same fit with another covariance type."""
    ctx = fit_._ctx
    solver = SolverResult(fit_._u, np.nan, np.zeros_like(fit_._u), None, fit_.iterations, 0)
    new = _finish(ctx, dict(fit_.values), solver, fit_.method, cov_type)
    return fit_.replace(cov_type=new.cov_type, note=new.note, _cov_u=new._cov_u, _jac=new._jac)


# A log (or logit) coordinate whose standard error exceeds this is "at the edge": its Wald
# interval spans e^-2000..e^2000 (e.g. a t's df -> infinity, a negative binomial's alpha -> 0)
_EDGE_SE = 1e3


def _flat_at_the_edge(layout: Layout, cov_u: np.ndarray, jac: np.ndarray) -> str | None:
    """Name the positive or (0, 1) parameters on whose log (logit) scale the likelihood is
    flat at the estimate: the optimiser stopped while the MLE runs off to 0, 1 or infinity
    (the boundary of the parameter space), so Wald inference means nothing there. Also
    say so when the natural-scale variances overflow (estimates near float64's limits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        var = ((jac @ cov_u) * jac).sum(axis=1)
    if not np.isfinite(var).all():
        labels = [lab for lab, v in zip(layout.labels, var) if not np.isfinite(v)]
        return (
            f"the standard errors of {', '.join(labels)} overflow float64 (estimates near its "
            "limits); rescale the data"
        )
    if not (np.diagonal(cov_u) > _EDGE_SE**2).any():
        return None
    found = []
    for b in layout.blocks:
        if not b.constraint.elementwise or b.constraint.name == "real":
            continue
        scale = {"positive": "log", "unit_interval": "logit"}.get(
            b.constraint.name, "unconstrained"
        )
        for i, lab in enumerate(b.labels):
            var = cov_u[b.offset + i, b.offset + i]
            if np.isfinite(var) and var > _EDGE_SE**2:
                found.append(f"{lab} (the se of its {scale} is {np.sqrt(var):.2g})")
    if not found:
        return None
    return (
        f"the likelihood is flat in {', '.join(found)}: the estimate is running off to the "
        "boundary of the parameter space (0, 1 or infinity, e.g. a t's df -> infinity or a "
        "negative binomial's alpha -> 0), so its Wald standard error and interval mean "
        "nothing; use conf_int(method='profile') or fix the parameter (fixed=...)"
    )


def _overflow(model: AbstractModel, e: BaseException | str) -> str:
    return (
        f"{model.name}: the data overflow float64 arithmetic ({e}): values this large (or "
        "this close to 0) leave the closed-form MLE or its information out of range; rescale "
        "the data (e.g. change units) and fit again"
    )


def _closed_form(model: AbstractModel, data: Any, w: np.ndarray) -> dict | None:
    """The model's closed-form MLE, or None; overflow (data near float64's limits) and
    non-finite estimates are a DataError, not an inf in the result."""
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            closed = model.mle(data, w)
    except (OverflowError, ZeroDivisionError) as e:
        raise DataError(_overflow(model, e)) from e
    if closed is not None:
        bad = [k for k, v in closed.items() if not np.all(np.isfinite(np.asarray(v, float)))]
        if bad:
            raise DataError(_overflow(model, f"{bad[0]} = {np.asarray(closed[bad[0]]).tolist()}"))
    return closed
