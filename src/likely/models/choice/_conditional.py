"""Conditional (McFadden) logit: P(case s chooses j) = exp(x_sj'b) / sum_k exp(x_sk'b).

The log-likelihood of a case is a log-sum-exp over its alternatives. Its exact derivatives have
a closed structure that BLAS evaluates fast, so the engine's Newton solver is fed by

    gradient  X'(y - p)
    Hessian   X' diag(p) X - sum_s (X_s'p_s)(X_s'p_s)'      (information, per unit weight)

with X the stacked (case, alternative) rows, each term one BLAS matrix product over large row
blocks (`gram`), so the design never enters JAX. (The engine's `weighted_gram`, in cache-sized
chunks, lost 4-7x here on the shared 2-core machine: dozens of small multithreaded BLAS calls
per evaluation.)
Unbalanced choice sets are padded to the largest one; padding slots get probability 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.constraints import real
from ..._engine.device import to_device
from ..._engine.model import AbstractModel
from ..._engine.problem import Problem

_GRAM_ROWS = 1 << 18


def gram(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """X' diag(w) X (w of any sign; None = ones) in a few large BLAS products."""
    n, p = X.shape
    out = np.zeros((p, p))
    for start in range(0, n, _GRAM_ROWS):
        Xc = X[start : start + _GRAM_ROWS]
        out += (Xc if w is None else Xc * w[start : start + _GRAM_ROWS, None]).T @ Xc
    return 0.5 * (out + out.T)


def case_log_probabilities(V: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """log P per slot from utilities (S, J); -inf in padding slots."""
    Vm = jnp.where(mask, V, -jnp.inf)
    return Vm - jax.scipy.special.logsumexp(Vm, axis=1, keepdims=True)


def chosen(values: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """values[s, y[s]] for each case s."""
    return jnp.take_along_axis(values, y.astype(jnp.int32)[:, None], axis=1)[:, 0]


@dataclass(frozen=True, repr=False)
class ConditionalLogitModel(AbstractModel):
    """McFadden's conditional logit; data are padded arrays X (S, J, K), mask (S, J), y (S,)."""

    columns: tuple[str, ...]

    @property
    def param_spec(self):
        return {"beta": real}

    @property
    def name(self) -> str:
        return "conditional logit"

    def __repr__(self) -> str:
        return self.name

    def element_labels(self, name, shape):
        return self.columns

    def prepare(self, data):
        return data  # validated by build_choice_data

    def init(self, data, weights):
        return {"beta": np.zeros(data["X"].shape[2])}

    def situation_arrays(self, data, extra) -> dict[str, jnp.ndarray]:
        return {"X": jnp.asarray(data.X), "mask": jnp.asarray(data.mask)}

    def new_extra(self, data, frame, extra) -> dict:
        return extra

    def log_probabilities(self, params, arrays) -> jnp.ndarray:
        V = jnp.einsum("sjk,k->sj", arrays["X"], params["beta"])
        return case_log_probabilities(V, arrays["mask"])

    def logpdf(self, params, data):
        return chosen(self.log_probabilities(params, data), data["y"])

    def derivatives(self, problem, data, weights, fixed):
        if "beta" not in problem.layout.names:
            return None
        return ConditionalLogitDerivatives(problem, data, weights)


def _softmax_rows(V: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(P, log-sum-exp) per case, in numpy (exp is faster here than in XLA); mask None means
    every slot holds an alternative. The max and sum over a case's few slots run as
    elementwise operations across columns (numpy's reductions over a short last axis are
    several times slower)."""
    if mask is not None:
        V = np.where(mask, V, -np.inf)
    cols = V.T
    top = cols[0].copy()
    for c in cols[1:]:
        np.maximum(top, c, out=top)
    E = np.exp(V - top[:, None])
    total = E[:, 0].copy()
    for j in range(1, E.shape[1]):
        total += E[:, j]
    E /= total[:, None]
    return E, top + np.log(total)


class ConditionalLogitDerivatives:
    """Exact value, gradient, Hessian and per-case scores of the conditional logit."""

    def __init__(self, problem: Problem, data: dict, weights: np.ndarray) -> None:
        self.problem = problem
        X = np.asarray(data["X"], dtype=np.float64)
        self.S, self.J, self.K = X.shape
        self.X3 = X
        self.X2 = X.reshape(self.S * self.J, self.K)
        mask = np.asarray(data["mask"], dtype=bool)
        self.mask = None if mask.all() else mask
        self.y = np.asarray(data["y"]).astype(np.int64)
        self.w = np.asarray(weights, dtype=np.float64)
        self.unit = bool(np.all(self.w == 1.0))
        self.scale = float(self.w.sum())
        block = next(b for b in problem.layout.blocks if b.name == "beta")
        self.beta_slice = slice(block.offset, block.offset + block.size)
        # X'y: the chosen rows' sum, fixed across iterations
        rows = np.arange(self.S)
        self.x_chosen = self.X3[rows, self.y]  # (S, K)
        self.xy = self.w @ self.x_chosen

    def _probabilities(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        beta = u[self.beta_slice]
        V = (self.X2 @ beta).reshape(self.S, self.J)
        P, lse = _softmax_rows(V, self.mask)
        v_chosen = V[np.arange(self.S), self.y]
        return P, v_chosen - lse

    def _case_means(self, P: np.ndarray) -> np.ndarray:
        """X_s'p_s for every case, (S, K) (numpy's einsum loop: 7x faster here than J axpys)."""
        return np.einsum("sj,sjk->sk", P, self.X3)

    def loglik(self, u: np.ndarray) -> float:
        _, logp = self._probabilities(np.asarray(u, dtype=float))
        return float(self.w @ logp)

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        u = np.asarray(u, dtype=float)
        P, logp = self._probabilities(u)
        total = float(self.w @ logp)
        WP = P if self.unit else P * self.w[:, None]
        xbar = self._case_means(P)
        # gradient of the log-likelihood: sum_s w_s (x_s,chosen - X_s'p_s)
        g_beta = self.xy - self.w @ xbar
        info = gram(self.X2, WP.reshape(-1)) - gram(xbar, None if self.unit else self.w)
        size = self.problem.layout.size
        g = np.zeros(size)
        H = np.zeros((size, size))
        bs = self.beta_slice
        g[bs] = g_beta
        H[bs, bs] = -info
        value = total
        if self.problem.prior:
            pv, pg, pH = (np.asarray(a) for a in _prior_vgh(self.problem, to_device(u)))
            value, g, H = value + float(pv), g + pg, H + pH
        s = self.scale
        return -value / s, -g / s, -H / s

    def scores(self, u: np.ndarray) -> np.ndarray:
        P, _ = self._probabilities(np.asarray(u, dtype=float))
        out = np.zeros((self.S, self.problem.layout.size))
        out[:, self.beta_slice] = self.x_chosen - self._case_means(P)
        return out


@partial(jax.jit, static_argnums=(0,))
def _prior_vgh(problem: Problem, u):
    def lp(v):
        return problem.log_prior(v, {})

    return lp(u), jax.grad(lp)(u), jax.hessian(lp)(u)
