"""Optimisers on the unconstrained vector.

Newton uses the exact Hessian, globalised by Levenberg damping (H + lam I) with an Armijo
acceptance test; damping falls as steps succeed, so the last iterations are pure Newton and
converge quadratically. BFGS (quasi-Newton) serves large parameter counts.

Newton takes a function u -> (f, g, H) (autodiff by default, or a model's structured one);
BFGS minimises `objective(u, *args)`. An optional `mask` pins coordinates (0 = held at
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


@partial(jax.jit, static_argnums=(0,))
def _vgh(objective: Callable, u, args):
    return value_grad_hess(objective, args)(u)


def newton(
    value_grad_hess: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    u0: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    gtol: float = 1e-12,
    xtol: float = 1e-11,
    max_iter: int = 100,
) -> SolverResult:
    """Damped Newton driven from Python around one compiled (f, g, H) evaluation.

    Each pass evaluates (f, g, H) once, at the trial point; a trial that passes the Armijo
    test becomes the iterate, one that fails raises the damping and the next trial is taken
    from the last iterate. Only the derivative evaluation is compiled: compiling the whole
    loop as a `lax.while_loop` took about twice as long and saved microseconds per pass.
    """
    m = np.ones_like(u0) if mask is None else np.asarray(mask, dtype=float)
    p = u0.shape[0]
    u = trial = np.asarray(u0, dtype=float)
    f, g, H = np.inf, np.zeros(p), np.zeros((p, p))
    lam, decrement, it, first = 0.0, 0.0, 0, True
    status = MAX_ITER
    for _ in range(10 * max_iter + 50):
        ft, gt, Ht = value_grad_hess(trial)
        finite = bool(np.isfinite(ft) and np.all(np.isfinite(gt)) and np.all(np.isfinite(Ht)))
        if first and not finite:
            return SolverResult(trial, ft, gt * m, Ht, 0, NOT_FINITE)
        roundoff = 1e-14 * (1.0 + abs(f)) if np.isfinite(f) else 0.0
        accept = finite and (
            first
            or ft <= f - 1e-4 * decrement
            # near the optimum f cannot resolve the decrease: accept round-off-level steps
            or (decrement <= roundoff and ft <= f + roundoff)
        )
        first = False
        if accept:
            u, f, g, H = trial, ft, gt, Ht
            it += 1
            lam = 0.0 if lam * 0.1 < 1e-10 else lam * 0.1
        else:
            # A rejected step this close to the optimum means f itself is too noisy to resolve
            # the remaining decrease (large cancelling terms): the estimate is as good as
            # float64 allows here.
            near = _newton_step(H * np.outer(m, m) + np.diag(1.0 - m), g * m, 0.0)
            if (
                near is not None
                and np.max(np.abs(near * m) / (1.0 + np.abs(u)), initial=0.0) <= 1e-8
            ):
                status = CONVERGED
                break
            lam = max(lam * 10.0, 1e-6)
            if lam > 1e12:
                status = NO_PROGRESS
                break
        gm = g * m
        Hm = H * np.outer(m, m) + np.diag(1.0 - m)
        # Convergence, judged at the current iterate with the undamped Newton step: the
        # gradient test, a decrement below what float64 resolves, or a step that no longer
        # moves the estimate (the gradient of badly scaled problems has a round-off floor).
        pure = _newton_step(Hm, gm, 0.0)
        if accept and pure is not None:
            pure = pure * m
            dec0 = float(-gm @ pure)
            small_step = np.max(np.abs(pure) / (1.0 + np.abs(u)), initial=0.0) <= xtol
            if (
                np.max(np.abs(gm), initial=0.0) <= gtol
                or dec0 <= 1e-20 * (1.0 + abs(f))
                or small_step
            ):
                status = CONVERGED
                break
        elif accept and np.max(np.abs(gm), initial=0.0) <= gtol:
            status = CONVERGED
            break
        step = pure if (lam == 0.0 and pure is not None) else _newton_step(Hm, gm, lam)
        if step is None:
            lam = max(lam * 10.0, 1e-6)
            step = _newton_step(Hm, gm, lam)
        step = -gm if step is None else step * m
        decrement = float(-gm @ step)
        if it > max_iter:
            status = MAX_ITER
            break
        trial = u + step
    # `it` counts accepted points including the start: report Newton steps taken
    return SolverResult(u, f, g * m, H, max(it - 1, 0), status)


def _newton_step(H: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray | None:
    """-(H + lam I)^-1 g by Cholesky, or None when H + lam I is not positive definite."""
    try:
        L = np.linalg.cholesky(H + lam * np.eye(H.shape[0]))
    except np.linalg.LinAlgError:
        return None
    return -np.linalg.solve(L.T, np.linalg.solve(L, g))


def proximal_newton(
    value_grad_hess: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    u0: np.ndarray,
    l1: np.ndarray,
    center: np.ndarray,
    *,
    xtol: float = 1e-10,
    max_iter: int = 200,
) -> SolverResult:
    """Minimise f(u) + sum_j l1_j |u_j - center_j| exactly (coordinates can be exactly zero).

    Proximal Newton: the smooth part is replaced by its second-order model at the iterate,
    the penalised quadratic is minimised by cyclic coordinate descent with soft-thresholding,
    and a backtracking search on the full objective globalises the step.
    """
    u = np.asarray(u0, dtype=float)

    def full(fv: float, v: np.ndarray) -> float:
        return fv + float(np.sum(l1 * np.abs(v - center)))

    f, g, H = value_grad_hess(u)
    F = full(f, u)
    status, it = MAX_ITER, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        Hd = 0.5 * (H + H.T)
        lam = 0.0
        while np.min(np.linalg.eigvalsh(Hd + lam * np.eye(len(u)))) <= 1e-12 * max(
            1.0, np.max(np.abs(np.diag(Hd)))
        ):
            lam = max(10 * lam, 1e-8 * max(1.0, np.max(np.abs(np.diag(Hd)))))
        z = _penalised_quadratic(u, g, Hd + lam * np.eye(len(u)), l1, center)
        d = z - u
        predicted = float(g @ d) + float(np.sum(l1 * (np.abs(z - center) - np.abs(u - center))))
        if np.max(np.abs(d) / (1.0 + np.abs(u)), initial=0.0) <= xtol:
            status = CONVERGED
            break
        t = 1.0
        accepted = False
        for _ in range(40):
            trial = u + t * d
            ft, gt, Ht = value_grad_hess(trial)
            Ft = full(ft, trial)
            if np.isfinite(Ft) and Ft <= F + 1e-4 * t * min(predicted, 0.0):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            status = CONVERGED if abs(predicted) <= 1e-14 * (1 + abs(F)) else NO_PROGRESS
            break
        u, f, g, H, F = trial, ft, gt, Ht, Ft
    u = np.where(np.abs(u - center) == 0.0, center, u)
    return SolverResult(u, F, g, H, it, status)


def _penalised_quadratic(u, g, H, l1, center, sweeps: int = 10_000, tol: float = 1e-15):
    """argmin_z g'(z-u) + (z-u)'H(z-u)/2 + sum l1 |z - center|, by coordinate descent."""
    z = u.copy()
    r = g.copy()  # gradient of the quadratic at z
    diag = np.diag(H)
    for _ in range(sweeps):
        biggest = 0.0
        for j in range(len(z)):
            old = z[j]
            a = old - r[j] / diag[j] - center[j]
            thresh = l1[j] / diag[j]
            new = center[j] + np.sign(a) * max(abs(a) - thresh, 0.0)
            if new != old:
                r += H[:, j] * (new - old)
                z[j] = new
                biggest = max(biggest, abs(new - old) / (1.0 + abs(new)))
        if biggest <= tol:
            break
    return z


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
