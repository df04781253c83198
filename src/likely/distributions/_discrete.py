"""Discrete families. Each docstring gives the probability mass function being used."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.constraints import positive, simplex, unit_interval
from .._engine.data import wsum
from .._engine.errors import DataError, ModelError
from ._base import (
    STIRLING_FROM,
    Distribution,
    is_integer,
    lgamma,
    stirling_correction,
    wmean,
    xlog1py,
    xlogy,
)


@dataclass(frozen=True, repr=False)
class Bernoulli(Distribution):
    """Bernoulli(p): P(x) = p^x (1-p)^(1-x), x in {0, 1}. Closed-form MLE: mean(x)."""

    support_text = "0 or 1"
    exponential_family = True

    def _in_support(self, x):
        return (x == 0) | (x == 1)

    @property
    def param_spec(self):
        return {"p": unit_interval}

    def logpdf(self, params, x):
        return xlogy(x, params["p"]) + xlog1py(1 - x, -params["p"])

    def mle(self, x, w):
        return {"p": wmean(x, w)}

    def expected_information(self, params, x, w):
        p = float(params["p"])
        return np.array([[wsum(w) / (p * (1 - p))]])

    def _sample(self, key, p, shape):
        return jax.random.bernoulli(key, p["p"], shape).astype(jnp.float64)


@dataclass(frozen=True, repr=False)
class Binomial(Distribution):
    """Binomial(p; n): P(x) = C(n, x) p^x (1-p)^(n-x), x in {0..n}; n (trials) is given.

    Closed-form MLE: sum(x) / (n * number of observations).
    """

    n: int = 1
    exponential_family = True

    def __post_init__(self):
        if not (isinstance(self.n, int | np.integer) and self.n >= 1):
            raise ModelError(f"Binomial needs a whole number of trials n >= 1, got {self.n!r}")

    @property
    def support_text(self) -> str:  # type: ignore[override]
        return f"whole numbers from 0 to n={self.n}"

    def _in_support(self, x):
        return is_integer(x) & (x >= 0) & (x <= self.n)

    @property
    def param_spec(self):
        return {"p": unit_interval}

    def logpdf(self, params, x):
        n = self.n
        log_choose = lgamma(n + 1.0) - lgamma(x + 1.0) - lgamma(n - x + 1.0)
        return log_choose + xlogy(x, params["p"]) + xlog1py(n - x, -params["p"])

    def mle(self, x, w):
        return {"p": wmean(x, w) / self.n}

    def expected_information(self, params, x, w):
        p = float(params["p"])
        return np.array([[wsum(w) * self.n / (p * (1 - p))]])

    def _sample(self, key, p, shape):
        return jax.random.binomial(key, self.n, p["p"], shape)

    def __repr__(self) -> str:
        return f"Binomial(n={self.n})"


@dataclass(frozen=True, repr=False)
class Poisson(Distribution):
    """Poisson(rate): P(x) = rate^x exp(-rate) / x!, x in {0, 1, ...}. MLE: mean(x)."""

    support_text = "whole numbers >= 0"
    exponential_family = True

    def _in_support(self, x):
        return is_integer(x) & (x >= 0)

    @property
    def param_spec(self):
        return {"rate": positive}

    def logpdf(self, params, x):
        return xlogy(x, params["rate"]) - params["rate"] - lgamma(x + 1.0)

    def mle(self, x, w):
        return {"rate": wmean(x, w)}

    def init(self, x, w):
        return {"rate": max(float(wmean(x, w)), 1e-3)}

    def expected_information(self, params, x, w):
        return np.array([[wsum(w) / float(params["rate"])]])

    def _sample(self, key, p, shape):
        return jax.random.poisson(key, p["rate"], shape).astype(jnp.float64)


@dataclass(frozen=True, repr=False)
class Geometric(Distribution):
    """Geometric(p): P(x) = p (1-p)^(x-1), x in {1, 2, ...} (trials up to the first success,
    as scipy.stats.geom). Closed-form MLE: 1 / mean(x)."""

    support_text = "whole numbers >= 1"
    exponential_family = True

    def _in_support(self, x):
        return is_integer(x) & (x >= 1)

    @property
    def param_spec(self):
        return {"p": unit_interval}

    def logpdf(self, params, x):
        return jnp.log(params["p"]) + xlog1py(x - 1, -params["p"])

    def mle(self, x, w):
        return {"p": 1.0 / wmean(x, w)}

    def init(self, x, w):
        return {"p": min(max(1.0 / float(wmean(x, w)), 1e-6), 1 - 1e-6)}

    def expected_information(self, params, x, w):
        p = float(params["p"])
        return np.array([[wsum(w) / (p * p * (1 - p))]])

    def _sample(self, key, p, shape):
        return jax.random.geometric(key, p["p"], shape).astype(jnp.float64)


@dataclass(frozen=True, repr=False)
class NegativeBinomial(Distribution):
    """NegativeBinomial(mu, alpha), the NB2 form: mean mu, variance mu + alpha mu^2.

    P(x) = Gamma(x + r) / (Gamma(r) x!) (r/(r+mu))^r (mu/(r+mu))^x with r = 1/alpha; scipy's
    nbinom(n, p) is n = 1/alpha, p = 1/(1 + alpha mu).
    """

    support_text = "whole numbers >= 0"

    def _in_support(self, x):
        return is_integer(x) & (x >= 0)

    @property
    def param_spec(self):
        return {"mu": positive, "alpha": positive}

    def logpdf(self, params, x):
        mu, alpha = params["mu"], params["alpha"]
        r = 1.0 / alpha
        # Near the Poisson limit (alpha -> 0, r -> inf) lgamma(x + r) - lgamma(r) and
        # r log(r / (r + mu)) cancel catastrophically (at alpha = 1e-10 the log-likelihood of
        # 200 counts was off by 3e-3). For r >= 10 they are combined through Stirling's series:
        # lgamma(x + r) - lgamma(r) + r log(r / (r + mu)) + x log(mu / (r + mu))
        #   = (r + x - 1/2) log1p(x / r) - x + corr(r + x) - corr(r)
        #     - (r + x) log1p(alpha mu) + x log(mu),
        # every term of which is accurate (it tends to x log(mu) - mu).
        big = r >= STIRLING_FROM
        rb = jnp.where(big, r, STIRLING_FROM)  # branches not taken get safe inputs
        rs = jnp.where(big, 1.0, r)
        near_poisson = (
            (rb + x - 0.5) * jnp.log1p(x / rb)
            - x
            + stirling_correction(rb + x)
            - stirling_correction(rb)
            - (rb + x) * jnp.log1p(mu / rb)
        )
        log_total = jnp.log(rs + mu)
        general = (
            lgamma(x + rs)
            - lgamma(x + 1.0)
            - lgamma(rs)
            + rs * (jnp.log(rs) - log_total)
            - x * log_total
            + xlogy(x, mu)
        )
        near_poisson = near_poisson + xlogy(x, mu) - lgamma(x + 1.0)
        return jnp.where(big, near_poisson, general)

    def init(self, x, w):
        m = max(float(wmean(x, w)), 1e-3)
        v = float(wmean((x - m) ** 2, w))
        return {"mu": m, "alpha": max((v - m) / (m * m), 0.1)}

    def _sample(self, key, p, shape):
        k1, k2 = jax.random.split(key)
        r = 1.0 / p["alpha"]
        lam = jax.random.gamma(k1, r, shape) * p["mu"] / r
        return jax.random.poisson(k2, lam, shape).astype(jnp.float64)


_MAX_INFERRED_K = 1_000_000  # without k=, codes this large are a mistake, not categories


@dataclass(frozen=True, repr=False)
class Categorical(Distribution):
    """Categorical(p; k): P(x = j) = p[j], x in {0..k-1}, p on the simplex.

    Closed-form MLE: the category frequencies. Its negative mean log-likelihood is the
    cross-entropy loss. If k is not given it is max(x) + 1.
    """

    k: int | None = None
    exponential_family = True

    @property
    def support_text(self) -> str:  # type: ignore[override]
        return "whole numbers from 0 to k-1" if self.k is None else f"whole numbers 0..{self.k - 1}"

    def _in_support(self, x):
        ok = is_integer(x) & (x >= 0)
        return ok if self.k is None else ok & (x < self.k)

    @property
    def param_spec(self):
        return {"p": simplex}

    def _k(self, x):
        if self.k is None and x.max() >= _MAX_INFERRED_K:
            raise DataError(
                f"Categorical data has the category code {x.max():g}: codes must run 0..k-1 "
                "(recode the categories, e.g. with pandas.factorize) or give k= explicitly"
            )
        k = int(x.max()) + 1 if self.k is None else self.k
        if k < 2:
            raise DataError("Categorical needs at least two categories (k >= 2)")
        return k

    def logpdf(self, params, x):
        return jnp.log(params["p"])[x.astype(jnp.int32)]

    def mle(self, x, w):
        counts = np.bincount(x.astype(int), weights=w, minlength=self._k(x))
        return {"p": counts / counts.sum()}

    def init(self, x, w):
        counts = np.bincount(x.astype(int), weights=w, minlength=self._k(x)) + 0.5
        return {"p": counts / counts.sum()}

    def _sample(self, key, p, shape):
        return jax.random.categorical(key, jnp.log(p["p"]), shape=shape).astype(jnp.float64)

    def __repr__(self) -> str:
        return "Categorical()" if self.k is None else f"Categorical(k={self.k})"


@dataclass(frozen=True, repr=False)
class Multinomial(Distribution):
    """Multinomial(p): each observation is a vector of k counts with total n_i (its row sum).

    P(x) = n! / prod(x_j!) prod(p_j^x_j). Closed-form MLE: column totals / grand total.
    """

    support_text = "rows of whole-number counts >= 0 (at least one positive)"
    event_ndim = 1
    exponential_family = True

    def _in_support(self, x):
        return np.all(is_integer(x) & (x >= 0), axis=1) & (x.sum(axis=1) > 0)

    @property
    def param_spec(self):
        return {"p": simplex}

    def prepare(self, data):
        x = super().prepare(data)
        if x.shape[1] < 2:
            raise DataError("Multinomial needs at least two categories (columns)")
        return x

    def logpdf(self, params, x):
        n = jnp.sum(x, axis=1)
        return (
            lgamma(n + 1.0)
            - jnp.sum(lgamma(x + 1.0), axis=1)
            + jnp.sum(xlogy(x, params["p"]), axis=1)
        )

    def mle(self, x, w):
        tot = np.einsum("i,ij->j", w, x)
        return {"p": tot / tot.sum()}

    def init(self, x, w):
        tot = np.einsum("i,ij->j", w, x) + 0.5
        return {"p": tot / tot.sum()}

    def sample(self, params, size, key=0, n: int = 1):  # type: ignore[override]
        """Draw `size` count vectors, each of `n` trials."""
        k = jax.random.PRNGKey(key) if isinstance(key, int) else key
        shape = (size,) if isinstance(size, int) else tuple(size)
        p = jnp.asarray(params["p"])
        draws = jax.random.categorical(k, jnp.log(p), shape=(*shape, n))
        return np.asarray(jax.nn.one_hot(draws, p.shape[0]).sum(axis=-2))
