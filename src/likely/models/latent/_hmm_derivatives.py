"""Exact derivatives of an HMM's log-likelihood without reverse mode through the recursions.

Fisher's identity gives the gradient of the marginal log-likelihood as the posterior
expectation of the complete-data score:

    d l(theta) / d theta = d Q(theta'; theta) / d theta' at theta' = theta,
    Q(theta'; theta) = sum_t,k gamma_tk log f_k(x_t; theta') + sum_ij n_ij log Gamma_ij(theta')
                       + sum_k gamma_1k log delta_k(theta'),

with gamma and the transition counts n from forward-backward at theta. The Hessian is the
derivative of that gradient function, taken in forward mode (one tangent per parameter,
carried through the forward-backward scans together with the values). Reverse mode through
`lax.scan` stores every step and compiles to much larger programs; forward mode needs
neither. Both are exact (automatic differentiation, no finite differences). The tangents go
through in groups sized to bound memory (long sequences: a few at a time, `lax.map`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.device import to_device
from ..._engine.problem import Problem


def _safe_log(p):
    return jnp.log(jnp.where(p > 0, p, 1.0))


def _posteriors(problem: Problem, v, x, valid, fixed):
    from ._hmm import _posteriors as posteriors

    return posteriors(problem.model, problem.natural(v, fixed), x, valid)


def _expected_complete(problem: Problem, v, x, valid, fixed, gamma, xi):
    """Q(theta'; theta) of each sequence (S,), with gamma (S, L, K, B) and xi (S, K, K)
    fixed."""
    model: Any = problem.model
    params = problem.natural(v, fixed)
    le = model.log_emissions(params, x)
    mask = valid[:, :, None, :] > 0
    emission = jnp.sum(jnp.where(mask, gamma * le, 0.0), axis=(1, 2, 3))
    G = params["transition"]
    transition = jnp.sum(jnp.where(xi > 0, xi * _safe_log(G)[None], 0.0), axis=(1, 2))
    delta = model.initial_distribution(params)
    first = gamma[:, 0, :, 0]
    start = jnp.sum(jnp.where(first > 0, first * _safe_log(delta)[None], 0.0), axis=1)
    return emission + transition + start


def _gradient(problem: Problem, v, x, valid, weights, fixed):
    ll, gamma, xi = _posteriors(problem, v, x, valid, fixed)

    def q(vv):
        per = _expected_complete(problem, vv, x, valid, fixed, gamma, xi)
        return jnp.sum(jnp.where(weights > 0, weights * per, 0.0)) + problem.log_prior(vv, fixed)

    return jax.grad(q)(v), ll


# tangents carried through forward-backward at once: each holds about this many copies of
# the (steps x states) arrays, so groups are sized to keep memory near MEMORY bytes
_COPIES = 16
MEMORY = 1 << 30


def tangent_group(p: int, steps: int, states: int) -> int:
    per_tangent = _COPIES * steps * states * 8
    return int(max(1, min(p, MEMORY // max(per_tangent, 1))))


@partial(jax.jit, static_argnums=(0, 7))
def _vgh(problem: Problem, u, x, valid, weights, fixed, scale, group: int):
    def grad(v):
        return _gradient(problem, v, x, valid, weights, fixed)[0]

    g, ll = _gradient(problem, u, x, valid, weights, fixed)
    p = u.shape[0]
    count = -(-p // group)
    basis = jnp.eye(count * group, p, dtype=u.dtype).reshape(count, group, p)

    def columns(block):
        return jax.vmap(lambda t: jax.jvp(grad, (u,), (t,))[1])(block)

    H = jax.lax.map(columns, basis).reshape(count * group, p)[:p]
    total = jnp.sum(jnp.where(weights > 0, weights * ll, 0.0)) + problem.log_prior(u, fixed)
    return -total / scale, -g / scale, -0.5 * (H + H.T) / scale


@partial(jax.jit, static_argnums=(0,))
def _scores(problem: Problem, u, x, valid, fixed):
    _, gamma, xi = _posteriors(problem, u, x, valid, fixed)
    return jax.jacfwd(lambda v: _expected_complete(problem, v, x, valid, fixed, gamma, xi))(u)


@partial(jax.jit, static_argnums=(0,))
def _loglik(problem: Problem, u, x, valid, weights, fixed):
    ll = _posteriors(problem, u, x, valid, fixed)[0]
    return jnp.sum(jnp.where(weights > 0, weights * ll, 0.0))


class HMMDerivatives:
    """Value, gradient (Fisher's identity), Hessian (forward mode) and per-sequence scores."""

    def __init__(self, problem: Problem, data: Any, weights: np.ndarray, fixed: dict) -> None:
        self.problem = problem
        self.x = jnp.asarray(data["x"])
        self.valid = jnp.asarray(data["valid"])
        self.weights = jnp.asarray(weights)
        self.fixed = {k: jnp.asarray(v) for k, v in fixed.items()}
        self.scale = float(np.sum(weights))
        states = int(getattr(problem.model, "n_states", 1))
        self.group = tangent_group(problem.layout.size, int(self.valid.size), states)

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        f, g, H = _vgh(
            self.problem,
            to_device(u),
            self.x,
            self.valid,
            self.weights,
            self.fixed,
            self.scale,
            self.group,
        )
        return float(f), np.asarray(g), np.asarray(H)

    def scores(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(_scores(self.problem, to_device(u), self.x, self.valid, self.fixed))

    def loglik(self, u: np.ndarray) -> float:
        return float(
            _loglik(self.problem, to_device(u), self.x, self.valid, self.weights, self.fixed)
        )
