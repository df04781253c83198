"""Information matrices, covariances on the natural scale, and the delta method.

Everything is computed on the free unconstrained vector u and carried to the natural scale
through the Jacobian J = d theta / d u (the delta method), so that simplex and covariance
parameters are handled by the same code as scalars.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .device import to_device
from .problem import Problem

COV_TYPES = ("observed", "expected", "robust")


@partial(jax.jit, static_argnums=(0,))
def _scores(problem: Problem, u, data, weights, fixed):
    """Per-observation scores d log f(x_i) / d u, shape (n, p), unweighted."""

    def per_obs(v):
        return problem.model.logpdf(problem.natural(v, fixed), data)

    return jax.jacfwd(per_obs)(u)


class AutodiffDerivatives:
    """Value, gradient, Hessian and scores of a `Problem` by automatic differentiation.

    The default for every model; a model may supply a faster structured implementation of the
    same three methods through `AbstractModel.derivatives`.
    """

    def __init__(self, problem: Problem, data, weights, fixed, scale: float) -> None:
        self.problem = problem
        self.args = (data, weights, fixed, scale)

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        from .solvers import _vgh

        f, g, H = _vgh(self.problem, to_device(u), self.args)
        return float(f), np.asarray(g), np.asarray(H)

    def scores(self, u: np.ndarray) -> np.ndarray:
        data, weights, fixed, _ = self.args
        return np.asarray(_scores(self.problem, to_device(u), data, weights, fixed))

    def loglik(self, u: np.ndarray) -> float:
        data, weights, fixed, _ = self.args
        return float(_loglik(self.problem, to_device(u), data, weights, fixed))


@partial(jax.jit, static_argnums=(0,))
def natural_jacobian(problem: Problem, u):
    return jax.jacfwd(problem.layout.natural_flat)(u)


@partial(jax.jit, static_argnums=(0,))
def _loglik(problem: Problem, u, data, weights, fixed):
    return problem.loglik(u, data, weights, fixed)


def diagnose(info: np.ndarray, labels: list[str]) -> str | None:
    """Explain why an information matrix cannot be inverted, naming parameters."""
    return _decompose(info, labels)[0]


def _decompose(
    info: np.ndarray, labels: list[str]
) -> tuple[str | None, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """(problem, None) for an information matrix that cannot be inverted, else (None, (eig,
    vec, dd)): the eigen-decomposition of its correlation form D I D, D = diag(d), dd = d d',
    which both tests invertibility scale-free and gives the inverse, D V diag(1/eig) V' D."""
    if not np.isfinite(info).all():
        return (
            "the information matrix has non-finite entries (an overflow: data or estimates "
            "near float64's limits; rescale the data), so standard errors are undefined"
        ), None
    sym = 0.5 * (info + info.T)
    diag = sym.diagonal()
    if not (diag > 0).all():
        flat = sorted({labels[i] for i in np.flatnonzero(diag <= 0)})
        return (
            f"the information matrix has no positive curvature for {', '.join(flat)}: "
            "these parameters are not identified by the data (or the fit is not at a maximum); "
            "standard errors are undefined"
        ), None
    d = 1.0 / np.sqrt(diag)
    dd = d[:, None] * d
    eig, vec = _eigh_correlation(sym * dd)
    top = max(abs(float(eig[0])), abs(float(eig[-1])), 1e-300)  # eigh sorts ascending
    if eig[0] > 1e-12 * top:
        return None, (eig, vec, dd)
    names = ", ".join(sorted(_near_null_labels(eig, vec, eig <= 1e-12 * top, labels)))
    if np.all(eig > -1e-8 * top):
        return (
            f"the information matrix is singular (smallest scaled eigenvalue {eig.min():.3g}); "
            f"the parameters involved are: {names}. They are not identified by these data "
            "(collinear, redundant or on a boundary); standard errors are undefined"
        ), None
    return (
        f"the information matrix is not positive definite (smallest scaled eigenvalue "
        f"{eig.min():.3g}): the estimate is not at a maximum of the likelihood along {names} "
        "(the fit stopped short of it, e.g. at max_iter, or sits at a saddle point); standard "
        "errors are undefined there"
    ), None


_HALF_SQRT2 = 0.5 * 2.0**0.5


def _eigh_correlation(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of a correlation matrix (unit diagonal): in
    closed form for 1 x 1 and 2 x 2 (1 -/+ |r|, vectors (1, -/+1)/sqrt 2), the common cases
    of a distribution fit, where LAPACK's call costs more than the arithmetic; else eigh."""
    p = C.shape[0]
    if p == 1:
        return np.ones(1), np.ones((1, 1))
    if p == 2:
        r = float(C[0, 1])
        h = _HALF_SQRT2
        minus, plus = np.array([h, -h]), np.array([h, h])
        if r >= 0:
            return np.array([1.0 - r, 1.0 + r]), np.column_stack([minus, plus])
        return np.array([1.0 + r, 1.0 - r]), np.column_stack([plus, minus])
    return np.linalg.eigh(C)


def collinear_columns(G: np.ndarray, d: np.ndarray, labels, rtol: float = 1e-10) -> list[str]:
    """The labels of the columns in the near-null directions of a Gram matrix G (scaled by its
    diagonal's square roots d to correlation form): each eigenvector with an eigenvalue at most
    `rtol` times the largest names the columns that carry at least a tenth of its largest
    entry. Empty when the columns are linearly independent."""
    eig, vec = _eigh_correlation(G / np.outer(d, d))
    return _near_null_labels(eig, vec, eig <= rtol * eig.max(), labels)


def _near_null_labels(eig: np.ndarray, vec: np.ndarray, bad: np.ndarray, labels) -> list[str]:
    """The labels that carry at least a tenth of the largest entry of an eigenvector flagged
    in `bad` (near-null directions), each once, in order of appearance."""
    involved: list[str] = []
    for k in np.flatnonzero(bad):
        v = np.abs(vec[:, k])
        involved += [
            labels[j] for j in np.flatnonzero(v > 0.1 * v.max()) if labels[j] not in involved
        ]
    return involved


def running_off(hess: np.ndarray, grad: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Coordinates still moving at a converged optimum (R's coxph.fit rule): the undamped
    Newton step there exceeds 1e-9 and sqrt(1e-9) |u|. The log-likelihood has flattened out
    along them, so the estimate is finite only because the iterations stopped (a monotone
    likelihood: separation in a logit, an ordering covariate in a Cox model)."""
    try:
        step = np.linalg.solve(np.asarray(hess, float), np.asarray(grad, float))
    except np.linalg.LinAlgError:
        return np.zeros(np.shape(u), dtype=bool)
    step = np.abs(step)
    return np.asarray((step > 1e-9) & (step > np.sqrt(1e-9) * np.abs(np.asarray(u))))


def covariance_u(
    info: np.ndarray, labels: list[str], meat: np.ndarray | None = None
) -> tuple[np.ndarray, str | None]:
    """Covariance of u from the information (or the sandwich H^-1 B H^-1 when meat is given)."""
    problem, parts = _decompose(info, labels)
    p = info.shape[0]
    if parts is None:
        return np.full((p, p), np.nan), problem
    eig, vec, dd = parts
    inv = ((vec / eig) @ vec.T) * dd  # symmetric up to round-off: symmetrised below
    if meat is not None:
        inv = inv @ meat @ inv
    return 0.5 * (inv + inv.T), None


def loglik_value_natural(problem: Problem, values, ctx) -> float:
    """Log-likelihood at natural values that may sit on a boundary (u would be infinite)."""
    nat = {k: to_device(v) for k, v in values.items()}
    data = jax.tree_util.tree_map(to_device, ctx.data)
    ll = problem.model.logpdf(nat, data)
    w = to_device(ctx.weights)
    return float(jnp.sum(jnp.where(w > 0, w * ll, 0.0)))
