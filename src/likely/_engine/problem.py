"""The objective the solvers minimise: a model, its free-parameter layout and a prior."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from .model import AbstractModel, Layout


@dataclass(frozen=True)
class Problem:
    """Hashable, so one compiled solver serves every fit of the same model and shapes.

    Called as ``problem(u, data, weights, fixed, scale)`` it returns the negative
    log-likelihood (plus negative log-prior) divided by `scale`, the total weight.
    """

    model: AbstractModel
    layout: Layout
    prior: tuple[tuple[str, Any], ...] = ()

    def natural(self, u: jnp.ndarray, fixed: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        values = dict(fixed)
        values.update(self.layout.to_natural(u))
        return {k: values[k] for k in self.model.param_spec}

    def loglik_obs(self, u, data, weights, fixed) -> jnp.ndarray:
        ll = self.model.logpdf(self.natural(u, fixed), data)
        return jnp.where(weights > 0, weights * ll, 0.0)

    def loglik(self, u, data, weights, fixed) -> jnp.ndarray:
        return jnp.sum(self.loglik_obs(u, data, weights, fixed))

    def log_prior(self, u, fixed) -> jnp.ndarray:
        if not self.prior:
            return jnp.asarray(0.0)
        nat = self.natural(u, fixed)
        return sum((jnp.sum(p.logpdf(nat[name])) for name, p in self.prior), jnp.asarray(0.0))

    def __call__(self, u, data, weights, fixed, scale):
        return -(self.loglik(u, data, weights, fixed) + self.log_prior(u, fixed)) / scale
