"""Discrete choice: conditional, nested and mixed logit against statsmodels, xlogit, Greene's
published estimates, closed forms, finite differences and simulations with known parameters.

Data: statsmodels' modechoice (Greene's travel mode data, 210 travellers x 4 modes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import likely as lk
from likely.models.choice._simulated import person_loglik

MODES = {1: "air", 2: "train", 3: "bus", 4: "car"}
MIXED = dict(people=250, T=4, J=3, draws=50)  # one shape, so the mixed kernels compile once


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(scope="module")
def mode() -> pd.DataFrame:
    d = sm.datasets.modechoice.load_pandas().data.copy()
    d["alt"] = d["mode"].map(MODES)
    for a in ("air", "train", "bus", "car"):
        d[f"asc_{a}"] = (d.alt == a).astype(float)
        d[f"hinc_{a}"] = d.hinc * d[f"asc_{a}"]
        d[f"psize_{a}"] = d.psize * d[f"asc_{a}"]
    return d


GREENE = "choice ~ gc + ttme + invt + invc + asc_air + asc_train + asc_bus + hinc_air + hinc_train + hinc_bus"


@pytest.fixture(scope="module")
def greene(mode):
    return lk.conditional_logit(GREENE, mode, group="individual", alt="alt")


# ------------------------------------------------------------------------- conditional logit
def test_greene_published_estimates(greene):
    """Greene, Discrete Choice Modeling lab notes (NLOGIT output on these data, 'MNL starting
    values' of the nested logit example): log-likelihood -172.94366, constants only -283.7588,
    chi-squared[7] = 221.63022, R2 = .3905, GC .07578 (.01833), TTME -.10289 (.01109)."""
    f = greene
    assert f.loglik == pytest.approx(-172.94366, abs=5e-6)
    assert f.choice.ll_constants == pytest.approx(-283.7588, abs=5e-5)
    lr = f.lr_constants
    assert lr.statistic == pytest.approx(221.63022, abs=5e-5) and lr.df == 7
    assert f.rho2_constants == pytest.approx(0.3905, abs=5e-5)
    assert f.params["gc"] == pytest.approx(0.07578, abs=5e-6)
    assert f.se["gc"] == pytest.approx(0.01833, abs=5e-6)
    assert f.params["ttme"] == pytest.approx(-0.10289, abs=5e-6)
    assert f.se["ttme"] == pytest.approx(0.01109, abs=5e-6)
    assert f.nobs == 210 and f.converged
    text = str(f.summary())
    assert "LL constants" in text and "rho2" in text and "LR vs constants" in text


def test_matches_statsmodels_conditional_logit(mode, greene):
    """statsmodels ConditionalLogit (groups = travellers), Newton-fitted."""
    from statsmodels.discrete.conditional_models import ConditionalLogit

    cols = list(greene.params.index)
    peer = ConditionalLogit(mode.choice, mode[cols], groups=mode.individual).fit(
        method="newton", disp=0, tol=1e-14, maxiter=100
    )
    assert rel(greene.params, peer.params) < 1e-6
    assert rel(greene.se, peer.bse) < 1e-6
    assert greene.loglik == pytest.approx(peer.llf, rel=1e-12)


def test_case_specific_model_equals_mnlogit(mode):
    """Constants and case-specific variables interacted with them: the conditional logit is
    the multinomial logit (statsmodels MNLogit and lk.glm(family='multinomial')), including
    HC0-robust and cluster-robust standard errors (statsmodels' corrections)."""
    cols = [f"{v}_{a}" for v in ("asc", "hinc", "psize") for a in ("train", "bus", "car")]
    formula = "choice ~ " + " + ".join(cols)
    wide = mode[mode.choice == 1].reset_index(drop=True)
    X = sm.add_constant(wide[["hinc", "psize"]])
    order = [(r, k) for r in ("const", "hinc", "psize") for k in range(3)]  # modes 2, 3, 4

    def mapped(frame):
        return np.array([frame.loc[r, k] for r, k in order])

    mode = mode.assign(cl=mode.individual // 3)
    wide_cl = (wide.individual // 3).to_numpy()
    for cov, kw, ours in (
        ("nonrobust", {}, {}),
        ("HC0", {}, {"cov_type": "robust"}),
        ("cluster", {"groups": wide_cl}, {"cluster": "cl"}),
    ):
        f = lk.conditional_logit(formula, mode, group="individual", alt="alt", **ours)
        extra = {"cov_kwds": kw} if kw else {}
        peer = sm.MNLogit(wide["mode"], X).fit(
            method="newton", disp=0, tol=1e-13, cov_type=cov, **extra
        )
        assert rel(f.params, mapped(peer.params)) < 1e-6
        assert rel(f.se, mapped(peer.bse)) < 1e-6
        assert f.loglik == pytest.approx(peer.llf, rel=1e-12)
    glm = lk.glm(
        "mode ~ hinc + psize", data=wide.assign(mode=wide["mode"].astype(int)), family="multinomial"
    )
    assert glm.loglik == pytest.approx(f.loglik, rel=1e-10)


def test_matches_xlogit(mode, greene):
    """xlogit MultinomialLogit (CPU) on the same specification: alternative-specific gc, ttme,
    invt, invc; constants and income for air, train, bus (car is the base)."""
    from xlogit import MultinomialLogit

    # xlogit labels its constants by the sorted alternatives, so give it rows in that order
    d = mode.sort_values(["individual", "alt"])
    m = MultinomialLogit()
    m.fit(
        X=d[["gc", "ttme", "invt", "invc", "hinc"]],
        y=d.choice,
        varnames=["gc", "ttme", "invt", "invc", "hinc"],
        isvars=["hinc"],
        alts=d.alt,
        ids=d.individual,
        fit_intercept=True,
        base_alt="car",
        verbose=0,
    )
    ours = {
        "_intercept.air": "asc_air",
        "_intercept.bus": "asc_bus",
        "_intercept.train": "asc_train",
        "hinc.air": "hinc_air",
        "hinc.bus": "hinc_bus",
        "hinc.train": "hinc_train",
        "gc": "gc",
        "ttme": "ttme",
        "invt": "invt",
        "invc": "invc",
    }
    names = [ours[n] for n in m.coeff_names]
    assert m.loglikelihood == pytest.approx(greene.loglik, rel=1e-9)
    # xlogit's BFGS stops when the log-likelihood changes by < 1e-10 (so its estimates sit
    # within a small fraction of a standard error of the maximum), and its standard errors
    # come from a finite-difference Hessian there
    assert np.max(np.abs(m.coeff_ - greene.params[names]) / greene.se[names]) < 1e-2
    assert rel(m.stderr, greene.se[names]) < 1e-2


def test_unbalanced_choice_sets_match_statsmodels(mode):
    """Some travellers lack some modes (rows dropped at random, never the chosen one):
    padding with -inf utilities must give statsmodels' ConditionalLogit fit."""
    from statsmodels.discrete.conditional_models import ConditionalLogit

    rng = np.random.default_rng(1)
    # about half the travellers lose one or two of their unchosen modes
    key = rng.uniform(size=len(mode)) + mode.choice.to_numpy()
    rank = pd.Series(key).groupby(mode.individual.to_numpy()).rank().to_numpy()
    lost = rng.integers(0, 3, size=210)[(mode.individual.to_numpy() - 1).astype(int)]
    d = mode.loc[rank > lost].reset_index(drop=True)
    sizes = d.groupby("individual").size()
    assert sizes.min() >= 2 and sizes.nunique() > 1
    formula = "choice ~ gc + ttme + asc_air + asc_train + asc_bus"
    f = lk.conditional_logit(formula, d, group="individual", alt="alt")
    cols = list(f.params.index)
    peer = ConditionalLogit(d.choice, d[cols], groups=d.individual).fit(
        method="newton", disp=0, tol=1e-14
    )
    assert rel(f.params, peer.params) < 1e-6
    assert f.loglik == pytest.approx(peer.llf, rel=1e-12)
    # equal-shares log-likelihood counts each case's own choice set
    assert f.choice.ll_equal == pytest.approx(-np.log(sizes).sum(), rel=1e-12)
    probs = f.predict_shares().probabilities
    assert np.allclose(probs.groupby(d.individual).sum(), 1.0)
    # constants-only fit (unbalanced sets need Newton): no better than the full model's
    assert f.choice.ll_constants < f.loglik


def test_formula_categorical_constants_and_arrays(mode, greene):
    """C(alt) constants (first level left out), the arrays interface, the profile interval."""
    f = lk.conditional_logit("choice ~ gc + ttme + C(alt)", mode, group="individual", alt="alt")
    g = lk.conditional_logit(
        "choice ~ gc + ttme + asc_bus + asc_car + asc_train", mode, group="individual", alt="alt"
    )
    assert f.loglik == pytest.approx(g.loglik, rel=1e-12)
    assert rel(f.params.to_numpy(), g.params.to_numpy()) < 1e-9
    cols = ["gc", "ttme", "asc_bus", "asc_car", "asc_train"]
    h = lk.conditional_logit(X=mode[cols], y=mode.choice, group=mode.individual, alt=mode.alt)
    assert list(h.params.index) == cols and h.loglik == pytest.approx(g.loglik, rel=1e-12)
    prof = g.conf_int(method="profile", params=["gc"])
    wald = g.conf_int(params=["gc"])
    assert abs(prof.loc["gc", "lower"] - wald.loc["gc", "lower"]) < 0.2 * g.se["gc"]
    lr = greene.lr_test(g)
    assert lr.df == 5 and lr.statistic > 0


def test_shares_reproduce_observed_shares_with_constants(mode, greene):
    """With a full set of alternative-specific constants the MLE's predicted shares equal the
    observed shares (the constants' score equations)."""
    shares = greene.predict_shares().shares["share"]
    observed = mode[mode.choice == 1].alt.value_counts(normalize=True)
    assert rel(shares[observed.index], observed) < 1e-8
    assert (greene.predict_shares().shares["se"] > 0).all()


def test_counterfactual_shares(mode, greene):
    """A 20% rise in the air fare (gc) lowers air's share when its coefficient is negative."""
    f = lk.conditional_logit(
        "choice ~ invc + invt + ttme + asc_air + asc_train + asc_bus",
        mode,
        group="individual",
        alt="alt",
    )
    base = f.predict_shares(mode).shares["share"]
    dearer = mode.assign(invc=np.where(mode.alt == "air", mode.invc * 1.2, mode.invc))
    new = f.predict_shares(dearer.drop(columns="choice")).shares["share"]
    assert f.params["invc"] < 0
    assert new["air"] < base["air"] and new["car"] > base["car"]
    assert new.sum() == pytest.approx(1.0, abs=1e-12)


def _fd_demand(fit, frame, var, alt_of, alts, h=1e-5, log=True):
    """Central finite differences of aggregate demand in alt_of's var (test-side oracle)."""

    def demand(scale):
        col = frame[var].to_numpy(dtype=float)
        changed = np.where(frame.alt == alt_of, col * (1 + scale) if log else col + scale, col)
        d = frame.assign(**{var: changed})
        p = fit.probabilities(d)
        return p.groupby(frame.alt).sum()[alts].to_numpy()

    return (demand(h) - demand(-h)) / (2 * h)


def test_elasticities_against_finite_differences_and_closed_form(mode, greene):
    alts = ["air", "bus", "car", "train"]
    e = greene.elasticities("invc")["elasticity"].unstack()
    base = greene.probabilities().groupby(mode.alt).sum()[alts].to_numpy()
    for j in ("air", "car"):
        fd = _fd_demand(greene, mode, "invc", j, alts) / base
        assert np.max(np.abs(e[j].loc[alts].to_numpy() - fd)) < 1e-6
    # average of the cases' own elasticities: b x_sj (1 - P_sj), the logit closed form
    avg = greene.elasticities("invc", kind="average")["elasticity"].unstack()
    P = greene.probabilities().to_numpy()
    own = greene.params["invc"] * mode.invc.to_numpy() * (1 - P)
    closed = pd.Series(own).groupby(mode.alt.to_numpy()).mean()
    assert rel(np.diag(avg.loc[alts, alts]), closed[alts]) < 1e-10
    # cross elasticities of the logit do not depend on the alternative whose share moves (IIA)
    cross = avg.loc[["bus", "car", "train"], "air"]
    assert rel(cross, closed.loc["air"] * 0 + cross.iloc[0]) < 0.5  # finite, same sign
    se = greene.elasticities("invc")["se"]
    assert np.all(np.isfinite(se)) and np.all(se > 0)


def test_income_elasticity_and_marginal_effects(mode, greene):
    """A case-specific variable (income enters through hinc_air, ... interactions, formula
    I(...)) and marginal effects, both against finite differences."""
    f = lk.conditional_logit(
        "choice ~ gc + ttme + asc_air + asc_train + asc_bus + I(hinc * asc_air) + I(hinc * asc_train)",
        mode,
        group="individual",
        alt="alt",
    )
    e = f.elasticities("hinc")["elasticity"]
    alts = list(e.index)
    h = 1e-5
    demand = [
        f.predict_shares(mode.assign(hinc=mode.hinc * (1 + s)))
        .probabilities.groupby(mode.alt)
        .sum()
        for s in (h, -h, 0.0)
    ]
    fd = (demand[0] - demand[1]) / (2 * h) / demand[2]
    assert np.max(np.abs(e.to_numpy() - fd[alts].to_numpy())) < 1e-6
    me = f.marginal_effects("gc")["effect"].unstack()
    fd = _fd_demand(f, mode, "gc", "car", alts, log=False) / 210
    assert np.max(np.abs(me["car"].loc[alts].to_numpy() - fd)) < 1e-7


def test_wtp_delta_and_fieller(greene):
    w = greene.wtp("ttme", per="invc")
    b, V = greene.params, greene.cov
    ratio = -b["ttme"] / b["invc"]
    assert w["wtp"].iloc[0] == pytest.approx(ratio, rel=1e-12)
    grad = np.array([-1 / b["invc"], b["ttme"] / b["invc"] ** 2])
    sub = V.loc[["ttme", "invc"], ["ttme", "invc"]].to_numpy()
    assert w["se"].iloc[0] == pytest.approx(np.sqrt(grad @ sub @ grad), rel=1e-10)
    fl = greene.wtp("ttme", per="invc", method="fieller")
    z2 = 1.959963984540054**2
    for r in (fl["lower"].iloc[0], fl["upper"].iloc[0]):  # the interval's defining equation
        lhs = (b["ttme"] + r * b["invc"]) ** 2
        rhs = z2 * (sub[0, 0] + 2 * r * sub[0, 1] + r * r * sub[1, 1])
        assert lhs == pytest.approx(rhs, rel=1e-9)
    assert fl["lower"].iloc[0] < ratio < fl["upper"].iloc[0]


def test_long_from_wide_round_trip(mode, greene):
    wide = mode[mode.choice == 1][["individual", "alt", "hinc", "psize"]].rename(
        columns={"alt": "mode"}
    )
    wide = wide.set_index("individual")
    for v in ("gc", "ttme", "invt", "invc"):
        piv = mode.pivot(index="individual", columns="alt", values=v)
        for a in piv.columns:
            wide[f"{v}_{a}"] = piv[a]
    wide = wide.reset_index()
    long = lk.long_from_wide(
        wide,
        choice="mode",
        alternatives=["air", "train", "bus", "car"],
        varying=["gc", "ttme", "invt", "invc"],
        case="individual",
    )
    assert len(long) == 840 and set(long.columns) >= {"individual", "alt", "mode", "gc", "hinc"}
    long["asc_air"] = (long.alt == "air").astype(float)
    long["asc_train"] = (long.alt == "train").astype(float)
    long["asc_bus"] = (long.alt == "bus").astype(float)
    for a in ("air", "train", "bus"):
        long[f"hinc_{a}"] = long.hinc * long[f"asc_{a}"]
    f = lk.conditional_logit(
        GREENE.replace("choice ~", "mode ~"), long, group="individual", alt="alt"
    )
    assert f.loglik == pytest.approx(greene.loglik, rel=1e-12)
    # availability columns drop unavailable alternatives (unbalanced sets)
    wide["av_bus"] = (wide["mode"] != "bus") * 0 + 1
    wide.loc[wide["mode"] != "bus", "av_bus"] = np.tile([0, 1], len(wide))[
        : int((wide["mode"] != "bus").sum())
    ]
    for a in ("air", "train", "car"):
        wide[f"av_{a}"] = 1
    long2 = lk.long_from_wide(
        wide,
        choice="mode",
        alternatives=["air", "train", "bus", "car"],
        varying=["gc"],
        available="av",
    )
    assert len(long2) == 840 - int((wide.av_bus == 0).sum())
    with pytest.raises(lk.DataError, match="fill"):
        lk.long_from_wide(
            wide, choice="mode", alternatives=["air", "train", "bus", "car"], varying=["price"]
        )


# ------------------------------------------------------------------------- bad input
def test_bad_input_names_the_case(mode):
    f = "choice ~ gc + ttme + asc_air"
    kw = dict(group="individual", alt="alt")
    none = mode.copy()
    none.loc[none.individual == 7, "choice"] = 0.0
    with pytest.raises(lk.DataError, match=r"case 7\.0 has no chosen alternative"):
        lk.conditional_logit(f, none, **kw)
    two = mode.copy()
    two.loc[two.individual == 9, "choice"] = 1.0
    with pytest.raises(lk.DataError, match=r"case 9\.0 has 4 chosen alternatives"):
        lk.conditional_logit(f, two, **kw)
    one = mode[~((mode.individual == 5) & (mode.choice == 0))]
    with pytest.raises(lk.DataError, match=r"case 5\.0 has only one alternative"):
        lk.conditional_logit(f, one, **kw)
    nan = mode.copy()
    nan.loc[13, "gc"] = np.nan
    with pytest.raises(lk.DataError, match=r"'gc'.*row 13 \(case 4\.0\)"):
        lk.conditional_logit(f, nan, **kw)
    bad = mode.copy()
    bad.loc[2, "choice"] = 2.0
    with pytest.raises(lk.DataError, match=r"0 or 1.*row 2 \(case 1\.0\)"):
        lk.conditional_logit(f, bad, **kw)
    dup = mode.copy()
    dup.loc[1, "alt"] = "air"
    with pytest.raises(lk.DataError, match=r"case 1\.0 lists alternative 'air' more than once"):
        lk.conditional_logit(f, dup, **kw)
    with pytest.raises(lk.DataError, match="do not vary across the alternatives"):
        lk.conditional_logit("choice ~ gc + hinc", mode, **kw)
    with pytest.raises(lk.DataError, match="collinear"):
        lk.conditional_logit("choice ~ gc + asc_air + asc_train + asc_bus + asc_car", mode, **kw)
    with pytest.raises(lk.ModelError, match="group"):
        lk.conditional_logit(f, mode, group=None)
    with pytest.raises(lk.ModelError, match="cluster"):
        lk.conditional_logit(f, mode, cov_type="cluster", **kw)


# ------------------------------------------------------------------------- nested logit
NESTS = {"fly": ["air"], "ground": ["train", "bus", "car"]}


@pytest.fixture(scope="module")
def nested(mode):
    return lk.nested_logit(GREENE, mode, group="individual", alt="alt", nests=NESTS)


def test_nested_logit_with_unit_lambdas_is_conditional_logit(mode, greene, nested):
    """At lambda = 1 the nested logit's log-likelihood is the conditional logit's, and the
    conditional logit's estimate is a stationary point of it in beta (so fixing every lambda
    at 1 reproduces the conditional logit fit). The free fit nests it: LR test, df = 1 (a
    single-alternative nest has no lambda)."""
    free = nested
    assert list(free.params.index[-1:]) == ["lambda[ground]"]
    assert 0 < free.params["lambda[ground]"] < 1 and free.converged
    model, data = free.model, free._ctx.data

    def total(beta):
        return jnp.sum(model.logpdf({"beta": beta, "lambda": jnp.ones(1)}, data))

    value, grad = jax.jit(jax.value_and_grad(total))(jnp.asarray(greene.values["beta"]))
    assert float(value) == pytest.approx(greene.loglik, rel=1e-12)
    assert np.max(np.abs(grad)) < 1e-7
    lr = free.lr_test(greene)
    assert lr.df == 1 and lr.statistic == pytest.approx(2 * (free.loglik - greene.loglik))
    # elasticities of the nested model against finite differences
    e = free.elasticities("invc")["elasticity"].unstack()
    alts = ["air", "bus", "car", "train"]
    base = free.probabilities().groupby(mode.alt).sum()[alts].to_numpy()
    fd = _fd_demand(free, mode, "invc", "train", alts) / base
    assert np.max(np.abs(e["train"].loc[alts].to_numpy() - fd)) < 1e-6
    with pytest.raises(lk.ModelError, match="in no nest"):
        lk.nested_logit(GREENE, mode, group="individual", alt="alt", nests={"a": ["air", "car"]})
    with pytest.raises(lk.ModelError, match="two nests"):
        lk.nested_logit(
            GREENE,
            mode,
            group="individual",
            alt="alt",
            nests={"a": ["air", "car"], "b": ["car", "bus", "train"]},
        )


def test_nested_logit_recovers_known_parameters(mode, nested):
    """20 data sets simulated from a nested logit with known parameters on the modechoice
    attributes (truth: the fit to the real choices): the z-scores (estimate - truth) / se
    have mean ~0 and sd ~1. Choices are drawn from the exact nested-logit probabilities."""
    kw = dict(group="individual", alt="alt", nests=NESTS)
    truth = nested.params
    P = nested.probabilities().to_numpy().reshape(210, 4)
    rng = np.random.default_rng(7)
    z = []
    for _ in range(20):
        chosen = (P.cumsum(1) > rng.uniform(size=(210, 1))).argmax(1)
        y = np.zeros((210, 4))
        y[np.arange(210), chosen] = 1.0
        f = lk.nested_logit(GREENE, mode.assign(choice=y.reshape(-1)), **kw)
        z.append(((f.params - truth) / f.se).to_numpy())
    z = np.array(z)
    assert np.all(np.abs(z.mean(0)) < 0.7), z.mean(0)
    assert np.all((z.std(0) > 0.5) & (z.std(0) < 1.7)), z.std(0)


# ------------------------------------------------------------------------- mixed logit
def _simulate_mixed(rng, people, T, J, mean, sd, R_true=None):
    """Panel mixed logit: person-level normal coefficients on x0, x1; x2 fixed."""
    S = people * T
    X = rng.normal(size=(S, J, 3))
    B = np.repeat(mean[:2] + sd * rng.normal(size=(people, 2)), T, axis=0)
    V = X[..., 0] * B[:, :1] + X[..., 1] * B[:, 1:] + X[..., 2] * mean[2]
    P = np.exp(V - V.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    chosen = (P.cumsum(1) > rng.uniform(size=(S, 1))).argmax(1)
    y = np.zeros((S, J))
    y[np.arange(S), chosen] = 1
    df = pd.DataFrame(X.reshape(-1, 3), columns=["x0", "x1", "x2"])
    df["case"] = np.repeat(np.arange(S), J)
    df["person"] = np.repeat(np.arange(people), T * J)
    df["alt"] = np.tile(np.arange(J), S)
    df["choice"] = y.reshape(-1)
    return df


def test_mixed_logit_derivatives_equal_autodiff():
    """The structured kernel's value, gradient, Hessian and per-person scores equal jax
    autodiff of the plain simulated log-likelihood, here with a lognormal and a normal
    coefficient, correlated, on a panel with unbalanced numbers of choices per person and
    unbalanced choice sets (independent normal coefficients: the xlogit and simulation tests
    below); and the plain function is the simulated likelihood (brute force in numpy)."""
    from likely.models.choice._data import build_choice_data
    from likely.models.choice._halton import halton_normal
    from likely.models.choice._mixed import _people, _person_arrays
    from likely.models.choice._simulated import MixedSpec, _scores_chunks, _sum_chunks, split_people

    rng = np.random.default_rng(3)
    df = _simulate_mixed(rng, 30, 3, 3, np.array([0.5, -0.5, 0.3]), np.array([0.4, 0.6]))
    df = df.drop(index=df.index[(df.case % 7 == 0) & (df.alt == 2) & (df.choice == 0)])
    df = df[~((df.person == 4) & (df.case % 3 == 0))]  # person 4 makes two choices
    cd = build_choice_data("choice ~ x0 + x1 + x2", df, group="case", alt="alt")
    people = _people(cd, df, "person")
    spec = MixedSpec(3, (2,), (0, 1), (True, False), True)
    data = {**_person_arrays(cd, people), "Z": halton_normal(people.n, 20, 2)}
    assert data["X"].shape[:2] == (30, 3) and not data["amask"].all()
    tf = jnp.asarray([0.3])
    tr = jnp.asarray([-0.5, -0.4, 0.5, 0.2, 0.4])  # means, then L (row-major lower triangle)
    jdata = {k: jnp.asarray(v) for k, v in data.items()}

    @jax.jit
    def reference(t):  # plain autodiff of the plain simulated log-likelihood, one compilation
        def per_person(v):
            return person_loglik(spec, v[:1], v[1:], jdata)

        def total(v):
            return jnp.sum(per_person(v))

        return per_person(t), jax.grad(total)(t), jax.hessian(total)(t), jax.jacfwd(per_person)(t)

    theta = jnp.concatenate([tf, tr])
    per_ref, g_ref, H_ref, s_ref = (np.asarray(a) for a in reference(theta))
    batches = split_people(data, spec, np.ones(30))
    v, g, H, _ = _sum_chunks(spec, tf, tr, batches, True)
    assert float(v) == pytest.approx(per_ref.sum(), rel=1e-13)
    assert np.max(np.abs(np.asarray(g) - g_ref)) < 1e-12
    assert np.max(np.abs(np.asarray(H) - H_ref)) < 1e-11
    per = np.asarray(_scores_chunks(spec, tf, tr, batches)).reshape(-1, 6)[:30]
    assert np.max(np.abs(per - s_ref)) < 1e-12
    # the plain function against the definition: mean over draws of the product over choices
    Z = data["Z"]  # (N, R, 2); coefficients: (exp(e0), e1) with e = mean + L z
    e0 = -0.5 + 0.5 * Z[..., 0]
    e1 = -0.4 + 0.2 * Z[..., 0] + 0.4 * Z[..., 1]
    beta = np.stack([np.exp(e0), e1], axis=-1)
    X, Y, m = data["X"], data["Y"], data["amask"]
    V = X[..., 2][:, None] * 0.3 + np.einsum("ntjd,nrd->nrtj", X[..., :2], beta)
    V = np.where(m[:, None], V, -np.inf)
    P = np.exp(V - V.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    brute = np.log(np.mean(np.prod((P * Y[:, None]).sum(-1), axis=-1), axis=1))
    assert np.max(np.abs(per_ref - brute)) < 1e-12


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(11)
    mean, sd = np.array([1.0, -0.8, 0.5]), np.array([0.6, 0.5])
    return _simulate_mixed(rng, MIXED["people"], MIXED["T"], MIXED["J"], mean, sd)


def test_mixed_logit_matches_xlogit(mixed_data):
    """xlogit MixedLogit (CPU) on the same panel data. With halton='sequential' both use the
    same Halton draws (xlogit's scheme: consecutive segments of one sequence, first 100
    dropped), so they maximise the same simulated likelihood; with likely's default shifted
    draws the simulated likelihood differs by simulation noise only."""
    from xlogit import MixedLogit

    df = mixed_data
    m = MixedLogit()
    m.fit(
        X=df[["x0", "x1", "x2"]],
        y=df.choice,
        varnames=["x0", "x1", "x2"],
        alts=df.alt,
        ids=df.case,
        panels=df.person,
        randvars={"x0": "n", "x1": "n"},
        n_draws=MIXED["draws"],
        verbose=0,
        num_hess=True,
    )
    f = lk.mixed_logit(
        "choice ~ x0 + x1 + x2", df, group="case", alt="alt", random={"x0": "normal", "x1": "normal"},
        panel="person", draws=MIXED["draws"], halton="sequential",
    )  # fmt: skip
    assert f.loglik == pytest.approx(m.loglikelihood, rel=1e-8)
    names = ["x0", "x1", "x2", "sd[x0]", "sd[x1]"]
    xl = m.coeff_ * np.array([1, 1, 1, np.sign(m.coeff_[3]), np.sign(m.coeff_[4])])  # sd signs
    assert np.max(np.abs(xl - f.params[names].to_numpy()) / f.se[names].to_numpy()) < 1e-3
    assert rel(m.stderr, f.se[names]) < 1e-2  # xlogit: finite-difference Hessian
    shifted = lk.mixed_logit(
        "choice ~ x0 + x1 + x2", df, group="case", alt="alt", random={"x0": "normal", "x1": "normal"},
        panel="person", draws=MIXED["draws"],
    )  # fmt: skip
    assert abs(shifted.loglik - f.loglik) < 2.0
    assert np.max(np.abs(shifted.params - f.params) / f.se) < 0.5
    assert f.nobs == MIXED["people"] and "mixed logit" in str(f.summary())


def test_mixed_logit_recovers_known_parameters():
    """20 seeded simulated panels: z-scores of the means and sds have mean ~0 and sd ~1."""
    rng = np.random.default_rng(5)
    mean, sd = np.array([1.0, -0.8, 0.5]), np.array([0.6, 0.5])
    truth = np.array([*mean, *sd])
    z = []
    for _ in range(20):
        df = _simulate_mixed(rng, MIXED["people"], MIXED["T"], MIXED["J"], mean, sd)
        f = lk.mixed_logit(
            "choice ~ x0 + x1 + x2", df, group="case", alt="alt",
            random={"x0": "normal", "x1": "normal"}, panel="person", draws=MIXED["draws"],
        )  # fmt: skip
        z.append((f.params.to_numpy() - truth) / f.se.to_numpy())
    z = np.array(z)
    assert np.all(np.abs(z.mean(0)) < 0.7), z.mean(0)
    assert np.all((z.std(0) > 0.5) & (z.std(0) < 1.7)), z.std(0)


def test_mixed_logit_elasticities_wtp_and_errors(mixed_data):
    df = mixed_data.assign(x2=mixed_data.x2.abs() + 0.5)
    f = lk.mixed_logit(
        "choice ~ x0 + x1 + x2", df, group="case", alt="alt", random={"x0": "normal", "x1": "normal"},
        panel="person", draws=MIXED["draws"], cov_type="robust",
    )  # fmt: skip
    e = f.elasticities("x2")["elasticity"].unstack()
    alts = [0, 1, 2]
    base = f.probabilities().groupby(df.alt).sum()[alts].to_numpy()
    h = 1e-5

    def demand(s):
        x = np.where(df.alt == 1, df.x2 * (1 + s), df.x2)
        return f.probabilities(df.assign(x2=x)).groupby(df.alt).sum()[alts].to_numpy()

    fd = (demand(h) - demand(-h)) / (2 * h) / base
    assert np.max(np.abs(e.loc[[str(a) for a in alts], "1"].to_numpy() - fd)) < 1e-6
    w = f.wtp("x0", per="x2")
    assert w["wtp"].iloc[0] == pytest.approx(-f.params["x0"] / f.params["x2"], rel=1e-12)
    assert f.cov_type == "robust" and np.all(np.isfinite(f.se))
    with pytest.raises(lk.ModelError, match="not design columns"):
        lk.mixed_logit("choice ~ x0 + x1", df, group="case", random={"x9": "normal"})
    with pytest.raises(lk.ModelError, match="normal"):
        lk.mixed_logit("choice ~ x0 + x1", df, group="case", random={"x0": "uniform"})
    with pytest.raises(lk.DataError, match="constant within a case"):
        lk.mixed_logit(
            "choice ~ x0 + x1", df.assign(person=np.arange(len(df))), group="case",
            random={"x0": "normal"}, panel="person",
        )  # fmt: skip
