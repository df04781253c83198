"""Parameter constraints and the bijectors that map unconstrained space onto them.

The optimiser always works on an unconstrained real vector; users only see natural values.
Each constraint knows (a) the unconstrained size for a natural shape, (b) the forward map
unconstrained -> natural, (c) its inverse, and (d) whether it acts elementwise (which makes
profiling a single element a one-dimensional problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jax.nn import sigmoid


def _np_sigmoid(u: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-u) without overflow, as jax.nn.sigmoid."""
    from scipy.special import expit

    return np.asarray(expit(u), dtype=float)


class Constraint:
    """Abstract constraint. Subclasses are frozen dataclasses (hashable, compared by value)."""

    elementwise: bool = True
    name: str = "constraint"

    def unconstrained_size(self, shape: tuple[int, ...]) -> int:
        return math.prod(shape)

    def forward(self, u: jnp.ndarray, shape: tuple[int, ...]) -> jnp.ndarray:
        raise NotImplementedError

    def inverse(self, value: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    has_np_forward: ClassVar[bool] = False

    def np_forward(self, u: np.ndarray) -> np.ndarray:
        """`forward` in numpy, flat (elementwise constraints with `has_np_forward`)."""
        raise NotImplementedError

    def check(self, value: np.ndarray) -> str | None:
        """Return a reason if `value` lies outside the constraint's closure, else None."""
        return None

    def on_boundary(self, value: np.ndarray) -> np.ndarray:
        """Boolean mask of elements that sit on the boundary (where inverse is infinite)."""
        return np.zeros(np.shape(value), dtype=bool)

    def default(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)

    def derivative(self, value: np.ndarray) -> np.ndarray:
        """d natural / d unconstrained, elementwise, as a function of the natural value."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, repr=False)
class _Real(Constraint):
    name: str = "real"
    has_np_forward: ClassVar[bool] = True

    def forward(self, u, shape):
        return u.reshape(shape)

    def np_forward(self, u):
        return np.array(u, dtype=float)

    def inverse(self, value):
        return np.asarray(value, dtype=float).ravel()

    def check(self, value):
        return None if np.all(np.isfinite(value)) else "must be finite"

    def derivative(self, value):
        return np.ones(np.shape(value))


@dataclass(frozen=True, repr=False)
class _Positive(Constraint):
    name: str = "positive"
    has_np_forward: ClassVar[bool] = True

    def forward(self, u, shape):
        return jnp.exp(u).reshape(shape)

    def np_forward(self, u):
        with np.errstate(over="ignore"):
            return np.exp(u)

    def inverse(self, value):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(value, dtype=float)).ravel()

    def check(self, value):
        return None if np.all(np.asarray(value) > 0) else "must be > 0"

    def derivative(self, value):
        return np.asarray(value, dtype=float)

    def on_boundary(self, value):
        return np.asarray(value) <= 0

    def default(self, shape):
        return np.ones(shape)


@dataclass(frozen=True, repr=False)
class _UnitInterval(Constraint):
    name: str = "unit_interval"
    has_np_forward: ClassVar[bool] = True

    def forward(self, u, shape):
        return sigmoid(u).reshape(shape)

    def np_forward(self, u):
        return _np_sigmoid(u)

    def inverse(self, value):
        v = np.asarray(value, dtype=float)
        with np.errstate(divide="ignore"):
            return (np.log(v) - np.log1p(-v)).ravel()

    def check(self, value):
        v = np.asarray(value)
        return None if np.all((v > 0) & (v < 1)) else "must lie in (0, 1)"

    def derivative(self, value):
        v = np.asarray(value, dtype=float)
        return v * (1 - v)

    def on_boundary(self, value):
        v = np.asarray(value)
        return (v <= 0) | (v >= 1)

    def default(self, shape):
        return np.full(shape, 0.5)


@dataclass(frozen=True, repr=False)
class GreaterThan(Constraint):
    """x > lower, through x = lower + exp(u)."""

    lower: float = 0.0

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"greater_than({self.lower})"

    has_np_forward: ClassVar[bool] = True

    def forward(self, u, shape):
        return (self.lower + jnp.exp(u)).reshape(shape)

    def np_forward(self, u):
        with np.errstate(over="ignore"):
            return self.lower + np.exp(u)

    def inverse(self, value):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(value, dtype=float) - self.lower).ravel()

    def check(self, value):
        return None if np.all(np.asarray(value) > self.lower) else f"must be > {self.lower}"

    def derivative(self, value):
        return np.asarray(value, dtype=float) - self.lower

    def on_boundary(self, value):
        return np.asarray(value) <= self.lower

    def default(self, shape):
        return np.full(shape, self.lower + 1.0)


@dataclass(frozen=True, repr=False)
class Interval(Constraint):
    """lower < x < upper, through a scaled logistic."""

    lower: float = 0.0
    upper: float = 1.0

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"interval({self.lower}, {self.upper})"

    has_np_forward: ClassVar[bool] = True

    def forward(self, u, shape):
        return (self.lower + (self.upper - self.lower) * sigmoid(u)).reshape(shape)

    def np_forward(self, u):
        return self.lower + (self.upper - self.lower) * _np_sigmoid(u)

    def inverse(self, value):
        v = (np.asarray(value, dtype=float) - self.lower) / (self.upper - self.lower)
        with np.errstate(divide="ignore"):
            return (np.log(v) - np.log1p(-v)).ravel()

    def check(self, value):
        v = np.asarray(value)
        ok = np.all((v > self.lower) & (v < self.upper))
        return None if ok else f"must lie in ({self.lower}, {self.upper})"

    def derivative(self, value):
        v = np.asarray(value, dtype=float)
        return (v - self.lower) * (self.upper - v) / (self.upper - self.lower)

    def on_boundary(self, value):
        v = np.asarray(value)
        return (v <= self.lower) | (v >= self.upper)

    def default(self, shape):
        return np.full(shape, 0.5 * (self.lower + self.upper))


@dataclass(frozen=True, repr=False)
class _Simplex(Constraint):
    """Probability vectors: additive log-ratio, the last component is the reference."""

    name: str = "simplex"
    elementwise: bool = False

    def unconstrained_size(self, shape):
        return shape[-1] - 1

    def forward(self, u, shape):
        z = jnp.concatenate([u, jnp.zeros(1)])
        return jnp.exp(z - jnp.max(z) - jnp.log(jnp.sum(jnp.exp(z - jnp.max(z))))).reshape(shape)

    def inverse(self, value):
        v = np.asarray(value, dtype=float).ravel()
        with np.errstate(divide="ignore"):
            return np.log(v[:-1]) - np.log(v[-1])

    def check(self, value):
        v = np.asarray(value)
        if v.ndim != 1 or v.size < 2:
            return "must be a vector of at least two probabilities"
        if np.any(v <= 0) or abs(v.sum() - 1) > 1e-8:
            return "must be positive and sum to 1"
        return None

    def on_boundary(self, value):
        return np.asarray(value) <= 0

    def default(self, shape):
        return np.full(shape, 1.0 / shape[-1])


@dataclass(frozen=True, repr=False)
class _PositiveDefinite(Constraint):
    """Symmetric positive-definite matrices, through a Cholesky factor with log diagonal."""

    name: str = "positive_definite"
    elementwise: bool = False

    def unconstrained_size(self, shape):
        d = shape[-1]
        return d * (d + 1) // 2

    def forward(self, u, shape):
        d = shape[-1]
        rows, cols = np.tril_indices(d)
        diag = rows == cols
        vals = jnp.where(diag, jnp.exp(u), u)
        chol = jnp.zeros((d, d)).at[rows, cols].set(vals)
        return chol @ chol.T

    def inverse(self, value):
        m = np.asarray(value, dtype=float)
        chol = np.linalg.cholesky(m)
        rows, cols = np.tril_indices(m.shape[-1])
        vals = chol[rows, cols].copy()
        diag = rows == cols
        vals[diag] = np.log(vals[diag])
        return vals

    def check(self, value):
        m = np.asarray(value)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            return "must be a square matrix"
        if not np.allclose(m, m.T):
            return "must be symmetric"
        try:
            np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            return "must be positive definite"
        return None

    def default(self, shape):
        return np.eye(shape[-1])


real: Constraint = _Real()
positive: Constraint = _Positive()
unit_interval: Constraint = _UnitInterval()
simplex: Constraint = _Simplex()
positive_definite: Constraint = _PositiveDefinite()


def greater_than(lower: float) -> Constraint:
    return GreaterThan(float(lower))


def interval(lower: float, upper: float) -> Constraint:
    if not lower < upper:
        raise ValueError(f"interval needs lower < upper, got ({lower}, {upper})")
    return Interval(float(lower), float(upper))
