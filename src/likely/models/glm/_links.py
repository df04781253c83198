"""Link functions g(mu) = eta, with their inverses written for numerical stability."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax.nn import log_sigmoid, sigmoid
from jax.scipy.special import log_ndtr, ndtr, ndtri


class Link:
    name: str = "link"

    def inverse(self, eta):
        raise NotImplementedError

    def __call__(self, mu):
        raise NotImplementedError

    # numpy twins for the edges (start values, predictions): no JAX dispatch or compilation
    def np_link(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def np_inverse(self, eta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def np_dinverse(self, eta: np.ndarray) -> np.ndarray:
        """d mu / d eta."""
        raise NotImplementedError

    # log mu and log(1 - mu), for links onto (0, 1); accurate in both tails
    def log_mu(self, eta):
        return jnp.log(self.inverse(eta))

    def log1m_mu(self, eta):
        return jnp.log1p(-self.inverse(eta))

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, repr=False)
class Identity(Link):
    name: str = "identity"

    def np_link(self, mu):
        return np.asarray(mu, dtype=float)

    def np_inverse(self, eta):
        return np.asarray(eta, dtype=float)

    def np_dinverse(self, eta):
        return np.ones_like(eta, dtype=float)

    def inverse(self, eta):
        return eta

    def __call__(self, mu):
        return mu


@dataclass(frozen=True, repr=False)
class Log(Link):
    name: str = "log"

    def np_link(self, mu):
        return np.log(mu)

    def np_inverse(self, eta):
        return np.exp(eta)

    def np_dinverse(self, eta):
        return np.exp(eta)

    def inverse(self, eta):
        return jnp.exp(eta)

    def __call__(self, mu):
        return jnp.log(mu)

    def log_mu(self, eta):
        return eta


@dataclass(frozen=True, repr=False)
class Logit(Link):
    name: str = "logit"

    def np_link(self, mu):
        return np.log(mu) - np.log1p(-mu)

    def np_inverse(self, eta):
        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(eta, dtype=float)))

    def np_dinverse(self, eta):
        p = self.np_inverse(eta)
        return p * (1 - p)

    def inverse(self, eta):
        return sigmoid(eta)

    def __call__(self, mu):
        return jnp.log(mu) - jnp.log1p(-mu)

    def log_mu(self, eta):
        return log_sigmoid(eta)

    def log1m_mu(self, eta):
        return log_sigmoid(-eta)


@dataclass(frozen=True, repr=False)
class Probit(Link):
    name: str = "probit"

    def np_link(self, mu):
        from scipy.special import ndtri

        return ndtri(mu)

    def np_inverse(self, eta):
        from scipy.special import ndtr

        return ndtr(eta)

    def np_dinverse(self, eta):
        return np.exp(-0.5 * np.asarray(eta, dtype=float) ** 2) / np.sqrt(2 * np.pi)

    def inverse(self, eta):
        return ndtr(eta)

    def __call__(self, mu):
        return ndtri(mu)

    def log_mu(self, eta):
        return log_ndtr(eta)

    def log1m_mu(self, eta):
        return log_ndtr(-eta)


@dataclass(frozen=True, repr=False)
class CLogLog(Link):
    name: str = "cloglog"

    def np_link(self, mu):
        return np.log(-np.log1p(-mu))

    def np_inverse(self, eta):
        return -np.expm1(-np.exp(eta))

    def np_dinverse(self, eta):
        return np.exp(eta - np.exp(eta))

    def inverse(self, eta):
        return -jnp.expm1(-jnp.exp(eta))

    def __call__(self, mu):
        return jnp.log(-jnp.log1p(-mu))

    def log_mu(self, eta):
        a = -jnp.exp(eta)
        return jnp.where(a > -0.6931471805599453, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))

    def log1m_mu(self, eta):
        return -jnp.exp(eta)


@dataclass(frozen=True, repr=False)
class Inverse(Link):
    name: str = "inverse"

    def np_link(self, mu):
        return 1.0 / np.asarray(mu, dtype=float)

    def np_inverse(self, eta):
        return 1.0 / np.asarray(eta, dtype=float)

    def np_dinverse(self, eta):
        return -1.0 / np.asarray(eta, dtype=float) ** 2

    def inverse(self, eta):
        return 1.0 / eta

    def __call__(self, mu):
        return 1.0 / mu

    def log_mu(self, eta):
        return -jnp.log(eta)


LINKS: dict[str, Link] = {
    "identity": Identity(),
    "log": Log(),
    "logit": Logit(),
    "probit": Probit(),
    "cloglog": CLogLog(),
    "inverse": Inverse(),
}
