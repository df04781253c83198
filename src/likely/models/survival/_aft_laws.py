"""The error laws of accelerated failure time models: log T = x'beta + sigma W.

Each law is the distribution of W (R survreg's location-scale form, Kalbfleisch & Prentice
section 2.2): its log-density, log-survival and log-cdf in the standardised residual
z = (log t - x'beta) / sigma, its quantiles, and start values from log-time moments.

| dist          | W                        | extra parameter          |
|---------------|--------------------------|--------------------------|
| "weibull"     | standard minimum extreme value: S(z) = exp(-e^z) | scale sigma (shape 1/sigma) |
| "exponential" | the same, sigma = 1      | none                     |
| "lognormal"   | standard normal          | scale sigma              |
| "loglogistic" | standard logistic        | scale sigma (shape 1/sigma) |
| "gamma"       | log G, G ~ Gamma(k, 1)   | shape k (no sigma)       |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import softplus

from ..._engine.constraints import Constraint, positive
from ...distributions._base import log1mexp
from ...distributions._continuous import _digamma, _log_ndtr, _trigamma
from ...distributions._gammainc import log_gammainc, log_gammaincc

_EULER = 0.5772156649015329
_LOG_2PI = math.log(2 * math.pi)


class AbstractLaw:
    """The distribution of W. Subclasses are frozen dataclasses (hashable: part of a model)."""

    name: str = ""
    #: mean and standard deviation of W (for start values), without extra parameters
    w_mean: float = 0.0
    w_sd: float = 1.0

    @property
    def extra(self) -> dict[str, Constraint]:
        """The parameters beside the coefficients, by name."""
        return {}

    def z(self, log_t, eta, params):
        """The standardised residual (log t - eta) / sigma."""
        return log_t - eta

    def log_sigma(self, params):
        return 0.0

    def logpdf(self, z, params):
        raise NotImplementedError

    def logsf(self, z, params):
        raise NotImplementedError

    def logcdf(self, z, params):
        raise NotImplementedError

    def quantile(self, q: np.ndarray, values: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """log t_q - eta: sigma W_q, and its derivative in each extra parameter's
        unconstrained coordinate (for the delta method)."""
        raise NotImplementedError

    def start(self, resid_sd: float) -> tuple[dict[str, float], float]:
        """Start values of the extra parameters from the sd of log-time residuals, and the
        mean of the error term sigma W (added to the intercept)."""
        return {}, self.w_mean


@dataclass(frozen=True)
class LocationScale(AbstractLaw):
    """log T = eta + sigma W with a parameter-free W."""

    def z(self, log_t, eta, params):
        return (log_t - eta) / params["scale"]

    def log_sigma(self, params):
        return jnp.log(params["scale"])

    @property
    def extra(self) -> dict[str, Constraint]:
        return {"scale": positive}

    def w_quantile(self, q: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def quantile(self, q, values):
        s = float(values["scale"])
        wq = s * self.w_quantile(q)
        return wq, {"scale": wq}  # d (sigma W_q) / d log sigma

    def start(self, resid_sd):
        s = max(resid_sd / self.w_sd, 1e-3)
        return {"scale": s}, s * self.w_mean


@dataclass(frozen=True)
class Weibull(LocationScale):
    name: str = "weibull"
    w_mean: float = -_EULER
    w_sd: float = math.pi / math.sqrt(6.0)

    def logpdf(self, z, params):
        return z - jnp.exp(z)

    def logsf(self, z, params):
        return -jnp.exp(z)

    def logcdf(self, z, params):
        return log1mexp(-jnp.exp(z))

    def w_quantile(self, q):
        return np.log(-np.log1p(-q))


@dataclass(frozen=True)
class Exponential(AbstractLaw):
    """The Weibull law with sigma fixed at 1."""

    name: str = "exponential"
    w_mean: float = -_EULER

    def logpdf(self, z, params):
        return z - jnp.exp(z)

    def logsf(self, z, params):
        return -jnp.exp(z)

    def logcdf(self, z, params):
        return log1mexp(-jnp.exp(z))

    def quantile(self, q, values):
        return np.log(-np.log1p(-q)), {}


@dataclass(frozen=True)
class LogNormal(LocationScale):
    name: str = "lognormal"

    def logpdf(self, z, params):
        return -0.5 * z * z - 0.5 * _LOG_2PI

    def logsf(self, z, params):
        return _log_ndtr(-z)

    def logcdf(self, z, params):
        return _log_ndtr(z)

    def w_quantile(self, q):
        from scipy.special import ndtri

        return ndtri(q)


@dataclass(frozen=True)
class LogLogistic(LocationScale):
    name: str = "loglogistic"
    w_sd: float = math.pi / math.sqrt(3.0)

    def logpdf(self, z, params):
        return z - 2.0 * softplus(z)

    def logsf(self, z, params):
        return -softplus(z)

    def logcdf(self, z, params):
        return -softplus(-z)

    def w_quantile(self, q):
        return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Gamma(AbstractLaw):
    """log T = eta + log G with G ~ Gamma(shape k, rate 1): T ~ Gamma(k, rate exp(-eta))."""

    name: str = "gamma"

    @property
    def extra(self) -> dict[str, Constraint]:
        return {"shape": positive}

    def logpdf(self, z, params):
        k = params["shape"]
        return k * z - jnp.exp(z) - jax.scipy.special.gammaln(k)

    def logsf(self, z, params):
        return log_gammaincc(params["shape"], jnp.exp(z))

    def logcdf(self, z, params):
        return log_gammainc(params["shape"], jnp.exp(z))

    def quantile(self, q, values):
        from scipy.special import gammaincinv

        k = float(values["shape"])
        x = gammaincinv(k, q)
        wq = np.log(x)
        # F(w; k) = P(k, e^w) = q defines w(k): dw/dk = -(dP/dk) / f_W(w)
        dlogp_dk = np.asarray(jax.vmap(jax.grad(log_gammainc, argnums=0), (None, 0))(k, x))
        dp_dk = q * dlogp_dk
        f_w = np.exp(k * wq - x - math.lgamma(k))
        return wq, {"shape": -k * dp_dk / f_w}  # d w_q / d log k

    def start(self, resid_sd):
        # Var(log G) = trigamma(k): solve for k by bisection on the log scale
        target = max(resid_sd, 1e-3) ** 2
        lo, hi = 1e-4, 1e6
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if _trigamma(mid) > target else (lo, mid)
        k = math.sqrt(lo * hi)
        return {"shape": k}, _digamma(k)


LAWS: dict[str, AbstractLaw] = {
    "weibull": Weibull(),
    "exponential": Exponential(),
    "lognormal": LogNormal(),
    "loglogistic": LogLogistic(),
    "gamma": Gamma(),
}
ALIASES = {"log-normal": "lognormal", "log-logistic": "loglogistic", "fisk": "loglogistic"}
