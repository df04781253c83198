"""`likely tour`: the lesson of maximum likelihood, on real numbers, step by step."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

import likely as lk

from ._datasets import goog_log_returns


def _title(say: Callable[[str], None], text: str) -> None:
    say("")
    say(text)
    say("-" * len(text))


def run(out_dir: str | None = "tour-output", say: Callable[[str], None] = print) -> dict:
    """Walk through the lesson; returns the key numbers (the tests check them)."""
    results: dict = {}

    _title(say, "1. Likelihood: the probability of the data, read as a function of the parameter")
    coin = lk.Binomial(n=10)
    say("A coin lands heads 7 times in 10 flips. L(p) = C(10,7) p^7 (1-p)^3:")
    for p in (0.5, 0.7, 0.9):
        value = coin.likelihood({"p": p}, [7])
        results[f"L({p})"] = value
        say(f"  L({p}) = {value:.4f}")
    coin_fit = lk.fit(coin, [7])
    results["p_hat"] = float(coin_fit.params["p"])
    ci = coin_fit.conf_int(method="profile").loc["p"]
    say(f"The maximum is at p_hat = {coin_fit.params['p']:.4f} = 7/10 (closed form).")
    say(f"95% profile-likelihood interval for p: ({ci['lower']:.4f}, {ci['upper']:.4f})")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "coin_likelihood.png")
        _plot_coin(coin, path, (ci["lower"], ci["upper"]))
        results["plot"] = path
        say(f"Likelihood curve saved to {path}")

    _title(say, "2. Log-likelihood: the product becomes a sum")
    r = goog_log_returns()
    n = r.size
    say(f"Data: {n} daily log returns of Google stock, 2004-2008 (matplotlib's sample data).")
    normal = lk.Normal()
    dens = np.exp(np.asarray(normal.logpdf({"mu": 0.0, "sigma": 0.02}, r)))
    product = float(np.prod(dens[:400] * 1e-3))
    say(f"The product of 400 densities (in units of 0.001) underflows: {product}")
    say(
        f"The sum of all {n} log-densities is finite: {normal.loglik({'mu': 0.0, 'sigma': 0.02}, r):.2f}"
    )

    _title(say, "3. Three canonical MLEs: closed form against Newton's method")
    fit_n = lk.fit(normal, r)
    num_n = lk.fit(normal, r, method="newton")
    var_mle = float(fit_n.params["sigma"] ** 2)
    results["normal_mu"] = float(fit_n.params["mu"])
    results["normal_var"] = var_mle
    say(f"Normal:    mu_hat = mean = {fit_n.params['mu']:.6f}   (Newton: {num_n.params['mu']:.6f})")
    say(
        f"           sigma^2_hat = (1/n) sum (x - mean)^2 = {var_mle:.8f}   (Newton: {num_n.params['sigma'] ** 2:.8f})"
    )
    say(
        f"           the unbiased 1/(n-1) version is {np.var(r, ddof=1):.8f}: the MLE is biased by (n-1)/n"
    )
    up = (r > 0).astype(float)
    fit_b = lk.fit(lk.Bernoulli(), up)
    num_b = lk.fit(lk.Bernoulli(), up, method="newton")
    results["bernoulli_p"] = float(fit_b.params["p"])
    say(
        f"Bernoulli: p_hat = k/n = {int(up.sum())}/{n} = {fit_b.params['p']:.6f}   (Newton: {num_b.params['p']:.6f})   [up days]"
    )
    months = n // 21
    counts = (np.abs(r[: months * 21]) > 0.03).reshape(months, 21).sum(axis=1).astype(float)
    fit_p = lk.fit(lk.Poisson(), counts)
    num_p = lk.fit(lk.Poisson(), counts, method="newton")
    results["poisson_rate"] = float(fit_p.params["rate"])
    say(
        f"Poisson:   rate_hat = mean = {fit_p.params['rate']:.6f}   (Newton: {num_p.params['rate']:.6f})   [days per 21-day month with a move over 3%]"
    )

    _title(say, "4. Uncertainty from the Fisher information")
    se_mu = float(fit_n.se["mu"])
    results["se_mu"] = se_mu
    say(
        f"se(mu_hat) = sigma_hat / sqrt(n) = {fit_n.params['sigma'] / math.sqrt(n):.8f}; from the information: {se_mu:.8f}"
    )
    wald = fit_n.conf_int()
    prof = fit_n.conf_int(method="profile")
    say(
        f"95% Wald interval for mu:    ({wald.loc['mu', 'lower']:.6f}, {wald.loc['mu', 'upper']:.6f})"
    )
    say(
        f"95% profile interval for mu: ({prof.loc['mu', 'lower']:.6f}, {prof.loc['mu', 'upper']:.6f})"
    )

    _title(say, "5. Invariance: the MLE of g(theta) is g(theta_hat)")
    vol = fit_n.transform(lambda p: p["sigma"] * math.sqrt(252))
    vci = vol.conf_int().iloc[0]
    results["annual_vol"] = float(vol)
    say(
        f"Annualised volatility sigma*sqrt(252) = {float(vol):.4f}, delta-method se {vol.se.iloc[0]:.4f}, 95% CI ({vci['lower']:.4f}, {vci['upper']:.4f})"
    )
    odds = fit_b.transform(lambda p: p["p"] / (1 - p["p"]))
    say(f"Odds of an up day p/(1-p) = {float(odds):.4f} (se {odds.se.iloc[0]:.4f})")

    _title(say, "6. Losses are negative log-likelihoods")
    p_hat = float(fit_b.params["p"])
    bce = -float(np.mean(up * math.log(p_hat) + (1 - up) * math.log(1 - p_hat)))
    results["bce"] = bce
    say(f"Binary cross-entropy at p_hat: {bce:.6f} = -loglik/n = {-fit_b.loglik / n:.6f}")

    _title(say, "7. A better likelihood for the same data")
    fit_t = lk.fit(lk.StudentT(), r)
    lr = fit_t.lr_test(fit_n)
    results["t_df"] = float(fit_t.params["df"])
    say(f"Student-t: df = {fit_t.params['df']:.3f} (se {fit_t.se['df']:.3f}): heavy tails")
    say(
        f"AIC Normal {fit_n.aic:.1f} vs Student-t {fit_t.aic:.1f}; LR statistic {lr.statistic:.1f} (the Normal is the df -> inf limit, so the chi-square(1) p-value is conservative)"
    )

    _title(say, "8. MAP: the likelihood plus a prior")
    fit_map = lk.fit(lk.Bernoulli(), up[:20], prior={"p": lk.priors.Beta(5.0, 5.0)})
    k = int(up[:20].sum())
    say(
        f"First 20 days: {k} up. MLE {k / 20:.3f}; with a Beta(5,5) prior the MAP is (k+4)/(n+8) = {(k + 4) / 28:.4f}: {fit_map.params['p']:.4f}"
    )

    _study_step(r, out_dir, say, results)

    _title(say, "Where this goes next")
    say("The same engine fits any log-density you write in jax.numpy (lk.Model), censored data")
    say("(lk.fit(lk.Weibull(), t, event=e)), regression models (lk.glm: logistic, Poisson, NB2,")
    say("Gamma, ..., with formulas, robust errors and priors; likely.sklearn for scikit-learn")
    say("users), PyTorch's losses as likelihoods (lk.losses), survival models (lk.coxph, lk.aft),")
    say("mixtures and hidden Markov models by EM (lk.Mixture, lk.HMM), discrete choice")
    say("(lk.conditional_logit, nested and mixed logit), simulation studies of the MLE itself")
    say("(lk.study, fit.bootstrap), and data on Dask. The README shows each.")
    return results


def _study_step(
    r: np.ndarray, out_dir: str | None, say: Callable[[str], None], results: dict
) -> None:
    """Consistency, asymptotic normality and efficiency, seen by simulation."""
    _title(say, "9. Consistency and asymptotic normality, by simulation")
    fit_g = lk.fit(lk.Gamma(), np.abs(r))
    say(
        f"A Gamma fits the size of the daily moves: shape {fit_g.params['shape']:.3f}, "
        f"rate {fit_g.params['rate']:.2f}. Take these as the truth, draw 2000 data sets"
    )
    say("of each size n from it and fit every one (one compiled, vectorised Newton solve):")
    sim = lk.study(fit_g, n=[10, 40, 160, 640], reps=2000, key=0, progress=False)
    table = sim.table()
    shape = table[table["param"] == "shape"]
    say("     n   mean(shape_hat)   sd      Cramer-Rao sd   sd/CR   Wald cover   profile cover")
    for row in shape.itertuples():
        say(
            f"  {row.n:4d}   {row.mean:12.4f}   {row.sd:7.4f}   {row.crlb_sd:10.4f}   "
            f"{row.efficiency:6.3f}   {row.coverage_wald:9.3f}   {row.coverage_profile:12.3f}"
        )
    first, last = shape.iloc[0], shape.iloc[-1]
    say(
        f"Consistency: the estimates close in on the truth as n grows (bias {first.bias:+.3f} "
        f"at n = {first.n}, {last.bias:+.4f} at n = {last.n}; sd {first.sd:.3f} -> {last.sd:.4f})."
    )
    say(
        "Asymptotic normality and efficiency: the sd approaches the Cramer-Rao bound "
        f"sqrt(I(theta)^-1 / n) (ratio {first.efficiency:.2f} -> {last.efficiency:.2f}),"
    )
    say(
        f"and the 95% intervals reach their nominal coverage (Wald {first.coverage_wald:.3f} -> "
        f"{last.coverage_wald:.3f}, profile {first.coverage_profile:.3f} -> "
        f"{last.coverage_profile:.3f}; Monte Carlo error about 0.005)."
    )
    results["study_efficiency"] = shape["efficiency"].tolist()
    results["study_coverage_wald"] = shape["coverage_wald"].tolist()
    results["study_failed"] = int(table["failed"].sum())
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "mle_sampling_distribution.png")
        sim.plot().savefig(path, dpi=100)
        results["study_plot"] = path
        say(f"Sampling distributions against N(truth, CRLB), coverage and efficiency: {path}")


def _plot_coin(coin: lk.Binomial, path: str, interval: tuple[float, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0.001, 0.999, 400)
    like = np.array([coin.likelihood({"p": p}, [7]) for p in grid[::8]])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(grid[::8], like, color="C0", label="L(p) = C(10,7) p^7 (1-p)^3")
    for p in (0.5, 0.7, 0.9):
        ax.plot([p], [coin.likelihood({"p": p}, [7])], "o", color="C1")
        ax.annotate(
            f"L({p})={coin.likelihood({'p': p}, [7]):.3f}",
            (p, coin.likelihood({"p": p}, [7])),
            textcoords="offset points",
            xytext=(5, 5) if p < 0.8 else (-75, 5),
            fontsize=8,
        )
    ax.axvspan(*interval, color="C0", alpha=0.12, label="95% profile interval")
    ax.axvline(0.7, color="C1", ls="--", lw=1, label="MLE p = 0.7")
    ax.set_xlabel("p (probability of heads)")
    ax.set_ylabel("likelihood")
    ax.set_title("7 heads in 10 flips")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
