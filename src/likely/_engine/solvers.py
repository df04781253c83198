"""Optimisers on the unconstrained vector, each one jitted `lax.while_loop`.

Newton uses the exact Hessian, globalised by Levenberg damping (H + lam I) with an Armijo
acceptance test; damping falls as steps succeed, so the last iterations are pure Newton and
converge quadratically. BFGS (quasi-Newton) serves large parameter counts.

Every solver minimises `objective(u, *args)`; an optional `mask` pins coordinates (0 = held at
their start value), which is how profile likelihoods reuse the same compiled program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

CONVERGED, MAX_ITER, NO_PROGRESS, NOT_FINITE = 0, 1, 2, 3
MESSAGES = {
    CONVERGED: "converged",
    MAX_ITER: "reached max_iter before the gradient test was met",
    NO_PROGRESS: "the line search could not decrease the objective further",
    NOT_FINITE: "the objective or its derivatives became non-finite",
}


@dataclass(frozen=True)
class SolverResult:
    u: np.ndarray
    value: float  # objective at u (mean negative log-likelihood, prior included)
    grad: np.ndarray
    hess: np.ndarray | None
    iterations: int
    status: int

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED

    @property
    def message(self) -> str:
        return MESSAGES[self.status]


def _masked(g, H, mask):
    g = g * mask
    H = H * jnp.outer(mask, mask) + jnp.diag(1.0 - mask)
    return g, H


def value_grad_hess(objective: Callable, args: tuple[Any, ...]) -> Callable:
    """u -> (f, g, H) from one trace: forward-over-reverse, the gradient as auxiliary output."""
    vg = jax.value_and_grad(objective)

    def grad_with_aux(u):
        f, g = vg(u, *args)
        return g, (f, g)

    def vgh(u):
        H, (f, g) = jax.jacfwd(grad_with_aux, has_aux=True)(u)
        return f, g, H

    return vgh


@partial(jax.jit, static_argnums=(0,), static_argnames=("max_iter",))
def _newton_loop(objective: Callable, u0, mask, args, gtol, max_iter: int):
    """Damped Newton. Each pass evaluates (f, g, H) once, at the trial point; a trial that
    passes the Armijo test becomes the iterate, one that fails raises the damping and the next
    trial is taken from the last iterate."""
    vgh = value_grad_hess(objective, args)
    p = u0.shape[0]
    eye = jnp.eye(p)

    def propose(u, g, H, lam):
        gm, Hm = _masked(g, H, mask)
        L = jnp.linalg.cholesky(Hm + lam * eye)
        ok = jnp.all(jnp.isfinite(L))
        L = jnp.where(ok, L, eye)
        step = jnp.where(ok, -jax.scipy.linalg.cho_solve((L, True), gm), -gm) * mask
        scale = jnp.maximum(jnp.max(jnp.abs(jnp.diag(Hm))), 1e-12)
        return u + step, -jnp.dot(gm, step), ok, scale

    def cond(state):
        return (state[-1] < 0) & (state[-2] < max_iter)

    def body(state):
        u, f, g, H, trial, decrement, lam, it, status = state
        ft, gt, Ht = vgh(trial)
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt)) & jnp.all(jnp.isfinite(Ht))
        first = it < 0
        roundoff = 1e-14 * (1.0 + jnp.abs(f))
        # Near the optimum f cannot resolve the decrease: accept steps that keep f within
        # round-off when the predicted decrease is itself at round-off level.
        accept = finite & (
            first | (ft <= f - 1e-4 * decrement) | ((decrement <= roundoff) & (ft <= f + roundoff))
        )
        u, f, g, H = jax.tree_util.tree_map(
            lambda new, old: jnp.where(accept, new, old), (trial, ft, gt, Ht), (u, f, g, H)
        )
        lam = jnp.where(accept, lam * 0.1, jnp.maximum(lam * 10.0, 1e-6))
        lam = jnp.where(lam < 1e-10, 0.0, lam)
        gnorm = jnp.max(jnp.abs(g * mask))
        trial, decrement, ok, _ = propose(u, g, H, lam * 1.0)
        tiny = ok & (lam == 0.0) & (decrement <= 1e-20 * (1.0 + jnp.abs(f)))
        done = accept & ((gnorm <= gtol) | tiny)
        status = jnp.where(done, CONVERGED, -1)
        status = jnp.where(first & ~finite, NOT_FINITE, status)
        status = jnp.where(~accept & (lam > 1e12), NO_PROGRESS, status).astype(jnp.int32)
        it = it + accept.astype(jnp.int32)
        return u, f, g, H, trial, decrement, lam, it, status

    p_ = jnp.zeros(p)
    state = (
        u0,
        jnp.asarray(jnp.inf),
        p_,
        jnp.zeros((p, p)),
        u0,
        jnp.asarray(0.0),
        jnp.asarray(0.0),
        jnp.asarray(-1, jnp.int32),
        jnp.asarray(-1, jnp.int32),
    )
    u, f, g, H, _, _, _, it, status = jax.lax.while_loop(cond, body, state)
    status = jnp.where(status < 0, MAX_ITER, status)
    return u, f, g * mask, H, jnp.maximum(it, 0), status


def newton(
    objective: Callable,
    u0: np.ndarray,
    args: tuple[Any, ...],
    *,
    mask: np.ndarray | None = None,
    gtol: float = 1e-12,
    max_iter: int = 100,
) -> SolverResult:
    m = jnp.ones_like(u0) if mask is None else jnp.asarray(mask, dtype=jnp.float64)
    u, f, g, H, it, status = _newton_loop(
        objective, jnp.asarray(u0), m, args, gtol, max_iter=max_iter
    )
    return SolverResult(np.asarray(u), float(f), np.asarray(g), np.asarray(H), int(it), int(status))


@partial(jax.jit, static_argnums=(0,), static_argnames=("max_iter",))
def _bfgs_loop(objective: Callable, u0, mask, args, gtol, max_iter: int):
    from jax.scipy.optimize import minimize

    def fun(v):
        return objective(u0 + mask * (v - u0), *args)

    res = minimize(fun, u0, method="BFGS", options={"gtol": gtol, "maxiter": max_iter})
    return u0 + mask * (res.x - u0), res.fun, res.jac * mask, res.nit, res.status


def bfgs(
    objective: Callable,
    u0: np.ndarray,
    args: tuple[Any, ...],
    *,
    mask: np.ndarray | None = None,
    gtol: float = 1e-12,
    max_iter: int = 1000,
) -> SolverResult:
    m = jnp.ones_like(u0) if mask is None else jnp.asarray(mask, dtype=jnp.float64)
    u, f, g, it, status = _bfgs_loop(objective, jnp.asarray(u0), m, args, gtol, max_iter=max_iter)
    g_np = np.asarray(g)
    # jax's BFGS reports status 3 when the line search stalls at an optimum it cannot improve
    # in float64; accept that when the gradient is already tiny.
    st = int(status)
    if st == 0 or (np.max(np.abs(g_np)) <= max(gtol, 1e-8)):
        code = CONVERGED
    elif st == 1:
        code = MAX_ITER
    elif not np.isfinite(float(f)):
        code = NOT_FINITE
    else:
        code = NO_PROGRESS
    return SolverResult(np.asarray(u), float(f), g_np, None, int(it), code)
