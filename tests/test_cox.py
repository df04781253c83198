"""Cox proportional hazards (`lk.coxph`) against R, statsmodels, lifelines and closed forms.

Oracles:
- R's survival package: closed-form results of Therneau & Grambsch's appendix E as coded in
  survival's tests/book1.R (Breslow), tests/book2.R (Efron) and tests/zph.R (cox.zph), and
  printed R output (help-page examples in tests/Examples/survival-Ex.Rout.save; the Rossi
  recidivism table of Fox & Weisberg's appendix "Cox Proportional-Hazards Regression for
  Survival Data in R").
- statsmodels PHReg (Breslow / Efron, strata, entry), lifelines CoxPHFitter (Efron, weights,
  robust, residuals, baseline, concordance).
- Brute-force enumeration of the exact partial likelihood; JAX autodiff of a dense
  reference implementation of the partial likelihood (`CoxModel.logpdf`).
"""

from __future__ import annotations

import itertools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import likely as lk
from likely.models.survival._cox_model import CoxModel

COLS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
FORMULA = " + ".join(COLS)


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    from lifelines.datasets import load_rossi

    return load_rossi()


@pytest.fixture(scope="module")
def efron(rossi):
    return lk.coxph(rossi, duration="week", event="arrest", formula=FORMULA)


@pytest.fixture(scope="module")
def lifelines_fit(rossi):
    from lifelines import CoxPHFitter

    return CoxPHFitter().fit(rossi, "week", "arrest")


@pytest.fixture(scope="module")
def untied(rossi) -> pd.DataFrame:
    """Rossi with the ties broken (Efron = Breslow; lifelines' robust and residuals then
    coincide with R's), and integer case weights."""
    rng = np.random.default_rng(7)
    out = rossi.copy()
    out["week"] = out["week"] + rng.uniform(0, 0.5, len(out))
    out["w"] = rng.integers(1, 4, len(out)).astype(float)
    return out


# ----------------------------------------------------------------------------- R, Rossi
def test_rossi_matches_r_printed_output(efron):
    # R: summary(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio,
    #    data = Rossi)), as printed by Fox & Weisberg (the fin row is also quoted from R in
    #    surpyval's test-suite: -0.37942, 0.68426, 0.19138, z -1.983, p 0.04742)
    coef = [-0.37942, -0.05744, 0.31390, -0.14980, -0.43370, -0.08487, 0.09150]
    se = [0.19138, 0.02200, 0.30799, 0.21222, 0.38187, 0.19576, 0.02865]
    np.testing.assert_allclose(efron.params[COLS], coef, atol=5e-6)
    np.testing.assert_allclose(efron.se[COLS], se, atol=5e-6)
    hr = efron.hazard_ratios().loc["fin"]
    assert hr["hazard_ratio"] == pytest.approx(0.68426, abs=5e-6)
    assert (hr["lower"], hr["upper"]) == pytest.approx((0.4702, 0.9957), abs=5e-5)
    tests = efron.model_tests()
    # Likelihood ratio test= 33.27, Wald test = 32.11, Score (logrank) test = 33.53, 7 df
    np.testing.assert_allclose(tests["statistic"], [33.27, 32.11, 33.53], atol=5e-3)
    assert tests["p"].iloc[0] == pytest.approx(2.362e-05, rel=1e-3)
    assert efron.concordance == pytest.approx(0.640, abs=5e-4)
    assert efron.aic == pytest.approx(-2 * efron.loglik + 14)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_rossi_matches_statsmodels(rossi, ties):
    from statsmodels.duration.hazard_regression import PHReg

    fit = lk.coxph(rossi, duration="week", event="arrest", formula=FORMULA, ties=ties)
    sm = PHReg(rossi["week"], rossi[COLS], status=rossi["arrest"], ties=ties).fit()
    np.testing.assert_allclose(fit.params[COLS], sm.params, rtol=1e-6)
    np.testing.assert_allclose(fit.se[COLS], sm.bse, rtol=1e-6)
    assert fit.loglik == pytest.approx(sm.llf, rel=1e-10)
    assert fit.converged


def test_rossi_matches_lifelines(efron, lifelines_fit, rossi):
    np.testing.assert_allclose(efron.params[COLS], lifelines_fit.params_[COLS], rtol=1e-6)
    np.testing.assert_allclose(efron.se[COLS], lifelines_fit.standard_errors_[COLS], rtol=1e-6)
    assert efron.loglik == pytest.approx(lifelines_fit.log_likelihood_, rel=1e-9)
    assert efron.concordance == pytest.approx(lifelines_fit.concordance_index_, abs=1e-12)
    # lifelines' baseline is the Breslow (Nelson-Aalen type) estimator at the covariate means
    base = efron.baseline_survival(ctype="breslow")
    ll = lifelines_fit.baseline_survival_.iloc[:, 0].loc[base.index]
    np.testing.assert_allclose(base["survival"], ll, rtol=1e-6)
    # Schoenfeld residuals (lifelines uses R's Efron means for them)
    ours = efron.residuals("schoenfeld")
    theirs = lifelines_fit.compute_residuals(rossi, "schoenfeld")
    np.testing.assert_allclose(ours.loc[theirs.index, COLS], theirs[COLS], atol=1e-6)
    # predicted survival with the Breslow baseline
    new = rossi.iloc[:4]
    pred = efron.predict_survival(new, times=[10.0, 30.0, 52.0], ctype="breslow")
    theirs = lifelines_fit.predict_survival_function(new, times=[10.0, 30.0, 52.0])
    np.testing.assert_allclose(pred.survival.to_numpy(), theirs.to_numpy(), rtol=1e-6)


def test_untied_robust_and_residuals_match_lifelines(untied):
    from lifelines import CoxPHFitter

    fit = lk.coxph(untied, duration="week", event="arrest", formula=FORMULA, cov_type="robust")
    cph = CoxPHFitter().fit(untied.drop(columns="w"), "week", "arrest", robust=True)
    np.testing.assert_allclose(fit.se[COLS], cph.standard_errors_[COLS], rtol=1e-5)
    data = untied.drop(columns="w")
    for kind in ("martingale", "deviance"):
        theirs = cph.compute_residuals(data, kind)
        np.testing.assert_allclose(fit.residuals(kind).loc[theirs.index], theirs[kind], atol=1e-6)
    # (lifelines' own "score" residuals are on another scale; the robust covariance built
    # from ours matches theirs above, and ours are checked against R's closed forms and as
    # d(score)/d(w_i) by autodiff below)


def test_case_weights_match_lifelines(untied, rossi):
    from lifelines import CoxPHFitter

    # R's semantics (Efron with the group's mean weight) = lifelines', ties included
    data = rossi.assign(w=untied["w"].to_numpy())
    fit = lk.coxph(data, duration="week", event="arrest", formula=FORMULA, weights="w")
    cph = CoxPHFitter().fit(data, "week", "arrest", weights_col="w")
    np.testing.assert_allclose(fit.params[COLS], cph.params_[COLS], rtol=1e-6)
    np.testing.assert_allclose(fit.se[COLS], cph.standard_errors_[COLS], rtol=1e-6)
    # robust with weights: lifelines agrees where there are no ties
    fit = lk.coxph(
        untied, duration="week", event="arrest", formula=FORMULA, weights="w", cov_type="robust"
    )
    cph = CoxPHFitter().fit(untied, "week", "arrest", weights_col="w", robust=True)
    np.testing.assert_allclose(fit.se[COLS], cph.standard_errors_[COLS], rtol=1e-5)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_strata_and_entry_match_statsmodels(rossi, ties):
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(3)
    data = rossi.copy()
    # entry times between the integer event times: PHReg counts a subject entering at an
    # event time as at risk there, R (and likely) do not (entry < t <= exit)
    data["t0"] = np.floor(rng.uniform(0, 0.9, len(data)) * data["week"]) + 0.5
    data.loc[data["t0"] >= data["week"], "t0"] = 0.0
    data["s"] = rng.integers(0, 3, len(data))
    fit = lk.coxph(
        data, duration="week", event="arrest", formula=FORMULA, strata="s", entry="t0", ties=ties
    )
    sm = PHReg(
        data["week"],
        data[COLS],
        status=data["arrest"],
        entry=data["t0"],
        strata=data["s"],
        ties=ties,
    ).fit()
    np.testing.assert_allclose(fit.params[COLS], sm.params, rtol=1e-6)
    np.testing.assert_allclose(fit.se[COLS], sm.bse, rtol=1e-6)
    assert fit.loglik == pytest.approx(sm.llf, rel=1e-10)


def test_baseline_matches_statsmodels(rossi):
    from statsmodels.duration.hazard_regression import PHReg

    fit = lk.coxph(rossi, duration="week", event="arrest", formula=FORMULA, ties="breslow")
    sm = PHReg(rossi["week"], rossi[COLS], status=rossi["arrest"], ties="breslow").fit()
    times, cumhaz, _ = sm.baseline_cumulative_hazard[0]
    ours = fit.baseline_survival(centered=False)
    # statsmodels reports the left limit: its value at an event time excludes that jump
    np.testing.assert_allclose(ours["cumhaz"].to_numpy()[:-1], cumhaz[1:], rtol=1e-6)
    np.testing.assert_array_equal(ours.index.to_numpy(), times)


# ------------------------------------------------------------- R's documented examples
def test_r_help_examples_strata_and_counting_process():
    # ?coxph: coxph(Surv(time, status) ~ x + strata(sex), test1): coef 0.8023 se 0.8224,
    # Likelihood ratio test=1.09
    test1 = pd.DataFrame(
        {
            "time": [4, 3, 1, 1, 2, 2, 3],
            "status": [1, 1, 1, 0, 1, 1, 0],
            "x": [0, 2, 1, 1, 1, 0, 0],
            "sex": [0, 0, 0, 0, 1, 1, 1],
        }
    )
    fit = lk.coxph(test1, duration="time", event="status", formula="x", strata="sex")
    assert fit.params["x"] == pytest.approx(0.8023, abs=5e-5)
    assert fit.se["x"] == pytest.approx(0.8224, abs=5e-5)
    assert fit.model_tests()["statistic"].iloc[0] == pytest.approx(1.09, abs=5e-3)
    # summary(coxph(Surv(start, stop, event) ~ x, test2)): coef -0.02111 se 0.79518,
    # Concordance= 0.526
    test2 = pd.DataFrame(
        {
            "start": [1, 2, 5, 2, 1, 7, 3, 4, 8, 8],
            "stop": [2, 3, 6, 7, 8, 9, 9, 9, 14, 17],
            "event": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
            "x": [1, 0, 0, 1, 0, 1, 1, 1, 0, 0],
        }
    )
    fit = lk.coxph(test2, duration="stop", event="event", formula="x", entry="start")
    assert fit.params["x"] == pytest.approx(-0.02111, abs=5e-6)
    assert fit.se["x"] == pytest.approx(0.79518, abs=5e-6)
    assert fit.concordance == pytest.approx(0.526, abs=5e-4)


@pytest.fixture(scope="module")
def ovarian() -> pd.DataFrame:
    # survival::ovarian (futime, fustat, age, resid.ds, rx, ecog.ps), 26 rows
    rows = """59 1 72.3315 2 1 1|115 1 74.4932 2 1 1|156 1 66.4658 2 1 2|421 0 53.3644 2 2 1|
    431 1 50.3397 2 1 1|448 0 56.4301 1 1 2|464 1 56.9370 2 2 2|475 1 59.8548 2 2 2|
    477 0 64.1753 2 1 1|563 1 55.1781 1 2 2|638 1 56.7562 1 1 2|744 0 50.1096 1 2 1|
    769 0 59.6301 2 2 2|770 0 57.0521 2 2 1|803 0 39.2712 1 1 1|855 0 43.1233 1 1 2|
    1040 0 38.8932 2 1 2|1106 0 44.6000 1 1 1|1129 0 53.9068 1 2 1|1206 0 44.2055 2 2 1|
    1227 0 59.5890 1 2 2|268 1 74.5041 2 1 2|329 1 43.1370 2 1 1|353 1 63.2192 1 2 2|
    365 1 64.4247 2 2 1|377 0 58.3096 1 2 1"""
    data = [list(map(float, r.split())) for r in rows.replace("\n", "").split("|")]
    return pd.DataFrame(data, columns=["futime", "fustat", "age", "resid_ds", "rx", "ecog_ps"])


def test_ovarian_loglik_sequence_and_zph_match_r(ovarian):
    # ?anova.coxph: loglik NULL -34.985, resid.ds -33.105, rx -32.269, ecog.ps -31.970,
    # resid.ds:rx -30.946
    formulas = ["resid_ds", "resid_ds + rx", "resid_ds + rx + ecog_ps", "resid_ds * rx + ecog_ps"]
    expect = [-33.105, -32.269, -31.970, -30.946]
    for f, ll in zip(formulas, expect):
        fit = lk.coxph(ovarian, duration="futime", event="fustat", formula=f)
        assert fit.loglik == pytest.approx(ll, abs=5e-4)
        assert fit.loglik_null == pytest.approx(-34.985, abs=5e-4)
    # ?cox.zph: cox.zph(coxph(Surv(futime, fustat) ~ age + ecog.ps, ovarian)):
    # age 0.698, ecog.ps 2.371, GLOBAL 3.633
    fit = lk.coxph(ovarian, duration="futime", event="fustat", formula="age + ecog_ps")
    table = fit.zph()
    np.testing.assert_allclose(table["chisq"], [0.698, 2.371, 3.633], atol=5e-4)
    np.testing.assert_array_equal(table["df"], [1, 1, 2])


# ------------------------------------------------------ Therneau & Grambsch closed forms
TEST1 = pd.DataFrame(
    {"time": [9, 1, 1, 6, 6, 8], "status": [1, 1, 0, 1, 1, 0], "x": [0, 1, 1, 1, 0, 0]}
)  # book1.R's test1 without its NA row
ORDER = [1, 2, 3, 4, 5, 0]  # book1.R's rows in time order


def _breslow_truth(beta):
    r = math.exp(beta)
    haz = np.array([1 / (3 * r + 3), 2 / (r + 3), 0, 1])
    xbar = np.array([r / (r + 1), r / (r + 3), 0, 0])
    imat = r / (r + 1) ** 2 + 6 * r / (r + 3) ** 2
    wt = np.array([r, r, r, 1, 1, 1])
    mart = np.array([1, 0, 1, 1, 0, 1]) - wt * np.cumsum(haz)[[0, 0, 1, 1, 2, 3]]
    a, b = 3 * (r + 1) ** 2, (r + 3) ** 2
    score = [
        (2 * r + 3) / a,
        -r / a,
        -r / a + 3 * (3 - r) / b,
        r / a - r * (r + 1) / b,
        r / a + 2 * r / b,
        r / a + 2 * r / b,
    ]
    scho = [1 / (r + 1), 1 - r / (3 + r), -r / (3 + r), 0]
    var = (
        np.cumsum(np.array([1 / (3 * r + 3) ** 2, 2 / (r + 3) ** 2, 0, 1]))
        + np.cumsum(-xbar * haz) ** 2 / imat
    )
    return dict(
        loglik=2 * beta - (math.log(3 * r + 3) + 2 * math.log(r + 3)),
        imat=imat,
        mart=mart,
        score=score,
        scho=scho,
        cumhaz=np.cumsum(haz)[[0, 1, 3]],
        var=var[[0, 1, 3]],
    )


def _efron_truth(beta):
    r = math.exp(beta)
    wtmat = np.array(
        [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0.5, 0.5, 1, 1], [0, 0, 0, 0, 0, 1]],
        dtype=float,
    ).T
    wtmat = np.diag([r, r, r, 1, 1, 1]) @ wtmat
    x = np.array([1, 1, 1, 0, 0, 0])
    xbar = (wtmat * x[:, None]).sum(0) / wtmat.sum(0)
    haz = 1 / wtmat.sum(0)
    mart = np.array([1, 0, 1, 1, 0, 1]) - (wtmat * haz).sum(1)
    a, b, d = r + 1, r + 3, r + 5
    score = [
        (2 * r + 3) / (3 * a**2),
        -r / (3 * a**2),
        (675 + r * (1305 + r * (756 + r * (-4 + r * (-79 - 13 * r))))) / (3 * (a * b * d) ** 2),
        r * (1 / (3 * a**2) - a / (2 * b**2) - b / (2 * d**2)),
        2 * r * (177 + r * (282 + r * (182 + r * (50 + 5 * r)))) / (3 * (a * b * d) ** 2),
        2 * r * (177 + r * (282 + r * (182 + r * (50 + 5 * r)))) / (3 * (a * b * d) ** 2),
    ]
    dd = xbar[1:3].mean()
    tf = lambda v: v - v**2  # noqa: E731
    imat = tf(r / (r + 1)) + tf(r / (r + 5)) + tf(r / (r + 3))
    var = np.cumsum(haz**2) + np.cumsum(-xbar * haz) ** 2 / imat
    return dict(
        loglik=2 * beta - (math.log(3 * r + 3) + math.log((r + 5) / 2) + math.log(r + 3)),
        imat=imat,
        mart=mart,
        score=score,
        scho=[1 / (r + 1), 1 - dd, -dd, 0],
        cumhaz=np.cumsum(haz)[[0, 2, 3]],
        var=var[[0, 2, 3]],
    )


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_therneau_grambsch_closed_forms(ties):
    fit = lk.coxph(TEST1, duration="time", event="status", formula="x", ties=ties)
    truth_beta = (
        math.log((3 + math.sqrt(33)) / 2)
        if ties == "breslow"
        else math.log(
            math.cos(math.acos((45 / 23) * math.sqrt(3 / 23)) / 3) * 2 * math.sqrt(23 / 3)
        )
    )
    assert fit.params["x"] == pytest.approx(truth_beta, rel=1e-10)
    truth = (_breslow_truth if ties == "breslow" else _efron_truth)(truth_beta)
    null = (_breslow_truth if ties == "breslow" else _efron_truth)(0.0)
    assert fit.loglik == pytest.approx(truth["loglik"], rel=1e-12)
    assert fit.loglik_null == pytest.approx(null["loglik"], rel=1e-12)
    assert fit.se["x"] == pytest.approx(1 / math.sqrt(truth["imat"]), rel=1e-10)
    np.testing.assert_allclose(
        fit.residuals("martingale").to_numpy()[ORDER], truth["mart"], atol=1e-12
    )
    np.testing.assert_allclose(
        fit.residuals("score").to_numpy()[ORDER, 0], truth["score"], atol=1e-12
    )
    np.testing.assert_allclose(fit.residuals("schoenfeld")["x"], truth["scho"], atol=1e-12)
    base = fit.baseline_survival(centered=False)  # survfit(fit, list(x=0))
    np.testing.assert_allclose(base["cumhaz"], truth["cumhaz"], rtol=1e-9)
    np.testing.assert_allclose(base["se"] ** 2, truth["var"], rtol=1e-10)


def test_zph_closed_forms():
    # survival's tests/zph.R: the score test for beta(t) = beta + gamma g(t)
    g = np.array([1.0, 6.0, 6.0, 9.0])

    def sctest(U, imat, gv):
        u2 = np.array([U.sum(), (gv * U).sum()])
        i2 = np.array([[imat.sum(), (gv * imat).sum()], [(gv * imat).sum(), (gv**2 * imat).sum()]])
        return float(u2 @ np.linalg.solve(i2, u2))

    r = (3 + math.sqrt(33)) / 2
    U = np.array([1 / (r + 1), 3 / (r + 3), -r / (r + 3), 0])
    imat = np.array([r / (r + 1) ** 2, 3 * r / (r + 3) ** 2, 3 * r / (r + 3) ** 2, 0])
    fit = lk.coxph(TEST1, duration="time", event="status", formula="x", ties="breslow")
    assert fit.zph("identity")["chisq"].iloc[0] == pytest.approx(sctest(U, imat, g), rel=1e-10)
    g3 = np.log(g) - np.log(g).mean()
    assert fit.zph("log")["chisq"].iloc[0] == pytest.approx(sctest(U, imat, g3), rel=1e-10)
    phi = math.acos((45 / 23) * math.sqrt(3 / 23))
    r = 2 * math.sqrt(23 / 3) * math.cos(phi / 3)
    U = np.array([1 / (r + 1), 3 / (r + 3), -r / (r + 5), 0])
    imat = np.array([r / (r + 1) ** 2, 3 * r / (r + 3) ** 2, 5 * r / (r + 5) ** 2, 0])
    fit = lk.coxph(TEST1, duration="time", event="status", formula="x")
    expect = sctest(U, imat, g3)
    assert fit.zph("log")["chisq"].iloc[0] == pytest.approx(expect, rel=1e-10)
    # artificial strata double the statistic (entry 0 exercises the counting-process path)
    doubled = pd.concat([TEST1.assign(grp="a"), TEST1.assign(grp="b")], ignore_index=True)
    fit = lk.coxph(
        doubled.assign(t0=0.0),
        duration="time",
        event="status",
        formula="x",
        strata="grp",
        entry="t0",
    )
    assert fit.zph("log")["chisq"].iloc[0] == pytest.approx(2 * expect, rel=1e-10)


# --------------------------------------------------------------------- exact ties
def _brute_exact(beta, X, t, d):
    eta = X @ beta
    ll = 0.0
    for tau in np.unique(t[d]):
        D = np.flatnonzero((t == tau) & d)
        R = np.flatnonzero(t >= tau)
        total = sum(math.exp(eta[list(S)].sum()) for S in itertools.combinations(R, len(D)))
        ll += eta[D].sum() - math.log(total)
    return ll


def test_exact_ties_match_brute_force_enumeration():
    from scipy.optimize import minimize

    rng = np.random.default_rng(11)
    n = 14
    X = rng.normal(size=(n, 2))
    t = rng.integers(1, 5, n).astype(float)
    d = rng.uniform(size=n) < 0.7
    df = pd.DataFrame({"t": t, "d": d.astype(int), "x0": X[:, 0], "x1": X[:, 1]})
    fit = lk.coxph(df, duration="t", event="d", ties="exact")
    best = minimize(
        lambda b: -_brute_exact(b, X, t, d), np.zeros(2), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(fit.params, best.x, atol=1e-6)
    assert fit.loglik == pytest.approx(-best.fun, rel=1e-12)
    assert fit.loglik_null == pytest.approx(_brute_exact(np.zeros(2), X, t, d), rel=1e-12)

    # the observed information is the Hessian of the enumerated likelihood (by autodiff)
    def brute_jax(b):
        eta = jnp.asarray(X) @ b
        ll = 0.0
        for tau in np.unique(t[d]):
            D = np.flatnonzero((t == tau) & d)
            R = np.flatnonzero(t >= tau)
            subsets = np.array(list(itertools.combinations(R, len(D))))
            ll = ll + eta[D].sum() - jax.scipy.special.logsumexp(eta[subsets].sum(axis=1))
        return ll

    H = np.asarray(jax.jit(jax.hessian(brute_jax))(jnp.asarray(fit.params.to_numpy())))
    np.testing.assert_allclose(fit.cov.to_numpy(), np.linalg.inv(-H), rtol=1e-8)


# ------------------------------------------------- the kernel against a dense reference
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_kernel_derivatives_and_score_residuals_by_autodiff(ties):
    rng = np.random.default_rng(5)
    n = 60
    X = rng.normal(size=(n, 3))
    t = rng.integers(1, 12, n).astype(float)
    d = rng.uniform(size=n) < 0.7
    s = rng.integers(0, 2, n)
    t0 = np.where(rng.uniform(size=n) < 0.5, t - rng.integers(1, 6, n) - 0.5, -1.0)
    w = rng.uniform(0.5, 2.0, n)
    df = pd.DataFrame(
        {
            "t": t,
            "d": d.astype(int),
            "s": s,
            "t0": t0,
            "w": w,
            "a": X[:, 0],
            "b": X[:, 1],
            "c": X[:, 2],
        }
    )
    fit = lk.coxph(
        df,
        duration="t",
        event="d",
        formula="a + b + c",
        strata="s",
        entry="t0",
        weights="w",
        ties=ties,
    )
    model = CoxModel(("a", "b", "c"), ties)
    beta = jnp.asarray(fit.params.to_numpy())

    data = {"X": X, "time": t, "event": d, "weights": w, "strata": s, "entry": t0}

    def loglik(b):
        return jnp.sum(jnp.asarray(w) * model.logpdf({"beta": b}, data))

    assert fit.loglik == pytest.approx(float(loglik(beta)), rel=1e-12)
    H = np.asarray(jax.jit(jax.hessian(loglik))(beta))
    np.testing.assert_allclose(fit.information().to_numpy(), -H, rtol=1e-10)

    # score residuals = d(score)/d(w_i): autodiff through the weights of the reference
    def score(ww):
        return jax.grad(lambda b: _weighted_ll(model, b, ww, X, t, d, s, t0))(beta)

    score_w = jax.jit(jax.jacfwd(score))(jnp.asarray(w))
    np.testing.assert_allclose(fit.residuals("score").to_numpy(), np.asarray(score_w).T, atol=1e-10)


def _weighted_ll(model, b, ww, X, t, d, s, t0):
    """The weighted partial likelihood with the weights as a traced argument (risk sets
    and Efron's mean weights depend on them), dense over (group, row)."""
    keys = sorted({(s[i], t[i]) for i in np.flatnonzero(d)})
    gs = np.array([k[0] for k in keys])
    gt = np.array([k[1] for k in keys])
    risk = (s == gs[:, None]) & (t0 < gt[:, None]) & (t >= gt[:, None])
    dies = risk & d & (t == gt[:, None])
    m = dies.sum(axis=1)
    k = np.arange(m.max())
    frac = np.where(k < m[:, None], k / m[:, None], 0.0) if model.ties == "efron" else 0.0 * k
    valid = k < m[:, None]
    eta = jnp.asarray(X) @ b
    r = ww * jnp.exp(eta)
    S0 = jnp.asarray(risk, float) @ r
    D0 = jnp.asarray(dies, float) @ r
    mw = (jnp.asarray(dies, float) @ ww) / m
    logs = jnp.where(valid, jnp.log(S0[:, None] - frac * D0[:, None]), 0.0)
    return jnp.sum(jnp.where(jnp.asarray(d), ww * eta, 0.0)) - jnp.sum(mw * logs.sum(axis=1))


# --------------------------------------------------------------------- API and results
def test_results_api(efron, rossi):
    hr = efron.hazard_ratios(method="profile")
    ci = efron.conf_int(method="profile")
    np.testing.assert_allclose(hr["lower"], np.exp(ci["lower"]))
    t = efron.transform(lambda p: jnp.exp(p["beta"]), names=COLS)
    np.testing.assert_allclose(t.se, np.exp(efron.params) * efron.se, rtol=1e-10)
    text = str(efron.summary())
    assert "Concordance" in text and "exp(coef)" in text and "Score (log-rank)" in text
    small = lk.coxph(rossi, duration="week", event="arrest", formula="fin + age + prio")
    lr = efron.lr_test(small)
    assert lr.df == 4 and lr.statistic == pytest.approx(2 * (efron.loglik - small.loglik))
    assert efron.bic == pytest.approx(7 * math.log(114) - 2 * efron.loglik)
    # default covariates: every other column; polars input; arrays
    assert np.allclose(lk.coxph(rossi, duration="week", event="arrest").params, efron.params)
    import polars as pl

    assert np.allclose(
        lk.coxph(pl.from_pandas(rossi), duration="week", event="arrest", formula=FORMULA).params,
        efron.params,
    )
    arr = lk.coxph(
        duration=rossi["week"].to_numpy(),
        event=rossi["arrest"].to_numpy(),
        X=rossi[COLS].to_numpy(),
    )
    np.testing.assert_allclose(arr.params.to_numpy(), efron.params.to_numpy(), rtol=1e-12)


def test_monotone_likelihood_is_flagged_as_r_does(rossi):
    """z = -week orders every event first in its risk set: the partial likelihood increases
    in beta_z without bound. R's coxph warns 'Loglik converged before variable 2;
    coefficient may be infinite'; so must we, naming the column, and not on Rossi itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", lk.InferenceWarning)
        lk.coxph(rossi, duration="week", event="arrest", formula=FORMULA)
    with pytest.warns(lk.InferenceWarning, match=r"coefficient\(s\) 'z'.*infinite"):
        lk.coxph(rossi.assign(z=-rossi.week), duration="week", event="arrest", formula="fin + z")


def test_robust_and_cluster(rossi, efron):
    robust = efron.with_cov("robust")
    singletons = lk.coxph(
        rossi.assign(id=np.arange(len(rossi))),
        duration="week",
        event="arrest",
        formula=FORMULA,
        cluster="id",
    )
    np.testing.assert_allclose(singletons.se, robust.se, rtol=1e-12)
    assert singletons.cov_type == "cluster"
    # dfbeta residuals: the robust covariance is their cross-product
    D = efron.residuals("dfbeta").to_numpy()
    np.testing.assert_allclose(D.T @ D, robust.cov.to_numpy(), rtol=1e-10)
    # the score residuals sum to the score, zero at the estimate
    assert np.abs(efron.residuals("score").sum()).max() < 1e-8


def test_survival_predictions_and_plot(efron, rossi):
    new = rossi.iloc[:3]
    pred = efron.predict_survival(new, times=[5, 20, 52])
    assert pred.survival.shape == (3, 3)
    assert np.all(np.diff(pred.survival.to_numpy(), axis=0) <= 0)
    assert np.all(pred.lower.to_numpy() <= pred.survival.to_numpy())
    assert np.all(pred.survival.to_numpy() <= pred.upper.to_numpy())
    # log bands, exactly: S exp(-+ z se)
    np.testing.assert_allclose(pred.lower, pred.survival * np.exp(-1.959963984540054 * pred.se))
    base = efron.baseline_survival()
    at_mean = efron.predict_survival(pd.DataFrame([rossi[COLS].mean()]), times=base.index)
    np.testing.assert_allclose(at_mean.survival.iloc[:, 0], base["survival"], rtol=1e-12)
    import matplotlib

    matplotlib.use("Agg")
    ax = efron.plot_survival(new)
    assert len(ax.lines) == 3
    strat = lk.coxph(rossi, duration="week", event="arrest", formula="age + prio", strata="fin")
    assert len(strat.plot_survival().lines) == 2
    with pytest.raises(lk.DataError, match="strata"):
        strat.predict_survival(rossi[["age", "prio"]])


# ------------------------------------------------------------------------- bad input
def test_bad_input_is_named(rossi):
    def fit(data, **kw):
        opts = dict(duration="week", event="arrest", formula="fin + age")
        opts.update(kw)
        return lk.coxph(data, **opts)

    with pytest.raises(lk.DataError, match=r"durations must be >= 0.*index \[3\]"):
        fit(rossi.assign(week=rossi["week"].where(rossi.index != 3, -1)))
    with pytest.raises(lk.DataError, match=r"missing values in \['week'\]"):
        fit(rossi.assign(week=rossi["week"].where(rossi.index != 5, np.nan)))
    with pytest.raises(lk.DataError, match=r"0 \(censored\) or 1.*index \[2\]"):
        fit(rossi.assign(arrest=rossi["arrest"].where(rossi.index != 2, 2)))
    with pytest.raises(lk.DataError, match=r"entry times must be < exit.*index \[0\]"):
        fit(rossi.assign(t0=np.where(rossi.index == 0, 100.0, 0.0)), entry="t0")
    with pytest.raises(lk.DataError, match=r"\['const'\] have no variation"):
        fit(rossi.assign(const=1.0), formula="fin + const")
    with pytest.raises(lk.DataError, match="no events"):
        fit(rossi.assign(arrest=0))
    with pytest.raises(lk.DataError, match="collinear covariates"):
        fit(rossi.assign(age2=2 * rossi["age"] + 1), formula="fin + age + age2")
    with pytest.raises(lk.DataError, match="weights must be > 0"):
        fit(rossi.assign(w=0.0), weights="w")
    with pytest.raises(lk.DataError, match="not columns of the data"):
        fit(rossi, formula="fin + nope")
    with pytest.raises(lk.ModelError, match="ties"):
        fit(rossi, ties="average")
    with pytest.raises(lk.ModelError, match="right-hand side"):
        fit(rossi, formula="week ~ fin")
    with pytest.raises(lk.ModelError, match="exact"):
        fit(rossi.assign(w=2.0), weights="w", ties="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dropped = fit(
            rossi.assign(age=rossi["age"].where(rossi.index != 4, np.nan)), missing="drop"
        )
    assert dropped.n == len(rossi) - 1
