"""GLM families: the log-likelihood of a response given the linear predictor.

Each family states its log-density in terms of (y, eta) through a link, the Fisher weight
E[-d2 l / d eta2] (used for expected information, IRLS-style start values and leverage), its
variance function (for Pearson residuals and dispersion), and the support of y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ..._engine.constraints import Constraint, positive
from ._links import Link

_LOG_2PI = math.log(2 * math.pi)


#: the name under which lk.glm passes a family's parameter-free log-density term (e.g.
#: -log y! for Poisson), computed once in numpy instead of in every compiled evaluation
CONSTANT = "loglik_constant"


def _constant(data: dict, compute):
    return data[CONSTANT] if CONSTANT in data else compute()


def loglik_constant(family: Family, y: np.ndarray, data: dict) -> np.ndarray | None:
    """The family's parameter-free log-density term per row, or None if it has none."""
    from scipy.special import gammaln as np_gammaln

    if family.name in ("poisson", "negative_binomial"):
        return -np_gammaln(y + 1.0)
    if family.name == "binomial" and "trials" in data:
        n = data["trials"]
        return np_gammaln(n + 1.0) - np_gammaln(y + 1.0) - np_gammaln(n - y + 1.0)
    return None


def dmu_deta(link: Link, eta):
    return jax.jvp(link.inverse, (eta,), (jnp.ones_like(eta),))[1]


class Family:
    name: str = "family"
    default_link: str = "identity"
    links: tuple[str, ...] = ("identity",)
    support_text: str = "real numbers"
    smooth: bool = True
    #: dispersion parameter name, for the Pearson convention (Gaussian, Gamma); None if fixed at 1
    dispersion_param: str | None = None

    @property
    def extra(self) -> dict[str, Constraint]:
        return {}

    def in_support(self, y: np.ndarray, data: dict) -> np.ndarray:
        return np.ones(y.shape, dtype=bool)

    def loglik(self, y, eta, link: Link, params: dict, data: dict):
        raise NotImplementedError

    def mean(self, eta, link: Link, data: dict):
        """E[y | eta] (for binomial counts: trials * p)."""
        return link.inverse(eta)

    def variance(self, mu, params: dict, data: dict):
        """Var(y) as a function of the mean, for Pearson residuals."""
        raise NotImplementedError

    def variance_function(self, mu, data: dict):
        """V(mu) with the dispersion factored out (the GLM convention)."""
        return self.variance(mu, {}, data)

    def fisher_weight(self, eta, link: Link, params: dict, data: dict):
        """E[-d2 log f / d eta2] per observation."""
        d = dmu_deta(link, eta)
        return d * d / self.variance(link.inverse(eta), params, data)

    def start_mu(self, y: np.ndarray, data: dict) -> np.ndarray:
        return (y + y.mean()) / 2

    def extra_init(self, y: np.ndarray, mu: np.ndarray, data: dict) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, repr=False)
class Gaussian(Family):
    name: str = "gaussian"
    dispersion_param: str | None = "sigma"

    @property
    def extra(self):
        return {"sigma": positive}

    def loglik(self, y, eta, link, params, data):
        s = params["sigma"]
        z = (y - link.inverse(eta)) / s
        return -0.5 * z * z - jnp.log(s) - 0.5 * _LOG_2PI

    def variance(self, mu, params, data):
        return params.get("sigma", 1.0) ** 2 * jnp.ones_like(mu)

    def start_mu(self, y, data):
        return y.astype(float)

    def extra_init(self, y, mu, data):
        return {"sigma": max(float(np.sqrt(np.mean((y - mu) ** 2))), 1e-8 * (1 + float(np.std(y))))}

    def extra_information(self, params, n: float) -> np.ndarray:
        return np.array([[2 * n / float(params["sigma"]) ** 2]])


@dataclass(frozen=True, repr=False)
class Binomial(Family):
    name: str = "binomial"
    default_link: str = "logit"
    links: tuple[str, ...] = ("logit", "probit", "cloglog", "log")
    support_text: str = "0 or 1 (or whole numbers from 0 to the trials)"

    def in_support(self, y, data):
        n = data.get("trials", 1.0)
        return (y >= 0) & (y <= n) & (np.floor(y) == y)

    def loglik(self, y, eta, link, params, data):
        n = data.get("trials", 1.0)
        if link.name == "logit":  # canonical form: fewer operations to differentiate
            out = y * eta - n * jax.nn.softplus(eta)
        else:
            out = y * link.log_mu(eta) + (n - y) * link.log1m_mu(eta)
        if "trials" in data:
            out = out + _constant(
                data, lambda: gammaln(n + 1.0) - gammaln(y + 1.0) - gammaln(n - y + 1.0)
            )
        return out

    def mean(self, eta, link, data):
        return data.get("trials", 1.0) * link.inverse(eta)

    def variance(self, mu, params, data):
        n = data.get("trials", 1.0)
        p = mu / n
        return n * p * (1 - p)

    def fisher_weight(self, eta, link, params, data):
        n = data.get("trials", 1.0)
        p = link.inverse(eta)
        d = dmu_deta(link, eta)
        return n * d * d / (p * (1 - p))

    def start_mu(self, y, data):
        n = data.get("trials", np.ones_like(y))
        return n * (y + 0.5) / (n + 1.0)


@dataclass(frozen=True, repr=False)
class Poisson(Family):
    name: str = "poisson"
    default_link: str = "log"
    links: tuple[str, ...] = ("log", "identity")
    support_text: str = "whole numbers >= 0"

    def in_support(self, y, data):
        return (y >= 0) & (np.floor(y) == y)

    def loglik(self, y, eta, link, params, data):
        const = _constant(data, lambda: -gammaln(y + 1.0))
        if link.name == "log":  # canonical form
            return y * eta - jnp.exp(eta) + const
        return y * link.log_mu(eta) - link.inverse(eta) + const

    def variance(self, mu, params, data):
        return mu


@dataclass(frozen=True, repr=False)
class NegativeBinomial(Family):
    """NB2: Var(y) = mu + alpha mu^2, alpha estimated by maximum likelihood."""

    name: str = "negative_binomial"
    default_link: str = "log"
    links: tuple[str, ...] = ("log",)
    support_text: str = "whole numbers >= 0"

    @property
    def extra(self):
        return {"alpha": positive}

    def in_support(self, y, data):
        return (y >= 0) & (np.floor(y) == y)

    def loglik(self, y, eta, link, params, data):
        r = 1.0 / params["alpha"]
        log_mu = link.log_mu(eta)
        log_total = jnp.logaddexp(jnp.log(r), log_mu)  # log(r + mu)
        return (
            gammaln(y + r)
            - gammaln(r)
            + _constant(data, lambda: -gammaln(y + 1.0))
            + r * (jnp.log(r) - log_total)
            + y * (log_mu - log_total)
        )

    def variance(self, mu, params, data):
        return mu + params.get("alpha", 1.0) * mu * mu

    def variance_function(self, mu, data):
        return mu

    def extra_init(self, y, mu, data):
        a = np.mean(((y - mu) ** 2 - mu) / np.maximum(mu, 1e-8) ** 2)
        return {"alpha": float(np.clip(a, 0.05, 10.0))}


@dataclass(frozen=True, repr=False)
class Gamma(Family):
    """Gamma with mean mu and shape nu (dispersion 1/nu), nu estimated by maximum likelihood."""

    name: str = "gamma"
    default_link: str = "inverse"
    links: tuple[str, ...] = ("inverse", "log", "identity")
    support_text: str = "positive (> 0)"
    dispersion_param: str | None = "shape"

    @property
    def extra(self):
        return {"shape": positive}

    def in_support(self, y, data):
        return y > 0

    def loglik(self, y, eta, link, params, data):
        nu = params["shape"]
        log_mu = link.log_mu(eta)
        return (
            nu * (jnp.log(nu) - log_mu)
            + (nu - 1) * jnp.log(y)
            - nu * y * jnp.exp(-log_mu)
            - gammaln(nu)
        )

    def variance(self, mu, params, data):
        return mu * mu / params.get("shape", 1.0)

    def start_mu(self, y, data):
        return y.astype(float)

    def extra_init(self, y, mu, data):
        cv2 = float(np.mean(((y - mu) / mu) ** 2))
        return {"shape": 1.0 / max(cv2, 1e-3)}

    def extra_information(self, params, n: float) -> np.ndarray:
        from ...distributions._continuous import _trigamma

        nu = float(params["shape"])
        return np.array([[n * (_trigamma(nu) - 1 / nu)]])


@dataclass(frozen=True, repr=False)
class Laplace(Family):
    """Laplace errors: maximum likelihood is least absolute deviations (median regression)."""

    name: str = "laplace"
    smooth: bool = False

    @property
    def extra(self):
        return {"scale": positive}

    def loglik(self, y, eta, link, params, data):
        b = params["scale"]
        return -jnp.abs(y - link.inverse(eta)) / b - jnp.log(2 * b)

    def variance(self, mu, params, data):
        # the score of the location has variance 1/b^2: the Fisher weight is 1/b^2
        return params.get("scale", 1.0) ** 2 * jnp.ones_like(mu)

    def start_mu(self, y, data):
        return y.astype(float)

    def extra_init(self, y, mu, data):
        return {"scale": max(float(np.mean(np.abs(y - mu))), 1e-8)}

    def extra_information(self, params, n: float) -> np.ndarray:
        return np.array([[n / float(params["scale"]) ** 2]])


@dataclass(frozen=True, repr=False)
class StudentT(Family):
    """Student-t errors with scale sigma and degrees of freedom df: robust regression."""

    name: str = "student_t"

    @property
    def extra(self):
        return {"sigma": positive, "df": positive}

    def loglik(self, y, eta, link, params, data):
        nu, s = params["df"], params["sigma"]
        z = (y - link.inverse(eta)) / s
        return (
            gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * jnp.log(nu * math.pi)
            - jnp.log(s)
            - (nu + 1) / 2 * jnp.log1p(z * z / nu)
        )

    def variance(self, mu, params, data):
        # Fisher weight of the location: (nu + 1) / ((nu + 3) sigma^2)
        nu, s = params.get("df", 5.0), params.get("sigma", 1.0)
        return (nu + 3) * s * s / (nu + 1) * jnp.ones_like(mu)

    def start_mu(self, y, data):
        return y.astype(float)

    def extra_init(self, y, mu, data):
        r = y - mu
        mad = float(np.median(np.abs(r - np.median(r)))) * 1.4826
        return {"sigma": max(mad, 1e-8), "df": 5.0}


FAMILIES: dict[str, Family] = {
    "gaussian": Gaussian(),
    "normal": Gaussian(),
    "binomial": Binomial(),
    "bernoulli": Binomial(),
    "poisson": Poisson(),
    "negative_binomial": NegativeBinomial(),
    "nb2": NegativeBinomial(),
    "gamma": Gamma(),
    "laplace": Laplace(),
    "student_t": StudentT(),
    "t": StudentT(),
}
