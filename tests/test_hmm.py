"""Hidden Markov models by EM: `lk.HMM`.

Oracles: brute-force enumeration of every hidden path on tiny problems (forward-backward and
Viterbi, both implementations, with and without blocks); published fits (Zucchini &
MacDonald 2009, Poisson HMMs of the annual earthquake counts, their R code's output);
hmmlearn from the same start values; standard errors from a finite-difference Hessian of the
log-likelihood computed here with a numpy forward algorithm.
"""

import itertools
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

import likely as lk
from likely.models.latent import _hmm_algorithms as alg

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def quakes() -> np.ndarray:
    if not DATA.exists():
        pytest.skip("shared data folder not found")
    return pd.read_csv(DATA / "earthquakes.csv")["count"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def two_state(quakes):
    return lk.fit(lk.HMM(lk.Poisson(), n_states=2), quakes)


# ------------------------------------------------------------------------ brute force
def brute_force(le: np.ndarray, G: np.ndarray, delta: np.ndarray):
    """Log-likelihood, state posteriors, transition counts and best path by enumerating
    every one of the K^T hidden paths."""
    T, K = le.shape
    logG = np.log(np.where(G > 0, G, 1e-300))
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    lp = np.log(delta)[paths[:, 0]] + le[0, paths[:, 0]]
    for t in range(1, T):
        lp = lp + logG[paths[:, t - 1], paths[:, t]] + le[t, paths[:, t]]
    ll = logsumexp(lp)
    p = np.exp(lp - ll)
    gamma = np.stack([np.bincount(paths[:, t], weights=p, minlength=K) for t in range(T)])
    xi = np.zeros((K, K))
    for t in range(1, T):
        np.add.at(xi, (paths[:, t - 1], paths[:, t]), p)
    return ll, gamma, xi, paths[np.argmax(lp)]


def _grid(le: np.ndarray, B: int, L: int):
    """The algorithms' layout: step t = b L + l of state k at [l, k, b], padded at the end."""
    T, K = le.shape
    out = np.zeros((B * L, K))
    out[:T] = le
    valid = np.zeros(B * L)
    valid[:T] = 1
    return (
        jnp.asarray(out.reshape(B, L, K).transpose(1, 2, 0)),
        jnp.asarray(valid.reshape(B, L).swapaxes(0, 1)),
    )


@jax.jit
def _all_algorithms(a, v, G, delta):
    return (
        alg.posteriors_scaled(a, v, G, delta),
        alg.posteriors_log(a, v, G, delta),
        alg.loglik_scaled(a, v, G, delta),
        alg.loglik_log(a, v, G, delta),
        alg.viterbi(a, v, G, delta),
    )


def test_forward_backward_and_viterbi_match_brute_force():
    K, T = 3, 5
    rng = np.random.default_rng(K)
    le = rng.normal(scale=2.0, size=(T, K))
    G = rng.dirichlet(np.ones(K), size=K)
    G[0, -1] = 0.0  # a structural zero
    G[0] /= G[0].sum()
    delta = rng.dirichlet(np.ones(K))
    ll, gamma, xi, path = brute_force(le, G, delta)
    for B, L in ((1, T), (3, 2)):  # one block; three blocks with a padded step
        a, v = _grid(le, B, L)
        scaled, logspace, ll_scaled, ll_log, best = _all_algorithms(
            a, v, jnp.asarray(G), jnp.asarray(delta)
        )
        for l2, g2, x2 in (scaled, logspace):
            assert float(l2) == pytest.approx(ll, rel=1e-12)
            np.testing.assert_allclose(np.asarray(alg.time_order(g2))[:T], gamma, atol=1e-12)
            np.testing.assert_allclose(np.asarray(x2), xi, atol=1e-12)
        assert float(ll_scaled) == pytest.approx(ll, rel=1e-12)
        assert float(ll_log) == pytest.approx(ll, rel=1e-12)
        np.testing.assert_array_equal(np.asarray(best)[:T], path)


# ------------------------------------------------------------------------ published fits
def test_earthquakes_two_state_zucchini_macdonald(two_state):
    # Zucchini & MacDonald (2009), sec. 1.3 / their pois.HMM.mle (stationary): lambda =
    # (15.472, 26.125), Gamma = [[0.9340, 0.0660], [0.1285, 0.8715]], -log L = 342.3183,
    # AIC 692.6365, BIC 703.3278
    v = two_state.values
    np.testing.assert_allclose(v["rate"], [15.472, 26.125], atol=1e-3)
    np.testing.assert_allclose(v["transition"], [[0.9340, 0.0660], [0.1285, 0.8715]], atol=1e-4)
    assert -two_state.loglik == pytest.approx(342.3183, abs=5e-5)
    assert two_state.aic == pytest.approx(692.6365, abs=5e-5)
    assert two_state.bic == pytest.approx(703.3278, abs=5e-5)
    assert two_state.nobs == 107 and two_state.k == 4
    np.testing.assert_allclose(two_state.initial, [0.6608, 0.3392], atol=1e-4)
    assert isinstance(two_state, lk.HMMFit) and two_state.converged


def test_earthquakes_three_state_zucchini_macdonald(quakes):
    # their pois.HMM.mle, stationary, from lambda (10, 20, 25): lambda (13.14573, 19.72101,
    # 29.71437), delta (0.4436420, 0.4044983, 0.1518597), -log L 329.4603, AIC 676.9206,
    # BIC 700.976, Gamma[3,1] = 1.5e-9: the maximum is on the boundary Gamma[3,1] = 0
    with pytest.warns(lk.InferenceWarning, match=r"transition\[2,0\] went to 0"):
        fit3 = lk.fit(lk.HMM(lk.Poisson(), n_states=3), quakes)
    np.testing.assert_allclose(fit3.values["rate"], [13.14573, 19.72101, 29.71437], atol=5e-4)
    np.testing.assert_allclose(fit3.initial, [0.4436420, 0.4044983, 0.1518597], atol=5e-5)
    G = [
        [0.9546243, 0.0244426, 0.02093313],
        [0.04976679, 0.8993673, 0.05086592],
        [0, 0.196642, 0.80335799],
    ]
    np.testing.assert_allclose(fit3.values["transition"], G, atol=5e-5)
    assert -fit3.loglik == pytest.approx(329.4603, abs=5e-5)
    assert fit3.aic == pytest.approx(676.9206, abs=5e-5)  # the zero counts as a parameter
    assert fit3.bic == pytest.approx(700.976, abs=5e-4)
    assert fit3.values["transition"][2, 0] == 0.0 and fit3.se["transition[2,0]"] == 0.0
    assert np.all(np.isfinite(fit3.se))


def test_earthquakes_two_state_estimated_initial(quakes):
    # Zucchini & MacDonald's non-stationary fit (delta estimated): -log L = 341.8787, AIC
    # 693.7574, BIC 707.1216 (their pois.HMM.mle, stationary=FALSE); with
    # one sequence the MLE of delta is a point mass, which is reported as a boundary value
    with pytest.warns(lk.InferenceWarning, match=r"initial\[1\] went to 0"):
        fit2 = lk.fit(lk.HMM(lk.Poisson(), n_states=2, initial="estimated"), quakes)
    assert -fit2.loglik == pytest.approx(341.8787, abs=5e-5)
    np.testing.assert_array_equal(fit2.values["initial"], [1.0, 0.0])
    assert fit2.k == 5 and np.all(np.isfinite(fit2.se))  # m^2 + m - 1, as theirs
    assert fit2.aic == pytest.approx(693.7574, abs=5e-5)
    assert fit2.bic == pytest.approx(707.1216, abs=1e-4)  # from their rounded -log L


def _numpy_loglik(x, rates, G):
    """Scaled forward algorithm in numpy, stationary start (the oracle of the SE test)."""
    delta = np.linalg.solve((np.eye(2) - G + 1).T, np.ones(2))
    a = delta * stats.poisson.pmf(x[0], rates)
    ll = np.log(a.sum())
    a /= a.sum()
    for xt in x[1:]:
        a = (a @ G) * stats.poisson.pmf(xt, rates)
        ll += np.log(a.sum())
        a /= a.sum()
    return ll


def test_standard_errors_against_finite_differences(two_state, quakes):
    def loglik(t):
        G = np.array([[1 - t[2], t[2]], [t[3], 1 - t[3]]])
        return _numpy_loglik(quakes, t[:2], G)

    v = two_state.values
    theta = np.array([*v["rate"], v["transition"][0, 1], v["transition"][1, 0]])
    H = np.zeros((4, 4))
    h = 1e-4 * np.abs(theta)
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * h[i], np.eye(4)[j] * h[j]
            H[i, j] = (
                loglik(theta + ei + ej)
                - loglik(theta + ei - ej)
                - loglik(theta - ei + ej)
                + loglik(theta - ei - ej)
            ) / (4 * h[i] * h[j])
    se_fd = np.sqrt(np.diag(np.linalg.inv(-H)))
    se = two_state.se[["rate[0]", "rate[1]", "transition[0,1]", "transition[1,0]"]]
    np.testing.assert_allclose(se.to_numpy(), se_fd, rtol=1e-4)


def test_newton_on_the_marginal_likelihood_agrees_with_em(two_state, quakes):
    direct = lk.fit(lk.HMM(lk.Poisson(), n_states=2), quakes, method="newton")
    np.testing.assert_allclose(direct.params.to_numpy(), two_state.params.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(direct.se.to_numpy(), two_state.se.to_numpy(), rtol=1e-5)
    pure = lk.fit(lk.HMM(lk.Poisson(), n_states=2), quakes, method="em", tol=1e-13)
    assert pure.method == "EM" and pure.em.newton_steps == 0
    np.testing.assert_allclose(pure.params.to_numpy(), two_state.params.to_numpy(), rtol=1e-4)
    trace = pure.em.loglik_trace
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))  # EM never decreases


# ------------------------------------------------------------------------ hmmlearn
def _simulate(rng, T, G, mus, sds):
    s = [0]
    for _ in range(1, T):
        s.append(rng.choice(len(mus), p=G[s[-1]]))
    s = np.array(s)
    return rng.normal(mus[s], sds[s])


@pytest.fixture(scope="module")
def gaussian_sequences():
    rng = np.random.default_rng(11)
    G = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    mus, sds = np.array([-2.0, 0.0, 3.0]), np.array([1.0, 0.5, 1.5])
    return [_simulate(rng, T, G, mus, sds) for T in (150, 80, 230)]


GAUSSIAN_START = {
    "mu": np.array([-1.5, 0.5, 2.5]),
    "sigma": np.ones(3),
    "transition": np.full((3, 3), 0.4 / 3) + 0.6 * np.eye(3),
    "initial": np.array([0.5, 0.3, 0.2]),
}


@pytest.fixture(scope="module")
def gaussian_fit(gaussian_sequences):
    """Ten EM iterations on two sequences, the first with frequency weight 2."""
    with pytest.warns(lk.ConvergenceWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", lk.InferenceWarning)  # not at the maximum
        return lk.fit(
            lk.HMM(lk.Normal(), n_states=3, initial="estimated"),
            gaussian_sequences[:2],
            weights=[2, 1],
            init=GAUSSIAN_START,
            method="em",
            max_iter=10,
            tol=0,
        )


@pytest.mark.parametrize("implementation", ["log", "scaling"])
def test_gaussian_hmm_iterates_like_hmmlearn(gaussian_fit, gaussian_sequences, implementation):
    """The same iterates as hmmlearn from the same start, with the weighted sequence given to
    hmmlearn twice (sequence weights are frequency weights)."""
    from hmmlearn.hmm import GaussianHMM

    a, b = gaussian_sequences[:2]
    X, lengths = np.concatenate([a, a, b])[:, None], [len(a), len(a), len(b)]
    h = GaussianHMM(
        3,
        covariance_type="diag",
        n_iter=10,
        tol=0,
        init_params="",
        params="stmc",
        implementation=implementation,
        min_covar=0,
        covars_prior=0,
        means_prior=0,
        means_weight=0,
    )
    h.startprob_, h.transmat_ = GAUSSIAN_START["initial"], GAUSSIAN_START["transition"]
    h.means_, h.covars_ = GAUSSIAN_START["mu"][:, None], np.ones((3, 1))
    h.fit(X, lengths)
    ours = gaussian_fit
    np.testing.assert_allclose(ours.values["mu"], h.means_.ravel(), rtol=1e-10)
    np.testing.assert_allclose(ours.values["sigma"] ** 2, h.covars_.ravel(), rtol=1e-10)
    np.testing.assert_allclose(ours.values["transition"], h.transmat_, atol=1e-12)
    np.testing.assert_allclose(ours.values["initial"], h.startprob_, atol=1e-12)
    assert ours.loglik == pytest.approx(h.score(X, lengths), rel=1e-12)
    assert ours.n_sequences == 2 and ours.nobs == 2 * 150 + 80


def test_long_sequence_in_blocks_matches_hmmlearn_score():
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(5)
    G = np.array([[0.95, 0.05], [0.1, 0.9]])
    x = _simulate(rng, 3000, G, np.array([0.0, 2.0]), np.array([1.0, 0.7]))
    model = lk.HMM(lk.Normal(), n_states=2, initial="estimated")
    packed = model.prepare(x)
    assert packed["valid"].shape[2] > 1  # cut into blocks
    params = {"mu": [0.1, 1.9], "sigma": [1.1, 0.8], "transition": G, "initial": [0.6, 0.4]}
    h = GaussianHMM(2, covariance_type="diag", init_params="")
    h.startprob_, h.transmat_ = np.array([0.6, 0.4]), G
    h.means_, h.covars_ = np.array([[0.1], [1.9]]), np.array([[1.21], [0.64]])
    assert model.loglik(params, x) == pytest.approx(h.score(x[:, None]), rel=1e-12)
    logspace = lk.HMM(lk.Normal(), n_states=2, initial="estimated", algorithm="log")
    assert logspace.loglik(params, x) == pytest.approx(h.score(x[:, None]), rel=1e-12)
    _, post = h.score_samples(x[:, None])
    values = {k: jnp.asarray(v, dtype=float) for k, v in params.items()}
    np.testing.assert_allclose(model.smoothed(values, packed)[0], post, atol=1e-10)
    np.testing.assert_array_equal(model.most_likely_path(values, packed)[0], h.predict(x[:, None]))


def test_multivariate_emission_matches_hmmlearn():
    """Vector observations (MultivariateNormal emissions, full covariances): log-likelihood
    and state probabilities at given parameters against hmmlearn's."""
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal([0, 0], 1, (60, 2)), rng.normal([3, 1], 0.5, (40, 2))])
    cov = np.array([[[1.0, 0.2], [0.2, 0.8]], [[0.3, -0.05], [-0.05, 0.2]]])
    G = np.array([[0.9, 0.1], [0.2, 0.8]])
    params = {"mu": [[0.1, 0.0], [2.9, 1.1]], "cov": cov, "transition": G, "initial": [0.7, 0.3]}
    model = lk.HMM(lk.MultivariateNormal(), n_states=2, initial="estimated")
    h = GaussianHMM(2, covariance_type="full", init_params="")
    h.startprob_, h.transmat_ = np.array([0.7, 0.3]), G
    h.means_, h.covars_ = np.array(params["mu"]), cov
    assert model.loglik(params, x) == pytest.approx(h.score(x), rel=1e-12)
    values = {k: jnp.asarray(v, dtype=float) for k, v in params.items()}
    post = model.smoothed(values, model.prepare(x))[0]
    np.testing.assert_allclose(post, h.predict_proba(x), atol=1e-12)
    # five EM iterations: the M-step of a vector emission (MultivariateNormal's weighted MLE)
    h5 = GaussianHMM(
        2,
        covariance_type="full",
        n_iter=5,
        tol=0,
        init_params="",
        params="stmc",
        min_covar=0,
        covars_prior=0,
        means_prior=0,
        means_weight=0,
    )
    h5.startprob_, h5.transmat_ = np.array([0.7, 0.3]), G
    h5.means_, h5.covars_ = np.array(params["mu"]), cov
    h5.fit(x)
    with pytest.warns(lk.ConvergenceWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", lk.InferenceWarning)
        ours = lk.fit(model, x, init=params, method="em", max_iter=5, tol=0)
    np.testing.assert_allclose(ours.values["mu"], h5.means_, rtol=1e-10)
    np.testing.assert_allclose(ours.values["cov"], h5.covars_, rtol=1e-9)
    # transition[1,0] is 5e-11 there: set to 0 here (a probability driven to 0, reported)
    np.testing.assert_allclose(ours.values["transition"], h5.transmat_, atol=1e-10)
    assert "transition[1,0] went to 0" in ours.note


# ------------------------------------------------------------------------ result methods
def test_posterior_viterbi_sample(two_state, gaussian_fit):
    post = two_state.posterior()
    assert post.shape == (107, 2)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    path = two_state.viterbi()
    assert path.shape == (107,) and set(np.unique(path)) == {0, 1}
    # the most likely path mostly agrees with the most probable state at each time
    assert np.mean(path == post.argmax(axis=1)) > 0.9
    both = gaussian_fit.viterbi()
    assert isinstance(both, list) and [len(p) for p in both] == [150, 80]
    assert [p.shape for p in gaussian_fit.posterior()] == [(150, 3), (80, 3)]
    x, states = gaussian_fit.sample(500, key=3)
    assert x.shape == (500,) and states.shape == (500,)
    assert states[0] == 0  # the estimated initial distribution is a point mass on state 0
    np.testing.assert_array_equal(
        gaussian_fit.sample(20, key=1)[0], gaussian_fit.sample(20, key=1)[0]
    )
    assert "EM" in str(two_state.summary())


# ------------------------------------------------------------------------ degenerate cases
def test_structural_zero_and_unvisited_state(quakes):
    """Zeros in the start transition matrix stay 0; a state that cannot be entered is never
    visited: both are reported, nothing is NaN, and the unidentified parameters have no
    standard errors (singular information, reported)."""
    init = {
        "rate": np.array([15.0, 25.0, 60.0]),
        "transition": np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.3, 0.3, 0.4]]),
    }
    with pytest.warns(lk.InferenceWarning) as caught:
        fit = lk.fit(lk.HMM(lk.Poisson(), n_states=3), quakes, init=init, method="em")
    messages = " ".join(str(w.message) for w in caught)
    assert "state 2 is never left or never visited" in messages
    assert "state 2 is empty" in messages
    G = fit.values["transition"]
    assert G[0, 2] == 0.0 and G[1, 2] == 0.0 and fit.initial[2] == 0.0
    assert np.all(np.isfinite(fit.params)) and "state 2" in fit.note
    assert fit.values["rate"][2] == 60.0


def test_bad_input_is_refused(quakes):
    with pytest.raises(lk.DataError, match="sequence 1"):
        lk.fit(lk.HMM(lk.Normal(), n_states=2), [np.zeros(5), np.array([1.0, np.nan])])
    with pytest.raises(lk.DataError, match="whole numbers"):
        lk.fit(lk.HMM(lk.Poisson(), n_states=2), [1.0, -2.0, 3.0])
    with pytest.raises(lk.ModelError, match="n_states"):
        lk.HMM(lk.Poisson(), n_states=1)
    with pytest.raises(lk.ModelError, match="initial"):
        lk.HMM(lk.Poisson(), initial="uniform")
    with pytest.raises(lk.ModelError, match=r"\(2, 2\)"):
        lk.fit(lk.HMM(lk.Poisson(), n_states=2), quakes, init={"transition": np.eye(3)})
    with pytest.raises(lk.ModelError, match="transition"):
        lk.fit(lk.HMM(lk.Poisson(), n_states=2), quakes, prior={"transition": lk.priors.Normal()})
    with pytest.raises(lk.DataError, match="empty"):
        lk.fit(lk.HMM(lk.Poisson(), n_states=2), [])
