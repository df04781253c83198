"""Properties that any correct maximum-likelihood fit has, checked on random valid input.

Each property is a theorem about the MLE, so the oracle is the same library on transformed
data: permuting rows changes nothing; a frequency weight of 2 is the row twice; location and
scale families are equivariant; the MLE is invariant to reparametrisation (and the delta
method gives the reparametrised model's standard errors); a closed form is the optimum that
Newton's method finds. The data are random draws whose seeds and parameters hypothesis picks
(the "fast" profile runs a few derandomized examples, `make fuzz` hundreds). Sample sizes
are fixed per test so that JAX compiles each solver once.
"""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import likely as lk

from ._helpers import attempt, check_honest

N = 24  # rows in every random data set (one compiled shape per model)
SEEDS = st.integers(0, 2**32 - 1)
SCALES = st.floats(1e-3, 1e3).map(float)  # the scale factor a of x -> a x + b
SHIFTS = st.floats(-1e3, 1e3).map(float)


def draw(name: str, seed: int, n: int = N) -> np.ndarray:
    """A valid random sample of family `name` (moderate parameters, varied by the seed)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.5, 3.0)  # a parameter scale that varies between examples
    return {
        "Normal": lambda: rng.normal(u, u, n),
        "LogNormal": lambda: rng.lognormal(0.3, u / 2, n),
        "Exponential": lambda: rng.exponential(u, n),
        "Gamma": lambda: rng.gamma(u, 1.5, n),
        "Weibull": lambda: rng.weibull(u, n) * 2.0,
        "Laplace": lambda: rng.laplace(u, 1.0, n),
        "StudentT": lambda: u + rng.standard_t(3.0, n),
        "Poisson": lambda: rng.poisson(u * 2, n).astype(float),
        "NegativeBinomial": lambda: rng.negative_binomial(1.0, 1 / (1 + u * 3), n).astype(float),
        "Bernoulli": lambda: (rng.random(n) < 0.3 + u / 10).astype(float),
        "Binomial": lambda: rng.binomial(5, 0.2 + u / 10, n).astype(float),
        "Geometric": lambda: rng.geometric(1 / (1 + u), n).astype(float),
        "Categorical": lambda: rng.choice(3, n, p=[0.2, 0.3, 0.5]).astype(float),
        "Beta": lambda: rng.beta(u, 2.0, n),
    }[name]()


FAMILIES = {
    "Normal": lk.Normal(),
    "LogNormal": lk.LogNormal(),
    "Exponential": lk.Exponential(),
    "Gamma": lk.Gamma(),
    "Weibull": lk.Weibull(),
    "Laplace": lk.Laplace(),
    "StudentT": lk.StudentT(),
    "Poisson": lk.Poisson(),
    "NegativeBinomial": lk.NegativeBinomial(),
    "Bernoulli": lk.Bernoulli(),
    "Binomial": lk.Binomial(n=5),
    "Geometric": lk.Geometric(),
    "Categorical": lk.Categorical(k=3),
    "Beta": lk.Beta(),
}


def same_fit(a, b, rtol: float = 1e-8, se_rtol: float = 1e-6) -> None:
    """Two fits of the same likelihood: estimates, standard errors and log-likelihood agree.

    Estimates agree to `rtol`, or to 1e-6 of their standard error where the likelihood is
    nearly flat (Newton stops on a gradient test, so a weakly identified parameter, such as
    a t's df in the thousands, is only determined to a small fraction of its se)."""
    pa, pb = a.params.to_numpy(), b.params.to_numpy()
    scale = np.maximum(np.abs(pa), 1e-8 * np.max(np.abs(pa)) + 1e-300)
    slack = rtol * scale + 1e-6 * a.se.to_numpy() + 1e-12
    assert np.all(np.abs(pa - pb) <= slack), (a.params, b.params)
    np.testing.assert_allclose(b.se.to_numpy(), a.se.to_numpy(), rtol=se_rtol)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-10, abs=1e-9)


def clean_fit(model, data, **kwargs):
    out = attempt(lk.fit, model, data, **kwargs)
    check_honest(out)
    assume(out.error is None and out.result.converged and not out.flagged)
    return out.result


# ------------------------------------------------------------------------ converge or say why

# raw hypothesis arrays inside each family's support: many repeats, near-constant samples,
# extreme spreads; n = 12 for every family (one compilation each)
_POSITIVE = st.floats(1e-3, 1e3, allow_subnormal=False)
_RAW = {
    "Normal": st.floats(-1e3, 1e3),
    "LogNormal": _POSITIVE,
    "Exponential": st.floats(0.0, 1e3),
    "Gamma": _POSITIVE,
    "Weibull": _POSITIVE,
    "Laplace": st.floats(-1e3, 1e3),
    "StudentT": st.floats(-1e3, 1e3),
    "Poisson": st.integers(0, 60),
    "NegativeBinomial": st.integers(0, 60),
    "Bernoulli": st.integers(0, 1),
    "Binomial": st.integers(0, 5),
    "Geometric": st.integers(1, 40),
    "Categorical": st.integers(0, 2),
    "Beta": st.floats(1e-3, 1 - 1e-3),
}


@pytest.mark.parametrize("name", list(FAMILIES))
@given(data=st.data())
def test_a_fit_converges_or_says_why(name, data):
    """On any valid sample a fit ends in a typed error or an honest result: converged with
    finite standard errors, or flagged (ConvergenceWarning, InferenceWarning with a note,
    boundary listed) -- never a silent NaN or an untyped exception."""
    x = data.draw(hnp.arrays(np.float64, 12, elements=_RAW[name]))
    check_honest(attempt(lk.fit, FAMILIES[name], x))


# ------------------------------------------------------------------------ permutation

_NEWTON_AND_CLOSED = ["Normal", "Gamma", "Weibull", "StudentT", "NegativeBinomial", "Laplace"]


@pytest.mark.parametrize("name", _NEWTON_AND_CLOSED)
@given(seed=SEEDS, perm_seed=SEEDS)
def test_permuting_rows_changes_nothing(name, seed, perm_seed):
    x = draw(name, seed)
    a = clean_fit(FAMILIES[name], x)
    b = clean_fit(FAMILIES[name], x[np.random.default_rng(perm_seed).permutation(N)])
    same_fit(a, b)


# ------------------------------------------------------------------------ frequency weights


@pytest.mark.parametrize("name", [*_NEWTON_AND_CLOSED, "Poisson", "Beta"])
@given(seed=SEEDS, pick=SEEDS)
def test_a_weight_of_two_is_the_row_twice(name, seed, pick):
    x = draw(name, seed)
    twice = np.random.default_rng(pick).permutation(N)[: N // 2]  # half the rows, doubled
    w = np.ones(N)
    w[twice] = 2.0
    a = clean_fit(FAMILIES[name], x, weights=w)
    b = clean_fit(FAMILIES[name], np.concatenate([x, x[twice]]))
    assert a.nobs == b.nobs == N + N // 2
    same_fit(a, b)


# ------------------------------------------------------------------------ equivariance

# x -> a x + b: how each family's estimates move (a > 0 for the positive families)
LOCATION_SCALE = {
    "Normal": {"mu": "loc", "sigma": "scale"},
    "Laplace": {"loc": "loc", "scale": "scale"},
    "StudentT": {"loc": "loc", "scale": "scale", "df": "same"},
}
SCALE_ONLY = {
    "Gamma": {"shape": "same", "rate": "inverse"},
    "Weibull": {"shape": "same", "scale": "scale"},
    "Exponential": {"rate": "inverse"},
    "LogNormal": {"mu": "log", "sigma": "same"},
}


def _moved(kind: str, value: float, a: float, b: float) -> float:
    if kind == "loc":
        return a * value + b
    if kind == "scale":
        return abs(a) * value
    if kind == "inverse":
        return value / a
    if kind == "log":
        return value + math.log(a)
    return value  # "same"


def _se_factor(kind: str, a: float) -> float:
    return {"loc": abs(a), "scale": abs(a), "inverse": 1 / a}.get(kind, 1.0)


def _check_equivariant(name, rules, x, a, b):
    f0 = clean_fit(FAMILIES[name], x)
    f1 = clean_fit(FAMILIES[name], a * x + b)
    for p, kind in rules.items():
        v0, v1 = float(f0.params[p]), float(f1.params[p])
        want = _moved(kind, v0, a, b)
        # a location estimate inherits the round-off of |b| and of a * (the data's spread)
        slack = 1e-9 * (abs(b) + abs(a) * float(np.std(x)) + abs(a * v0)) if kind == "loc" else 0
        assert abs(v1 - want) <= 1e-7 * abs(want) + slack, (p, v0, v1, want)
        se_want = _se_factor(kind, a) * float(f0.se[p])
        assert float(f1.se[p]) == pytest.approx(se_want, rel=1e-5), p
    # the density of a x + b is f((y - b) / a) / |a|: the log-likelihood moves by -n log|a|
    assert f1.loglik == pytest.approx(f0.loglik - N * math.log(abs(a)), rel=1e-9, abs=1e-7)


@pytest.mark.parametrize("name", list(LOCATION_SCALE))
@given(seed=SEEDS, a=SCALES, negative=st.booleans(), b=SHIFTS)
def test_location_scale_families_are_equivariant(name, seed, a, negative, b):
    x = draw(name, seed)
    _check_equivariant(name, LOCATION_SCALE[name], x, -a if negative else a, b)


@pytest.mark.parametrize("name", list(SCALE_ONLY))
@given(seed=SEEDS, a=SCALES)
def test_scale_families_are_equivariant(name, seed, a):
    _check_equivariant(name, SCALE_ONLY[name], draw(name, seed), a, 0.0)


# ------------------------------------------------------------------------ invariance


def _weibull_natural(p, x):
    k, lam = p["shape"], p["scale"]
    z = x / lam
    return jnp.log(k / lam) + (k - 1) * jnp.log(z) - z**k


def _weibull_logs(p, x):  # the same density in (log shape, log scale), both real
    return _weibull_natural({"shape": jnp.exp(p["log_shape"]), "scale": jnp.exp(p["log_scale"])}, x)


def _normal_natural(p, x):
    return jax_norm_logpdf(x, p["mu"], p["sigma"])


def _normal_precision(p, x):  # (mean, precision tau = 1/sigma^2)
    return jax_norm_logpdf(x, p["mean"], 1.0 / jnp.sqrt(p["tau"]))


def jax_norm_logpdf(x, mu, sigma):
    z = (x - mu) / sigma
    return -0.5 * z * z - jnp.log(sigma) - 0.5 * math.log(2 * math.pi)


WEIBULL_A = lk.Model(_weibull_natural, params={"shape": lk.positive, "scale": lk.positive})
WEIBULL_B = lk.Model(_weibull_logs, params={"log_shape": lk.real, "log_scale": lk.real})
NORMAL_A = lk.Model(_normal_natural, params={"mu": lk.real, "sigma": lk.positive})
NORMAL_B = lk.Model(_normal_precision, params={"mean": lk.real, "tau": lk.positive})


@pytest.mark.parametrize(
    "family, model_a, model_b, g, init",
    [
        (
            "Weibull",
            WEIBULL_A,
            WEIBULL_B,
            lambda p: {"log_shape": jnp.log(p["shape"]), "log_scale": jnp.log(p["scale"])},
            {"log_shape": 0.0, "log_scale": 0.0},
        ),
        (
            "Normal",
            NORMAL_A,
            NORMAL_B,
            lambda p: {"mean": p["mu"], "tau": 1.0 / p["sigma"] ** 2},
            {"mean": 0.0, "tau": 1.0},
        ),
    ],
    ids=["weibull-logs", "normal-precision"],
)
@given(seed=SEEDS)
def test_reparametrising_a_model_gives_the_transformed_mle(family, model_a, model_b, g, init, seed):
    """Invariance: the MLE of g(theta) is g(theta_hat), and at the optimum the delta
    method's standard errors equal those of the model written in g's parameters (the
    observed information transforms with the Jacobian, the gradient being zero)."""
    x = draw(family, seed)
    a = clean_fit(model_a, x, init={k: 1.0 for k in model_a.param_spec})
    b = clean_fit(model_b, x, init=init)
    moved = a.transform(g)
    np.testing.assert_allclose(b.params[list(moved.estimate.index)], moved.estimate, rtol=1e-8)
    np.testing.assert_allclose(b.se[list(moved.estimate.index)], moved.se, rtol=1e-6)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-11)
    # and the built-in family agrees with both
    same_fit(clean_fit(FAMILIES[family], x), a, rtol=1e-7, se_rtol=1e-5)


# ------------------------------------------------------------------------ closed form = Newton

CLOSED = ["Normal", "LogNormal", "Exponential", "Gamma", "Poisson", "Bernoulli", "Binomial"]
CLOSED += ["Geometric", "Categorical"]


@pytest.mark.parametrize("name", CLOSED)
@given(seed=SEEDS)
def test_closed_form_is_the_newton_optimum(name, seed):
    x = draw(name, seed)
    closed = clean_fit(FAMILIES[name], x, method="closed_form")
    newton = clean_fit(FAMILIES[name], x, method="newton")
    assert closed.method == "closed form" and newton.method == "newton"
    same_fit(closed, newton, rtol=1e-8, se_rtol=1e-6)


# ------------------------------------------------------------------------ GLMs

GLM_N, GLM_P = 40, 3
GLM_FAMILIES = ["gaussian", "binomial", "poisson", "gamma", "negative_binomial"]


def glm_data(family: str, seed: int, n: int = GLM_N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, GLM_P - 1))])
    beta = rng.uniform(-0.6, 0.6, GLM_P)
    eta = X @ beta
    y = {
        "gaussian": lambda: eta + rng.normal(size=n),
        "binomial": lambda: (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float),
        "poisson": lambda: rng.poisson(np.exp(eta + 1.0)).astype(float),
        "gamma": lambda: rng.gamma(2.0, np.exp(eta) / 2.0),
        "negative_binomial": lambda: rng.negative_binomial(2.0, 2 / (2 + np.exp(eta + 1))),
    }[family]()
    return X, np.asarray(y, float)


def clean_glm(family, X, y, **kwargs):
    link = "log" if family == "gamma" else None
    out = attempt(lk.glm, y=y, X=X, family=family, link=link, **kwargs)
    check_honest(out)
    assume(out.error is None and out.result.converged and not out.flagged)
    return out.result


_GLM_RAW = {
    "gaussian": st.floats(-1e3, 1e3),
    "binomial": st.integers(0, 1),
    "poisson": st.integers(0, 30),
    "gamma": st.floats(1e-3, 1e3),
    "negative_binomial": st.integers(0, 30),
}


@pytest.mark.parametrize("family", GLM_FAMILIES)
@given(data=st.data())
def test_glm_converges_or_says_why(family, data):
    """Raw hypothesis designs and responses (repeats, near-collinear columns, separation,
    all-zero counts): a typed error or an honest result."""
    n = 12
    x = data.draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(-10, 10)))
    y = data.draw(hnp.arrays(np.float64, n, elements=_GLM_RAW[family]))
    X = np.column_stack([np.ones(n), x])
    link = "log" if family == "gamma" else None
    check_honest(attempt(lk.glm, y=y, X=X, family=family, link=link))


@pytest.mark.parametrize("family", GLM_FAMILIES)
@given(seed=SEEDS, pick=SEEDS)
def test_glm_permutation_and_duplication(family, seed, pick):
    X, y = glm_data(family, seed)
    base = clean_glm(family, X, y)
    order = np.random.default_rng(pick).permutation(GLM_N)
    same_fit(base, clean_glm(family, X[order], y[order]))
    twice = order[: GLM_N // 2]
    w = np.ones(GLM_N)
    w[twice] = 2.0
    weighted = clean_glm(family, X, y, weights=w)
    duplicated = clean_glm(family, np.vstack([X, X[twice]]), np.concatenate([y, y[twice]]))
    same_fit(weighted, duplicated)


@pytest.mark.parametrize("family", GLM_FAMILIES)
@given(seed=SEEDS, c=SCALES, d=SHIFTS)
def test_glm_coefficients_follow_the_columns_units(family, seed, c, d):
    """x_j -> c x_j + d (with an intercept): beta_j -> beta_j / c, the intercept absorbs
    -beta_j d / c, every other coefficient, the log-likelihood and the fitted values stay."""
    X, y = glm_data(family, seed)
    base = clean_glm(family, X, y)
    Z = X.copy()
    Z[:, 1] = c * X[:, 1] + d
    moved = clean_glm(family, Z, y)
    b = base.coef.to_numpy()
    want = b.copy()
    want[1] = b[1] / c
    want[0] = b[0] - b[1] * d / c
    got = moved.coef.to_numpy()
    slack = 1e-8 * (1 + abs(b[1] * d / c))
    assert np.all(np.abs(got - want) <= 1e-7 * np.abs(want) + slack), (got, want)
    assert moved.se.iloc[1] == pytest.approx(base.se.iloc[1] / c, rel=1e-5)
    assert moved.se.iloc[2] == pytest.approx(base.se.iloc[2], rel=1e-5)
    assert moved.loglik == pytest.approx(base.loglik, rel=1e-9, abs=1e-8)


@given(seed=SEEDS, pick=SEEDS)
def test_sklearn_facade_permutation_and_sample_weight(seed, pick):
    from likely.sklearn import LogisticRegression, PoissonRegressor

    for cls, family in ((LogisticRegression, "binomial"), (PoissonRegressor, "poisson")):
        X, y = glm_data(family, seed)
        X = X[:, 1:]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any warning (separation, convergence) -> skip
            try:
                base = cls().fit(X, y)
            except (Warning, ValueError):
                assume(False)
        order = np.random.default_rng(pick).permutation(GLM_N)
        perm = cls().fit(X[order], y[order])
        np.testing.assert_allclose(perm.coef_, base.coef_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(perm.bse_, base.bse_, rtol=1e-6)
        twice = order[: GLM_N // 2]
        w = np.ones(GLM_N)
        w[twice] = 2.0
        weighted = cls().fit(X, y, sample_weight=w)
        dup = cls().fit(np.vstack([X, X[twice]]), np.concatenate([y, y[twice]]))
        np.testing.assert_allclose(weighted.coef_, dup.coef_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(weighted.intercept_, dup.intercept_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(weighted.bse_, dup.bse_, rtol=1e-6)
        # and the facade is lk.glm with an intercept column
        ref = lk.glm(y=y, X=np.column_stack([np.ones(GLM_N), X]), family=family)
        np.testing.assert_allclose(base.coef_.ravel(), ref.coef.to_numpy()[1:], rtol=1e-8)
