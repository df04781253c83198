"""Log-likelihoods at extreme parameter values: finite, and as accurate as float64 allows.

Reference values are computed with mpmath at high precision (enough digits to resolve
lgamma(x + r) - lgamma(r) at r = 1e300). Tolerances: 1e-13 relative where the formula has no
cancellation; where the log-density is a sum of large terms that cancel (x log(rate) - rate -
lgamma(x + 1) for a Poisson count of 1e8), the error allowed is float64's rounding of those
terms (8 eps times their size), which is also what scipy.stats achieves there.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import likely as lk
from likely.models.glm._families import FAMILIES
from likely.models.glm._links import LINKS

EPS = float(np.finfo(float).eps)


def _close(actual: float, exact: float, rel: float = 1e-13, terms: float = 0.0) -> None:
    assert math.isfinite(actual), f"not finite: {actual} (exact {exact})"
    slack = rel * abs(exact) + 8 * EPS * terms
    assert abs(actual - exact) <= slack, (
        f"{actual!r} vs exact {exact!r} (error {actual - exact:.3g})"
    )


# ----------------------------------------------------------------------------- Poisson


@pytest.mark.parametrize("x", [0.0, 1.0, 3.0, 1e8 - 3e4, 1e8, 1e8 + 5e4, 2e8])
def test_poisson_rate_1e8(x):
    rate = 1e8
    with mp.workdps(60):
        exact = float(x * mp.log(rate) - rate - mp.loggamma(x + 1))
    terms = x * math.log(rate) + rate + math.lgamma(x + 1)
    _close(lk.Poisson().loglik({"rate": rate}, [x]), exact, terms=terms)
    # the GLM family (log link, eta = log rate) says the same
    fam = FAMILIES["poisson"]
    got = fam.loglik(jnp.array([x]), jnp.array([math.log(rate)]), LINKS["log"], {}, {})
    _close(float(got[0]), exact, terms=terms)


def test_poisson_gradient_at_rate_1e8_is_exact():
    """d/d rate of sum log P(x | rate) = sum(x) / rate - n: exact (no cancellation)."""
    x = jnp.array([1e8 - 3e4, 1e8, 1e8 + 5e4])
    g = jax.grad(lambda r: jnp.sum(lk.Poisson().logpdf({"rate": r}, x)))(1e8)
    assert float(g) == pytest.approx(float(jnp.sum(x)) / 1e8 - 3, rel=1e-9, abs=1e-12)


def test_poisson_fit_with_counts_near_1e8():
    x = np.random.default_rng(3).poisson(1e8, 50).astype(float)
    f = lk.fit(lk.Poisson(), x)
    assert f.params["rate"] == pytest.approx(x.mean(), rel=1e-15)
    assert f.se["rate"] == pytest.approx(math.sqrt(x.mean() / 50), rel=1e-12)
    with mp.workdps(60):
        r = mp.mpf(x.mean())
        exact = float(sum(v * mp.log(r) - r - mp.loggamma(v + 1) for v in x))
    _close(f.loglik, exact, terms=float(np.sum(x * math.log(1e8) + 1e8 + x * 18.4)))


# ----------------------------------------------------------------------------- logits +-700


@pytest.mark.parametrize("eta", [-1e4, -800.0, -700.0, -40.0, 0.0, 40.0, 700.0, 800.0, 1e4])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_bernoulli_logit_at_extreme_logits(eta, y):
    """log P(y | eta) = y eta - log(1 + e^eta): finite at any logit, to the rounding of eta."""
    with mp.workdps(60):
        e = mp.mpf(eta)
        exact = float(-mp.log1p(mp.exp(-e)) if y else -e - mp.log1p(mp.exp(-e)))
    fam, link = FAMILIES["binomial"], LINKS["logit"]
    got = float(fam.loglik(jnp.array([y]), jnp.array([eta]), link, {}, {})[0])
    _close(got, exact, terms=abs(eta))
    # its derivative in eta, y - sigmoid(eta), is finite too
    d = jax.grad(lambda t: fam.loglik(jnp.array([y]), t, link, {}, {})[0])(jnp.array([eta]))
    assert float(d[0]) == pytest.approx(
        y - 1 / (1 + math.exp(-max(min(eta, 700), -700))), abs=1e-15
    )
    # PyTorch's binary_cross_entropy_with_logits is the same negative log-likelihood
    bce = lk.losses.binary_cross_entropy_with_logits(jnp.array([eta]), jnp.array([y]))
    _close(-float(bce), exact, terms=abs(eta))


@pytest.mark.parametrize("eta", [-700.0, -100.0, 100.0, 700.0])
def test_binomial_counts_at_extreme_logits(eta):
    """Binomial(n = 50) with trials through the GLM family: the constant and both terms."""
    n, y = 50.0, 17.0
    with mp.workdps(60):
        p = 1 / (1 + mp.exp(-mp.mpf(eta)))
        q = 1 / (1 + mp.exp(mp.mpf(eta)))
        exact = float(mp.log(mp.binomial(n, y)) + y * mp.log(p) + (n - y) * mp.log(q))
    fam, link = FAMILIES["binomial"], LINKS["logit"]
    data = {"trials": jnp.array([n])}
    got = float(fam.loglik(jnp.array([y]), jnp.array([eta]), link, {}, data)[0])
    _close(got, exact, terms=n * abs(eta))


def _log_ncdf(e):  # log Phi(e), keeping digits when Phi(e) is close to 1
    return mp.log1p(-mp.ncdf(-e)) if e > 0 else mp.log(mp.ncdf(e))


@pytest.mark.parametrize(
    "link, eta", [("probit", -35.0), ("probit", 35.0), ("cloglog", -700.0), ("cloglog", 6.0)]
)
def test_other_links_stay_finite_in_the_tails(link, eta):
    """log mu and log(1 - mu): probit log Phi(+-eta); cloglog log(1 - exp(-e^eta)), -e^eta."""
    lk_link = LINKS[link]
    with mp.workdps(60):
        e = mp.mpf(eta)
        if link == "probit":
            log_mu, log1m = float(_log_ncdf(e)), float(_log_ncdf(-e))
        else:
            log_mu, log1m = float(mp.log1p(-mp.exp(-mp.exp(e)))), float(-mp.exp(e))
    _close(float(lk_link.log_mu(jnp.array(eta))), log_mu, rel=1e-12)
    _close(float(lk_link.log1m_mu(jnp.array(eta))), log1m, rel=1e-12)


# ----------------------------------------------------------------------------- rates and scales


@pytest.mark.parametrize(
    "rate, x", [(1e-300, 1.0), (1e-300, 1e300), (1e300, 1e-300), (1e200, 1e-200), (1e8, 1e-8)]
)
def test_exponential_extreme_rates(rate, x):
    with mp.workdps(60):
        exact = float(mp.log(rate) - mp.mpf(rate) * mp.mpf(x))
    _close(lk.Exponential().loglik({"rate": rate}, [x]), exact)
    with mp.workdps(60):  # and its survival and distribution functions (censoring)
        cdf = float(mp.log(-mp.expm1(-mp.mpf(rate) * mp.mpf(x))))
    p = {"rate": jnp.asarray(rate)}
    _close(float(lk.Exponential().logsf(p, jnp.asarray(x))), -rate * x, rel=1e-15)
    _close(float(lk.Exponential().logcdf(p, jnp.asarray(x))), cdf, rel=1e-13)


@pytest.mark.parametrize(
    "shape, rate, x",
    [
        (2.0, 1e300, 1e-300),
        (2.0, 1e-300, 1e300),
        (0.5, 1e200, 1e-200),
        (1e-8, 1.0, 1e-5),
        (1e5, 1e-5, 1e10),
        (300.0, 1e8, 3e-6),
    ],
)
def test_gamma_extreme_rates_and_shapes(shape, rate, x):
    with mp.workdps(60):
        a, b, y = mp.mpf(shape), mp.mpf(rate), mp.mpf(x)
        exact = float(a * mp.log(b) + (a - 1) * mp.log(y) - b * y - mp.loggamma(a))
    terms = abs(shape * math.log(rate)) + abs((shape - 1) * math.log(x)) + math.lgamma(shape)
    _close(lk.Gamma().loglik({"shape": shape, "rate": rate}, [x]), exact, terms=terms)


@pytest.mark.parametrize(
    "sigma, x", [(1e-150, 1e-150), (1e-300, 0.0), (1e-10, 3e-10), (1e-300, 1e-290)]
)
def test_normal_with_a_tiny_sigma(sigma, x):
    with mp.workdps(60):
        z = mp.mpf(x) / sigma
        exact = float(-z * z / 2 - mp.log(sigma) - mp.log(2 * mp.pi) / 2)
    _close(lk.Normal().loglik({"mu": 0.0, "sigma": sigma}, [x]), exact)
    # the censoring functions in the far tails (log Phi(-40) ~ -804.6; log Phi(40) ~ -3.7e-350)
    p = {"mu": jnp.asarray(0.0), "sigma": jnp.asarray(sigma)}
    with mp.workdps(60):
        far = float(mp.log(mp.ncdf(-40)))
    _close(float(lk.Normal().logcdf(p, jnp.asarray(-40 * sigma))), far, rel=1e-12)
    assert float(lk.Normal().logsf(p, jnp.asarray(-40 * sigma))) == 0.0  # -Phi(-40): underflow


@pytest.mark.parametrize(
    "alpha, mu, x",
    [
        (1e-10, 5.0, 3.0),
        (1e-14, 5.0, 7.0),
        (1e-300, 5.0, 7.0),
        (1e-6, 1e3, 950.0),
        (1e-8, 1e8, 1e8),
    ],
)
def test_negative_binomial_near_the_poisson_limit(alpha, mu, x):
    with mp.workdps(400):  # lgamma(x + 1/alpha) - lgamma(1/alpha) at 1/alpha = 1e300
        r = 1 / mp.mpf(alpha)
        exact = float(
            mp.loggamma(x + r)
            - mp.loggamma(r)
            - mp.loggamma(x + 1)
            + r * mp.log(r / (r + mu))
            + x * mp.log(mu / (r + mu))
        )
    terms = abs(x * math.log(mu)) + mu + math.lgamma(x + 1)
    _close(lk.NegativeBinomial().loglik({"mu": mu, "alpha": alpha}, [x]), exact, terms=terms)


@pytest.mark.parametrize("df", [1e6, 1e10, 1e15, 1e300])
@pytest.mark.parametrize("x", [0.0, 1.0, 7.0])
def test_student_t_with_a_huge_df(df, x):
    with mp.workdps(400):  # lgamma((df + 1) / 2) - lgamma(df / 2) at df = 1e300
        nu = mp.mpf(df)
        exact = float(
            mp.loggamma((nu + 1) / 2)
            - mp.loggamma(nu / 2)
            - mp.log(nu * mp.pi) / 2
            - (nu + 1) / 2 * mp.log1p(mp.mpf(x) ** 2 / nu)
        )
    _close(lk.StudentT().loglik({"loc": 0.0, "scale": 1.0, "df": df}, [x]), exact, rel=1e-13)


@pytest.mark.parametrize("p, x", [(1e-300, 1.0), (1e-300, 0.0), (1 - 1e-16, 0.0), (0.5, 1.0)])
def test_bernoulli_probabilities_near_0_and_1(p, x):
    with mp.workdps(60):
        exact = float(mp.log(p) if x else mp.log1p(-mp.mpf(p)))
    _close(lk.Bernoulli().loglik({"p": p}, [x]), exact, rel=1e-13)


def test_weibull_survival_in_the_far_tails():
    """log F and log S of the Weibull at tiny and huge x (censored fits use them)."""
    p = {"shape": jnp.asarray(2.0), "scale": jnp.asarray(1.0)}
    for x in (1e-150, 1e-8, 1.0, 20.0):
        with mp.workdps(60):
            h = mp.mpf(x) ** 2
            log_cdf, log_sf = (
                float(mp.log1p(-mp.exp(-h)) if h > 1 else mp.log(-mp.expm1(-h))),
                float(-h),
            )
        # exp(k log(x / scale)) carries the rounding of its exponent: relative h * eps
        _close(float(lk.Weibull().logcdf(p, jnp.asarray(x))), log_cdf, rel=1e-12)
        _close(float(lk.Weibull().logsf(p, jnp.asarray(x))), log_sf, rel=1e-12)
