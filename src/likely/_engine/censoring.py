"""Censored observations as a model transformation.

An observation known only to lie in [lower, upper] contributes log P(lower <= X <= upper):
the log-density when lower == upper, log S(lower) when upper = inf (right-censored),
log F(upper) when lower = -inf or sits at the support's lower end (left-censored), and
log(F(upper) - F(lower)) otherwise (interval-censored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from .data import as_array
from .errors import DataError, ModelError
from .model import AbstractModel

EXACT, RIGHT, LEFT, INTERVAL = 0, 1, 2, 3


@dataclass(frozen=True)
class Censored:
    """Interval data for `lk.fit`: each observation lies in [lower, upper].

    ``lower == upper`` is an exact observation, ``upper = inf`` right-censored at `lower`,
    ``lower = -inf`` left-censored at `upper`.
    """

    lower: Any
    upper: Any

    @staticmethod
    def right(time: Any, event: Any) -> Censored:
        """Survival convention: `event` is 1 where the time was observed, 0 where censored."""
        t = as_array(time, "time")
        e = as_array(event, "event")
        if e.shape != t.shape:
            raise DataError(f"event has shape {e.shape} but the times have shape {t.shape}")
        bad = ~np.isin(e, (0.0, 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"event must be 0 (censored) or 1 (observed); event row {i} is {e[i]}")
        return Censored(t, np.where(e == 1.0, t, np.inf))


def _logdiffexp(a, b):
    """log(exp(a) - exp(b)) for a > b."""
    return a + jnp.log1p(-jnp.exp(b - a))


@dataclass(frozen=True)
class CensoredModel(AbstractModel):
    base: AbstractModel

    @property
    def param_spec(self):
        return self.base.param_spec

    @property
    def name(self) -> str:
        return f"{self.base.name} (censored)"

    def prepare(self, data: Censored) -> dict[str, np.ndarray]:
        for hook in ("logcdf", "logsf"):
            if not hasattr(self.base, hook):
                raise ModelError(f"{self.base.name} has no {hook}, so it cannot take censored data")
        lo = as_array(data.lower, "lower", allow_inf=True)
        hi = as_array(data.upper, "upper", allow_inf=True)
        if lo.shape != hi.shape or lo.ndim != 1:
            raise DataError(
                f"lower and upper must be 1-d of equal length, got {lo.shape}, {hi.shape}"
            )
        # a lower bound at (or below) the support's lower end is left-censoring
        lo = np.where(lo <= getattr(self.base, "support_lower", -np.inf), -np.inf, lo)
        bad = lo > hi
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"lower > upper at row {i}: ({lo[i]}, {hi[i]})")
        both_inf = ~np.isfinite(lo) & ~np.isfinite(hi)
        if both_inf.any():
            i = int(np.argmax(both_inf))
            raise DataError(
                f"row {i} is censored on both sides ({lo[i]}, {hi[i]}): it carries no information"
            )
        kind = np.where(
            lo == hi,
            EXACT,
            np.where(~np.isfinite(hi), RIGHT, np.where(~np.isfinite(lo), LEFT, INTERVAL)),
        )
        a = np.where(np.isfinite(lo), lo, hi)
        b = np.where(np.isfinite(hi), hi, lo)
        # Each finite bound must lie in the family's support (censoring points included).
        check = getattr(self.base, "check_support", None)
        if check is not None:
            check(np.concatenate([a, b]), "censored data")
        return {"a": a, "b": b, "kind": kind.astype(np.float64)}

    def init(self, data, weights):
        return self.base.init(data["a"], weights)

    def logpdf(self, params, data):
        a, b, kind = data["a"], data["b"], data["kind"]
        base: Any = self.base
        exact = base.logpdf(params, a)
        right = base.logsf(params, a)
        left = base.logcdf(params, b)
        # interval: take the difference in the tail where it is well conditioned; inputs of
        # branches not taken are replaced by safe constants so that gradients stay finite.
        lo_cdf, hi_cdf = base.logcdf(params, a), base.logcdf(params, b)
        lo_sf, hi_sf = base.logsf(params, a), base.logsf(params, b)
        is_interval = kind == INTERVAL
        use_sf = lo_cdf > np.log(0.5)
        take_cdf = is_interval & ~use_sf
        take_sf = is_interval & use_sf
        by_cdf = _logdiffexp(jnp.where(take_cdf, hi_cdf, 0.0), jnp.where(take_cdf, lo_cdf, -1.0))
        by_sf = _logdiffexp(jnp.where(take_sf, lo_sf, 0.0), jnp.where(take_sf, hi_sf, -1.0))
        interval = jnp.where(use_sf, by_sf, by_cdf)
        return jnp.where(
            kind == EXACT,
            exact,
            jnp.where(kind == RIGHT, right, jnp.where(kind == LEFT, left, interval)),
        )
