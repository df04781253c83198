"""GLM benchmark: likely vs statsmodels, scikit-learn and glum, side by side in one run.

Logistic and Poisson regression, n = 1e5 and 1e6, p = 20 (an intercept and 19 standard
normal covariates), no penalty anywhere. likely's time includes its standard errors;
scikit-learn and glum compute none. Timings are warm (the best of `--repeat` runs after one
untimed run); likely's first call in a fresh process (JAX compilation included, persistent
compilation cache off) is measured separately.

    python benchmarks/bench_glm.py            # full
    python benchmarks/bench_glm.py --quick    # n = 1e4 and 1e5
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


def make_data(kind: str, n: int, p: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    beta = rng.normal(scale=0.15, size=p)
    eta = X @ beta
    if kind == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return X, y


def best(fn, repeat: int) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def first_call_seconds(kind: str, n: int) -> tuple[float, float]:
    """(import likely + first fit, first fit alone) in a fresh process, compilation cache off:
    the first fit includes importing the GLM code and compiling its kernel."""
    code = f"""
import time, numpy as np
import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_glm import make_data
X, y = make_data({kind!r}, {n})
t = time.perf_counter()
import likely as lk
t_import = time.perf_counter()
f = lk.glm(y=y, X=X, family={"binomial" if kind == "logistic" else "poisson"!r})
f.se
t_end = time.perf_counter()
print(t_end - t, t_end - t_import)
"""
    env = dict(os.environ, LIKELY_NO_COMPILATION_CACHE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    total, fit = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return total, fit


def run(kind: str, n: int, repeat: int) -> list[tuple]:
    import statsmodels.api as sm
    from sklearn import linear_model as sk

    import likely as lk

    X, y = make_data(kind, n)
    family = "binomial" if kind == "logistic" else "poisson"
    rows = []

    t_lk, f = best(lambda: lk.glm(y=y, X=X, family=family), repeat)
    coef = f.coef.to_numpy()
    se = f.se[f.coef.index].to_numpy()

    def sm_fit():
        model = sm.Logit(y, X) if kind == "logistic" else sm.Poisson(y, X)
        r = model.fit(disp=0, method="newton", tol=1e-10)
        return r.params, r.bse

    t_sm, (sm_coef, sm_se) = best(sm_fit, repeat)
    rows.append(("likely (fit + se)", t_lk, 0.0, 0.0))
    rows.append(
        (
            "statsmodels (fit + se)",
            t_sm,
            np.max(np.abs(sm_coef - coef)),
            np.max(np.abs(sm_se / se - 1)),
        )
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for solver in ("lbfgs", "newton-cholesky"):
            if kind == "logistic":
                est = sk.LogisticRegression(
                    penalty=None, solver=solver, tol=1e-10, max_iter=10_000, fit_intercept=False
                )
            else:
                est = sk.PoissonRegressor(
                    alpha=0.0, solver=solver, tol=1e-10, max_iter=10_000, fit_intercept=False
                )
            t_sk, e = best(lambda est=est: est.fit(X, y), repeat)
            c = np.ravel(e.coef_)
            rows.append((f"scikit-learn {solver} (no se)", t_sk, np.max(np.abs(c - coef)), np.nan))
        try:
            import glum

            g = glum.GeneralizedLinearRegressor(
                family=family, alpha=0, fit_intercept=False, gradient_tol=1e-10
            )
            t_gl, e = best(lambda: g.fit(X, y), repeat)
            rows.append(("glum (no se)", t_gl, np.max(np.abs(np.ravel(e.coef_) - coef)), np.nan))
        except ImportError:
            rows.append(("glum (not installed)", np.nan, np.nan, np.nan))

    import jax.numpy as jnp

    t_conv, _ = best(lambda: jnp.asarray(X).block_until_ready(), 1)
    rows.append(("(jnp.asarray of X, which likely avoids)", t_conv, np.nan, np.nan))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    import jax
    import sklearn
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
        f"# GLM benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"# jax {jax.__version__}, numpy {np.__version__}, statsmodels {statsmodels.__version__}, scikit-learn {sklearn.__version__}"
    )
    for kind in ("logistic", "poisson"):
        for n in sizes:
            rows = run(kind, n, args.repeat)
            t_lk = rows[0][1]
            print(f"\n## {kind}, n = {n:,}, p = 20 (warm, best of {args.repeat})")
            print(
                f"{'':42s} {'seconds':>9s} {'vs likely':>10s} {'max |coef diff|':>16s} {'max se rel diff':>16s}"
            )
            for name, t, dc, ds in rows:
                ratio = t / t_lk if np.isfinite(t) else np.nan
                print(f"{name:42s} {t:9.3f} {ratio:9.2f}x {dc:16.2e} {ds:16.2e}")
            total, fit = first_call_seconds(kind, n)
            print(
                f"{'likely first call, fresh process (import + compile + fit + se)':42s} {total:9.3f}"
            )
            print(f"{'  of which the first fit (compile + fit + se)':42s} {fit:9.3f}")


if __name__ == "__main__":
    main()
