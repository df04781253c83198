"""The built-in distributions: log-densities against scipy.stats, closed-form MLEs against the
numerical optimum, standard errors and expected information against independent
computations, sampling, support errors, and fits to published real-data results.

JAX compiles once per array shape, so every simulated data set has N = 200 rows (weighted
variants keep 200 rows too) and every oracle evaluation uses 64 points.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.stats as st

import likely as lk

N = 200  # rows of every simulated data set
M = 64  # points of every log-density oracle evaluation
DRAWS = 5000  # draws of every sampling check
DATA_DIR = Path(
    os.environ.get("LIKELY_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)

# Frequency weights that keep 200 rows: rows 0, 2, ..., 98 count twice, rows 1, 3, ..., 99 not
# at all, rows 100..199 once. np.repeat(x, W) is the same data written out (also 200 rows).
W = np.concatenate([np.tile([2.0, 0.0], 50), np.ones(100)])
W_INT = W.astype(int)


def _jnp_params(params: dict[str, Any]) -> dict[str, jnp.ndarray]:
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}


def _close(actual: Any, expected: Any, rtol: float, atol: float = 0.0, what: str = "") -> None:
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what
    )


# ---------------------------------------------------------------------------------------------
# 1. Oracle table: every family against its scipy.stats twin.


def _quantile_points(twin: Any, lo: float = 1e-10) -> np.ndarray:
    """M points through the distribution by its quantile function, deep tails included."""
    q = np.concatenate(
        [[lo, 1e-6, 1e-3], np.linspace(0.01, 0.99, M - 6), [1 - 1e-3, 1 - 1e-6, 1 - lo]]
    )
    return twin.ppf(q)


def _integer_points(values: Any) -> np.ndarray:
    """M whole-number points cycling through `values` (so that every shape is (M,))."""
    v = np.asarray(values, dtype=float)
    return np.resize(v, M)


@dataclass
class Oracle:
    """One family at one parameter point, with its scipy twin.

    `twin` is a scipy frozen distribution (or a callable x -> log-density for the vector
    families); `rtol`/`atol` are the agreement demanded of the log-density."""

    id: str
    dist: lk.Distribution
    params: dict[str, Any]
    twin: Any
    x: np.ndarray
    rtol: float = 1e-12
    atol: float = 1e-12
    cdf: bool = False  # also compare logcdf and logsf, to cdf_rtol (relative only: near 0,
    cdf_rtol: float = 1e-12  # log F = log(1 - S) ~ -S must keep its relative accuracy)


def _continuous(
    id_, dist, params, twin, rtol=1e-12, atol=1e-12, lo=1e-10, cdf=True, cdf_rtol=1e-12
):
    x = _quantile_points(twin, lo)
    return Oracle(id_, dist, params, twin, x, rtol, atol, cdf, cdf_rtol)


def _categorical_twin(p):
    # scipy has no categorical: it is a multinomial with one trial, on the one-hot vector.
    return lambda x: st.multinomial(1, p).logpmf(np.eye(len(p))[x.astype(int)])


def _multinomial_twin(p):
    return lambda x: st.multinomial.logpmf(x, n=x.sum(axis=1), p=p)


def _mvn_twin(mu, cov):
    return lambda x: st.multivariate_normal(mu, cov).logpdf(x)


_rng_oracle = np.random.default_rng(11)
_MULTINOMIAL_X = np.vstack(
    [_rng_oracle.multinomial(n, [0.2, 0.5, 0.3]) for n in np.resize([1, 3, 10, 40], M)]
)
_MULTINOMIAL_X_BIG = np.vstack(
    [_rng_oracle.multinomial(n, [1e-4, 0.3, 0.7 - 1e-4]) for n in np.resize([10**5, 10**6], M)]
)
_MVN_COV = np.array([[2.0, 0.6], [0.6, 0.5]])
_MVN_X = _rng_oracle.multivariate_normal([1.0, -2.0], _MVN_COV, size=M)
# scales 1e-2 and 1e2, correlation 0.9
_MVN_COV_EXTREME = np.array([[1e-4, 0.9], [0.9, 1e4]])
_MVN_X_EXTREME = _rng_oracle.multivariate_normal([1e3, -1e3], _MVN_COV_EXTREME, size=M)

ORACLES = [
    # Normal(mu, sigma) = scipy norm(loc=mu, scale=sigma)
    _continuous("Normal", lk.Normal(), {"mu": 1.5, "sigma": 2.0}, st.norm(1.5, 2.0)),
    _continuous("Normal-tiny-sigma", lk.Normal(), {"mu": 3.0, "sigma": 1e-8}, st.norm(3.0, 1e-8)),
    _continuous("Normal-huge-sigma", lk.Normal(), {"mu": -1e6, "sigma": 1e8}, st.norm(-1e6, 1e8)),
    # LogNormal(mu, sigma) = scipy lognorm(s=sigma, scale=exp(mu))
    _continuous(
        "LogNormal", lk.LogNormal(), {"mu": 0.7, "sigma": 0.6}, st.lognorm(0.6, scale=math.exp(0.7))
    ),
    _continuous(
        "LogNormal-wide",
        lk.LogNormal(),
        {"mu": -5.0, "sigma": 4.0},
        st.lognorm(4.0, scale=math.exp(-5.0)),
    ),
    # Exponential(rate) = scipy expon(scale=1/rate)
    _continuous("Exponential", lk.Exponential(), {"rate": 2.5}, st.expon(scale=1 / 2.5)),
    _continuous("Exponential-tiny-rate", lk.Exponential(), {"rate": 1e-8}, st.expon(scale=1e8)),
    _continuous("Exponential-huge-rate", lk.Exponential(), {"rate": 1e8}, st.expon(scale=1e-8)),
    # Gamma(shape, rate) = scipy gamma(a=shape, scale=1/rate)
    _continuous("Gamma", lk.Gamma(), {"shape": 2.5, "rate": 1.5}, st.gamma(2.5, scale=1 / 1.5)),
    _continuous(
        "Gamma-small-shape",
        lk.Gamma(),
        {"shape": 0.05, "rate": 1e3},
        st.gamma(0.05, scale=1e-3),
        lo=1e-6,
    ),
    _continuous(
        "Gamma-large-shape",
        lk.Gamma(),
        {"shape": 1e4, "rate": 1e-2},
        st.gamma(1e4, scale=1e2),
        atol=1e-10,
        # jax.scipy.special.gammainc/gammaincc lose accuracy as the shape grows (relative
        # error ~1e-14 at shape 30, ~1e-12 at 1e3, ~3e-11 at 1e4, checked against mpmath);
        # scipy's are accurate to ~1e-15 there.
        cdf_rtol=1e-10,
    ),
    # Weibull(shape k, scale lam) = scipy weibull_min(c=k, scale=lam)
    _continuous(
        "Weibull", lk.Weibull(), {"shape": 1.7, "scale": 2.5}, st.weibull_min(1.7, scale=2.5)
    ),
    _continuous(
        "Weibull-small-shape",
        lk.Weibull(),
        {"shape": 0.2, "scale": 1e-3},
        st.weibull_min(0.2, scale=1e-3),
    ),
    _continuous(
        "Weibull-large-shape",
        lk.Weibull(),
        {"shape": 20.0, "scale": 1e5},
        st.weibull_min(20.0, scale=1e5),
    ),
    # LogLogistic(shape b, scale a) = scipy fisk(c=b, scale=a)
    _continuous(
        "LogLogistic",
        lk.LogLogistic(),
        {"shape": 3.0, "scale": 2.0},
        st.fisk(3.0, scale=2.0),
        # scipy's fisk.logsf loses ~4e-9 relative in the far tail (logsf = -23: mpmath gives
        # -23.0258509299, scipy -23.0258508472), so the tail is compared more loosely
        cdf_rtol=1e-8,
    ),
    _continuous(
        "LogLogistic-heavy-tail",
        lk.LogLogistic(),
        {"shape": 0.7, "scale": 1e-2},
        st.fisk(0.7, scale=1e-2),
        cdf_rtol=1e-8,
    ),
    # Beta(a, b) = scipy beta(a, b)
    _continuous("Beta", lk.Beta(), {"a": 2.5, "b": 1.5}, st.beta(2.5, 1.5), cdf=False),
    _continuous(
        "Beta-skewed", lk.Beta(), {"a": 0.3, "b": 40.0}, st.beta(0.3, 40.0), lo=1e-6, cdf=False
    ),
    # Laplace(loc, scale) = scipy laplace(loc, scale)
    _continuous("Laplace", lk.Laplace(), {"loc": -1.0, "scale": 0.7}, st.laplace(-1.0, 0.7)),
    _continuous(
        "Laplace-tiny-scale", lk.Laplace(), {"loc": 5.0, "scale": 1e-7}, st.laplace(5.0, 1e-7)
    ),
    # StudentT(loc, scale, df) = scipy t(df, loc=loc, scale=scale)
    _continuous(
        "StudentT",
        lk.StudentT(),
        {"loc": 0.3, "scale": 2.0, "df": 4.5},
        st.t(4.5, 0.3, 2.0),
        cdf=False,
    ),
    _continuous(
        "StudentT-cauchyish",
        lk.StudentT(),
        {"loc": 0.0, "scale": 1.0, "df": 0.5},
        st.t(0.5),
        lo=1e-6,
        cdf=False,
    ),
    _continuous(
        "StudentT-large-df",
        lk.StudentT(),
        {"loc": 1.0, "scale": 3.0, "df": 1e6},
        st.t(1e6, 1.0, 3.0),
        cdf=False,
    ),
    # Bernoulli(p) = scipy bernoulli(p)
    Oracle("Bernoulli", lk.Bernoulli(), {"p": 0.3}, st.bernoulli(0.3), _integer_points([0, 1])),
    Oracle(
        "Bernoulli-extreme-p",
        lk.Bernoulli(),
        {"p": 1e-12},
        st.bernoulli(1e-12),
        _integer_points([0, 1]),
    ),
    # Binomial(p; n=10) = scipy binom(n=10, p)
    Oracle(
        "Binomial", lk.Binomial(n=10), {"p": 0.35}, st.binom(10, 0.35), _integer_points(range(11))
    ),
    Oracle(
        "Binomial-extreme-p",
        lk.Binomial(n=10),
        {"p": 1 - 1e-9},
        st.binom(10, 1 - 1e-9),
        _integer_points(range(11)),
    ),
    # Poisson(rate) = scipy poisson(mu=rate)
    Oracle("Poisson", lk.Poisson(), {"rate": 3.5}, st.poisson(3.5), _integer_points(range(30))),
    Oracle(
        "Poisson-tiny-rate",
        lk.Poisson(),
        {"rate": 1e-6},
        st.poisson(1e-6),
        _integer_points(range(4)),
    ),
    # Large counts: each term is ~1.3e7 and they cancel to ~-10, so the absolute error is ~1e-9.
    Oracle(
        "Poisson-large-counts",
        lk.Poisson(),
        {"rate": 1e6},
        st.poisson(1e6),
        _integer_points(np.linspace(1e6 - 5000, 1e6 + 5000, M).round()),
        rtol=1e-12,
        atol=1e-8,
    ),
    # Geometric(p) = scipy geom(p): trials up to and including the first success, x >= 1
    Oracle("Geometric", lk.Geometric(), {"p": 0.3}, st.geom(0.3), _integer_points(range(1, 40))),
    Oracle(
        "Geometric-tiny-p",
        lk.Geometric(),
        {"p": 1e-6},
        st.geom(1e-6),
        _integer_points(np.geomspace(1, 1e8, M).round()),
    ),
    # NegativeBinomial(mu, alpha) = scipy nbinom(n=1/alpha, p=1/(1 + alpha mu))
    Oracle(
        "NegativeBinomial",
        lk.NegativeBinomial(),
        {"mu": 4.0, "alpha": 0.5},
        st.nbinom(1 / 0.5, 1 / (1 + 0.5 * 4.0)),
        _integer_points(range(50)),
    ),
    Oracle(
        "NegativeBinomial-overdispersed",
        lk.NegativeBinomial(),
        {"mu": 8.7, "alpha": 50.0},
        st.nbinom(1 / 50.0, 1 / (1 + 50.0 * 8.7)),
        _integer_points(np.geomspace(1, 1e5, M).round() - 1),
        # lgamma(x + 1/alpha) - lgamma(x + 1) at x ~ 1e5: terms ~1e6 cancel (in scipy too)
        atol=1e-10,
    ),
    # Near-Poisson (alpha small): lgamma(x + r) - lgamma(r) cancels (r = 1e4), in scipy too.
    Oracle(
        "NegativeBinomial-near-poisson",
        lk.NegativeBinomial(),
        {"mu": 1e3, "alpha": 1e-4},
        st.nbinom(1e4, 1 / (1 + 1e-4 * 1e3)),
        _integer_points(np.linspace(800, 1200, M).round()),
        rtol=1e-10,
        atol=1e-10,
    ),
    # Categorical(p; k=3) = scipy multinomial(n=1, p) on the one-hot vector of x
    Oracle(
        "Categorical",
        lk.Categorical(k=3),
        {"p": [0.2, 0.5, 0.3]},
        _categorical_twin([0.2, 0.5, 0.3]),
        _integer_points([0, 1, 2]),
    ),
    # Multinomial(p), row i of n_i = sum(x_i) trials = scipy multinomial(n=n_i, p)
    Oracle(
        "Multinomial",
        lk.Multinomial(),
        {"p": [0.2, 0.5, 0.3]},
        _multinomial_twin([0.2, 0.5, 0.3]),
        _MULTINOMIAL_X.astype(float),
    ),
    Oracle(
        "Multinomial-large-counts",
        lk.Multinomial(),
        {"p": [1e-4, 0.3, 0.7 - 1e-4]},
        _multinomial_twin([1e-4, 0.3, 0.7 - 1e-4]),
        _MULTINOMIAL_X_BIG.astype(float),
        # n! / prod(x_j!) with n ~ 1e6: lgamma terms ~1e7 cancel to ~10 (in scipy too)
        atol=2e-8,
    ),
    # MultivariateNormal(mu, cov) = scipy multivariate_normal(mean=mu, cov=cov)
    Oracle(
        "MultivariateNormal",
        lk.MultivariateNormal(),
        {"mu": [1.0, -2.0], "cov": _MVN_COV},
        _mvn_twin([1.0, -2.0], _MVN_COV),
        _MVN_X,
    ),
    Oracle(
        "MultivariateNormal-ill-conditioned",
        lk.MultivariateNormal(),
        {"mu": [1e3, -1e3], "cov": _MVN_COV_EXTREME},
        _mvn_twin([1e3, -1e3], _MVN_COV_EXTREME),
        _MVN_X_EXTREME,
        rtol=1e-10,
        atol=1e-10,
    ),
]


def _twin_call(twin: Any, method: str, x: np.ndarray) -> np.ndarray:
    if callable(twin) and not hasattr(twin, "dist"):
        assert method == "logpdf"
        return np.asarray(twin(x))
    if method == "logpdf" and hasattr(twin.dist, "logpmf"):
        method = "logpmf"
    return np.asarray(getattr(twin, method)(x))


@pytest.mark.parametrize("case", ORACLES, ids=lambda c: c.id)
def test_logpdf_matches_scipy(case: Oracle) -> None:
    """dist.logpdf (eager and jitted) equals scipy.stats logpdf / logpmf."""
    assert np.all(case.dist._in_support(case.x)), "oracle points must lie in the support"
    params = _jnp_params(case.params)
    x = jnp.asarray(case.x)
    want = _twin_call(case.twin, "logpdf", case.x)
    assert want.shape == (M,) and np.all(np.isfinite(want))
    eager = case.dist.logpdf(params, x)
    jitted = jax.jit(case.dist.logpdf)(params, x)
    _close(eager, want, case.rtol, case.atol, f"{case.id} eager")
    _close(jitted, want, case.rtol, case.atol, f"{case.id} jit")
    # the public total agrees too
    _close(case.dist.loglik(case.params, case.x), want.sum(), case.rtol, case.atol * M)


CDF_ORACLES = [c for c in ORACLES if c.cdf]


@pytest.mark.parametrize("case", CDF_ORACLES, ids=lambda c: c.id)
def test_logcdf_logsf_match_scipy(case: Oracle) -> None:
    """dist.logcdf and dist.logsf (eager and jitted) equal scipy's, deep tails included, to a
    relative tolerance only: near 0, log F ~ -S must keep its relative accuracy."""
    params = _jnp_params(case.params)
    x = jnp.asarray(case.x)
    want = [_twin_call(case.twin, m, case.x) for m in ("logcdf", "logsf")]
    assert np.all(np.isfinite(want))

    def both(p, x):
        return case.dist.logcdf(p, x), case.dist.logsf(p, x)

    for how, got in [("eager", both(params, x)), ("jit", jax.jit(both)(params, x))]:
        for m, g, w in zip(("logcdf", "logsf"), got, want):
            _close(g, w, case.cdf_rtol, 0.0, f"{case.id} {m} {how}")


@pytest.mark.parametrize("alpha", [0.3, 1e-3, 1e-6, 1e-9, 1e-12])
def test_negative_binomial_near_the_poisson_limit(alpha: float) -> None:
    """NB2 log-pmf against an exact finite sum, for whole x (scipy's nbinom loses ~1e-2 at
    alpha = 1e-12 to cancellation between lgamma values):
    log P(x) = sum_{j<x} log1p(j alpha) + x log(mu) - (x + 1/alpha) log1p(alpha mu) - log(x!)."""
    mu = 4.0
    x = _integer_points(range(M))
    exact = np.array(
        [
            math.fsum(math.log1p(j * alpha) for j in range(int(k)))
            + k * math.log(mu)
            - (k + 1 / alpha) * math.log1p(alpha * mu)
            - math.lgamma(k + 1)
            for k in x
        ]
    )
    got = lk.NegativeBinomial().logpdf(_jnp_params({"mu": mu, "alpha": alpha}), jnp.asarray(x))
    _close(got, exact, 1e-13, 1e-13)
    if alpha <= 1e-9:  # and it tends to the Poisson log-pmf
        _close(got, st.poisson(mu).logpmf(x), 1e-6)


def test_support_lower_matches_the_support() -> None:
    """`support_lower` (where a censoring interval becomes left-censoring) is the infimum of
    the support of each family that has a cdf."""
    for case in CDF_ORACLES:
        lo = case.dist.support_lower
        below = np.array([lo - 1.0 if np.isfinite(lo) else -1e300])
        assert not np.isfinite(lo) or not case.dist._in_support(below).any(), case.id
        assert case.dist._in_support(np.array([lo + 1e-300 if np.isfinite(lo) else -1e300]))[0]
        assert np.all(case.x > lo)


def test_every_family_has_an_oracle() -> None:
    covered = {type(c.dist).__name__ for c in ORACLES}
    assert covered == set(lk.distributions.__all__) - {"Distribution"}


# ---------------------------------------------------------------------------------------------
# 2. Closed-form (or special-purpose) MLE == the numerical optimum.


@dataclass
class Sim:
    dist: lk.Distribution
    x: np.ndarray
    newton_init: dict[str, Any] = field(default_factory=dict)


def _simulate() -> dict[str, Sim]:
    rng = np.random.default_rng(20261128)
    p3 = [0.2, 0.5, 0.3]
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    return {
        "Normal": Sim(lk.Normal(), rng.normal(1.5, 2.0, N), {"mu": 0.0, "sigma": 1.0}),
        "LogNormal": Sim(lk.LogNormal(), rng.lognormal(0.7, 0.6, N), {"mu": 0.0, "sigma": 1.0}),
        "Exponential": Sim(lk.Exponential(), rng.exponential(1 / 2.5, N), {"rate": 1.0}),
        "Gamma": Sim(lk.Gamma(), rng.gamma(2.5, 1 / 1.5, N), {"shape": 1.0, "rate": 1.0}),
        "Bernoulli": Sim(lk.Bernoulli(), rng.binomial(1, 0.3, N).astype(float)),
        "Binomial": Sim(lk.Binomial(n=10), rng.binomial(10, 0.35, N).astype(float)),
        "Poisson": Sim(lk.Poisson(), rng.poisson(3.5, N).astype(float), {"rate": 1.0}),
        "Geometric": Sim(lk.Geometric(), rng.geometric(0.3, N).astype(float), {"p": 0.5}),
        "Categorical": Sim(
            lk.Categorical(k=3), rng.choice(3, N, p=p3).astype(float), {"p": [1 / 3] * 3}
        ),
        "Multinomial": Sim(
            lk.Multinomial(),
            np.vstack([rng.multinomial(n, p3) for n in rng.integers(1, 12, N)]).astype(float),
            {"p": [1 / 3] * 3},
        ),
        "MultivariateNormal": Sim(
            lk.MultivariateNormal(),
            rng.multivariate_normal([1.0, -2.0], cov, N),
            {"mu": [0.0, 0.0], "cov": np.eye(2)},
        ),
        # no closed form (Weibull: Newton) or a non-smooth one (Laplace: median)
        "Weibull": Sim(lk.Weibull(), 2.5 * rng.weibull(1.7, N)),
        "Laplace": Sim(lk.Laplace(), rng.laplace(-1.0, 0.7, N)),
    }


@pytest.fixture(scope="module")
def sims() -> dict[str, Sim]:
    return _simulate()


CLOSED_FORM = [
    "Normal",
    "LogNormal",
    "Exponential",
    "Gamma",
    "Bernoulli",
    "Binomial",
    "Poisson",
    "Geometric",
    "Categorical",
    "Multinomial",
    "MultivariateNormal",
]


def _assert_same_fit(a: lk.Fit, b: lk.Fit, rtol_params: float, rtol_se: float, what: str) -> None:
    assert list(a.params.index) == list(b.params.index)
    _close(a.params, b.params, rtol_params, 1e-12, f"{what}: params")
    _close(a.se, b.se, rtol_se, 1e-14, f"{what}: se")
    _close(a.loglik, b.loglik, 1e-11, 0.0, f"{what}: loglik")


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_closed_form_equals_newton(sims: dict[str, Sim], name: str) -> None:
    """lk.fit by the closed form and by Newton from a different start agree, unweighted
    and with frequency weights; a weight of 2 is the same as the row written twice."""
    s = sims[name]
    closed = lk.fit(s.dist, s.x)
    assert closed.method == "closed form"
    newton = lk.fit(s.dist, s.x, method="newton", init=s.newton_init or None)
    assert newton.method == "newton" and newton.converged and newton.iterations > 0
    _assert_same_fit(closed, newton, 1e-8, 1e-6, f"{name} closed vs newton")

    closed_w = lk.fit(s.dist, s.x, weights=W)
    newton_w = lk.fit(s.dist, s.x, weights=W, method="newton", init=s.newton_init or None)
    closed_dup = lk.fit(s.dist, np.repeat(s.x, W_INT, axis=0))
    assert closed_w.nobs == closed_dup.nobs == N
    _assert_same_fit(closed_w, newton_w, 1e-8, 1e-6, f"{name} weighted closed vs newton")
    _assert_same_fit(closed_w, closed_dup, 1e-12, 1e-10, f"{name} weights vs duplicated rows")
    # and the weighted fit is not just the unweighted one
    assert not np.allclose(closed_w.params, closed.params, rtol=1e-6)


@pytest.mark.parametrize("shape", [0.05, 1e4, 1e7])
def test_gamma_special_purpose_mle_extreme_shapes(shape: float) -> None:
    """The Gamma shape MLE solves log(a) - digamma(a) = log(mean x) - mean(log x) = s. Oracle:
    brentq on that equation with the left side from Binet's formula,
    log(a) - digamma(a) = 1/(2a) + 2 int_0^inf t / ((t^2 + a^2)(exp(2 pi t) - 1)) dt
    (scipy quad), which does not cancel when a is large (log(a) - digamma(a) ~ 1/(2a))."""
    x = np.random.default_rng(8).gamma(shape, 3.0 / shape, N)
    f = lk.fit(lk.Gamma(), x)
    s = math.log(x.mean()) - np.log(x).mean()

    def log_minus_digamma(a: float) -> float:
        # the integrand decays like exp(-2 pi t): (0, 20) leaves out < 1e-50
        tail = si.quad(
            lambda t: t / ((t * t + a * a) * math.expm1(2 * math.pi * t)), 0, 20, epsrel=1e-14
        )
        return 0.5 / a + 2 * tail[0]

    a = so.brentq(lambda a: log_minus_digamma(a) / s - 1, shape / 100, shape * 100, rtol=1e-15)
    # s itself is a difference of nearly equal numbers (s ~ 1/(2a)); its rounding, ~1e-16 / s
    # relative, sets the tolerance for large shapes
    _close(f.params, [a, a / x.mean()], 1e-12 if shape < 1 else 1e-9 if shape < 1e6 else 1e-6)


def test_laplace_closed_form_is_the_mle(sims: dict[str, Sim]) -> None:
    """Laplace: loc = median, scale = mean |x - loc| (scipy.stats.laplace.fit, which is the
    closed form); weights of 2 equal duplicated rows; no nearby point has a higher
    log-likelihood (Newton cannot be the oracle: the log-density has a kink in loc)."""
    s = sims["Laplace"]
    f = lk.fit(s.dist, s.x)
    loc, scale = st.laplace.fit(s.x)
    _close(f.params, [loc, scale], 1e-12)
    assert f.cov_type == "expected"
    _close(f.se, [scale / math.sqrt(N)] * 2, 1e-12)  # expected information diag(n/b^2, n/b^2)
    # n = 200 is even: the log-likelihood is flat in loc between the middle order statistics
    for dl, ds in [(1e-4, 0), (-1e-4, 0), (0, 1e-4), (0, -1e-4), (0.05, 0), (-0.05, 0)]:
        other = {"loc": f.params["loc"] + dl, "scale": f.params["scale"] * (1 + ds)}
        assert s.dist.loglik(other, s.x) <= f.loglik + 1e-12 * abs(f.loglik)
    assert (
        s.dist.loglik({"loc": f.params["loc"] + 0.05, "scale": f.params["scale"]}, s.x) < f.loglik
    )
    fw = lk.fit(s.dist, s.x, weights=W)
    dup = np.repeat(s.x, W_INT)
    fd = lk.fit(s.dist, dup)
    _close(fw.params, fd.params, 1e-12, 0, "Laplace weights vs duplicated rows")
    _close(fw.loglik, fd.loglik, 1e-12)
    _close(fd.params, st.laplace.fit(dup), 1e-12)


def _weibull_mle(x: np.ndarray) -> list[float]:
    """Exact Weibull MLE: the profile score equation for the shape k,
    1/k + mean(log x) - sum(x^k log x) / sum(x^k) = 0, solved by brentq; scale (mean x^k)^(1/k).
    """
    lx = np.log(x)

    def score(k: float) -> float:
        z = np.exp(k * (lx - lx.max()))
        return 1 / k + lx.mean() - (z * lx).sum() / z.sum()

    k = so.brentq(score, 1e-3, 1e3, xtol=1e-15, rtol=1e-15)
    return [k, float(np.exp(lx.max()) * np.mean(np.exp(k * (lx - lx.max()))) ** (1 / k))]


def test_weibull_fit_is_the_exact_mle(sims: dict[str, Sim]) -> None:
    """Weibull (no closed form: Newton) agrees with the profile-equation solution to 1e-10 and
    with scipy.stats.weibull_min.fit(floc=0), whose optimiser stops earlier (~1e-5)."""
    x = sims["Weibull"].x
    f = lk.fit(lk.Weibull(), x)
    assert f.method == "newton" and f.converged
    _close(f.params, _weibull_mle(x), 1e-10)
    c, _, scale = st.weibull_min.fit(x, floc=0)
    _close(f.params, [c, scale], 1e-4)
    assert f.loglik >= st.weibull_min.logpdf(x, c, 0, scale).sum() - 1e-9


# ---------------------------------------------------------------------------------------------
# 3. Standard errors against textbook closed forms.


def test_normal_se_closed_form(sims: dict[str, Sim]) -> None:
    """se(mu) = sigma_hat / sqrt(n), se(sigma) = sigma_hat / sqrt(2n), by both methods."""
    x = sims["Normal"].x
    for method in ("auto", "newton"):
        f = lk.fit(lk.Normal(), x, method=method)
        s = float(np.std(x))
        _close(f.params, [x.mean(), s], 1e-9)
        _close(f.se, [s / math.sqrt(N), s / math.sqrt(2 * N)], 1e-7, 0, method)
        assert abs(f.cov.loc["mu", "sigma"]) < 1e-9 * s**2


@pytest.mark.parametrize("scale", [1e-9, 1e6])
def test_standard_errors_do_not_depend_on_units(sims: dict[str, Sim], scale: float) -> None:
    """The Normal se formulas hold whatever the units of the data (tiny sigma made the
    information matrix look singular before its test became scale-free)."""
    x = 3.0 + scale * sims["Normal"].x
    f = lk.fit(lk.Normal(), x)
    s = float(np.std(x))
    _close(f.se, [s / math.sqrt(N), s / math.sqrt(2 * N)], 1e-6)
    # and a bivariate normal with columns on scales 1e-3 and 1e3 (not collinear)
    z = np.column_stack([1e-3 * sims["Normal"].x, 1e3 * sims["LogNormal"].x])
    g = lk.fit(lk.MultivariateNormal(), z)
    _close(g.se[["mu[0]", "mu[1]"]], z.std(axis=0) / math.sqrt(N), 1e-6)


@pytest.mark.parametrize(
    ("name", "se"),
    [
        ("Poisson", lambda x: math.sqrt(x.mean() / N)),
        ("Bernoulli", lambda x: math.sqrt(x.mean() * (1 - x.mean()) / N)),
        ("Exponential", lambda x: (1 / x.mean()) / math.sqrt(N)),
        ("Binomial", lambda x: math.sqrt((x.mean() / 10) * (1 - x.mean() / 10) / (10 * N))),
        ("Geometric", lambda x: math.sqrt((1 / x.mean()) ** 2 * (1 - 1 / x.mean()) / N)),
    ],
)
def test_one_parameter_se_closed_form(sims: dict[str, Sim], name: str, se: Callable) -> None:
    """Poisson sqrt(rate/n); Bernoulli sqrt(p(1-p)/n); Exponential rate/sqrt(n);
    Binomial sqrt(p(1-p)/(10 n)); Geometric sqrt(p^2 (1-p)/n)."""
    s = sims[name]
    for method in ("auto", "newton"):
        f = lk.fit(s.dist, s.x, method=method)
        _close(f.se.iloc[0], se(s.x), 1e-7, 0, f"{name} {method}")


# ---------------------------------------------------------------------------------------------
# 4. Expected information against numerical integration / exact summation.


def _per_point_derivatives(dist: lk.Distribution, params: dict[str, float]):
    """jitted x -> (-hessian, score score^T) of log f(x; theta) in the natural parameters."""
    names = list(params)
    theta = jnp.array([params[k] for k in names], dtype=jnp.float64)

    def logf(th, x):
        return dist.logpdf({k: th[i] for i, k in enumerate(names)}, jnp.reshape(x, (1,)))[0]

    def both(x):
        g = jax.grad(logf)(theta, x)
        return -jax.hessian(logf)(theta, x), jnp.outer(g, g)

    return jax.jit(both), len(names)


INFO_CONTINUOUS = [
    ("Normal", lk.Normal(), {"mu": 1.5, "sigma": 2.0}, st.norm(1.5, 2.0), [(-np.inf, np.inf)]),
    (
        "LogNormal",
        lk.LogNormal(),
        {"mu": 0.7, "sigma": 0.6},
        st.lognorm(0.6, scale=math.exp(0.7)),
        [(0, np.inf)],
    ),
    ("Exponential", lk.Exponential(), {"rate": 2.5}, st.expon(scale=0.4), [(0, np.inf)]),
    ("Gamma", lk.Gamma(), {"shape": 2.5, "rate": 1.5}, st.gamma(2.5, scale=1 / 1.5), [(0, np.inf)]),
    (
        "Weibull",
        lk.Weibull(),
        {"shape": 1.7, "scale": 2.5},
        st.weibull_min(1.7, scale=2.5),
        [(0, np.inf)],
    ),
    (
        "Weibull-k<1",
        lk.Weibull(),
        {"shape": 0.6, "scale": 0.3},
        st.weibull_min(0.6, scale=0.3),
        [(0, np.inf)],
    ),
    ("Beta", lk.Beta(), {"a": 2.5, "b": 1.5}, st.beta(2.5, 1.5), [(0, 1)]),
    # Laplace's kink at loc: integrate each side separately, and use only E[score score^T]
    # (the Hessian in loc is zero almost everywhere).
    (
        "Laplace",
        lk.Laplace(),
        {"loc": -1.0, "scale": 0.7},
        st.laplace(-1.0, 0.7),
        [(-np.inf, -1.0), (-1.0, np.inf)],
    ),
    (
        "StudentT",
        lk.StudentT(),
        {"loc": 0.3, "scale": 2.0, "df": 4.5},
        st.t(4.5, 0.3, 2.0),
        [(-np.inf, 0.3), (0.3, np.inf)],
    ),
    (
        "StudentT-small-df",
        lk.StudentT(),
        {"loc": -1.0, "scale": 0.5, "df": 1.5},
        st.t(1.5, -1.0, 0.5),
        [(-np.inf, -1.0), (-1.0, np.inf)],
    ),
]


@pytest.mark.parametrize(
    ("id_", "dist", "params", "twin", "pieces"),
    INFO_CONTINUOUS,
    ids=[c[0] for c in INFO_CONTINUOUS],
)
def test_expected_information_continuous(id_, dist, params, twin, pieces) -> None:
    """expected_information == n * integral of -d2 log f / dtheta2 f(x) dx (scipy quad_vec of
    jax.hessian of the log-density) == n * integral of score score^T f dx; and it is the total
    over the (weighted) data. On (0, inf) the integral is taken over t = log x, where the
    integrand is smooth (Weibull with k < 1 has an infinite density at 0)."""
    deriv, p = _per_point_derivatives(dist, params)

    def integrand(x: float) -> np.ndarray:
        with np.errstate(all="ignore"):  # scipy's Weibull pdf overflows x^(k-1) at the ends
            f = twin.pdf(x)
        if not np.isfinite(f) or f == 0:  # an endpoint or underflow: contributes nothing
            return np.zeros(2 * p * p)
        h, s = deriv(x)
        return np.concatenate([np.ravel(h), np.ravel(s)]) * f

    def log_scale(t: float) -> np.ndarray:
        x = math.exp(min(t, 700.0))
        return integrand(x) * x if t < 700.0 else np.zeros(2 * p * p)

    def integral(a: float, b: float) -> np.ndarray:
        if (a, b) == (0, np.inf):
            return si.quad_vec(log_scale, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-10)[0]
        return si.quad_vec(integrand, a, b, epsabs=1e-12, epsrel=1e-10)[0]

    total = sum(integral(a, b) for a, b in pieces)
    neg_hess, outer = total[: p * p].reshape(p, p), total[p * p :].reshape(p, p)
    x = np.ones(N)  # expected_information only uses the weights' total
    got = dist.expected_information(params, x, np.ones(N)) / N
    _close(got, outer, 1e-7, 1e-10, f"{id_}: E[score score^T]")
    if id_ != "Laplace":
        _close(got, neg_hess, 1e-7, 1e-10, f"{id_}: -E[hessian]")
    _close(dist.expected_information(params, x, W), got * W.sum(), 1e-14)


INFO_DISCRETE = [
    ("Bernoulli", lk.Bernoulli(), {"p": 0.3}, st.bernoulli(0.3), np.arange(2)),
    ("Binomial", lk.Binomial(n=10), {"p": 0.35}, st.binom(10, 0.35), np.arange(11)),
    ("Poisson", lk.Poisson(), {"rate": 3.5}, st.poisson(3.5), np.arange(120)),
    ("Geometric", lk.Geometric(), {"p": 0.3}, st.geom(0.3), np.arange(1, 250)),
]


@pytest.mark.parametrize(
    ("id_", "dist", "params", "twin", "support"), INFO_DISCRETE, ids=[c[0] for c in INFO_DISCRETE]
)
def test_expected_information_discrete(id_, dist, params, twin, support) -> None:
    """expected_information == n * exact sum over the support (tails below 1e-30) of
    -d2 log f / dtheta2 * pmf, with the Hessian from jax.hessian, and of score^2 * pmf."""
    deriv, _ = _per_point_derivatives(dist, params)
    h, s = jax.vmap(deriv)(jnp.asarray(support, dtype=jnp.float64))
    pmf = twin.pmf(support)
    assert twin.sf(support[-1]) < 1e-30
    got = dist.expected_information(params, np.ones(N), np.ones(N))
    _close(got / N, np.tensordot(pmf, np.asarray(h), axes=(0, 0)), 1e-12, 0, f"{id_}: -E[H]")
    _close(got / N, np.tensordot(pmf, np.asarray(s), axes=(0, 0)), 1e-12, 0, f"{id_}: E[s^2]")


@pytest.mark.parametrize("name", ["Normal", "Gamma", "Poisson"])
def test_observed_equals_expected_information_at_the_mle(sims: dict[str, Sim], name) -> None:
    """Full exponential families: at the MLE the observed information (the Hessian, from a
    Newton fit) equals the analytic expected information, which is what lets a closed-form
    fit skip the Hessian."""
    s = sims[name]
    closed = lk.fit(s.dist, s.x)
    newton = lk.fit(s.dist, s.x, method="newton", init=s.newton_init or None)
    expected = closed.information("expected").to_numpy()
    atol = 1e-9 * np.abs(expected).max()
    _close(newton.information("observed"), expected, 1e-7, atol)


# ---------------------------------------------------------------------------------------------
# 5. Sampling.

SAMPLING = [
    ("Normal", lk.Normal(), {"mu": 1.5, "sigma": 2.0}, st.norm(1.5, 2.0)),
    ("LogNormal", lk.LogNormal(), {"mu": 0.7, "sigma": 0.6}, st.lognorm(0.6, scale=math.exp(0.7))),
    ("Exponential", lk.Exponential(), {"rate": 2.5}, st.expon(scale=0.4)),
    ("Gamma", lk.Gamma(), {"shape": 2.5, "rate": 1.5}, st.gamma(2.5, scale=1 / 1.5)),
    ("Gamma-small-shape", lk.Gamma(), {"shape": 0.3, "rate": 10.0}, st.gamma(0.3, scale=0.1)),
    ("Weibull", lk.Weibull(), {"shape": 1.7, "scale": 2.5}, st.weibull_min(1.7, scale=2.5)),
    ("Beta", lk.Beta(), {"a": 2.5, "b": 1.5}, st.beta(2.5, 1.5)),
    ("Laplace", lk.Laplace(), {"loc": -1.0, "scale": 0.7}, st.laplace(-1.0, 0.7)),
    ("StudentT", lk.StudentT(), {"loc": 0.3, "scale": 2.0, "df": 10.0}, st.t(10.0, 0.3, 2.0)),
    ("Bernoulli", lk.Bernoulli(), {"p": 0.3}, st.bernoulli(0.3)),
    ("Binomial", lk.Binomial(n=10), {"p": 0.35}, st.binom(10, 0.35)),
    ("Poisson", lk.Poisson(), {"rate": 3.5}, st.poisson(3.5)),
    ("Geometric", lk.Geometric(), {"p": 0.3}, st.geom(0.3)),
    ("NegativeBinomial", lk.NegativeBinomial(), {"mu": 4.0, "alpha": 0.5}, st.nbinom(2.0, 1 / 3.0)),
]


@pytest.mark.parametrize(("id_", "dist", "params", "twin"), SAMPLING, ids=[c[0] for c in SAMPLING])
def test_sample_univariate(id_, dist, params, twin) -> None:
    """5000 seeded draws: mean and variance within 6 standard errors of scipy's, in the
    support; continuous draws pass a Kolmogorov-Smirnov test against scipy's cdf (p > 1e-4);
    discrete frequencies within 6 standard errors of the pmf."""
    x = dist.sample(params, DRAWS, key=3)
    assert x.shape == (DRAWS,) and x.dtype == np.float64
    # reproducible: an int seed is PRNGKey(seed); another key gives other draws
    np.testing.assert_array_equal(x, dist.sample(params, DRAWS, key=jax.random.PRNGKey(3)))
    assert not np.array_equal(x, dist.sample(params, DRAWS, key=4))
    assert np.all(dist._in_support(x))
    mean, var, _, kurt = (float(v) for v in twin.stats(moments="mvsk"))
    assert abs(x.mean() - mean) < 6 * math.sqrt(var / DRAWS)
    var_se = var * math.sqrt((kurt + 2) / DRAWS)
    assert abs(x.var() - var) < 6 * var_se
    if hasattr(twin.dist, "pdf"):
        assert st.kstest(x, twin.cdf).pvalue > 1e-4
    else:
        values = np.arange(0, 30)
        pmf = twin.pmf(values)
        freq = np.array([(x == v).mean() for v in values])
        assert np.all(np.abs(freq - pmf) < 6 * np.sqrt(pmf * (1 - pmf) / DRAWS) + 1e-12)


def test_sample_categorical_multinomial_mvn() -> None:
    """Vector families: frequencies, row totals and moments match; shapes carry the event."""
    p = np.array([0.2, 0.5, 0.3])
    x = lk.Categorical(k=3).sample({"p": p}, DRAWS, key=1)
    assert x.shape == (DRAWS,)
    freq = np.bincount(x.astype(int), minlength=3) / DRAWS
    assert np.all(np.abs(freq - p) < 6 * np.sqrt(p * (1 - p) / DRAWS))

    m = lk.Multinomial().sample({"p": p}, DRAWS, key=2, n=7)
    assert m.shape == (DRAWS, 3)
    assert np.all(m.sum(axis=1) == 7) and np.all(m >= 0)
    assert np.all(np.abs(m.mean(axis=0) - 7 * p) < 6 * np.sqrt(7 * p * (1 - p) / DRAWS))

    mu, cov = np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    z = lk.MultivariateNormal().sample({"mu": mu, "cov": cov}, DRAWS, key=4)
    assert z.shape == (DRAWS, 2)
    assert np.all(np.abs(z.mean(axis=0) - mu) < 6 * np.sqrt(np.diag(cov) / DRAWS))
    _close(np.cov(z.T), cov, 0.1, 0.05)


@pytest.mark.parametrize(
    ("dist", "params", "event"),
    [
        # (each new shape compiles the sampler again: jax's gamma, binomial and poisson
        # samplers take seconds, so the families here are the quick ones)
        (lk.Normal(), {"mu": 0.0, "sigma": 1.0}, ()),
        (lk.Categorical(k=3), {"p": [0.2, 0.5, 0.3]}, ()),
        (lk.Multinomial(), {"p": [0.2, 0.5, 0.3]}, (3,)),
        (lk.MultivariateNormal(), {"mu": [0.0, 1.0], "cov": np.eye(2)}, (2,)),
    ],
    ids=lambda v: repr(v) if isinstance(v, lk.Distribution) else "",
)
def test_sample_shapes_and_reproducibility(dist, params, event) -> None:
    """size may be an int or a tuple; the same key (int or PRNGKey) gives the same draws, a
    different key different ones."""
    a = dist.sample(params, (3, 4), key=7)
    assert a.shape == (3, 4, *event)
    b = dist.sample(params, (3, 4), key=jax.random.PRNGKey(7))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, dist.sample(params, (3, 4), key=7))
    assert not np.array_equal(a, dist.sample(params, (3, 4), key=8))
    assert dist.sample(params, 5, key=0).shape == (5, *event)


def test_sample_rejects_bad_parameters() -> None:
    with pytest.raises(lk.ModelError, match="must be > 0"):
        lk.Gamma().sample({"shape": -1.0, "rate": 1.0}, 5)
    with pytest.raises(lk.ModelError, match="missing"):
        lk.Normal().sample({"mu": 0.0}, 5)


# ---------------------------------------------------------------------------------------------
# 6. Support and data errors.

_ONE = {
    "Normal": (lk.Normal(), {"mu": 0.0, "sigma": 1.0}),
    "LogNormal": (lk.LogNormal(), {"mu": 0.0, "sigma": 1.0}),
    "Exponential": (lk.Exponential(), {"rate": 1.0}),
    "Gamma": (lk.Gamma(), {"shape": 2.0, "rate": 1.0}),
    "Weibull": (lk.Weibull(), {"shape": 2.0, "scale": 1.0}),
    "Beta": (lk.Beta(), {"a": 2.0, "b": 2.0}),
    "Laplace": (lk.Laplace(), {"loc": 0.0, "scale": 1.0}),
    "StudentT": (lk.StudentT(), {"loc": 0.0, "scale": 1.0, "df": 3.0}),
    "Bernoulli": (lk.Bernoulli(), {"p": 0.5}),
    "Binomial": (lk.Binomial(n=10), {"p": 0.5}),
    "Poisson": (lk.Poisson(), {"rate": 1.0}),
    "Geometric": (lk.Geometric(), {"p": 0.5}),
    "NegativeBinomial": (lk.NegativeBinomial(), {"mu": 1.0, "alpha": 1.0}),
    "Categorical": (lk.Categorical(k=3), {"p": [0.2, 0.5, 0.3]}),
    "Multinomial": (lk.Multinomial(), {"p": [0.2, 0.5, 0.3]}),
    "MultivariateNormal": (lk.MultivariateNormal(), {"mu": [0.0, 0.0], "cov": np.eye(2)}),
}
_VECTOR = {"Multinomial", "MultivariateNormal"}

# (family, data, bad row, the value as the message must print it)
OUT_OF_SUPPORT = [
    ("LogNormal", [1.0, 2.0, 0.0, 3.0], 2, "0.0"),
    ("Exponential", [1.0, -0.5], 1, "-0.5"),
    ("Gamma", [1.0, 2.0, 0.0], 2, "0.0"),
    ("Gamma", [-2.0, 1.0], 0, "-2.0"),
    ("Weibull", [1.0, 0.0], 1, "0.0"),
    ("Beta", [0.5, 1.0], 1, "1.0"),
    ("Beta", [0.0, 0.5], 0, "0.0"),
    ("Bernoulli", [0.0, 1.0, 2.0], 2, "2.0"),
    ("Bernoulli", [0.5, 1.0], 0, "0.5"),
    ("Binomial", [3.0, 2.5], 1, "2.5"),
    ("Binomial", [3.0, 11.0], 1, "11.0"),
    ("Binomial", [-1.0, 3.0], 0, "-1.0"),
    ("Poisson", [1.0, 2.0, -1.0], 2, "-1.0"),
    ("Poisson", [1.5], 0, "1.5"),
    ("Geometric", [1.0, 0.0], 1, "0.0"),
    ("NegativeBinomial", [4.0, -3.0], 1, "-3.0"),
    ("NegativeBinomial", [4.0, 0.25], 1, "0.25"),
    ("Categorical", [0.0, 1.0, 3.0], 2, "3.0"),
    ("Categorical", [0.0, 1.5], 1, "1.5"),
    ("Multinomial", [[1.0, 2.0, 0.0], [0.0, -1.0, 2.0]], 1, "[0.0, -1.0, 2.0]"),
    ("Multinomial", [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]], 1, "[0.0, 0.0, 0.0]"),
    ("Multinomial", [[1.0, 2.5, 0.0]], 0, "[1.0, 2.5, 0.0]"),
]


@pytest.mark.parametrize(("name", "data", "row", "value"), OUT_OF_SUPPORT, ids=lambda v: str(v))
def test_out_of_support_raises_data_error(name, data, row, value) -> None:
    """A value outside the support raises DataError naming the family, the row and the value,
    from fit and from loglik alike."""
    dist, params = _ONE[name]
    pattern = rf"{name} data must be .*; data row {row} is {re.escape(value)} \("
    with pytest.raises(lk.DataError, match=pattern):
        lk.fit(dist, data)
    with pytest.raises(lk.DataError, match=pattern):
        dist.loglik(params, data)


@pytest.mark.parametrize("name", list(_ONE))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_raise_data_error(name, bad) -> None:
    dist, params = _ONE[name]
    if name in _VECTOR:
        data = np.array([[1.0, 2.0, 1.0], [1.0, bad, 1.0]])[:, : len(params.get("mu", [0] * 3))]
    else:
        data = np.array([1.0, bad, 1.0])
    with pytest.raises(lk.DataError, match=r"row 1.*(nan|inf)"):
        lk.fit(dist, data)
    with pytest.raises(lk.DataError, match=r"row 1.*(nan|inf)"):
        dist.loglik(params, data)


@pytest.mark.parametrize("name", list(_ONE))
def test_empty_and_misshapen_data_raise_data_error(name) -> None:
    dist, params = _ONE[name]
    for empty in ([], np.zeros((0,)), np.zeros((0, 3))):
        with pytest.raises(lk.DataError, match="empty"):
            lk.fit(dist, empty)
    if name in _VECTOR:
        bad_shapes = [np.ones(4), np.ones((2, 2, 2))]
    else:
        bad_shapes = [np.ones((4, 2)), np.ones((2, 2, 2))]
    for bad in bad_shapes:
        with pytest.raises(lk.DataError, match=r"shape"):
            lk.fit(dist, bad)
        with pytest.raises(lk.DataError, match=r"shape"):
            dist.loglik(params, bad)


def test_column_vector_is_accepted_for_univariate_families() -> None:
    x = np.array([[1.0], [2.0], [3.0]])
    assert lk.Poisson().loglik({"rate": 2.0}, x) == pytest.approx(
        st.poisson(2.0).logpmf([1, 2, 3]).sum(), rel=1e-13
    )


def test_multivariate_data_must_match_the_parameters() -> None:
    with pytest.raises(lk.DataError, match="two categories"):
        lk.fit(lk.Multinomial(), [[1.0], [2.0]])
    with pytest.raises(lk.DataError, match="singular"):
        lk.fit(lk.MultivariateNormal(), [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])


def test_degenerate_data_raise_data_error() -> None:
    """Closed forms that do not exist say why."""
    with pytest.raises(lk.DataError, match="all observations are equal"):
        lk.fit(lk.Gamma(), [2.0, 2.0, 2.0])
    with pytest.raises(lk.DataError, match="every observation is 0"):
        lk.fit(lk.Exponential(), [0.0, 0.0])
    with pytest.raises(lk.DataError, match="two categories"):
        lk.fit(lk.Categorical(), [0.0, 0.0])


def test_binomial_needs_whole_number_of_trials() -> None:
    for n in (0, -3, 2.5, "10"):
        with pytest.raises(lk.ModelError, match="whole number of trials"):
            lk.Binomial(n=n)  # type: ignore[arg-type]
    assert repr(lk.Binomial(n=10)) == "Binomial(n=10)"
    assert lk.Binomial(n=10) == lk.Binomial(n=10) and hash(lk.Binomial(n=10)) == hash(
        lk.Binomial(n=10)
    )


# ---------------------------------------------------------------------------------------------
# 7. The coin example.


@pytest.mark.parametrize(("p", "published"), [(0.5, 0.117), (0.7, 0.2668), (0.9, 0.0574)])
def test_coin_likelihood(p: float, published: float) -> None:
    """7 heads in 10 tosses: L(p) = C(10, 7) p^7 (1-p)^3 = 120 p^7 (1-p)^3."""
    got = lk.Binomial(n=10).likelihood({"p": p}, [7])
    assert got == pytest.approx(published, abs=6e-4 if published == 0.117 else 6e-5)
    assert got == pytest.approx(120 * p**7 * (1 - p) ** 3, rel=1e-13)
    assert got == pytest.approx(st.binom(10, p).pmf(7), rel=1e-13)


def test_coin_mle() -> None:
    f = lk.fit(lk.Binomial(n=10), [7])
    assert f.params["p"] == pytest.approx(0.7, rel=1e-15)
    assert f.se["p"] == pytest.approx(math.sqrt(0.7 * 0.3 / 10), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# 8. Real data: published fits (Delignette-Muller & Dutang 2015) and scipy.


def _read(name: str, column: str) -> np.ndarray:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not found (set LIKELY_DATA_DIR)")
    return pd.read_csv(path)[column].to_numpy(float)


@pytest.fixture(scope="module")
def groundbeef() -> np.ndarray:
    return _read("groundbeef_serving.csv", "serving")


@pytest.fixture(scope="module")
def toxocara() -> np.ndarray:
    return _read("toxocara_number.csv", "number")


def test_groundbeef_weibull(groundbeef: np.ndarray) -> None:
    """Weibull on fitdistrplus::groundbeef (n = 254). Delignette-Muller & Dutang (2015),
    J. Stat. Software 64(4), section 2: shape 2.186, scale 83.348, loglik -1255.225 (from
    R's optim, so only ~5 digits); scipy.stats.weibull_min.fit(floc=0) to 1e-5."""
    f = lk.fit(lk.Weibull(), groundbeef)
    assert f.converged and f.nobs == 254
    c, _, scale = st.weibull_min.fit(groundbeef, floc=0)
    _close(f.params, [c, scale], 1e-5)
    assert f.loglik >= st.weibull_min.logpdf(groundbeef, c, 0, scale).sum() - 1e-8
    _close(f.params, [2.186, 83.348], 2e-4)
    assert f.loglik == pytest.approx(-1255.225, abs=0.01)


def test_groundbeef_gamma(groundbeef: np.ndarray) -> None:
    """Gamma on groundbeef, special-purpose solver vs Newton vs scipy.stats.gamma.fit(floc=0);
    published (Delignette-Muller & Dutang 2015, section 2) shape 4.008, rate 0.05442,
    loglik -1253.625."""
    f = lk.fit(lk.Gamma(), groundbeef)
    assert f.method == "closed form"
    a, _, scale = st.gamma.fit(groundbeef, floc=0)
    _close(f.params, [a, 1 / scale], 1e-5)
    _assert_same_fit(f, lk.fit(lk.Gamma(), groundbeef, method="newton"), 1e-8, 1e-6, "groundbeef")
    _close(f.params, [4.008, 0.05442], 3e-4)
    assert f.loglik == pytest.approx(-1253.625, abs=0.01)


def test_groundbeef_lognormal(groundbeef: np.ndarray) -> None:
    """LogNormal on groundbeef: published (Delignette-Muller & Dutang 2015, section 2)
    meanlog 4.169, sdlog 0.5366, loglik -1261.319; scipy.stats.lognorm.fit(floc=0)."""
    f = lk.fit(lk.LogNormal(), groundbeef)
    s, _, scale = st.lognorm.fit(groundbeef, floc=0)
    _close(f.params, [math.log(scale), s], 1e-5)
    _close(f.params, [4.169, 0.5366], 2e-4)
    assert f.loglik == pytest.approx(-1261.319, abs=0.01)
    # se: the Normal closed forms on log(x)
    _close(
        f.se, [f.params["sigma"] / math.sqrt(254), f.params["sigma"] / math.sqrt(2 * 254)], 1e-12
    )


def test_groundbeef_model_ranking(groundbeef: np.ndarray) -> None:
    """The paper's AIC ranking on groundbeef: gamma < Weibull < lognormal."""
    aic = {d.name: lk.fit(d, groundbeef).aic for d in (lk.Gamma(), lk.Weibull(), lk.LogNormal())}
    assert aic["Gamma"] < aic["Weibull"] < aic["LogNormal"]


def test_toxocara_poisson_and_negative_binomial(toxocara: np.ndarray) -> None:
    """fitdistrplus::toxocara (n = 53 cats), Delignette-Muller & Dutang (2015), section 2:
    Poisson lambda 8.679 (loglik -507.5), negative binomial size 0.3971 and mu 8.680 (loglik
    -159.3). The NB2 fit is also checked against scipy.optimize on scipy.stats.nbinom."""
    pois = lk.fit(lk.Poisson(), toxocara)
    assert pois.params["rate"] == pytest.approx(toxocara.mean(), rel=1e-14)
    assert pois.params["rate"] == pytest.approx(8.679, abs=5e-4)
    assert pois.loglik == pytest.approx(
        st.poisson(toxocara.mean()).logpmf(toxocara).sum(), rel=1e-12
    )
    assert pois.loglik == pytest.approx(-507.53, abs=0.01)

    nb = lk.fit(lk.NegativeBinomial(), toxocara)
    assert nb.converged

    def nll(t: np.ndarray) -> float:
        mu, alpha = np.exp(t)
        return -st.nbinom.logpmf(toxocara, 1 / alpha, 1 / (1 + alpha * mu)).sum()

    ref = so.minimize(
        nll, [math.log(5.0), 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    _close(nb.params, np.exp(ref.x), 1e-6)
    assert nb.loglik == pytest.approx(-ref.fun, abs=1e-8)
    # the NB2 mean MLE is the sample mean
    assert nb.params["mu"] == pytest.approx(toxocara.mean(), rel=1e-9)
    assert 1 / nb.params["alpha"] == pytest.approx(0.3971, abs=2e-4)
    assert nb.loglik == pytest.approx(-159.34, abs=0.01)
    assert nb.lr_test(pois).pvalue < 1e-100


# ---------------------------------------------------------------------------------------------
# Solver behaviour at the round-off floor


def test_newton_converges_for_nearly_constant_gamma_data() -> None:
    """Gamma data with a 1% coefficient of variation (shape ~1e4): Newton reaches the closed
    form's optimum (to ~2e-9) but must also say that it converged."""
    x = np.random.default_rng(5).gamma(1e4, 7e-4, N)
    closed = lk.fit(lk.Gamma(), x)
    newton = lk.fit(lk.Gamma(), x, method="newton", init={"shape": 1e3, "rate": 1e3 / 7})
    assert newton.converged
    _close(newton.params, closed.params, 1e-8, 1e-12, "Gamma shape 1e4: params")
    _close(newton.se, closed.se, 1e-6, 1e-14, "Gamma shape 1e4: se")
    # terms ~1e5 cancel to ~255: the log-likelihood itself is only good to ~1e-11 relative
    _close(newton.loglik, closed.loglik, 1e-9, 0.0, "Gamma shape 1e4: loglik")
