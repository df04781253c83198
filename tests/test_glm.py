"""GLMs against statsmodels on statsmodels' own datasets (loaded offline), and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import likely as lk


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(scope="module")
def spector() -> pd.DataFrame:
    return sm.datasets.spector.load_pandas().data


@pytest.fixture(scope="module")
def spector_X(spector) -> pd.DataFrame:
    return sm.add_constant(spector[["GPA", "TUCE", "PSI"]])


@pytest.fixture(scope="module")
def randhie():
    d = sm.datasets.randhie.load_pandas().data
    cols = ["lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp"]
    return d.mdvis, sm.add_constant(d[cols])


@pytest.fixture(scope="module")
def scotland():
    d = sm.datasets.scotland.load_pandas()
    return d.endog, sm.add_constant(d.exog)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_spector_logit_probit_match_statsmodels(spector, spector_X, link):
    """Reference: statsmodels Logit / Probit (observed-information standard errors)."""
    f = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial", link=link)
    peer = (sm.Logit if link == "logit" else sm.Probit)(spector.GRADE, spector_X).fit(disp=0)
    assert list(f.coef.index) == ["Intercept", "GPA", "TUCE", "PSI"]
    assert rel(f.coef, peer.params) < 1e-6
    assert rel(f.se, peer.bse) < 1e-5
    assert f.loglik == pytest.approx(peer.llf, rel=1e-10)
    assert f.aic == pytest.approx(peer.aic, rel=1e-10)
    assert f.bic == pytest.approx(peer.bic, rel=1e-10)
    arrays = lk.glm(y=spector.GRADE, X=spector_X, family=lk.Bernoulli(), link=link)
    assert rel(arrays.params, f.params) < 1e-10


def test_randhie_poisson_and_negative_binomial(randhie):
    """Reference: statsmodels Poisson and NegativeBinomial (NB2), converged tightly."""
    y, X = randhie
    f = lk.glm(y=y, X=X, family="poisson")
    peer = sm.Poisson(y, X).fit(disp=0)
    assert rel(f.coef, peer.params) < 1e-6 and rel(f.se, peer.bse) < 1e-5
    assert f.loglik == pytest.approx(peer.llf, rel=1e-10)
    nb = lk.glm(y=y, X=X, family="negative_binomial")
    peer = sm.NegativeBinomial(y, X).fit(disp=0, method="newton", maxiter=300, tol=1e-14)
    assert rel(nb.params, peer.params) < 1e-6  # coefficients, then alpha last in both
    assert rel(nb.se, peer.bse) < 1e-5
    assert nb.loglik == pytest.approx(peer.llf, rel=1e-10)


def test_star98_binomial_counts():
    """Reference: statsmodels GLM Binomial with (successes, failures)."""
    d = sm.datasets.star98.load_pandas().data
    succ, tot = d["NABOVE"], d["NABOVE"] + d["NBELOW"]
    X = sm.add_constant(d.iloc[:, 2:])
    f = lk.glm(y=succ, X=X, family="binomial", trials=tot)
    peer = sm.GLM(np.column_stack([succ, tot - succ]), X, family=sm.families.Binomial()).fit()
    assert rel(f.coef, peer.params) < 1e-6 and rel(f.se, peer.bse) < 1e-5
    assert f.loglik == pytest.approx(peer.llf, rel=1e-10)


def test_scotland_gamma_both_dispersion_conventions(scotland):
    """Reference: statsmodels GLM Gamma (inverse link; Pearson dispersion), and the closed-form
    profile equation of the shape MLE, log(nu) - digamma(nu) = mean(y/mu - log(y/mu) - 1)."""
    from scipy.optimize import brentq
    from scipy.special import digamma

    y, X = scotland
    peer = sm.GLM(y, X, family=sm.families.Gamma()).fit()
    pearson = lk.glm(y=y, X=X, family="gamma", dispersion="pearson")
    assert rel(pearson.coef, peer.params) < 1e-6
    assert rel(pearson.se[pearson.coef.index], peer.bse) < 1e-5
    full = lk.glm(y=y, X=X, family="gamma")
    assert rel(full.coef, peer.params) < 1e-6
    mu = peer.mu
    target = float(np.mean(y / mu - np.log(y / mu) - 1))
    nu = brentq(lambda v: np.log(v) - digamma(v) - target, 1e-3, 1e6, xtol=1e-14)
    assert full.params["shape"] == pytest.approx(nu, rel=1e-7)
    # with the MLE dispersion 1/nu the coefficient se scale by sqrt((1/nu) / phi_pearson)
    factor = np.sqrt((1 / nu) / peer.scale)
    assert rel(full.se[full.coef.index], peer.bse * factor) < 1e-5
    log_link = lk.glm(y=y, X=X, family="gamma", link="log", dispersion="pearson")
    peer_log = sm.GLM(y, X, family=sm.families.Gamma(sm.families.links.Log())).fit()
    assert rel(log_link.coef, peer_log.params) < 1e-6
    assert rel(log_link.se[log_link.coef.index], peer_log.bse) < 1e-5


def test_gaussian_is_least_squares(scotland):
    """Reference: statsmodels OLS. The MLE se use RSS/n, the Pearson convention RSS/(n-p)."""
    y, X = scotland
    ols = sm.OLS(y, X).fit()
    f = lk.glm(y=y, X=X)
    assert f.method == "closed form"
    n, p = X.shape
    assert rel(f.coef, ols.params) < 1e-9
    assert rel(f.se[f.coef.index], ols.bse * np.sqrt((n - p) / n)) < 1e-8
    assert f.params["sigma"] == pytest.approx(np.sqrt(ols.ssr / n), rel=1e-10)
    assert f.loglik == pytest.approx(ols.llf, rel=1e-12)
    pearson = lk.glm(y=y, X=X, dispersion="pearson")
    assert rel(pearson.se[pearson.coef.index], ols.bse) < 1e-8
    for hc in ("HC1", "HC2", "HC3"):
        robust = lk.glm(y=y, X=X, cov_type=hc)
        peer = sm.OLS(y, X).fit(cov_type=hc)
        assert rel(robust.se[robust.coef.index], peer.bse) < 1e-6


def test_anes96_multinomial_matches_mnlogit():
    """Reference: statsmodels MNLogit (softmax cross-entropy)."""
    d = sm.datasets.anes96.load_pandas().data
    X = sm.add_constant(d[["logpopul", "selfLR", "age", "educ", "income"]])
    f = lk.glm(y=d.PID, X=X, family="multinomial")
    peer = sm.MNLogit(d.PID, X).fit(disp=0)
    assert rel(f.values["beta"], peer.params.to_numpy()) < 1e-6
    assert rel(f.se.to_numpy().reshape(6, 6), peer.bse.to_numpy()) < 1e-5
    assert f.loglik == pytest.approx(peer.llf, rel=1e-10)
    probs = f.predict()
    assert np.allclose(probs.to_numpy(), peer.predict(), atol=1e-8)


def test_robust_and_cluster_match_statsmodels(spector, spector_X):
    """Reference: statsmodels GLM Binomial with cov_type HC0 and cluster. HC1 is HC0 times
    n/(n-k) (MacKinnon & White 1985; R sandwich::vcovHC type "HC1"): statsmodels' GLM
    returns HC0 for "HC1", so the factor is applied to its HC0 here."""
    groups = np.arange(len(spector)) % 8
    hc0 = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial", cov_type="HC0")
    peer = sm.GLM(spector.GRADE, spector_X, family=sm.families.Binomial()).fit(cov_type="HC0")
    assert rel(hc0.se, peer.bse) < 1e-5
    hc1 = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial", cov_type="HC1")
    n, k = len(spector), 4
    assert rel(hc1.se, peer.bse * np.sqrt(n / (n - k))) < 1e-5
    f = lk.glm(y=spector.GRADE, X=spector_X, family="binomial", cov_type="cluster", groups=groups)
    peer = sm.GLM(spector.GRADE, spector_X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert rel(f.se, peer.bse) < 1e-5


def test_exposure_offset_weights(randhie):
    """Reference: statsmodels GLM Poisson with exposure and frequency weights."""
    y, X = randhie
    rng = np.random.default_rng(0)
    expo = rng.uniform(0.5, 2.0, len(y))
    f = lk.glm(y=y, X=X, family="poisson", exposure=expo)
    peer = sm.GLM(y, X, family=sm.families.Poisson(), exposure=expo).fit()
    assert rel(f.coef, peer.params) < 1e-6 and rel(f.se, peer.bse) < 1e-5
    g = lk.glm(y=y, X=X, family="poisson", offset=np.log(expo))
    assert rel(g.coef, f.coef) < 1e-12
    w = rng.integers(1, 3, len(y)).astype(float)
    fw = lk.glm(y=y, X=X, family="poisson", weights=w)
    peer = sm.GLM(y, X, family=sm.families.Poisson(), freq_weights=w).fit()
    assert rel(fw.coef, peer.params) < 1e-6 and rel(fw.se, peer.bse) < 1e-5


def test_predict_and_marginal_effects(spector, spector_X):
    """Reference: statsmodels GLM get_prediction and Logit get_margeff (overall, dydx)."""
    f = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial")
    new = spector.iloc[:5]
    pred = f.predict(new, interval=0.95)
    peer = sm.GLM(spector.GRADE, spector_X, family=sm.families.Binomial()).fit(tol=1e-14)
    frame = peer.get_prediction(spector_X.iloc[:5]).summary_frame(alpha=0.05)
    assert np.allclose(pred["mean"], frame["mean"], rtol=1e-7)
    assert np.allclose(pred["se"], frame["mean_se"], rtol=1e-5)
    assert np.allclose(pred["lower"], frame["mean_ci_lower"], rtol=1e-5)
    assert np.allclose(pred["upper"], frame["mean_ci_upper"], rtol=1e-5)
    me = f.marginal_effects()
    peer_me = sm.Logit(spector.GRADE, spector_X).fit(disp=0).get_margeff()
    assert list(me.index) == ["GPA", "TUCE", "PSI"]
    assert rel(me["effect"], peer_me.margeff) < 1e-6
    assert rel(me["se"], peer_me.margeff_se) < 1e-5


def test_lr_test_of_nested_glms(spector):
    """Reference: 2 (llf_full - llf_restricted) from statsmodels fits."""
    full = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial")
    small = lk.glm("GRADE ~ GPA", data=spector, family="binomial")
    test = full.lr_test(small)
    peer_full = sm.Logit.from_formula("GRADE ~ GPA + TUCE + PSI", spector).fit(disp=0)
    peer_small = sm.Logit.from_formula("GRADE ~ GPA", spector).fit(disp=0)
    assert test.df == 2
    assert test.statistic == pytest.approx(2 * (peer_full.llf - peer_small.llf), rel=1e-9)


def test_laplace_family_is_median_regression(scotland):
    """Reference: statsmodels QuantReg at q = 0.5 (least absolute deviations)."""
    y, X = scotland
    f = lk.glm(y=y, X=X, family="laplace")
    peer = sm.QuantReg(y, X).fit(q=0.5)
    loss = lambda b: np.sum(np.abs(y - X @ b))  # noqa: E731
    assert loss(f.coef.to_numpy()) <= loss(peer.params.to_numpy()) * (1 + 1e-9)
    assert f.params["scale"] == pytest.approx(loss(f.coef.to_numpy()) / len(y), rel=1e-9)
    assert f.cov_type == "expected" and np.all(np.isfinite(f.se))


def test_ridge_map_matches_sklearn(spector):
    """Reference: scikit-learn LogisticRegression(C): a Normal(0, sqrt(C)) prior on the slopes."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    X = spector[["GPA", "TUCE", "PSI"]].to_numpy()
    y = spector.GRADE.to_numpy()
    C = 0.5
    sk = sklearn.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    f = lk.glm(
        "GRADE ~ GPA + TUCE + PSI",
        data=spector,
        family="binomial",
        prior=lk.priors.Normal(0, np.sqrt(C)),
    )
    assert f.is_map
    assert rel(f.coef.iloc[1:], sk.coef_[0]) < 1e-5
    assert f.coef.iloc[0] == pytest.approx(sk.intercept_[0], rel=1e-5)


def test_polars_input(spector):
    pl = pytest.importorskip("polars")
    f = lk.glm("GRADE ~ GPA + PSI", data=pl.from_pandas(spector), family="binomial")
    g = lk.glm("GRADE ~ GPA + PSI", data=spector, family="binomial")
    assert rel(f.params, g.params) < 1e-12


# --------------------------------------------------------------------------- bad input


def test_bad_glm_input_is_named(spector):
    df = spector.copy()
    df["GPA2"] = df["GPA"]
    with pytest.raises(lk.DataError, match=r"collinear.*GPA"):
        lk.glm("GRADE ~ GPA + GPA2", data=df, family="binomial")
    df["const"] = 3.0
    with pytest.raises(lk.DataError, match=r"collinear.*const"):
        lk.glm("GRADE ~ GPA + const", data=df, family="binomial")
    df["sep"] = df["GRADE"] * 10.0
    with pytest.raises(lk.DataError, match=r"perfect separation.*'sep'"):
        lk.glm("GRADE ~ GPA + sep", data=df, family="binomial")
    bad = spector.copy()
    bad.loc[3, "GRADE"] = 2
    with pytest.raises(lk.DataError, match=r"row 3 is 2"):
        lk.glm("GRADE ~ GPA", data=bad, family="binomial")
    neg = spector.copy()
    neg.loc[5, "GRADE"] = -1
    with pytest.raises(lk.DataError, match=r"whole numbers >= 0.*row 5"):
        lk.glm("GRADE ~ GPA", data=neg, family="poisson")
    miss = spector.copy()
    miss.loc[[2, 7], "TUCE"] = np.nan
    with pytest.raises(lk.DataError, match=r"2 row\(s\).*TUCE.*\[2, 7\]"):
        lk.glm("GRADE ~ GPA + TUCE", data=miss, family="binomial")
    with pytest.warns(UserWarning, match="dropped 2 row"):
        f = lk.glm("GRADE ~ GPA + TUCE", data=miss, family="binomial", missing="drop")
    assert f.nobs == len(spector) - 2 and "Dropped rows" in str(f.summary())
    with pytest.raises(lk.DataError, match="not columns of the data"):
        lk.glm("GRADE ~ nothere", data=spector, family="binomial")
    with pytest.raises(lk.ModelError, match="unknown family"):
        lk.glm("GRADE ~ GPA", data=spector, family="binomal")
    with pytest.raises(lk.ModelError, match="takes links"):
        lk.glm("GRADE ~ GPA", data=spector, family="poisson", link="logit")
    with pytest.raises(lk.ModelError, match="groups"):
        lk.glm("GRADE ~ GPA", data=spector, family="binomial", cov_type="cluster")
    with pytest.raises(lk.DataError, match="constant"):
        lk.glm(y=np.zeros(10), X=np.ones((10, 1)), family="binomial")


def test_perfect_separation_is_named_without_the_fits_own_warnings():
    """The separation check runs after the fit when the fit shows its signs; the fit's
    warnings (convergence, information) are then replaced by the one clear error."""
    rng = np.random.default_rng(11)
    x = np.sort(rng.normal(size=60))
    y = (x > 0.05).astype(float)
    X = np.column_stack([np.ones(60), rng.normal(size=60), x])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked warning would fail here, before the error
        with pytest.raises(lk.DataError, match=r"perfect separation: column 'x2'"):
            lk.glm(y=y, X=X, family="binomial")
    # without separation the fit's own warnings still reach the user
    y2 = (rng.uniform(size=60) < 0.5).astype(float)
    with pytest.warns(lk.ConvergenceWarning):
        lk.glm(y=y2, X=X, family="binomial", max_iter=1)


def test_quasi_separation_warns():
    x = np.concatenate([np.linspace(-3, -0.1, 20), [0.0, 0.0], np.linspace(0.1, 3, 20)])
    y = np.concatenate([np.zeros(20), [0.0, 1.0], np.ones(20)])
    X = np.column_stack([np.ones_like(x), x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lk.ConvergenceWarning)
        with pytest.warns(lk.InferenceWarning, match="separation"):
            lk.glm(y=y, X=X, family="binomial")


def test_l1_prior_is_exact_lasso():
    """Reference: scikit-learn Lasso(alpha) = Gaussian with sigma fixed at 1 and a
    Laplace(0, 1/(n alpha)) prior; exact zeros from proximal Newton."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=200)
    design = np.column_stack([np.ones(200), X])
    for alpha in (0.01, 0.1, 0.5):
        sk = sklearn.Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)
        f = lk.glm(
            y=y, X=design, fixed={"sigma": 1.0}, prior=lk.priors.Laplace(0, 1 / (200 * alpha))
        )
        assert f.method == "proximal newton"
        assert np.allclose(f.coef.to_numpy()[1:], sk.coef_, atol=1e-10)
        assert f.coef.iloc[0] == pytest.approx(sk.intercept_, abs=1e-10)
        zeros = f.coef.to_numpy()[1:] == 0.0
        assert np.array_equal(zeros, sk.coef_ == 0.0)
        if zeros.any():
            assert "exactly 0" in (f.note or "")
            assert np.isnan(f.se[f.coef.index[1:][zeros]]).all()
            assert np.isfinite(f.se[f.coef.index[1:][~zeros]]).all()


def test_l1_logistic_matches_liblinear(spector):
    """Reference: scikit-learn LogisticRegression(penalty="l1", C, solver="liblinear") with a
    huge intercept_scaling (so the intercept is effectively unpenalised): Laplace(0, C)."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    X = spector[["GPA", "TUCE", "PSI"]].to_numpy()
    y = spector.GRADE.to_numpy()
    for C in (0.3, 1.0):
        sk = sklearn.LogisticRegression(
            penalty="l1",
            C=C,
            solver="liblinear",
            tol=1e-12,
            max_iter=100_000,
            intercept_scaling=1e6,
        ).fit(X, y)
        f = lk.glm(
            "GRADE ~ GPA + TUCE + PSI",
            data=spector,
            family="binomial",
            prior=lk.priors.Laplace(0, C),
        )
        assert np.allclose(f.coef.to_numpy()[1:], sk.coef_[0], rtol=1e-4, atol=1e-6)
        assert np.array_equal(f.coef.to_numpy()[1:] == 0, sk.coef_[0] == 0)


def test_glm_profile_interval_ends_have_the_chi_square_deviance(spector, spector_X):
    """Reference: at each end of the profile interval for a coefficient, refitting with that
    coefficient held at the end (statsmodels GLM with the term moved into the offset) lowers
    the log-likelihood by chi2_1(0.95) / 2."""
    f = lk.glm("GRADE ~ GPA + TUCE + PSI", data=spector, family="binomial")
    ci = f.conf_int(method="profile")
    for name in ("Intercept", "GPA"):
        col = "const" if name == "Intercept" else name
        for end in ci.loc[name]:
            others = spector_X.drop(columns=[col])
            r = sm.GLM(
                spector.GRADE, others, family=sm.families.Binomial(), offset=end * spector_X[col]
            ).fit(tol=1e-14)
            assert 2 * (f.loglik - r.llf) == pytest.approx(3.841458820694124, abs=1e-6)


def test_predict_refuses_a_category_level_the_fit_never_saw():
    df = pd.DataFrame(
        {"y": [0, 1, 0, 1, 1, 0, 1, 0] * 5, "g": list("abab") * 10, "x": np.arange(40) % 7}
    )
    f = lk.glm("y ~ g + x", data=df, family="binomial")
    assert np.isfinite(f.predict(pd.DataFrame({"g": ["a"], "x": [1]}))["mean"].iloc[0])
    with pytest.raises(lk.DataError, match="'c'"):
        f.predict(pd.DataFrame({"g": ["c"], "x": [1]}))


def test_binary_logit_starts_at_the_first_irls_step(rng):
    """The start for a binary logit is IRLS's first step (weights mu0 (1 - mu0) = 3/16 in
    every row): the weighted least-squares fit of the working response."""
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
    y = (rng.uniform(size=400) < 0.4).astype(float)
    model = lk.glm(y=y, X=X, family="binomial")._ctx.problem.model
    mu0 = (y + 0.5) / 2
    z = np.log(mu0 / (1 - mu0)) + (y - mu0) / (mu0 * (1 - mu0))
    W = mu0 * (1 - mu0)
    want = np.linalg.solve(X.T @ (W[:, None] * X), X.T @ (W * z))
    start = model.start({"X": X, "y": y}, np.ones(400))["beta"]
    np.testing.assert_allclose(start, want, rtol=1e-12)


def test_poisson_starts_at_the_first_irls_step(rng):
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])).astype(float)
    offset = rng.uniform(-0.2, 0.2, 400)
    model = lk.glm(y=y, X=X, family="poisson", offset=offset)._ctx.problem.model
    mu0 = (y + y.mean()) / 2
    z = np.log(mu0) - offset + (y - mu0) / mu0
    want = np.linalg.solve(X.T @ (mu0[:, None] * X), X.T @ (mu0 * z))
    start = model.start({"X": X, "y": y, "offset": offset}, np.ones(400))["beta"]
    np.testing.assert_allclose(start, want, rtol=1e-12)


def test_a_reused_hessian_block_gives_the_exact_standard_errors(monkeypatch):
    """Newton's last evaluation reuses X' diag(c) X when no row's curvature moved by more
    than GRAM_REUSE of itself (a Poisson fit's last step, of order 1e-9 here): the standard
    errors equal those of the exact Hessian at the estimate to that accuracy."""
    from likely._engine import indexed

    reused = []
    original = indexed.IndexDerivatives._unchanged_gram

    def spy(self, c):
        out = original(self, c)
        reused.append(out is not None)
        return out

    monkeypatch.setattr(indexed.IndexDerivatives, "_unchanged_gram", spy)
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(100_000), rng.normal(size=(100_000, 4))])
    y = rng.poisson(np.exp(0.3 + X[:, 1:] @ [0.4, -0.3, 0.2, 0.5])).astype(float)
    fit = lk.glm(y=y, X=X, family="poisson")
    assert reused[-1] and not any(reused[:-1])  # only the confirming evaluation
    ctx = fit._ctx
    fresh = indexed.IndexDerivatives(ctx.problem, ctx.data, ctx.weights, ctx.fixed)
    H = fresh.value_grad_hess(fit._u)[2] * ctx.scale
    exact = np.sqrt(np.diag(np.linalg.inv(H)))
    np.testing.assert_allclose(fit.se.to_numpy(), exact, rtol=indexed.GRAM_REUSE)
    assert not np.array_equal(fit.se.to_numpy(), exact)  # the reused block, not a recompute
