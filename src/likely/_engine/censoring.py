"""Censored and truncated observations as a model transformation.

An observation known only to lie in [lower, upper] contributes log P(lower <= X <= upper):
the log-density when lower == upper, log S(lower) when upper = inf (right-censored),
log F(upper) when lower = -inf or sits at the support's lower end (left-censored), and
log(F(upper) - F(lower)) otherwise (interval-censored).

Left truncation (delayed entry): an observation seen only because X > entry contributes its
censored term minus log S(entry). An entry at (or below) the support's lower end means no
truncation, so ``entry=0`` leaves a positive family's rows as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from .data import as_array
from .errors import DataError, ModelError
from .model import AbstractModel

EXACT, RIGHT, LEFT, INTERVAL = 0, 1, 2, 3
ALL_KINDS = (EXACT, RIGHT, LEFT, INTERVAL)
_LOG_HALF = math.log(0.5)


@dataclass(frozen=True)
class Censored:
    """Interval data for `lk.fit`: each observation lies in [lower, upper].

    ``lower == upper`` is an exact observation, ``upper = inf`` right-censored at `lower`,
    ``lower = -inf`` left-censored at `upper`. An optional `entry` (one per observation, or
    a scalar) left-truncates: the observation was only seen because it exceeded `entry`.
    """

    lower: Any
    upper: Any
    entry: Any = None

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


def truncated(data: Any, entry: Any) -> Censored:
    """`data` (exact values or `Censored`) left-truncated at `entry`."""
    if isinstance(data, Censored):
        if data.entry is not None:
            raise ModelError("give the entry times once: in lk.Censored(..., entry=) or entry=")
        return Censored(data.lower, data.upper, entry)
    if isinstance(data, dict):
        raise ModelError(
            "entry= (left truncation) needs univariate data for a distribution with logsf, "
            "not a dict of arrays; write the truncation into your own log-density instead"
        )
    x = as_array(data, "data")
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    return Censored(x, x, entry)


def logdiffexp(a, b):
    """log(exp(a) - exp(b)) for a > b."""
    return a + jnp.log1p(-jnp.exp(b - a))


def censored_loglik(
    kind,
    a,
    b,
    logpdf: Callable,
    logcdf: Callable,
    logsf: Callable,
    kinds: tuple[int, ...] = ALL_KINDS,
):
    """Per-row log P(a <= X <= b) by censoring kind (EXACT, RIGHT, LEFT, INTERVAL).

    `a` is the lower bound (the value itself for exact and right-censored rows), `b` the
    upper (the value for left-censored rows); both must be finite on every row. `logpdf`,
    `logcdf` and `logsf` map an array of points to per-row log-values. `kinds` lists the
    kinds that occur (a static promise that lets the others go uncomputed).

    Interval probabilities are differences taken in the tail where they are well conditioned
    (of cdfs when F(a) < 1/2, of survival functions otherwise); inputs of branches not taken
    are replaced by safe constants, so that gradients stay finite.
    """
    terms = []
    if EXACT in kinds:
        terms.append((EXACT, logpdf(a)))
    if RIGHT in kinds:
        terms.append((RIGHT, logsf(a)))
    if LEFT in kinds:
        terms.append((LEFT, logcdf(b)))
    if INTERVAL in kinds:
        lo_cdf, hi_cdf = logcdf(a), logcdf(b)
        lo_sf, hi_sf = logsf(a), logsf(b)
        is_interval = kind == INTERVAL
        use_sf = lo_cdf > _LOG_HALF
        take_cdf = is_interval & ~use_sf
        take_sf = is_interval & use_sf
        by_cdf = logdiffexp(jnp.where(take_cdf, hi_cdf, 0.0), jnp.where(take_cdf, lo_cdf, -1.0))
        by_sf = logdiffexp(jnp.where(take_sf, lo_sf, 0.0), jnp.where(take_sf, hi_sf, -1.0))
        terms.append((INTERVAL, jnp.where(use_sf, by_sf, by_cdf)))
    out = terms[-1][1]
    for code, value in reversed(terms[:-1]):
        out = jnp.where(kind == code, value, out)
    return out


def check_truncation(
    lo: np.ndarray, hi: np.ndarray, entry: Any, support_lower: float, what: str = "entry"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate entry times against the [lo, hi] bounds; returns (lo, entry).

    Rows with entry at or below `support_lower` are untruncated. A truncated left-censored
    row (X <= hi, seen because X > entry) becomes the interval (entry, hi]."""
    n = lo.shape[0]
    e = as_array(entry, what, allow_inf=True)
    if e.ndim == 0:
        e = np.full(n, float(e))
    if e.shape != (n,):
        raise DataError(f"{what} must have one value per observation ({n}), got shape {e.shape}")
    if np.isposinf(e).any():
        i = int(np.argmax(np.isposinf(e)))
        raise DataError(f"{what} row {i} is +inf: an entry time must be finite")
    active = e > support_lower
    exact_or_right = np.isfinite(lo) & ((lo == hi) | ~np.isfinite(hi))
    late = active & (
        np.where(exact_or_right, e >= lo, False)
        | np.where(np.isfinite(lo) & ~exact_or_right, e > lo, False)
        | (e >= hi)
    )
    if late.any():
        i = int(np.argmax(late))
        raise DataError(
            f"{what} must come before the exit time: {what} row {i} is {e[i]} but the "
            f"observation is [{lo[i]}, {hi[i]}] ({int(late.sum())} such row(s)). An observation "
            "can only be seen after it enters."
        )
    # left-censored and truncated: the interval (entry, hi]
    lo = np.where(active & ~np.isfinite(lo), e, lo)
    return lo, np.where(active, e, support_lower)


@dataclass(frozen=True)
class CensoredModel(AbstractModel):
    base: AbstractModel
    #: the censoring kinds present (static: the log-likelihood skips the others); see `narrowed`
    kinds: tuple[int, ...] = ALL_KINDS

    @property
    def param_spec(self):
        return self.base.param_spec

    @property
    def name(self) -> str:
        return f"{self.base.name} (censored)"

    def prepare(self, data: Censored) -> dict[str, np.ndarray]:
        for hook in ("logcdf", "logsf"):
            if not hasattr(self.base, hook):
                raise ModelError(
                    f"{self.base.name} has no {hook}, so it cannot take censored or truncated data"
                )
        lo = as_array(data.lower, "lower", allow_inf=True)
        hi = as_array(data.upper, "upper", allow_inf=True)
        if lo.shape != hi.shape or lo.ndim != 1:
            raise DataError(
                f"lower and upper must be 1-d of equal length, got {lo.shape}, {hi.shape}"
            )
        support_lower = getattr(self.base, "support_lower", -np.inf)
        # a lower bound at (or below) the support's lower end is left-censoring
        lo = np.where(lo <= support_lower, -np.inf, lo)
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
        entry = None
        if data.entry is not None:
            lo, entry = check_truncation(lo, hi, data.entry, support_lower)
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
        out = {"a": a, "b": b, "kind": kind.astype(np.float64)}
        if entry is not None and np.any(entry > support_lower):
            truncated_rows = entry > support_lower
            if check is not None:
                check(entry[truncated_rows], "entry")
            # untruncated rows get a safe point (their own a) and a zero flag
            out["entry"] = np.where(truncated_rows, entry, a)
            out["truncated"] = truncated_rows.astype(np.float64)
        return out

    def narrowed(self, prepared: dict[str, np.ndarray]) -> CensoredModel:
        """The same model computing only the kinds of censoring that occur in `prepared`
        (an exact-and-right-censored sample never evaluates the cdf)."""
        kinds = tuple(int(k) for k in np.unique(prepared["kind"]))
        return CensoredModel(self.base, kinds)

    def init(self, data, weights):
        return self.base.init(data["a"], weights)

    def logpdf(self, params, data):
        base: Any = self.base

        def bind(method):
            return lambda x: method(params, x)

        out = censored_loglik(
            data["kind"],
            data["a"],
            data["b"],
            bind(base.logpdf),
            bind(base.logcdf),
            bind(base.logsf),
            self.kinds,
        )
        if "entry" in data:
            out = out - jnp.where(data["truncated"] > 0, base.logsf(params, data["entry"]), 0.0)
        return out
