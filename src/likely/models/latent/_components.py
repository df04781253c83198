"""The M-step for any component family: weighted MLE per component (or state).

The closed-form weighted MLE of the family (`dist.mle(x, w)`: Normal, Poisson, Exponential,
Bernoulli, Gamma by Newton on sufficient statistics, MultivariateNormal, ...) when it has one;
otherwise (and when some of its parameters are fixed or carry a prior) a weighted Newton solve
through the engine, started from the current values. Degenerate components are caught here:
a scale that collapses is held at a floor, an empty component keeps its last values.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ..._engine.data import bucket, pad_rows
from ..._engine.errors import DataError
from ..._engine.inference import AutodiffDerivatives
from ..._engine.model import AbstractModel, Layout
from ..._engine.problem import Problem
from ..._engine.solvers import newton
from ._em import kmeans_plus_plus, soft_labels

SCALE_NAMES = ("sigma", "scale")  # location-scale families: floored when they collapse


def _normal(c: float, s: np.ndarray) -> dict[str, float]:
    m = s[1] / s[0]
    return {"mu": c + m, "sigma": float(np.sqrt(max(s[2] / s[0] - m * m, 0.0)))}


# Families whose weighted MLE is a function of the weighted power sums sum_i w_i (x_i - c)^p,
# p = 0..order: (order, centre c from the current values or None for 0, MLE from (c, sums)).
# Same estimates as the families' own `mle`; the sums are formed inside the compiled E-step,
# so the (k, n) responsibilities never leave it. The Normal's sums are taken about the
# component's current mean, so that the variance does not cancel; the means of the others
# about 0, so that a mean of zeros is exactly 0 (a rate of 0 is the boundary, not -1e-25).
MOMENT_FAMILIES: dict[str, tuple[int, Any, Any]] = {
    "Normal": (2, lambda v: v["mu"], _normal),
    "Poisson": (1, None, lambda c, s: {"rate": s[1] / s[0]}),
    "Exponential": (1, None, lambda c, s: {"rate": s[0] / s[1]}),
    "Bernoulli": (1, None, lambda c, s: {"p": s[1] / s[0]}),
}
FLOOR = 1e-6  # relative to the data's standard deviation
EMPTY = 1e-10  # a component whose weight share falls below this is empty


class ComponentStep:
    """Weighted MLE of each of `k` components given responsibilities."""

    def __init__(
        self,
        component: AbstractModel,
        k: int,
        x: np.ndarray,
        w: np.ndarray,
        fixed: dict[str, np.ndarray],
        priors: tuple,
        label: str = "component",
    ) -> None:
        self.label = label
        self.component = component
        self.k = k
        self.x = x
        self.w = w
        self.names = list(component.param_spec)
        self.fixed = {k_: v for k_, v in fixed.items() if k_ in self.names}
        self.fixed_weights = fixed.get("weights")
        self.priors = tuple((n, p) for n, p in priors if n in self.names)
        self.numeric = bool(self.fixed or self.priors)
        flat = x.reshape(x.shape[0], -1)
        sd = np.sqrt(np.maximum(np.average((flat - np.average(flat, 0, w)) ** 2, 0, w), 0))
        self.floor = FLOOR * float(np.max(sd)) if np.max(sd) > 0 else FLOOR
        self.unit_weights = bool(np.all(w == 1.0))
        self._device: tuple[Any, Any] | None = None
        family = MOMENT_FAMILIES.get(type(component).__name__)
        exact = family is not None and type(component).__module__.startswith("likely.")
        self.moments = family if exact and not self.numeric else None

    @property
    def moment_order(self) -> int | None:
        """The highest power of the sufficient sums, when the M-step can use them."""
        return None if self.moments is None else self.moments[0]

    def centres(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Each component's centre for the power sums (its current mean)."""
        assert self.moments is not None
        if self.moments[1] is None:
            return np.zeros(self.k)
        return np.asarray(self.moments[1](values), dtype=float)

    # -------------------------------------------------------------------------------- starts
    def start(
        self, rng: np.random.Generator, given: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        """One start: k-means++ clusters, then the M-step on softened cluster labels (no
        clustering when every component parameter is `given`)."""
        base = self.component.init(self.x, self.w)
        prev = {n: np.stack([np.asarray(base[n], float)] * self.k) for n in self.names}
        prev["weights"] = np.full(self.k, 1.0 / self.k)
        prev.update(self.fixed)
        if set(self.names) <= given:
            return prev
        flat = self.x.reshape(self.x.shape[0], -1)
        labels = kmeans_plus_plus(flat, self.k, self.w, rng)
        values, _ = self.mstep(prev, soft_labels(labels, self.k).T)
        return values

    # -------------------------------------------------------------------------------- M-step
    def mstep(
        self, previous: dict[str, np.ndarray], resp: np.ndarray
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """New values of every component (and the weights) from responsibilities, an array
        (k, n) whose row j holds P(component j | x_i)."""
        weighted = resp if self.unit_weights else resp * self.w[None, :]  # row j: component j
        mass = weighted.sum(axis=1)
        out, events = self._each_component(
            previous, mass, lambda j, prev_j: self.weighted_mle(weighted[j], prev_j, j)
        )
        if self.fixed_weights is not None:
            out["weights"] = np.array(self.fixed_weights, dtype=float)
        else:
            out["weights"] = mass / float(mass.sum())
        return out, events

    def mstep_from_sums(
        self, previous: dict[str, np.ndarray], sums: np.ndarray, centres: np.ndarray
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """The M-step from weighted power sums (k, order + 1) about `centres` (k,)."""
        moments = self.moments
        assert moments is not None
        mass = sums[:, 0]
        out, events = self._each_component(
            previous,
            mass,
            lambda j, prev_j: self.checked(moments[2](float(centres[j]), sums[j]), prev_j, j),
        )
        out["weights"] = mass / float(mass.sum())
        return out, events

    def _each_component(
        self, previous: dict[str, np.ndarray], mass: np.ndarray, estimate: Any
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """New values of each non-empty component j from `estimate(j, previous_j)`; an empty
        one (weight share below EMPTY) keeps its values and is reported."""
        events: list[str] = []
        out = {n: np.array(previous[n], dtype=float) for n in self.names}
        total = float(mass.sum())
        for j in range(self.k):
            if mass[j] <= EMPTY * total:
                events.append(
                    f"{self.label} {j} is empty (weight share {mass[j] / total:.2g}): it keeps "
                    f"its last parameters; the model may have too many {self.label}s"
                )
                continue
            new_j, ev = estimate(j, {n: out[n][j] for n in self.names})
            events += ev
            for n in self.names:
                out[n][j] = new_j[n]
        return out, events

    def weighted_mle(
        self, wj: np.ndarray, prev: dict[str, np.ndarray], j: int
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        events: list[str] = []
        est: dict[str, Any] | None = None
        if not self.numeric:
            try:
                est = self.component.mle(self.x, wj)
            except (DataError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError):
                est = None
                events.append(
                    f"{self.label} {j} collapsed (its weighted MLE does not exist: too few "
                    "distinct points); it keeps its last parameters"
                )
                return prev, events
        if est is None:
            est = self.numeric_mle(wj, prev, j)
        return self.checked(est, prev, j)

    def checked(
        self, est: dict[str, Any], prev: dict[str, np.ndarray], j: int
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """Fixed values put back, non-finite estimates refused, collapsing scales floored."""
        events: list[str] = []
        new = {n: np.asarray(est[n], dtype=float) for n in self.names}
        new.update({n: np.asarray(v[j], float) for n, v in self.fixed.items()})
        if not all(np.all(np.isfinite(v)) for v in new.values()):
            events.append(
                f"{self.label} {j}: the M-step gave non-finite values; kept its last ones"
            )
            return prev, events
        new, floored = self.apply_floor(new)
        if floored:
            events.append(
                f"{self.label} {j} collapsed onto a few points: its scale was held at the floor "
                f"{self.floor:.3g} (the likelihood is unbounded there); consider fewer "
                f"{self.label}s"
            )
        return new, events

    def apply_floor(self, values: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], bool]:
        floored = False
        for n in SCALE_NAMES:
            if n in values and values[n].ndim == 0 and float(values[n]) < self.floor:
                values[n] = np.asarray(self.floor)
                floored = True
        if "cov" in values and values["cov"].ndim == 2:
            cov = 0.5 * (values["cov"] + values["cov"].T)
            eig, vec = np.linalg.eigh(cov)
            if eig.min() < self.floor**2:
                values["cov"] = (vec * np.maximum(eig, self.floor**2)) @ vec.T
                floored = True
        return values, floored

    def numeric_mle(self, wj: np.ndarray, prev: dict[str, np.ndarray], j: int) -> dict[str, Any]:
        """Weighted (penalised) MLE of one component by the engine's Newton solver."""
        spec = self.component.param_spec
        fixed_j = {n: np.asarray(v[j], float) for n, v in self.fixed.items()}
        free = {n: prev[n] for n in spec if n not in fixed_j}
        layout = Layout.build(spec, free, self.component)
        problem = Problem(self.component, layout, self.priors)
        xd, n_pad = self._data()
        wpad = np.zeros(n_pad)
        wpad[: wj.shape[0]] = wj
        derivs = AutodiffDerivatives(
            problem,
            xd,
            jnp.asarray(wpad),
            {n: jnp.asarray(v) for n, v in fixed_j.items()},
            float(wj.sum()),
        )
        res = newton(derivs.value_grad_hess, layout.to_unconstrained(free), max_iter=100)
        nat = layout.to_natural(jnp.asarray(res.u))
        out: dict[str, Any] = {n: np.asarray(v) for n, v in nat.items()}
        out.update(fixed_j)
        return out

    def _data(self) -> tuple[Any, int]:
        if self._device is None:
            n = self.x.shape[0]
            target = bucket(n)
            xp, _ = pad_rows(self.x, np.ones(n), target)
            self._device = (jnp.asarray(xp), target)
        return self._device


def stack_values(lanes: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-lane values -> arrays with a leading lanes axis."""
    return {k: np.stack([np.asarray(v[k], float) for v in lanes]) for k in lanes[0]}


def order_by_first(
    component: AbstractModel, values: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Reorder components by the first element of their first parameter, increasing."""
    first = next(iter(component.param_spec))
    key = np.asarray(values[first]).reshape(np.asarray(values[first]).shape[0], -1)[:, 0]
    perm = np.argsort(key, kind="stable")
    out = {n: np.asarray(v)[perm] for n, v in values.items() if n in component.param_spec}
    out["weights"] = np.asarray(values["weights"])[perm]
    return {n: out[n] for n in values}
