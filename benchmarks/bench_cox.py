"""Cox benchmark: likely vs lifelines and statsmodels PHReg, Efron ties, side by side.

Data: n = 1e5 and 1e6 rows, p = 10 standard normal covariates, exponential event times with
a proportional-hazards effect and independent exponential censoring (about 60% events);
about 20% of the rows have their time rounded to 0.01, so they share it with other rows
(ties, handled by Efron's approximation in all three libraries). Every library's time
includes the coefficients' standard errors; agreement is printed as the largest absolute
coefficient difference and the largest relative standard-error difference against likely.

    python benchmarks/bench_cox.py            # n = 1e5 and 1e6 (lifelines at 1e6: minutes)
    python benchmarks/bench_cox.py --quick    # n = 1e4 and 1e5
    python benchmarks/bench_cox.py --no-lifelines-above 200000 --no-statsmodels-above 200000

statsmodels' PHReg is the slowest peer (minutes at 1e5 on a loaded 2-core machine); the two
flags skip a peer above a size.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd


def make_data(n: int, p: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = rng.normal(scale=0.2, size=p)
    T = rng.exponential(1.0 / np.exp(X @ beta))
    C = rng.exponential(2.0, n)
    t = np.minimum(T, C)
    tie = rng.uniform(size=n) < 0.2
    t[tie] = np.round(t[tie], 2) + 0.001
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    df["t"] = t
    df["e"] = (T <= C).astype(float)
    return df


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def run(
    n: int, repeat: int, lifelines_max: int, statsmodels_max: int
) -> list[tuple[str, float, float, float]]:
    import likely as lk

    df = make_data(n)
    cols = [c for c in df.columns if c.startswith("x")]
    lk.coxph(df.head(2000), duration="t", event="e")  # warm-up: imports, first calls

    def fit_likely():
        f = lk.coxph(df, duration="t", event="e")
        return f.params.to_numpy(), f.se.to_numpy()

    t_lk, (coef, se) = timed(fit_likely, repeat)
    rows = [("likely (Efron, fit + se)", t_lk, 0.0, 0.0)]

    peer_repeat = 1 if n >= 1_000_000 else max(1, min(repeat, 2))
    if n <= statsmodels_max:
        from statsmodels.duration.hazard_regression import PHReg

        def fit_sm():
            r = PHReg(
                df["t"].to_numpy(), df[cols].to_numpy(), status=df["e"].to_numpy(), ties="efron"
            ).fit()
            return np.asarray(r.params), np.asarray(r.bse)

        t_sm, (c_sm, s_sm) = timed(fit_sm, peer_repeat)
        rows.append(
            (
                "statsmodels PHReg (Efron, fit + se)",
                t_sm,
                np.max(np.abs(c_sm - coef)),
                np.max(np.abs(s_sm / se - 1)),
            )
        )
    else:
        rows.append(("statsmodels (skipped: --no-statsmodels-above)", np.nan, np.nan, np.nan))

    if n <= lifelines_max:
        from lifelines import CoxPHFitter

        def fit_ll():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter().fit(df, "t", "e")
            return cph.params_[cols].to_numpy(), cph.standard_errors_[cols].to_numpy()

        t_ll, (c_ll, s_ll) = timed(fit_ll, peer_repeat)
        rows.append(
            (
                "lifelines CoxPHFitter (Efron, fit + se)",
                t_ll,
                np.max(np.abs(c_ll - coef)),
                np.max(np.abs(s_ll / se - 1)),
            )
        )
    else:
        rows.append(("lifelines (skipped: --no-lifelines-above)", np.nan, np.nan, np.nan))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-lifelines-above", type=int, default=10**9, dest="lifelines_max")
    ap.add_argument("--no-statsmodels-above", type=int, default=10**9, dest="statsmodels_max")
    args = ap.parse_args()
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    import lifelines
    import statsmodels

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# Cox PH benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"# numpy {np.__version__}, statsmodels {statsmodels.__version__}, "
        f"lifelines {lifelines.__version__}"
    )
    for n in sizes:
        rows = run(n, args.repeat, args.lifelines_max, args.statsmodels_max)
        t_lk = rows[0][1]
        df = make_data(n)
        tied = df["t"].duplicated(keep=False).mean()
        print(
            f"\n## n = {n:,}, p = 10, {df['e'].mean():.0%} events, {tied:.0%} of rows in "
            f"tied times (likely: best of {args.repeat}; peers: best of "
            f"{1 if n >= 1_000_000 else min(args.repeat, 2)})"
        )
        print(
            f"{'':42s} {'seconds':>9s} {'vs likely':>10s} {'max |coef diff|':>16s} "
            f"{'max se rel diff':>16s}"
        )
        for name, t, dc, ds in rows:
            ratio = t / t_lk if np.isfinite(t) else np.nan
            print(f"{name:42s} {t:9.3f} {ratio:9.1f}x {dc:16.2e} {ds:16.2e}")
    print(f"\n# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
