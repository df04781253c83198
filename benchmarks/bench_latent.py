"""Latent-variable benchmark: likely's EM against scikit-learn and hmmlearn, in one run.

1. Gaussian mixtures: n = 1e6, d = 2 and 5, k = 3, full covariances, 100 EM iterations from
   the same start (weights, means, precisions), against scikit-learn's GaussianMixture
   (tol=0, max_iter=100, n_init=1, reg_covar=0; init_params="random_from_data" so that its
   k-means is not run, the given start overriding it).
2. Gaussian HMMs: K = 4 states, one sequence of T = 1e5 and 1e6 steps, 10 EM iterations
   from the same start, against hmmlearn's GaussianHMM with implementation="log" and
   "scaling" (no priors: covars_prior=0, means_prior=0, means_weight=0, min_covar=0).

Per-iteration time: for likely, the wall time of its EM loop (`fit.em.em_seconds`, measured
around the iterations) over the number of iterations; for the peers, (time of N iterations -
time of 1 iteration) / (N - 1), so that setup and scikit-learn's final E-step cancel. Every
library is called once before timing (JAX compiles its kernels then). likely's "total" is the
whole `lk.fit` call including its standard errors (observed information of the marginal
log-likelihood), which the peers do not compute. Agreement: max |difference|
of the log-likelihood and of the estimates after the same number of iterations.

    python benchmarks/bench_latent.py            # full sizes
    python benchmarks/bench_latent.py --quick    # n = 2e4, T = 5e3 and 2e4
    python benchmarks/bench_latent.py --only hmm # one of the two parts
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def gmm_data(n: int, d: int, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    labels = rng.choice(k, size=n, p=[0.5, 0.3, 0.2][:k])
    A = rng.normal(size=(k, d, d)) * 0.4 + np.eye(d)
    X = centers[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n, d)))
    start_means = centers + rng.normal(scale=1.0, size=(k, d))
    start = {
        "weights": np.full(k, 1.0 / k),
        "mu": start_means,
        "cov": np.stack([np.eye(d) * 2.0] * k),
    }
    return X, start


def hmm_data(T: int, K: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    G = np.full((K, K), 0.03 / (K - 1))
    np.fill_diagonal(G, 0.97)
    cum = np.cumsum(G, axis=1)
    u = rng.uniform(size=T)
    s = np.zeros(T, dtype=int)
    for t in range(1, T):
        s[t] = min(np.searchsorted(cum[s[t - 1]], u[t], side="right"), K - 1)
    mus = np.arange(K) * 1.5
    x = rng.normal(mus[s], 0.8 + 0.1 * np.arange(K)[s])
    start = {
        "mu": mus + 0.3,
        "sigma": np.full(K, 1.2),
        "transition": np.full((K, K), 0.5 / K) + 0.5 * np.eye(K),
        "initial": np.full(K, 1.0 / K),
    }
    return x, start


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_gmm(n: int, d: int, iters: int) -> None:
    from sklearn.mixture import GaussianMixture as SK

    import likely as lk

    X, start = gmm_data(n, d)
    k = start["mu"].shape[0]

    def lk_run(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return lk.fit(
                lk.GaussianMixture(k=k, covariance="full"),
                X,
                init=start,
                method="em",
                max_iter=m,
                tol=0,
            )

    def sk_run(m):
        prec = np.linalg.inv(start["cov"])
        est = SK(
            k,
            covariance_type="full",
            tol=0,
            max_iter=m,
            n_init=1,
            reg_covar=0,
            init_params="random_from_data",
            weights_init=start["weights"],
            means_init=start["mu"],
            precisions_init=prec,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.fit(X)

    lk_run(2)  # compile
    tn, f = timed(lambda: lk_run(iters))
    per_lk = f.em.em_seconds / f.em.iterations
    sk_run(1)
    s1, _ = timed(lambda: sk_run(1))
    sn, g = timed(lambda: sk_run(iters))
    per_sk = (sn - s1) / (iters - 1)
    order = np.argsort(g.means_[:, 0])
    ll_sk = g.score(X) * n
    # scikit-learn's score is after its last M-step; likely's loglik likewise
    diff_mu = np.max(np.abs(f.values["mu"] - g.means_[order]))
    diff_cov = np.max(np.abs(f.values["cov"] - g.covariances_[order]))
    diff_w = np.max(np.abs(f.values["weights"] - g.weights_[order]))
    print(f"\n## GaussianMixture, n = {n:,}, d = {d}, k = {k}, full, {iters} EM iterations")
    print(f"{'':34s} {'s/iteration':>12s} {'vs likely':>10s} {'total s':>9s}")
    print(f"{'likely (EM; total incl. se)':34s} {per_lk:12.4f} {1.0:9.2f}x {tn:9.2f}")
    print(f"{'scikit-learn (no se)':34s} {per_sk:12.4f} {per_sk / per_lk:9.2f}x {sn:9.2f}")
    print(
        f"agreement: |loglik diff| {abs(f.loglik - ll_sk):.2e}, max |mu diff| {diff_mu:.2e}, "
        f"max |cov diff| {diff_cov:.2e}, max |weight diff| {diff_w:.2e}"
    )


def bench_hmm(T: int, iters: int) -> None:
    from hmmlearn.hmm import GaussianHMM

    import likely as lk

    x, start = hmm_data(T)
    K = start["mu"].shape[0]

    def lk_run(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return lk.fit(
                lk.HMM(lk.Normal(), n_states=K, initial="estimated"),
                x,
                init=start,
                method="em",
                max_iter=m,
                tol=0,
            )

    def hl_run(m, impl):
        h = GaussianHMM(
            K,
            covariance_type="diag",
            n_iter=m,
            tol=0,
            init_params="",
            params="stmc",
            implementation=impl,
            covars_prior=0,
            means_prior=0,
            means_weight=0,
            min_covar=0,
        )
        h.startprob_ = start["initial"]
        h.transmat_ = start["transition"]
        h.means_ = start["mu"].reshape(K, 1)
        h.covars_ = (start["sigma"] ** 2).reshape(K, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return h.fit(x.reshape(-1, 1))

    lk_run(2)  # compile
    tn, f = timed(lambda: lk_run(iters))
    per_lk = f.em.em_seconds / f.em.iterations
    print(f"\n## Gaussian HMM, K = {K}, T = {T:,}, one sequence, {iters} EM iterations")
    print(f"{'':34s} {'s/iteration':>12s} {'vs likely':>10s} {'total s':>9s}")
    print(f"{'likely (EM; total incl. se)':34s} {per_lk:12.4f} {1.0:9.2f}x {tn:9.2f}")
    for impl in ("log", "scaling"):
        hl_run(1, impl)
        h1, _ = timed(lambda impl=impl: hl_run(1, impl))
        hn, h = timed(lambda impl=impl: hl_run(iters, impl))
        per = (hn - h1) / (iters - 1)
        print(f"{'hmmlearn ' + impl + ' (no se)':34s} {per:12.4f} {per / per_lk:9.2f}x {hn:9.2f}")
        ll = h.score(x.reshape(-1, 1))
        print(
            f"  agreement: |loglik diff| {abs(f.loglik - ll):.2e}, max |mu diff| "
            f"{np.max(np.abs(f.values['mu'] - h.means_.ravel())):.2e}, max |transition diff| "
            f"{np.max(np.abs(f.values['transition'] - h.transmat_)):.2e}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("gmm", "hmm"), help="run one of the two parts")
    args = ap.parse_args()
    import hmmlearn
    import jax
    import sklearn

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# latent-variable benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"# jax {jax.__version__}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"hmmlearn {hmmlearn.__version__}"
    )
    n = 20_000 if args.quick else 1_000_000
    if args.only != "hmm":
        for d in (2, 5):
            bench_gmm(n, d, 100)
    if args.only != "gmm":
        for T in (5_000, 20_000) if args.quick else (100_000, 1_000_000):
            bench_hmm(T, 10)
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
