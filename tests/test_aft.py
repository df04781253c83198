"""Parametric survival (AFT) regressions, truncation in `lk.fit`, and the LogLogistic family.

Oracles: lifelines' Weibull/LogNormal/LogLogistic AFT fitters on lifelines' Rossi data (run
with SLSQP and ftol=1e-16, without which lifelines' own BFGS stops ~1e-4 short on the
coefficients), lifelines' univariate fitters, R survreg output published for Rossi,
statsmodels' Poisson GLM (the exponential model's likelihood), scipy.stats densities with
scipy.optimize, and closed forms (exponential rate, Weibull median, delta methods by hand).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from scipy.optimize import minimize

import likely as lk

RHS = "fin + age + race + wexp + mar + paro + prio"
COLS = ["Intercept", "fin", "age", "race", "wexp", "mar", "paro", "prio"]
# lifelines' name for the coefficient block, its ancillary block, and the map from our
# log(scale) to its ancillary intercept
LIFELINES = {
    "weibull": ("WeibullAFTFitter", "lambda_", "rho_", -1.0),
    "lognormal": ("LogNormalAFTFitter", "mu_", "sigma_", 1.0),
    "loglogistic": ("LogLogisticAFTFitter", "alpha_", "beta_", -1.0),
}


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def tight(fitter):
    """lifelines converged tightly (see the module docstring)."""
    fitter._scipy_fit_method = "SLSQP"
    return fitter


TIGHT = {"ftol": 1e-16, "maxiter": 2000}


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    from lifelines.datasets import load_rossi

    return load_rossi()


@pytest.fixture(scope="module")
def fits(rossi):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean fit warns about nothing
        return {
            d: lk.aft(rossi, duration="week", event="arrest", formula=RHS, dist=d)
            for d in LIFELINES
        }


def lifelines_fitter(dist):
    import lifelines

    return tight(getattr(lifelines, LIFELINES[dist][0])())


def compare(f, peer, dist, se_tol=1e-4):
    _, coef, anc, sign = LIFELINES[dist]
    assert f.converged
    assert f.loglik == pytest.approx(peer.log_likelihood_, rel=1e-9)
    assert f.loglik >= peer.log_likelihood_ - 1e-9
    theirs = peer.params_[coef][COLS]
    assert rel(f.coef[COLS], theirs) < 1e-6
    log_scale = math.log(f.params["scale"])
    assert sign * log_scale == pytest.approx(peer.params_[(anc, "Intercept")], rel=1e-6)
    assert rel(f.se[COLS], peer.standard_errors_[coef][COLS]) < se_tol
    # se of log(scale) by the delta method: se(scale) / scale
    se_log = f.se["scale"] / f.params["scale"]
    assert se_log == pytest.approx(peer.standard_errors_[(anc, "Intercept")], rel=se_tol)


# ------------------------------------------------------------------------- right censoring


@pytest.mark.parametrize("dist", list(LIFELINES))
def test_rossi_matches_lifelines(rossi, fits, dist):
    """Reference: lifelines {Weibull,LogNormal,LogLogistic}AFTFitter.fit(rossi, week, arrest)."""
    peer = lifelines_fitter(dist).fit(rossi, "week", "arrest", fit_options=TIGHT)
    compare(fits[dist], peer, dist)
    assert list(fits[dist].params.index) == [*COLS, "scale"]


def test_rossi_matches_published_survreg(rossi):
    """Reference: R 'survival' survreg printed output (4 decimals) for Rossi, as published in
    the 'Survival of the Fittest' R tutorial:

        survreg(Surv(week, arrest) ~ fin + age + prio, data = Rossi, dist = 'weibull')
                      Value Std. Error
        (Intercept)  3.7738     0.3581
        finyes       0.2495     0.1372
        age          0.0478     0.0154
        prio        -0.0698     0.0201
        Log(scale)  -0.3367     0.0892      Loglik(model)= -682
        dist = 'exponential': 3.7614 (0.4998), 0.3352 (0.1901), 0.0650 (0.0207),
        -0.0911 (0.0270); Loglik(model)= -688.4
    """
    weib = lk.aft(rossi, duration="week", event="arrest", formula="fin + age + prio")
    want = [3.7738, 0.2495, 0.0478, -0.0698]
    want_se = [0.3581, 0.1372, 0.0154, 0.0201]
    assert np.allclose(weib.coef, want, atol=5.1e-5)
    assert np.allclose(weib.se[weib.coef.index], want_se, atol=5.1e-5)
    assert math.log(weib.params["scale"]) == pytest.approx(-0.3367, abs=5.1e-5)
    assert weib.se["scale"] / weib.params["scale"] == pytest.approx(0.0892, abs=5.1e-5)
    assert weib.loglik == pytest.approx(-682.0, abs=0.05)
    expo = lk.aft(
        rossi, duration="week", event="arrest", formula="fin + age + prio", dist="exponential"
    )
    assert np.allclose(expo.coef, [3.7614, 0.3352, 0.0650, -0.0911], atol=5.1e-5)
    assert np.allclose(expo.se, [0.4998, 0.1901, 0.0207, 0.0270], atol=5.1e-5)
    assert expo.loglik == pytest.approx(-688.4, abs=0.05)
    assert expo.k == 4 and "scale" not in expo.params.index
    # the exponential is the Weibull with the scale fixed at 1: a likelihood-ratio test
    assert weib.lr_test(expo).df == 1


def test_exponential_is_a_poisson_glm_and_closed_form(rossi):
    """Reference: statsmodels Poisson GLM of the event indicator with offset log(time)
    (the exponential likelihood up to sum(event * log t)); without covariates the closed form
    rate = events / total time, se(log rate) = 1 / sqrt(events)."""
    import statsmodels.api as sm

    expo = lk.aft(
        rossi, duration="week", event="arrest", formula="fin + age + prio", dist="exponential"
    )
    X = sm.add_constant(rossi[["fin", "age", "prio"]].astype(float))
    glm = sm.GLM(rossi.arrest, X, family=sm.families.Poisson(), offset=np.log(rossi.week)).fit(
        tol=1e-14
    )
    assert rel(expo.coef, -glm.params.to_numpy()) < 1e-8
    assert rel(expo.se, glm.bse.to_numpy()) < 1e-6
    const = float(np.sum(rossi.arrest * np.log(rossi.week)))
    assert expo.loglik == pytest.approx(glm.llf - const, rel=1e-10)

    t, e = rossi.week.to_numpy(float), rossi.arrest.to_numpy(float)
    null = lk.aft(duration=t, event=e, dist="exponential")
    assert null.params["Intercept"] == pytest.approx(math.log(t.sum() / e.sum()), rel=1e-10)
    assert null.se["Intercept"] == pytest.approx(1 / math.sqrt(e.sum()), rel=1e-8)


# ----------------------------------------------------- interval censoring, truncation, weights


def test_interval_censoring_matches_lifelines(rossi):
    """Reference: WeibullAFTFitter.fit_interval_censoring(..., entry_col=). Events in odd weeks
    are known to the week (w - 1, w] (week 1: left-censored at 1), even weeks exactly, no
    event: [52, inf); half of the rows with a positive lower bound enter late."""
    d = rossi.copy()
    w = d.week.to_numpy(float)
    odd = (d.arrest == 1) & (w % 2 == 1)
    d["lo"] = np.where(d.arrest == 1, np.where(odd, w - 1, w), w)
    d["hi"] = np.where(d.arrest == 1, w, np.inf)
    assert (d.lo == 0).any() and odd.any() and (d.lo == d.hi).any()
    # delayed entry at half the lower bound on every other row with a positive lower bound
    d["t0"] = np.where((d.lo > 0) & (np.arange(len(d)) % 2 == 0), np.floor(d.lo / 2), 0.0)
    f = lk.aft(d, lower="lo", upper="hi", formula=RHS, entry="t0")
    peer = lifelines_fitter("weibull").fit_interval_censoring(
        d.drop(columns=["week", "arrest"]), "lo", "hi", entry_col="t0", fit_options=TIGHT
    )
    compare(f, peer, "weibull")
    assert f.aft.counts["left-censored"] == int((d.lo == 0).sum())
    assert f.aft.counts["truncated"] == int((d.t0 > 0).sum()) > 50


def test_truncation_and_weights_match_lifelines(rossi):
    """Reference: WeibullAFTFitter.fit(..., entry_col=, weights_col=): frequency weights 1-3
    and delayed entry at a random fraction of each time (0 for a third of the rows)."""
    rng = np.random.default_rng(7)
    d = rossi.copy()
    d["t0"] = np.where(
        rng.uniform(size=len(d)) < 1 / 3, 0.0, np.floor(d.week * rng.uniform(size=len(d)))
    )
    d["w"] = rng.integers(1, 4, size=len(d)).astype(float)
    f = lk.aft(d, duration="week", event="arrest", formula=RHS, entry="t0", weights="w")
    peer = lifelines_fitter("weibull").fit(
        d, "week", "arrest", entry_col="t0", weights_col="w", fit_options=TIGHT
    )
    compare(f, peer, "weibull")
    assert f.nobs == d.w.sum()
    assert f.aft.counts["truncated"] == int((d.t0 > 0).sum())


def test_weibull_matches_scipy_likelihood_and_its_optimum(rossi, fits):
    """Reference: the log-likelihood written with scipy.stats.weibull_min (shape 1/sigma,
    scale exp(x'beta)), its finite-difference gradient (zero at the MLE) and Hessian (whose
    inverse is the covariance of (beta, log sigma)); the robust (sandwich) covariance
    H^-1 (sum_i s_i s_i') H^-1 from finite-difference per-row scores s_i."""
    f = fits["weibull"]
    X = np.column_stack([np.ones(len(rossi))] + [rossi[c].to_numpy(float) for c in COLS[1:]])
    t, e = rossi.week.to_numpy(float), rossi.arrest.to_numpy()

    def ll_rows(theta):
        beta, s = theta[:-1], math.exp(theta[-1])
        law = st.weibull_min(1 / s, scale=np.exp(X @ beta))
        return np.where(e == 1, law.logpdf(t), law.logsf(t))

    def ll(theta):
        return float(np.sum(ll_rows(theta)))

    theta = np.append(f.coef[COLS].to_numpy(), math.log(f.params["scale"]))
    assert ll(theta) == pytest.approx(f.loglik, rel=1e-12)
    size = np.append(np.sqrt(np.mean(X**2, axis=0)), 1.0)  # steps scaled to the columns
    eye = np.diag(1e-4 / size)
    h = np.diag(eye)
    grad = np.array([(ll(theta + eye[i]) - ll(theta - eye[i])) / (2 * h[i]) for i in range(9)])
    assert np.max(np.abs(grad / size)) < 1e-5  # in column-scaled coordinates (FD error ~1e-6)
    hess = np.array(
        [
            [
                (
                    ll(theta + eye[i] + eye[j])
                    - ll(theta + eye[i] - eye[j])
                    - ll(theta - eye[i] + eye[j])
                    + ll(theta - eye[i] - eye[j])
                )
                / (4 * h[i] * h[j])
                for j in range(9)
            ]
            for i in range(9)
        ]
    )
    cov = np.linalg.inv(-hess)
    assert rel(f.se[COLS], np.sqrt(np.diag(cov))[:-1]) < 1e-4

    scores = np.column_stack(
        [(ll_rows(theta + d) - ll_rows(theta - d)) / (2 * d.max()) for d in eye]
    )
    sandwich = cov @ scores.T @ scores @ cov
    robust = f.with_cov("robust")
    assert robust.cov_type == "robust"
    assert rel(robust.se[COLS], np.sqrt(np.diag(sandwich))[:-1]) < 1e-4
    log_scale_se = robust.se["scale"] / robust.params["scale"]
    assert log_scale_se == pytest.approx(math.sqrt(sandwich[-1, -1]), rel=1e-4)
    direct = lk.aft(rossi, duration="week", event="arrest", formula=RHS, cov_type="robust")
    assert rel(direct.se, robust.se) < 1e-10


# --------------------------------------------------------------------------------- gamma


@pytest.mark.slow  # one-off compilation of the incomplete gamma kernels
def test_gamma_aft_matches_scipy_likelihood(rossi):
    """Reference: the likelihood written with scipy.stats.gamma (T ~ Gamma(k, scale
    exp(x'beta)), right-censored): equal at the estimate, zero finite-difference gradient
    there, and standard errors from its finite-difference Hessian; quantiles from
    scipy's gamma.ppf and their se from finite differences of it."""
    f = lk.aft(rossi, duration="week", event="arrest", formula="fin + age + prio", dist="gamma")
    X = np.column_stack(
        [np.ones(len(rossi))] + [rossi[c].to_numpy(float) for c in ("fin", "age", "prio")]
    )
    t, e = rossi.week.to_numpy(float), rossi.arrest.to_numpy()

    def ll(theta):
        law = st.gamma(math.exp(theta[-1]), scale=np.exp(X @ theta[:-1]))
        return float(np.sum(np.where(e == 1, law.logpdf(t), law.logsf(t))))

    k = f.params["shape"]
    theta = np.append(f.coef.to_numpy(), math.log(k))
    assert ll(theta) == pytest.approx(f.loglik, rel=1e-11)
    size = np.append(np.sqrt(np.mean(X**2, axis=0)), 1.0)
    eye = np.diag(1e-4 / size)
    h = np.diag(eye)
    grad = np.array([(ll(theta + eye[i]) - ll(theta - eye[i])) / (2 * h[i]) for i in range(5)])
    assert np.max(np.abs(grad / size)) < 1e-5
    hess = np.array(
        [
            [
                (
                    ll(theta + eye[i] + eye[j])
                    - ll(theta + eye[i] - eye[j])
                    - ll(theta - eye[i] + eye[j])
                    + ll(theta - eye[i] - eye[j])
                )
                / (4 * h[i] * h[j])
                for j in range(5)
            ]
            for i in range(5)
        ]
    )
    cov_u = np.linalg.inv(-hess)  # (beta, log k)
    assert rel(f.se[f.coef.index], np.sqrt(np.diag(cov_u))[:-1]) < 1e-4
    assert f.se["shape"] / k == pytest.approx(math.sqrt(cov_u[-1, -1]), rel=1e-4)

    new = rossi.head(3)
    q = f.predict_quantile(new, 0.3)
    eta = f.aft.X[:3] @ f.coef.to_numpy()
    assert rel(q["time"], st.gamma.ppf(0.3, k, scale=np.exp(eta))) < 1e-10

    def log_q(theta, x):
        return math.log(st.gamma.ppf(0.3, math.exp(theta[-1]), scale=math.exp(x @ theta[:-1])))

    x0 = f.aft.X[0]
    g = np.array([(log_q(theta + d, x0) - log_q(theta - d, x0)) / 2e-6 for d in np.eye(5) * 1e-6])
    assert q["se"].iloc[0] == pytest.approx(
        q["time"].iloc[0] * math.sqrt(g @ f._cov_u @ g), rel=1e-5
    )


def test_incomplete_gamma_matches_scipy():
    """Reference: scipy.special.gammainc / gammaincc on a grid of shapes 1e-3..1e4 (their
    derivatives are checked through the Gamma fits' optima and standard errors)."""
    import jax
    import scipy.special as sp

    from likely.distributions._gammainc import log_gammainc, log_gammaincc

    a = np.geomspace(1e-3, 1e4, 25)
    A, X = (v.ravel() for v in np.meshgrid(a, np.geomspace(1e-4, 3e4, 60)))
    P, Q = sp.gammainc(A, X), sp.gammaincc(A, X)
    lp, lq = (
        np.asarray(v) for v in jax.jit(lambda a, x: (log_gammainc(a, x), log_gammaincc(a, x)))(A, X)
    )
    okp, okq = P > 1e-300, Q > 1e-300
    assert np.max(np.abs(lp[okp] - np.log(P[okp]))) < 1e-11
    assert np.max(np.abs(lq[okq] - np.log(Q[okq]))) < 1e-11


# ----------------------------------------------------------------- lk.fit with truncation


def truncated_sample(n=300, seed=1):
    rng = np.random.default_rng(seed)
    T = 3 * rng.weibull(1.5, 4 * n)
    t0 = np.where(rng.uniform(size=4 * n) < 0.3, 0.0, rng.uniform(0, 2, 4 * n))
    keep = T > t0
    T, t0 = T[keep][:n], t0[keep][:n]
    c = t0 + rng.exponential(4, n)
    return np.minimum(T, c), (T <= c).astype(float), t0


@pytest.mark.parametrize("family", ["Weibull", "LogLogistic"])
def test_fit_with_entry_matches_lifelines(family):
    """Reference: lifelines {Weibull,LogLogistic}Fitter().fit(t, e, entry=t0)."""
    import lifelines

    t, e, t0 = truncated_sample()
    f = lk.fit(getattr(lk, family)(), t, event=e, entry=t0)
    peer = getattr(lifelines, f"{family}Fitter")().fit(t, e, entry=t0)
    assert f.loglik == pytest.approx(peer.log_likelihood_, rel=1e-9)
    assert f.loglik >= peer.log_likelihood_ - 1e-9
    theirs = {"Weibull": ("rho_", "lambda_"), "LogLogistic": ("beta_", "alpha_")}[family]
    for m, p in zip(("shape", "scale"), theirs):
        assert f.params[m] == pytest.approx(getattr(peer, p), rel=2e-5)  # lifelines' tolerance
        assert f.se[m] == pytest.approx(peer.summary.loc[p, "se(coef)"], rel=2e-4)


@pytest.mark.slow  # one-off compilation of the incomplete gamma kernels
def test_fit_with_entry_gamma():
    """Reference: scipy.stats.gamma likelihood with truncation maximised by Nelder-Mead (the
    Gamma's censored likelihood has an exact Hessian in the shape)."""
    t, e, t0 = truncated_sample(seed=3)
    f = lk.fit(lk.Gamma(), t, event=e, entry=t0)

    def nll(v):
        law = st.gamma(math.exp(v[0]), scale=math.exp(-v[1]))
        return -float(np.sum(np.where(e == 1, law.logpdf(t), law.logsf(t)) - law.logsf(t0)))

    res = minimize(nll, [0.5, 0.0], method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-14})
    assert f.loglik == pytest.approx(-res.fun, rel=1e-10)
    assert f.params["shape"] == pytest.approx(math.exp(res.x[0]), rel=1e-6)


def test_fit_entry_with_interval_data():
    """Reference: scipy.stats.weibull_min. Truncated exact, right-, left- and interval-censored
    rows: a left-censored row entered at e contributes log((F(u) - F(e)) / S(e)); the
    log-likelihood at the estimate and its zero finite-difference gradient. Late entries, or
    entry times given twice, are refused."""
    lo = np.array([1.0, 2.0, 0.0, 0.5, 3.0, 0.0, 1.2, 0.7, 2.5, 0.0])
    hi = np.array([1.0, np.inf, 1.5, 0.9, 3.0, 2.0, 2.0, np.inf, 4.0, 0.8])
    entry = np.array([0.5, 1.0, 0.4, 0.0, 0.0, 0.0, 1.2, 0.3, 1.0, 0.2])
    f = lk.fit(lk.Weibull(), lk.Censored(lo, hi), entry=entry)

    def ll(v):
        law = st.weibull_min(math.exp(v[0]), scale=math.exp(v[1]))
        a = np.where(lo > 0, lo, entry)  # left-censored and entered: (entry, hi]
        p = np.where(
            lo == hi, law.pdf(lo), np.where(np.isinf(hi), law.sf(lo), law.cdf(hi) - law.cdf(a))
        )
        return float(np.sum(np.log(p) - law.logsf(entry)))

    v = np.log([f.params["shape"], f.params["scale"]])
    assert ll(v) == pytest.approx(f.loglik, rel=1e-12)
    grad = [(ll(v + e) - ll(v - e)) / 2e-6 for e in np.eye(2) * 1e-6]
    assert np.max(np.abs(grad)) < 1e-6
    with pytest.raises(lk.DataError, match="before the exit time"):
        lk.fit(lk.Weibull(), lk.Censored([1.0, 2.0], [1.5, np.inf]), entry=[1.2, 0.0])
    with pytest.raises(lk.ModelError, match="once"):
        lk.fit(lk.Weibull(), lk.Censored([1.0, 2.0], [1.5, np.inf], entry=0.5), entry=0.5)


# --------------------------------------------------------------------------- LogLogistic


def test_loglogistic_distribution_matches_scipy_fisk():
    """Reference: scipy.stats.fisk(c=shape, scale=scale): densities; the MLE, where the
    finite-difference gradient of scipy's log-likelihood vanishes and its Hessian gives our
    standard errors; the expected information against E[-Hessian] of scipy's log-density
    (finite differences) by quadrature on the logistic scale."""
    import jax.numpy as jnp

    d = lk.LogLogistic()
    p = {"shape": 2.5, "scale": 3.0}
    x = np.array([0.01, 0.5, 3.0, 10.0, 200.0])
    jp = {k: jnp.asarray(v) for k, v in p.items()}
    ref = st.fisk(2.5, scale=3.0)
    assert rel(d.logpdf(jp, x), ref.logpdf(x)) < 1e-12
    assert rel(d.logcdf(jp, x), ref.logcdf(x)) < 1e-12
    assert rel(d.logsf(jp, x), ref.logsf(x)) < 1e-12
    draws = d.sample(p, 20_000, key=3)
    assert np.median(draws) == pytest.approx(3.0, rel=0.02)
    fit = lk.fit(d, draws[:2000])

    def ll(v):  # v = (log shape, log scale)
        return float(np.sum(st.fisk.logpdf(draws[:2000], np.exp(v[0]), scale=np.exp(v[1]))))

    v = np.log([fit.params["shape"], fit.params["scale"]])
    assert ll(v) == pytest.approx(fit.loglik, rel=1e-12)
    eye = np.eye(2) * 1e-4
    grad = [(ll(v + e) - ll(v - e)) / 2e-4 for e in eye]
    assert np.max(np.abs(grad)) < 1e-4  # the log-likelihood is ~ -4500
    hess = [
        [(ll(v + a + b) - ll(v + a - b) - ll(v - a + b) + ll(v - a - b)) / 4e-8 for b in eye]
        for a in eye
    ]
    se_log = np.sqrt(np.diag(np.linalg.inv(-np.array(hess))))
    assert rel(fit.se[["shape", "scale"]] / fit.params[["shape", "scale"]], se_log) < 1e-4

    # expected information: integrate -d2 logpdf / d(shape, scale)^2 over the density
    z = np.linspace(-40, 40, 40001)  # logistic scale: x = scale * exp(z / shape)
    xs = 3.0 * np.exp(z / 2.5)
    dens = np.exp(z - 2 * np.logaddexp(0, z))
    h = np.array([1e-4, 1e-4])

    def lp(b, a):
        return st.fisk.logpdf(xs, b, scale=a)

    hb, ha = h
    d2 = {
        (0, 0): (lp(2.5 + hb, 3) - 2 * lp(2.5, 3) + lp(2.5 - hb, 3)) / hb**2,
        (1, 1): (lp(2.5, 3 + ha) - 2 * lp(2.5, 3) + lp(2.5, 3 - ha)) / ha**2,
        (0, 1): (
            lp(2.5 + hb, 3 + ha)
            - lp(2.5 + hb, 3 - ha)
            - lp(2.5 - hb, 3 + ha)
            + lp(2.5 - hb, 3 - ha)
        )
        / (4 * hb * ha),
    }
    want = np.array([[d2[0, 0], d2[0, 1]], [d2[0, 1], d2[1, 1]]])
    want = -np.trapezoid(want * dens, z, axis=-1)
    got = d.expected_information(p, None, np.ones(1))
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- predictions


def test_predictions_weibull_closed_forms_and_delta_by_hand(rossi, fits):
    """Reference: the Weibull median exp(x'b) (log 2)^sigma, and delta-method intervals
    computed here from the natural-scale covariance of (beta, sigma)."""
    f = fits["weibull"]
    new = rossi.iloc[[0, 5, 9]]
    X = np.column_stack([np.ones(3)] + [new[c].to_numpy(float) for c in COLS[1:]])
    b, s = f.coef[COLS].to_numpy(), f.params["scale"]
    cov = f.cov.loc[[*COLS, "scale"], [*COLS, "scale"]].to_numpy()
    z = st.norm.ppf(0.975)

    med = f.predict_median(new)
    assert list(med.index) == list(new.index)
    eta = X @ b
    assert rel(med["median"], np.exp(eta) * math.log(2) ** s) < 1e-12
    g = np.column_stack([X, np.full(3, math.log(math.log(2)))])  # d log median / d(beta, sigma)
    se_log = np.sqrt(np.einsum("ij,jk,ik->i", g, cov, g))
    log_med = eta + s * math.log(math.log(2))
    assert rel(med["lower"], np.exp(log_med - z * se_log)) < 1e-8
    assert rel(med["upper"], np.exp(log_med + z * se_log)) < 1e-8

    times = np.array([5.0, 20.0, 52.0])
    surv = f.predict_survival(new, times)
    assert surv.index.names == ["row", "time"]
    for i, row in enumerate(new.index):
        zt = (np.log(times) - eta[i]) / s  # log(-log S) = z for the Weibull
        gv = np.column_stack([np.tile(-X[i] / s, (3, 1)), -zt / s])
        se_v = np.sqrt(np.einsum("ij,jk,ik->i", gv, cov, gv))
        part = surv.loc[row]
        assert rel(part["survival"], np.exp(-np.exp(zt))) < 1e-12
        assert rel(part["lower"], np.exp(-np.exp(zt + z * se_v))) < 1e-8
        assert rel(part["upper"], np.exp(-np.exp(zt - z * se_v))) < 1e-8
    assert ((surv.lower >= 0) & (surv.upper <= 1) & (surv.lower <= surv.survival)).all()

    # lifelines' predictions at the same model
    peer = lifelines_fitter("weibull").fit(rossi, "week", "arrest", fit_options=TIGHT)
    assert rel(med["median"], peer.predict_median(new).to_numpy()) < 1e-5
    sf = peer.predict_survival_function(new, times=times).to_numpy().T.ravel()
    assert rel(surv["survival"], sf) < 1e-5

    # median of the lognormal and log-logistic models is exp(x'b)
    for dist in ("lognormal", "loglogistic"):
        m = fits[dist].predict_median(new)["median"].to_numpy()
        assert rel(m, np.exp(X @ fits[dist].coef[COLS].to_numpy())) < 1e-12
    several = f.predict_quantile(new, [0.25, 0.5])
    assert several.index.names == ["row", "q"]
    assert rel(several.xs(0.5, level="q")["time"], med["median"]) < 1e-12


def test_acceleration_factors_and_shape(fits):
    """exp(beta) with exp of the Wald interval; Weibull shape 1/sigma with se_sigma/sigma^2."""
    f = fits["weibull"]
    af = f.acceleration_factors()
    assert list(af.index) == COLS[1:]
    b, se = f.params[COLS[1:]], f.se[COLS[1:]]
    assert rel(af["acceleration factor"], np.exp(b)) < 1e-14
    assert rel(af["lower"], np.exp(b - st.norm.ppf(0.975) * se)) < 1e-12
    shape = f.shape()
    s = f.params["scale"]
    assert float(shape) == pytest.approx(1 / s, rel=1e-14)
    assert shape.se["shape"] == pytest.approx(f.se["scale"] / s**2, rel=1e-10)
    with pytest.raises(lk.ModelError, match="shape"):
        fits["lognormal"].shape()


def test_summary_and_plot(fits, rossi):
    import matplotlib

    matplotlib.use("Agg")
    f = fits["weibull"]
    text = str(f.summary())
    assert "weibull AFT" in text and "Events" in text and "318 right-censored" in text
    assert f.summary()._repr_html_().startswith("<div>")
    ax = f.plot_survival(rossi.iloc[[0, 1]])
    assert len(ax.lines) == 2 and ax.get_ylabel() == "S(t | x)"
    ax = f.plot_survival(level=None)
    assert len(ax.lines) == 1


# ------------------------------------------------------------------------------ bad input


def frame(**cols):
    base = {"t": [2.0, 3.0, 5.0, 7.0], "e": [1, 0, 1, 1], "x": [0.1, 0.4, 0.2, 0.9]}
    base.update(cols)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    "kwargs, df, match",
    [
        ({}, frame(t=[2.0, -1.0, 5.0, 7.0]), "duration column 't' must be positive: row 1"),
        ({}, frame(t=[2.0, 0.0, 5.0, 7.0]), "row 1 is 0.*survreg"),
        ({}, frame(t=[2.0, np.nan, 5.0, 7.0]), "'t' has 1 missing.*row 1"),
        ({}, frame(t=[2.0, np.inf, 5.0, 7.0]), "must be finite; row 1"),
        ({}, frame(e=[1, 2, 1, 0]), "event column 'e' must be 1 .* row 1 is 2"),
        ({}, frame(e=[0, 0, 0, 0]), "no events: all 4 rows are right-censored"),
        ({"entry": "t0"}, frame(t0=[0.0, 3.0, 1.0, 0.0]), "enters at 3.0"),
        ({"entry": "t0"}, frame(t0=[0.0, -1.0, 1.0, 0.0]), "entry column 't0' must be >= 0"),
        ({"formula": "x + c"}, frame(c=[1.0, 1.0, 1.0, 1.0]), "'c' has no variation"),
        ({"formula": "x + y"}, frame(y=[0.2, 0.8, 0.4, 1.8]), "collinear"),
        ({"formula": "x"}, frame(x=[0.1, np.nan, 0.2, 0.3]), "missing values"),
        ({"dist": "gompertz"}, frame(), "unknown dist"),
        ({"cov_type": "HC3"}, frame(), "cov_type"),
        ({"formula": "t ~ x"}, frame(), "right-hand side"),
    ],
)
def test_bad_input_is_named(kwargs, df, match):
    args = {"duration": "t", "event": "e", "formula": "x", **kwargs}
    with pytest.raises((lk.DataError, lk.ModelError), match=match):
        lk.aft(df, **args)


@pytest.mark.parametrize(
    "lo, hi, match",
    [
        ([1.0, 3.0, 2.0], [2.0, 2.0, np.inf], "lower must not exceed upper; row 1"),
        ([1.0, -1.0, 2.0], [2.0, 2.0, np.inf], "must be >= 0"),
        ([1.0, 0.0, 2.0], [2.0, np.inf, np.inf], "no information"),
        ([1.0, np.nan, 2.0], [2.0, 3.0, np.inf], "missing .* row 1"),
        ([1.0, 0.0, 2.0], [2.0, 0.0, np.inf], "upper must be > 0"),
    ],
)
def test_bad_intervals_are_named(lo, hi, match):
    with pytest.raises(lk.DataError, match=match):
        lk.aft(lower=np.array(lo), upper=np.array(hi))
