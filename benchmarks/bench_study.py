"""Simulation-study benchmark: many MLE fits at once, against a Python loop over scipy.

10,000 Gamma data sets of n = 200 (shape 2, rate 1.5), drawn once with numpy and handed to
both sides. likely fits them with `lk.study` (every fit with its standard errors, Wald
coverage and the table of the sampling properties; profile-likelihood coverage measured in a
second row); scipy fits them one by one with `scipy.stats.gamma.fit(x, floc=0)`, which gives
no standard errors. A Weibull study (no sufficient statistics: Newton on every row of every
replicate) against `scipy.stats.weibull_min.fit(x, floc=0)`, and a BCa bootstrap of a Gamma
fit against `scipy.stats.bootstrap`, follow. Timings are warm (the best of `--repeat` runs
after one untimed run); likely's first call in a fresh process (JAX compilation included,
persistent compilation cache off) is measured separately.

    python benchmarks/bench_study.py            # full: 10,000 Gamma fits
    python benchmarks/bench_study.py --quick    # 500 fits
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

N = 200
TRUTH = {"shape": 2.0, "rate": 1.5}


def best(fn, repeat: int) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def feeder(x: np.ndarray):
    """A `simulate` for lk.study that hands out the pre-drawn data sets in order."""
    pos = [0]

    def simulate(params, size, rng):
        start = pos[0]
        pos[0] += size[0]
        return x[start : start + size[0]]

    return simulate


def likely_study(model, x: np.ndarray, profile: bool):
    import likely as lk

    truth = TRUTH if isinstance(model, lk.Gamma) else {"shape": 1.5, "scale": 2.0}
    return lk.study(
        model,
        truth=truth,
        n=x.shape[1],
        reps=x.shape[0],
        simulate=feeder(x),
        profile=profile,
        progress=False,
    )


def first_call_seconds(reps: int) -> float:
    code = f"""
import time, numpy as np
import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_study import likely_study
x = np.random.default_rng(0).gamma(2.0, 1 / 1.5, size=({reps}, {N}))
t = time.perf_counter()
import likely as lk
likely_study(lk.Gamma(), x, profile=False).table()
print(time.perf_counter() - t)
"""
    env = dict(os.environ, LIKELY_NO_COMPILATION_CACHE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def gamma_rows(reps: int, repeat: int) -> list[tuple]:
    import scipy.stats as st

    import likely as lk

    x = np.random.default_rng(0).gamma(TRUTH["shape"], 1 / TRUTH["rate"], size=(reps, N))
    t_lk, sim = best(lambda: likely_study(lk.Gamma(), x, profile=False), repeat)
    t_prof, _ = best(lambda: likely_study(lk.Gamma(), x, profile=True), repeat)

    def scipy_loop():
        out = np.empty((reps, 2))
        for r in range(reps):
            a, _, scale = st.gamma.fit(x[r], floc=0)
            out[r] = a, 1 / scale
        return out

    t_sp, sp = best(scipy_loop, repeat)
    est = sim.runs[0].estimates
    se = sim.runs[0].se
    # standard errors: against lk.fit (observed information) on a subset
    sub = range(0, reps, max(1, reps // 50))
    se_diff = max(
        float(np.max(np.abs(se[r] / lk.fit(lk.Gamma(), x[r]).se.to_numpy() - 1))) for r in sub
    )
    return [
        ("likely lk.study (fit + se + Wald coverage)", t_lk, 0.0, se_diff),
        ("likely, also profile-likelihood coverage", t_prof, 0.0, np.nan),
        ("scipy gamma.fit(floc=0) loop (no se)", t_sp, float(np.max(np.abs(sp - est))), np.nan),
    ]


def weibull_rows(reps: int, repeat: int) -> list[tuple]:
    import scipy.stats as st

    import likely as lk

    x = 2.0 * np.random.default_rng(1).weibull(1.5, size=(reps, N))
    t_lk, sim = best(lambda: likely_study(lk.Weibull(), x, profile=False), repeat)

    def scipy_loop():
        out = np.empty((reps, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in range(reps):
                c, _, scale = st.weibull_min.fit(x[r], floc=0)
                out[r] = c, scale
        return out

    t_sp, sp = best(scipy_loop, 1)
    est = sim.runs[0].estimates
    return [
        ("likely lk.study (fit + se + Wald coverage)", t_lk, 0.0, np.nan),
        (
            "scipy weibull_min.fit(floc=0) loop (no se)",
            t_sp,
            float(np.max(np.abs(sp - est))),
            np.nan,
        ),
    ]


def bootstrap_rows(reps: int, repeat: int) -> list[tuple]:
    import scipy.stats as st

    import likely as lk

    x = np.random.default_rng(2).gamma(2.0, 1 / 1.5, size=N)
    fit = lk.fit(lk.Gamma(), x)

    def ours():
        boot = fit.bootstrap(reps=reps, key=0, progress=False)
        return boot.conf_int(method="bca").loc["shape"].to_numpy()

    def theirs():
        res = st.bootstrap(
            (x,),
            lambda s: st.gamma.fit(s, floc=0)[0],
            n_resamples=reps,
            method="BCa",
            vectorized=False,
            rng=np.random.default_rng(0),
        )
        return np.array([res.confidence_interval.low, res.confidence_interval.high])

    t_lk, ci_lk = best(ours, repeat)
    t_sp, ci_sp = best(theirs, 1)
    return [
        (f"likely fit.bootstrap BCa, shape CI {np.round(ci_lk, 4)}", t_lk, 0.0, np.nan),
        (
            f"scipy.stats.bootstrap BCa, shape CI {np.round(ci_sp, 4)}",
            t_sp,
            float(np.max(np.abs(ci_sp - ci_lk))),
            np.nan,
        ),
    ]


def show(title: str, rows: list[tuple]) -> None:
    t_lk = rows[0][1]
    print(f"\n## {title}")
    print(
        f"{'':58s} {'seconds':>9s} {'vs likely':>10s} {'max |est diff|':>15s} {'se rel diff':>12s}"
    )
    for name, t, de, ds in rows:
        print(f"{name:58s} {t:9.3f} {t / t_lk:9.2f}x {de:15.2e} {ds:12.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    reps = 500 if args.quick else 10_000
    import jax
    import scipy

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# Study benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"# jax {jax.__version__}, numpy {np.__version__}, scipy {scipy.__version__}")
    show(
        f"{reps:,} Gamma fits, n = {N} each (warm, best of {args.repeat})",
        gamma_rows(reps, args.repeat),
    )
    first = first_call_seconds(reps)
    print(f"{'likely first call, fresh process (import + compile + study)':58s} {first:9.3f}")
    wreps = 200 if args.quick else 2000
    show(
        f"{wreps:,} Weibull fits, n = {N} each (likely warm, best of {args.repeat}; scipy once)",
        weibull_rows(wreps, args.repeat),
    )
    breps = 500 if args.quick else 2000
    show(
        f"BCa bootstrap of a Gamma fit, n = {N}, {breps:,} resamples (different resamples: the "
        "intervals agree to Monte Carlo error)",
        bootstrap_rows(breps, args.repeat),
    )


if __name__ == "__main__":
    main()
