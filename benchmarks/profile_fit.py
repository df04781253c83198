"""Where a warm `lk.fit` spends its time: a stage-by-stage breakdown.

    .venv/bin/python benchmarks/profile_fit.py [--n 100000] [--repeat 15]

Wraps the engine's internal steps with timers (exclusive times: a stage nested in another is
subtracted from it) and reports the median over repeated warm fits, for the same models and
data as bench_engine.py. It also times one jitted evaluation of the objective, its gradient and
its Hessian at the padded row count, so that the solver's time can be read as a number of
evaluations. This is a diagnostic: it patches private names of likely._engine, and skips any
that have moved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import cached_property, wraps
from typing import Any

os.environ.setdefault("LIKELY_NO_COMPILATION_CACHE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_engine as be

_stack: list[list[float]] = []
_acc: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)


def _timer(label: str, fn: Callable) -> Callable:
    @wraps(fn)
    def inner(*a, **k):
        _stack.append([0.0])
        _calls[label] += 1
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            dt = time.perf_counter() - t0
            child = _stack.pop()[0]
            _acc[label] += dt - child
            if _stack:
                _stack[-1][0] += dt

    return inner


def _patch(obj: Any, name: str, label: str) -> None:
    fn = obj.__dict__.get(name) if isinstance(obj, type) else getattr(obj, name, None)
    if fn is None:
        return
    if isinstance(fn, cached_property):
        wrapped = cached_property(_timer(label, fn.func))
        wrapped.__set_name__(obj, name)
        setattr(obj, name, wrapped)
    else:
        setattr(obj, name, _timer(label, fn))


# (module path, attribute, label): every one is optional, so that the script survives the
# engine's refactorings; the labels say what the step is, whatever its current name.
STAGES = [
    ("likely._engine.fit", "check_param_values", "validate arguments"),
    ("likely._engine.fit", "check_logpdf_shape", "check_logpdf_shape (eval_shape trace)"),
    ("likely._engine.fit", "newton", "Newton solver (Python loop, excl. evaluations)"),
    ("likely._engine.fit", "bfgs", "BFGS solver"),
    ("likely._engine.fit", "information_u", "information (excl. evaluations)"),
    ("likely._engine.fit", "_jacobian", "delta-method Jacobian"),
    ("likely._engine.fit", "Fit", "Fit construction"),
    ("likely._engine.inference", "covariance_u", "covariance (diagnose + inverse)"),
    ("likely._engine.inference", "loglik_value", "loglik at the estimate (jit)"),
]
CLASS_STAGES = [
    ("likely._engine.fit", "Context", "device", "pad + copy data to jax (Context.device)"),
    ("likely._engine.fit", "Context", "derivatives", "build derivatives object"),
    ("likely._engine.inference", "AutodiffDerivatives", "value_grad_hess", "(f, g, H) evaluations"),
    ("likely._engine.inference", "AutodiffDerivatives", "loglik", "loglik at the estimate (jit)"),
    ("likely._engine.inference", "AutodiffDerivatives", "scores", "per-observation scores"),
]


def install(model_classes: list[type]) -> None:
    import importlib

    for mod, name, label in STAGES:
        _patch(importlib.import_module(mod), name, label)
    for mod, cls, name, label in CLASS_STAGES:
        c = getattr(importlib.import_module(mod), cls, None)
        if c is not None:
            _patch(c, name, label)
    for cls in model_classes:
        for name, label in (
            ("prepare", "model.prepare (checks, float64)"),
            ("mle", "model.mle (closed form / special solver)"),
            ("init", "model.init (start values)"),
            ("derivatives", "model.derivatives (structured)"),
        ):
            fn = getattr(cls, name, None)
            if fn is not None:
                setattr(cls, name, _timer(label, fn))


def profile(label: str, run: Callable[[], Any], repeat: int) -> dict[str, float]:
    run()  # compile
    per: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(repeat):
        _acc.clear()
        _calls.clear()
        _stack.append([0.0])
        t0 = time.perf_counter()
        run()
        total = time.perf_counter() - t0
        inner = _stack.pop()[0]
        for k, v in _acc.items():
            per[k].append(v)
        calls = dict(_calls)
        _calls.clear()
        per["other (fit() body, se/pandas, dispatch)"].append(total - inner)
        totals.append(total)
    med = {k: statistics.median(v) for k, v in per.items()}
    tot = statistics.median(totals)
    print(f"\n{label}: median total {tot * 1e3:.1f} ms (min {min(totals) * 1e3:.1f} ms)")
    for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
        if v >= 5e-5:
            c = calls.get(k, 0)
            times = f"  ({c} calls)" if c > 1 else ""
            print(f"  {k:<48s} {v * 1e3:8.2f} ms  {100 * v / tot:5.1f} %{times}")
    return med


def evaluation_costs(model, data, init, repeat: int) -> None:
    """One jitted evaluation of f, (f, g) and (f, g, H) at the padded row count."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from likely._engine.data import nrows
    from likely._engine.fit import Context
    from likely._engine.model import Layout
    from likely._engine.problem import Problem
    from likely._engine.solvers import value_grad_hess

    prepared = model.prepare(data)
    n = nrows(prepared)
    w = np.ones(n)
    start = init or model.init(prepared, w)
    layout = Layout.build(model.param_spec, start)
    ctx = Context(Problem(model, layout, ()), prepared, w, {})
    args = ctx.args()
    prob = ctx.problem
    u = jnp.asarray(layout.to_unconstrained(start))
    # The data go in as arguments, as in the engine: closed-over arrays would become XLA
    # constants, and data-only terms (log x, lgamma(y + 1)) would be folded at compile time.
    fns = {
        "f": jax.jit(lambda u, a: prob(u, *a)),
        "f, g (value_and_grad)": jax.jit(lambda u, a: jax.value_and_grad(prob)(u, *a)),
        "f, g, H (forward-over-reverse, as the solver)": jax.jit(
            lambda u, a: value_grad_hess(prob, a)(u)
        ),
    }
    rows = args[1].shape[0]
    print(f"  one evaluation at {rows:,} rows (padded from {n:,}), median:")
    for k, fn in fns.items():
        jax.block_until_ready(fn(u, args))
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(u, args))
            ts.append(time.perf_counter() - t0)
        print(f"    {k:<46s} {statistics.median(ts) * 1e3:8.2f} ms")
    vgh = getattr(ctx.derivatives, "value_grad_hess", None) if hasattr(ctx, "derivatives") else None
    if vgh is not None:
        un = np.asarray(u)
        vgh(un)
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            vgh(un)
            ts.append(time.perf_counter() - t0)
        label = "the same through the engine (ctx.derivatives)"
        print(f"    {label:<46s} {statistics.median(ts) * 1e3:8.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    import jax
    import numpy as np

    jax.config.update("jax_enable_compilation_cache", False)
    import likely as lk

    print(
        f"profile_fit: n = {args.n:,}, median of {args.repeat} warm fits; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    model_classes = [lk.Gamma, lk.Weibull, lk.LogNormal, lk.Model]
    cases = []
    for name, _, x, _, _ in be.dist_cases(args.n):
        m = getattr(lk, name)()
        cases.append((name, m, x, None))
    y, X, Z = be.zip_data(args.n)
    zip_model = lk.Model(be.zip_logpdf, params={"beta": lk.real, "gamma": lk.real}, name="ZIP")
    zip_init = {"beta": np.zeros(3), "gamma": np.zeros(3)}
    cases.append(("ZIP (lk.Model)", zip_model, {"y": y, "X": X, "Z": Z}, zip_init))

    install(model_classes)
    for label, m, data, init in cases:

        def run(m=m, data=data, init=init):
            return lk.fit(m, data, init=init).se

        profile(label, run, args.repeat)
        if label in ("Weibull", "ZIP (lk.Model)"):
            try:
                evaluation_costs(m, data, init, args.repeat)
            except Exception as e:  # internals moved
                print(f"  (evaluation costs skipped: {type(e).__name__}: {e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
