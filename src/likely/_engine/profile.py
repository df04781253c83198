"""Profile-likelihood intervals: {theta_j : 2 (l_hat - max_{others} l(theta_j, others)) <= q}.

Each element of an elementwise-constrained parameter maps monotonically to one coordinate of
the unconstrained vector, so the profile is searched in that coordinate with the other
coordinates re-optimised by the same compiled Newton solver (the coordinate pinned by a mask).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from .result import Fit

_EDGE = 40.0  # |u| beyond this is treated as the edge of the parameter space


def profile_deviance(fit: Fit, index: int, c: float, start: np.ndarray) -> tuple[float, np.ndarray]:
    """2 (l_hat - l_profile(u_index = c)) and the maximising u (prior included for MAP)."""
    ctx = fit._ctx
    u0 = np.array(start, dtype=float)
    u0[index] = c
    mask = np.ones_like(u0)
    mask[index] = 0.0
    res = ctx.solve(u0, method="newton", mask=mask, max_iter=200)
    best = -fit._objective_at_hat * ctx.scale
    return 2.0 * (best + res.value * ctx.scale), res.u


def profile_interval(fit: Fit, label: str, level: float) -> tuple[float, float]:
    from scipy.optimize import brentq
    from scipy.stats import chi2

    layout = fit._ctx.problem.layout
    where = layout.elementwise_index()
    if label not in where:
        raise ModelError(
            f"no profile interval for {label!r}: it is fixed, or part of a simplex or matrix "
            "parameter; use method='wald' or fit.transform(...)"
        )
    j = where[label]
    q = float(chi2.ppf(level, 1))
    u_hat = np.array(fit._u, dtype=float)
    u_hat = np.clip(u_hat, -_EDGE, _EDGE)  # boundary estimates have infinite u
    block = next(b for b in layout.blocks if b.offset <= j < b.offset + b.size)
    # a real parameter's interval may lie far out; a constrained one ends at its boundary,
    # reached as u -> +-inf, which _EDGE stands for
    edge = np.inf if block.constraint.name == "real" else _EDGE
    se_u = float(np.sqrt(fit._cov_u[j, j])) if np.isfinite(fit._cov_u[j, j]) else 1.0
    step0 = max(se_u * np.sqrt(q), 1e-8 * max(1.0, abs(u_hat[j])))
    ends = []
    for direction in (-1.0, 1.0):
        inside, start = u_hat[j], u_hat
        step = step0
        outside = None
        for _ in range(200):
            c = inside + direction * step
            if abs(c) > edge:
                if abs(inside) >= edge:
                    break
                c = direction * edge  # try the edge itself before declaring it the end
            dev, u_c = profile_deviance(fit, j, c, start)
            if not np.isfinite(dev) or dev > q:
                outside = c
                break
            inside, start = c, u_c
            step *= 2.0
        if outside is None:
            ends.append(direction * np.inf)
            continue
        warm = start

        def g(c: float, warm=warm) -> float:
            dev, _ = profile_deviance(fit, j, c, warm)
            return (dev if np.isfinite(dev) else 1e300) - q

        ends.append(brentq(g, min(inside, outside), max(inside, outside), xtol=1e-12, rtol=1e-12))
    lo, hi = (float(np.asarray(block.constraint.forward(jnp.asarray([e]), ()))) for e in ends)
    return (min(lo, hi), max(lo, hi))
