"""Exact derivatives of a mixture's log-likelihood for large data, in bounded memory.

The engine's default differentiates the whole data set at once: forward-over-reverse with one
tangent per parameter, which holds (parameters x rows x components) numbers. `RowChunks`
gives the same value, gradient and Hessian (automatic differentiation, no finite
differences) for log-likelihoods that are sums over rows: the rows are cut into chunks of a
fixed size (one compiled program) and the chunks' values, gradients and Hessians summed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.data import nrows, pad_rows
from ..._engine.device import to_device
from ..._engine.problem import Problem
from ..._engine.solvers import value_grad_hess

CHUNK_ROWS = 8192
LARGE_ROWS = 1 << 15  # below this, the engine's whole-data autodiff is fine


@partial(jax.jit, static_argnums=(0,))
def _chunk_vgh(problem: Problem, u, data, weights, fixed, scale):
    return value_grad_hess(problem, (data, weights, fixed, scale))(u)


@partial(jax.jit, static_argnums=(0,))
def _chunk_loglik(problem: Problem, u, data, weights, fixed):
    return problem.loglik(u, data, weights, fixed)


@partial(jax.jit, static_argnums=(0,))
def _chunk_scores(problem: Problem, u, data, fixed):
    def per_obs(v):
        return problem.model.logpdf(problem.natural(v, fixed), data)

    return jax.jacfwd(per_obs)(u)


class RowChunks:
    """Value, gradient, Hessian and scores summed over fixed-size chunks of rows."""

    def __init__(self, problem: Problem, data: Any, weights: np.ndarray, fixed: dict) -> None:
        self.problem = problem
        n = nrows(data)
        self.n = n
        self.scale = float(weights.sum())
        chunks = -(-n // CHUNK_ROWS)
        padded, w = pad_rows(data, weights, chunks * CHUNK_ROWS)
        self.chunks = [
            (
                jax.tree_util.tree_map(
                    lambda a, i=i: jnp.asarray(a[i * CHUNK_ROWS : (i + 1) * CHUNK_ROWS]), padded
                ),
                jnp.asarray(w[i * CHUNK_ROWS : (i + 1) * CHUNK_ROWS]),
            )
            for i in range(chunks)
        ]
        self.fixed = {k: jnp.asarray(v) for k, v in fixed.items()}

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        uj = to_device(u)
        f, g, H = 0.0, 0.0, 0.0
        for d, w in self.chunks:
            fc, gc, Hc = _chunk_vgh(self.problem, uj, d, w, self.fixed, self.scale)
            f, g, H = f + fc, g + gc, H + Hc
        # the prior is added once per chunk by the objective: remove the extra copies
        if self.problem.prior and len(self.chunks) > 1:
            extra = len(self.chunks) - 1
            pf, pg, pH = _prior_vgh(self.problem, uj, self.fixed, self.scale)
            f, g, H = f - extra * pf, g - extra * pg, H - extra * pH
        return float(f), np.asarray(g), np.asarray(H)

    def scores(self, u: np.ndarray) -> np.ndarray:
        uj = to_device(u)
        parts = [np.asarray(_chunk_scores(self.problem, uj, d, self.fixed)) for d, _ in self.chunks]
        return np.concatenate(parts)[: self.n]

    def loglik(self, u: np.ndarray) -> float:
        uj = to_device(u)
        return float(sum(_chunk_loglik(self.problem, uj, d, w, self.fixed) for d, w in self.chunks))


@partial(jax.jit, static_argnums=(0,))
def _prior_vgh(problem: Problem, u, fixed, scale):
    def neg_log_prior(v):
        return -problem.log_prior(v, fixed) / scale

    return neg_log_prior(u), jax.grad(neg_log_prior)(u), jax.hessian(neg_log_prior)(u)
