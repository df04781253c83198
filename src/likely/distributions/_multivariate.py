"""Multivariate families."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.constraints import positive_definite, real
from .._engine.errors import DataError
from ._base import Distribution, wmean


@dataclass(frozen=True, repr=False)
class MultivariateNormal(Distribution):
    """MultivariateNormal(mu, cov): density (2 pi)^(-d/2) |cov|^(-1/2) exp(-r' cov^-1 r / 2).

    Closed-form MLE: the sample mean and the biased (1/n) sample covariance. The covariance
    is optimised through its Cholesky factor; `params` lists every entry cov[i,j].
    """

    event_ndim = 1
    exponential_family = True

    @property
    def param_spec(self):
        return {"mu": real, "cov": positive_definite}

    def logpdf(self, params, x):
        mu, cov = params["mu"], params["cov"]
        chol = jnp.linalg.cholesky(cov)
        z = jax.scipy.linalg.solve_triangular(chol, (x - mu).T, lower=True)
        d = x.shape[1]
        return (
            -0.5 * jnp.sum(z * z, axis=0)
            - jnp.sum(jnp.log(jnp.diag(chol)))
            - 0.5 * d * math.log(2 * math.pi)
        )

    def mle(self, x, w):
        mu = wmean(x, w)
        r = x - mu
        cov = (r * w[:, None]).T @ r / w.sum()
        # Judge singularity on the correlation matrix, so that columns on very different
        # scales are not mistaken for collinear ones; Cholesky alone accepts exactly
        # collinear columns whenever rounding leaves a tiny positive pivot.
        sd = np.sqrt(np.diag(cov))
        singular = not np.all(sd > 0)
        if not singular:
            corr = cov / np.outer(sd, sd)
            singular = bool(np.linalg.eigvalsh(corr)[0] <= 1e-12)
        if singular:
            raise DataError(
                "the sample covariance is singular: a column is constant, the columns are "
                "collinear, or there are fewer weighted observations than dimensions + 1 "
                f"({x.shape[1] + 1})"
            )
        return {"mu": mu, "cov": cov}

    def init(self, x, w):
        return self.mle(x, w)

    def _sample(self, key, p, shape):
        return jax.random.multivariate_normal(key, p["mu"], p["cov"], shape)
