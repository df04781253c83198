"""The AFT likelihood as an index model of the engine: log T = x'beta + sigma W.

Per row, with z = (log t - x'beta) / sigma and W's log-density, log-survival and log-cdf:

    exact at t:            log f_W(z) - log sigma - log t      (the density of T)
    right-censored at t:   log S_W(z)
    left-censored at t:    log F_W(z)
    in (l, u]:             log(F_W(z_u) - F_W(z_l))            (in the better tail)
    entered at t0 > 0:     minus log S_W(z_t0)                 (left truncation)

The log-likelihood depends on beta only through eta = x'beta, so the engine's
`IndexDerivatives` gives the exact Hessian with X'diag(d2)X formed by BLAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..._engine.censoring import censored_loglik
from ..._engine.constraints import real
from ..._engine.indexed import AbstractIndexModel, weighted_gram
from ._aft_laws import AbstractLaw


@dataclass(frozen=True, repr=False)
class AFTModel(AbstractIndexModel):
    """Data: "X", "la" (log of the lower time), optionally "lb" (log of the upper time, for
    left- and interval-censored rows), "kind" (censoring codes, when several kinds occur),
    "le" and "trunc" (log entry time and a 0/1 flag, when some rows are truncated)."""

    law: AbstractLaw
    columns: tuple[str, ...]
    kinds: tuple[int, ...]  # the censoring kinds present (static: the others are not computed)

    @property
    def param_spec(self):
        return {"beta": real, **self.law.extra}

    @property
    def name(self) -> str:
        return f"{self.law.name} AFT"

    def __repr__(self) -> str:
        return self.name

    def element_labels(self, name, shape):
        return self.columns if name == "beta" else None

    def prepare(self, data):
        return data  # validated by lk.aft

    def index_logpdf(self, eta, params, data):
        law = self.law
        log_sigma = law.log_sigma(params)

        def logpdf(lt):
            return law.logpdf(law.z(lt, eta, params), params) - log_sigma - lt

        def logsf(lt):
            return law.logsf(law.z(lt, eta, params), params)

        def logcdf(lt):
            return law.logcdf(law.z(lt, eta, params), params)

        la = data["la"]
        kind = data["kind"] if "kind" in data else float(self.kinds[0])
        out = censored_loglik(kind, la, data.get("lb", la), logpdf, logcdf, logsf, kinds=self.kinds)
        if "le" in data:
            out = out - jnp.where(data["trunc"] > 0, logsf(data["le"]), 0.0)
        return out

    def init(self, data, weights):
        """Weighted least squares of log-time (interval midpoints) on X, with the error's
        mean and spread carried into the intercept and sigma. Newton takes it from there."""
        X = data["X"]
        y = data["la"] if "lb" not in data else 0.5 * (data["la"] + data["lb"])
        beta = np.linalg.solve(weighted_gram(X, weights), X.T @ (weights * y))
        resid = y - X @ beta
        sd = float(np.sqrt(np.sum(weights * resid**2) / weights.sum()))
        extra, shift = self.law.start(sd)
        if "Intercept" in self.columns:
            beta[self.columns.index("Intercept")] -= shift
        return {"beta": beta, **{k: np.asarray(v) for k, v in extra.items()}}
