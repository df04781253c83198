"""The Cox model as the engine sees it: one real coefficient vector, structured derivatives.

The partial likelihood is not a sum of independent per-observation densities (every event
compares one row with its risk set), so the model supplies its own exact derivatives
(`CoxDerivatives`: the O(n p^2) kernel, or JAX autodiff of the exact likelihood). `logpdf`
is a dense O(n G) reference implementation of the Breslow and Efron partial likelihood as
per-row terms (sum_i w_i logpdf_i = the partial log-likelihood), written directly from the
definition; it is what the fast kernel is checked against by autodiff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..._engine.constraints import Constraint, real
from ..._engine.errors import ModelError
from ..._engine.model import AbstractModel
from ._cox_data import CoxData
from ._cox_exact import ExactLikelihood
from ._cox_kernel import Units, information, pieces, score_residuals, units

TIES = ("efron", "breslow", "exact")


class CoxModel(AbstractModel):
    """Cox proportional hazards: h(t | x) = h0_stratum(t) exp(x' beta)."""

    def __init__(self, columns: tuple[str, ...], ties: str) -> None:
        if ties not in TIES:
            raise ModelError(f"ties must be one of {TIES}, got {ties!r}")
        self.columns = tuple(columns)
        self.ties = ties

    @property
    def param_spec(self) -> dict[str, Constraint]:
        return {"beta": real}

    @property
    def name(self) -> str:
        return f"Cox PH ({self.ties} ties)"

    def element_labels(self, name: str, shape: tuple[int, ...]) -> tuple[str, ...] | None:
        return self.columns if name == "beta" and shape == (len(self.columns),) else None

    def init(self, data: Any, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {"beta": np.zeros(len(self.columns))}

    def derivatives(self, problem: Any, data: Any, weights: np.ndarray, fixed: Any) -> Any:
        if isinstance(data, CoxData):
            return CoxDerivatives(data, self.ties)
        return None

    def logpdf(self, params: Mapping[str, jnp.ndarray], data: Any) -> jnp.ndarray:
        """Per-row terms of the partial log-likelihood (dense reference; see the module).

        `data` is a dict with "X", "time", "event" and optionally "weights", "strata",
        "entry" (numpy arrays); the result weighted by the case weights sums to the
        partial log-likelihood."""
        if self.ties == "exact":
            raise ModelError("the exact partial likelihood has no per-row form; use lk.coxph")
        X = np.asarray(data["X"], float)
        t = np.asarray(data["time"], float)
        ev = np.asarray(data["event"]).astype(bool)
        n = t.size
        w = np.asarray(data.get("weights", np.ones(n)), float)
        s = np.asarray(data.get("strata", np.zeros(n)))
        t0 = np.asarray(data.get("entry", np.full(n, -np.inf)), float)
        keys = sorted({(s[i], t[i]) for i in np.flatnonzero(ev)})
        gs = np.array([k[0] for k in keys])
        gt = np.array([k[1] for k in keys])
        at_risk = (
            (s[None, :] == gs[:, None]) & (t0[None, :] < gt[:, None]) & (t[None, :] >= gt[:, None])
        )
        dies = at_risk & ev[None, :] & (t[None, :] == gt[:, None])
        eta = jnp.asarray(X) @ params["beta"]
        r = jnp.asarray(w) * jnp.exp(eta)
        S0 = jnp.asarray(at_risk, float) @ r
        D0 = jnp.asarray(dies, float) @ r
        group = np.full(n, -1)
        frac = np.zeros(n)
        mw = np.zeros(n)
        for g in range(len(keys)):
            rows = np.flatnonzero(dies[g])
            group[rows] = g
            if self.ties == "efron":
                frac[rows] = np.arange(rows.size) / rows.size
            mw[rows] = w[rows].sum() / rows.size
        gi = np.where(group >= 0, group, 0)
        den = S0[gi] - jnp.asarray(frac) * D0[gi]
        term = eta - jnp.asarray(mw / w) * jnp.log(den)
        return jnp.where(jnp.asarray(ev), term, 0.0)


class CoxDerivatives:
    """The engine's derivative protocol for the Cox partial likelihood (objective scaled by
    the total case weight, as the engine's solvers expect)."""

    def __init__(self, data: CoxData, ties: str) -> None:
        self.data = data
        self.ties = ties
        self.scale = float(data.weights.sum())
        self.units: Units = units(data, "efron" if ties == "exact" else ties)
        self.exact = ExactLikelihood(data) if ties == "exact" else None
        self.at_zero: tuple[float, np.ndarray, np.ndarray] | None = None
        self.work: np.ndarray | None = (
            None if self.exact is not None else np.empty((data.p + 1, data.n))
        )

    def loglik_grad_info(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        beta = np.asarray(beta, float)
        if self.exact is not None:
            ll, g, H = self.exact.value_grad_hess(beta)
            out = (ll, g, -H)
        else:
            # a beta far out (a monotone likelihood) can overflow: the solver sees non-finite
            # values and damps its step, so numpy's warnings would only be noise
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                pc = pieces(self.data, beta, self.units, self.work)
                out = (pc.loglik, pc.score, information(self.data, pc, self.units))
        if not np.any(beta):
            self.at_zero = out
        return out

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll, g, info = self.loglik_grad_info(u)
        s = self.scale
        if not np.isfinite(ll):
            return np.inf, np.full_like(g, np.nan), np.full_like(info, np.nan)
        return -ll / s, -g / s, info / s

    def loglik(self, u: np.ndarray) -> float:
        return self.loglik_grad_info(u)[0]

    def scores(self, u: np.ndarray) -> np.ndarray:
        """Per-row score residuals (unweighted; d/dw_i of the weighted score)."""
        if self.exact is not None:
            raise ModelError("score residuals are not available for ties='exact' (as in R)")
        pc = pieces(self.data, np.asarray(u, float), self.units)
        return score_residuals(self.data, pc, self.units)
