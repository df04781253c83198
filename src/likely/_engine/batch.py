"""Many fits at once: a Newton solver written as one `lax.while_loop`, vmapped over datasets.

Simulation studies and the bootstrap fit the same model to thousands of data sets of the same
shape. Each lane runs damped Newton with the exact Hessian on its own data (or its own
frequency weights); the loop stops when every lane has converged or hit `max_iter`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .problem import Problem
from .solvers import CONVERGED, MAX_ITER, NOT_FINITE, value_grad_hess


def _solve_one(problem: Problem, u0, data, weights, fixed, mask, gtol, xtol, max_iter: int):
    scale = jnp.sum(weights)
    vgh = value_grad_hess(problem, (data, weights, fixed, scale))
    p = u0.shape[0]
    eye = jnp.eye(p)

    def masked(g, H):
        return g * mask, H * jnp.outer(mask, mask) + jnp.diag(1.0 - mask)

    def step(g, H, lam):
        gm, Hm = masked(g, H)
        L = jnp.linalg.cholesky(Hm + lam * eye)
        ok = jnp.all(jnp.isfinite(L))
        L = jnp.where(ok, L, eye)
        s = -jax.scipy.linalg.cho_solve((L, True), gm) * mask
        return s, ok

    def converged(u, g, H):
        pure, ok = step(g, H, 0.0)
        small = jnp.max(jnp.abs(pure) / (1.0 + jnp.abs(u))) <= xtol
        return (jnp.max(jnp.abs(g * mask)) <= gtol) | (ok & small)

    f0, g0, H0 = vgh(u0)
    finite0 = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0)) & jnp.all(jnp.isfinite(H0))
    status0 = jnp.where(finite0, jnp.where(converged(u0, g0, H0), CONVERGED, -1), NOT_FINITE)

    def cond(state):
        return (state[-1] < 0) & (state[-2] < max_iter)

    def body(state):
        u, f, g, H, lam, it, _ = state
        s, ok = step(g, H, lam)
        dec = -jnp.dot(g * mask, s)
        trial = u + s
        ft, gt, Ht = vgh(trial)
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt)) & jnp.all(jnp.isfinite(Ht))
        roundoff = 1e-14 * (1.0 + jnp.abs(f))
        accept = ok & finite & ((ft <= f - 1e-4 * dec) | ((dec <= roundoff) & (ft <= f + roundoff)))
        u, f, g, H = jax.tree_util.tree_map(
            lambda new, old: jnp.where(accept, new, old), (trial, ft, gt, Ht), (u, f, g, H)
        )
        lam = jnp.where(
            accept, jnp.where(lam * 0.1 < 1e-10, 0.0, lam * 0.1), jnp.maximum(lam * 10.0, 1e-6)
        )
        done = accept & converged(u, g, H)
        stuck = ~accept & (lam > 1e12)
        status = jnp.where(done, CONVERGED, jnp.where(stuck, 2, -1)).astype(jnp.int32)
        return u, f, g, H, lam, it + 1, status

    state = (u0, f0, g0, H0, jnp.asarray(0.0), jnp.asarray(0, jnp.int32), status0.astype(jnp.int32))
    u, f, g, H, _, it, status = jax.lax.while_loop(cond, body, state)
    status = jnp.where(status < 0, MAX_ITER, status)
    return u, f * scale, g * mask, H * scale, it, status


@partial(jax.jit, static_argnums=(0,), static_argnames=("max_iter", "batched_data"))
def solve_many(
    problem: Problem,
    u0,
    data,
    weights,
    fixed,
    mask,
    gtol: float = 1e-10,
    xtol: float = 1e-10,
    max_iter: int = 100,
    batched_data: bool = True,
) -> Any:
    """Fit every lane. u0 (R, p); data batched (R, n, ...) or shared; weights (R, n).

    Returns u (R, p), minus the total log-likelihood (+ log-prior) (R,), gradients, the total
    negative Hessians (observed information on u, (R, p, p)), iterations and status codes.
    """
    one = partial(_solve_one, problem, gtol=gtol, xtol=xtol, max_iter=max_iter)
    return jax.vmap(
        lambda u, d, w: one(u, d, w, fixed, mask), in_axes=(0, 0 if batched_data else None, 0)
    )(u0, data, weights)


@partial(jax.jit, static_argnums=(0,))
def natural_many(problem: Problem, u, fixed):
    """Natural values (flat) and the Jacobians d natural / d u for every lane."""

    def one(v):
        flat = problem.layout.natural_flat
        return flat(v), jax.jacfwd(flat)(v)

    return jax.vmap(one)(u)
