"""Memory: a Poisson GLM's fit must not copy its design matrix more than about once.

The fit runs in a child process that warms JAX up on a small problem, builds the design in
place (row blocks into a preallocated array, so building it leaves no temporaries behind)
and then fits. Its peak resident memory (``resource.getrusage``) minus the resident memory
just before the fit is what the fit itself needed; it must stay below 2.5x the bytes of the
design matrix. n = 1e6, p = 20 (a 160 MB design) runs in the fast profile; n = 1e7 (1.6 GB,
about 4 GB in all) only under ``make fuzz``.

BLAS runs single-threaded in the child: on a shared, loaded machine threaded BLAS over the
engine's cache-sized row chunks spends its time synchronising threads (measured: 71 s
instead of 2.5 s for the n = 1e6 fit), which says nothing about memory.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RATIO = 2.5

CHILD = r"""
import resource, sys
import numpy as np
import likely as lk

def rss_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")

def hwm_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")

n, p = int(float(sys.argv[1])), int(sys.argv[2])
rng = np.random.default_rng(0)
beta = np.linspace(-0.2, 0.2, p)
# warm-up: JAX, XLA and BLAS allocate their pools once per process
Xs = np.column_stack([np.ones(300), rng.normal(size=(300, p - 1)) * 0.3])
lk.glm(y=rng.poisson(np.exp(Xs @ beta)).astype(float), X=Xs, family="poisson")
X = np.empty((n, p))
X[:, 0] = 1.0
y = np.empty(n)
step = 1 << 16
for i in range(0, n, step):
    j = min(i + step, n)
    X[i:j, 1:] = rng.standard_normal((j - i, p - 1)) * 0.3
    y[i:j] = rng.poisson(np.exp(X[i:j] @ beta))
# compile the kernels for this exact shape first (with a cold compilation cache XLA's compiler
# itself takes hundreds of MB, which is not the fit's memory), then reset the peak RSS
# (Linux: writing 5 to clear_refs resets VmHWM) and measure a second, identical fit
warm = lk.glm(y=y, X=X, family="poisson")
del warm
import gc
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = rss_now()
fit = lk.glm(y=y, X=X, family="poisson")
peak = hwm_now()
err = float(np.max(np.abs(fit.coef.to_numpy() - beta)))
print(X.nbytes, before, peak, int(fit.converged), err)
"""


def _measure(n: float, p: int = 20) -> tuple[int, int, int, bool, float]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(p)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    nbytes, before, peak, converged, err = done.stdout.split()
    return int(nbytes), int(before), int(peak), bool(int(converged)), float(err)


def _check(n: float) -> None:
    nbytes, before, peak, converged, err = _measure(n)
    assert converged
    assert err < 0.01  # the truth, to within sampling error at this n
    extra = peak - before
    assert extra < RATIO * nbytes, (
        f"the fit's peak memory is {extra / 1e6:.0f} MB above the data, "
        f"{extra / nbytes:.2f}x the {nbytes / 1e6:.0f} MB design (limit {RATIO}x)"
    )


def test_poisson_glm_memory_n_1e6():
    _check(1e6)


@pytest.mark.slow
def test_poisson_glm_memory_n_1e7():
    _check(1e7)
