"""Finite mixtures by EM: `lk.Mixture` (any family) and `lk.GaussianMixture`.

Oracles: published fits (Zucchini & MacDonald 2009, Table 1.2, Poisson mixtures of the annual
earthquake counts; mixtools' normalmixEM on Old Faithful waiting times, Benaglia et al. 2009,
JSS 32(6)), scikit-learn's GaussianMixture from the same start values, and standard errors
from a finite-difference Hessian of the marginal log-likelihood written here in numpy.
"""

import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import likely as lk

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def _csv(name: str) -> pd.DataFrame:
    if not DATA.exists():
        pytest.skip("shared data folder not found")
    return pd.read_csv(DATA / name)


@pytest.fixture(scope="module")
def waiting() -> np.ndarray:
    return _csv("faithful.csv")["waiting"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def faithful2d() -> np.ndarray:
    return _csv("faithful.csv")[["eruptions", "waiting"]].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def quakes() -> np.ndarray:
    return _csv("earthquakes.csv")["count"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def normal_mix(waiting):
    return lk.fit(lk.Mixture(lk.Normal(), k=2), waiting)


def fd_hessian(f, theta: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian (the test's independent oracle)."""
    p = theta.size
    h = rel * np.maximum(np.abs(theta), 1e-2)
    H = np.zeros((p, p))
    for i in range(p):
        for j in range(i, p):
            ei, ej = np.eye(p)[i] * h[i], np.eye(p)[j] * h[j]
            H[i, j] = H[j, i] = (
                f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)
            ) / (4 * h[i] * h[j])
    return H


# ------------------------------------------------------------------------ published fits
def test_faithful_waiting_matches_mixtools(normal_mix):
    # mixtools normalmixEM(faithful$waiting): lambda 0.360887 0.639113, mu 54.614893 80.091093,
    # sigma 5.871245 5.867716, loglik -1034.002. mixtools stops EM when the log-likelihood
    # changes by less than 1e-8, which leaves its estimates ~4e-5 from the exact MLE (here EM
    # is followed by Newton steps): hence the tolerances, not tighter.
    v = normal_mix.values
    np.testing.assert_allclose(v["weights"], [0.360887, 0.639113], atol=1e-5)
    np.testing.assert_allclose(v["mu"], [54.614893, 80.091093], atol=1e-4)
    np.testing.assert_allclose(v["sigma"], [5.871245, 5.867716], atol=1e-4)
    assert normal_mix.loglik == pytest.approx(-1034.002, abs=5e-4)
    assert normal_mix.converged and normal_mix.method == "EM + Newton"
    assert normal_mix.grad_norm < 1e-8
    assert isinstance(normal_mix, lk.MixtureFit)


def test_faithful_waiting_matches_sklearn(normal_mix, waiting):
    from sklearn.mixture import GaussianMixture as SK

    sk = SK(2, reg_covar=0, tol=1e-14, max_iter=10_000, n_init=3, random_state=0)
    sk.fit(waiting[:, None])
    o = np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(normal_mix.values["mu"], sk.means_[o, 0], rtol=1e-6)
    np.testing.assert_allclose(
        normal_mix.values["sigma"], np.sqrt(sk.covariances_[o, 0, 0]), rtol=1e-6
    )
    np.testing.assert_allclose(normal_mix.values["weights"], sk.weights_[o], rtol=1e-6)
    assert normal_mix.loglik == pytest.approx(sk.score(waiting[:, None]) * waiting.size, rel=1e-10)


def test_normal_mixture_se_against_finite_differences(normal_mix, waiting):
    def loglik(t):
        w0, m0, m1, s0, s1 = t
        dens = w0 * stats.norm.pdf(waiting, m0, s0) + (1 - w0) * stats.norm.pdf(waiting, m1, s1)
        return np.sum(np.log(dens))

    v = normal_mix.values
    theta = np.array([v["weights"][0], *v["mu"], *v["sigma"]])
    cov = np.linalg.inv(-fd_hessian(loglik, theta))
    se = normal_mix.se[["weights[0]", "mu[0]", "mu[1]", "sigma[0]", "sigma[1]"]]
    np.testing.assert_allclose(se.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-4)
    assert normal_mix.se["weights[1]"] == pytest.approx(normal_mix.se["weights[0]"], rel=1e-10)


@pytest.mark.parametrize(
    "k, neg_loglik, rate, delta",
    [
        (2, 360.3690, [15.777, 26.840], [0.676, 0.324]),
        (3, 356.8489, [12.736, 19.785, 31.629], [0.278, 0.593, 0.130]),
        (4, 356.7337, [10.584, 15.528, 20.969, 32.079], [0.093, 0.354, 0.437, 0.116]),
    ],
)
def test_earthquake_poisson_mixtures_zucchini_macdonald(quakes, k, neg_loglik, rate, delta):
    """Zucchini & MacDonald (2009), Table 1.2, to its printed digits. Their fits are R's nlm,
    which stops at a gradient of 1e-6 on this flat likelihood: the last printed digit of a
    rate can differ by 1 from the exact MLE found here (EM + Newton, gradient 1e-12)."""
    mix = lk.fit(lk.Mixture(lk.Poisson(), k=k), quakes)
    assert -mix.loglik == pytest.approx(neg_loglik, abs=6e-5)
    np.testing.assert_allclose(mix.values["rate"], rate, atol=1.5e-3)
    np.testing.assert_allclose(mix.values["weights"], delta, atol=6e-4)


def test_newton_on_the_marginal_likelihood_agrees_with_em(quakes):
    em = lk.fit(lk.Mixture(lk.Poisson(), k=2), quakes)
    direct = lk.fit(lk.Mixture(lk.Poisson(), k=2), quakes, method="newton")
    np.testing.assert_allclose(direct.params.to_numpy(), em.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(direct.se.to_numpy(), em.se.to_numpy(), rtol=1e-6)
    assert direct.loglik == pytest.approx(em.loglik, rel=1e-12)
    pure = lk.fit(lk.Mixture(lk.Poisson(), k=2), quakes, method="em", tol=1e-14)
    assert pure.method == "EM" and pure.em.newton_steps == 0
    np.testing.assert_allclose(pure.params.to_numpy(), em.params.to_numpy(), rtol=1e-5)
    trace = pure.em.loglik_trace
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))  # EM never decreases


# ------------------------------------------------------------------------ GaussianMixture
def _sk_start(X, k=2):
    rng = np.random.default_rng(3)
    return {
        "weights": np.array([0.4, 0.6]),
        "mu": X[rng.choice(X.shape[0], k, replace=False)],
        "cov": np.stack([np.cov(X.T)] * k),
    }


@pytest.mark.parametrize("covariance", ["full", "tied", "diag", "spherical"])
def test_gaussian_mixture_iterates_like_sklearn(faithful2d, covariance):
    """Eight EM iterations from the same start: the same iterates as scikit-learn."""
    from sklearn.mixture import GaussianMixture as SK

    X = faithful2d
    s = _sk_start(X)
    init = {"weights": s["weights"], "mu": s["mu"]}
    if covariance == "full":
        init["cov"], prec = s["cov"], np.linalg.inv(s["cov"])
    elif covariance == "tied":
        init["cov"], prec = s["cov"][0], np.linalg.inv(s["cov"][0])
    elif covariance == "diag":
        init["var"] = np.stack([np.diag(c) for c in s["cov"]])
        prec = 1 / init["var"]
    else:
        init["var"] = np.array([np.trace(c) / 2 for c in s["cov"]])
        prec = 1 / init["var"]
    with warnings.catch_warnings(record=True) as said:
        # eight iterations are not at the maximum: the information is not positive definite
        warnings.simplefilter("always")
        g = lk.fit(
            lk.GaussianMixture(k=2, covariance=covariance, reg_covar=1e-6),
            X,
            init=init,
            method="em",
            max_iter=8,
            tol=0,
        )
    sk = SK(
        2,
        covariance_type=covariance,
        tol=0,
        max_iter=8,
        init_params="random_from_data",
        weights_init=s["weights"],
        means_init=s["mu"],
        precisions_init=prec,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X)
    o = np.argsort(sk.means_[:, 0])
    assert g.em.iterations == 8 and not g.converged
    assert any(issubclass(w.category, lk.ConvergenceWarning) for w in said)
    notes = [str(w.message) for w in said if issubclass(w.category, lk.InferenceWarning)]
    # the information there is not that of an unidentified model: it says the fit stopped short
    assert not any("not identified" in m for m in notes), notes
    if covariance in ("full", "tied"):  # there the observed information has a negative eigenvalue
        assert g.note is not None and "not at a maximum of the likelihood" in g.note
    np.testing.assert_allclose(g.values["mu"], sk.means_[o], rtol=1e-9)
    np.testing.assert_allclose(g.values["weights"], sk.weights_[o], rtol=1e-9)
    name = "cov" if covariance in ("full", "tied") else "var"
    want = sk.covariances_ if covariance == "tied" else sk.covariances_[o]
    np.testing.assert_allclose(g.values[name], want, rtol=1e-9)
    assert g.loglik == pytest.approx(sk.score(X) * X.shape[0], rel=1e-10)


@pytest.fixture(scope="module")
def gmm_full(faithful2d):
    return lk.fit(lk.GaussianMixture(k=2), faithful2d)


def test_gaussian_mixture_converges_to_sklearn_mle(gmm_full, faithful2d):
    from sklearn.mixture import GaussianMixture as SK

    sk = SK(2, reg_covar=0, tol=1e-14, max_iter=10_000, n_init=3, random_state=1)
    sk.fit(faithful2d)
    o = np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(gmm_full.values["mu"], sk.means_[o], rtol=1e-6)
    np.testing.assert_allclose(gmm_full.values["cov"], sk.covariances_[o], rtol=1e-5)
    assert gmm_full.loglik == pytest.approx(sk.score(faithful2d) * 272, rel=1e-10)


def test_gaussian_mixture_se_against_finite_differences(gmm_full, faithful2d):
    X = faithful2d

    def loglik(t):
        w0, mu, c = t[0], t[1:5].reshape(2, 2), t[5:]
        covs = [np.array([[c[0], c[1]], [c[1], c[2]]]), np.array([[c[3], c[4]], [c[4], c[5]]])]
        d0 = stats.multivariate_normal.pdf(X, mu[0], covs[0])
        d1 = stats.multivariate_normal.pdf(X, mu[1], covs[1])
        return np.sum(np.log(w0 * d0 + (1 - w0) * d1))

    v = gmm_full.values
    cov_entries = [v["cov"][j][a, b] for j in range(2) for a, b in ((0, 0), (0, 1), (1, 1))]
    theta = np.array([v["weights"][0], *v["mu"].ravel(), *cov_entries])
    se_fd = np.sqrt(np.diag(np.linalg.inv(-fd_hessian(loglik, theta))))
    labels = ["weights[0]", "mu[0,0]", "mu[0,1]", "mu[1,0]", "mu[1,1]"]
    labels += [f"cov[{j},{a},{b}]" for j in range(2) for a, b in ((0, 0), (0, 1), (1, 1))]
    np.testing.assert_allclose(gmm_full.se[labels].to_numpy(), se_fd, rtol=2e-4)


def test_gaussian_mixture_equals_mixture_of_multivariate_normals(gmm_full, faithful2d):
    generic = lk.fit(lk.Mixture(lk.MultivariateNormal(), k=2, n_init=1), faithful2d)
    np.testing.assert_allclose(generic.values["mu"], gmm_full.values["mu"], rtol=1e-7)
    np.testing.assert_allclose(generic.values["cov"], gmm_full.values["cov"], rtol=1e-6)
    assert generic.loglik == pytest.approx(gmm_full.loglik, rel=1e-12)
    np.testing.assert_allclose(generic.se.to_numpy(), gmm_full.se.to_numpy(), rtol=1e-5)


# ------------------------------------------------------------------------ result methods
def test_posterior_classify_sample_plot(normal_mix, waiting):
    import matplotlib

    matplotlib.use("Agg")
    post = normal_mix.posterior()
    assert post.shape == (waiting.size, 2)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    assert normal_mix.classify([50.0, 85.0]).tolist() == [0, 1]
    x, labels = normal_mix.sample(2000, key=1)
    assert x.shape == (2000,) and set(np.unique(labels)) <= {0, 1}
    assert abs(labels.mean() - normal_mix.values["weights"][1]) < 0.05
    np.testing.assert_array_equal(normal_mix.sample(50, key=4)[0], normal_mix.sample(50, key=4)[0])
    ax = normal_mix.plot_components()
    assert len(ax.lines) == 3
    text = str(normal_mix.summary())
    assert "EM" in text and "iterations" in text
    assert normal_mix.em.converged and normal_mix.em.n_init == 4


def test_profile_interval_and_transform(quakes):
    mix = lk.fit(lk.Mixture(lk.Poisson(), k=2), quakes)
    profile = mix.conf_int(method="profile", params=["rate[0]", "rate[1]"])
    wald = mix.conf_int(params=["rate[0]", "rate[1]"])
    np.testing.assert_allclose(profile.to_numpy(), wald.to_numpy(), rtol=0.05)
    assert profile["upper"].iloc[1] > wald["upper"].iloc[1]  # right-skewed likelihood
    ratio = mix.transform(lambda p: p["rate"][1] / p["rate"][0])
    assert float(ratio) == pytest.approx(mix.values["rate"][1] / mix.values["rate"][0])
    assert ratio.se.iloc[0] > 0


def test_frequency_weights_equal_repeated_rows(quakes):
    values, counts = np.unique(quakes, return_counts=True)
    weighted = lk.fit(lk.Mixture(lk.Poisson(), k=2), values, weights=counts)
    full = lk.fit(lk.Mixture(lk.Poisson(), k=2), quakes)
    np.testing.assert_allclose(weighted.params.to_numpy(), full.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(weighted.se.to_numpy(), full.se.to_numpy(), rtol=1e-6)
    assert weighted.loglik == pytest.approx(full.loglik, rel=1e-12)


# ------------------------------------------------------------------------ degenerate cases
def test_collapsing_component_is_floored_and_reported():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, 200), np.full(6, 3.0)])
    init = {"weights": [0.45, 0.45, 0.1], "mu": [-0.5, 0.5, 3.0], "sigma": [1.0, 1.0, 0.5]}
    with pytest.warns(lk.InferenceWarning) as caught:
        mix = lk.fit(lk.Mixture(lk.Normal(), k=3), x, init=init, max_iter=200)
    messages = " ".join(str(w.message) for w in caught)
    assert "collapsed" in messages and "no positive curvature for sigma[2]" in messages
    assert np.all(np.isfinite(mix.params))
    assert mix.values["sigma"][2] == pytest.approx(1e-6 * x.std(), rel=1e-6)
    assert "collapsed" in mix.note and mix.method == "EM"
    with pytest.warns(lk.InferenceWarning) as caught:
        g = lk.fit(
            lk.GaussianMixture(k=3, covariance="spherical"),
            x,
            init={"weights": [0.45, 0.45, 0.1], "mu": [[-0.5], [0.5], [3.0]], "var": [1, 1, 0.25]},
            max_iter=200,
        )
    assert np.all(np.isfinite(g.params)) and "collapsed" in g.note
    assert any("collapsed" in str(w.message) for w in caught)


def test_empty_component_keeps_its_values_and_is_reported(quakes):
    init = {"weights": [0.5, 0.49, 0.01], "rate": [15.0, 25.0, 5000.0]}
    with pytest.warns(lk.InferenceWarning) as caught:
        mix = lk.fit(lk.Mixture(lk.Poisson(), k=3), quakes, init=init, method="em", tol=1e-10)
    messages = " ".join(str(w.message) for w in caught)
    assert "component 2 is empty" in messages and "weights[2] on the boundary" in messages
    assert mix.values["rate"][2] == 5000.0 and mix.values["weights"][2] == 0.0
    assert "empty" in mix.note and np.all(np.isfinite(mix.params))


def test_bad_input_is_refused(waiting):
    with pytest.raises(lk.DataError, match="NaN"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(lk.DataError, match="whole numbers"):
        lk.fit(lk.Mixture(lk.Poisson(), k=2), [1.0, 2.5, 3.0])
    with pytest.raises(lk.ModelError, match="k >= 2"):
        lk.Mixture(lk.Normal(), k=1)
    with pytest.raises(lk.ModelError, match="likely model"):
        lk.Mixture("normal", k=2)
    with pytest.raises(lk.ModelError, match="length 2"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), waiting, init={"mu": [1.0, 2.0, 3.0]})
    with pytest.raises(lk.ModelError, match="weights"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), waiting, prior={"weights": lk.priors.Normal()})
    with pytest.raises(lk.DataError, match="censored"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), waiting, event=np.ones(waiting.size))
    with pytest.raises(lk.ModelError, match="method"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), waiting, method="closed_form")
    with pytest.raises(lk.ModelError, match="covariance"):
        lk.GaussianMixture(k=2, covariance="banded")
    with pytest.raises(lk.DataError, match=r"\(n, d\)"):
        lk.fit(lk.GaussianMixture(k=2), np.zeros((3, 2, 2)))


def test_map_prior_on_component_parameters(waiting):
    prior = {"sigma": lk.priors.LogNormal(np.log(6.0), 0.1)}
    m = lk.fit(lk.Mixture(lk.Normal(), k=2), waiting, prior=prior)
    assert m.is_map
    # the posterior mode: the gradient of log-likelihood + log-prior vanishes (engine check)
    assert m.grad_norm < 1e-8
    assert abs(m.values["sigma"][0] - 6.0) < abs(5.871245 - 6.0)
