"""The log-logistic (Fisk) family."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import softplus

from .._engine.constraints import positive
from .._engine.data import wsum
from ._base import Distribution, wmean


@dataclass(frozen=True, repr=False)
class LogLogistic(Distribution):
    """LogLogistic(shape b, scale a): F(x) = 1 / (1 + (x / a)^-b), x > 0.

    f(x) = (b / a) (x / a)^(b - 1) / (1 + (x / a)^b)^2. log(x) is logistic with location
    log(a) and scale 1/b; `scale` is the median. scipy's ``fisk(c=b, scale=a)``, lifelines'
    ``LogLogisticFitter`` (alpha_ = a, beta_ = b), R survreg's "loglogistic" with
    Scale = 1/b and intercept log(a).

    Example::

        fit = lk.fit(lk.LogLogistic(), x)             # x > 0
        fit.params["shape"], fit.params["scale"]
    """

    support_text = "positive (> 0)"
    support_lower = 0.0

    def _in_support(self, x):
        return x > 0

    @property
    def param_spec(self):
        return {"shape": positive, "scale": positive}

    def _z(self, params, x):
        return params["shape"] * (jnp.log(x) - jnp.log(params["scale"]))

    def logpdf(self, params, x):
        z = self._z(params, x)
        return jnp.log(params["shape"]) - jnp.log(x) + z - 2.0 * softplus(z)

    def logcdf(self, params, x):
        return -softplus(-self._z(params, x))

    def logsf(self, params, x):
        return -softplus(self._z(params, x))

    def init(self, x, w):
        lx = np.log(x)
        m = float(wmean(lx, w))
        sd = math.sqrt(max(float(wmean((lx - m) ** 2, w)), 1e-12))
        return {"shape": math.pi / (math.sqrt(3.0) * sd), "scale": math.exp(m)}

    def expected_information(self, params, x, w):
        # log x is logistic(mu = log a, s = 1/b), whose information is diag(1/(3 s^2),
        # (pi^2 + 3)/(9 s^2)); carried to (b, a) by d mu/d a = 1/a and d s/d b = -1/b^2
        b, a = float(params["shape"]), float(params["scale"])
        return wsum(w) * np.diag([(math.pi**2 + 3) / (9 * b**2), b**2 / (3 * a**2)])

    def _sample(self, key, p, shape):
        return p["scale"] * jnp.exp(jax.random.logistic(key, shape) / p["shape"])
