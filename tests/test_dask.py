"""Fits on Dask collections equal the same fits in memory (issue 9).

One LocalCluster (2 worker processes, 1 thread each) serves the module. The oracle is the
in-memory fit of the same data (itself checked against statsmodels, scipy and closed forms in
the other test files); the Poisson GLM with an offset is also checked against statsmodels
directly. Tolerances are 1e-8 relative (the issue's), on estimates, standard errors, robust
covariances, log-likelihoods and LR statistics.
"""

from __future__ import annotations

import os
import signal
import sys

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import likely as lk

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from likely._dask._progress import listen  # noqa: E402

RTOL = 1e-8


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def claims() -> pd.DataFrame:
    rng = np.random.default_rng(9)
    n = 2000
    df = pd.DataFrame(
        {
            "age": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east", "west"], size=n),
            "exposure": rng.uniform(0.5, 2.0, size=n),
            "firm": rng.integers(0, 40, size=n),
            "w": rng.integers(1, 4, size=n).astype(float),
        }
    )
    df["log_exposure"] = np.log(df["exposure"])
    shift = df["region"].map({"north": 0.0, "south": 0.3, "east": -0.2, "west": 0.1})
    eta = 0.2 + 0.3 * df["age"] - 0.2 * df["x2"] + shift + df["log_exposure"]
    df["claims"] = rng.poisson(np.exp(eta)).astype(float)
    df["bought"] = rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 * df["age"] - 0.5 * df["x2"])))
    df["bought"] = df["bought"].astype(float)
    df["amount"] = rng.gamma(3.0, np.exp(0.5 + 0.2 * df["age"]) / 3.0)
    df["score"] = 1.0 + df["age"] + rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def ddf(claims: pd.DataFrame):
    return dd.from_pandas(claims, npartitions=4)


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))


def same_fit(a: lk.Fit, b: lk.Fit) -> None:
    assert a.converged
    assert list(a.params.index) == list(b.params.index)
    close(a.params, b.params)
    close(a.se, b.se)
    close(a.cov, b.cov)
    close(a.loglik, b.loglik)
    assert a.nobs == b.nobs


def test_fits_in_memory_do_not_import_dask(monkeypatch, claims):
    """Dask is an optional extra: the check for Dask inputs must not import it. (First in the
    module: no cluster threads exist yet that could import Dask meanwhile.)"""
    loaded = list(sys.modules)
    for name in [m for m in loaded if m == "dask" or m.startswith(("dask.", "distributed"))]:
        monkeypatch.delitem(sys.modules, name)
    lk.fit(lk.Normal(), [1.0, 2.0, 4.0])
    lk.glm("claims ~ age", data=claims, family="poisson")
    assert not [m for m in list(sys.modules) if m == "dask" or m.startswith("dask.")]


def test_distribution_with_weights(client, claims, ddf):
    """lk.fit(lk.Gamma(), ddf["amount"]): Newton over partitions = the in-memory closed form."""
    a = lk.fit(lk.Gamma(), ddf["amount"], weights=ddf["w"])
    b = lk.fit(lk.Gamma(), claims["amount"], weights=claims["w"])
    same_fit(a, b)
    same_fit(a.with_cov("robust"), b.with_cov("robust"))
    same_fit(a.with_cov("expected"), b.with_cov("expected"))
    close(
        a.transform(lambda p: p["shape"] / p["rate"]).se,
        b.transform(lambda p: p["shape"] / p["rate"]).se,
    )
    assert a.partitions == 4
    assert "Dask, 4 partitions" in str(a.summary())


def test_profile_interval_runs_as_passes(claims):
    """Profile intervals re-maximise by Newton over partition sums (tens of passes: run here
    on Dask's synchronous scheduler, which runs the same code without the cluster's latency)."""
    with dask.config.set(scheduler="sync"):
        a = lk.fit(lk.Poisson(), dd.from_pandas(claims["claims"], npartitions=4))
        b = lk.fit(lk.Poisson(), claims["claims"])
        same_fit(a, b)
        before = a.passes
        close(a.conf_int(method="profile"), b.conf_int(method="profile"))
    assert a.passes > before + 10


def test_censored_and_truncated(claims):
    """event= and entry= (left truncation) as Dask series: per-partition censored likelihood."""
    rng = np.random.default_rng(4)
    t, c, e = rng.weibull(1.5, 1500) * 3.0, rng.uniform(0, 5, 1500), rng.uniform(0, 0.5, 1500)
    df = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c) * 1.0, "entry": e})
    df = df[df["time"] > df["entry"]]
    ddf = dd.from_pandas(df, npartitions=3)
    with dask.config.set(scheduler="sync"):
        a = lk.fit(lk.Weibull(), ddf["time"], event=ddf["event"], entry=ddf["entry"])
    same_fit(a, lk.fit(lk.Weibull(), df["time"], event=df["event"], entry=df["entry"]))


def _normal_regression(p, d):
    resid = d["y"] - d["X"] @ p["beta"]
    return -0.5 * (resid / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


def test_custom_model_with_dask_arrays(client, claims):
    X = np.column_stack([np.ones(len(claims)), claims["age"].to_numpy()])
    y = claims["score"].to_numpy()
    model = lk.Model(_normal_regression, params={"beta": lk.real, "sigma": lk.positive})
    init = {"beta": np.array([0.5, 0.5]), "sigma": 2.0}
    data = {"X": da.from_array(X, chunks=(600, 2)), "y": da.from_array(y, chunks=700)}
    a = lk.fit(model, data, init=init, cov="robust")
    b = lk.fit(model, {"X": X, "y": y}, init=init, cov="robust")
    same_fit(a, b)
    assert a.cov_type == "robust"


def test_poisson_glm_offset_categorical(client, claims, ddf):
    import statsmodels.api as sm

    formula = "claims ~ age + x2 + region"
    a = lk.glm(formula, data=ddf, family="poisson", offset="log_exposure")
    b = lk.glm(formula, data=claims, family="poisson", offset="log_exposure")
    same_fit(a, b)
    assert a.coef.index.tolist() == b.coef.index.tolist()
    # independent oracle: statsmodels' GLM on the same design
    X = pd.get_dummies(claims["region"], drop_first=True, dtype=float)
    X.insert(0, "x2", claims["x2"])
    X.insert(0, "age", claims["age"])
    X.insert(0, "Intercept", 1.0)
    ref = sm.GLM(claims["claims"], X, family=sm.families.Poisson(), offset=claims["log_exposure"])
    r = ref.fit(tol=1e-12)
    close(a.coef.to_numpy(), r.params.to_numpy(), rtol=1e-6)
    close(a.se[a.coef.index].to_numpy(), r.bse.to_numpy(), rtol=1e-5)
    # LR test of a nested model, both on Dask, equals the in-memory one
    a0 = lk.glm("claims ~ age", data=ddf, family="poisson", offset="log_exposure")
    b0 = lk.glm("claims ~ age", data=claims, family="poisson", offset="log_exposure")
    close(a.lr_test(a0).statistic, b.lr_test(b0).statistic)
    # HC3 needs leverages: X'WX^-1 from one pass, then the weighted meat in a second
    ra = lk.glm(formula, data=ddf, family="poisson", offset="log_exposure", cov_type="HC3")
    rb = lk.glm(formula, data=claims, family="poisson", offset="log_exposure", cov_type="HC3")
    close(ra.cov, rb.cov)
    # predictions: pandas new data in memory, a Dask DataFrame lazily
    close(a.predict(claims.head(5)), b.predict(claims.head(5)))
    lazy = a.predict(ddf, offset="log_exposure", interval=0.95)
    close(
        lazy.compute().to_numpy(),
        b.predict(claims, offset=claims["log_exposure"], interval=0.95).to_numpy(),
    )
    with pytest.raises(lk.ModelError, match="stays on the cluster"):
        a.predict()


@pytest.mark.parametrize(
    ("family", "formula", "options"),
    [
        ("binomial", "bought ~ age + x2", {}),
        ("gaussian", "score ~ age + region", {}),
        ("gamma", "amount ~ age", {"link": "log", "dispersion": "pearson"}),
        ("binomial", "bought ~ age + x2", {"prior": lk.priors.Laplace(0, 0.02)}),
        ("multinomial", "region ~ age", {}),
    ],
    ids=["logistic", "gaussian", "gamma-pearson", "lasso", "multinomial"],
)
def test_glm_families(claims, family, formula, options):
    """Each family's kernels are the in-memory ones; the synchronous scheduler keeps it quick."""
    data = dd.from_pandas(claims, npartitions=4)
    with dask.config.set(scheduler="sync"):
        a = lk.glm(formula, data=data, family=family, weights="w", **options)
    b = lk.glm(formula, data=claims, family=family, weights="w", **options)
    same_fit(a, b)


def test_persisted_partitions_one_pass_per_newton_step(client, claims, ddf, monkeypatch):
    from likely._dask._cluster import Cluster

    largest = []
    run = Cluster.run

    def spy(self, *args, **kwargs):
        out = run(self, *args, **kwargs)
        largest.append(max(np.size(v) for v in out.values()))
        return out

    monkeypatch.setattr(Cluster, "run", spy)
    seen = []
    with dask.config.set({"likely.persist": True}), listen(seen.append):
        a = lk.glm("claims ~ age + region", data=ddf, family="poisson", offset="log_exposure")
    assert a._ctx.derivatives.cluster.persisted
    # what each pass brings back is p x p at most: the rows stay on the cluster
    assert max(largest) == a.k**2
    # one pass per Newton iteration, plus the one at the start values; no other pass
    assert a.passes == len(seen) == a.iterations + 1
    assert all(info.kind.startswith("vgh") for info in seen)
    with dask.config.set({"likely.persist": False}):
        c = lk.glm("claims ~ age + region", data=ddf, family="poisson", offset="log_exposure")
    assert not c._ctx.derivatives.cluster.persisted
    close(a.params, c.params)


def test_bad_data_names_the_partition(client, claims):
    bad = claims.copy()
    bad.loc[1700, "amount"] = -1.0  # partition 3 of 4
    with pytest.raises(lk.DataError, match=r"partition 3: .*positive"):
        lk.fit(lk.Gamma(), dd.from_pandas(bad["amount"], npartitions=4))
    bad.loc[1200, "age"] = np.nan
    with pytest.raises(lk.DataError, match=r"partition 2: 1 row\(s\) have missing values"):
        lk.glm("claims ~ age", data=dd.from_pandas(bad, npartitions=4), family="poisson")


def test_missing_rows_dropped_and_counted(claims):
    holes = claims.copy()
    holes.loc[[3, 1500], "age"] = np.nan
    formula = "claims ~ age + region"
    data = dd.from_pandas(holes, npartitions=4)
    with dask.config.set(scheduler="sync"), pytest.warns(UserWarning, match="dropped 2 row"):
        a = lk.glm(formula, data=data, family="poisson", missing="drop")
    with pytest.warns(UserWarning, match="dropped 2 row"):
        b = lk.glm(formula, data=holes, family="poisson", missing="drop")
    same_fit(a, b)
    assert a.glm.n_dropped == b.glm.n_dropped == 2


def test_refusals_are_explicit(client, claims, ddf):
    with pytest.raises(lk.ModelError, match="needs the data in memory"):
        lk.fit(lk.Gamma(), ddf["amount"], method="closed_form")
    with pytest.raises(lk.ModelError, match="Dask collection partitioned like the data"):
        lk.fit(lk.Gamma(), ddf["amount"], weights=claims["w"].to_numpy())
    with pytest.raises(lk.ModelError, match="stateful transforms"):
        lk.glm("claims ~ center(age)", data=ddf, family="poisson")
    with pytest.raises(lk.ModelError, match="in memory"):
        lk.glm("score ~ age", data=ddf, family="laplace")
    with pytest.raises(lk.ModelError, match="column"):
        lk.glm("claims ~ age", data=ddf, family="poisson", offset=claims["log_exposure"])


def test_without_a_distributed_client(claims):
    with dask.config.set(scheduler="sync"):
        a = lk.fit(lk.Gamma(), dd.from_pandas(claims["amount"], npartitions=3))
    same_fit(a, lk.fit(lk.Gamma(), claims["amount"]))


def test_worker_killed_mid_fit(client, claims, ddf):
    """SIGKILL a worker after the first pass: Dask recomputes its persisted partitions from
    the graph and the fit equals the in-memory one."""
    victim = next(iter(client.run(os.getpid).values()))
    killed = []

    def kill_once(info):
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(info.number)

    formula = "claims ~ age + x2 + region"
    options = {
        "family": "poisson",
        "offset": "log_exposure",
        "cov_type": "cluster",
        "groups": "firm",
    }
    with dask.config.set({"likely.persist": True}), listen(kill_once):
        a = lk.glm(formula, data=ddf, **options)
    assert killed == [1]
    # cluster-robust: per-cluster score sums merged across partitions (firms span them all)
    same_fit(a, lk.glm(formula, data=claims, **options))
    client.wait_for_workers(2, timeout=120)


# --------------------------------------------------------------------- conditional logit
MODES = {1: "air", 2: "train", 3: "bus", 4: "car"}
CHOICE = "choice ~ gc + ttme + C(alt) + hinc_air + hinc_train + hinc_bus"


@pytest.fixture(scope="module")
def modes() -> pd.DataFrame:
    """Greene's travel-mode data (statsmodels' modechoice: 210 travellers x 4 modes), with
    case weights and a clustering variable that is constant within cases and spans partitions."""
    import statsmodels.api as sm

    d = sm.datasets.modechoice.load_pandas().data.copy()
    d["alt"] = d["mode"].map(MODES)
    for a in ("air", "train", "bus"):
        d[f"hinc_{a}"] = d["hinc"] * (d["alt"] == a)
    d["w"] = 1.0 + d["individual"] % 3
    d["person"] = d["individual"] % 25
    return d


def same_choice_fit(a, b) -> None:
    """Estimates, covariance, loglik and every number of the summary's header."""
    same_fit(a, b)
    assert a.cov_type == b.cov_type
    close(a.choice.ll_equal, b.choice.ll_equal)
    close(a.choice.ll_constants, b.choice.ll_constants)
    assert a.choice.n_constants == b.choice.n_constants
    close(a.rho2, b.rho2)
    close(a.rho2_constants, b.rho2_constants)
    close(a.lr_constants.statistic, b.lr_constants.statistic)
    close(a.lr_constants.pvalue, b.lr_constants.pvalue)
    assert a.lr_constants.df == b.lr_constants.df
    head_a, head_b = dict(a.summary().header()), dict(b.summary().header())
    assert head_a.pop("Data").startswith("Dask")
    for key in ("Converged",):  # |grad| at the optimum differs in rounding
        head_a.pop(key), head_b.pop(key)
    assert head_a == head_b
    close(a.summary().table().to_numpy(), b.summary().table().to_numpy())


def test_conditional_logit_on_dask(client, modes):
    """Observed, robust and cluster-robust covariances, with case weights, on 3 partitions of
    whole cases, equal the in-memory fit (itself checked against Greene's published NLOGIT
    estimates and statsmodels in test_choice.py)."""
    ddf = dd.from_pandas(modes, npartitions=3)
    options = {"group": "individual", "alt": "alt", "weights": "w"}
    a = lk.conditional_logit(CHOICE, ddf, **options)
    b = lk.conditional_logit(CHOICE, modes, **options)
    same_choice_fit(a, b)
    assert a.partitions == 3
    same_fit(a.with_cov("robust"), b.with_cov("robust"))
    for cov in ({"cov_type": "robust"}, {"cov_type": "cluster", "cluster": "person"}):
        same_choice_fit(
            lk.conditional_logit(CHOICE, ddf, **options, **cov),
            lk.conditional_logit(CHOICE, modes, **options, **cov),
        )
    # shares for cases in memory, with the fit's standard errors
    close(a.predict_shares(modes.head(40)).shares, b.predict_shares(modes.head(40)).shares)
    close(a.wtp("ttme", "gc").iloc[:, :4], b.wtp("ttme", "gc").iloc[:, :4])
    with pytest.raises(lk.ModelError, match="stay on the cluster"):
        a.elasticities("gc")
    with pytest.raises(lk.ModelError, match="stay on the cluster"):
        a.predict_shares()


def test_conditional_logit_unbalanced_and_unsorted(modes):
    """Unbalanced choice sets (air unavailable to some travellers: the constants-only reference
    is then a Newton fit, here on the weighted distinct (choice set, choice) pairs) and cases
    interleaved across partitions (their label ranges overlap; none is split)."""
    drop = (modes["alt"] == "air") & (modes["choice"] == 0) & (modes["individual"] % 4 == 0)
    df = modes.loc[~drop].reset_index(drop=True)
    order = np.argsort((df["individual"] % 2).to_numpy(), kind="stable")  # odd ids, then even
    df = df.iloc[order].reset_index(drop=True)
    first = int((df["individual"] % 2 == 0).sum())
    ddf = dd.concat(
        [
            dd.from_pandas(df.iloc[:first], npartitions=1),
            dd.from_pandas(df.iloc[first:], npartitions=1),
        ]
    )
    assert ddf.npartitions == 2
    with dask.config.set(scheduler="sync"):
        a = lk.conditional_logit(CHOICE, ddf, group="individual", alt="alt")
    b = lk.conditional_logit(CHOICE, df, group="individual", alt="alt")
    assert "3 to 4" in dict(b.summary().header())["Cases"]
    same_choice_fit(a, b)


def test_conditional_logit_split_case(modes):
    """A case whose rows lie in two partitions is refused with the case named and the fix;
    the fix works."""
    ddf = dd.from_pandas(modes, chunksize=282)  # row 282 is inside traveller 71's rows
    with pytest.raises(lk.DataError, match=r"case 71.0 has rows in more than one partition"):
        lk.conditional_logit(CHOICE, ddf, group="individual", alt="alt")
    # (not on the synchronous scheduler: with the module's Client about, set_index shuffles p2p)
    fixed = ddf.set_index("individual", drop=False)
    a = lk.conditional_logit(CHOICE, fixed, group="individual", alt="alt")
    b = lk.conditional_logit(CHOICE, modes, group="individual", alt="alt")
    same_choice_fit(a, b)
    shuffled = ddf.shuffle(on="individual")  # cases interleaved: label ranges overlap
    same_choice_fit(lk.conditional_logit(CHOICE, shuffled, group="individual", alt="alt"), b)


def test_choice_refusals(modes):
    ddf = dd.from_pandas(modes, npartitions=2)
    with pytest.raises(lk.ModelError, match="in memory only"):
        lk.nested_logit(
            CHOICE,
            ddf,
            group="individual",
            alt="alt",
            nests={"a": ["air"], "b": ["bus", "car", "train"]},
        )
    with pytest.raises(lk.ModelError, match=r"mixed_logit on Dask .*in memory only"):
        lk.mixed_logit(CHOICE, ddf, group="individual", alt="alt", random={"gc": "normal"})
    with pytest.raises(lk.ModelError, match="must name a column"):
        lk.conditional_logit(CHOICE, ddf, group=modes["individual"].to_numpy(), alt="alt")
    with pytest.raises(lk.ModelError, match="not X=/y= arrays"):
        lk.conditional_logit(X=ddf[["gc"]], y=ddf["choice"], group="individual")
    with pytest.raises(lk.ModelError, match="needs the data in memory"):
        lk.conditional_logit(CHOICE, ddf, group="individual", method="bfgs")
    with pytest.raises(lk.DataError, match="collinear within cases"):
        with dask.config.set(scheduler="sync"):
            lk.conditional_logit(
                "choice ~ gc + C(alt) + I(hinc * (alt == 'air')) + I(hinc * (alt != 'air'))",
                ddf,
                group="individual",
                alt="alt",
            )


# --------------------------------------------------------------------- mixtures by EM
@pytest.fixture(scope="module")
def two_normals() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(-1.0, 0.7, 600), rng.normal(2.0, 1.0, 400)])
    counts = np.concatenate([rng.poisson(1.5, 500), rng.poisson(6.0, 300)])
    return pd.DataFrame(
        {
            "x": x,
            "w": rng.integers(1, 3, x.size).astype(float),
            "count": np.resize(counts, x.size).astype(float),
        }
    ).sample(frac=1.0, random_state=1, ignore_index=True)


def test_mixture_em_on_dask(client, two_normals):
    """EM with per-partition power sums, then Newton polish: the in-memory fit from the same
    start (same EM iterations and trace, same estimates, observed and robust covariances)."""
    df = two_normals
    ddf = dd.from_pandas(df, npartitions=3)
    model = lk.Mixture(lk.Normal(), k=2)
    init = {"mu": [-0.8, 1.5], "sigma": [0.8, 1.0]}  # near the optimum: few EM passes
    a = lk.fit(model, ddf["x"], weights=ddf["w"], init=init)
    b = lk.fit(model, df["x"], weights=df["w"], init=init)
    same_fit(a, b)
    assert a.method == b.method == "EM + Newton"
    assert a.em.iterations == b.em.iterations
    close(a.em.loglik_trace, b.em.loglik_trace)
    same_fit(a.with_cov("robust"), b.with_cov("robust"))
    close(a.posterior(df["x"].head(5)), b.posterior(df["x"].head(5)))
    assert "EM" in dict(a.summary().header())
    with pytest.raises(lk.ModelError, match="stay on the cluster"):
        a.posterior()


def test_mixture_em_alone_and_poisson(two_normals):
    df = two_normals
    ddf = dd.from_pandas(df, npartitions=3)
    with dask.config.set(scheduler="sync"):
        normal = lk.Mixture(lk.Normal(), k=2)
        init = {"mu": [-0.5, 1.0], "sigma": [1.0, 1.0], "weights": [0.4, 0.6]}
        a = lk.fit(normal, ddf["x"], init=init, method="em", cov="robust")
        poisson = lk.Mixture(lk.Poisson(), k=2)
        c = lk.fit(poisson, ddf["count"], init={"rate": [1.0, 5.0]})
        d = lk.fit(normal, ddf["x"], init=init, method="newton")  # the engine's path
    b = lk.fit(normal, df["x"], init=init, method="em", cov="robust")
    same_fit(a, b)
    same_fit(d, lk.fit(normal, df["x"], init=init, method="newton"))
    assert a.method == "EM" and a.em.iterations == b.em.iterations
    same_fit(c, lk.fit(poisson, df["count"], init={"rate": [1.0, 5.0]}))


def test_mixture_refusals(two_normals):
    ddf = dd.from_pandas(two_normals, npartitions=2)
    with pytest.raises(lk.ModelError, match="does not run on Dask"):
        lk.fit(lk.Mixture(lk.Gamma(), k=2), ddf["x"].abs())
    with pytest.raises(lk.ModelError, match="does not run on Dask"):
        lk.fit(lk.Mixture(lk.Normal(), k=2), ddf["x"], fixed={"weights": [0.5, 0.5]})
    with pytest.raises(lk.ModelError, match="own fitting algorithm"):
        lk.fit(lk.GaussianMixture(k=2), ddf[["x", "count"]].to_dask_array(lengths=True))
