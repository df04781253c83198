"""Shared steps of the choice models: the engine fit, covariance types, reference fits."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._engine.errors import DataError, InferenceWarning, ModelError
from ..._engine.fit import fit as engine_fit
from ..._engine.fit import refinish
from ..._engine.inference import covariance_u, running_off
from ._conditional import _softmax_rows, gram
from ._data import ChoiceData, _show
from ._result import ChoiceFit, ChoiceInfo

COV_TYPES = ("observed", "robust", "cluster")


def resolve_cov(cov_type: str | None, cluster: Any) -> str:
    kind = cov_type or ("cluster" if cluster is not None else "observed")
    if kind not in COV_TYPES:
        raise ModelError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if kind == "cluster" and cluster is None:
        raise ModelError(
            "cov_type='cluster' needs cluster=... (a column name or one label per row)"
        )
    if kind != "cluster" and cluster is not None:
        raise ModelError(f"cluster= is given but cov_type is {kind!r}; use cov_type='cluster'")
    return kind


def per_case(values: Any, data: ChoiceData, frame: pd.DataFrame | None, what: str) -> np.ndarray:
    """One value per case from a column (or per-row array) that is constant within cases."""
    if isinstance(values, str):
        if frame is None or values not in frame.columns:
            raise DataError(f"{what} column {values!r} is not in the data")
        v = frame[values].to_numpy()
    else:
        v = np.asarray(values)
    n = int(data.mask.sum())
    if v.shape != (n,):
        raise DataError(f"{what} must have one value per row ({n}), got shape {v.shape}")
    if pd.isna(v).any():
        i = int(np.flatnonzero(pd.isna(v))[0])
        raise DataError(f"{what} has a missing value at row {i}")
    out = v[data.rows[:, 0]]  # slot 0 of every case holds an alternative
    s, j = np.nonzero(data.mask)
    differ = v[data.rows[s, j]] != out[s]
    if differ.any():
        k = int(np.argmax(differ))
        raise DataError(
            f"{what} must be constant within a case; case {_show(data.cases[s[k]])} has several values"
        )
    return out


def fit_engine(
    model: Any,
    arrays: dict[str, Any],
    weights: np.ndarray,
    info: ChoiceInfo,
    *,
    init: dict[str, Any] | None,
    fixed: dict[str, Any] | None,
    method: str,
    cov_type: str,
    clusters: np.ndarray | None,
    max_iter: int | None,
    tol: float,
) -> ChoiceFit:
    result = engine_fit(
        model,
        arrays,
        weights=weights,
        init=init,
        fixed=fixed,
        method=method,
        cov="robust" if cov_type == "robust" else "observed",
        max_iter=max_iter,
        tol=tol,
    )
    derivs = result._ctx.derivatives
    if getattr(derivs, "exact", None) is False:  # mixed logit: BHHH steps far from the optimum
        derivs.exact = True
        if not derivs.last_exact:  # the solver stopped on a BHHH matrix: recompute exactly
            result = refinish(result, result.cov_type)
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    out = ChoiceFit(**fields, choice=info)
    if out.converged and out.method == "newton":
        _warn_running_off(out)
    if cov_type == "cluster":
        assert clusters is not None
        out = cluster_covariance(out, clusters)
    return out


def _warn_running_off(f: ChoiceFit) -> None:
    """Separation: an attribute that always ranks the chosen alternative first makes the
    likelihood increase without bound in its coefficient; flag what is still moving."""
    _, g, H = f._ctx.derivatives.value_grad_hess(f._u)
    moving = running_off(H, g, f._u)
    if moving.any():
        which = [f._free_labels[j] for j in np.flatnonzero(moving)]
        note = (
            f"separation: the log-likelihood converged before {which} did; they may be "
            "infinite (an attribute that always favours the chosen alternative), and their "
            "standard errors and tests are meaningless"
        )
        warnings.warn(note, InferenceWarning, stacklevel=4)


def cluster_covariance(f: ChoiceFit, clusters: np.ndarray) -> ChoiceFit:
    """H^-1 B H^-1 with B the outer products of score sums within clusters, scaled by
    G/(G-1) (n-1)/(n-k) as statsmodels and Stata do (n observations, k parameters)."""
    ctx = f._ctx
    u = f._u
    w = ctx.weights
    labels, idx = np.unique(clusters, return_inverse=True)
    G = labels.size
    if G < 2:
        raise DataError("cluster-robust covariance needs at least two clusters")
    info = ctx.derivatives.value_grad_hess(u)[2] * ctx.scale
    S = ctx.derivatives.scores(u)[: w.shape[0]]
    sums = np.zeros((G, S.shape[1]))
    np.add.at(sums, idx, w[:, None] * S)
    n, k = float(w.sum()), f.k
    meat = sums.T @ sums * (G / (G - 1)) * ((n - 1) / (n - k))
    cov_u, note = covariance_u(info, f._free_labels, meat)
    if note:
        warnings.warn(note, InferenceWarning, stacklevel=3)
    return f.replace(_cov_u=cov_u, cov_type=f"cluster ({G} clusters)", note=note or f.note)


def newton_logit(
    X: np.ndarray, mask: np.ndarray, y: np.ndarray, w: np.ndarray, max_iter: int = 100
) -> tuple[np.ndarray, float]:
    """Conditional logit MLE (beta, loglik) by plain Newton with step halving, in numpy;
    for start values and reference fits (the constants-only model)."""
    S, J, K = X.shape
    X2 = X.reshape(S * J, K)
    rows = np.arange(S)
    xy = w @ X[rows, y]
    beta = np.zeros(K)

    def loglik(b: np.ndarray) -> tuple[float, np.ndarray]:
        P, lse = _softmax_rows((X2 @ b).reshape(S, J), mask)
        return float(w @ ((X2 @ b).reshape(S, J)[rows, y] - lse)), P

    ll, P = loglik(beta)
    for _ in range(max_iter):
        xbar = np.einsum("sj,sjk->sk", P, X)
        g = xy - w @ xbar
        H = gram(X2, (P * w[:, None]).reshape(-1)) - gram(xbar, w)
        try:
            step = np.linalg.solve(H + 1e-12 * np.eye(K) * max(1.0, np.abs(H).max()), g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            new_ll, new_P = loglik(beta + t * step)
            if new_ll >= ll - 1e-12 * abs(ll):
                break
            t *= 0.5
        beta, improved = beta + t * step, new_ll - ll
        ll, P = new_ll, new_P
        if abs(improved) <= 1e-13 * (1 + abs(ll)) and np.max(np.abs(g)) < 1e-6 * (1 + abs(ll)):
            break
    return beta, ll


def reference_logliks(data: ChoiceData, w: np.ndarray) -> tuple[float, float | None, int]:
    """(LL at equal shares, LL of alternative-specific constants only or None, free constants)."""
    sizes = data.mask.sum(axis=1)
    ll_equal = float(-(w @ np.log(sizes)))
    if data.alternatives is None:
        return ll_equal, None, 0
    a = len(data.alternatives)
    s, j = np.nonzero(data.mask)
    counts = np.bincount(data.alt[np.arange(data.n_cases), data.y], weights=w, minlength=a)
    if (sizes == a).all():  # every case sees every alternative: the observed shares
        share = counts / w.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = float(np.sum(np.where(counts > 0, counts * np.log(share), 0.0)))
        return ll_equal, ll, a - 1
    D = np.zeros((*data.mask.shape, a - 1))
    code = data.alt[s, j]
    keep = code > 0
    D[s[keep], j[keep], code[keep] - 1] = 1.0
    _, ll = newton_logit(D, data.mask, data.y, w)
    return ll_equal, ll, a - 1
