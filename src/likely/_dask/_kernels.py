"""What runs on the workers: prepare a partition, and sum what the driver asks for over it.

Each task gets a token and a pickled payload (the preparer, or the model's problem). A worker
unpickles a payload once per fit and keeps it by token, so every pass reuses the same
Python objects and therefore the same compiled JAX kernels (a user's `lk.Model` is compared by
the identity of its log-density function).

A partition is processed in row chunks of a few fixed sizes (rows padded with weight zero), so
partitions of any length share a handful of compiled kernels.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.data import _PAD_LIMIT, bucket, pad_rows
from .._engine.device import to_device
from .._engine.errors import DataError, ModelError
from .._engine.indexed import weighted_gram
from .._engine.inference import AutodiffDerivatives
from .._engine.model import check_logpdf_shape
from .._engine.problem import Problem
from ._prepare import Part, in_partition

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def unpack(token: str, payload: bytes) -> Any:
    """The payload's object, unpickled once per worker process and fit."""
    with _LOCK:
        obj = _CACHE.get(token)
        if obj is not None:
            _CACHE.move_to_end(token)
            return obj
    obj = pickle.loads(payload)
    with _LOCK:
        obj = _CACHE.setdefault(token, obj)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return obj


def prepare(token: str, payload: bytes, index: int, pieces: dict[str, Any]) -> Part:
    preparer = unpack(token, payload)
    try:
        return preparer(pieces)
    except (DataError, ModelError) as e:
        raise in_partition(index, e) from None


@dataclass(frozen=True)
class KernelJob:
    """The model's likelihood without prior (priors are added once, on the driver)."""

    problem: Problem
    fixed: dict[str, np.ndarray]
    chunk_rows: int


@dataclass(frozen=True)
class InitJob:
    model: Any
    fixed: dict[str, np.ndarray]
    init: dict[str, np.ndarray]


def start_values(token: str, payload: bytes, index: int, part: Part) -> dict[str, Any] | None:
    """Start values from one partition (the model's `init` on its rows), or None if it is empty."""
    job: InitJob = unpack(token, payload)
    if part.n == 0 or not part.weights.sum() > 0:
        return None
    try:
        try:
            start = job.model.init(part.data, part.weights)
        except np.linalg.LinAlgError:  # a partition too small for a regression's start
            start = _glm_fallback_start(job.model, part.data, part.weights)
        values = {k: np.asarray(v, float) for k, v in start.items() if k not in job.fixed}
        values.update(job.init)
        check_logpdf_shape(job.model, {**values, **job.fixed}, part.data)
    except (DataError, ModelError) as e:
        raise in_partition(index, e) from None
    return {"values": values, "nbytes": part.nbytes, "n": part.n}


def _glm_fallback_start(model: Any, data: dict, w: np.ndarray) -> dict[str, Any]:
    family, link = getattr(model, "family", None), getattr(model, "link", None)
    if family is None or link is None:
        raise ModelError(f"{model.name}: no start values from the first partition; give init=")
    X, y = data["X"], data["y"]
    mu = np.asarray(family.start_mu(y, data), dtype=float)
    with np.errstate(all="ignore"):
        eta = link.np_link(mu / data["trials"] if "trials" in data else mu)
    eta = np.where(np.isfinite(eta), eta, 0.0) - data.get("offset", 0.0)
    beta = np.zeros(X.shape[1])
    if "Intercept" in model.columns:
        beta[model.columns.index("Intercept")] = float(np.average(eta, weights=w))
    fitted = link.np_inverse(X @ beta + data.get("offset", 0.0)) * data.get("trials", 1.0)
    return {"beta": beta, **family.extra_init(y, fitted, data)}


def _rows(data: Any, start: int, stop: int) -> Any:
    if isinstance(data, Mapping):
        return {k: v[start:stop] for k, v in data.items()}
    return data[start:stop]


def _target_rows(m: int, chunk_rows: int) -> int:
    """Padded size of a chunk of m rows: few distinct shapes, so few compilations."""
    if m >= chunk_rows:
        return m
    if m >= _PAD_LIMIT:
        return chunk_rows
    return bucket(m)


def _column_major(data: Any) -> Any:
    """A chunk's design in column-major order: a row slice of a design is contiguous in
    neither order, and the BLAS products of `weighted_gram` ran 6x faster on column-major
    chunks than on row-major ones (p = 20, one thread)."""
    if isinstance(data, Mapping) and "X" in data and not data["X"].flags.f_contiguous:
        return {**data, "X": np.asfortranarray(data["X"])}
    return data


def _padded(data: Any, w: np.ndarray, chunk_rows: int) -> tuple[Any, np.ndarray]:
    """The chunk padded (rows of weight zero) to one of a few sizes that share kernels."""
    padded, pw = pad_rows(data, w, _target_rows(w.shape[0], chunk_rows))
    return _column_major(padded), pw


def _derivatives(job: KernelJob, data: Any, w: np.ndarray) -> tuple[Any, float]:
    """(derivatives object, factor turning its values into totals of the log-likelihood)."""
    problem = job.problem
    custom = problem.model.derivatives(problem, data, w, job.fixed)
    if custom is not None:  # structured (index models): values are - total / sum(w)
        return custom, -float(w.sum())
    jdata = jax.tree_util.tree_map(to_device, data)
    fixed = {k: jnp.asarray(v) for k, v in job.fixed.items()}
    return AutodiffDerivatives(problem, jdata, jnp.asarray(w), fixed, 1.0), -1.0


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    out[key] = value if key not in out else out[key] + value


def partition_sums(
    token: str,
    payload: bytes,
    index: int,
    part: Part,
    u: np.ndarray,
    want: tuple[str, ...],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Sums over one partition of what `want` names (see `Cluster.run` for the keys)."""
    job: KernelJob = unpack(token, payload)
    out: dict[str, Any] = {"n": part.n, "sum_w": float(part.weights.sum())}
    out["n_dropped"] = part.n_dropped
    if part.n == 0:
        return out
    try:
        for start in range(0, part.n, job.chunk_rows):
            stop = min(start + job.chunk_rows, part.n)
            data, w = _rows(part.data, start, stop), part.weights[start:stop]
            groups = None if part.groups is None else part.groups[start:stop]
            _chunk_sums(job, out, data, w, groups, u, want, extra, (index, start))
    except (DataError, ModelError) as e:
        raise in_partition(index, e) from None
    return out


def _chunk_sums(
    job: KernelJob,
    out: dict[str, Any],
    data: Any,
    w: np.ndarray,
    groups: np.ndarray | None,
    u: np.ndarray,
    want: tuple[str, ...],
    extra: dict[str, Any],
    where: tuple[int, int],
) -> None:
    m = w.shape[0]
    model = job.problem.model
    data = _column_major(data)
    if {"vgh", "ll", "meat", "cluster"} & set(want) and w.sum() > 0:
        padded, pw = _padded(data, w, job.chunk_rows)
        derivs, factor = _derivatives(job, padded, pw)
        if "vgh" in want:
            f, g, H = derivs.value_grad_hess(u)
            _add(out, "ll", factor * f)
            _add(out, "grad", factor * g)
            _add(out, "hess", factor * H)
        elif "ll" in want:
            _add(out, "ll", derivs.loglik(u))
        if "meat" in want or "cluster" in want:
            S = np.asarray(derivs.scores(u))[:m]
            if "meat" in want:
                _add(out, "meat", S.T @ (w[:, None] * S))
            if "cluster" in want:
                import pandas as pd

                assert groups is not None
                sums = pd.DataFrame(w[:, None] * S).groupby(groups, sort=False).sum()
                out["cluster"] = (
                    sums if "cluster" not in out else _merge_groups(out["cluster"], sums)
                )
    if "estep" in want and w.sum() > 0:  # a mixture's EM (see `_mixture`)
        from ._mixture import estep_sums

        padded, pw = _padded(data, w, job.chunk_rows)
        em = estep_sums(model, extra["values"], padded, pw, extra["centres"], extra["order"])
        _add(out, "em_ll", em[0])
        _add(out, "em_sums", em[1])
    if "data_moments" in want:
        flat = np.asarray(data, dtype=float).reshape(m, -1)
        _add(out, "data_w", float(w.sum()))
        _add(out, "data_wx", w @ flat)
        _add(out, "data_wxx", w @ (flat * flat))
    if "expected" in want:
        info = model.expected_information(extra["values"], data, w)
        if info is None:
            raise ModelError(f"{model.name} has no analytic expected information here")
        _add(out, "expected", np.asarray(info, dtype=float))
    if "ll_natural" in want:
        nat = {k: jnp.asarray(v) for k, v in extra["values"].items()}
        ll = np.asarray(model.logpdf(nat, jax.tree_util.tree_map(to_device, data)))
        _add(out, "ll_natural", float(np.sum(np.where(w > 0, w * ll, 0.0))))
    if "bad_start" in want:
        nat = {k: jnp.asarray(v) for k, v in extra["values"].items()}
        ll = np.asarray(model.logpdf(nat, jax.tree_util.tree_map(to_device, data)))
        bad = ~np.isfinite(ll)
        if bad.any() and "first_bad" not in out:
            i = int(np.argmax(bad))
            out["first_bad"] = (where[0], where[1] + i, float(ll[i]))
    if {"gram", "xrange", "separation", "extreme", "pearson", "fisher_gram", "hc_meat"} & set(want):
        _glm_sums(job, out, data, w, u, want, extra)


def _glm_sums(
    job: KernelJob,
    out: dict[str, Any],
    data: dict[str, np.ndarray],
    w: np.ndarray,
    u: np.ndarray,
    want: tuple[str, ...],
    extra: dict[str, Any],
) -> None:
    """Design checks and GLM-specific sums (the checks `lk.glm` makes in memory)."""
    X, y = data["X"], data["y"]
    if "gram" in want:
        _add(out, "gram", weighted_gram(X, w))
    if "xrange" in want:
        _minmax(out, "x", X)
    if "separation" in want:
        trials = data.get("trials", 1.0)
        _add(out, "n_positive", float(np.sum(y > 0)))
        _add(out, "n_below_trials", float(np.sum(y < trials)))
        if "trials" not in data:
            _minmax(out, "x_y1", X[y == 1])
            _minmax(out, "x_y0", X[y != 1])
    model: Any = job.problem.model
    if not {"extreme", "pearson", "fisher_gram", "hc_meat"} & set(want):
        return
    values = extra["values"]
    eta = X @ values["beta"] + data.get("offset", 0.0)
    link, family = model.link, model.family
    if "extreme" in want:
        p = link.np_inverse(eta)
        _add(out, "n_extreme", float(np.sum((p < 1e-10) | (p > 1 - 1e-10))))
    if "pearson" in want:
        from ..models.glm._families import dmu_deta

        mu = np.asarray(link.inverse(jnp.asarray(eta)))
        V = np.asarray(family.variance_function(jnp.asarray(mu), {}))
        d = np.asarray(dmu_deta(link, jnp.asarray(eta)))
        _add(out, "pearson_chi2", float(np.sum(w * (y - mu) ** 2 / V)))
        _add(out, "pearson_gram", weighted_gram(X, w * d * d / V))
    if "fisher_gram" in want or "hc_meat" in want:
        params = {k: jnp.asarray(v) for k, v in values.items()}
        tr = {"trials": jnp.asarray(data["trials"])} if "trials" in data else {}
        W = w * np.asarray(family.fisher_weight(jnp.asarray(eta), link, params, tr))
        if "fisher_gram" in want:
            _add(out, "fisher_gram", weighted_gram(X, W))
        if "hc_meat" in want:
            h = W * np.einsum("ij,jk,ik->i", X, extra["xtwx_inv"], X)
            scale = 1 / (1 - h) if extra["hc"] == "HC2" else 1 / (1 - h) ** 2
            padded, pw = _padded(data, w, job.chunk_rows)
            derivs, _ = _derivatives(job, padded, pw)
            S = np.asarray(derivs.scores(u))[: w.shape[0]]
            _add(out, "hc_meat", S.T @ ((w * scale)[:, None] * S))


def _minmax(out: dict[str, Any], name: str, X: np.ndarray) -> None:
    if X.shape[0] == 0:
        return
    for key, fn, value in (
        (f"min_{name}", np.minimum, X.min(axis=0)),
        (f"max_{name}", np.maximum, X.max(axis=0)),
    ):
        out[key] = value if key not in out else fn(out[key], value)


def _merge_groups(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b]).groupby(level=0, sort=False).sum()


def merge(*outs: dict[str, Any]) -> dict[str, Any]:
    """Add partial sums: min_/max_ keys elementwise, first_ keys the earliest, groups by label."""
    acc: dict[str, Any] = {}
    for o in outs:
        for k, v in o.items():
            if k not in acc:
                acc[k] = v
            elif k.startswith("min_"):
                acc[k] = np.minimum(acc[k], v)
            elif k.startswith("max_"):
                acc[k] = np.maximum(acc[k], v)
            elif k.startswith("first_"):
                acc[k] = min(acc[k], v)
            elif k == "cluster":
                acc[k] = _merge_groups(acc[k], v)
            else:
                acc[k] = acc[k] + v
    return acc


def finalize(acc: dict[str, Any]) -> dict[str, Any]:
    """On a worker, the root of the tree: per-cluster score sums become their p x p meat."""
    if "cluster" in acc:
        sums = acc.pop("cluster").to_numpy()
        acc["cluster_meat"] = sums.T @ sums
        acc["n_groups"] = sums.shape[0]
    return acc


def uniques(frame: Any, columns: tuple[str, ...]) -> dict[str, set]:
    """Distinct non-missing values of each column in one partition (categorical levels)."""
    return {c: set(frame[c].dropna().unique().tolist()) for c in columns}


def union(*parts: dict[str, set]) -> dict[str, set]:
    out: dict[str, set] = {}
    for p in parts:
        for k, v in p.items():
            out.setdefault(k, set()).update(v)
    return out
