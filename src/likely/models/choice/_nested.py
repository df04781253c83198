"""Nested logit (two levels, the utility-maximisation-consistent form) as an engine model.

log P(j) = V_j / l_k - I_k + l_k I_k - log sum_m exp(l_m I_m),  I_k = log sum_{i in k} exp(V_i / l_k)

for j in nest k. Everything is a per-case log-density in jax.numpy, so the engine's exact
autodiff derivatives (score, Hessian) and all its inference apply unchanged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..._engine.constraints import positive, real
from ..._engine.errors import ModelError
from ..._engine.model import AbstractModel
from ._conditional import chosen
from ._data import ChoiceData


def nest_layout(
    nests: dict[str, list[Any]], data: ChoiceData
) -> tuple[list[int], list[str], list[int]]:
    """(nest index of each alternative code, nest names, nests with a free lambda)."""
    if not isinstance(nests, dict) or not nests:
        raise ModelError("nests must be a dict {nest name: [alternatives]}")
    alts = data.alternative_names()
    where: dict[str, int] = {}
    names = [str(k) for k in nests]
    for k, members in enumerate(nests.values()):
        if isinstance(members, str) or not members:
            raise ModelError(f"nest {names[k]!r} must list its alternatives, got {members!r}")
        for a in members:
            label = str(a)
            if label not in alts:
                raise ModelError(
                    f"nest {names[k]!r} names {a!r}, which is not an alternative: {alts}"
                )
            if label in where:
                raise ModelError(
                    f"alternative {a!r} is in two nests ({names[where[label]]!r}, {names[k]!r})"
                )
            where[label] = k
    orphans = [a for a in alts if a not in where]
    if orphans:
        raise ModelError(
            f"alternatives {orphans} are in no nest; every alternative needs one (a nest may hold one)"
        )
    of_alt = [where[a] for a in alts]
    sizes = np.bincount(of_alt, minlength=len(names))
    free = [k for k in range(len(names)) if sizes[k] >= 2]
    if not free:
        raise ModelError("every nest holds one alternative: that model is the conditional logit")
    return of_alt, names, free


@dataclass(frozen=True, repr=False)
class NestedLogitModel(AbstractModel):
    """Data: X (S, J, K), mask (S, J), y (S,), nest (S, J) nest index of each slot."""

    columns: tuple[str, ...]
    nest_names: tuple[str, ...]
    free: tuple[int, ...]  # nests with a lambda parameter (the others have lambda = 1)
    nest_of_alt: tuple[int, ...]

    @property
    def param_spec(self):
        return {"beta": real, "lambda": positive}

    @property
    def name(self) -> str:
        return f"nested logit ({len(self.nest_names)} nests)"

    def __repr__(self) -> str:
        return self.name

    def element_labels(self, name, shape):
        if name == "beta":
            return self.columns
        return tuple(f"lambda[{self.nest_names[k]}]" for k in self.free)

    def prepare(self, data):
        return data

    def init(self, data, weights):
        return {"beta": np.zeros(data["X"].shape[2]), "lambda": np.full(len(self.free), 0.9)}

    def situation_arrays(self, data: ChoiceData, extra) -> dict[str, jnp.ndarray]:
        return {
            "X": jnp.asarray(data.X),
            "mask": jnp.asarray(data.mask),
            "nest": jnp.asarray(np.asarray(self.nest_of_alt)[np.maximum(data.alt, 0)]),
        }

    def new_extra(self, data, frame, extra) -> dict:
        return extra

    def log_probabilities(self, params, arrays) -> jnp.ndarray:
        X, mask, nest = arrays["X"], arrays["mask"], arrays["nest"].astype(jnp.int32)
        n_nests = len(self.nest_names)
        lam = jnp.ones(n_nests, dtype=params["lambda"].dtype)
        lam = lam.at[jnp.asarray(self.free)].set(params["lambda"])
        V = jnp.einsum("sjk,k->sj", X, params["beta"])
        lam_slot = lam[nest]
        Vs = V / lam_slot
        member = (nest[..., None] == jnp.arange(n_nests)) & mask[..., None]  # (S, J, nests)
        present = member.any(axis=1)
        # an absent nest takes slot 0 as a stand-in (finite, then masked) so no -inf - -inf
        first = (jnp.arange(X.shape[1]) == 0)[None, :, None]
        safe = jnp.where(present[:, None, :], member, first)
        inclusive = logsumexp(jnp.where(safe, Vs[..., None], -jnp.inf), axis=1)  # (S, nests)
        top = logsumexp(jnp.where(present, lam * inclusive, -jnp.inf), axis=1)
        inc_slot = jnp.take_along_axis(inclusive, nest, axis=1)
        logp = Vs + (lam_slot - 1.0) * inc_slot - top[:, None]
        return jnp.where(mask, logp, -jnp.inf)

    def logpdf(self, params, data):
        return chosen(self.log_probabilities(params, data), data["y"])

    def warn_outside_unit(self, lam: np.ndarray) -> None:
        above = [self.nest_names[k] for k, v in zip(self.free, np.ravel(lam)) if v > 1.0]
        if above:
            warnings.warn(
                f"nested logit: lambda above 1 for nest(s) {above}; such a model is not consistent "
                "with random utility maximisation for all values of the attributes (check the "
                "nesting structure)",
                UserWarning,
                stacklevel=3,
            )
