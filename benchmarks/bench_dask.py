"""Dask benchmark: a Poisson GLM with p = 20 on Parquet files, the driver's memory measured.

The issue's size is n = 5e7 rows (an 8 GB dense float64 design: an intercept and 19 standard
normal covariates), read from Parquet by a LocalCluster of worker processes. The script writes
the Parquet files itself, one chunk of rows at a time (never holding the data), under
`benchmarks/.data/` (a folder that ignores itself in git), in a child process, so that the
driver's peak resident memory (`getrusage` ru_maxrss, and a thread sampling /proc/self
during each fit) measures fitting alone. It then fits:

- likely: ``lk.glm("y ~ x1 + ... + x19", data=dd.read_parquet(...), family="poisson")``,
  with standard errors, reading the files on every pass (persist=false) and with the
  prepared partitions kept in the workers' memory when they fit (persist=auto, the default);
- dask-glm's Newton (``dask_glm.algorithms.newton``) and dask-ml's ``PoissonRegression``
  (solver "newton", no penalty), when they are installed, on the same files: no standard
  errors from either;
- with n <= 2e6, likely in memory on the same rows, for agreement.

    python benchmarks/bench_dask.py            # n = 5e7 (about 8 GB of Parquet; minutes)
    python benchmarks/bench_dask.py --quick    # n = 1e6
    python benchmarks/bench_dask.py --rows 5000000 --persist auto
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

P = 20  # columns of the design: an intercept and 19 covariates
COVARIATES = [f"x{j}" for j in range(1, P)]
FORMULA = "y ~ " + " + ".join(COVARIATES)
DATA_DIR = Path(__file__).resolve().parent / ".data"


def true_beta() -> np.ndarray:
    return np.random.default_rng(12345).normal(scale=0.1, size=P)


def generate(path: Path, rows: int, rows_per_file: int, seed: int = 0) -> None:
    """Write `rows` rows as Parquet files of `rows_per_file` rows, one chunk in memory at a time."""
    import pandas as pd

    path.mkdir(parents=True, exist_ok=True)
    beta = true_beta()
    rng = np.random.default_rng(seed)
    for k, start in enumerate(range(0, rows, rows_per_file)):
        m = min(rows_per_file, rows - start)
        x = rng.standard_normal((m, P - 1))
        eta = beta[0] + x @ beta[1:]
        frame = pd.DataFrame(x, columns=COVARIATES)
        frame["y"] = rng.poisson(np.exp(eta)).astype(np.float64)
        frame.to_parquet(path / f"part-{k:05d}.parquet", index=False)
        del x, eta, frame


def ensure_data(rows: int, rows_per_file: int) -> Path:
    """The Parquet folder for this size, generated in a child process if missing."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / ".gitignore").write_text("*\n")
    path = DATA_DIR / f"poisson-p{P}-n{rows}"
    stamp = path / "_done.json"
    want = {"rows": rows, "rows_per_file": rows_per_file, "p": P}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return path
    shutil.rmtree(path, ignore_errors=True)
    t = time.perf_counter()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench_dask import generate; "
        "from pathlib import Path; generate(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))"
    )
    here = str(Path(__file__).resolve().parent)
    subprocess.run(
        [sys.executable, "-c", code, here, str(path), str(rows), str(rows_per_file)], check=True
    )
    stamp.write_text(json.dumps(want))
    size = sum(f.stat().st_size for f in path.glob("*.parquet")) / 1e9
    print(f"# wrote {rows:,} rows in {time.perf_counter() - t:.0f} s: {size:.2f} GB of Parquet")
    return path


class PeakRSS:
    """The driver's resident memory, sampled every 20 ms while the block runs (MB)."""

    def __enter__(self) -> PeakRSS:
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def lifetime_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_likely(path: Path, persist: str) -> tuple[float, float, np.ndarray, np.ndarray, str]:
    import dask
    import dask.dataframe as dd

    import likely as lk

    setting = {"auto": "auto", "true": True, "false": False}[persist]
    with PeakRSS() as mem, dask.config.set({"likely.persist": setting, "likely.progress": True}):
        t = time.perf_counter()
        ddf = dd.read_parquet(str(path))
        f = lk.glm(FORMULA, data=ddf, family="poisson")
        se = f.se[f.coef.index].to_numpy()
        seconds = time.perf_counter() - t
    where = "in memory" if f._ctx.derivatives.cluster.persisted else "read each pass"
    note = f"{f.iterations} Newton steps, {f.passes} passes ({where}), {f.partitions} partitions"
    return seconds, mem.peak, f.coef.to_numpy(), se, note


def _design(path: Path):
    import dask.dataframe as dd

    ddf = dd.read_parquet(str(path))
    ddf = ddf.assign(Intercept=1.0)
    # one array for X and y, so that their chunks agree; peers need known chunk sizes
    # (to_dask_array(lengths=True) failed here: its optimised lengths had fewer partitions)
    both = ddf[["Intercept", *COVARIATES, "y"]].to_dask_array()
    both.compute_chunk_sizes()
    return both[:, :-1], both[:, -1]


def run_dask_glm(path: Path) -> tuple[float, float, np.ndarray, str]:
    from dask_glm.algorithms import newton
    from dask_glm.families import Poisson

    with PeakRSS() as mem:
        t = time.perf_counter()
        X, y = _design(path)
        beta = np.asarray(newton(X, y, family=Poisson, max_iter=50, tol=1e-10))
        seconds = time.perf_counter() - t
    return seconds, mem.peak, beta, "dask_glm.algorithms.newton, tol 1e-10"


def run_dask_ml(path: Path) -> tuple[float, float, np.ndarray, str]:
    from dask_ml.linear_model import PoissonRegression

    with PeakRSS() as mem:
        t = time.perf_counter()
        X, y = _design(path)
        est = PoissonRegression(fit_intercept=False, solver="newton", tol=1e-10, max_iter=50)
        est.fit(X, y)
        seconds = time.perf_counter() - t
    return seconds, mem.peak, np.ravel(est.coef_), "PoissonRegression(solver='newton')"


def run_in_memory(path: Path) -> tuple[float, np.ndarray, np.ndarray]:
    import pandas as pd

    import likely as lk

    df = pd.read_parquet(path)
    t = time.perf_counter()
    f = lk.glm(FORMULA, data=df, family="poisson")
    se = f.se[f.coef.index].to_numpy()
    return time.perf_counter() - t, f.coef.to_numpy(), se


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 1e6")
    ap.add_argument("--rows", type=int, default=None, help="rows (default 5e7; 1e6 with --quick)")
    ap.add_argument("--rows-per-file", type=int, default=None, help="default: n / 8, at most 1e6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument(
        "--persist",
        default="false,auto",
        help="likely's likely.persist settings to time, comma-separated (false: read the "
        "Parquet files on every pass; auto: keep the partitions in the workers' memory when "
        "they fit in half of it; true)",
    )
    ap.add_argument("--skip-peers", action="store_true", help="likely only")
    args = ap.parse_args()
    modes = [m.strip() for m in args.persist.split(",")]
    if not set(modes) <= {"false", "auto", "true"}:
        ap.error(f"--persist takes false, auto and true, got {args.persist!r}")
    rows = args.rows or (1_000_000 if args.quick else 50_000_000)
    rows_per_file = args.rows_per_file or min(1_000_000, max(rows // 8, 1))
    path = ensure_data(rows, rows_per_file)

    import dask
    import distributed
    import jax

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    print(
        f"# Dask benchmark, {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}"
    )
    print(
        f"# jax {jax.__version__}, dask {dask.__version__}, distributed {distributed.__version__}"
    )
    print(
        f"# Poisson GLM, n = {rows:,}, p = {P} ({rows * P * 8 / 1e9:.1f} GB dense float64 "
        f"design), {len(list(path.glob('*.parquet')))} Parquet files; LocalCluster "
        f"{args.workers} worker processes x {args.threads} thread(s)"
    )
    cluster = distributed.LocalCluster(
        n_workers=args.workers,
        threads_per_worker=args.threads,
        processes=True,
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    rows_out = []
    try:
        runs = [(mode, *run_likely(path, mode)) for mode in modes]
        coef, se = runs[0][3], runs[0][4]
        for mode, t, peak, c, _, note in runs:
            diff = float(np.max(np.abs(c - coef)))
            rows_out.append((f"likely, persist={mode} (fit + se)", t, peak, diff, note))
        if not args.skip_peers:
            for name, fn in (
                ("dask-glm newton (no se)", run_dask_glm),
                ("dask-ml (no se)", run_dask_ml),
            ):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        tp, pk, c, how = fn(path)
                    rows_out.append((name, tp, pk, float(np.max(np.abs(c - coef))), how))
                except Exception as e:  # a peer that fails to install or run is reported
                    rows_out.append(
                        (name, np.nan, np.nan, np.nan, f"failed: {type(e).__name__}: {e}"[:120])
                    )
    finally:
        client.close()
        cluster.close()
    lifetime = lifetime_peak_mb()  # before the in-memory comparison loads the data here
    if rows <= 2_000_000:
        tm, cm, sm = run_in_memory(path)
        rows_out.append(
            (
                "likely in memory (fit + se)",
                tm,
                np.nan,
                float(np.max(np.abs(cm - coef))),
                f"max se rel diff vs Dask {np.max(np.abs(sm / se - 1)):.1e}",
            )
        )
    print(
        f"\n{'':36s} {'seconds':>9s} {'vs likely':>10s} {'driver peak MB':>15s} {'max |coef diff|':>16s}  notes"
    )
    for name, t, pk, dc, note in rows_out:
        ratio = t / rows_out[0][1] if np.isfinite(t) else np.nan
        print(f"{name:36s} {t:9.2f} {ratio:9.2f}x {pk:15.0f} {dc:16.2e}  {note}")
    print(f"\n# driver peak RSS of the Dask fits' process (getrusage): {lifetime:.0f} MB")
    print(f"# max |likely coef - true beta| = {np.max(np.abs(coef - true_beta())):.2e}")


if __name__ == "__main__":
    main()
