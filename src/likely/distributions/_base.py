"""Shared machinery of the built-in families: data checks, sampling keys, weighted moments."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.data import as_array, is_unit, wsum
from .._engine.errors import DataError
from .._engine.model import AbstractModel, _as_param_values


class Distribution(AbstractModel):
    """A built-in family. Subclasses are frozen dataclasses: hashable, compared by value.

    They declare `support_text`, `_in_support(x)` (numpy) and `_sample(key, params, shape)`
    (jax), and optionally `mle`, `expected_information`, `logcdf` and `logsf`.
    """

    support_text: str = "real numbers"
    #: The support's lower end: a censoring interval that starts there (or below) is
    #: left-censoring, P(X <= upper), for the censoring module.
    support_lower: float = -math.inf
    event_ndim: int = 0  # 0: one number per observation; 1: a vector per observation
    #: (lower end, inclusive) when the support is exactly a half-line [lower, inf) or
    #: (lower, inf), so that valid data are recognised by one min() (None: use _in_support)
    half_line: ClassVar[tuple[float, bool] | None] = None

    def _in_support(self, x: np.ndarray) -> np.ndarray:
        return np.ones(x.shape[: x.ndim - self.event_ndim] or (), dtype=bool)

    def check_support(self, x: np.ndarray, where: str = "data") -> None:
        if self.half_line is not None and x.size:
            lower, inclusive = self.half_line
            low = x.min()
            if low > lower or (inclusive and low == lower):
                return  # one reduction, no temporary: the common case of valid data
        ok = np.asarray(self._in_support(x))
        if not ok.all():
            i = int(np.argmax(~ok.ravel()))
            value = float(x.ravel()[i]) if self.event_ndim == 0 else x[i].tolist()
            raise DataError(
                f"{self.name} data must be {self.support_text}; {where} row {i} is {value!r} "
                f"({int((~ok).sum())} value(s) outside the support)"
            )

    def prepare(self, data: Any) -> np.ndarray:
        x = as_array(data)
        if x.ndim == 0:
            x = x.reshape(1)
        want = 1 + self.event_ndim
        if x.ndim == 2 and self.event_ndim == 0 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != want:
            shape = "(n,)" if want == 1 else "(n, d)"
            raise DataError(f"{self.name} data must have shape {shape}, got {x.shape}")
        self.check_support(x)
        return x

    def sample(
        self, params: dict[str, Any], size: int | tuple[int, ...], key: Any = 0
    ) -> np.ndarray:
        """Draw `size` observations at `params`; `key` is an int seed or a jax PRNG key."""
        k = jax.random.PRNGKey(key) if isinstance(key, int) else key
        shape = (size,) if isinstance(size, int) else tuple(size)
        values = _as_param_values(self, params)
        return np.asarray(self._sample(k, values, shape))

    def _sample(self, key, params, shape):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}()"


def wmean(x: np.ndarray, w: np.ndarray) -> Any:
    if is_unit(w):
        return np.add.reduce(x, axis=0) / x.shape[0]
    # einsum, not tensordot: a BLAS call here spins up threads that cost more than the sum
    return np.einsum("i,i...->...", w, x) / wsum(w)


def wmean_log(x: np.ndarray, w: np.ndarray) -> Any:
    """The weighted mean of log x over the observations of a 1-d x (no log pass for unit
    weights: `mean_log`)."""
    if is_unit(w) and x.shape[0] >= _CHUNK_LOG:  # below a chunk, log's fixed cost is less
        return mean_log(x)
    return wmean(np.log(x), w)


_CHUNK_LOG = 1000  # 1000 significands in [1, 2) multiply to less than 2^1000, a finite float
_SIGNIFICAND = np.int64(0x000FFFFFFFFFFFFF)  # the 52 fraction bits of a float64
_ONE_BITS = np.int64(0x3FF0000000000000)  # the exponent bits of 1.0
_TINY = np.finfo(np.float64).smallest_normal


def mean_log(x: np.ndarray) -> np.ndarray:
    """mean(log x) along the last axis with one log per 1000 values. A normal float64 is
    x = m 2^e with m in [1, 2), and both parts are bit fields: e = (bits >> 52) - 1023, and m
    is the fraction bits under the exponent of 1.0. So sum log x = log 2 sum e + sum over
    chunks of log(prod m), equal to log's sum to round-off (about 1e-16 relative) at a third
    of its cost (numpy's log takes 4-10 ns a value; the integer operations and products are
    memory-bound). Rows holding a value that is not a positive normal float (<= 0,
    subnormal, inf or NaN) take the plain mean of logs (-inf or NaN, as log gives)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[-1]
    lead = x.shape[:-1]
    with np.errstate(all="ignore"):
        bad = ~((x.min(axis=-1) >= _TINY) & (x.max(axis=-1) < np.inf))
        if np.all(bad):
            return np.log(x).mean(axis=-1)
        bits = x.view(np.int64)
        frac = bits >> 52  # one scratch array, for the exponents and then the significands
        exponents = np.add.reduce(frac, axis=-1) - 1023 * n
        np.bitwise_and(bits, _SIGNIFICAND, out=frac)
        frac |= _ONE_BITS
        m = frac.view(np.float64)
        k = n // _CHUNK_LOG * _CHUNK_LOG
        total = np.log(np.multiply.reduce(m[..., k:], axis=-1))
        if k:
            # chunk products across the rows of a (1000, k/1000) block: a vectorised reduction
            main = np.multiply.reduce(m[..., :k].reshape(*lead, _CHUNK_LOG, -1), axis=-2)
            total = total + np.log(main).sum(axis=-1)
        out = (total + math.log(2.0) * exponents) / n
        if np.any(bad):
            out = np.where(bad, np.log(x).mean(axis=-1), out)
    return out


def lgamma(x):
    return jax.scipy.special.gammaln(x)


def xlogy(x, y):
    return jax.scipy.special.xlogy(x, y)


def xlog1py(x, y):
    return jax.scipy.special.xlog1py(x, y)


def is_integer(x: np.ndarray) -> np.ndarray:
    return np.equal(np.floor(x), x)


def log1mexp(a):
    """log(1 - exp(a)) for a <= 0, accurate on both sides of log 2."""
    return jnp.where(a > -0.6931471805599453, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))


STIRLING_FROM = 10.0  # stirling_correction is accurate to < 1e-15 from here up


def stirling_correction(y):
    """log Gamma(y) - [(y - 1/2) log y - y + log(2 pi) / 2], by its asymptotic series
    (Bernoulli terms through B_12; truncation < 1e-15 for y >= 10). Differences of lgamma at
    large arguments are taken through it, so that they do not cancel."""
    r = 1.0 / (y * y)
    return (
        1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r * (1 / 1188 - r * 691 / 360360))))
    ) / y
