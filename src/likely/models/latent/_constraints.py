"""Constraints for stacked parameters: one per component or state.

A mixture of k components stores each component parameter with a leading axis of length k.
Elementwise constraints (real, positive) apply as they are; a non-elementwise one (a simplex,
a positive-definite matrix) is applied to each slice by `Stacked`. Transition matrices and
initial distributions are `ProbabilityRows`: rows on the simplex, with optional structural
zeros that are held at 0 and not estimated (a zero in the start values, or a probability the
fit drove to 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.constraints import Constraint


@dataclass(frozen=True, repr=False)
class Stacked(Constraint):
    """`base` applied to each slice along the first axis (one slice per component)."""

    base: Constraint
    elementwise = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"stacked({self.base.name})"

    def unconstrained_size(self, shape):
        return shape[0] * self.base.unconstrained_size(tuple(shape[1:]))

    def forward(self, u, shape):
        inner = tuple(shape[1:])
        rows = u.reshape(shape[0], self.base.unconstrained_size(inner))
        return jax.vmap(lambda r: self.base.forward(r, inner))(rows).reshape(shape)

    def inverse(self, value):
        v = np.asarray(value, dtype=float)
        return np.concatenate([self.base.inverse(s) for s in v])

    def check(self, value):
        v = np.asarray(value)
        if v.ndim < 1:
            return "must have one slice per component"
        for i, s in enumerate(v):
            reason = self.base.check(s)
            if reason:
                return f"[{i}] {reason}"
        return None

    def on_boundary(self, value):
        return np.stack([self.base.on_boundary(s) for s in np.asarray(value)])

    def default(self, shape):
        return np.stack([self.base.default(tuple(shape[1:])) for _ in range(shape[0])])


@dataclass(frozen=True, repr=False)
class ProbabilityRows(Constraint):
    """A probability vector (shape (K,)) or a matrix whose rows are probability vectors
    (shape (K, K)), with structural zeros at `zeros` (flat indices), which stay exactly 0.

    Each row is the softmax of its free entries against the last non-zero entry of the row
    (the additive log-ratio, as `lk.simplex`).
    """

    zeros: frozenset[int] = frozenset()
    elementwise = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return "probability rows" if not self.zeros else "probability rows (structural zeros)"

    def _allowed(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        k = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=int)) if len(shape) > 1 else 1
        out = []
        for i in range(rows):
            allowed = np.array([j for j in range(k) if i * k + j not in self.zeros], dtype=int)
            if allowed.size == 0:
                raise ValueError(f"row {i} has no non-zero entry")
            out.append(allowed)
        return out

    def unconstrained_size(self, shape):
        return sum(a.size - 1 for a in self._allowed(tuple(shape)))

    def forward(self, u, shape):
        k = shape[-1]
        rows, offset = [], 0
        for allowed in self._allowed(tuple(shape)):
            m = allowed.size - 1
            logits = jnp.concatenate([u[offset : offset + m], jnp.zeros(1)])
            rows.append(jnp.zeros(k).at[allowed].set(jax.nn.softmax(logits)))
            offset += m
        return jnp.stack(rows).reshape(shape)

    def inverse(self, value):
        v = np.asarray(value, dtype=float)
        rows = v.reshape(-1, v.shape[-1])
        parts = []
        with np.errstate(divide="ignore"):
            for row, allowed in zip(rows, self._allowed(v.shape)):
                parts.append(np.log(row[allowed[:-1]]) - np.log(row[allowed[-1]]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def check(self, value):
        v = np.asarray(value)
        if v.ndim not in (1, 2) or v.shape[-1] < 2 or (v.ndim == 2 and v.shape[0] != v.shape[1]):
            return "must be a probability vector or a square matrix of probability rows"
        rows = v.reshape(-1, v.shape[-1])
        for i, row in enumerate(rows):
            if np.any(row < 0) or abs(row.sum() - 1) > 1e-8:
                where = f"row {i} " if v.ndim == 2 else ""
                return f"{where}must be non-negative and sum to 1"
        flat = v.ravel()
        nonzero = [int(j) for j in self.zeros if flat[j] != 0]
        if nonzero:
            return f"must be 0 at its structural zeros (flat index {nonzero[0]})"
        return None

    def on_boundary(self, value):
        v = np.asarray(value)
        mask = v <= 0
        flat = mask.reshape(-1)
        for j in self.zeros:
            flat[j] = False
        return flat.reshape(v.shape)

    def default(self, shape):
        out = np.zeros(shape)
        flat = out.reshape(-1, shape[-1])
        for row, allowed in zip(flat, self._allowed(tuple(shape))):
            row[allowed] = 1.0 / allowed.size
        return out


def stacked(c: Constraint) -> Constraint:
    """The constraint of a component parameter with a leading axis of components."""
    return c if c.elementwise else Stacked(c)


def zeros_of(value: np.ndarray) -> frozenset[int]:
    """Flat indices of exact zeros (structural zeros of a probability vector or matrix)."""
    return frozenset(int(j) for j in np.flatnonzero(np.asarray(value).ravel() == 0))
