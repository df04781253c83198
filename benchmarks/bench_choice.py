"""Discrete-choice benchmark: likely against statsmodels and xlogit, side by side in one run.

1. Conditional logit, 100,000 cases x 5 alternatives x 10 variables (generic coefficients on
   standard normal attributes): likely vs statsmodels `ConditionalLogit` (BFGS, its default,
   then its Hessian standard errors) and xlogit `MultinomialLogit` (CPU; its default standard
   errors come from a numerical Hessian).
2. Mixed logit, 10,000 cases x 5 alternatives x 4 variables, two independent normal random
   coefficients, 500 Halton draws: likely vs xlogit `MixedLogit` (CPU). likely uses
   ``halton="sequential"``, which are xlogit's draws, so both maximise the same simulated
   likelihood and the estimates agree. xlogit's default standard errors are BHHH (outer
   product of scores); its ``num_hess=True`` (a finite-difference Hessian, the observed
   information that likely computes exactly) is timed too.

Every time includes standard errors. Times are warm (best of `--repeat` after one untimed run;
likely's compiled kernels are then cached); likely's first call in a fresh process (JAX
compilation included, persistent compilation cache off) is measured separately.

    python benchmarks/bench_choice.py            # full sizes (statsmodels takes minutes)
    python benchmarks/bench_choice.py --quick    # 10,000 cases; mixed logit 1,000 x 100 draws
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np


def conditional_data(S: int, J: int = 5, K: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(S, J, K))
    beta = rng.normal(scale=0.5, size=K)
    V = X @ beta
    P = np.exp(V - V.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    chosen = (P.cumsum(axis=1) > rng.uniform(size=(S, 1))).argmax(axis=1)
    y = np.zeros((S, J))
    y[np.arange(S), chosen] = 1.0
    group = np.repeat(np.arange(S), J)
    alt = np.tile(np.arange(J), S)
    return X.reshape(S * J, K), y.reshape(-1), group, alt


def mixed_data(S: int, J: int = 5, seed: int = 1):
    rng = np.random.default_rng(seed)
    K = 4
    X = rng.normal(size=(S, J, K))
    mean = np.array([1.0, -0.5, 0.8, 0.3])
    sd = np.array([0.5, 0.7, 0.0, 0.0])
    B = mean + sd * rng.normal(size=(S, K))
    V = np.einsum("sjk,sk->sj", X, B)
    P = np.exp(V - V.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    chosen = (P.cumsum(axis=1) > rng.uniform(size=(S, 1))).argmax(axis=1)
    y = np.zeros((S, J))
    y[np.arange(S), chosen] = 1.0
    return X.reshape(S * J, K), y.reshape(-1), np.repeat(np.arange(S), J), np.tile(np.arange(J), S)


def best(fn, repeat: int) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def first_call_seconds(kind: str, size: int, draws: int) -> float:
    code = f"""
import time, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import bench_choice as b
t = time.perf_counter()
import likely as lk
if {kind!r} == "conditional":
    X, y, g, a = b.conditional_data({size})
    f = lk.conditional_logit(X=X, y=y, group=g, alt=a)
else:
    X, y, g, a = b.mixed_data({size})
    f = lk.mixed_logit(X=X, y=y, group=g, alt=a, random={{"x0": "normal", "x1": "normal"}},
                       draws={draws}, halton="sequential")
f.se
print(time.perf_counter() - t)
"""
    env = dict(os.environ, LIKELY_NO_COMPILATION_CACHE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        print(out.stderr[-2000:])
        return np.nan
    return float(out.stdout.strip().splitlines()[-1])


def run_conditional(S: int, repeat: int, skip_statsmodels: bool) -> list[tuple]:
    import likely as lk

    X, y, group, alt = conditional_data(S)
    K = X.shape[1]
    names = [f"x{k}" for k in range(K)]
    t_lk, f = best(lambda: lk.conditional_logit(X=X, y=y, group=group, alt=alt), repeat)
    coef, se = f.params.to_numpy(), f.se.to_numpy()
    rows = [("likely conditional_logit (arrays)", t_lk, 0.0, 0.0)]

    import pandas as pd

    df = pd.DataFrame(X, columns=names).assign(choice=y, case=group, alt=alt)
    formula = "choice ~ " + " + ".join(names)
    t_f, ff = best(lambda: lk.conditional_logit(formula, df, group="case", alt="alt"), repeat)
    rows.append(
        (
            "likely conditional_logit (formula, data frame)",
            t_f,
            np.max(np.abs(ff.params.to_numpy() - coef)),
            np.max(np.abs(ff.se.to_numpy() / se - 1)),
        )
    )

    if not skip_statsmodels:
        from statsmodels.discrete.conditional_models import ConditionalLogit

        def sm_fit():
            r = ConditionalLogit(y, X, groups=group).fit(disp=0, maxiter=1000, gtol=1e-10)
            return r.params, r.bse

        t_sm, (c_sm, s_sm) = best(sm_fit, max(1, repeat // 3))
        rows.append(
            (
                "statsmodels ConditionalLogit (BFGS + se)",
                t_sm,
                np.max(np.abs(c_sm - coef)),
                np.max(np.abs(s_sm / se - 1)),
            )
        )
    from xlogit import MultinomialLogit

    def xl_fit():
        m = MultinomialLogit()
        m.fit(X, y, names, alt, group, verbose=0)
        return m.coeff_, m.stderr

    t_xl, (c_xl, s_xl) = best(xl_fit, repeat)
    rows.append(
        (
            "xlogit MultinomialLogit (CPU, numerical-Hessian se)",
            t_xl,
            np.max(np.abs(c_xl - coef)),
            np.max(np.abs(s_xl / se - 1)),
        )
    )
    return rows


def run_mixed(S: int, draws: int, repeat: int) -> list[tuple]:
    import likely as lk

    X, y, group, alt = mixed_data(S)
    names = ["x0", "x1", "x2", "x3"]
    random = {"x0": "normal", "x1": "normal"}

    def lk_fit():
        return lk.mixed_logit(
            X=X, y=y, group=group, alt=alt, random=random, draws=draws, halton="sequential"
        )

    t_lk, f = best(lk_fit, repeat)
    coef, se = f.params.to_numpy(), f.se.to_numpy()
    rows = [("likely mixed_logit (exact Hessian se)", t_lk, 0.0, 0.0, f.loglik)]
    from xlogit import MixedLogit

    for num_hess in (False, True):

        def xl_fit(num_hess=num_hess):
            m = MixedLogit()
            m.fit(
                X,
                y,
                names,
                alt,
                group,
                randvars={"x0": "n", "x1": "n"},
                n_draws=draws,
                verbose=0,
                num_hess=num_hess,
            )
            return m

        t_xl, m = best(xl_fit, max(1, repeat // 2))
        label = "numerical-Hessian se" if num_hess else "default BHHH se"
        rows.append(
            (
                f"xlogit MixedLogit (CPU, {label})",
                t_xl,
                np.max(np.abs(m.coeff_ - coef)),
                np.max(np.abs(m.stderr / se - 1)),
                m.loglikelihood,
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-statsmodels", action="store_true")
    args = ap.parse_args()
    S_cl = 10_000 if args.quick else 100_000
    S_mx, draws = (1_000, 100) if args.quick else (10_000, 500)
    import jax
    import statsmodels
    import xlogit  # noqa: F401

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# choice benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"# jax {jax.__version__}, numpy {np.__version__}, statsmodels {statsmodels.__version__}")
    warnings.simplefilter("ignore")

    print(
        f"\n## conditional logit, {S_cl:,} cases x 5 alternatives x 10 variables (warm, best of {args.repeat})"
    )
    print(
        f"{'':52s} {'seconds':>9s} {'vs likely':>10s} {'max |coef diff|':>16s} {'max se rel diff':>16s}"
    )
    rows = run_conditional(S_cl, args.repeat, args.skip_statsmodels)
    t0 = rows[0][1]
    for name, t, dc, ds in rows:
        print(f"{name:52s} {t:9.3f} {t / t0:9.2f}x {dc:16.2e} {ds:16.2e}")
    first = first_call_seconds("conditional", S_cl, draws)
    print(f"{'likely first call, fresh process (import + compile + fit)':52s} {first:9.3f}")

    print(
        f"\n## mixed logit, {S_mx:,} cases x 5 alternatives x 4 variables, 2 normal random "
        f"coefficients, {draws} Halton draws (warm, best of {args.repeat})"
    )
    print(
        f"{'':52s} {'seconds':>9s} {'vs likely':>10s} {'max |coef diff|':>16s} {'max se rel diff':>16s} {'loglik':>14s}"
    )
    rows = run_mixed(S_mx, draws, args.repeat)
    t0 = rows[0][1]
    for name, t, dc, ds, ll in rows:
        print(f"{name:52s} {t:9.3f} {t / t0:9.2f}x {dc:16.2e} {ds:16.2e} {ll:14.6f}")
    first = first_call_seconds("mixed", S_mx, draws)
    print(f"{'likely first call, fresh process (import + compile + fit)':52s} {first:9.3f}")
    print(f"\n# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
