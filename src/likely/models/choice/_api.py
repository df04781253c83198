"""`lk.conditional_logit` and `lk.nested_logit`: the front ends."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._dask import any_dask
from ..._engine.errors import ModelError
from ._conditional import ConditionalLogitModel
from ._data import ChoiceData, build_choice_data, check_identified, to_pandas
from ._fitting import fit_engine, newton_logit, per_case, reference_logliks, resolve_cov
from ._nested import NestedLogitModel, nest_layout
from ._result import ChoiceFit, ChoiceInfo


def _prepare(
    formula: str | None,
    data: Any,
    group: Any,
    alt: Any,
    X: Any,
    y: Any,
    weights: Any,
    cov_type: str | None,
    cluster: Any,
) -> tuple[ChoiceData, Any, np.ndarray, str, np.ndarray | None]:
    frame = to_pandas(data) if data is not None else None
    kind = resolve_cov(cov_type, cluster)
    cd = build_choice_data(formula, frame, group=group, alt=alt, X=X, y=y, weights=weights)
    check_identified(cd)
    w = cd.weights if cd.weights is not None else np.ones(cd.n_cases)
    clusters = per_case(cluster, cd, frame, "cluster") if kind == "cluster" else None
    return cd, frame, w, kind, clusters


def _info(kind: str, formula, group, alt, cd: ChoiceData, frame, w, extra=None) -> ChoiceInfo:
    ll_equal, ll_constants, n_constants = reference_logliks(cd, w)
    return ChoiceInfo(
        kind,
        formula,
        group if isinstance(group, str) else None,
        alt if isinstance(alt, str) else None,
        cd,
        frame,
        ll_equal,
        ll_constants,
        n_constants,
        extra or {},
    )


def conditional_logit(
    formula: str | None = None,
    data: Any = None,
    *,
    group: Any,
    alt: Any = None,
    X: Any = None,
    y: Any = None,
    weights: Any = None,
    cov_type: str | None = None,
    cluster: Any = None,
    init: dict[str, Any] | None = None,
    method: str = "auto",
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> ChoiceFit:
    """McFadden's conditional logit by maximum likelihood.

    P(case s chooses j) = exp(x_sj'b) / sum_{k in C_s} exp(x_sk'b), with C_s the alternatives
    available in case s. Data are long: one row per (case, alternative), a 0/1 choice column
    with exactly one 1 per case. Alternative-specific constants are dummies (``C(mode)``
    leaves the first alternative out); a case-specific variable enters interacted with
    alternative dummies, leaving one out (``I(income * (mode == 'air'))``). An intercept
    cancels out of every probability and is dropped. Choice sets may differ between cases.

    Parameters
    ----------
    formula, data : ``"choice ~ price + time + C(mode)"`` and a long data frame; or arrays
        ``X=`` (rows = case-alternatives) and ``y=`` (0/1).
    group : the column (or per-row array) identifying cases.
    alt : the column identifying alternatives; needed for shares, elasticities and the
        constants-only benchmark in the summary.
    weights : case weights (a column constant within cases).
    cov_type : "observed" (default; the exact Hessian), "robust" (sandwich over cases) or
        "cluster" with ``cluster=`` (a column constant within cases, e.g. a person id; scaled by
        G/(G-1) (n-1)/(n-k) as statsmodels).
    init, method, max_iter, tol : as in ``lk.fit``.

    Returns a `ChoiceFit`: ``params``, ``se``, ``conf_int()``, ``summary()`` (McFadden's
    pseudo-R2 against equal shares and against constants only, and the LR test against
    constants only), ``predict_shares``, ``elasticities``, ``marginal_effects``, ``wtp``.

    Example::

        fit = lk.conditional_logit("choice ~ gc + ttme + C(mode)", data=df,
                                   group="individual", alt="mode")
    """
    if any_dask(data, X, y, weights, group, cluster):
        from ..._dask._choice import conditional_logit_dask

        return conditional_logit_dask(
            formula,
            data,
            group=group,
            alt=alt,
            X=X,
            y=y,
            weights=weights,
            cov_type=cov_type,
            cluster=cluster,
            init=init,
            method=method,
            max_iter=max_iter,
            tol=tol,
        )
    cd, frame, w, kind, clusters = _prepare(
        formula, data, group, alt, X, y, weights, cov_type, cluster
    )
    model = ConditionalLogitModel(cd.columns)
    info = _info("conditional", formula, group, alt, cd, frame, w)
    arrays = {"X": cd.X, "mask": cd.mask, "y": cd.y}
    return fit_engine(
        model,
        arrays,
        w,
        info,
        init=init,
        fixed=None,
        method=method,
        cov_type=kind,
        clusters=clusters,
        max_iter=max_iter,
        tol=tol,
    )


def nested_logit(
    formula: str | None = None,
    data: Any = None,
    *,
    group: Any,
    alt: Any,
    nests: dict[str, list[Any]],
    X: Any = None,
    y: Any = None,
    weights: Any = None,
    cov_type: str | None = None,
    cluster: Any = None,
    init: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    method: str = "auto",
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> ChoiceFit:
    """Two-level nested logit by full-information maximum likelihood.

    The utility-maximisation-consistent form (McFadden's; "RU2"): with nests k holding
    alternatives B_k and nest parameters lambda_k,

        P(j) = exp(V_j / lambda_k) / exp(I_k) * exp(lambda_k I_k) / sum_l exp(lambda_l I_l),
        I_k = log sum_{i in B_k} exp(V_i / lambda_k).

    lambda_k in (0, 1] is consistent with random utility maximisation for all data; the
    estimates are not forced into (0, 1] (they are positive; a warning says when one exceeds
    1). lambda = 1 for every nest is the conditional logit (test it with
    ``fixed={"lambda": [1, ...]}`` and ``lr_test``). A nest with a single alternative has no
    lambda (its value is 1). Parameters: ``beta`` (labelled by column) and ``lambda``
    (labelled by nest). Other arguments as `conditional_logit`; every alternative must be in
    exactly one nest.

    Example::

        fit = lk.nested_logit("choice ~ gc + ttme + C(mode)", data=df, group="individual",
                              alt="mode", nests={"public": ["train", "bus"], "other": ["air", "car"]})
    """
    if any_dask(data, X, y, weights, group, cluster):
        from ..._dask._choice import refuse

        raise refuse("nested_logit")
    if alt is None:
        raise ModelError("nested_logit needs alt= (the column naming each alternative)")
    cd, frame, w, kind, clusters = _prepare(
        formula, data, group, alt, X, y, weights, cov_type, cluster
    )
    nest_of_alt, names, free = nest_layout(nests, cd)
    model = NestedLogitModel(cd.columns, tuple(names), tuple(free), tuple(nest_of_alt))
    nest_slots = np.asarray(nest_of_alt)[np.maximum(cd.alt, 0)]
    info = _info("nested", formula, group, alt, cd, frame, w, {"nest": nest_slots})
    arrays = {"X": cd.X, "mask": cd.mask, "y": cd.y, "nest": nest_slots}
    start = dict(init or {})
    if "beta" not in start and "beta" not in (fixed or {}):
        start["beta"], _ = newton_logit(cd.X, cd.mask, cd.y, w)
    if "lambda" not in start and "lambda" not in (fixed or {}):
        start["lambda"] = np.full(len(free), 0.9)
    out = fit_engine(
        model,
        arrays,
        w,
        info,
        init=start,
        fixed=fixed,
        method=method,
        cov_type=kind,
        clusters=clusters,
        max_iter=max_iter,
        tol=tol,
    )
    model.warn_outside_unit(out.values["lambda"])
    return out
