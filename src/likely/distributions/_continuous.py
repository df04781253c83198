"""Continuous univariate families. Each docstring gives the density being used."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from .._engine.constraints import positive, real
from .._engine.data import is_unit, wsum
from .._engine.errors import DataError
from ._base import (
    STIRLING_FROM,
    Distribution,
    lgamma,
    log1mexp,
    stirling_correction,
    wmean,
    wmean_log,
)
from ._gammainc import log_gammainc, log_gammaincc

_LOG_2PI = math.log(2 * math.pi)
_EULER = 0.5772156649015329
_ASYMPTOTIC = 20.0  # digamma / trigamma use their asymptotic series from here up


def _digamma(x: float) -> float:
    """Scalar digamma: recurrence up to x >= 20, then the asymptotic series (error < 1e-17).

    Pure Python, so that the special-purpose solvers below need no compilation."""
    acc = 0.0
    while x < _ASYMPTOTIC:
        acc -= 1.0 / x
        x += 1.0
    r = 1.0 / (x * x)
    series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132)))))
    return acc + math.log(x) - 0.5 / x - series


def _log_minus_digamma(x: float) -> float:
    """log(x) - digamma(x) > 0, from the asymptotic series directly when x >= 20, so that
    no precision is lost to cancellation when x is large (the value is ~1/(2x))."""
    if x < _ASYMPTOTIC:
        return math.log(x) - _digamma(x)
    r = 1.0 / (x * x)
    return 0.5 / x + r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132)))))


def _trigamma_minus_inverse(x: float) -> float:
    """trigamma(x) - 1/x > 0 (~1/(2x^2)), likewise free of cancellation for large x."""
    if x < _ASYMPTOTIC:
        return _trigamma(x) - 1.0 / x
    r = 1.0 / (x * x)
    return r / 2 + r / x * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * 5 / 66))))


def _trigamma(x: float) -> float:
    """Scalar trigamma, by the same recurrence and asymptotic series."""
    acc = 0.0
    while x < _ASYMPTOTIC:
        acc += 1.0 / (x * x)
        x += 1.0
    r = 1.0 / (x * x)
    series = (
        1 / x + r / 2 + r / x * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * 5 / 66))))
    )
    return acc + series


def _log_ndtr(z):
    """log Phi(z), relatively accurate on both sides. jax's log_ndtr takes log(ndtr(z)) for
    0 < z < 8, which keeps only ~1e-17 absolute accuracy where log Phi(z) ~ -Phi(-z) is tiny
    (a relative error of 1e-7 at z = 6.4); log1p(-Phi(-z)) keeps it relative."""
    pos = z > 0
    zp = jnp.where(pos, z, 0.0)  # branches not taken get safe inputs, for gradients
    zn = jnp.where(pos, 0.0, z)
    return jnp.where(pos, jnp.log1p(-jax.scipy.special.ndtr(-zp)), log_ndtr(zn))


def _log_of_smaller(p, q):
    """log p where p + q = 1: log(p) while p < 1/2, else log1p(-q), which keeps relative
    accuracy when p is close to 1 (log(p) would keep only ~1e-16 absolute). Branches not
    taken get safe inputs so that gradients stay finite."""
    small = p < 0.5
    return jnp.where(small, jnp.log(jnp.where(small, p, 1.0)), jnp.log1p(-jnp.where(small, 0.0, q)))


def _lgamma_half_ratio(x):
    """log Gamma(x + 1/2) - log Gamma(x), for x > 0, without the cancellation of two large
    lgamma values (StudentT with large df: at df = 1e6 the plain difference loses 1e-10).

    For x >= 10 the difference of the two Stirling series (Bernoulli terms through B_12;
    truncation < 1e-15); below, the plain difference, whose terms are small."""
    big = x >= STIRLING_FROM
    xb = jnp.where(big, x, STIRLING_FROM)  # keep the branch not taken finite, for gradients
    xs = jnp.where(big, 1.0, x)
    corr = stirling_correction
    stirling = xb * jnp.log1p(0.5 / xb) - 0.5 + 0.5 * jnp.log(xb) + corr(xb + 0.5) - corr(xb)
    return jnp.where(big, stirling, lgamma(xs + 0.5) - lgamma(xs))


def _normal_mle(x: np.ndarray, w: np.ndarray, scratch: bool) -> dict[str, np.ndarray]:
    """mean and root mean square deviation; x is centred in place when it is a scratch
    array (one temporary fewer: the data passes dominate a closed-form fit)."""
    mu = wmean(x, w)
    first = x[0] if is_unit(w) else x[int(np.argmax(w > 0))]  # the first value that counts
    d = np.subtract(x, mu, out=x if scratch else None)
    if is_unit(w):  # one dot product, no temporary for the squares
        sigma = np.sqrt(np.dot(d, d) / d.shape[0])
    else:
        sigma = np.sqrt(wmean(d * d, w))
    if sigma <= 1e-8 * abs(mu):  # only round-off of the mean, if the data are all equal
        used = d[w > 0]
        if np.all(used == used[0]):  # then sigma is exactly 0: the boundary, reported
            return {"mu": np.asarray(first), "sigma": np.asarray(0.0)}
    return {"mu": mu, "sigma": sigma}


@dataclass(frozen=True, repr=False)
class Normal(Distribution):
    """Normal(mu, sigma): f(x) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)).

    Closed-form MLE: mu = mean(x), sigma^2 = (1/n) sum (x - mean)^2 (the biased variance).
    """

    exponential_family = True

    @property
    def param_spec(self):
        return {"mu": real, "sigma": positive}

    def logpdf(self, params, x):
        z = (x - params["mu"]) / params["sigma"]
        return -0.5 * z * z - jnp.log(params["sigma"]) - 0.5 * _LOG_2PI

    def logcdf(self, params, x):
        return _log_ndtr((x - params["mu"]) / params["sigma"])

    def logsf(self, params, x):
        return _log_ndtr(-(x - params["mu"]) / params["sigma"])

    def mle(self, x, w):
        return _normal_mle(x, w, scratch=False)

    def init(self, x, w):
        est = self.mle(x, w)
        return {"mu": est["mu"], "sigma": max(float(est["sigma"]), 1e-3 * (1 + abs(est["mu"])))}

    def loglik_at_mle(self, values, x, w):
        """At the MLE the log-likelihood is -n/2 (log(2 pi sigma^2) + 1): no pass over data.
        At sigma = 0 (all observations equal) the likelihood is unbounded: +inf."""
        s2 = float(values["sigma"]) ** 2
        return -0.5 * wsum(w) * (_LOG_2PI + math.log(s2) + 1.0) if s2 > 0 else math.inf

    def expected_information(self, params, x, w):
        n, s2 = wsum(w), float(params["sigma"]) ** 2
        return n * np.diag([1 / s2, 2 / s2])

    def _sample(self, key, p, shape):
        return p["mu"] + p["sigma"] * jax.random.normal(key, shape)


@dataclass(frozen=True, repr=False)
class LogNormal(Distribution):
    """LogNormal(mu, sigma): log(x) ~ Normal(mu, sigma), x > 0.

    Closed-form MLE: the Normal MLE of log(x).
    """

    support_text = "positive (> 0)"
    support_lower = 0.0
    exponential_family = True

    half_line = (0.0, False)

    def _in_support(self, x):
        return x > 0

    @property
    def param_spec(self):
        return {"mu": real, "sigma": positive}

    def logpdf(self, params, x):
        lx = jnp.log(x)
        return Normal().logpdf(params, lx) - lx

    def logcdf(self, params, x):
        return Normal().logcdf(params, jnp.log(x))

    def logsf(self, params, x):
        return Normal().logsf(params, jnp.log(x))

    def mle(self, x, w):
        return _normal_mle(np.log(x), w, scratch=True)

    def loglik_at_mle(self, values, x, w):
        # sum w log x = n mu_hat at the MLE: no second pass over the data
        base = Normal().loglik_at_mle(values, x, w)
        return None if base is None else base - wsum(w) * float(values["mu"])

    def init(self, x, w):
        return Normal().init(np.log(x), w)

    def expected_information(self, params, x, w):
        return Normal().expected_information(params, x, w)

    def _sample(self, key, p, shape):
        return jnp.exp(Normal()._sample(key, p, shape))


@dataclass(frozen=True, repr=False)
class Exponential(Distribution):
    """Exponential(rate): f(x) = rate exp(-rate x), x >= 0. Closed-form MLE: 1 / mean(x)."""

    support_text = "non-negative (>= 0)"
    support_lower = 0.0
    exponential_family = True

    half_line = (0.0, True)

    def _in_support(self, x):
        return x >= 0

    @property
    def param_spec(self):
        return {"rate": positive}

    def logpdf(self, params, x):
        return jnp.log(params["rate"]) - params["rate"] * x

    def logcdf(self, params, x):
        return log1mexp(-params["rate"] * x)

    def logsf(self, params, x):
        return -params["rate"] * x

    def mle(self, x, w):
        m = wmean(x, w)
        if m <= 0:
            raise DataError("every observation is 0: the Exponential rate MLE is infinite")
        return {"rate": 1.0 / m}

    def init(self, x, w):
        return {"rate": 1.0 / max(float(wmean(x, w)), 1e-300)}

    def loglik_at_mle(self, values, x, w):
        r = float(values["rate"])
        return wsum(w) * (math.log(r) - r * float(wmean(x, w)))

    def expected_information(self, params, x, w):
        return np.array([[wsum(w) / float(params["rate"]) ** 2]])

    def _sample(self, key, p, shape):
        return jax.random.exponential(key, shape) / p["rate"]


@dataclass(frozen=True, repr=False)
class Gamma(Distribution):
    """Gamma(shape, rate): f(x) = rate^shape x^(shape-1) exp(-rate x) / Gamma(shape), x > 0.

    The MLE solves log(shape) - digamma(shape) = log(mean x) - mean(log x) by Newton on the
    sufficient statistics (one pass over the data), then rate = shape / mean(x).
    """

    support_text = "positive (> 0)"
    support_lower = 0.0
    exponential_family = True

    half_line = (0.0, False)

    def _in_support(self, x):
        return x > 0

    @property
    def param_spec(self):
        return {"shape": positive, "rate": positive}

    def logpdf(self, params, x):
        a, b = params["shape"], params["rate"]
        return a * jnp.log(b) + (a - 1) * jnp.log(x) - b * x - lgamma(a)

    def logcdf(self, params, x):
        # differentiable to any order in the shape (jax's gammainc has no second derivative
        # in it), so censored and truncated fits get an exact Hessian
        return log_gammainc(params["shape"], params["rate"] * x)

    def logsf(self, params, x):
        return log_gammaincc(params["shape"], params["rate"] * x)

    def mle(self, x, w):
        m = float(wmean(x, w))
        s = math.log(m) - float(wmean_log(x, w))
        if not s > 1e-14:
            raise DataError(
                "all observations are equal: the Gamma shape MLE is infinite (no spread)"
            )
        a = (3 - s + math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)  # Minka's start
        previous = math.inf
        for _ in range(100):
            f = _log_minus_digamma(a) - s
            step = -f / _trigamma_minus_inverse(a)
            a_new = a - step
            if a_new <= 0:
                a_new = a / 2
            size = abs(a_new - a)
            a = a_new
            # quadratic convergence ends at round-off: stop when steps stop shrinking there
            if size <= 4e-16 * a or (size >= previous and size <= 1e-12 * a):
                break
            previous = size
        return {"shape": a, "rate": a / m}

    def loglik_at_mle(self, values, x, w):
        """n [a log b + (a-1) mean(log x) - b mean(x) - lgamma(a)], where at the MLE b mean(x)
        = a and mean(log x) = log(a / b) - (log a - digamma a): no second pass over the data."""
        a, b = float(values["shape"]), float(values["rate"])
        mean_log = math.log(a / b) - _log_minus_digamma(a)
        return wsum(w) * (a * math.log(b) + (a - 1) * mean_log - a - math.lgamma(a))

    def init(self, x, w):
        m, v = float(wmean(x, w)), float(wmean((x - wmean(x, w)) ** 2, w))
        v = max(v, 1e-12 * m * m)
        return {"shape": m * m / v, "rate": m / v}

    def expected_information(self, params, x, w):
        a, b = float(params["shape"]), float(params["rate"])
        return wsum(w) * np.array([[_trigamma(a), -1 / b], [-1 / b, a / b**2]])

    def _sample(self, key, p, shape):
        return jax.random.gamma(key, p["shape"], shape) / p["rate"]


@dataclass(frozen=True, repr=False)
class Weibull(Distribution):
    """Weibull(shape k, scale lam): f(x) = (k/lam) (x/lam)^(k-1) exp(-(x/lam)^k), x > 0."""

    support_text = "positive (> 0)"
    support_lower = 0.0

    half_line = (0.0, False)

    def _in_support(self, x):
        return x > 0

    @property
    def param_spec(self):
        return {"shape": positive, "scale": positive}

    def logpdf(self, params, x):
        k, lam = params["shape"], params["scale"]
        lz = jnp.log(x) - jnp.log(lam)
        return jnp.log(k) - jnp.log(lam) + (k - 1) * lz - jnp.exp(k * lz)

    def logcdf(self, params, x):
        return log1mexp(self.logsf(params, x))

    def logsf(self, params, x):
        return -jnp.exp(params["shape"] * (jnp.log(x) - jnp.log(params["scale"])))

    def init(self, x, w):
        lx = np.log(x)
        m = float(wmean(lx, w))
        sd = math.sqrt(max(float(wmean((lx - m) ** 2, w)), 1e-12))
        k = math.pi / (math.sqrt(6.0) * sd)
        return {"shape": k, "scale": math.exp(m + _EULER / k)}

    def expected_information(self, params, x, w):
        k, lam = float(params["shape"]), float(params["scale"])
        off = -(1 - _EULER) / lam
        kk = (math.pi**2 / 6 + (1 - _EULER) ** 2) / k**2
        return wsum(w) * np.array([[kk, off], [off, k**2 / lam**2]])

    def _sample(self, key, p, shape):
        return p["scale"] * jax.random.exponential(key, shape) ** (1.0 / p["shape"])


@dataclass(frozen=True, repr=False)
class Beta(Distribution):
    """Beta(a, b): f(x) = x^(a-1) (1-x)^(b-1) / B(a, b), 0 < x < 1."""

    support_text = "strictly between 0 and 1"
    support_lower = 0.0
    exponential_family = True

    def _in_support(self, x):
        return (x > 0) & (x < 1)

    @property
    def param_spec(self):
        return {"a": positive, "b": positive}

    def logpdf(self, params, x):
        a, b = params["a"], params["b"]
        return (
            (a - 1) * jnp.log(x) + (b - 1) * jnp.log1p(-x) - lgamma(a) - lgamma(b) + lgamma(a + b)
        )

    def init(self, x, w):
        m = float(wmean(x, w))
        v = max(float(wmean((x - m) ** 2, w)), 1e-12)
        c = max(m * (1 - m) / v - 1, 1e-2)
        return {"a": m * c, "b": (1 - m) * c}

    def expected_information(self, params, x, w):
        a, b = float(params["a"]), float(params["b"])
        t = _trigamma(a + b)
        return wsum(w) * np.array([[_trigamma(a) - t, -t], [-t, _trigamma(b) - t]])

    def _sample(self, key, p, shape):
        return jax.random.beta(key, p["a"], p["b"], shape)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The weighted median, equal to np.median of the data with each row written out w times:
    where the cumulative weight reaches exactly half at an observation, the midpoint of it
    and the next (the log-likelihood is flat between them)."""
    if np.all(w == 1.0):
        return float(np.median(x))
    keep = w > 0
    order = np.argsort(x[keep], kind="stable")
    xs, cum = x[keep][order], np.cumsum(w[keep][order])
    half = 0.5 * cum[-1]
    i = int(np.searchsorted(cum, half))
    if i + 1 < xs.size and math.isclose(cum[i], half, rel_tol=1e-12):
        return 0.5 * (float(xs[i]) + float(xs[i + 1]))
    return float(xs[i])


@dataclass(frozen=True, repr=False)
class Laplace(Distribution):
    """Laplace(loc, scale): f(x) = exp(-|x - loc| / scale) / (2 scale).

    Closed-form MLE: loc = median, scale = mean |x - median|. The log-density has a kink at
    loc, so inference uses the expected information (diag(n/scale^2, n/scale^2)).
    """

    smooth = False

    @property
    def param_spec(self):
        return {"loc": real, "scale": positive}

    def logpdf(self, params, x):
        b = params["scale"]
        return -jnp.abs(x - params["loc"]) / b - jnp.log(2 * b)

    def logcdf(self, params, x):
        z = (x - params["loc"]) / params["scale"]
        return jnp.where(z < 0, z - math.log(2), log1mexp(-jnp.abs(z) - math.log(2)))

    def logsf(self, params, x):
        z = (x - params["loc"]) / params["scale"]
        return jnp.where(z > 0, -z - math.log(2), log1mexp(-jnp.abs(z) - math.log(2)))

    def mle(self, x, w):
        return {"loc": (loc := _weighted_median(x, w)), "scale": float(wmean(np.abs(x - loc), w))}

    def loglik_at_mle(self, values, x, w):
        """-n (1 + log(2 scale)) at the MLE (mean |x - loc| = scale); +inf at scale = 0."""
        b = float(values["scale"])
        return -wsum(w) * (1.0 + math.log(2.0 * b)) if b > 0 else math.inf

    def init(self, x, w):
        est = self.mle(x, w)
        return {"loc": est["loc"], "scale": max(est["scale"], 1e-8)}

    def expected_information(self, params, x, w):
        b2 = float(params["scale"]) ** 2
        return wsum(w) * np.diag([1 / b2, 1 / b2])

    def _sample(self, key, p, shape):
        return p["loc"] + p["scale"] * jax.random.laplace(key, shape)


@dataclass(frozen=True, repr=False)
class StudentT(Distribution):
    """StudentT(loc, scale, df): location-scale Student t with df degrees of freedom."""

    @property
    def param_spec(self):
        return {"loc": real, "scale": positive, "df": positive}

    def logpdf(self, params, x):
        nu, s = params["df"], params["scale"]
        z = (x - params["loc"]) / s
        return (
            _lgamma_half_ratio(nu / 2)
            - 0.5 * jnp.log(nu * math.pi)
            - jnp.log(s)
            - (nu + 1) / 2 * jnp.log1p(z * z / nu)
        )

    def init(self, x, w):
        med = float(np.median(x))
        mad = float(np.median(np.abs(x - med))) * 1.4826
        return {"loc": med, "scale": max(mad, 1e-8 * (1 + abs(med))), "df": 5.0}

    def expected_information(self, params, x, w):
        # Lange, Little & Taylor (1989), JASA 84, 881-896, for (loc, scale, df).
        nu, s = float(params["df"]), float(params["scale"])
        i_mm = (nu + 1) / ((nu + 3) * s**2)
        i_ss = 2 * nu / ((nu + 3) * s**2)
        i_sn = -2 / (s * (nu + 1) * (nu + 3))
        i_nn = 0.25 * (_trigamma(nu / 2) - _trigamma((nu + 1) / 2)) - (nu + 5) / (
            2 * nu * (nu + 1) * (nu + 3)
        )
        return wsum(w) * np.array([[i_mm, 0, 0], [0, i_ss, i_sn], [0, i_sn, i_nn]])

    def _sample(self, key, p, shape):
        return p["loc"] + p["scale"] * jax.random.t(key, p["df"], shape)
