"""Simulation studies and the bootstrap: known sampling results, peers on identical resamples.

Monte Carlo checks use tolerances of 3.5-4 binomial (or Monte Carlo) standard errors; fixed
keys make every run identical, so a pass is reproducible.
"""

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import likely as lk
from likely._study import _bootstrap
from likely._study._simulate import _distribution_draw
from likely._study._sufficient import _TABLE, Reduced, gammaln, statistics

REPS = 4000


# ------------------------------------------------------------------------------------------
# the pieces: sufficient statistics and the special function behind them


@pytest.mark.parametrize("model_type", list(_TABLE), ids=lambda t: t.__name__)
def test_reduced_likelihood_equals_the_familys_logpdf(model_type, rng):
    """Mean log-likelihood from mean sufficient statistics = mean of the family's logpdf,
    with and without frequency weights, at a point away from the MLE."""
    cases = {
        lk.Normal: ({"mu": 103.0, "sigma": 2.0}, {"mu": 101.5, "sigma": 2.5}),
        lk.LogNormal: ({"mu": 0.3, "sigma": 0.7}, {"mu": 0.1, "sigma": 1.1}),
        lk.Exponential: ({"rate": 2.0}, {"rate": 1.3}),
        lk.Gamma: ({"shape": 2.5, "rate": 1.5}, {"shape": 3.1, "rate": 0.9}),
        lk.Beta: ({"a": 2.0, "b": 5.0}, {"a": 1.4, "b": 3.3}),
        lk.Poisson: ({"rate": 3.0}, {"rate": 2.2}),
        lk.Bernoulli: ({"p": 0.3}, {"p": 0.45}),
        lk.Binomial: ({"p": 0.3}, {"p": 0.2}),
        lk.Geometric: ({"p": 0.3}, {"p": 0.5}),
    }
    model = lk.Binomial(n=7) if model_type is lk.Binomial else model_type()
    truth, at = cases[model_type]
    x = _distribution_draw(model)({k: np.asarray(v) for k, v in truth.items()}, (3, 40), rng)
    w = rng.integers(0, 4, size=40).astype(float)
    params = {k: jnp.asarray(v) for k, v in at.items()}
    reduced = Reduced(model)
    for weights in (None, w):
        t = statistics(model, x, weights)
        got = np.asarray(reduced.logpdf(params, jnp.asarray(t)))
        ll = np.asarray(model.logpdf(params, jnp.asarray(x)))
        want = ll.mean(axis=1) if weights is None else (ll @ weights) / weights.sum()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # shared data with a weight matrix (the bootstrap's layout)
    t = statistics(model, x[0], np.stack([w, np.ones(40)]))
    got = np.asarray(reduced.logpdf(params, jnp.asarray(t)))
    ll = np.asarray(model.logpdf(params, jnp.asarray(x[0])))
    np.testing.assert_allclose(got, [(ll @ w) / w.sum(), ll.mean()], rtol=1e-12, atol=1e-12)


_AT = {
    lk.Normal: {"mu": 1.5, "sigma": 2.0},
    lk.LogNormal: {"mu": 0.3, "sigma": 0.7},
    lk.Exponential: {"rate": 2.0},
    lk.Gamma: {"shape": 2.5, "rate": 1.5},
    lk.Poisson: {"rate": 3.0},
    lk.Bernoulli: {"p": 0.3},
    lk.Binomial: {"p": 0.3},
    lk.Geometric: {"p": 0.3},
}


@pytest.mark.parametrize("model_type", list(_AT), ids=lambda t: t.__name__)
def test_vectorised_information_equals_the_familys_expected_information(model_type):
    from likely._study._sufficient import exact_information

    model = lk.Binomial(n=7) if model_type is lk.Binomial else model_type()
    at = _AT[model_type]
    rows = {k: np.array([v, 1.1 * v if k != "p" else 0.6]) for k, v in at.items()}
    got = exact_information(model, rows)
    for r in range(2):
        point = {k: float(v[r]) for k, v in rows.items()}
        want = model.expected_information(point, None, np.ones(5)) / 5.0
        np.testing.assert_allclose(got[r], want, rtol=1e-11)


@pytest.mark.parametrize("model", [lk.Gamma(), lk.Normal(), lk.Bernoulli()], ids=str)
def test_closed_form_lanes_equal_newton_lanes(model, rng):
    """The numpy path (closed-form MLE, analytic information) gives what the batched Newton
    gives; a replicate on the boundary (all zeros for the Bernoulli, all equal values for the
    Gamma) goes through Newton and is reported as it was."""
    from likely._engine.model import Layout
    from likely._engine.problem import Problem
    from likely._study import _batch as B

    truth = {"Gamma": {"shape": 2.0, "rate": 1.5}, "Normal": {"mu": 1.0, "sigma": 2.0}}.get(
        model.name, {"p": 0.3}
    )
    x = _distribution_draw(model)({k: np.asarray(v) for k, v in truth.items()}, (64, 30), rng)
    x[5] = 0.0 if model.name == "Bernoulli" else 1.5  # a replicate on the boundary
    layout = Layout.build(model.param_spec, {k: np.asarray(v) for k, v in truth.items()}, model)
    batch = B.Batch(Problem(model, layout, ()), x, 0, np.ones(30), False).reduced()
    u0 = np.tile(layout.to_unconstrained(truth), (64, 1))
    fast = B.fit_lanes(batch, u0, {})
    slow = B.solve(batch, B.start_values(batch, u0, {}), {})
    good = slow.converged & ~B.on_boundary(batch.problem, slow.u)
    good[5] = False  # the boundary replicate: compared exactly below
    assert good.sum() >= 60
    np.testing.assert_array_equal(fast.status, slow.status)
    for name in ("u", "natural", "negll", "info", "cov", "se"):
        a, b = getattr(fast, name)[good], getattr(slow, name)[good]
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(fast.u[~good], slow.u[~good])  # Newton's own numbers


def test_series_log_gamma_and_its_derivatives_match_scipy():
    import jax
    from scipy import special

    x = np.concatenate([np.geomspace(1e-6, 1e7, 400), np.linspace(0.05, 25, 400)])

    @jax.jit
    @jax.vmap
    def three(v):
        return gammaln(v), jax.grad(gammaln)(v), jax.grad(jax.grad(gammaln))(v)

    value, d1, d2 = three(jnp.asarray(x))
    for got, want in (
        (value, special.gammaln(x)),
        (d1, special.digamma(x)),
        (d2, special.polygamma(1, x)),
    ):
        err = np.abs(np.asarray(got) - want) / np.maximum(1.0, np.abs(want))
        assert err.max() < 1e-13


# ------------------------------------------------------------------------------------------
# known results


@pytest.fixture(scope="module")
def poisson_study():
    return lk.study(lk.Poisson(), truth={"rate": 3.0}, n=200, reps=REPS, key=11)


def _exact_poisson_coverage(rate: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact coverage of the Wald and likelihood-ratio intervals for a Poisson rate: the
    sum S ~ Poisson(n rate) decides both."""
    z = st.norm.ppf(0.5 + level / 2)
    mu = n * rate
    s = np.arange(int(mu - 12 * math.sqrt(mu)), int(mu + 12 * math.sqrt(mu)))
    pmf = st.poisson.pmf(s, mu)
    hat = s / n
    wald = np.abs(hat - rate) <= z * np.sqrt(hat / n)
    lr = 2 * (st.poisson.logpmf(s, s) - st.poisson.logpmf(s, mu)) <= z * z
    return float(pmf @ wald), float(pmf @ lr)


def test_poisson_wald_and_profile_coverage_match_the_exact_values(poisson_study):
    row = poisson_study.table().iloc[0]
    wald, profile = _exact_poisson_coverage(3.0, 200)
    assert abs(wald - 0.95) < 0.005 and abs(profile - 0.95) < 0.005  # large n: nominal
    tol = 3.5 * math.sqrt(0.95 * 0.05 / REPS)
    assert row["coverage_wald"] == pytest.approx(wald, abs=tol)
    assert row["coverage_profile"] == pytest.approx(profile, abs=tol)
    assert row["profile_reps"] == REPS and row["failed"] == 0 and row["converged"] == 1.0
    # the estimates are the sample means and the se is sqrt(rate_hat / n)
    x = poisson_study.replicate(200, 7)
    est = poisson_study.estimates
    rep7 = est[(est["rep"] == 7)].iloc[0]
    assert rep7["estimate"] == pytest.approx(x.mean(), rel=1e-12)
    assert rep7["se"] == pytest.approx(math.sqrt(x.mean() / 200), rel=1e-10)
    assert row["crlb_sd"] == pytest.approx(math.sqrt(3.0 / 200), rel=1e-12)


def test_normal_variance_mle_has_bias_minus_sigma2_over_n():
    sim = lk.study(
        lk.Normal(),
        truth={"mu": 1.0, "sigma": 2.0},
        n=[5, 20],
        reps=REPS,
        key=3,
        transform=lambda p: {"var": p["sigma"] ** 2},
    )
    t = sim.table().set_index(["n", "param"])
    for n in (5, 20):
        row = t.loc[(n, "var")]
        assert row["bias"] == pytest.approx(-4.0 / n, abs=4 * row["bias_mcse"])
        # var_hat ~ sigma^2 chi2(n-1) / n
        assert row["sd"] == pytest.approx(4.0 * math.sqrt(2 * (n - 1)) / n, rel=0.08)
        assert t.loc[(n, "mu"), "bias"] == pytest.approx(0.0, abs=4 * t.loc[(n, "mu"), "bias_mcse"])
    # invariance: the estimate of var is the biased sample variance of the replicate
    x = sim.replicate(5, 0)
    est = sim.estimates
    var0 = est[(est["n"] == 5) & (est["rep"] == 0) & (est["param"] == "var")].iloc[0]
    assert var0["estimate"] == pytest.approx(np.var(x), rel=1e-10)
    assert t.loc[(5, "var"), "profile_reps"] == 0  # no profile interval for a transform


def test_exponential_rate_variance_approaches_the_cramer_rao_bound():
    ns = [20, 80, 320, 1280]
    sim = lk.study(
        lk.Exponential(),
        truth={"rate": 2.0},
        n=ns,
        reps=REPS,
        key=5,
        transform=lambda p: {"mean": 1 / p["rate"]},
    )
    assert "analytic" in sim.crlb_source
    t = sim.table().set_index(["n", "param"])
    for n in ns:
        row = t.loc[(n, "rate")]
        assert row["crlb_sd"] == pytest.approx(2.0 / math.sqrt(n), rel=1e-12)
        # 1/xbar is 2 n / Gamma(n, 1)-distributed: inverse gamma with known moments
        exact_sd = 2.0 * n / ((n - 1) * math.sqrt(n - 2))
        assert row["sd"] == pytest.approx(exact_sd, rel=0.07)
        assert row["efficiency"] == pytest.approx(exact_sd / row["crlb_sd"], rel=0.07)
        assert row["bias"] == pytest.approx(2.0 / (n - 1), abs=4 * row["bias_mcse"])
        # the MLE of the mean is the sample mean, unbiased and exactly efficient
        mean = t.loc[(n, "mean")]
        assert mean["crlb_sd"] == pytest.approx(0.5 / math.sqrt(n), rel=1e-12)
        assert mean["efficiency"] == pytest.approx(1.0, abs=0.05)
    eff = [t.loc[(n, "rate"), "efficiency"] for n in ns]
    assert eff[0] > 1.03 and abs(eff[-1] - 1.0) < 0.03


# ------------------------------------------------------------------------------------------
# every replicate is the fit lk.fit would give


X40 = np.column_stack([np.ones(40), np.random.default_rng(7).normal(size=40)])


def _regression_logpdf(p, d):
    r = d["y"] - d["X"] @ p["beta"]
    return -0.5 * (r / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


REGRESSION = lk.Model(_regression_logpdf, params={"beta": lk.real, "sigma": lk.positive})
REG_TRUTH = {"beta": np.array([1.0, 2.0]), "sigma": 0.5}


def _regression_study(reps: int, key: int):
    """A user's model with its design held fixed and no analytic expected information."""

    def simulate(p, size, g):
        return {"y": X40 @ p["beta"] + p["sigma"] * g.standard_normal(size)}

    return lk.study(
        REGRESSION,
        truth=REG_TRUTH,
        reps=reps,
        key=key,
        simulate=simulate,
        covariates={"X": X40},
        chunk=256,
    )


@pytest.fixture(scope="module")
def regression_study():
    return _regression_study(300, 4)


def test_study_fits_equal_lk_fit_with_profile_coverage(regression_study):
    sim = regression_study
    est = sim.estimates
    truth = sim.truth
    q = st.chi2.ppf(0.95, 1)
    for rep in (0, 1, 2):
        data = sim.replicate(40, rep)
        np.testing.assert_array_equal(data["X"], X40)
        fit = lk.fit(REGRESSION, data, init={"beta": np.zeros(2), "sigma": 1.0})
        row = est[est["rep"] == rep].set_index("param")
        beta = np.linalg.lstsq(X40, data["y"], rcond=None)[0]
        np.testing.assert_allclose(row["estimate"].iloc[:2], beta, rtol=1e-9)
        np.testing.assert_allclose(row["estimate"], fit.params, rtol=1e-8)
        np.testing.assert_allclose(row["se"], fit.se, rtol=1e-6)
        ci = fit.conf_int(method="profile")
        inside = (ci["lower"] <= truth[ci.index]) & (truth[ci.index] <= ci["upper"])
        np.testing.assert_array_equal(sim.runs[0].deviance[rep] <= q, inside.to_numpy())
    t = sim.table()
    assert set(t.columns) >= {
        "n", "param", "truth", "mean", "bias", "sd", "mean_se", "crlb_sd", "efficiency",
        "coverage_wald", "coverage_profile", "profile_reps", "converged", "failed", "boundary",
    }  # fmt: skip
    assert t["profile_reps"].tolist() == [300, 300, 300] and t["failed"].sum() == 0


def test_cramer_rao_bound_by_simulation(regression_study):
    """No analytic information: the bound comes from the mean observed information at the
    truth. Its expectation gives sigma^2 (X'X)^-1 for beta and sigma^2 / (2n) for sigma; the
    beta block is the same in every replicate, the rest averages out (Monte Carlo error)."""
    sim = regression_study
    assert "simulated data sets" in sim.crlb_source
    t = sim.table().set_index("param")
    exact = 0.5 * np.sqrt(np.diag(np.linalg.inv(X40.T @ X40)))
    np.testing.assert_allclose(t.loc[["beta[0]", "beta[1]"], "crlb_sd"], exact, rtol=0.01)
    assert t.loc["sigma", "crlb_sd"] == pytest.approx(0.5 / math.sqrt(80), rel=0.03)


def test_same_key_same_numbers_whatever_the_chunking(regression_study):
    """Replicates are drawn in blocks with their own streams: replicate r is the same data
    set (and fit) whatever the number of replicates and however they are chunked."""
    more = _regression_study(600, 4)
    np.testing.assert_allclose(
        more.runs[0].estimates[:300], regression_study.runs[0].estimates, rtol=1e-12
    )
    other = _regression_study(300, 5)
    assert not np.allclose(other.runs[0].estimates, regression_study.runs[0].estimates)


def test_study_of_a_reduced_family_equals_lk_fit():
    sim = lk.study(lk.Gamma(), truth={"shape": 2.0, "rate": 1.5}, n=[40], reps=300, key=8)
    for rep in (0, 5):
        fit = lk.fit(lk.Gamma(), sim.replicate(40, rep))
        row = sim.estimates[sim.estimates["rep"] == rep].set_index("param")
        np.testing.assert_allclose(row["estimate"], fit.params, rtol=1e-10)
        np.testing.assert_allclose(row["se"], fit.se, rtol=1e-8)


def test_glm_study_keeps_the_design_and_refits_like_lk_glm(rng):
    X = np.column_stack([np.ones(100), rng.normal(size=100)])
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])).astype(float)
    glm = lk.glm(y=y, X=X, family="poisson")
    sim = lk.study(glm, reps=512, key=1)
    assert sim.n == (100,)
    np.testing.assert_allclose(sim.truth.to_numpy(), glm.params.to_numpy())
    data = sim.replicate(100, 0)
    np.testing.assert_array_equal(data["X"], X)
    refit = lk.glm(y=data["y"], X=X, family="poisson")
    row = sim.estimates[sim.estimates["rep"] == 0]
    np.testing.assert_allclose(row["estimate"], refit.coef, rtol=1e-8)
    np.testing.assert_allclose(row["se"], refit.se, rtol=1e-6)
    cover = sim.table()["coverage_wald"]
    assert np.all(np.abs(cover - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 512) + 0.01)
    # the bootstrap of a GLM: rows resampled as pairs, or y simulated with X held fixed
    for boot in (glm.bootstrap(reps=256, key=0), glm.bootstrap(reps=512, kind="parametric")):
        assert boot.failed == 0
        np.testing.assert_allclose(boot.se, glm.se, rtol=0.2)
        ci = boot.conf_int(method="bca")
        assert np.all((ci["lower"] < glm.coef) & (glm.coef < ci["upper"]))
    with pytest.raises(lk.ModelError, match="row count"):
        lk.study(glm, n=50, reps=10, covariates={"X": X})


# ------------------------------------------------------------------------------------------
# failures are reported, not hidden


def test_boundary_estimates_are_counted():
    # P(all 10 counts are 0) = exp(-10 * 0.05): the MLE rate = 0 sits on the boundary
    sim = lk.study(lk.Poisson(), truth={"rate": 0.05}, n=10, reps=REPS, key=9)
    row = sim.table().iloc[0]
    share = math.exp(-0.5)
    tol = 4 * math.sqrt(share * (1 - share) / REPS)
    assert row["boundary"] / REPS == pytest.approx(share, abs=tol)
    assert row["failed"] == 0
    assert row["coverage_wald"] < 0.5  # a Wald interval of width 0 at rate = 0 misses


def test_non_converged_fits_are_left_out_and_counted():
    # every tenth replicate of each block of 256 has all-equal observations: the Gamma shape
    # MLE is infinite. Blocks of 256 and 44 replicates: 26 + 5 = 31 such replicates.
    def simulate(p, size, rng):
        x = rng.gamma(2.0, 1 / 1.5, size)
        x[::10] = 1.0
        return x

    sim = lk.study(
        lk.Gamma(), truth={"shape": 2.0, "rate": 1.5}, n=40, reps=300, key=8, simulate=simulate
    )
    t = sim.table()
    assert t["failed"].tolist() == [31, 31]
    assert t["converged"].iloc[0] == pytest.approx(1 - 31 / 300)
    assert (~sim.estimates["converged"]).sum() == 2 * 31
    assert np.isfinite(t["sd"]).all()


# ------------------------------------------------------------------------------------------
# the bootstrap against scipy.stats.bootstrap on the very same resamples


def _scipy_resamples(x, statistic, method, reps=999, seed=3):
    """scipy's interval and the resamples it drew (recorded from its vectorised calls)."""
    seen = []

    def stat(s, axis=-1):
        if s.ndim == 2 and s.shape[-1] == x.size:
            seen.append(s.copy())
        return statistic(s, axis)

    res = st.bootstrap(
        (x,), stat, n_resamples=reps, method=method, rng=np.random.default_rng(seed),
        vectorized=True,
    )  # fmt: skip
    drawn = np.concatenate([s for s in seen if s.shape[0] > 1])[:reps]
    order = np.argsort(x)
    idx = order[np.searchsorted(x[order], drawn)]
    assert np.array_equal(x[idx], drawn)
    return res, idx


@pytest.mark.parametrize("method", ["percentile", "basic", "BCa"])
def test_bootstrap_intervals_equal_scipy_on_identical_resamples(method):
    x = np.random.default_rng(0).exponential(0.5, size=60)
    fit = lk.fit(lk.Exponential(), x)
    res, idx = _scipy_resamples(x, lambda s, axis: 1 / np.mean(s, axis=axis), method, reps=REPS)
    boot = _bootstrap.bootstrap(fit, indices=idx)
    ci = boot.conf_int(method=method.lower()).loc["rate"]
    assert ci["lower"] == pytest.approx(res.confidence_interval.low, abs=1e-10)
    assert ci["upper"] == pytest.approx(res.confidence_interval.high, abs=1e-10)
    assert boot.se["rate"] == pytest.approx(res.standard_error, abs=1e-10)
    np.testing.assert_allclose(boot.estimates["rate"], res.bootstrap_distribution, atol=1e-12)


def test_bootstrap_of_two_parameters_and_of_a_newton_model_equal_scipy():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=50)
    fit = lk.fit(lk.Normal(), x)

    def mle(s, axis):
        return np.stack([np.mean(s, axis=axis), np.std(s, axis=axis)])

    res, idx = _scipy_resamples(x, mle, "BCa", reps=250)
    ci = _bootstrap.bootstrap(fit, indices=idx).conf_int(method="bca")
    np.testing.assert_allclose(ci["lower"], res.confidence_interval.low, atol=1e-10)
    np.testing.assert_allclose(ci["upper"], res.confidence_interval.high, atol=1e-10)
    # a model without a closed form: every resample is refitted by the batched Newton
    y = np.random.default_rng(2).exponential(0.5, size=60)
    model = lk.Model(lambda p, v: jnp.log(p["rate"]) - p["rate"] * v, params={"rate": lk.positive})
    fit = lk.fit(model, y)
    res, idx = _scipy_resamples(y, lambda s, axis: 1 / np.mean(s, axis=axis), "BCa", reps=250)
    ci = _bootstrap.bootstrap(fit, indices=idx).conf_int(method="bca").loc["rate"]
    assert ci["lower"] == pytest.approx(res.confidence_interval.low, abs=1e-9)
    assert ci["upper"] == pytest.approx(res.confidence_interval.high, abs=1e-9)


@pytest.fixture(scope="module")
def gamma_fit():
    return lk.fit(lk.Gamma(), np.random.default_rng(1).gamma(2.0, 1.5, size=300))


@pytest.fixture(scope="module")
def gamma_boot(gamma_fit):
    return gamma_fit.bootstrap(reps=2000, kind="parametric", key=0)


def test_parametric_bootstrap_se_matches_the_information(gamma_fit, gamma_boot):
    boot = gamma_boot
    assert boot.failed == 0 and boot.estimates.shape == (2000, 2)
    np.testing.assert_allclose(boot.se, gamma_fit.se, rtol=0.1)
    again = gamma_fit.bootstrap(reps=2000, kind="parametric", key=0)
    np.testing.assert_array_equal(again.replicates, boot.replicates)
    other = gamma_fit.bootstrap(reps=2000, kind="parametric", key=1)
    assert not np.allclose(other.replicates, boot.replicates)
    # invariance: the bootstrap of the mean shape / rate
    mean = boot.transform(lambda p: {"mean": p["shape"] / p["rate"]})
    np.testing.assert_allclose(
        mean.estimates["mean"], boot.estimates["shape"] / boot.estimates["rate"], rtol=1e-12
    )
    assert mean.estimate["mean"] == pytest.approx(float(gamma_fit.transform(
        lambda p: p["shape"] / p["rate"])), rel=1e-12)  # fmt: skip
    lo, hi = mean.conf_int(method="bca").loc["mean"]
    assert lo < mean.estimate["mean"] < hi


def test_influence_acceleration_approximates_the_jackknife(gamma_fit, monkeypatch):
    exact = gamma_fit.bootstrap(reps=2000, key=2)
    assert exact.acceleration_method == "jackknife"
    monkeypatch.setattr(_bootstrap, "JACKKNIFE_MAX_ROWS", 10)
    approx = gamma_fit.bootstrap(reps=2000, key=2)
    assert approx.acceleration_method == "influence"
    np.testing.assert_allclose(approx.acceleration, exact.acceleration, rtol=0.05)
    np.testing.assert_array_equal(approx.replicates, exact.replicates)


# ------------------------------------------------------------------------------------------
# pictures, progress, errors


def test_plots(poisson_study, gamma_boot):
    from matplotlib.figure import Figure

    fig = poisson_study.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(gamma_boot.plot().axes) == 2
    with pytest.raises(lk.ModelError, match="params"):
        poisson_study.plot(params=["nope"])


def test_progress_bar_on_request(capsys):
    lk.study(lk.Poisson(), truth={"rate": 3.0}, n=200, reps=REPS, key=11, progress=True)
    err = capsys.readouterr().err
    assert "study [" in err and f"{REPS}/{REPS}" in err


def test_tour_step_saves_the_sampling_distribution_plot(tmp_path):
    from likely import tour
    from likely._datasets import goog_log_returns

    lines: list[str] = []
    results: dict = {}
    tour._study_step(goog_log_returns(), str(tmp_path), lines.append, results)
    assert (tmp_path / "mle_sampling_distribution.png").stat().st_size > 20_000
    eff = results["study_efficiency"]
    assert eff[0] > 1.2 and abs(eff[-1] - 1.0) < 0.1
    assert results["study_failed"] == 0
    assert "Consistency" in "\n".join(lines)


def test_bad_input_is_named():
    g = lk.Gamma()
    with pytest.raises(lk.ModelError, match="truth"):
        lk.study(g, n=10)
    with pytest.raises(lk.ModelError, match="missing"):
        lk.study(g, truth={"shape": 2.0}, n=10)
    with pytest.raises(lk.ModelError, match="shape"):
        lk.study(g, truth={"shape": -2.0, "rate": 1.0}, n=10)
    with pytest.raises(lk.ModelError, match="needs n"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0})
    with pytest.raises(lk.ModelError, match="reps"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, reps=1)
    with pytest.raises(lk.ModelError, match="sample sizes"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=[10, 0])
    with pytest.raises(lk.ModelError, match="key"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, key="zero")
    with pytest.raises(lk.ModelError, match="sampler"):
        lk.study(
            lk.Model(lambda p, x: -x * p["a"], params={"a": lk.positive}), truth={"a": 1.0}, n=5
        )
    with pytest.raises(lk.ModelError, match="clash"):
        lk.study(
            g, truth={"shape": 2.0, "rate": 1.0}, n=10, transform=lambda p: {"rate": p["rate"]}
        )
    with pytest.raises(lk.ModelError, match="twice differentiable"):
        lk.study(lk.Laplace(), truth={"loc": 0.0, "scale": 1.0}, n=10)
    with pytest.raises(lk.DataError, match="leading axes"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, reps=3,
                 simulate=lambda p, size, rng: np.ones(5))  # fmt: skip
    with pytest.raises(lk.DataError, match="NaN"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, reps=3,
                 simulate=lambda p, size, rng: np.full(size, np.nan))  # fmt: skip
    with pytest.raises(lk.DataError, match="positive"):
        lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, reps=3,
                 simulate=lambda p, size, rng: -np.ones(size))  # fmt: skip

    def bad_late(value):  # a bad value in the second block, checked through its statistics
        def simulate(p, size, rng):
            x = rng.gamma(2.0, 1.0, size)
            if size[0] < 256:
                x[3, 7] = value
            return x

        return simulate

    for value, message in ((np.nan, "NaN"), (np.inf, "infinite"), (-1.0, "positive")):
        with pytest.raises(lk.DataError, match=message):
            lk.study(g, truth={"shape": 2.0, "rate": 1.0}, n=10, reps=300, simulate=bad_late(value))
    fit = lk.fit(lk.Exponential(), [0.5, 1.0, 2.0])
    with pytest.raises(lk.ModelError, match="kind"):
        fit.bootstrap(kind="jackknife")
    with pytest.raises(lk.ModelError, match="indices"):
        _bootstrap.bootstrap(fit, indices=np.zeros((4, 2), dtype=int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        censored = lk.fit(lk.Exponential(), [0.5, 1.0, 2.0], event=[1, 0, 1])
    with pytest.raises(lk.ModelError, match="censor"):
        lk.study(censored, n=10)


def test_replicate_and_boot_conf_int_checks(poisson_study):
    with pytest.raises(lk.ModelError, match="sample sizes"):
        poisson_study.replicate(7, 0)
    with pytest.raises(lk.ModelError, match="rep must"):
        poisson_study.replicate(200, REPS)
    boot = lk.fit(lk.Exponential(), [0.5, 1.0, 2.0, 0.7]).bootstrap(reps=50, key=0)
    with pytest.raises(lk.ModelError, match="method"):
        boot.conf_int(method="normal")
    assert "Bootstrap (nonparametric)" in repr(boot)
    assert "Study of Poisson" in repr(poisson_study)


def test_a_large_mean_beside_a_small_sd_takes_the_closed_form():
    """mu = 1e6 with sigma = 1e-3: the real coordinate mu lies far beyond the edge that marks
    constrained coordinates running off, and must not send replicates to Newton."""
    sim = lk.study(lk.Normal(), truth={"mu": 1e6, "sigma": 1e-3}, n=30, reps=300, key=2)
    table = sim.table().set_index("param")
    assert (table["failed"] == 0).all() and (table["boundary"] == 0).all()
    assert abs(table.loc["mu", "bias"]) < 4 * table.loc["mu", "bias_mcse"]
    assert np.all(np.abs(table["coverage_wald"] - 0.95) < 0.05)


def test_start_values_clip_only_constrained_coordinates(rng):
    from likely._engine.model import Layout
    from likely._engine.problem import Problem
    from likely._study import _batch as B

    model = lk.Normal()
    truth = {"mu": np.asarray(1e6), "sigma": np.asarray(1e-3)}
    x = rng.normal(1e6, 1e-3, size=(8, 30))
    x[3] = 1e6  # no spread: sigma = 0, log sigma = -inf, which starts at -EDGE
    layout = Layout.build(model.param_spec, truth, model)
    batch = B.Batch(Problem(model, layout, ()), x, 0, np.ones(30), False).reduced()
    u0 = np.tile(layout.to_unconstrained(truth), (8, 1))
    start = B.start_values(batch, u0, {})
    np.testing.assert_allclose(start[:, 0], x.mean(axis=1), rtol=1e-12)  # mu kept, not 20
    assert start[3, 1] == -B.EDGE
