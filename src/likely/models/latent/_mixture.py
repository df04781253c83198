"""`Mixture`: a finite mixture of any family, fitted by EM with full likelihood inference."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..._engine.constraints import simplex
from ..._engine.data import as_weights, bucket, nrows, pad_rows
from ..._engine.errors import ModelError
from ..._engine.fit import _check_prior
from ..._engine.model import AbstractModel, check_param_values
from ._components import ComponentStep, order_by_first, stack_values
from ._constraints import stacked
from ._derivatives import LARGE_ROWS, RowChunks
from ._em import run_em
from ._result import (
    MixtureFit,
    best_start,
    check_options,
    context,
    em_solution,
    finish,
    polish_if,
)

EM_SWITCH_TOL = 1e-8  # method="auto": EM hands over to Newton at this relative change


@dataclass(frozen=True, repr=False)
class Mixture(AbstractModel):
    """A finite mixture: f(x) = sum_j w_j f_j(x | theta_j), any family as the component.

    Parameters
    ----------
    component : a likely model, e.g. ``lk.Normal()``, ``lk.Poisson()``,
        ``lk.MultivariateNormal()``; each of its parameters gets a leading axis of length k.
    k : number of components (>= 2).
    n_init : number of starts (k-means++ seeds), run together; the best is kept.
    seed : seed of the starts.

    Fitting (``lk.fit(lk.Mixture(lk.Normal(), k=2), x)``): EM, whose M-step is each
    component's weighted closed-form MLE (or a weighted Newton solve when it has none, when
    some of its parameters are fixed or have a prior); with ``method="auto"`` EM hands over to
    Newton's method on the marginal likelihood when the relative change of the
    log-likelihood falls below 1e-8 (``method="em"``: EM alone, until it falls below `tol`).
    ``method="newton"`` or ``"bfgs"`` maximise the marginal likelihood directly from one
    k-means++ start (a cross-check). Standard errors come from the observed information of
    the marginal log-likelihood, by automatic differentiation, on the natural scale.

    Components are ordered by their first parameter, increasing (label switching), unless
    some parameters are fixed. A component whose scale collapses onto a few points is held at
    a floor (1e-6 of the data's standard deviation) and reported; an empty component keeps
    its last parameters and is reported.

    Example::

        mix = lk.fit(lk.Mixture(lk.Normal(), k=2), waiting)
        mix.params, mix.se, mix.posterior(), mix.em
    """

    component: AbstractModel
    k: int = 2
    # start options do not enter the likelihood: models that differ only in them share
    # compiled programs
    n_init: int = field(default=4, compare=False)
    seed: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.component, AbstractModel):
            raise ModelError(
                f"Mixture needs a likely model as its component (e.g. lk.Normal()), got "
                f"{self.component!r}"
            )
        if not (isinstance(self.k, int | np.integer) and self.k >= 2):
            raise ModelError(f"Mixture needs k >= 2 components (a whole number), got {self.k!r}")
        if not (isinstance(self.n_init, int | np.integer) and self.n_init >= 1):
            raise ModelError(f"n_init must be a whole number >= 1, got {self.n_init!r}")
        if "weights" in self.component.param_spec:
            raise ModelError("the component has a parameter named 'weights', which Mixture uses")

    @property
    def param_spec(self):
        spec = {"weights": simplex}
        spec.update({k: stacked(c) for k, c in self.component.param_spec.items()})
        return spec

    @property
    def name(self) -> str:
        return f"Mixture({self.component.name}, k={self.k})"

    def __repr__(self) -> str:
        return self.name

    def prepare(self, data):
        return self.component.prepare(data)

    def component_logpdf(self, params, x):
        """log w_j + log f_j(x_i): an (n, k) array."""
        comp = {k: params[k] for k in self.component.param_spec}
        per = jax.vmap(lambda p: self.component.logpdf(p, x))(comp)
        return jnp.log(params["weights"])[None, :] + per.T

    def logpdf(self, params, x):
        return logsumexp(self.component_logpdf(params, x), axis=1)

    def derivatives(self, problem, data, weights, fixed):
        return RowChunks(problem, data, weights, fixed) if nrows(data) > LARGE_ROWS else None

    def init(self, data, weights):
        step = self._step(data, weights, {}, ())
        return order_by_first(self.component, step.start(np.random.default_rng([self.seed, 0])))

    def draw(self, values: dict[str, np.ndarray], n: int, key: Any = 0):
        k = jax.random.PRNGKey(key) if isinstance(key, int) else key
        k1, k2 = jax.random.split(k)
        labels = np.asarray(
            jax.random.categorical(k1, jnp.log(jnp.asarray(values["weights"])), shape=(n,))
        )
        draws = []
        keys = jax.random.split(k2, self.k)
        for j in range(self.k):
            pj = {name: np.asarray(values[name])[j] for name in self.component.param_spec}
            family: Any = self.component  # a Distribution: it has `sample`
            draws.append(np.asarray(family.sample(pj, n, keys[j])))
        return np.stack(draws)[labels, np.arange(n)], labels

    def _step(self, x, w, fixed, priors) -> ComponentStep:
        return ComponentStep(self.component, self.k, x, w, fixed, priors)

    def fit_override(self, data, **options):
        method = options["method"]
        if method in ("newton", "bfgs"):
            return None  # the engine maximises the marginal likelihood directly
        if method not in ("auto", "em"):
            raise ModelError(f"method must be 'auto', 'em', 'newton' or 'bfgs', got {method!r}")
        return _fit(self, data, **options)


@partial(jax.jit, static_argnums=(0,))
def _estep(model: Mixture, params, x, w):
    """Log-likelihood and responsibilities (k, n) for each lane (a batch of parameter sets)."""

    def one(p):
        lp = model.component_logpdf(p, x)
        ll = logsumexp(lp, axis=1)
        return jnp.sum(jnp.where(w > 0, w * ll, 0.0)), jnp.exp(lp - ll[:, None]).T

    return jax.vmap(one)(params)


def _fit(model: Mixture, data, **options):
    t0 = time.perf_counter()
    cov_type = check_options(model.name, options)
    weights, init, fixed, prior = (options.get(k) for k in ("weights", "init", "fixed", "prior"))
    method, max_iter, tol = options["method"], options.get("max_iter"), options.get("tol", 1e-12)
    x = model.prepare(data)
    n = nrows(x)
    w = as_weights(weights, n)
    spec = model.param_spec
    fixed_values = check_param_values(spec, fixed or {}, "fixed")
    init_values = check_param_values(spec, init or {}, "init")
    priors = _check_prior(spec, prior or {}, fixed_values)
    if any(name == "weights" for name, _ in priors):
        raise ModelError(
            "a prior on the mixture weights is not supported; put priors on the "
            "component parameters"
        )
    if len(fixed_values) == len(spec):
        raise ModelError("every parameter is fixed: there is nothing to estimate")
    _check_shapes(model, {**init_values, **fixed_values})
    step = model._step(x, w, fixed_values, priors)

    lanes = 1 if init_values else model.n_init
    starts = []
    known = frozenset(init_values) | frozenset(fixed_values)
    for r in range(lanes):
        start = step.start(np.random.default_rng([model.seed, r]), known)
        start.update(init_values)
        start.update(fixed_values)
        starts.append(start)
    state = stack_values(starts)

    target = bucket(n)
    xp, wp = pad_rows(x, w, target)
    xj, wj = jnp.asarray(xp), jnp.asarray(wp)
    events: list[list[str]] = [[] for _ in range(lanes)]
    em_tol = max(tol, EM_SWITCH_TOL) if method == "auto" else tol
    iters = max_iter or 1000

    def em_step(state, active):
        ll, resp = _estep(model, {k: jnp.asarray(v) for k, v in state.items()}, xj, wj)
        resp = np.asarray(resp)[:, :, :n]
        new = {k: np.array(v) for k, v in state.items()}
        for r in np.flatnonzero(active):
            lane = {k: v[r] for k, v in state.items()}
            upd, ev = step.mstep(lane, resp[r])
            for k, v in upd.items():
                new[k][r] = v
            for e in ev:
                if e not in events[r]:
                    events[r].append(e)
        return new, np.asarray(ll)

    run = run_em(em_step, state, lanes, max_iter=iters, tol=em_tol)
    best = best_start(model.name, run)
    values = {k: np.asarray(v[best]) for k, v in run.state.items()}
    if not fixed_values:
        values = order_by_first(model.component, values)
    ctx = context(model, x, w, values, fixed_values, priors)
    values, newton = polish_if(ctx, values, tol, method == "auto" and not events[best])
    solution = em_solution(
        model.name,
        values,
        run,
        best,
        events=events[best],
        newton=newton,
        em_tol=em_tol,
        max_iter=iters,
        started=t0,
    )
    return finish(ctx, solution, cov_type, MixtureFit, newton)


def _check_shapes(model: Mixture, given: dict[str, np.ndarray]) -> None:
    for name, v in given.items():
        if name == "weights":
            if v.shape != (model.k,):
                raise ModelError(f"weights must have shape ({model.k},), got {v.shape}")
        elif v.ndim == 0 or v.shape[0] != model.k:
            raise ModelError(
                f"{name} must have one value per component along its first axis "
                f"(length {model.k}), got shape {v.shape}"
            )
