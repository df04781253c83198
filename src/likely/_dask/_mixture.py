"""`lk.fit(lk.Mixture(component, k), <Dask collection>)`: EM over partition sums.

For the components whose weighted MLE is a function of weighted power sums (`MOMENT_FAMILIES`:
Normal, Poisson, Exponential, Bernoulli), one EM iteration is one pass: every partition
computes, at the current values, its log-likelihood and the responsibility-weighted power
sums sum_i w_i r_ij (x_i - c_j)^p (p = 0..order, c_j the component's centre), the tree of
tasks adds them, and the driver takes the M-step (`ComponentStep.mstep_from_sums`, the
in-memory EM's degenerate-component rules included). The marginal log-likelihood of a mixture
is a sum over observations, so Newton's polish after EM (method="auto") and the observed
information are the passes `lk.fit` on Dask makes for any model.

Start values: `init=` as in memory (with every component parameter given, the same start as
in memory, hence the same fit); otherwise k-means++ on the first partition with rows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from .._engine.errors import ModelError
from .._engine.model import Layout, check_param_values
from .._engine.problem import Problem
from ..models.latent._components import (
    FLOOR,
    MOMENT_FAMILIES,
    ComponentStep,
    order_by_first,
    stack_values,
)
from ..models.latent._em import run_em
from ..models.latent._mixture import EM_SWITCH_TOL, Mixture, _check_shapes
from ..models.latent._result import (
    MixtureFit,
    best_start,
    check_options,
    em_solution,
    finish,
    polish_if,
)
from ._cluster import Cluster
from ._derivatives import DaskDerivatives
from ._kernels import InitJob, KernelJob
from ._partitions import align
from ._prepare import ModelPreparer
from ._progress import Options
from ._result import DaskContext, OnDask


class DaskMixtureFit(OnDask, MixtureFit):
    """The result of fitting `lk.Mixture` on Dask data: a `MixtureFit` whose data stay on the
    cluster (`posterior(x)` and `classify(x)` take data in memory)."""

    def _x(self, x: Any) -> Any:
        if x is None:
            raise ModelError(
                "the data of a fit on Dask stay on the cluster: pass observations in memory, "
                "fit.posterior(x), or map it over partitions (ddf.map_partitions)"
            )
        return super()._x(x)

    def plot_components(self, ax: Any = None, bins: Any = "auto") -> Any:
        raise ModelError(
            "plot_components draws the data, which stay on the cluster for a fit on Dask; plot "
            "a sample (e.g. ddf.sample(frac=0.01).compute()) against fit.values instead"
        )


def supported(model: Mixture) -> bool:
    component = model.component
    name = type(component).__name__
    return name in MOMENT_FAMILIES and type(component).__module__.startswith("likely.")


def refusal(model: Any) -> ModelError:
    families = ", ".join(f"lk.{n}()" for n in MOMENT_FAMILIES)
    return ModelError(
        f"{model.name} does not run on Dask: EM on Dask takes lk.Mixture of {families} "
        "components (their M-step needs only per-partition power sums), without fixed values "
        "or priors; fit this model in memory (ddf.compute())"
    )


def mixture_dask(
    model: Mixture,
    data: Any,
    *,
    weights: Any,
    event: Any,
    entry: Any,
    init: Mapping[str, Any] | None,
    fixed: Mapping[str, Any] | None,
    prior: Mapping[str, Any] | None,
    method: str,
    cov: str | None,
    max_iter: int | None,
    tol: float,
) -> DaskMixtureFit:
    """EM (method="em"), or EM then Newton (method="auto"), as `Mixture`'s in-memory fit."""
    t0 = time.perf_counter()
    cov_type = check_options(model.name, {"event": event, "entry": entry, "cov": cov})
    if cov_type not in ("observed", "robust"):
        raise ModelError(f"cov must be 'observed' or 'robust' for {model.name}, got {cov!r}")
    if not supported(model) or fixed or prior:
        raise refusal(model)
    spec = model.param_spec
    init_values = check_param_values(spec, init or {}, "init")
    _check_shapes(model, init_values)
    options = Options.from_config()
    cluster = Cluster(align({"data": data, "weights": weights}), ModelPreparer(model), options)

    start = cluster.start(InitJob(model, {}, init_values))
    cluster.persist_if_wanted(int(start["nbytes"]))
    values = {k: np.asarray(v, float) for k, v in start["values"].items()}
    names = list(model.component.param_spec)
    if set(names) <= set(init_values) and "weights" not in init_values:
        values["weights"] = np.full(model.k, 1.0 / model.k)  # as in memory: no clustering
    layout = Layout.build(spec, values, model)
    cluster.set_kernel(KernelJob(Problem(model, layout, ()), {}, options.chunk_rows))

    step = ComponentStep(model.component, model.k, np.zeros(1), np.ones(1), {}, ())
    order = step.moment_order
    assert order is not None
    u_unused = np.zeros(layout.size)
    events: list[str] = []
    seen: dict[str, Any] = {}

    def em_step(state: dict[str, np.ndarray], active: np.ndarray) -> tuple[Any, np.ndarray]:
        lane = {k: v[0] for k, v in state.items()}
        centres = step.centres(lane)
        want = ("estep",) if seen else ("estep", "data_moments")
        out = cluster.run(u_unused, want, {"values": lane, "centres": centres, "order": order})
        if not seen:
            seen.update(out)
            step.floor = _floor(out)  # the in-memory floor: from the data's weighted sd
        ll = float(out.get("em_ll", 0.0))
        if not np.isfinite(ll):
            return state, np.array([ll])
        new, ev = step.mstep_from_sums(lane, np.asarray(out["em_sums"]), centres)
        events.extend(e for e in ev if e not in events)
        return stack_values([new]), np.array([ll])

    em_tol = max(tol, EM_SWITCH_TOL) if method == "auto" else tol
    iters = max_iter or 1000
    run = run_em(em_step, stack_values([values]), 1, max_iter=iters, tol=em_tol)
    best = best_start(model.name, run)
    values = order_by_first(model.component, {k: np.asarray(v[best]) for k, v in run.state.items()})

    layout = Layout.build(spec, values, model)
    problem = Problem(model, layout, ())
    cluster.set_kernel(KernelJob(problem, {}, options.chunk_rows))
    ctx = DaskContext(problem, DaskDerivatives(cluster, problem, {}, float(seen["sum_w"])))
    values, newton = polish_if(ctx, values, tol, method == "auto" and not events)
    solution = em_solution(
        model.name,
        values,
        run,
        best,
        events=events,
        newton=newton,
        em_tol=em_tol,
        max_iter=iters,
        started=t0,
    )
    out: DaskMixtureFit = finish(ctx, solution, "observed", DaskMixtureFit, newton)
    return out.with_cov("robust") if cov_type == "robust" else out


def _floor(out: dict[str, Any]) -> float:
    """`ComponentStep`'s floor, FLOOR times the largest weighted sd of the data's columns."""
    sw = float(out["data_w"])
    mean = np.asarray(out["data_wx"]) / sw
    var = np.maximum(np.asarray(out["data_wxx"]) / sw - mean * mean, 0.0)
    sd = float(np.max(np.sqrt(var)))
    return FLOOR * sd if sd > 0 else FLOOR


def estep_sums(
    model: Any, values: dict[str, np.ndarray], x: Any, w: np.ndarray, centres: Any, order: int
) -> tuple[float, np.ndarray]:
    """On a worker: (sum of w log f(x), power sums (k, order + 1)) over one padded chunk."""
    params = {k: jnp.asarray(v) for k, v in values.items()}
    ll, sums = _estep(model, params, jnp.asarray(x), jnp.asarray(w), jnp.asarray(centres), order)
    return float(ll), np.asarray(sums)


@partial(jax.jit, static_argnums=(0, 5))
def _estep(model: Mixture, params: Any, x: Any, w: Any, centres: Any, order: int) -> Any:
    lp = model.component_logpdf(params, x)  # (n, k)
    ll = logsumexp(lp, axis=1)
    live = w > 0
    wr = jnp.where(live[:, None], w[:, None] * jnp.exp(lp - ll[:, None]), 0.0)
    d = jnp.reshape(x, (x.shape[0], 1)) - centres[None, :]
    powers = jnp.stack([d**p for p in range(order + 1)], axis=-1)  # (n, k, order + 1)
    return jnp.sum(jnp.where(live, w * ll, 0.0)), jnp.einsum("nk,nkp->kp", wr, powers)
