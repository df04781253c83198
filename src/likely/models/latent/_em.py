"""The EM driver shared by mixtures and hidden Markov models, and k-means++ starts.

EM alternates an E-step (posterior probabilities of the hidden labels at the current
parameters, and the log-likelihood there) with an M-step (weighted maximum likelihood for each
component or state). Several starts run together as lanes of one batch; each lane stops when
the relative change of its log-likelihood falls below `tol`, and the run ends when every lane
has stopped or after `max_iter` iterations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EMReport:
    """What the EM run did.

    Attributes
    ----------
    iterations : EM iterations of the chosen start.
    loglik_trace : log-likelihood at each E-step of the chosen start (non-decreasing).
    converged : whether the chosen start met the relative-change test before `max_iter`.
    n_init : number of starts run.
    start_logliks : final log-likelihood of every start (NaN for a start that failed).
    newton_steps : Newton steps on the marginal likelihood after EM (0 when not run).
    seconds : wall time of the whole fit before inference (starts, EM, Newton steps).
    em_seconds : wall time of the EM iterations alone (all starts together).
    events : degenerate cases met and what was done about them.
    """

    iterations: int
    loglik_trace: np.ndarray
    converged: bool
    n_init: int
    start_logliks: np.ndarray
    newton_steps: int
    seconds: float
    em_seconds: float
    events: tuple[str, ...] = ()

    def __repr__(self) -> str:
        ll = self.loglik_trace[-1] if self.loglik_trace.size else float("nan")
        events = "".join(f"\n  - {e}" for e in self.events)
        return (
            f"EMReport(iterations={self.iterations}, converged={self.converged}, "
            f"loglik={ll:.8g}, n_init={self.n_init}, newton_steps={self.newton_steps}, "
            f"seconds={self.seconds:.3g}){events}"
        )


@dataclass
class EMRun:
    state: Any
    trace: np.ndarray  # (iterations, lanes)
    converged: np.ndarray  # (lanes,)
    iterations: np.ndarray  # (lanes,)
    seconds: float


def run_em(
    step: Callable[[Any, np.ndarray], tuple[Any, np.ndarray]],
    state: Any,
    lanes: int,
    *,
    max_iter: int,
    tol: float,
) -> EMRun:
    """Iterate `step(state, active) -> (next state, log-likelihood at state per lane)`.

    A lane is converged when |l_t - l_(t-1)| <= tol |l_t|; converged lanes are passed as
    inactive, and `step` must leave them unchanged. A lane whose log-likelihood is not finite
    is stopped (and reported by the caller).
    """
    t0 = time.perf_counter()
    active = np.ones(lanes, dtype=bool)
    converged = np.zeros(lanes, dtype=bool)
    iterations = np.zeros(lanes, dtype=int)
    trace: list[np.ndarray] = []
    previous = np.full(lanes, np.nan)
    for _ in range(max_iter):
        new_state, ll = step(state, active)
        ll = np.where(active, np.asarray(ll, dtype=float), previous)
        trace.append(ll)
        finite = np.isfinite(ll)
        done = active & finite & np.isfinite(previous) & (np.abs(ll - previous) <= tol * np.abs(ll))
        iterations += active & finite  # the M-step of this iteration was taken
        converged |= done
        active &= ~done & finite
        state = new_state
        previous = ll
        if not active.any():
            break
    trace_arr = np.array(trace).reshape(-1, lanes)
    return EMRun(state, trace_arr, converged, iterations, time.perf_counter() - t0)


def kmeans_plus_plus(
    x: np.ndarray, k: int, weights: np.ndarray, rng: np.random.Generator, lloyd: int = 10
) -> np.ndarray:
    """Cluster labels from k-means++ seeding (Arthur & Vassilvitskii 2007) and `lloyd`
    rounds of Lloyd's algorithm, on the rows of `x` (n, d), with frequency weights."""
    n = x.shape[0]
    scale = x.std(axis=0)
    z = x / np.where(scale > 0, scale, 1.0)
    p = weights / weights.sum()
    centers = [z[rng.choice(n, p=p)]]
    d2 = np.sum((z - centers[0]) ** 2, axis=1)
    for _ in range(1, k):
        mass = weights * d2
        total = mass.sum()
        i = rng.choice(n, p=mass / total) if total > 0 else rng.choice(n, p=p)
        centers.append(z[i])
        d2 = np.minimum(d2, np.sum((z - z[i]) ** 2, axis=1))
    c = np.array(centers)
    labels = np.zeros(n, dtype=int)
    for _ in range(lloyd):
        dist = (z * z).sum(1)[:, None] - 2 * z @ c.T + (c * c).sum(1)[None, :]
        new = np.argmin(dist, axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(k):
            wj = weights * (labels == j)
            if wj.sum() > 0:
                c[j] = wj @ z / wj.sum()
    return labels


def soft_labels(labels: np.ndarray, k: int, mix: float = 0.1) -> np.ndarray:
    """Responsibilities (n, k) from hard labels, with `mix` spread evenly, so that every
    component sees all of the data in its first M-step (no empty or degenerate start)."""
    r = np.full((labels.shape[0], k), mix / k)
    r[np.arange(labels.shape[0]), labels] += 1.0 - mix
    return r


def relative_tolerance_message(run: EMRun, lane: int, max_iter: int) -> str:
    return (
        f"EM reached max_iter={max_iter} before the relative change of the log-likelihood "
        f"fell below tol (last change {_last_change(run.trace[:, lane]):.3g})"
    )


def _last_change(trace: np.ndarray) -> float:
    finite = trace[np.isfinite(trace)]
    if finite.size < 2:
        return float("nan")
    return float(abs(finite[-1] - finite[-2]) / max(abs(finite[-1]), 1e-300))
