"""Many fits of one model at once: a vmapped Newton solve (`_newton`) over data that may be
batched leaf by leaf (simulated responses with a shared design; shared data with bootstrap
weights), standard errors for every lane, and restricted fits for profile tests."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.batch import natural_many
from .._engine.device import to_device
from .._engine.problem import Problem
from .._engine.solvers import CONVERGED
from ._newton import inverse_pd, solve_one
from ._sufficient import Reduced, closed_form, exact_information, reducible, statistics

#: |u| beyond this in a constrained coordinate: the estimate is on the boundary of the
#: parameter space (a natural value within ~2e-9 of the edge, relative to 1).
EDGE = 20.0
GTOL = 1e-10
XTOL = 1e-10
#: Lane counts are padded up to a multiple of this, so that batches of similar size share
#: one compiled program (a new shape costs a trace and a compilation of seconds).
LANE_STEP = 256
REDUCED_LANES = 4096


def lanes_for(count: int) -> int:
    return -(-count // LANE_STEP) * LANE_STEP


def batched(axes: Any, key: str) -> bool:
    """Whether data leaf `key` carries the replicate axis (axes: 0, None or a dict of them)."""
    return (axes[key] if isinstance(axes, dict) else axes) == 0


def pad_lanes(data: Any, axes: Any, lanes: int) -> Any:
    """Pad the batched leaves of `data` to `lanes` replicates with copies of the first."""

    def pad(a):
        a = np.asarray(a)
        extra = lanes - a.shape[0]
        return a if extra <= 0 else np.concatenate([a, np.repeat(a[:1], extra, axis=0)])

    if isinstance(data, dict):
        return {k: (pad(v) if batched(axes, k) else v) for k, v in data.items()}
    return pad(data) if axes == 0 else data


@dataclass(frozen=True)
class Batch:
    """R data sets for one problem: `axes` says which data leaves carry the replicate axis
    (0) and which are shared (None); weights are (R, rows) when `w_batched`, else (rows,)."""

    problem: Problem
    data: Any
    axes: Any
    weights: np.ndarray
    w_batched: bool

    def reduced(self) -> Batch:
        """The same fits on mean sufficient statistics, for full exponential families."""
        model = self.problem.model
        if not reducible(model):
            return self
        if self.axes == 0 and not self.w_batched:
            w = self.weights if np.any(self.weights != 1.0) else None
            t = statistics(model, self.data, w)
            total = np.full((t.shape[0], 1), float(self.weights.sum()))
        elif self.axes is None and self.w_batched:
            t = statistics(model, self.data, self.weights)
            total = self.weights.sum(axis=1, keepdims=True)
        else:
            return self
        return Batch(replace(self.problem, model=Reduced(model)), t[:, None, :], 0, total, True)

    def concat(self, others: list[Batch]) -> Batch:
        """This batch followed by others of the same problem and layout."""
        if not others:
            return self
        parts = [self, *others]

        def join(leaves):
            return np.concatenate(leaves)

        if isinstance(self.data, dict):
            data: Any = {
                k: (join([b.data[k] for b in parts]) if batched(self.axes, k) else v)
                for k, v in self.data.items()
            }
        else:
            data = join([b.data for b in parts]) if self.axes == 0 else self.data
        weights = join([b.weights for b in parts]) if self.w_batched else self.weights
        return Batch(self.problem, data, self.axes, weights, self.w_batched)

    def lanes(self, start: int, stop: int) -> Batch:
        """Replicates start..stop-1 of this batch."""
        if isinstance(self.data, dict):
            data: Any = {
                k: (v[start:stop] if batched(self.axes, k) else v) for k, v in self.data.items()
            }
        else:
            data = self.data[start:stop] if self.axes == 0 else self.data
        weights = self.weights[start:stop] if self.w_batched else self.weights
        return Batch(self.problem, data, self.axes, weights, self.w_batched)


def _estimates(batch: Batch, fixed: dict) -> dict[str, np.ndarray] | None:
    """The closed-form MLE of each replicate where its family has one (reduced to sufficient
    statistics, nothing fixed, no prior), else None."""
    problem = batch.problem
    if not isinstance(problem.model, Reduced) or fixed or problem.prior:
        return None
    est = closed_form(problem.model.base, batch.data[:, 0, :])
    if not all(b.name in est and b.shape == () for b in problem.layout.blocks):
        return None
    return {b.name: np.asarray(est[b.name], dtype=float) for b in problem.layout.blocks}


def _to_u(problem: Problem, est: dict[str, np.ndarray]) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.column_stack([b.constraint.inverse(est[b.name]) for b in problem.layout.blocks])


def start_values(batch: Batch, u0: np.ndarray, fixed: dict) -> np.ndarray:
    """Start values: the closed-form MLE of each replicate where its family has one (reduced
    to sufficient statistics, nothing fixed, no prior), else u0."""
    est = _estimates(batch, fixed)
    return u0 if est is None else _start_from(batch.problem, _to_u(batch.problem, est), u0)


def _start_from(problem: Problem, u: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Closed-form u with constrained coordinates clipped to EDGE (real ones keep their
    value: a mean of 1e6), u0 where it is not finite."""
    u = u.copy()
    cols = _constrained(problem)
    u[:, cols] = np.clip(u[:, cols], -EDGE, EDGE)
    return np.where(np.isfinite(u), u, u0)


def fit_lanes(
    batch: Batch,
    u0: np.ndarray,
    fixed: dict[str, np.ndarray],
    *,
    max_iter: int = 100,
    lanes: int = 0,
    transform: Any = None,
) -> Lanes:
    """Every replicate's MLE with its information, covariance and standard errors.

    Where the family's closed form is the exact MLE and its information is analytic (full
    exponential families reduced to sufficient statistics), both come from those formulas in
    numpy, with no Newton iteration; replicates whose estimate is not interior (a boundary,
    no spread, a singular information) and every other model go through `solve`, from the
    closed form where there is one, else from u0."""
    problem = batch.problem
    est = _estimates(batch, fixed)
    model = problem.model
    info1 = None
    if est is not None and isinstance(model, Reduced):
        info1 = exact_information(model.base, est)
    if est is None or info1 is None:
        return solve(batch, start_values(batch, u0, fixed), fixed, max_iter=max_iter,
                     lanes=lanes, transform=transform)  # fmt: skip
    u = _to_u(problem, est)
    nat = np.column_stack([est[b.name] for b in problem.layout.blocks])
    with np.errstate(all="ignore"):
        jac = np.column_stack([b.constraint.derivative(est[b.name]) for b in problem.layout.blocks])
        total = np.asarray(batch.weights, dtype=float).reshape(-1)
        info = total[:, None, None] * info1 * jac[:, :, None] * jac[:, None, :]
        ok = ~on_boundary(problem, u) & np.all(np.isfinite(u), axis=1)
        ok &= np.all(np.isfinite(info), axis=(1, 2))
        cov = _spd_inverse(np.where(ok[:, None, None], info, np.nan))
        ok &= np.all(np.isfinite(cov), axis=(1, 2))
        se = np.abs(jac) * np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        mean_ll = np.asarray(_mean_loglik(model)(est, batch.data[:, 0, :]))
    out = Lanes(
        u=u,
        negll=-total * mean_ll,
        info=info,
        cov=cov,
        iterations=np.zeros(u.shape[0], dtype=int),
        status=np.full(u.shape[0], CONVERGED),
        natural=nat,
        se=se,
    )
    if not ok.all():  # the rest by Newton, from the closed form where it is finite
        rest = solve(batch, _start_from(problem, u, u0), fixed, max_iter=max_iter, lanes=lanes)
        out = Lanes(*(np.where(_expand(ok, a), a, b) for a, b in zip(_fields(out), _fields(rest))))
    if transform is None:
        return out
    g, G = apply_transform(problem, transform, out.u, fixed, lanes)
    with np.errstate(invalid="ignore"):
        g_se = np.sqrt(np.einsum("rkp,rpq,rkq->rk", G, out.cov, G))
    return replace(out, g=g, g_se=g_se)


def _expand(ok: np.ndarray, a: np.ndarray) -> np.ndarray:
    return ok.reshape(ok.shape + (1,) * (np.ndim(a) - 1))


@functools.lru_cache(maxsize=32)
def _mean_loglik(model: Reduced) -> Any:
    return jax.jit(model.logpdf)


def _spd_inverse(A: np.ndarray) -> np.ndarray:
    """Inverses of symmetric positive definite matrices (R, p, p); NaN where one is not (or
    holds NaN). For p <= 2 in closed form, elementwise (numpy's batched LAPACK calls cost
    about 0.5 microseconds a matrix)."""
    p = A.shape[-1]
    if p == 1:
        return np.where(A > 0, 1.0 / A, np.nan)
    if p == 2:
        a, b, d = A[:, 0, 0], 0.5 * (A[:, 0, 1] + A[:, 1, 0]), A[:, 1, 1]
        det = a * d - b * b
        pd = (a > 0) & (det > 1e-14 * a * d)  # as a Cholesky factorisation's pivots
        det = np.where(pd, det, np.nan)
        return np.stack([np.stack([d, -b], -1), np.stack([-b, a], -1)], -2) / det[:, None, None]
    L = np.full_like(A, np.nan)
    try:
        L[...] = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:  # some are not: one at a time
        for r in range(A.shape[0]):
            try:
                L[r] = np.linalg.cholesky(A[r])
            except np.linalg.LinAlgError:
                pass
    Linv = np.linalg.inv(np.where(np.isfinite(L), L, np.eye(A.shape[-1])))
    Linv[~np.all(np.isfinite(L), axis=(1, 2))] = np.nan
    return np.einsum("rki,rkj->rij", Linv, Linv)


@dataclass(frozen=True)
class Lanes:
    """Per-replicate results: u (R, p), minus the total log-likelihood (R,), the observed
    information on u and its inverse (R, p, p; NaN where singular), iterations, status codes
    (0 = converged), the natural values of the free parameters and their standard errors
    (R, k), and those of g(theta) when a transform was given (R, q)."""

    u: np.ndarray
    negll: np.ndarray
    info: np.ndarray
    cov: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    natural: np.ndarray
    se: np.ndarray
    g: np.ndarray | None = None
    g_se: np.ndarray | None = None

    @property
    def converged(self) -> np.ndarray:
        return self.status == CONVERGED


def _axes_key(axes: Any) -> Any:
    return tuple(sorted(axes.items())) if isinstance(axes, dict) else axes


@functools.lru_cache(maxsize=128)
def _program(problem: Problem, axes_key: Any, w_batched: bool, max_iter: int):
    """One compiled program: fit every lane, then its covariance (the inverse observed
    information on u) and standard errors of the natural values (the delta method)."""
    axes = dict(axes_key) if isinstance(axes_key, tuple) else axes_key
    natural_flat = problem.layout.natural_flat

    def lane(u0, d, w, fixed, mask, gtol, xtol):
        u, negll, info, it, status = solve_one(problem, u0, d, w, fixed, mask, gtol, xtol, max_iter)
        cov, _ = inverse_pd(info)
        J = jax.jacfwd(natural_flat)(u)
        se = jnp.sqrt(jnp.einsum("kp,pq,kq->k", J, cov, J))
        return u, negll, info, cov, it, status, natural_flat(u), se

    def run(u0, data, weights, fixed, mask, gtol, xtol):
        return jax.vmap(
            lambda u, d, w: lane(u, d, w, fixed, mask, gtol, xtol),
            in_axes=(0, axes, 0 if w_batched else None),
        )(u0, data, weights)

    return jax.jit(run)


def _flatten(out: Any):
    if isinstance(out, dict):
        return jnp.stack([jnp.asarray(v, dtype=jnp.float64) for v in out.values()])
    return jnp.ravel(jnp.asarray(out, dtype=jnp.float64))


def solve(
    batch: Batch,
    u0: np.ndarray,
    fixed: dict[str, np.ndarray],
    *,
    mask: np.ndarray | None = None,
    max_iter: int = 100,
    lanes: int = 0,
    transform: Any = None,
) -> Lanes:
    """Damped Newton in every lane from u0 (R, p); `mask` pins coordinates (0 = held).

    The batch is padded to at least `lanes` replicates, a shape shared with other calls.
    Batches of sufficient statistics (a few numbers per replicate) always run in pieces of
    `REDUCED_LANES`, so that each family compiles one program whatever the replicate count.
    With a transform g, g(theta) and its delta-method standard errors are added."""
    count = u0.shape[0]
    if isinstance(batch.problem.model, Reduced):
        pieces = [
            _solve(batch.lanes(a, min(a + REDUCED_LANES, count)), u0[a : a + REDUCED_LANES],
                   fixed, mask, max_iter, REDUCED_LANES)
            for a in range(0, count, REDUCED_LANES)
        ]  # fmt: skip
        out = Lanes(*(np.concatenate(parts) for parts in zip(*(_fields(x) for x in pieces))))
    else:
        out = _solve(batch, u0, fixed, mask, max_iter, max(lanes_for(count), lanes))
    if transform is None:
        return out
    g, G = apply_transform(batch.problem, transform, out.u, fixed, lanes)
    with np.errstate(invalid="ignore"):
        g_se = np.sqrt(np.einsum("rkp,rpq,rkq->rk", G, out.cov, G))
    return replace(out, g=g, g_se=g_se)


def _fields(lanes: Lanes) -> tuple:
    return (
        lanes.u, lanes.negll, lanes.info, lanes.cov, lanes.iterations, lanes.status,
        lanes.natural, lanes.se,
    )  # fmt: skip


def _solve(batch: Batch, u0, fixed, mask, max_iter: int, lanes: int) -> Lanes:
    count, p = u0.shape
    m = np.ones(p) if mask is None else np.asarray(mask, dtype=float)
    program = _program(batch.problem, _axes_key(batch.axes), batch.w_batched, max_iter)
    data = jax.tree_util.tree_map(to_device, pad_lanes(batch.data, batch.axes, lanes))
    weights = pad_lanes(batch.weights, 0, lanes) if batch.w_batched else batch.weights
    out = program(
        jnp.asarray(pad_lanes(u0, 0, lanes), dtype=jnp.float64),
        data,
        jnp.asarray(weights),
        {k: jnp.asarray(v) for k, v in fixed.items()},
        jnp.asarray(m),
        GTOL,
        XTOL,
    )
    return Lanes(*(np.asarray(a)[:count] for a in out))


def natural(problem: Problem, u: np.ndarray, lanes: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Natural values of the free parameters (R, k) and the Jacobians d natural / d u."""
    count = u.shape[0]
    padded = pad_lanes(u, 0, max(lanes_for(count), lanes))
    nat, jac = natural_many(problem, jnp.asarray(padded), {})
    return np.asarray(nat)[:count], np.asarray(jac)[:count]


def _constrained(problem: Problem) -> list[int]:
    """The coordinates of u that belong to constrained (not real) parameters."""
    return [
        i
        for b in problem.layout.blocks
        if b.constraint.name != "real"
        for i in range(b.offset, b.offset + b.size)
    ]


def on_boundary(problem: Problem, u: np.ndarray) -> np.ndarray:
    """Lanes with a constrained coordinate beyond EDGE (the estimate is at an edge)."""
    cols = _constrained(problem)
    if not cols:
        return np.zeros(u.shape[0], dtype=bool)
    return np.any(np.abs(u[:, cols]) > EDGE, axis=1) | ~np.all(np.isfinite(u), axis=1)


def profile_deviance(
    batch: Batch,
    lanes: Lanes,
    index: int,
    value_u: float,
    fixed: dict,
    max_iter: int = 100,
    pad: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """2 (l_hat - max l with u[index] = value_u) per lane, and whether that fit converged.

    The profile-likelihood interval of a parameter contains a value exactly when this
    deviance is below the chi-square quantile: one restricted fit per lane decides coverage
    without locating the interval's ends."""
    start = np.array(lanes.u)
    start[:, index] = value_u
    bad = ~np.all(np.isfinite(start), axis=1) | (np.max(np.abs(start), axis=1) > 2 * EDGE)
    start[bad] = np.clip(np.nan_to_num(start[bad]), -EDGE, EDGE)
    start[:, index] = value_u
    mask = np.ones(start.shape[1])
    mask[index] = 0.0
    restricted = solve(batch, start, fixed, mask=mask, max_iter=max_iter, lanes=pad)
    dev = 2.0 * (restricted.negll - lanes.negll)
    return np.maximum(dev, 0.0), restricted.converged


@functools.lru_cache(maxsize=32)
def _transform_program(problem: Problem, g: Any):
    def one(u, fixed):
        def flat(v):
            return _flatten(g(problem.natural(v, fixed)))

        return flat(u), jax.jacfwd(flat)(u)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def apply_transform(
    problem: Problem, g: Any, u: np.ndarray, fixed: dict, lanes: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """g(natural(u)) for every lane (R, q) and its Jacobian in u (R, q, p)."""
    count = u.shape[0]
    est, G = _transform_program(problem, g)(
        jnp.asarray(pad_lanes(u, 0, max(lanes_for(count), lanes))),
        {k: jnp.asarray(v) for k, v in fixed.items()},
    )
    est = np.asarray(est)[:count]
    return est, np.asarray(G)[:count].reshape(count, est.shape[1], -1)


def transform_names(problem: Problem, g: Any, u: np.ndarray, fixed: dict) -> list[str]:
    sample = g(problem.natural(jnp.asarray(u), {k: jnp.asarray(v) for k, v in fixed.items()}))
    if isinstance(sample, dict):
        return [str(k) for k in sample]
    size = int(np.size(np.asarray(sample)))
    return ["g"] if size == 1 else [f"g[{i}]" for i in range(size)]
