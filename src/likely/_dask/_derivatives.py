"""The engine's derivatives interface (value_grad_hess, loglik) as passes over a `Cluster`.

The engine's damped Newton takes any u -> (f, g, H); this one computes the log-likelihood's
sums over the partitions in one pass and adds the prior on the driver. Results are kept for
the last few points, so that the Newton step at the solution, the log-likelihood and the
covariance do not read the data again; passes can also carry extra sums ("fuse"), such as the
sandwich's meat when reading the data again would cost more than computing it every pass.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._engine.errors import ModelError
from .._engine.problem import Problem
from ._cluster import Cluster

_NEEDS_VALUES = frozenset(
    {"expected", "ll_natural", "bad_start", "extreme", "pearson", "fisher_gram"}
)


class DaskDerivatives:
    """Value, gradient and Hessian of the objective (minus the mean log-likelihood and
    log-prior), the log-likelihood and the sandwich's meat, each from sums over partitions."""

    def __init__(
        self,
        cluster: Cluster,
        problem: Problem,
        fixed: dict[str, np.ndarray],
        scale: float,
        fuse: tuple[str, ...] = (),
        memo: OrderedDict | None = None,
    ) -> None:
        self.cluster = cluster
        self.problem = problem
        self.fixed = fixed
        self.scale = scale
        self.fuse = fuse
        self._jfixed = {k: jnp.asarray(v) for k, v in fixed.items()}
        # sums by point, shared between objects that differ only in the prior (added here)
        self.memo: OrderedDict[bytes, tuple[frozenset[str], dict[str, Any]]] = (
            OrderedDict() if memo is None else memo
        )

    def natural(self, u: np.ndarray) -> dict[str, np.ndarray]:
        nat = self.problem.natural(jnp.asarray(u), self._jfixed)
        return {k: np.asarray(v) for k, v in nat.items()}

    def remember(self, u: np.ndarray, want: tuple[str, ...], out: dict[str, Any]) -> None:
        have = set(want) | ({"ll"} if "vgh" in want else set())
        self.memo[np.asarray(u, dtype=float).tobytes()] = (frozenset(have), out)
        while len(self.memo) > 4:
            self.memo.popitem(last=False)

    def sums(self, u: np.ndarray, want: tuple[str, ...], extra: dict | None = None) -> dict:
        """The sums of `want` at u: remembered, or one pass over the data."""
        u = np.asarray(u, dtype=float)
        hit = self.memo.get(u.tobytes())
        if hit is not None and set(want) <= hit[0]:
            return hit[1]
        if extra is None and _NEEDS_VALUES & set(want):
            extra = {"values": self.natural(u)}
        out = self.cluster.run(u, want, extra)
        self.remember(u, want, out)
        return out

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        out = self.sums(u, ("vgh", *self.fuse))
        p = self.problem.layout.size
        ll = float(out.get("ll", 0.0))
        g = np.asarray(out.get("grad", np.zeros(p)))
        H = np.asarray(out.get("hess", np.zeros((p, p))))
        if self.problem.prior:
            from .._engine.indexed import _prior_vgh

            pv, pg, pH = _prior_vgh(self.problem, jnp.asarray(u, dtype=float), self._jfixed)
            ll, g, H = ll + float(pv), g + np.asarray(pg), H + np.asarray(pH)
        s = self.scale
        return -ll / s, -g / s, -H / s

    def loglik(self, u: np.ndarray) -> float:
        return float(self.sums(u, ("ll",)).get("ll", 0.0))

    def loglik_natural(self, values: dict[str, np.ndarray]) -> float:
        """At natural values that may sit on a boundary (where u is infinite)."""
        u = np.zeros(self.problem.layout.size)
        return float(self.cluster.run(u, ("ll_natural",), {"values": values})["ll_natural"])

    def meat(self, u: np.ndarray) -> np.ndarray:
        """Sum over observations of w s s' (s the per-observation score on u)."""
        return np.asarray(self.sums(u, ("meat",))["meat"])

    def expected(self, u: np.ndarray) -> np.ndarray:
        """The model's analytic expected information summed over partitions (natural scale)."""
        return np.asarray(self.sums(u, ("expected",))["expected"])

    def scores(self, u: np.ndarray) -> np.ndarray:
        raise ModelError(
            "per-observation scores stay on the cluster for a fit on Dask; the sandwich's meat "
            "is summed there (fit.with_cov('robust'))"
        )
