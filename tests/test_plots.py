"""Plots on results: what is drawn is checked against closed forms and peer libraries.

Profile curves against the closed-form profile log-likelihoods of the exponential rate and
the normal mean; densities, QQ and PP positions against scipy.stats; the Kaplan-Meier
estimate (QQ/PP plots of censored data) against lifelines. Each figure is also written to a
PNG (the files were opened and inspected when the tests were written).
"""

import pathlib

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import likely as lk
from likely._plots import kaplan_meier, profile_curve, scipy_twin

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, path: pathlib.Path) -> None:
    ax.figure.savefig(path, dpi=80)
    assert path.stat().st_size > 5_000


def _line(ax, label: str):
    return next(line for line in ax.get_lines() if line.get_label() == label)


@pytest.fixture(scope="module")
def beef() -> np.ndarray:
    path = SHARED / "groundbeef_serving.csv"
    if not path.exists():
        pytest.skip("shared data folder absent")
    return pd.read_csv(path)["serving"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def gamma_fit(beef):
    return lk.fit(lk.Gamma(), beef)


# ------------------------------------------------------------------------------- profiles
def test_profile_of_an_exponential_rate_is_its_log_likelihood(tmp_path, rng):
    x = rng.exponential(2.0, size=40)
    f = lk.fit(lk.Exponential(), x)
    pc = profile_curve(f, "rate")
    n, s = x.size, x.sum()
    rate_hat = n / s
    exact = n * np.log(pc.grid / rate_hat) - (pc.grid - rate_hat) * s
    np.testing.assert_allclose(pc.relative, exact, atol=1e-9)
    lo, hi = pc.interval
    # the curve reaches -chi2_1(0.95)/2 inside its range, at the profile interval's ends
    assert pc.grid[0] < lo < rate_hat < hi < pc.grid[-1]
    for end in (lo, hi):
        assert n * np.log(end / rate_hat) - (end - rate_hat) * s == pytest.approx(
            -stats.chi2.ppf(0.95, 1) / 2, abs=1e-8
        )
    ax = f.plot_profile("rate")
    drawn = _line(ax, "profile log-likelihood")
    np.testing.assert_allclose(drawn.get_ydata(), exact, atol=1e-9)
    wald = _line(ax, "Wald (quadratic) approximation")
    np.testing.assert_allclose(
        wald.get_ydata(), -0.5 * ((pc.grid - rate_hat) / (rate_hat / np.sqrt(n))) ** 2, atol=1e-12
    )
    _save(ax, tmp_path / "profile_rate.png")


def test_profile_of_a_normal_mean_maximises_over_sigma(rng):
    x = rng.normal(1.0, 2.0, size=30)
    f = lk.fit(lk.Normal(), x)
    pc = profile_curve(f, "mu", level=0.9, points=21)
    s2 = x.var()
    exact = -x.size / 2 * np.log1p((x.mean() - pc.grid) ** 2 / s2)
    np.testing.assert_allclose(pc.relative, exact, atol=1e-9)
    np.testing.assert_allclose(pc.interval, f.conf_int(0.9, "profile").loc["mu"], rtol=1e-12)
    assert pc.cutoff == pytest.approx(stats.chi2.ppf(0.9, 1) / 2)


def test_profile_on_given_axes_for_a_glm_and_errors(tmp_path):
    import statsmodels.api as sm

    df = sm.datasets.spector.load_pandas().data
    logit = lk.glm("GRADE ~ GPA + TUCE + PSI", data=df, family="binomial")
    _, ax = plt.subplots()
    assert logit.plot_profile("GPA", ax=ax) is ax
    lo, hi = logit.conf_int(method="profile", params=["GPA"]).iloc[0]
    shaded = [p for p in ax.patches if p.get_label() == "95% profile interval"]
    assert (
        shaded
        and np.allclose(shaded[0].get_x(), lo)
        and np.allclose(shaded[0].get_x() + shaded[0].get_width(), hi)
    )
    _save(ax, tmp_path / "profile_glm.png")
    with pytest.raises(lk.ModelError, match="no profile for 'gpa'"):
        logit.plot_profile("gpa")


# ---------------------------------------------------------------------------- coefficients
def test_coefficient_plot_draws_the_intervals(tmp_path):
    import statsmodels.api as sm

    df = sm.datasets.spector.load_pandas().data
    probit = lk.glm("GRADE ~ GPA + TUCE + PSI", data=df, family="binomial", link="probit")
    ax = probit.plot_coef(level=0.9)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Intercept", "GPA", "TUCE", "PSI"]
    assert list(ax.get_yticks()) == [3, 2, 1, 0]  # the first coefficient on top
    line = ax.lines[0]  # the estimates
    ci = probit.conf_int(0.9)
    np.testing.assert_allclose(line.get_xdata(), probit.coef.to_numpy())
    segments = ax.collections[0].get_segments()  # the interval bars, in the same order
    np.testing.assert_allclose([s[0][0] for s in segments], ci["lower"])
    np.testing.assert_allclose([s[1][0] for s in segments], ci["upper"])
    _save(ax, tmp_path / "coef.png")


def test_coefficient_plot_of_a_distribution_shows_every_free_parameter(gamma_fit):
    ax = gamma_fit.plot_coef(params=["shape"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["shape"]
    ax2 = gamma_fit.plot_coef()
    assert [t.get_text() for t in ax2.get_yticklabels()] == ["shape", "rate"]


# -------------------------------------------------------------------- densities, QQ and PP
def test_density_over_histogram_matches_scipy(gamma_fit, beef, tmp_path):
    ax = gamma_fit.plot_density()
    curve = _line(ax, "fitted Gamma")
    x, y = curve.get_xdata(), curve.get_ydata()
    p = gamma_fit.params
    np.testing.assert_allclose(y, stats.gamma(p["shape"], scale=1 / p["rate"]).pdf(x), rtol=1e-10)
    heights = np.array([b.get_height() for b in ax.patches])
    widths = np.array([b.get_width() for b in ax.patches])
    assert np.sum(heights * widths) == pytest.approx(1.0)  # a density histogram
    _save(ax, tmp_path / "density.png")


def test_pmf_over_bars_for_counts(tmp_path):
    path = SHARED / "toxocara_number.csv"
    if not path.exists():
        pytest.skip("shared data folder absent")
    counts = pd.read_csv(path)["number"].to_numpy(dtype=float)
    f = lk.fit(lk.NegativeBinomial(), counts)
    ax = f.plot_density()
    pts = _line(ax, "fitted NegativeBinomial")
    mu, alpha = f.params["mu"], f.params["alpha"]
    np.testing.assert_allclose(
        pts.get_ydata(),
        stats.nbinom(1 / alpha, 1 / (1 + alpha * mu)).pmf(pts.get_xdata()),
        rtol=1e-9,
    )
    bars = {int(b.get_x() + b.get_width() / 2 + 0.5): b.get_height() for b in ax.patches}
    assert bars[0] == pytest.approx(np.mean(counts == 0))
    _save(ax, tmp_path / "pmf.png")


def test_qq_and_pp_positions_match_scipy(rng, tmp_path):
    x = rng.weibull(1.7, size=60) * 3.0
    f = lk.fit(lk.Weibull(), x)
    twin = stats.weibull_min(f.params["shape"], scale=f.params["scale"])
    xs = np.sort(x)
    hazen = (np.arange(1, 61) - 0.5) / 60
    qq = f.plot_qq().lines[0]
    np.testing.assert_allclose(qq.get_xdata(), twin.ppf(hazen), rtol=1e-10)
    np.testing.assert_allclose(qq.get_ydata(), xs)
    _save(qq.axes, tmp_path / "qq.png")
    pp = f.plot_pp().lines[0]
    np.testing.assert_allclose(pp.get_xdata(), twin.cdf(xs), rtol=1e-10)
    np.testing.assert_allclose(pp.get_ydata(), hazen)
    _save(pp.axes, tmp_path / "pp.png")


def test_censored_fits_use_kaplan_meier_as_lifelines(tmp_path):
    from lifelines import KaplanMeierFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    t, e = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy(float)
    times, before, after = kaplan_meier(t, e == 1)
    km = KaplanMeierFitter().fit(t, e).survival_function_["KM_estimate"]
    np.testing.assert_allclose(after, 1 - km.loc[times].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(before[1:], after[:-1])
    f = lk.fit(lk.Weibull(), t, event=e)
    pp = f.plot_pp().lines[0]
    twin = stats.weibull_min(f.params["shape"], scale=f.params["scale"])
    np.testing.assert_allclose(pp.get_xdata(), twin.cdf(times), rtol=1e-10)
    np.testing.assert_allclose(pp.get_ydata(), 0.5 * (before + after))
    _save(pp.axes, tmp_path / "pp_censored.png")
    ax = f.plot_density()
    assert _line(ax, "censored").get_xdata().size == int((e == 0).sum())
    assert not [p for p in ax.patches]  # no histogram of censored data
    _save(ax, tmp_path / "density_censored.png")
    _save(f.plot_qq(), tmp_path / "qq_censored.png")


def test_scipy_twins_equal_every_builtin_family():
    cases = [
        (lk.Normal(), {"mu": 0.3, "sigma": 1.7}, [-1.0, 0.2, 2.5]),
        (lk.LogNormal(), {"mu": 0.3, "sigma": 0.7}, [0.2, 1.0, 3.0]),
        (lk.Exponential(), {"rate": 1.3}, [0.1, 1.0, 4.0]),
        (lk.Gamma(), {"shape": 2.5, "rate": 0.7}, [0.1, 1.0, 9.0]),
        (lk.Weibull(), {"shape": 1.5, "scale": 2.0}, [0.1, 1.0, 4.0]),
        (lk.Beta(), {"a": 2.0, "b": 3.5}, [0.1, 0.5, 0.9]),
        (lk.Laplace(), {"loc": 0.5, "scale": 2.0}, [-3.0, 0.5, 4.0]),
        (lk.StudentT(), {"loc": 0.5, "scale": 2.0, "df": 4.5}, [-3.0, 0.5, 4.0]),
        (lk.Bernoulli(), {"p": 0.3}, [0.0, 1.0]),
        (lk.Binomial(n=7), {"p": 0.3}, [0.0, 3.0, 7.0]),
        (lk.Poisson(), {"rate": 2.5}, [0.0, 2.0, 9.0]),
        (lk.Geometric(), {"p": 0.3}, [1.0, 2.0, 6.0]),
        (lk.NegativeBinomial(), {"mu": 3.0, "alpha": 0.6}, [0.0, 2.0, 11.0]),
        (lk.Categorical(), {"p": np.array([0.2, 0.5, 0.3])}, [0.0, 1.0, 2.0]),
    ]
    for model, values, x in cases:
        twin = scipy_twin(model, {k: np.asarray(v) for k, v in values.items()})
        logp = twin.logpmf(x) if hasattr(twin, "logpmf") else twin.logpdf(x)
        ours = model.logpdf({k: jnp.asarray(v) for k, v in values.items()}, jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(ours), logp, rtol=1e-10, err_msg=model.name)


def test_a_model_of_your_own_with_a_logcdf_gets_qq_plots_by_bisection(rng):
    class Logistic(lk.Model):
        def logcdf(self, p, x):
            return -jnp.logaddexp(0.0, -(x - p["m"]) / p["s"])

    def logpdf(p, x):
        z = (x - p["m"]) / p["s"]
        return -z - jnp.log(p["s"]) - 2 * jnp.logaddexp(0.0, -z)

    model = Logistic(logpdf, params={"m": lk.real, "s": lk.positive}, name="logistic")
    x = rng.logistic(1.0, 0.5, size=50)
    f = lk.fit(model, x)
    qq = f.plot_qq().lines[0]
    hazen = (np.arange(1, 51) - 0.5) / 50
    twin = stats.logistic(f.params["m"], f.params["s"])
    np.testing.assert_allclose(qq.get_xdata(), twin.ppf(hazen), rtol=1e-9)
    dens = _line(f.plot_density(), "fitted logistic")
    np.testing.assert_allclose(dens.get_ydata(), twin.pdf(dens.get_xdata()), rtol=1e-10)


def test_distribution_plots_refuse_other_fits(rng):
    import statsmodels.api as sm

    df = sm.datasets.spector.load_pandas().data
    logit = lk.glm("GRADE ~ GPA", data=df, family="binomial")
    for method in (logit.plot_density, logit.plot_qq, logit.plot_pp):
        with pytest.raises(lk.ModelError, match="one column of numbers"):
            method()
    multi = lk.fit(lk.Multinomial(), [[1, 2, 3], [2, 2, 2]])
    with pytest.raises(lk.ModelError, match="one column"):
        multi.plot_qq()
    interval = lk.fit(lk.Exponential(), lk.Censored([0.5, 1.0, 2.0], [0.7, 1.0, 3.0]))
    with pytest.raises(lk.ModelError, match="interval-censored"):
        interval.plot_pp()
