"""The engine's contract: results objects, options, and clear errors for bad input."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import likely as lk
from likely._engine.constraints import GreaterThan, Interval
from likely._engine.data import bucket

N = 200  # one sample size throughout: JAX compiles per shape


@pytest.fixture(scope="module")
def gamma_x() -> np.ndarray:
    return np.random.default_rng(1).gamma(2.0, 1 / 1.5, N)


@pytest.fixture(scope="module")
def gamma_fit(gamma_x):
    return lk.fit(lk.Gamma(), gamma_x)


def normal_logpdf(p, x):
    z = (x - p["mu"]) / p["sigma"]
    return -0.5 * z * z - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


def regression_logpdf(p, d):
    resid = d["y"] - d["X"] @ p["beta"]
    return -0.5 * (resid / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


NORMAL_MODEL = lk.Model(normal_logpdf, params={"mu": lk.real, "sigma": lk.positive})
REGRESSION = lk.Model(regression_logpdf, params={"beta": lk.real, "sigma": lk.positive})


# --------------------------------------------------------------------------- the Fit object


def test_fit_exposes_statistics_as_pandas(gamma_fit, gamma_x):
    f = gamma_fit
    assert isinstance(f.params, pd.Series)
    assert list(f.params.index) == ["shape", "rate"]
    assert list(f.se.index) == ["shape", "rate"]
    assert f.cov.shape == (2, 2)
    assert f.nobs == N and f.k == 2 and f.converged
    ll = float(np.sum(np.log(np.exp(-gamma_x * f.params["rate"]))))  # cross-check below
    direct = (
        N * f.params["shape"] * math.log(f.params["rate"])
        + (f.params["shape"] - 1) * np.log(gamma_x).sum()
        - f.params["rate"] * gamma_x.sum()
        - N * math.lgamma(f.params["shape"])
    )
    assert ll < 0
    assert f.loglik == pytest.approx(direct, rel=1e-12)
    assert f.aic == pytest.approx(4 - 2 * f.loglik)
    assert f.bic == pytest.approx(2 * math.log(N) - 2 * f.loglik)
    assert np.allclose(np.sqrt(np.diag(f.cov)), f.se)


def test_wald_interval_is_estimate_plus_minus_z_se(gamma_fit):
    ci = gamma_fit.conf_int(0.9)
    z = 1.6448536269514722
    assert np.allclose(ci["lower"], gamma_fit.params - z * gamma_fit.se)
    assert np.allclose(ci["upper"], gamma_fit.params + z * gamma_fit.se)
    ci = gamma_fit.conf_int(0.8)
    assert np.allclose(ci["upper"] - gamma_fit.params, 1.2815515655446004 * gamma_fit.se)
    with pytest.raises(lk.ModelError, match="level"):
        gamma_fit.conf_int(1.5)
    with pytest.raises(lk.ModelError, match="wald"):
        gamma_fit.conf_int(method="bootstrap")


def test_profile_interval_contains_estimate_and_is_asymmetric(gamma_fit):
    prof = gamma_fit.conf_int(method="profile")
    wald = gamma_fit.conf_int()
    assert (prof["lower"] < gamma_fit.params).all() and (prof["upper"] > gamma_fit.params).all()
    # the shape's profile interval is skewed right of the Wald one
    assert prof.loc["shape", "upper"] > wald.loc["shape", "upper"]
    # at each end the deviance equals the chi-square quantile: refit with shape fixed there
    for end in prof.loc["shape"]:
        restricted = lk.fit(lk.Gamma(), gamma_fit._ctx.data, fixed={"shape": end})
        assert 2 * (gamma_fit.loglik - restricted.loglik) == pytest.approx(
            3.841458820694124, abs=1e-6
        )


def test_summary_and_html(gamma_fit):
    text = str(gamma_fit.summary())
    assert "Gamma" in text and "Log-likelihood" in text and "shape" in text
    assert "maximum likelihood" in text
    html = gamma_fit._repr_html_()
    assert "<table" in html and "shape" in html


def test_transform_invariance_and_delta_method(gamma_fit):
    mean = gamma_fit.transform(lambda p: p["shape"] / p["rate"])
    a, b = gamma_fit.params["shape"], gamma_fit.params["rate"]
    assert float(mean) == pytest.approx(a / b)
    grad = np.array([1 / b, -a / b**2])
    se = math.sqrt(grad @ gamma_fit.cov.to_numpy() @ grad)
    assert mean.se.iloc[0] == pytest.approx(se, rel=1e-10)
    both = gamma_fit.transform(
        lambda p: {"mean": p["shape"] / p["rate"], "var": p["shape"] / p["rate"] ** 2}
    )
    assert list(both.estimate.index) == ["mean", "var"]
    assert both.conf_int().shape == (2, 2)


def test_fixed_parameters_and_lr_test(gamma_fit, gamma_x):
    r = lk.fit(lk.Gamma(), gamma_x, fixed={"shape": 1.0})
    assert r.params["shape"] == 1.0 and r.se["shape"] == 0.0
    assert r.params["rate"] == pytest.approx(1 / gamma_x.mean(), rel=1e-9)  # exponential MLE
    assert r.k == 1
    test = gamma_fit.lr_test(r)
    assert test.df == 1
    assert test.statistic == pytest.approx(2 * (gamma_fit.loglik - r.loglik))
    assert 0 <= test.pvalue < 1e-6  # these data are far from exponential
    assert r.lr_test(gamma_fit).statistic == test.statistic  # order does not matter
    other = lk.fit(lk.Gamma(), gamma_x[:100])
    with pytest.raises(lk.ModelError, match="different data"):
        gamma_fit.lr_test(other)
    with pytest.raises(lk.ModelError, match="not nested"):
        gamma_fit.lr_test(gamma_fit)


def test_cov_types(gamma_fit):
    exp = gamma_fit.with_cov("expected")
    obs = gamma_fit.with_cov("observed")
    rob = gamma_fit.with_cov("robust")
    # Gamma is a full exponential family: observed information = expected at the MLE
    assert np.allclose(exp.se, obs.se, rtol=1e-9)
    assert rob.cov_type == "robust" and np.all(rob.se > 0)
    assert not np.allclose(rob.se, obs.se, rtol=1e-3)
    info = gamma_fit.information("observed")
    assert np.allclose(np.linalg.inv(info), gamma_fit.cov, rtol=1e-9)


def test_newton_and_bfgs_agree_with_closed_form(gamma_x):
    closed = lk.fit(lk.Gamma(), gamma_x)
    newton = lk.fit(lk.Gamma(), gamma_x, method="newton")
    bfgs = lk.fit(lk.Gamma(), gamma_x, method="bfgs")
    assert closed.method == "closed form" and newton.method == "newton"
    assert np.allclose(newton.params, closed.params, rtol=1e-10)
    assert np.allclose(bfgs.params, closed.params, rtol=1e-6)
    assert np.allclose(newton.se, closed.se, rtol=1e-8)
    assert np.allclose(bfgs.se, closed.se, rtol=1e-5)


def test_custom_model_matches_builtin(rng):
    x = rng.normal(3.0, 2.0, N)
    custom = lk.fit(NORMAL_MODEL, x, init={"mu": 0.0, "sigma": 1.0})
    builtin = lk.fit(lk.Normal(), x)
    assert np.allclose(custom.params, builtin.params, rtol=1e-10)
    assert np.allclose(custom.se, builtin.se, rtol=1e-8)
    assert custom.loglik == pytest.approx(builtin.loglik, rel=1e-12)


def test_custom_vector_parameter_regression(rng):
    X = np.column_stack([np.ones(N), rng.normal(size=N), rng.normal(size=N)])
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 1.5, N)
    f = lk.fit(REGRESSION, {"X": X, "y": y}, init={"beta": np.zeros(3), "sigma": 1.0})
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    assert list(f.params.index) == ["beta[0]", "beta[1]", "beta[2]", "sigma"]
    assert np.allclose(f.values["beta"], beta_ols, rtol=1e-9)
    sigma = np.sqrt(np.mean((y - X @ beta_ols) ** 2))
    assert f.params["sigma"] == pytest.approx(sigma, rel=1e-9)
    # se(beta) = sigma_mle * sqrt(diag((X'X)^-1)) with observed information
    se = sigma * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
    assert np.allclose(f.se.iloc[:3], se, rtol=1e-8)
    prof = f.conf_int(method="profile", params=["beta[1]"])
    assert prof.loc["beta[1]", "lower"] < f.params["beta[1]"] < prof.loc["beta[1]", "upper"]


def test_frequency_weights_equal_duplicated_rows(rng):
    x = rng.gamma(3.0, 1.0, N)
    w = np.ones(N)
    w[:50] = 2.0
    dup = np.concatenate([x, x[:50]])
    a = lk.fit(lk.Weibull(), x, weights=w)
    b = lk.fit(lk.Weibull(), dup)
    assert np.allclose(a.params, b.params, rtol=1e-9)
    assert np.allclose(a.se, b.se, rtol=1e-7)
    assert a.nobs == b.nobs == 250
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_padding_to_bucket_sizes_does_not_change_the_fit(rng):
    assert bucket(200) >= 200 and bucket(1 << 20) == 1 << 20
    x = rng.weibull(1.5, 201) * 2
    f = lk.fit(lk.Weibull(), x)
    k, lam = f.params["shape"], f.params["scale"]
    direct = np.sum(np.log(k / lam) + (k - 1) * np.log(x / lam) - (x / lam) ** k)
    assert f.loglik == pytest.approx(direct, rel=1e-12)


def test_map_fit_is_labelled(rng):
    x = rng.normal(0.0, 1.0, N)
    f = lk.fit(lk.Normal(), x, prior={"sigma": lk.priors.HalfNormal(1.0)})
    assert f.is_map and "MAP" in str(f.summary()) and "post. sd" in str(f.summary())
    mle = lk.fit(lk.Normal(), x)
    assert f.params["sigma"] < mle.params["sigma"]  # the half-normal prior pulls sigma down
    assert f.log_posterior < f.loglik  # the log-prior is negative here


def test_censored_exponential_closed_form(rng):
    t = rng.exponential(2.0, N)
    c = rng.uniform(0, 4, N)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    f = lk.fit(lk.Exponential(), time, event=event)
    rate = event.sum() / time.sum()
    assert f.params["rate"] == pytest.approx(rate, rel=1e-9)
    assert f.se["rate"] == pytest.approx(rate / math.sqrt(event.sum()), rel=1e-7)
    same = lk.fit(lk.Exponential(), lk.Censored(time, np.where(event == 1, time, np.inf)))
    assert np.allclose(same.params, f.params)


# --------------------------------------------------------------------------- bijectors


@pytest.mark.parametrize(
    ("constraint", "value"),
    [
        (lk.real, np.array([-1.5, 0.0, 2.0])),
        (lk.positive, np.array([1e-3, 1.0, 40.0])),
        (lk.unit_interval, np.array([1e-4, 0.5, 0.97])),
        (GreaterThan(2.0), np.array([2.5, 10.0])),
        (Interval(-1.0, 3.0), np.array([-0.5, 2.9])),
        (lk.simplex, np.array([0.2, 0.3, 0.5])),
        (lk.positive_definite, np.array([[2.0, 0.3], [0.3, 1.0]])),
    ],
)
def test_bijectors_round_trip(constraint, value):
    u = constraint.inverse(value)
    assert u.shape == (constraint.unconstrained_size(value.shape),)
    back = np.asarray(constraint.forward(jnp.asarray(u), value.shape))
    assert np.allclose(back, value, rtol=1e-12, atol=1e-14)
    assert constraint.check(value) is None
    if constraint.elementwise:
        jac = jax.jacfwd(lambda v: constraint.forward(v, value.shape))(jnp.asarray(u))
        assert np.allclose(np.diag(np.asarray(jac)), constraint.derivative(value), rtol=1e-12)
    if constraint.has_np_forward:  # the numpy form equals jax's, also far out in u
        far = np.concatenate([u, [-800.0, -30.0, 30.0, 800.0]])
        with np.errstate(over="ignore"):
            np.testing.assert_allclose(
                constraint.np_forward(far),
                np.asarray(constraint.forward(jnp.asarray(far), far.shape)),
                rtol=1e-14,
                atol=1e-300,
            )


def test_simplex_fit_reports_natural_probabilities():
    x = np.repeat([0.0, 1.0, 2.0], [20, 30, 50])
    f = lk.fit(lk.Categorical(), x)
    assert np.allclose(f.values["p"], [0.2, 0.3, 0.5])
    n = 100
    p = np.array([0.2, 0.3, 0.5])
    # multinomial covariance of the frequencies: (diag(p) - p p') / n
    assert np.allclose(f.cov.to_numpy(), (np.diag(p) - np.outer(p, p)) / n, atol=1e-12)
    assert f.k == 2
    with pytest.raises(lk.ModelError, match="simplex"):
        f.conf_int(method="profile")


# --------------------------------------------------------------------------- errors


def test_bad_data_errors_name_the_problem():
    with pytest.raises(lk.DataError, match=r"row 2.*nan"):
        lk.fit(lk.Normal(), [1.0, 2.0, np.nan, 4.0])
    with pytest.raises(lk.DataError, match="inf"):
        lk.fit(lk.Normal(), [1.0, np.inf])
    with pytest.raises(lk.DataError, match="empty"):
        lk.fit(lk.Normal(), [])
    with pytest.raises(lk.DataError, match="numeric"):
        lk.fit(lk.Normal(), ["a", "b"])
    with pytest.raises(lk.DataError, match="categorical"):
        lk.fit(lk.Poisson(), pd.Series([1, 2], dtype="category"))
    with pytest.raises(lk.DataError, match=r"row 1 is -1.0 "):
        lk.fit(lk.Poisson(), [1, -1, 2])
    with pytest.raises(lk.DataError, match=r"0 or 1.*row 2 is 2.0 "):
        lk.fit(lk.Bernoulli(), [0, 1, 2])
    with pytest.raises(lk.DataError, match=r"positive.*row 0 is 0.0 "):
        lk.fit(lk.Gamma(), [0.0, 1.0])
    with pytest.raises(lk.DataError, match="shape"):
        lk.fit(lk.Normal(), np.ones((3, 2)))
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, np.nan]})
    with pytest.raises(lk.DataError, match="column 'b'"):
        lk.fit(lk.MultivariateNormal(), df)
    with pytest.raises(lk.DataError, match="first axis"):
        lk.fit(REGRESSION, {"X": np.ones((3, 2)), "y": np.ones(4)}, init={"beta": np.zeros(2)})
    with pytest.raises(lk.DataError, match="weights"):
        lk.fit(lk.Normal(), [1.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(lk.DataError, match="shape"):
        lk.fit(lk.Normal(), [1.0, 2.0], weights=[1.0])
    with pytest.raises(lk.DataError, match="event"):
        lk.fit(lk.Weibull(), [1.0, 2.0], event=[1, 2])
    with pytest.raises(lk.DataError, match="lower > upper"):
        lk.fit(lk.Weibull(), lk.Censored([2.0, 1.0], [1.0, 1.0]))
    assert issubclass(lk.DataError, ValueError) and issubclass(lk.ModelError, ValueError)


def test_bad_model_options_raise_model_error(gamma_x):
    with pytest.raises(lk.ModelError, match=r"unknown parameter.*'scale'"):
        lk.fit(lk.Gamma(), gamma_x, fixed={"scale": 1.0})
    with pytest.raises(lk.ModelError, match=r"init.*'shape'.*> 0"):
        lk.fit(lk.Gamma(), gamma_x, init={"shape": -1.0})
    with pytest.raises(lk.ModelError, match="nothing to estimate"):
        lk.fit(lk.Gamma(), gamma_x, fixed={"shape": 1.0, "rate": 1.0})
    with pytest.raises(lk.ModelError, match="method"):
        lk.fit(lk.Gamma(), gamma_x, method="magic")
    with pytest.raises(lk.ModelError, match="cov"):
        lk.fit(lk.Gamma(), gamma_x, cov="hc9")
    with pytest.raises(lk.ModelError, match="closed-form"):
        lk.fit(lk.Weibull(), gamma_x, method="closed_form")
    with pytest.raises(lk.ModelError, match="prior"):
        lk.fit(lk.Gamma(), gamma_x, prior={"shape": 3.0})
    with pytest.raises(lk.ModelError, match="likely model"):
        lk.fit("gamma", gamma_x)  # type: ignore[arg-type]
    with pytest.raises(lk.ModelError, match="constraint"):
        lk.Model(normal_logpdf, params={"mu": "real"})  # type: ignore[dict-item]


def test_user_logpdf_mistakes_are_explained(rng):
    x = rng.normal(size=N)

    def summed(p, x):
        return jnp.sum(normal_logpdf(p, x))

    with pytest.raises(lk.ModelError, match="one log-density per observation"):
        lk.fit(lk.Model(summed, params={"mu": lk.real, "sigma": lk.positive}), x)

    def broken(p, x):
        return x @ p["missing"]

    with pytest.raises(lk.ModelError, match="failed at the start values"):
        lk.fit(lk.Model(broken, params={"mu": lk.real}), x)

    def minus_inf(p, x):
        return jnp.where(x > 1.5, -jnp.inf, normal_logpdf(p, x))

    with pytest.raises(lk.ModelError, match=r"not finite at the start values for observation \d+"):
        lk.fit(lk.Model(minus_inf, params={"mu": lk.real, "sigma": lk.positive}), x)


def test_non_convergence_is_reported(gamma_x):
    with pytest.warns(lk.ConvergenceWarning, match="did not converge.*Try"):
        f = lk.fit(lk.Weibull(), gamma_x, max_iter=1)
    assert not f.converged and "max_iter" in f.message
    assert "False" in str(f.summary())


def test_singular_information_names_the_parameters(rng):
    x = rng.normal(size=N)

    def redundant(p, x):
        return normal_logpdf({"mu": p["a"] + p["b"], "sigma": p["sigma"]}, x)

    model = lk.Model(redundant, params={"a": lk.real, "b": lk.real, "sigma": lk.positive})
    with pytest.warns(lk.InferenceWarning, match=r"singular.*a, b"):
        f = lk.fit(model, x, init={"a": 0.0, "b": 0.0, "sigma": 1.0})
    assert f.note is not None and "a, b" in f.note
    assert "Note:" in str(f.summary())


def test_boundary_estimate_is_flagged_not_silent():
    with pytest.warns(lk.InferenceWarning, match="boundary"):
        f = lk.fit(lk.Bernoulli(), np.zeros(20))
    assert f.params["p"] == 0.0 and f.boundary == ("p",)
    ci = f.conf_int(method="profile")
    assert ci.loc["p", "lower"] == 0.0
    assert ci.loc["p", "upper"] == pytest.approx(1 - math.exp(-3.841458820694124 / 40), rel=1e-8)


def test_all_equal_data_for_gamma_is_an_error():
    with pytest.raises(lk.DataError, match="all observations are equal"):
        lk.fit(lk.Gamma(), np.full(10, 3.0))


def test_no_silent_nan_when_fit_succeeds(gamma_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(gamma_fit.se))
        assert np.all(np.isfinite(gamma_fit.conf_int(method="profile")))


def test_batch_solver_matches_single_fits():
    """The vmapped while-loop Newton (for studies and the bootstrap) gives lk.fit's answers."""
    from likely._engine.batch import natural_many, solve_many
    from likely._engine.model import Layout
    from likely._engine.problem import Problem

    model = lk.Weibull()
    rng = np.random.default_rng(5)
    x = rng.weibull(1.7, size=(6, N)) * 2.5
    start = {"shape": np.asarray(1.0), "scale": np.asarray(1.0)}
    layout = Layout.build(model.param_spec, start, model)
    u0 = np.tile(layout.to_unconstrained(start), (6, 1))
    u, negll, _grad, info, _iters, status = solve_many(
        Problem(model, layout), jnp.asarray(u0), jnp.asarray(x), jnp.ones((6, N)), {}, jnp.ones(2)
    )
    nat, jac = natural_many(Problem(model, layout), u, {})
    assert np.all(np.asarray(status) == 0)
    for r in range(6):
        f = lk.fit(model, x[r])
        assert np.allclose(np.asarray(nat[r]), f.params.to_numpy(), rtol=1e-9)
        assert -float(negll[r]) == pytest.approx(f.loglik, rel=1e-12)
        J = np.asarray(jac[r])
        cov = J @ np.linalg.inv(np.asarray(info[r])) @ J.T
        assert np.allclose(np.sqrt(np.diag(cov)), f.se.to_numpy(), rtol=1e-7)


def test_mean_log_from_bit_fields_equals_the_mean_of_logs():
    from likely.distributions._base import mean_log

    rng = np.random.default_rng(3)
    for shape in [(1,), (999,), (1000,), (2501,), (4, 1500), (3, 200)]:
        # values spread over hundreds of binary orders of magnitude
        x = rng.gamma(0.3, 2.0, shape) * np.exp(rng.normal(0, 50, shape))
        exact = np.array([math.fsum(r) / r.size for r in np.log(x).reshape(-1, shape[-1])])
        got = np.reshape(mean_log(x), -1)
        np.testing.assert_allclose(got, exact, rtol=1e-14, atol=1e-14)
    # rows that are not positive normal floats get log's answer, not a wrong finite number
    rows = np.array([[1.0, 0.0], [1.0, -2.0], [1e-310, 1.0], [1.0, np.inf], [2.0, 3.0]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(mean_log(rows), np.log(rows).mean(axis=-1))


def test_unit_weights_are_recognised_without_a_pass():
    from likely._engine.data import as_weights, is_unit, wsum

    w = as_weights(None, 5)
    assert is_unit(w) and wsum(w) == 5.0 and not w.flags.writeable
    np.testing.assert_array_equal(w, np.ones(5))
    assert not is_unit(np.ones(5))  # user weights take the general path
    assert not is_unit(as_weights(np.full(5, 2.0), 5))


def test_covariance_from_the_eigen_decomposition_is_the_inverse():
    from likely._engine.inference import covariance_u

    rng = np.random.default_rng(4)
    A = rng.normal(size=(6, 6))
    info = A @ A.T + np.diag(10.0 ** np.arange(6))  # scales 1 .. 1e5
    cov, note = covariance_u(info, list("abcdef"))
    assert note is None
    np.testing.assert_allclose(cov @ info, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(cov, np.linalg.inv(info), rtol=1e-10)


@pytest.mark.parametrize("r", [0.3, -0.7, 0.0, 0.999, -1.0 + 1e-9, -1.0])
def test_two_by_two_eigen_decomposition_in_closed_form(r):
    from likely._engine.inference import _eigh_correlation, covariance_u

    C = np.array([[1.0, r], [r, 1.0]])
    eig, vec = _eigh_correlation(C)
    np.testing.assert_allclose(eig, np.linalg.eigvalsh(C), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(vec @ np.diag(eig) @ vec.T, C, atol=1e-15)
    info = C * np.outer([2.0, 0.5], [2.0, 0.5])
    cov, note = covariance_u(info, ["a", "b"])
    if abs(r) < 1.0:  # 1 - |r| = 1e-9 is still far above the 1e-12 singularity threshold
        assert note is None
        np.testing.assert_allclose(cov @ info, np.eye(2), atol=1e-6 if abs(r) > 0.999 else 1e-12)
    else:
        assert note is not None and "singular" in note
