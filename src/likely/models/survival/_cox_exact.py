"""The exact partial likelihood for tied event times (R's ties="exact", the discrete /
conditional-logistic likelihood), with exact derivatives by automatic differentiation.

At an event time with m tied events among the risk set R, the likelihood contribution is

    exp(sum_{events} eta_i) / e_m(R),   e_m(R) = sum over m-subsets S of R of exp(sum_S eta_j),

the elementary symmetric polynomial of the risks. It satisfies the recursion of Gail, Lubin
and Rubinstein (1981): adding subject j to a set turns e_k into e_k + exp(eta_j) e_{k-1}.
Rows sorted by decreasing time (within strata) enter the risk set one by one, so a single scan
over the rows, carrying log e_0..log e_M (M = the largest number of ties), gives every
denominator: log e_m is read after the last row of each event time. The scan works in logs
(logaddexp), so it neither overflows nor underflows; JAX differentiates it exactly.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.data import bucket
from ._cox_data import CoxData

_NEG = -1e300  # log 0, finite so that derivatives stay finite


def _loglik(beta, X, reset, read, active, death, M: int):
    eta = X @ beta
    ks = jnp.arange(M + 1)
    start = jnp.where(ks == 0, 0.0, _NEG)

    def step(carry, row):
        le, count = carry
        e, rs, rd, act = row
        le = jnp.where(rs, start, le)
        count = jnp.where(rs, 0, count)
        prev = jnp.concatenate([jnp.array([_NEG]), le[:-1]])
        grown = jnp.logaddexp(le, prev + e)
        new = jnp.where((ks >= 1) & (ks <= count + 1), grown, le)
        new = jnp.where(act, new, le)
        count = jnp.where(act, count + 1, count)
        out = jnp.where(rd > 0, new[rd], 0.0)
        return (new, count), out

    (_, _), denoms = jax.lax.scan(step, (start, jnp.asarray(0)), (eta, reset, read, active))
    return jnp.sum(jnp.where(death, eta, 0.0)) - jnp.sum(denoms)


@partial(jax.jit, static_argnums=(6,))
def _value_grad_hess(beta, X, reset, read, active, death, M):
    f = partial(_loglik, X=X, reset=reset, read=read, active=active, death=death, M=M)
    return f(beta), jax.grad(f)(beta), jax.hessian(f)(beta)


class ExactLikelihood:
    """Value, gradient and Hessian of the exact partial log-likelihood for one data set."""

    def __init__(self, data: CoxData) -> None:
        # the rows are sorted by stratum and time descending: the risk set grows row by row
        so, to, n = data.strata, data.time, data.n
        new_block = np.r_[True, (so[1:] != so[:-1]) | (to[1:] != to[:-1])]
        block = np.cumsum(new_block) - 1
        last = np.r_[new_block[1:], True]  # last row of each (stratum, time) block
        deaths = np.bincount(block, weights=data.event.astype(float)).astype(np.int64)
        read = np.where(last, deaths[block], 0)
        reset = np.r_[True, so[1:] != so[:-1]]
        size = bucket(n)
        pad = size - n
        self.M = int(max(1, deaths.max()))
        self.args = (
            jnp.asarray(np.vstack([data.Xt.T, np.zeros((pad, data.p))])),
            jnp.asarray(np.r_[reset, np.zeros(pad, dtype=bool)]),
            jnp.asarray(np.r_[read, np.zeros(pad, dtype=np.int64)]),
            jnp.asarray(np.r_[np.ones(n, dtype=bool), np.zeros(pad, dtype=bool)]),
            jnp.asarray(np.r_[data.event, np.zeros(pad, dtype=bool)]),
        )

    def value_grad_hess(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        f, g, H = _value_grad_hess(jnp.asarray(beta, dtype=jnp.float64), *self.args, self.M)
        return float(f), np.asarray(g), np.asarray(H)
