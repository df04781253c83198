"""The adversarial battery: every entry point, fed bad and degenerate data.

For each input the contract (``_helpers.check_honest``) is a typed error (``lk.DataError`` /
``lk.ModelError``) that names the problem, or a result that flags it: ``converged=False``
with a ConvergenceWarning, a boundary estimate listed in ``fit.boundary`` with an
InferenceWarning (Wald inference invalid; profile interval or the reason why not), undefined
standard errors with an InferenceWarning and a ``note``. Never an untyped exception, a silent
NaN, or a silent non-convergence. Checks that the models' own test files already make
(NaN/inf/empty per distribution, named GLM/Cox/AFT errors) are not repeated here.

Every case here must pass: a gap found later is added as a failing test and fixed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import likely as lk

from ._helpers import attempt, check_clean, check_honest

CHI2_95 = 3.841458820694124

# ============================================================================ lk.fit

DISTS = {
    "Normal": (lk.Normal(), [0.3, 1.7, -0.4, 2.2, 1.1]),
    "LogNormal": (lk.LogNormal(), [0.3, 1.7, 0.4, 2.2, 1.1]),
    "Exponential": (lk.Exponential(), [0.3, 1.7, 0.4, 2.2, 1.1]),
    "Gamma": (lk.Gamma(), [0.3, 1.7, 0.4, 2.2, 1.1]),
    "Weibull": (lk.Weibull(), [0.3, 1.7, 0.4, 2.2, 1.1]),
    "Beta": (lk.Beta(), [0.3, 0.7, 0.4, 0.2, 0.6]),
    "Laplace": (lk.Laplace(), [0.3, 1.7, -0.4, 2.2, 1.1]),
    "StudentT": (lk.StudentT(), [0.3, 1.7, -0.4, 12.0, 1.1]),  # heavy-tailed: df ~ 1
    "Bernoulli": (lk.Bernoulli(), [0.0, 1.0, 1.0, 0.0, 1.0]),
    "Binomial": (lk.Binomial(n=5), [0.0, 3.0, 1.0, 5.0, 2.0]),
    "Poisson": (lk.Poisson(), [0.0, 3.0, 1.0, 7.0, 2.0]),
    "Geometric": (lk.Geometric(), [1.0, 3.0, 1.0, 7.0, 2.0]),
    "NegativeBinomial": (lk.NegativeBinomial(), [0.0, 3.0, 1.0, 17.0, 2.0]),
    "Categorical": (lk.Categorical(), [0.0, 2.0, 1.0, 1.0, 2.0]),
}


@pytest.mark.parametrize("name", list(DISTS))
def test_fit_strings_categoricals_and_objects_are_data_errors(name):
    dist, x = DISTS[name]
    for bad, match in [
        (["a", "b", "c"], "numeric"),
        (np.array([1.0, "x", 2.0], dtype=object), "numeric"),
        (pd.Series(["1.5", "oops"]), "numeric"),
        (pd.Series(x).astype("category"), "categorical"),
    ]:
        with pytest.raises(lk.DataError, match=match):
            lk.fit(dist, bad)
    # numbers stored as objects are numbers
    a = lk.fit(dist, np.array(x, dtype=object))
    assert a.params.equals(lk.fit(dist, x).params)


@pytest.mark.parametrize("name", list(DISTS))
def test_fit_float32_and_integer_input_equal_float64(name):
    """float32 and integer input are converted exactly: the same fit as their float64 values."""
    dist, x = DISTS[name]
    x32 = np.asarray(x, np.float32)
    a = check_clean(attempt(lk.fit, dist, x32))
    b = check_clean(attempt(lk.fit, dist, x32.astype(np.float64)))
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.se, b.se)
    if np.all(np.floor(x) == x):
        c = check_clean(attempt(lk.fit, dist, np.asarray(x, np.int64)))
        np.testing.assert_array_equal(c.params, b.params)


@pytest.mark.parametrize("name", list(DISTS))
@pytest.mark.parametrize("n", [1, 2])
def test_fit_one_and_two_observations(name, n):
    """Too few observations: a typed error or a flagged (boundary / non-converged) fit."""
    dist, x = DISTS[name]
    out = attempt(lk.fit, dist, x[:n])
    check_honest(out)


@pytest.mark.parametrize("name", list(DISTS))
def test_fit_all_equal_data(name):
    """All observations equal: a variance-like MLE of 0 (the boundary, flagged), an MLE that
    does not exist (a typed error or a flagged non-convergence), or an ordinary fit (Poisson,
    Binomial, ...), never a silent NaN."""
    dist, x = DISTS[name]
    out = attempt(lk.fit, dist, [x[1]] * 6)
    check_honest(out)
    if name in ("Normal", "LogNormal", "Laplace"):  # sigma / scale MLE = 0 exactly
        fit = out.result
        assert fit.boundary == (list(dist.param_spec)[1],)
        assert np.all(np.isnan(fit.se)), "Wald standard errors do not exist on the boundary"
        assert fit.loglik == math.inf  # the likelihood is unbounded as sigma -> 0
    if name in ("Gamma",):
        assert isinstance(out.error, lk.DataError) and "equal" in str(out.error)


@pytest.mark.parametrize("value", [1e300, 1e-300])
@pytest.mark.parametrize("name", list(DISTS))
def test_fit_values_near_the_float64_limits(name, value):
    """1e300 beside ordinary values: outside the support (a DataError), an overflow named as
    such (a DataError), or an honest fit -- not a ZeroDivisionError, an inf estimate or a
    silent inf standard error."""
    dist, x = DISTS[name]
    out = attempt(lk.fit, dist, [*x, value])
    check_honest(out)
    if out.error is None:
        assert np.all(np.isfinite(out.result.params)) or out.flagged


def test_overflow_is_named():
    with pytest.raises(lk.DataError, match=r"overflow.*rescale"):
        lk.fit(lk.Normal(), [1.0, 1e300, -1e300])
    with pytest.raises(lk.DataError, match=r"overflow.*rescale"):
        lk.fit(lk.Gamma(), [1.0, 1e300, 2.0])
    with pytest.raises(lk.DataError, match="category code 1e\\+300"):
        lk.fit(lk.Categorical(), [0.0, 1.0, 1e300])


# ---------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    "dist, x, name, value, profile",
    [
        # Poisson, all zeros: loglik = -n rate, so the profile upper end is chi2 / (2 n)
        (lk.Poisson(), np.zeros(8), "rate", 0.0, (0.0, CHI2_95 / 16)),
        # Geometric, all ones: loglik = n log p; the profile lower end is exp(-chi2 / (2 n))
        (lk.Geometric(), np.ones(8), "p", 1.0, (math.exp(-CHI2_95 / 16), 1.0)),
        # Bernoulli, all zeros: loglik = n log(1 - p)
        (lk.Bernoulli(), np.zeros(8), "p", 0.0, (0.0, -math.expm1(-CHI2_95 / 16))),
        # Binomial(3), all successes: loglik = 3 n log p
        (lk.Binomial(n=3), np.full(8, 3.0), "p", 1.0, (math.exp(-CHI2_95 / 48), 1.0)),
    ],
    ids=["poisson-zeros", "geometric-ones", "bernoulli-zeros", "binomial-all-successes"],
)
def test_boundary_estimates_are_reported_with_profile_intervals(dist, x, name, value, profile):
    out = attempt(lk.fit, dist, x)
    check_honest(out)
    fit = out.result
    assert fit.params[name] == value and fit.boundary == (name,)
    assert math.isnan(fit.se[name]) and "profile" in fit.note
    ci = fit.conf_int(method="profile")
    assert ci.loc[name, "lower"] == pytest.approx(profile[0], rel=1e-7, abs=1e-12)
    assert ci.loc[name, "upper"] == pytest.approx(profile[1], rel=1e-7, abs=1e-12)
    assert "Note:" in str(fit.summary()) and "boundary" in str(fit.summary())


def test_boundary_without_a_profile_interval_says_why():
    """A category never observed: p[j] = 0 on the boundary of the simplex, which has no
    one-dimensional profile; the error says what to use instead."""
    fit = attempt(lk.fit, lk.Categorical(k=3), [0.0, 1.0, 1.0, 0.0]).result
    assert fit.boundary == ("p[2]",)
    with pytest.raises(lk.ModelError, match="simplex"):
        fit.conf_int(method="profile")


@pytest.mark.parametrize(
    "dist, x, name",
    [
        # under-dispersed counts: the negative binomial's alpha MLE is 0 (the Poisson limit)
        (lk.NegativeBinomial(), [2.0, 3.0, 2.0, 3.0, 2.0, 3.0], "alpha"),
        # perfectly normal-shaped data: the t's df MLE is infinite (the normal limit)
        (lk.StudentT(), np.random.default_rng(1).normal(size=24), "df"),
    ],
)
def test_estimates_running_off_to_a_limit_are_flagged(dist, x, name):
    """The optimiser stops where the likelihood is flat in log(alpha) or log(df); the result
    says the estimate is at the edge instead of reporting a tiny alpha as if interior."""
    out = attempt(lk.fit, dist, x)
    check_honest(out)
    assert any(name in m and "boundary" in m for m in out.messages(lk.InferenceWarning))
    assert name in out.result.note


# ---------------------------------------------------------------------------- custom models


def _normal_logpdf(p, x):
    import jax.numpy as jnp

    z = (x - p["mu"]) / p["sigma"]
    return -0.5 * z * z - jnp.log(p["sigma"]) - 0.5 * math.log(2 * math.pi)


NORMAL_MODEL = lk.Model(_normal_logpdf, params={"mu": lk.real, "sigma": lk.positive})


def test_custom_model_bad_input():
    x = np.array([0.3, 1.7, -0.4, 2.2, 1.1])
    init = {"mu": 0.0, "sigma": 1.0}
    with pytest.raises(lk.DataError, match=r"row 1.*nan"):
        lk.fit(NORMAL_MODEL, [0.3, np.nan, 1.0], init=init)
    with pytest.raises(lk.DataError, match="numeric"):
        lk.fit(NORMAL_MODEL, ["a", "b"], init=init)
    with pytest.raises(lk.DataError, match="empty"):
        lk.fit(NORMAL_MODEL, [], init=init)
    with pytest.raises(lk.DataError, match="categorical"):
        lk.fit(NORMAL_MODEL, {"x": pd.Series([1, 2]).astype("category")}, init=init)
    with pytest.raises(lk.ModelError, match=r"init\['sigma'\]"):
        lk.fit(NORMAL_MODEL, x, init={"mu": 0.0, "sigma": np.nan})
    with pytest.raises(lk.ModelError, match=r"init\['mu'\].*numeric"):
        lk.fit(NORMAL_MODEL, x, init={"mu": "zero", "sigma": 1.0})
    # all-equal data: sigma -> 0, Newton cannot reach it: flagged, not silent
    check_honest(attempt(lk.fit, NORMAL_MODEL, np.full(6, 1.5), init=init))
    # a start where the log-likelihood overflows is named
    out = attempt(lk.fit, NORMAL_MODEL, [1e200, -1e200, 0.0], init=init)
    check_honest(out)


# ============================================================================ lk.glm

GN = 40
_rng = np.random.default_rng(7)
GX = np.column_stack([np.ones(GN), _rng.normal(size=GN)])
GY = {
    "gaussian": GX @ [1.0, 0.5] + _rng.normal(size=GN),
    "binomial": (_rng.random(GN) < 0.5).astype(float),
    "poisson": _rng.poisson(2.0, GN).astype(float),
    "gamma": _rng.gamma(2.0, 1.0, GN),
    "negative_binomial": _rng.negative_binomial(2, 0.4, GN).astype(float),
}


def _glm(family, y=None, X=None, **kw):
    link = "log" if family == "gamma" else None
    return lk.glm(y=GY[family] if y is None else y, X=GX if X is None else X, family=family,
                  link=link, **kw)  # fmt: skip


def _with(a: np.ndarray, row: int, value) -> np.ndarray:
    b = np.array(a, dtype=float if np.isscalar(value) else object)
    b[row] = value
    return b


@pytest.mark.parametrize("family", list(GY))
def test_glm_bad_values_are_named(family):
    y = GY[family]
    Xnan = GX.copy()
    Xnan[5, 1] = np.nan
    cases = [
        (dict(y=_with(y, 3, np.nan)), r"y.*row 3"),
        (dict(y=_with(y, 3, np.inf)), r"y.*row 3"),
        (dict(X=Xnan), r"X row 5, column 1"),
        (dict(weights=_with(np.ones(GN), 2, np.nan)), r"weights.*row 2"),
        (dict(weights=_with(np.ones(GN), 2, -1.0)), r"weights.*row 2"),
        (dict(offset=_with(np.zeros(GN), 4, np.inf)), r"offset.*row 4"),
        (dict(y=np.array(["a"] * GN)), "numeric"),
        (dict(X=pd.DataFrame({"c": pd.Categorical(["u", "v"] * (GN // 2))})), "categorical"),
        (dict(X=pd.DataFrame({"s": ["u", "v"] * (GN // 2)})), "numeric"),
        (dict(y=y[:0], X=GX[:0]), "empty"),
        (dict(y=y[:-1]), "one value per row"),
        (dict(X=GX[:, 1]), "2-d"),
        (dict(X=np.column_stack([GX, GX[:, 1]])), r"collinear columns \['x1', 'x2'\]"),
        (dict(X=np.column_stack([GX, np.full(GN, 3.0)])), r"collinear.*'x2'"),
        (dict(X=np.column_stack([GX, np.zeros(GN)])), r"\['x2'\] are all zero"),
        (dict(y=y[:1], X=GX[:1]), "rank deficient"),  # n = 1 < p = 2
    ]
    for kwargs, match in cases:
        with pytest.raises((lk.DataError, lk.ModelError), match=match):
            _glm(family, **kwargs)


@pytest.mark.parametrize("family", list(GY))
def test_glm_float32_and_integer_input(family):
    y = GY[family]
    base = check_clean(attempt(_glm, family, y=y, X=GX))
    a = check_clean(attempt(_glm, family, y=y.astype(np.float32), X=GX.astype(np.float32)))
    b = check_clean(
        attempt(
            _glm,
            family,
            y=y.astype(np.float32).astype(float),
            X=GX.astype(np.float32).astype(float),
        )
    )
    np.testing.assert_array_equal(a.params, b.params)
    if np.all(np.floor(y) == y):
        c = check_clean(attempt(_glm, family, y=y.astype(np.int64)))
        np.testing.assert_allclose(c.params, base.params, rtol=1e-12)


@pytest.mark.parametrize("family", list(GY))
@pytest.mark.parametrize("n", [2, 3])
def test_glm_two_and_three_rows(family, n):
    """As many rows as coefficients, or one more: a typed error or a flagged fit."""
    check_honest(attempt(_glm, family, y=GY[family][:n], X=GX[:n]))


@pytest.mark.parametrize("family", list(GY))
def test_glm_all_equal_response(family):
    y = np.full(GN, 1.0 if family in ("binomial",) else 2.0)
    out = attempt(_glm, family, y=y)
    check_honest(out)
    if family == "gaussian":  # y = X b exactly: sigma's MLE is 0, on the boundary
        assert out.result.boundary == ("sigma",)
    if family == "binomial":
        assert isinstance(out.error, lk.DataError) and "constant" in str(out.error)


def test_glm_boundary_and_separation_cases():
    x = GX[:, 1]
    # perfect separation in logistic regression: the MLE does not exist, named
    with pytest.raises(lk.DataError, match=r"perfect separation.*'x1'"):
        _glm("binomial", y=(x > 0).astype(float))
    # Poisson: every count 0: the mean's MLE is 0, on the boundary
    with pytest.raises(lk.DataError, match="every poisson count is 0"):
        _glm("poisson", y=np.zeros(GN))
    with pytest.raises(lk.DataError, match="every negative_binomial count is 0"):
        _glm("negative_binomial", y=np.zeros(GN))
    # Poisson: a group with only zero counts: its coefficient runs to -inf (flagged)
    g = (np.arange(GN) < 10).astype(float)
    y = np.where(g == 1, 0.0, GY["poisson"])
    out = attempt(_glm, "poisson", y=y, X=np.column_stack([GX, g]))
    check_honest(out)
    assert any("separation" in m for m in out.messages(lk.InferenceWarning))
    # multinomial: classes separated by x: flagged
    out = attempt(lk.glm, y=(x > 0).astype(float) + (x > 1), X=GX, family="multinomial")
    check_honest(out)
    assert any("separation" in m for m in out.messages(lk.InferenceWarning))
    with pytest.raises(lk.DataError, match="two levels"):
        lk.glm(y=np.zeros(GN), X=GX, family="multinomial")
    # a negative binomial fitted to under-dispersed counts: alpha -> 0, flagged
    under = np.tile([2.0, 3.0], GN // 2)
    check_honest(attempt(_glm, "negative_binomial", y=under))
    # values near the float64 limits
    big = GX.copy()
    big[3, 1] = 1e300
    check_honest(attempt(_glm, "poisson", X=big))
    check_honest(attempt(_glm, "gaussian", y=_with(GY["gaussian"], 3, 1e300)))


def test_glm_formula_bad_input():
    df = pd.DataFrame({"y": GY["poisson"], "x": GX[:, 1]})
    one_level = df.assign(g=pd.Categorical(["a"] * GN), s=["u"] * GN)
    for term in ("g", "s", "C(s)"):
        with pytest.raises(lk.DataError, match=r"single level"):
            lk.glm(f"y ~ x + {term}", data=one_level, family="poisson")
    with pytest.raises(lk.DataError, match="no rows"):
        lk.glm("y ~ x", data=df.iloc[:0], family="poisson")
    with pytest.raises(lk.DataError, match="not columns"):
        lk.glm("y ~ x + nope", data=df, family="poisson")
    with pytest.raises(lk.ModelError, match=r"cannot parse|cannot build"):
        lk.glm("y ~ (x", data=df, family="poisson")
    with pytest.raises(lk.DataError, match="inf"):
        lk.glm("y ~ x", data=df.assign(x=_with(df.x, 2, np.inf)), family="poisson")
    with pytest.raises(lk.ModelError, match="several columns"):
        lk.glm("s ~ x", data=one_level.assign(s=["u", "v"] * (GN // 2)), family="binomial")
    # two levels of a string column are dummies, as a categorical
    two = df.assign(s=["u", "v"] * (GN // 2))
    a = check_clean(attempt(lk.glm, "y ~ x + s", data=two, family="poisson"))
    b = check_clean(attempt(lk.glm, "y ~ x + s", data=two.assign(s=two.s.astype("category")),
                            family="poisson"))  # fmt: skip
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


def test_sklearn_facade_bad_input():
    from likely.sklearn import LogisticRegression, PoissonRegressor

    x = GX[:, 1:]
    with pytest.raises(ValueError, match="NaN"):
        PoissonRegressor().fit(_with(x, (3, 0), np.nan), GY["poisson"])
    with pytest.raises(ValueError):
        PoissonRegressor().fit(x, _with(GY["poisson"], 3, -1.0))
    with pytest.raises(ValueError, match="separation"):
        LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with pytest.raises(ValueError):
        LogisticRegression().fit(x, np.zeros(GN, dtype=int))  # one class
    with pytest.raises(ValueError, match=r"not unique|cannot identify"):
        PoissonRegressor().fit(np.column_stack([x, x, x])[:2], GY["poisson"][:2])
    with pytest.raises(ValueError, match="collinear"):
        PoissonRegressor().fit(np.column_stack([x, x]), GY["poisson"])
    # a penalty gives the finite MAP under separation
    clf = LogisticRegression(C=1.0).fit(x, (x[:, 0] > 0).astype(int))
    assert np.all(np.isfinite(clf.bse_))


# ============================================================================ survival

SN = 30
_srng = np.random.default_rng(11)
SURV = pd.DataFrame(
    {
        "t": _srng.exponential(1.0, SN) + 0.05,
        "e": (_srng.random(SN) < 0.7).astype(float),
        "x": _srng.normal(size=SN),
        "z": _srng.normal(size=SN),
    }
)


def _cox(df=SURV, **kw):
    opts = dict(duration="t", event="e", formula="x")
    opts.update(kw)
    return lk.coxph(df, **opts)


def _aft(df=SURV, **kw):
    opts = dict(duration="t", event="e", formula="x")
    opts.update(kw)
    return lk.aft(df, **opts)


@pytest.mark.parametrize("entry", [_cox, _aft], ids=["coxph", "aft"])
def test_survival_bad_values(entry):
    for df, match in [
        (SURV.assign(e=0.0), "no events"),
        (SURV.iloc[:0], "no rows|empty"),
        (SURV.assign(x=_with(SURV.x, 4, np.nan)), "missing"),
        (SURV.assign(t=_with(SURV.t, 4, np.inf)), "finite|inf"),
        (SURV.assign(t=_with(SURV.t, 4, -1.0)), r"row 4|\[4\]"),
        (SURV.assign(e=_with(SURV.e, 2, 2.0)), r"row 2|\[2\]"),
        (SURV.assign(x2=SURV.x), "collinear"),
    ]:
        kw = {"formula": "x + x2"} if "x2" in df else {}
        with pytest.raises(lk.DataError, match=match):
            entry(df, **kw)
    # a string column: one level is no information; two levels are dummies
    with pytest.raises((lk.DataError, lk.ModelError)):
        entry(SURV.assign(x=["a"] * SN))
    check_clean(attempt(entry, SURV.assign(s=["u", "v", "w"] * (SN // 3)), formula="x + s"))
    # float32 and integer columns equal their float64 values
    base = check_clean(attempt(entry, SURV.astype(np.float32).astype(np.float64)))
    f32 = check_clean(attempt(entry, SURV.astype(np.float32)))
    np.testing.assert_allclose(f32.params, base.params, rtol=1e-12)
    counts = SURV.assign(t=np.ceil(SURV.t * 10).astype(np.int64), e=SURV.e.astype(np.int64))
    ints = check_clean(attempt(entry, counts))
    np.testing.assert_allclose(
        ints.params, check_clean(attempt(entry, counts.astype(float))).params, rtol=1e-12
    )


@pytest.mark.parametrize("entry", [_cox, _aft], ids=["coxph", "aft"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_survival_tiny_data(entry, n):
    check_honest(attempt(entry, SURV.iloc[:n].assign(e=1.0)))


@pytest.mark.parametrize("entry", [_cox, _aft], ids=["coxph", "aft"])
def test_survival_degenerate_data(entry):
    check_honest(attempt(entry, SURV.assign(t=2.0, e=1.0)))  # every time tied
    check_honest(attempt(entry, SURV.assign(x=_with(SURV.x, 4, 1e300))))
    check_honest(attempt(entry, SURV.assign(t=_with(SURV.t, 4, 1e300))))
    # a covariate that orders the event times exactly: the MLE is infinite (monotone
    # likelihood for Cox): not converged, or flagged
    ordered = SURV.assign(t=np.arange(1.0, SN + 1), e=1.0, x=-np.arange(float(SN)))
    check_honest(attempt(entry, ordered))


def test_cox_two_rows_monotone_likelihood_is_flagged():
    out = attempt(_cox, SURV.iloc[:2].assign(e=1.0))
    check_honest(out)
    assert out.error is not None or out.flagged


def test_cox_single_level_covariate_is_named():
    with pytest.raises(lk.DataError, match=r"level|'x'"):
        _cox(SURV.assign(x=["a"] * SN))


# ============================================================================ EM models


def _two_clusters(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 1.0, n // 2), rng.normal(6.0, 1.0, n // 2)])


@pytest.mark.parametrize(
    "model",
    [lk.Mixture(lk.Normal(), k=2), lk.Mixture(lk.Poisson(), k=2), lk.HMM(lk.Poisson(), n_states=2)],
    ids=["mixture-normal", "mixture-poisson", "hmm-poisson"],
)
def test_em_models_bad_values(model):
    x = np.abs(np.round(_two_clusters()))
    for bad, match in [
        (_with(x, 3, np.nan), r"row 3"),
        (_with(x, 3, np.inf), r"row 3"),
        ([], "empty"),
        (["a", "b", "c"], "numeric"),
        (pd.Series(x).astype("category"), "categorical"),
    ]:
        with pytest.raises(lk.DataError, match=match):
            lk.fit(model, bad)


@pytest.mark.parametrize(
    "model, x",
    [
        (lk.Mixture(lk.Normal(), k=2), np.full(20, 1.5)),  # both components on one point
        (lk.Mixture(lk.Normal(), k=2), [1.0]),
        (lk.Mixture(lk.Normal(), k=2), [1.0, 2.0]),
        (lk.Mixture(lk.Normal(), k=3), _two_clusters()),  # a component with nothing to fit
        (lk.Mixture(lk.Poisson(), k=2), np.zeros(30)),  # rates 0: on the boundary
        (lk.GaussianMixture(k=2), np.ones((20, 2))),
        pytest.param(  # slow: fuzz only
            lk.GaussianMixture(k=3),
            np.column_stack([_two_clusters(), _two_clusters(seed=1)]),
            marks=pytest.mark.slow,
        ),
        (lk.HMM(lk.Poisson(), n_states=2, n_init=1), [3.0]),
        (lk.HMM(lk.Poisson(), n_states=2, n_init=1), [3.0, 1.0]),
        (lk.HMM(lk.Poisson(), n_states=2, n_init=1), np.zeros(50)),
        pytest.param(  # slow: fuzz only
            lk.HMM(lk.Normal(), n_states=2, n_init=1), np.full(50, 2.0), marks=pytest.mark.slow
        ),
    ],
    ids=[
        "mixture-all-equal",
        "mixture-n1",
        "mixture-n2",
        "mixture-empty-component",
        "mixture-poisson-zeros",
        "gmm-all-equal",
        "gmm-k3-two-clusters",
        "hmm-n1",
        "hmm-n2",
        "hmm-zeros",
        "hmm-normal-constant",
    ],
)
def test_em_models_degenerate_data_are_flagged(model, x):
    out = attempt(lk.fit, model, x)
    check_honest(out)
    if isinstance(model, lk.GaussianMixture) and model.k == 3:
        return  # a third component may legitimately fit part of a cluster
    assert out.error is not None or out.flagged, "degenerate data fitted without a flag"


def test_em_model_float32_input():
    x = _two_clusters()
    model = lk.Mixture(lk.Normal(), k=2)
    a = check_clean(attempt(lk.fit, model, x.astype(np.float32)))
    b = check_clean(attempt(lk.fit, model, x.astype(np.float32).astype(np.float64)))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)


def test_hmm_state_that_empties_is_reported_and_rows_stay_on_the_simplex():
    """Three states for data from two: transitions driven to 0 are set to exactly 0 and
    reported; the transition rows still sum to 1 (a complaint against peers)."""
    seq = np.tile(np.r_[np.zeros(10), np.full(10, 8.0)], 5)
    out = attempt(lk.fit, lk.HMM(lk.Poisson(), n_states=3, n_init=1), seq)
    check_honest(out)
    assert any("went to 0" in m or "never" in m for m in out.messages(lk.InferenceWarning))
    gamma = np.asarray(out.result.values["transition"])
    assert np.all(gamma >= 0) and np.allclose(gamma.sum(axis=1), 1.0, atol=1e-12)
    assert np.any(gamma == 0.0)


# ============================================================================ choice


def _choice_data(cases=40, J=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(cases):
        price = rng.normal(size=J)
        chosen = int(np.argmax(-price + rng.gumbel(size=J)))
        for j in range(J):
            rows.append(
                {"case": c, "alt": "abc"[j], "price": price[j], "choice": float(j == chosen)}
            )
    return pd.DataFrame(rows)


CHOICE = _choice_data()


def _clogit(df=CHOICE, formula="choice ~ price"):
    return lk.conditional_logit(formula, data=df, group="case", alt="alt")


def test_conditional_logit_bad_input():
    chosen0 = CHOICE[(CHOICE.case == 0) & (CHOICE.choice == 1)].index[0]
    one_alt = CHOICE.drop([i for i in CHOICE.index[CHOICE.case == 0] if i != chosen0])
    for df, formula, match in [
        (one_alt, None, "only one alternative"),
        (CHOICE.assign(choice=np.where(CHOICE.case == 0, 0.0, CHOICE.choice)), None, "no chosen"),
        (CHOICE.assign(choice=np.where(CHOICE.case == 0, 1.0, CHOICE.choice)), None, "chosen"),
        (CHOICE.assign(choice=CHOICE.choice * 2), None, "0 or 1"),
        (CHOICE.assign(price=_with(CHOICE.price, 4, np.nan)), None, "missing"),
        (CHOICE.assign(price=_with(CHOICE.price, 4, np.inf)), None, "not finite"),
        (CHOICE.iloc[:0], None, "empty"),
        (CHOICE.assign(p2=CHOICE.price), "choice ~ price + p2", "collinear"),
        (CHOICE.assign(inc=CHOICE.case * 1.0), "choice ~ price + inc", "do not vary"),
    ]:
        with pytest.raises(lk.DataError, match=match):
            _clogit(df, formula or "choice ~ price")
    with pytest.raises((lk.DataError, lk.ModelError)):
        _clogit(CHOICE.assign(price="x"))
    with pytest.raises(lk.DataError):
        _clogit(CHOICE.assign(price=_with(CHOICE.price, 4, 1e300)))
    # float32 and categorical alternatives
    base = check_clean(
        attempt(_clogit, CHOICE.assign(price=CHOICE.price.astype(np.float32).astype(float)))
    )
    f32 = check_clean(attempt(_clogit, CHOICE.assign(price=CHOICE.price.astype(np.float32))))
    np.testing.assert_allclose(f32.params, base.params, rtol=1e-12)
    cat = CHOICE.assign(alt=pd.Categorical(CHOICE.alt))
    check_clean(attempt(_clogit, cat, "choice ~ price + C(alt)"))
    # a single case, tiny data: honest
    check_honest(attempt(_clogit, CHOICE.iloc[:3]))


def test_conditional_logit_separation_is_flagged():
    out = attempt(
        _clogit, CHOICE.assign(price=-CHOICE.choice + 0.01 * np.arange(len(CHOICE)) / len(CHOICE))
    )
    check_honest(out)
    assert out.error is not None or out.flagged


# ============================================================================ study & bootstrap


def test_study_bad_input():
    normal = lk.Normal()
    truth = {"mu": 0.0, "sigma": 1.0}
    for kwargs, match in [
        (dict(truth={"mu": np.nan, "sigma": 1.0}, n=10), "finite"),
        (dict(truth={"mu": "a", "sigma": 1.0}, n=10), "numeric"),
        (dict(truth=truth, n=0), "sample sizes"),
        (dict(truth=truth, n=10, reps=0), "reps"),
        (dict(truth={"mu": 0.0, "sigma": -1.0}, n=10), "sigma"),
    ]:
        with pytest.raises(lk.ModelError, match=match):
            lk.study(normal, **kwargs)


def test_study_fractional_sample_size_is_a_model_error():
    with pytest.raises(lk.ModelError, match="sample size"):
        lk.study(lk.Normal(), truth={"mu": 0.0, "sigma": 1.0}, n=2.5, reps=256)


def test_study_truth_beyond_the_sampler_is_a_typed_error():
    out = attempt(lk.study, lk.Poisson(), truth={"rate": 1e300}, n=10, reps=256, profile=False)
    check_honest(out)


def test_study_and_bootstrap_degenerate_cases():
    # tiny samples and boundary truths: replicates on the boundary are counted, not NaN
    sim = lk.study(lk.Bernoulli(), truth={"p": 0.02}, n=5, reps=256, profile=False, key=1)
    table = sim.table()
    assert np.all(np.isfinite(table.select_dtypes("number").fillna(0.0).to_numpy()))
    with pytest.raises(lk.ModelError, match="reps"):
        lk.fit(lk.Exponential(), [0.5, 1.0, 2.0]).bootstrap(reps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lk.InferenceWarning)
        one = lk.fit(lk.Poisson(), [3.0, 3.0])
    boot = one.bootstrap(reps=64, key=0)  # every resample is the same: a degenerate bootstrap
    ci = boot.conf_int()
    assert np.all(np.isfinite(ci.to_numpy())) or np.all(np.isnan(ci.to_numpy()))


# ============================================================================ Dask (no cluster)


def test_dask_bad_input_errors_like_numpy():
    """On Dask collections (synchronous scheduler: no cluster) bad values are the same
    DataError as in memory."""
    dask = pytest.importorskip("dask")
    import dask.array as da

    x = np.array([0.3, 1.7, 0.4, 2.2, 1.1, 0.9])
    with dask.config.set(scheduler="sync"):
        with pytest.raises(lk.DataError, match=r"NaN|nan"):
            lk.fit(lk.Gamma(), da.from_array(_with(x, 4, np.nan), chunks=3))
        with pytest.raises(lk.DataError, match="positive"):
            lk.fit(lk.Gamma(), da.from_array(_with(x, 4, -1.0), chunks=3))
        with pytest.raises((lk.DataError, lk.ModelError)):
            lk.fit(lk.Gamma(), da.from_array(np.array(["a", "b", "c"]), chunks=2))


# ============================================================================ the CLI


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("adversarial_cli")
    rng = np.random.default_rng(0)
    n = 30
    good = pd.DataFrame(
        {
            "y": rng.poisson(2, n),
            "x": rng.normal(size=n),
            "t": rng.exponential(size=n) + 0.1,
            "e": (rng.random(n) < 0.7).astype(int),
        }
    )
    frames = {
        "good": good,
        "nan": good.assign(x=_with(good.x, 3, np.nan)),
        "inf": good.assign(x=_with(good.x, 3, np.inf)),
        "huge": good.assign(t=_with(good.t, 3, 1e300)),
        "str": good.assign(x=["a"] * n),
        "mixed": good.assign(t=[*map(str, good.t[:-1]), "oops"]),
        "zeros": good.assign(y=0, e=0),
        "one": good.iloc[:1],
        "equal": good.assign(t=2.0),
        "sep": good.assign(b=(good.x > 0).astype(int)),
        "dup": good.assign(x2=good.x),
    }
    for name, frame in frames.items():
        frame.to_csv(d / f"{name}.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("y,x\n")
    (d / "binary.csv").write_bytes(b"\x00\xff\xfe\x00\n\x01,\x02\n")
    (d / "ragged.csv").write_text("y,x\n1,2\n3\n4,5,6,7\n")
    (d / "bad.parquet").write_text("not parquet")
    return d


GLM = ["--family", "poisson", "--formula", "y ~ x"]
USER_ERRORS = [
    (["nan.csv", *GLM], "missing values"),
    (["inf.csv", *GLM], "inf"),
    (["huge.csv", "--dist", "gamma", "--column", "t"], "overflow"),
    (["huge.csv", "--dist", "normal", "--column", "t"], "overflow"),
    (["huge.csv", "--dist", "laplace", "--column", "t"], "overflow"),
    (["str.csv", "--dist", "normal", "--column", "x"], "not numeric"),
    (["mixed.csv", "--dist", "normal", "--column", "t"], "row 29 is 'oops'"),
    (["str.csv", *GLM], "single level"),
    (["zeros.csv", *GLM], "every poisson count is 0"),
    (
        ["zeros.csv", "--model", "coxph", "--duration", "t", "--event", "e", "--formula", "x"],
        "no events",
    ),
    (
        ["zeros.csv", "--model", "aft", "--duration", "t", "--event", "e", "--formula", "x"],
        "no events",
    ),
    (["one.csv", *GLM], "rank deficient"),
    (["equal.csv", "--dist", "gamma", "--column", "t"], "all observations are equal"),
    (["equal.csv", "--dist", "weibull", "--column", "t"], "did not converge"),
    (["sep.csv", "--family", "binomial", "--formula", "b ~ x"], "perfect separation"),
    (["dup.csv", "--family", "poisson", "--formula", "y ~ x + x2"], "collinear"),
    (["empty.csv", "--dist", "normal", "--column", "x"], "empty"),
    (["header.csv", "--dist", "normal", "--column", "x"], "no data rows"),
    (["binary.csv", "--dist", "normal", "--column", "x"], "cannot read"),
    (["ragged.csv", "--dist", "normal", "--column", "x"], "cannot read"),
    (["bad.parquet", "--dist", "normal", "--column", "x"], "Parquet"),
    (["nothere.csv", "--dist", "normal", "--column", "x"], "no such file"),
    (["good.csv", "--dist", "normal", "--column", "nope"], "no column 'nope'"),
    (["good.csv", "--family", "poisson", "--formula", "y ~ (x"], "bad formula"),
    (["good.csv", *GLM, "--weights", "x"], "weights must be >= 0"),
    (["good.csv", *GLM, "--cov-type", "HC9"], "cov_type"),
    (["good.csv", "--dist", "binomial", "--column", "y", "--trials", "abc"], "trials"),
    (
        ["good.csv", "--model", "coxph", "--duration", "t", "--event", "x", "--formula", "x"],
        "must be 0 or 1",
    ),
]


def _run_cli(argv, capsys):
    from likely import cli

    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "message"), USER_ERRORS, ids=[" ".join(a[:3]) for a, _ in USER_ERRORS]
)
def test_cli_user_errors_are_one_line_exit_2(files, capsys, argv, message):
    argv = ["fit", str(files / argv[0]), *argv[1:]]
    code, out, err = _run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("likely: error: "), err
    assert message.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "huge.csv", "--dist", "gamma", "weibull", "--column", "t"],
        ["compare", "equal.csv", "--dist", "gamma", "weibull", "normal", "--column", "t"],
        ["compare", "one.csv", "--dist", "gamma", "exponential", "--column", "t"],
        ["compare", "str.csv", "--dist", "gamma", "normal", "--column", "x"],
        ["compare", "good.csv", "--dist", "gamma", "--column", "t"],
        ["fit"],
        [],
        ["bogus"],
        [
            "fit",
            "good.csv",
            "--dist",
            "normal",
            "--column",
            "x",
            "--event",
            "e",
            "--censored-by",
            "e",
        ],
    ],
    ids=lambda a: " ".join(a[:3]) or "no-args",
)
def test_cli_other_user_errors(files, capsys, argv):
    argv = [str(files / a) if a.endswith(".csv") else a for a in argv]
    code, out, err = _run_cli(argv, capsys)
    assert code == 2 and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1 and err.startswith("likely: error: ")


def test_cli_flagged_results_exit_0_with_the_warning(files, capsys):
    """A fit that succeeds with a flag (boundary estimate) prints the table and the warning
    in one line each, exit 0."""
    code, _out, err = _run_cli(
        ["fit", str(files / "zeros.csv"), "--dist", "poisson", "--column", "y"], capsys
    )
    assert code == 0 and "Traceback" not in err
    assert err.startswith("likely: warning: ") and "boundary" in err
    assert all(line.startswith("likely: warning: ") for line in err.strip().splitlines())
