"""Damped Newton for one replicate, written to be vmapped over thousands of them.

The same method as the engine's solvers (exact Hessian, Levenberg damping, Armijo test, the
gradient or the Newton step as the stopping rule), arranged for batches: one Cholesky
factorisation per iteration (the step for the next iteration, at the damping that the Armijo
test has just chosen, is also the convergence test when the damping is zero), and for up to
`SMALL` parameters the factorisation is unrolled into elementwise operations, which XLA
vectorises across replicates (its batched LAPACK call solves one tiny matrix at a time:
for 10,000 2 x 2 systems it took 11 ms here, the unrolled form 0.6 ms).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._engine.problem import Problem
from .._engine.solvers import CONVERGED, MAX_ITER, NO_PROGRESS, NOT_FINITE, value_grad_hess

SMALL = 8


def _cholesky_small(A):
    """The Cholesky factor of A (p <= SMALL) as nested lists of scalars, unrolled, and
    whether A is positive definite (every pivot positive)."""
    p = A.shape[0]
    zero = jnp.zeros_like(A[0, 0])
    L: list[list] = [[zero] * p for _ in range(p)]
    ok = jnp.asarray(True)
    for j in range(p):
        d = A[j, j] - sum((L[j][k] * L[j][k] for k in range(j)), zero)
        ok = ok & (d > 0)
        ljj = jnp.sqrt(jnp.where(d > 0, d, 1.0))
        L[j][j] = ljj
        for i in range(j + 1, p):
            L[i][j] = (A[i, j] - sum((L[i][k] * L[j][k] for k in range(j)), zero)) / ljj
    return L, ok


def _substitute(L, b):
    """Solve L L' x = b by forward and back substitution (L from `_cholesky_small`)."""
    p = len(L)
    zero = jnp.zeros_like(b[0])
    y: list = [zero] * p
    for i in range(p):
        y[i] = (b[i] - sum((L[i][k] * y[k] for k in range(i)), zero)) / L[i][i]
    x: list = [zero] * p
    for i in reversed(range(p)):
        x[i] = (y[i] - sum((L[k][i] * x[k] for k in range(i + 1, p)), zero)) / L[i][i]
    return jnp.stack(x)


def _cholesky_solve(A, b):
    """(A^-1 b, whether A is positive definite)."""
    if A.shape[0] <= SMALL:
        L, ok = _cholesky_small(A)
        return _substitute(L, b), ok
    F = jnp.linalg.cholesky(A)
    ok = jnp.all(jnp.isfinite(F))
    F = jnp.where(ok, F, jnp.eye(A.shape[0]))
    return jax.scipy.linalg.cho_solve((F, True), b), ok


def inverse_pd(A):
    """(A^-1, whether A is positive definite), judged on the correlation form of A so that
    parameters on very different scales are not mistaken for a singular matrix."""
    p = A.shape[0]
    diag = jnp.diag(A)
    d = 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0))
    C = 0.5 * (A + A.T) * jnp.outer(d, d)
    if p <= SMALL:
        L, ok = _cholesky_small(C)
        pivots = jnp.stack([L[j][j] for j in range(p)])
        inv = jnp.stack([_substitute(L, row) for row in jnp.eye(p)], axis=1)
    else:
        F = jnp.linalg.cholesky(C)
        ok = jnp.all(jnp.isfinite(F))
        pivots = jnp.diag(jnp.where(ok, F, jnp.eye(p)))
        inv = jax.scipy.linalg.cho_solve((jnp.where(ok, F, jnp.eye(p)), True), jnp.eye(p))
    ok = ok & jnp.all(diag > 0) & (jnp.min(pivots) ** 2 > 1e-12)
    return jnp.where(ok, inv * jnp.outer(d, d), jnp.nan), ok


def solve_one(problem: Problem, u0, data, weights, fixed, mask, gtol, xtol, max_iter: int):
    """Returns u, minus the total log-likelihood (+ log-prior), the total negative Hessian
    (the observed information on u), Newton steps taken and a status code of
    `_engine.solvers`.

    The first pass of the loop evaluates the start, so that the derivatives are traced (and
    compiled) once. A converged estimate takes one last undamped Newton step when that step
    is tiny: the stopping rule accepts a remaining step of 1e-10 (relative), one more step
    takes the estimate to round-off."""
    scale = jnp.sum(weights)
    vgh = value_grad_hess(problem, (data, weights, fixed, scale))
    p = u0.shape[0]
    eye = jnp.eye(p)
    keep = jnp.outer(mask, mask)

    def step(g, H, lam):
        s, ok = _cholesky_solve(H * keep + jnp.diag(1.0 - mask) + lam * eye, -g * mask)
        return jnp.where(ok, s * mask, -g * mask), ok

    def relative(s, u):
        return jnp.max(jnp.abs(s) / (1.0 + jnp.abs(u)))

    def cond(state):
        return (state[-1] < 0) & (state[-2] <= max_iter)

    def body(state):
        u, f, g, H, s, _, lam, it, _ = state
        first = it == 0
        dec = -jnp.dot(g * mask, s)
        trial = u + s
        ft, gt, Ht = vgh(trial)
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt)) & jnp.all(jnp.isfinite(Ht))
        roundoff = 1e-14 * (1.0 + jnp.abs(f))
        accept = finite & (
            first | (ft <= f - 1e-4 * dec) | ((dec <= roundoff) & (ft <= f + roundoff))
        )
        u, f, g, H = jax.tree_util.tree_map(
            lambda new, old: jnp.where(accept, new, old), (trial, ft, gt, Ht), (u, f, g, H)
        )
        lam = jnp.where(
            accept, jnp.where(lam * 0.1 < 1e-10, 0.0, lam * 0.1), jnp.maximum(lam * 10.0, 1e-6)
        )
        s, ok = step(g, H, lam)
        small = (lam == 0.0) & ok & (relative(s, u) <= xtol)
        done = accept & ((jnp.max(jnp.abs(g * mask)) <= gtol) | small)
        status = jnp.where(
            first & ~finite,
            NOT_FINITE,
            jnp.where(done, CONVERGED, jnp.where(~accept & (lam > 1e12), NO_PROGRESS, -1)),
        ).astype(jnp.int32)
        return u, f, g, H, s, ok, lam, it + 1, status

    zero = jnp.zeros(p)
    state = (
        u0,
        jnp.asarray(jnp.inf),
        zero,
        eye,
        zero,
        jnp.asarray(True),
        jnp.asarray(0.0),
        jnp.asarray(0, jnp.int32),
        jnp.asarray(-1, jnp.int32),
    )
    u, f, _, H, s, ok, lam, it, status = jax.lax.while_loop(cond, body, state)
    polish = (status == CONVERGED) & ok & (lam == 0.0) & (relative(s, u) <= 1e-6)
    u = jnp.where(polish, u + s, u)
    status = jnp.where(status < 0, MAX_ITER, status)
    return u, f * scale, H * scale, jnp.maximum(it - 1, 0), status
