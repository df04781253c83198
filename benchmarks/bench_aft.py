"""Weibull AFT benchmark: likely vs lifelines' WeibullAFTFitter, side by side in one run.

n = 1e5 and 1e6 rows, p = 10 (an intercept and 9 standard normal covariates), about 30%
right-censored, both from a data frame with a formula. Both times include standard errors.
Timings are warm (the best of `--repeat` runs after one untimed run; lifelines runs once
at n = 1e6); likely's first call in a fresh process (JAX compilation included, persistent
compilation cache off) is measured separately. Agreement: max |difference| of the
coefficients, log(scale) and standard errors, and of the log-likelihoods. lifelines runs
with its defaults (BFGS), which stop about 1e-5 short of the optimum, so the differences
measure lifelines' tolerance; `tests/test_aft.py` checks the two agree to 1e-6 when lifelines
is run to convergence.

    python benchmarks/bench_aft.py            # full
    python benchmarks/bench_aft.py --quick    # n = 1e4
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

P = 10
FORMULA = " + ".join(f"x{j}" for j in range(1, P))


def make_data(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, P - 1))
    beta = rng.normal(scale=0.2, size=P - 1)
    sigma = 0.7
    log_t = 2.0 + X @ beta + sigma * np.log(-np.log(rng.uniform(size=n)))
    # censoring times: an independent draw of the same law, stretched so ~30% are censored
    log_c = 2.0 + X @ beta + sigma * np.log(-np.log(rng.uniform(size=n)))
    shift = np.quantile(log_t - log_c, 0.7)
    c = np.exp(log_c + shift)
    t = np.exp(log_t)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(1, P)])
    df["time"] = np.minimum(t, c)
    df["event"] = (t <= c).astype(float)
    return df


def best(fn, repeat: int) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def first_call_seconds(n: int) -> float:
    code = f"""
import time
import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_aft import make_data, FORMULA
df = make_data({n})
t = time.perf_counter()
import likely as lk
f = lk.aft(df, duration="time", event="event", formula=FORMULA)
f.se
print(time.perf_counter() - t)
"""
    env = dict(os.environ, LIKELY_NO_COMPILATION_CACHE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(n: int, repeat: int) -> dict:
    from lifelines import WeibullAFTFitter

    import likely as lk

    df = make_data(n)
    t_lk, f = best(lambda: lk.aft(df, duration="time", event="event", formula=FORMULA), repeat)
    cols = ["Intercept"] + [f"x{j}" for j in range(1, P)]
    mine = np.append(f.params[cols].to_numpy(), np.log(f.params["scale"]))
    mine_se = np.append(f.se[cols].to_numpy(), f.se["scale"] / f.params["scale"])

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return WeibullAFTFitter().fit(df, "time", "event", formula=FORMULA)

    t_ll, w = best(peer, repeat if n <= 100_000 else 0)
    theirs = np.append(w.params_["lambda_"][cols].to_numpy(), -w.params_[("rho_", "Intercept")])
    theirs_se = np.append(
        w.standard_errors_["lambda_"][cols].to_numpy(), w.standard_errors_[("rho_", "Intercept")]
    )
    return {
        "likely": t_lk,
        "lifelines": t_ll,
        "censored": float(1 - df.event.mean()),
        "coef": float(np.max(np.abs(mine - theirs))),
        "se": float(np.max(np.abs(mine_se / theirs_se - 1))),
        "loglik": float(f.loglik - w.log_likelihood_),
        "iterations": f.iterations,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [10_000] if args.quick else [100_000, 1_000_000]
    import jax
    import lifelines

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# Weibull AFT benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"# jax {jax.__version__}, numpy {np.__version__}, lifelines {lifelines.__version__}")
    for n in sizes:
        r = run(n, args.repeat)
        print(
            f"\n## n = {n:,}, p = {P}, {r['censored']:.0%} censored "
            f"(warm, best of {args.repeat}; likely: {r['iterations']} Newton iterations)"
        )
        print(f"{'':44s} {'seconds':>9s} {'vs likely':>10s}")
        print(f"{'likely lk.aft (fit + se)':44s} {r['likely']:9.3f} {1.0:9.2f}x")
        print(
            f"{'lifelines WeibullAFTFitter (fit + se)':44s} {r['lifelines']:9.3f} "
            f"{r['lifelines'] / r['likely']:9.2f}x"
        )
        print(
            f"agreement: max |coef diff| {r['coef']:.2e}, max se rel diff {r['se']:.2e}, "
            f"loglik(likely) - loglik(lifelines) {r['loglik']:.2e}"
        )
        first = first_call_seconds(n)
        print(
            f"{'likely first call, fresh process (import + compile + fit + se)':44s} {first:9.3f}"
        )


if __name__ == "__main__":
    main()
