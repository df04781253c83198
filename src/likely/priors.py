"""Priors for MAP estimation: ``lk.fit(model, x, prior={"sigma": lk.priors.HalfNormal(1.0)})``.

Each prior is a log-density over a parameter's natural value, summed over its elements and
added to the log-likelihood; the maximiser is the posterior mode (MAP). MAP is defined on the
natural scale, so no Jacobian of the optimiser's reparametrisation enters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.special import gammaln

_LOG_2PI = math.log(2 * math.pi)


class Prior:
    def logpdf(self, value: jnp.ndarray) -> jnp.ndarray:
        raise NotImplementedError


def _positive(name: str, **kwargs: float) -> None:
    for k, v in kwargs.items():
        if not v > 0:
            raise ValueError(f"{name} needs {k} > 0, got {v}")


@dataclass(frozen=True)
class Normal(Prior):
    """Normal(loc, scale); on regression coefficients it is the L2 (ridge) penalty."""

    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        _positive("Normal prior", scale=self.scale)

    def logpdf(self, value):
        z = (value - self.loc) / self.scale
        return -0.5 * z * z - math.log(self.scale) - 0.5 * _LOG_2PI


@dataclass(frozen=True)
class Laplace(Prior):
    """Laplace(loc, scale); on regression coefficients it is the L1 (lasso) penalty."""

    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        _positive("Laplace prior", scale=self.scale)

    def logpdf(self, value):
        return -jnp.abs(value - self.loc) / self.scale - math.log(2 * self.scale)

    def l1(self, shape: tuple[int, ...]):
        """(center, weight): the log-density is -sum weight |value - center| + const, so MAP
        fits solve it exactly (proximal Newton) and coefficients can be exactly zero."""
        import numpy as np

        return np.full(shape, float(self.loc)), np.full(shape, 1.0 / self.scale)


@dataclass(frozen=True)
class Cauchy(Prior):
    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        _positive("Cauchy prior", scale=self.scale)

    def logpdf(self, value):
        z = (value - self.loc) / self.scale
        return -jnp.log1p(z * z) - math.log(math.pi * self.scale)


@dataclass(frozen=True)
class StudentT(Prior):
    df: float = 3.0
    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        _positive("StudentT prior", df=self.df, scale=self.scale)

    def logpdf(self, value):
        nu, z = self.df, (value - self.loc) / self.scale
        return (
            gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(self.scale)
            - (nu + 1) / 2 * jnp.log1p(z * z / nu)
        )


@dataclass(frozen=True)
class HalfNormal(Prior):
    """Half-normal on (0, inf): a weakly informative prior for scale parameters."""

    scale: float = 1.0

    def __post_init__(self):
        _positive("HalfNormal prior", scale=self.scale)

    def logpdf(self, value):
        z = value / self.scale
        return -0.5 * z * z - math.log(self.scale) + 0.5 * math.log(2 / math.pi)


@dataclass(frozen=True)
class HalfCauchy(Prior):
    scale: float = 1.0

    def __post_init__(self):
        _positive("HalfCauchy prior", scale=self.scale)

    def logpdf(self, value):
        z = value / self.scale
        return -jnp.log1p(z * z) + math.log(2 / (math.pi * self.scale))


@dataclass(frozen=True)
class Exponential(Prior):
    rate: float = 1.0

    def __post_init__(self):
        _positive("Exponential prior", rate=self.rate)

    def logpdf(self, value):
        return math.log(self.rate) - self.rate * value


@dataclass(frozen=True)
class Gamma(Prior):
    shape: float = 2.0
    rate: float = 1.0

    def __post_init__(self):
        _positive("Gamma prior", shape=self.shape, rate=self.rate)

    def logpdf(self, value):
        a, b = self.shape, self.rate
        return a * math.log(b) + (a - 1) * jnp.log(value) - b * value - math.lgamma(a)


@dataclass(frozen=True)
class Beta(Prior):
    """Beta(a, b) on (0, 1): Beta(1, 1) is flat; a, b > 1 pull away from the boundaries."""

    a: float = 1.0
    b: float = 1.0

    def __post_init__(self):
        _positive("Beta prior", a=self.a, b=self.b)

    def logpdf(self, value):
        a, b = self.a, self.b
        norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        return (a - 1) * jnp.log(value) + (b - 1) * jnp.log1p(-value) + norm


@dataclass(frozen=True)
class LogNormal(Prior):
    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self):
        _positive("LogNormal prior", sigma=self.sigma)

    def logpdf(self, value):
        lv = jnp.log(value)
        z = (lv - self.mu) / self.sigma
        return -0.5 * z * z - math.log(self.sigma) - 0.5 * _LOG_2PI - lv


__all__ = [
    "Beta",
    "Cauchy",
    "Exponential",
    "Gamma",
    "HalfCauchy",
    "HalfNormal",
    "Laplace",
    "LogNormal",
    "Normal",
    "Prior",
    "StudentT",
]
