"""The engine's inference checked against independent sources.

Every test names its reference in its docstring: statsmodels, lifelines, a direct
scipy.optimize maximisation written with scipy.stats, or a closed form derived by hand. Nothing
here calls likely to produce the expected value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st
import statsmodels.api as sm
from statsmodels.discrete.count_model import ZeroInflatedPoisson
from statsmodels.tools.numdiff import approx_fprime, approx_hess3

import likely as lk

N = 200  # one sample size for the simulated sets: JAX compiles per shape
Q95 = float(st.chi2.ppf(0.95, 1))


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ---------------------------------------------------------------------------------------------
# User models


def linreg_logpdf(p, d):
    mu = d["X"] @ p["beta"]
    return jax.scipy.stats.norm.logpdf(d["y"], mu, p["sigma"])


def logit_logpdf(p, d):
    eta = d["X"] @ p["beta"]
    return d["y"] * eta - jnp.logaddexp(0.0, eta)


def zip_logpdf(p, d):
    """Zero-inflated Poisson: P(0) = pi + (1 - pi) e^-lam, P(y > 0) = (1 - pi) Poisson(y; lam),
    with log lam = X beta and logit pi = Z gamma."""
    eta = d["X"] @ p["beta"]
    g = d["Z"] @ p["gamma"]
    log_pi, log_1m_pi = jax.nn.log_sigmoid(g), jax.nn.log_sigmoid(-g)
    lam = jnp.exp(eta)
    log_pois = d["y"] * eta - lam - jax.scipy.special.gammaln(d["y"] + 1.0)
    return jnp.where(d["y"] == 0, jnp.logaddexp(log_pi, log_1m_pi - lam), log_1m_pi + log_pois)


LINREG = lk.Model(linreg_logpdf, params={"beta": lk.real, "sigma": lk.positive}, name="LinReg")
LOGIT = lk.Model(logit_logpdf, params={"beta": lk.real}, name="Logit")
ZIP = lk.Model(zip_logpdf, params={"beta": lk.real, "gamma": lk.real}, name="ZIP")


@pytest.fixture(scope="module")
def linreg_data():
    rng = np.random.default_rng(101)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    # heteroscedastic errors, so that HC0 differs visibly from the model-based covariance
    y = X @ np.array([1.0, 2.0, -0.5]) + rng.normal(size=N) * (0.5 + np.abs(X[:, 1]))
    return X, y


@pytest.fixture(scope="module")
def linreg_fit(linreg_data):
    X, y = linreg_data
    return lk.fit(LINREG, {"X": X, "y": y}, init={"beta": np.zeros(3)})


@pytest.fixture(scope="module")
def spector():
    d = sm.datasets.spector.load_pandas()
    X = sm.add_constant(d.exog).to_numpy(float)
    return X, d.endog.to_numpy(float)


@pytest.fixture(scope="module")
def logit_fit(spector):
    X, y = spector
    return lk.fit(LOGIT, {"X": X, "y": y}, init={"beta": np.zeros(X.shape[1])})


@pytest.fixture(scope="module")
def zip_data():
    rng = np.random.default_rng(7)
    n = 500
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Z = np.column_stack([np.ones(n), rng.normal(size=n)])
    pi = 1 / (1 + np.exp(-(Z @ np.array([-0.5, 0.8]))))
    lam = np.exp(X @ np.array([0.7, 0.4]))
    y = np.where(rng.uniform(size=n) < pi, 0, rng.poisson(lam)).astype(float)
    return X, Z, y


@pytest.fixture(scope="module")
def zip_fits(zip_data):
    X, Z, y = zip_data
    ours = lk.fit(ZIP, {"X": X, "Z": Z, "y": y}, init={"beta": np.zeros(2), "gamma": np.zeros(2)})
    model = ZeroInflatedPoisson(y, X, exog_infl=Z, inflation="logit")
    rough = model.fit(disp=0, method="bfgs", maxiter=2000)
    ref = model.fit(start_params=rough.params, disp=0, method="newton", maxiter=100, tol=1e-12)
    return ours, model, ref


# ---------------------------------------------------------------------------------------------
# 1. Custom regressions vs statsmodels


def test_linear_regression_user_model_equals_ols(linreg_data, linreg_fit):
    """Reference: statsmodels OLS and the closed forms of the Normal linear model. The MLE of
    beta is the OLS estimate, sigma_hat = sqrt(RSS / n), se(beta) = OLS se * sqrt((n - p) / n)
    (the MLE scale instead of the unbiased one), se(sigma) = sigma_hat / sqrt(2 n)."""
    X, y = linreg_data
    ols = sm.OLS(y, X).fit()
    n, p = X.shape
    f = linreg_fit
    assert f.converged
    beta = f.params[["beta[0]", "beta[1]", "beta[2]"]].to_numpy()
    se_beta = f.se[["beta[0]", "beta[1]", "beta[2]"]].to_numpy()
    sigma = np.sqrt(ols.ssr / n)
    assert rel(beta, ols.params) < 1e-9
    assert rel(f.params["sigma"], sigma) < 1e-9
    assert rel(se_beta, ols.bse * np.sqrt((n - p) / n)) < 1e-8
    assert rel(f.se["sigma"], sigma / np.sqrt(2 * n)) < 1e-8
    assert f.loglik == pytest.approx(ols.llf, rel=1e-12)


def test_linear_regression_robust_equals_hc0(linreg_data, linreg_fit):
    """Reference: statsmodels OLS(cov_type='HC0'). At the Normal MLE the information is
    block-diagonal in (beta, sigma) because X'e = 0, so the beta block of the sandwich is
    exactly (X'X)^-1 X' diag(e^2) X (X'X)^-1, the HC0 estimator."""
    X, y = linreg_data
    hc0 = sm.OLS(y, X).fit(cov_type="HC0")
    robust = linreg_fit.with_cov("robust")
    assert robust.cov_type == "robust"
    se = robust.se[["beta[0]", "beta[1]", "beta[2]"]].to_numpy()
    assert rel(se, hc0.bse) < 1e-8
    # the errors are heteroscedastic: the robust SEs must differ from the model-based ones
    assert rel(se, linreg_fit.se[["beta[0]", "beta[1]", "beta[2]"]].to_numpy()) > 0.05


def test_logistic_regression_user_model_equals_statsmodels_logit(spector, logit_fit):
    """Reference: statsmodels Logit on the spector dataset (32 rows)."""
    X, y = spector
    ref = sm.Logit(y, X).fit(disp=0, tol=1e-12, maxiter=100)
    f = logit_fit
    assert f.converged
    assert rel(f.params.to_numpy(), ref.params) < 1e-6
    assert rel(f.se.to_numpy(), ref.bse) < 1e-5
    assert f.loglik == pytest.approx(ref.llf, rel=1e-10)


def test_logistic_regression_robust_equals_statsmodels_hc0(spector):
    """Reference: statsmodels Logit(cov_type='HC0') on spector: the sandwich
    H^-1 (sum s_i s_i') H^-1 with no small-sample correction."""
    X, y = spector
    ref = sm.Logit(y, X).fit(disp=0, cov_type="HC0", tol=1e-12, maxiter=100)
    f = lk.fit(LOGIT, {"X": X, "y": y}, init={"beta": np.zeros(X.shape[1])}, cov="robust")
    assert f.cov_type == "robust"
    assert rel(f.params.to_numpy(), ref.params) < 1e-6
    assert rel(f.se.to_numpy(), ref.bse) < 1e-5
    assert rel(f.cov.to_numpy(), ref.cov_params()) < 1e-5


def test_zero_inflated_poisson_user_model_equals_statsmodels(zip_fits):
    """Reference: statsmodels ZeroInflatedPoisson (logit inflation) on seeded simulated data:
    its estimates and log-likelihood, and standard errors from a central finite-difference
    Jacobian of statsmodels' own analytic score.

    statsmodels' analytic ZIP Hessian (`ZeroInflatedPoisson.hessian`, used for its `bse`) is not
    used: its cross block d2l/(dgamma dbeta) in `_hessian_logit` omits a factor
    e^-lam / P(y=0), so its `bse` differ from the inverse of any numerical Hessian of its own
    `loglike` by ~10% here (see statsmodels/statsmodels#7632, "does not look correct")."""
    ours, model, ref = zip_fits
    assert ours.converged and ref.mle_retvals["converged"]
    # statsmodels orders the inflation coefficients first
    est = ours.params[["gamma[0]", "gamma[1]", "beta[0]", "beta[1]"]].to_numpy()
    se = ours.se[["gamma[0]", "gamma[1]", "beta[0]", "beta[1]"]].to_numpy()
    assert rel(est, ref.params) < 1e-5
    assert ours.loglik == pytest.approx(ref.llf, rel=1e-10)
    hess = approx_fprime(ref.params, model.score, centered=True)
    hess = 0.5 * (hess + hess.T)
    se_ref = np.sqrt(np.diag(np.linalg.inv(-hess)))
    assert rel(se, se_ref) < 1e-4
    # and the same through a second, independent numerical route: the loglike itself
    se_ref2 = np.sqrt(np.diag(np.linalg.inv(-approx_hess3(ref.params, model.loglike))))
    assert rel(se, se_ref2) < 1e-4


# ---------------------------------------------------------------------------------------------
# 2. Censoring


def test_right_censored_weibull_equals_lifelines():
    """Reference: lifelines WeibullFitter on lifelines' waltons data (lambda_ = scale,
    rho_ = shape): estimates, log-likelihood and standard errors (lifelines' observed
    information from autograd)."""
    lifelines = pytest.importorskip("lifelines")
    from lifelines.datasets import load_waltons

    df = load_waltons()
    t, e = df["T"].to_numpy(float), df["E"].to_numpy(float)
    ref = lifelines.WeibullFitter().fit(t, e)
    f = lk.fit(lk.Weibull(), t, event=e)
    assert f.converged
    assert f.params["scale"] == pytest.approx(ref.lambda_, rel=1e-5)
    assert f.params["shape"] == pytest.approx(ref.rho_, rel=1e-5)
    assert f.loglik == pytest.approx(ref.log_likelihood_, rel=1e-9)
    se_ref = ref.summary["se(coef)"]
    assert f.se["scale"] == pytest.approx(se_ref["lambda_"], rel=1e-4)
    assert f.se["shape"] == pytest.approx(se_ref["rho_"], rel=1e-4)
    # our estimate is at least as good as lifelines' on lifelines' own likelihood
    assert f.loglik >= ref.log_likelihood_ - 1e-9


def test_right_censored_exponential_closed_form():
    """Reference: closed form. With d events and total time T, rate_hat = d / T,
    se = rate_hat / sqrt(d) (observed information d / rate^2), loglik = d log(rate) - rate T."""
    rng = np.random.default_rng(3)
    t, c = rng.exponential(2.0, N), rng.exponential(3.0, N)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    d, total = event.sum(), time.sum()
    rate = d / total
    f = lk.fit(lk.Exponential(), time, event=event)
    assert f.params["rate"] == pytest.approx(rate, rel=1e-10)
    assert f.se["rate"] == pytest.approx(rate / np.sqrt(d), rel=1e-8)
    assert f.loglik == pytest.approx(d * np.log(rate) - rate * total, rel=1e-12)


def _mixed_censoring(x, rng, additive):
    """Exact, right-, left- (lower = -inf) and interval-censored rows, a quarter each.

    Censoring points sit on the correct side of x: shifted by up to 2 (additive, for data on
    the real line) or scaled by factors in (0.3, 2) (for positive data, so no bound touches 0).
    """
    n = x.shape[0]
    kind = np.arange(n) % 4
    lower, upper = x.copy(), x.copy()
    r, l, i = kind == 1, kind == 2, kind == 3

    def below(v, k):
        return v - rng.uniform(0.0, 2.0, k) if additive else v * rng.uniform(0.3, 1.0, k)

    def above(v, k):
        return v + rng.uniform(0.0, 2.0, k) if additive else v * rng.uniform(1.0, 2.0, k)

    lower[r], upper[r] = below(x[r], r.sum()), np.inf
    lower[l], upper[l] = -np.inf, above(x[l], l.sum())
    lower[i], upper[i] = below(x[i], i.sum()), above(x[i], i.sum())
    assert np.all(lower <= upper)
    return lower, upper


def _scipy_censored_nll(dist, lower, upper):
    """Negative log-likelihood of censored data written with scipy.stats: log pdf for exact
    rows, log sf / log cdf for right / left, log(cdf(b) - cdf(a)) for intervals."""
    exact = lower == upper
    right = ~exact & np.isinf(upper)
    left = ~exact & np.isinf(lower)
    inter = ~(exact | right | left)

    def nll(params):
        d = dist(*params)
        ll = d.logpdf(lower[exact]).sum()
        ll += d.logsf(lower[right]).sum() + d.logcdf(upper[left]).sum()
        ll += np.log(d.cdf(upper[inter]) - d.cdf(lower[inter])).sum()
        return -ll

    return nll


def _scipy_mle(nll, start):
    """Direct maximisation on the natural scale: Nelder-Mead, polished by BFGS."""
    r = so.minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    r = so.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-9})
    return r.x


@pytest.mark.parametrize("family", ["normal", "weibull"])
def test_left_and_interval_censoring_equals_scipy(family):
    """Reference: a direct scipy.optimize maximisation of the same censored likelihood written
    with scipy.stats (norm / weibull_min); standard errors from a finite-difference Hessian
    (statsmodels.tools.numdiff.approx_hess3) of that scipy likelihood."""
    rng = np.random.default_rng(17)
    if family == "normal":
        x = rng.normal(1.0, 2.0, N)
        model, names = lk.Normal(), ["mu", "sigma"]

        def dist(mu, sigma):
            return st.norm(mu, sigma)

        start = [np.mean(x), np.std(x)]
    else:
        x = rng.weibull(1.7, N) * 2.0
        model, names = lk.Weibull(), ["shape", "scale"]

        def dist(k, lam):
            return st.weibull_min(k, scale=lam)

        start = [1.0, float(np.mean(x))]
    lower, upper = _mixed_censoring(x, rng, additive=family == "normal")
    nll = _scipy_censored_nll(dist, lower, upper)
    f = lk.fit(model, lk.Censored(lower, upper))
    assert f.converged
    est = f.params[names].to_numpy()
    # the same likelihood at the same parameters
    assert -nll(est) == pytest.approx(f.loglik, rel=1e-10)
    # the same maximiser
    ref = _scipy_mle(nll, start)
    assert rel(est, ref) < 1e-5
    assert nll(est) <= nll(ref) + 1e-9
    se_ref = np.sqrt(np.diag(np.linalg.inv(approx_hess3(est, nll))))
    assert rel(f.se[names].to_numpy(), se_ref) < 1e-4


@pytest.mark.parametrize("family", ["exponential", "weibull"])
def test_left_censoring_at_support_lower_end(family):
    """Reference: the censoring module's own contract and the identity P(0 <= X <= u) = F(u)
    for a family on (0, inf): ``lk.Censored(0, u)`` is left-censoring at u and must give the
    same fit as ``lk.Censored(-inf, u)``, whose likelihood is checked against scipy.stats."""
    rng = np.random.default_rng(23)
    x = rng.weibull(1.5, N) * 2.0
    left = np.arange(N) % 3 == 0
    upper = np.where(left, x * 1.5, x)
    at_zero = np.where(left, 0.0, x)
    at_minf = np.where(left, -np.inf, x)
    if family == "exponential":
        model, names = lk.Exponential(), ["rate"]

        def dist(rate):
            return st.expon(scale=1 / rate)
    else:
        model, names = lk.Weibull(), ["shape", "scale"]

        def dist(k, lam):
            return st.weibull_min(k, scale=lam)

    reference = lk.fit(model, lk.Censored(at_minf, upper))
    nll = _scipy_censored_nll(dist, at_minf, upper)
    est = reference.params[names].to_numpy()
    assert -nll(est) == pytest.approx(reference.loglik, rel=1e-10)
    f = lk.fit(model, lk.Censored(at_zero, upper))
    assert rel(f.params[names].to_numpy(), est) < 1e-8
    assert f.loglik == pytest.approx(reference.loglik, rel=1e-10)
    assert rel(f.se[names].to_numpy(), reference.se[names].to_numpy()) < 1e-6


# ---------------------------------------------------------------------------------------------
# 3. Profile-likelihood intervals vs hand-solved cases


def _roots(dev, hat, lo, hi):
    """The two solutions of dev(theta) = q on either side of the MLE, by brentq."""
    g = lambda t: dev(t) - Q95  # noqa: E731
    return so.brentq(g, lo, hat, xtol=1e-14, rtol=1e-14), so.brentq(
        g, hat, hi, xtol=1e-14, rtol=1e-14
    )


def test_profile_exponential_rate():
    """Reference: closed-form deviance 2n(log(r_hat / r) + r / r_hat - 1) = chi2_1(0.95),
    solved with brentq."""
    x = np.random.default_rng(31).exponential(0.5, N)
    r_hat = 1 / x.mean()
    ref = _roots(
        lambda r: 2 * N * (np.log(r_hat / r) + r / r_hat - 1), r_hat, r_hat / 10, r_hat * 10
    )
    ci = lk.fit(lk.Exponential(), x).conf_int(method="profile").loc["rate"]
    assert rel([ci["lower"], ci["upper"]], ref) < 1e-9


def test_profile_poisson_rate():
    """Reference: closed-form deviance 2(S log(l_hat / l) - n (l_hat - l)) = q with S = sum x,
    solved with brentq."""
    x = np.random.default_rng(32).poisson(3.0, N).astype(float)
    l_hat, s = x.mean(), x.sum()
    ref = _roots(lambda l: 2 * (s * np.log(l_hat / l) - N * (l_hat - l)), l_hat, 1e-3, 10 * l_hat)
    ci = lk.fit(lk.Poisson(), x).conf_int(method="profile").loc["rate"]
    assert rel([ci["lower"], ci["upper"]], ref) < 1e-9


def test_profile_bernoulli_p():
    """Reference: closed-form deviance 2(k log(p_hat / p) + (n - k) log((1 - p_hat) / (1 - p)))
    = q, solved with brentq."""
    x = (np.random.default_rng(33).uniform(size=N) < 0.3).astype(float)
    k = x.sum()
    p_hat = k / N

    def dev(p):
        return 2 * (k * np.log(p_hat / p) + (N - k) * np.log((1 - p_hat) / (1 - p)))

    ref = _roots(dev, p_hat, 1e-12, 1 - 1e-12)
    ci = lk.fit(lk.Bernoulli(), x).conf_int(method="profile").loc["p"]
    assert rel([ci["lower"], ci["upper"]], ref) < 1e-9


def test_profile_bernoulli_all_zero():
    """Reference: closed form for k = 0. The MLE p = 0 is on the boundary, the deviance is
    -2 n log(1 - p), so the interval is [0, 1 - exp(-q / (2 n))]."""
    with pytest.warns(lk.InferenceWarning, match="boundary"):
        f = lk.fit(lk.Bernoulli(), np.zeros(N))
    assert f.params["p"] == 0.0
    assert np.isnan(f.se["p"])
    ci = f.conf_int(method="profile").loc["p"]
    assert ci["lower"] == pytest.approx(0.0, abs=1e-12)
    assert ci["upper"] == pytest.approx(1 - np.exp(-Q95 / (2 * N)), rel=1e-9)


def test_profile_normal_mu_sigma_profiled_out():
    """Reference: closed form. With sigma maximised out, the deviance of mu is
    n log(1 + (mu - xbar)^2 / s2) (s2 the MLE variance), so the interval is
    xbar +- sqrt(s2 (exp(q / n) - 1))."""
    x = np.random.default_rng(34).normal(1.0, 2.0, N)
    xbar, s2 = x.mean(), np.mean((x - x.mean()) ** 2)
    h = np.sqrt(s2 * np.expm1(Q95 / N))
    ci = lk.fit(lk.Normal(), x).conf_int(method="profile", params=["mu"]).loc["mu"]
    assert ci["lower"] == pytest.approx(xbar - h, rel=1e-9, abs=1e-10)
    assert ci["upper"] == pytest.approx(xbar + h, rel=1e-9, abs=1e-10)


def test_profile_vector_element_equals_brute_force(spector, logit_fit):
    """Reference: a brute-force profile of beta[1] in the logistic user model, built from
    statsmodels alone: for each value b, the other coefficients are maximised by a
    statsmodels Binomial GLM (logit link, IRLS) with b * x1 as an offset; a grid brackets
    the two crossings of chi2_1(0.95) and brentq refines them."""
    X, y = spector
    others = np.delete(X, 1, axis=1)
    llf_hat = sm.Logit(y, X).fit(disp=0, tol=1e-12, maxiter=100).llf
    binomial = sm.families.Binomial()

    def dev(b):
        r = sm.GLM(y, others, family=binomial, offset=b * X[:, 1]).fit(tol=1e-13, maxiter=200)
        assert r.converged
        return 2 * (llf_hat - r.llf) - Q95

    b_hat, se = logit_fit.params["beta[1]"], logit_fit.se["beta[1]"]
    grid = b_hat + se * np.linspace(-4, 4, 33)
    vals = np.array([dev(b) for b in grid])
    assert vals[0] > 0 and vals[-1] > 0 and vals[16] < 0
    crossings = np.flatnonzero(np.diff(np.sign(vals)) != 0)
    assert len(crossings) == 2
    ref = [so.brentq(dev, grid[i], grid[i + 1], xtol=1e-12) for i in crossings]
    ci = logit_fit.conf_int(method="profile", params=["beta[1]"]).loc["beta[1]"]
    assert rel([ci["lower"], ci["upper"]], ref) < 1e-6


# ---------------------------------------------------------------------------------------------
# 4. MAP vs conjugate closed forms


def test_map_bernoulli_beta_prior():
    """Reference: closed form. With a Beta(a, b) prior the posterior is Beta(k + a, n - k + b),
    whose mode is (k + a - 1) / (n + a + b - 2); the Laplace sd is 1 / sqrt(A / p^2 +
    B / (1 - p)^2) with A = k + a - 1, B = n - k + b - 1, at the mode p."""
    x = (np.random.default_rng(41).uniform(size=N) < 0.3).astype(float)
    k, a, b = x.sum(), 3.0, 5.0
    f = lk.fit(lk.Bernoulli(), x, prior={"p": lk.priors.Beta(a, b)})
    mode = (k + a - 1) / (N + a + b - 2)
    A, B = k + a - 1, N - k + b - 1
    assert f.is_map
    assert f.params["p"] == pytest.approx(mode, rel=1e-9)
    assert f.se["p"] == pytest.approx(1 / np.sqrt(A / mode**2 + B / (1 - mode) ** 2), rel=1e-8)
    text = str(f.summary())
    assert "MAP" in text and "post. sd" in text


def test_map_normal_mean_conjugate():
    """Reference: closed form (Normal-Normal conjugacy). With sigma known and mu ~ N(m0, s0^2)
    the posterior is Normal with precision n / sigma^2 + 1 / s0^2 and mean
    (sum x / sigma^2 + m0 / s0^2) / precision; the log-posterior is quadratic, so the mode is
    that mean and the Laplace sd is the exact posterior sd."""
    x = np.random.default_rng(42).normal(1.0, 2.0, N)
    sigma, m0, s0 = 2.0, -1.0, 0.5
    f = lk.fit(lk.Normal(), x, fixed={"sigma": sigma}, prior={"mu": lk.priors.Normal(m0, s0)})
    prec = N / sigma**2 + 1 / s0**2
    assert f.is_map
    assert f.params["mu"] == pytest.approx((x.sum() / sigma**2 + m0 / s0**2) / prec, rel=1e-10)
    assert f.se["mu"] == pytest.approx(1 / np.sqrt(prec), rel=1e-10)
    assert "MAP" in str(f.summary())


# ---------------------------------------------------------------------------------------------
# 5. Delta method


def test_delta_method_normal_variance():
    """Reference: closed form. se(sigma_hat) = sigma_hat / sqrt(2 n), and the delta method for
    g = sigma^2 gives se = 2 sigma se(sigma) = sigma^2 sqrt(2 / n)."""
    x = np.random.default_rng(51).normal(1.0, 2.0, N)
    s2 = np.mean((x - x.mean()) ** 2)
    t = lk.fit(lk.Normal(), x).transform(lambda p: p["sigma"] ** 2)
    assert float(t) == pytest.approx(s2, rel=1e-12)
    assert t.se.iloc[0] == pytest.approx(s2 * np.sqrt(2 / N), rel=1e-10)


def test_delta_method_exponential_mean_and_invariance():
    """Reference: closed form and invariance. For the Exponential, mean = 1 / rate has MLE
    xbar and delta-method se = se(rate) / rate^2 = xbar / sqrt(n); a custom model written in
    the mean directly must give the same estimate and the same SE."""
    x = np.random.default_rng(52).exponential(0.5, N)
    t = lk.fit(lk.Exponential(), x).transform(lambda p: 1 / p["rate"])
    assert float(t) == pytest.approx(x.mean(), rel=1e-12)
    assert t.se.iloc[0] == pytest.approx(x.mean() / np.sqrt(N), rel=1e-10)

    def logpdf(p, x):
        return -jnp.log(p["mean"]) - x / p["mean"]

    direct = lk.fit(lk.Model(logpdf, params={"mean": lk.positive}, name="ExpMean"), x)
    assert direct.params["mean"] == pytest.approx(x.mean(), rel=1e-10)
    assert direct.se["mean"] == pytest.approx(t.se.iloc[0], rel=1e-8)


# ---------------------------------------------------------------------------------------------
# 6. Likelihood-ratio test


def test_lr_test_gamma_vs_exponential():
    """Reference: scipy.stats. The full model's log-likelihood from scipy.stats.gamma.fit
    (floc=0), the restricted (shape = 1) one from the Exponential MLE scale = mean with
    scipy.stats.expon, and the p-value from scipy.stats.chi2.sf with 1 df."""
    x = np.random.default_rng(61).gamma(2.5, 1 / 1.5, N)
    full = lk.fit(lk.Gamma(), x)
    restricted = lk.fit(lk.Gamma(), x, fixed={"shape": 1.0})
    a, _, scale = st.gamma.fit(x, floc=0)
    ll_full = st.gamma.logpdf(x, a, scale=scale).sum()
    ll_restricted = st.expon.logpdf(x, scale=x.mean()).sum()
    stat = 2 * (ll_full - ll_restricted)
    assert restricted.params["rate"] == pytest.approx(1 / x.mean(), rel=1e-10)
    for lr in (full.lr_test(restricted), restricted.lr_test(full)):
        assert lr.df == 1
        assert lr.statistic == pytest.approx(stat, rel=1e-8)
        assert lr.pvalue == pytest.approx(st.chi2.sf(stat, 1), rel=1e-6)


# ---------------------------------------------------------------------------------------------
# 7. Sandwich covariance


def test_sandwich_normal_closed_form():
    """Reference: closed form (HC0). At the Normal MLE the Hessian is diagonal, so
    var_robust(mu) = sum((x - xbar)^2) / n^2 and
    var_robust(sigma) = sigma^2 sum((z^2 - 1)^2) / (4 n^2), z = (x - xbar) / sigma."""
    x = np.random.default_rng(71).standard_t(5, N)  # heavy tails: robust != model-based
    xbar = x.mean()
    sigma = np.sqrt(np.mean((x - xbar) ** 2))
    z = (x - xbar) / sigma
    f = lk.fit(lk.Normal(), x, cov="robust")
    cov = f.cov
    assert cov.loc["mu", "mu"] == pytest.approx(np.sum((x - xbar) ** 2) / N**2, rel=1e-10)
    assert cov.loc["sigma", "sigma"] == pytest.approx(
        sigma**2 * np.sum((z * z - 1) ** 2) / (4 * N**2), rel=1e-8
    )


def test_sandwich_agrees_with_observed_when_correctly_specified():
    """Reference: likelihood theory (information equality): for a correctly specified model
    the sandwich and the inverse observed information estimate the same covariance, so at
    n = 4000 they agree to a few percent."""
    x = np.random.default_rng(72).gamma(2.0, 1 / 1.5, 4000)
    f = lk.fit(lk.Gamma(), x)
    robust = f.with_cov("robust")
    assert rel(robust.se.to_numpy(), f.se.to_numpy()) < 0.1


# ---------------------------------------------------------------------------------------------
# 8. AIC / BIC vs statsmodels


def test_aic_bic_equal_statsmodels(spector, logit_fit, zip_fits, linreg_data, linreg_fit):
    """Reference: statsmodels' aic / bic for Logit and ZeroInflatedPoisson (every parameter
    counted, as here). statsmodels' OLS does not count sigma, so ours is larger by 2 (AIC) and
    log(n) (BIC)."""
    X, y = spector
    ref = sm.Logit(y, X).fit(disp=0, tol=1e-12, maxiter=100)
    assert logit_fit.aic == pytest.approx(ref.aic, rel=1e-10)
    assert logit_fit.bic == pytest.approx(ref.bic, rel=1e-10)

    ours, _, zref = zip_fits
    assert ours.k == 4
    assert ours.aic == pytest.approx(zref.aic, rel=1e-10)
    assert ours.bic == pytest.approx(zref.bic, rel=1e-10)

    X, y = linreg_data
    ols = sm.OLS(y, X).fit()
    assert linreg_fit.aic == pytest.approx(ols.aic + 2, rel=1e-10)
    assert linreg_fit.bic == pytest.approx(ols.bic + np.log(N), rel=1e-10)
