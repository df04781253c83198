"""Survival curves from a Cox fit, and the proportional-hazards test, as R's survival package.

Baseline hazard (R's `survfit.coxph`): at each event time the increment is, per Efron unit,
mw / den (ctype "efron", R's ctype=2) or (summed event weight) / S0 (ctype "breslow"). For a
covariate vector x (x~ = x - center, psi = exp(x~' beta)) the cumulative hazard is
psi Lambda0(t), and its variance is R's ("Tsiatis / Link", Therneau & Grambsch sec. 10.2):

    var(t) = psi^2 [ sum_{tau <= t} sum_units mw / den^2  +  d(t)' V d(t) ],
    d(t)   = sum_{tau <= t} ( x~ dLambda0(tau) - sum_units (mw / den) a ),

with V the coefficients' covariance. Bands are R's default log bands for the survival:
S exp(-+ z se), se = sqrt(var), the upper end capped at 1.

The proportional-hazards test (R's `cox.zph` since survival 3.0): the score test, at the fitted
beta, for adding the time-varying terms gamma_j g(t) x_j, with g the transformed event time
centred at its mean over the events ("km": 1 - the left-continuous Kaplan-Meier of the pooled
data, unweighted, as R). Its score is sum over units of g (w x - mw a) and its information
has the blocks sum mw g^k V_unit (k = 0, 1, 2), computed like the model's information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._engine.errors import ModelError
from ._cox_data import CoxData
from ._cox_kernel import (
    Pieces,
    Units,
    hazard_weighted_means,
    information,
    risk_set_sums,
    slot_suffix,
)


@dataclass(frozen=True)
class Baseline:
    """Per event group, at the center of the covariates: the hazard increment, the first
    variance term and R's xbar increments (all unshifted)."""

    hazard: np.ndarray  # (G,)
    varhaz: np.ndarray  # (G,)
    xbar: np.ndarray  # (G, p)


def baseline(data: CoxData, pc: Pieces, u: Units) -> Baseline:
    grp, _, wt, den, _ = pc.all_units(u)
    scale = np.exp(-pc.shift)  # den carries exp(-shift)
    hazard = pc.C * scale
    varhaz = np.bincount(grp, weights=wt / den**2, minlength=data.n_groups) * scale**2
    xbar = hazard_weighted_means(data, pc, u) * scale
    return Baseline(hazard, varhaz, xbar)


def risk_counts(data: CoxData) -> tuple[np.ndarray, np.ndarray]:
    """Weighted number at risk and number of events at each event group."""
    return risk_set_sums(data, data.weights[None, :])[0], data.group_weight


@dataclass(frozen=True)
class Curves:
    """Cumulative hazard and its standard error for several covariate rows at given times."""

    times: np.ndarray
    cumhaz: np.ndarray  # (n_times, n_rows)
    se: np.ndarray  # (n_times, n_rows)


def curves(
    data: CoxData,
    base: Baseline,
    beta: np.ndarray,
    cov: np.ndarray,
    Xnew: np.ndarray,
    strata_new: np.ndarray,
    times: np.ndarray,
) -> Curves:
    """Lambda(t | x) and its standard error for each row of Xnew (uncentered) at `times`."""
    lam = slot_suffix(data, base.hazard)  # sums over the groups from a slot to the earliest
    var0 = slot_suffix(data, base.varhaz)
    xb = slot_suffix(data, base.xbar)  # (p, slots)
    out_h = np.empty((times.size, Xnew.shape[0]))
    out_se = np.empty_like(out_h)
    cov_ok = bool(np.all(np.isfinite(cov)))
    for i in range(Xnew.shape[0]):
        s = int(strata_new[i])
        g0, g1 = data.group_base[s], data.group_base[s + 1]
        # groups run latest first: those with time <= t start after the ones with time > t
        later = np.searchsorted(-data.group_time[g0:g1], -times, side="left")
        slot = g0 + s + later
        xt = Xnew[i] - data.center
        psi = float(np.exp(xt @ beta))
        d = np.outer(lam[slot], xt) - xb[:, slot].T  # (n_times, p)
        quad = np.einsum("tp,pq,tq->t", d, cov, d) if cov_ok else np.full(times.size, np.nan)
        out_h[:, i] = psi * lam[slot]
        out_se[:, i] = psi * np.sqrt(np.maximum(var0[slot] + quad, 0.0))
    return Curves(times, out_h, out_se)


# ------------------------------------------------------------------ proportional hazards test
TRANSFORMS = ("km", "identity", "log", "rank")


def km_pooled(data: CoxData) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier of all rows pooled (unweighted, left-truncated by entry): event times and
    the survival just after each."""
    t, d = data.time, data.event
    times = np.unique(t[d])
    deaths = np.bincount(np.searchsorted(times, t[d]), minlength=times.size)
    # at risk at tau: exit >= tau and entry < tau
    at_risk = t.size - np.searchsorted(np.sort(t), times, side="left")
    if data.entry is not None:
        at_risk -= data.entry.size - np.searchsorted(np.sort(data.entry), times, side="left")
    return times, np.cumprod(1.0 - deaths / at_risk)


def transform_times(data: CoxData, transform: str) -> np.ndarray:
    """g(time) for every row (R's ttimes)."""
    t = data.time
    if transform == "identity":
        return t.astype(float)
    if transform == "log":
        if np.any(t <= 0):
            raise ModelError("transform='log' needs positive times")
        return np.log(t)
    if transform == "rank":
        return pd.Series(t).rank(method="average").to_numpy()
    if transform == "km":
        times, surv = km_pooled(data)
        left = np.r_[1.0, surv]  # S(t-) : the survival before each event time
        return 1.0 - left[np.searchsorted(times, t, side="left")]
    raise ModelError(f"transform must be one of {TRANSFORMS}, got {transform!r}")


def zph(
    data: CoxData, pc: Pieces, u: Units, transform: str, terms: dict[str, slice]
) -> pd.DataFrame:
    """R's cox.zph table: chisq, df, p for each term and GLOBAL."""
    from scipy.stats import chi2

    tt = transform_times(data, transform)
    g_rows = tt - np.mean(tt[data.event])
    # every event row of a group shares its time, hence its g
    g = np.empty(data.n_groups)
    g[data.dead_group] = g_rows[data.dead]
    w = data.weights
    p = data.p
    dead = data.dead
    grp, _, wt, _, a = pc.all_units(u)
    U = data.Xd @ (g[data.dead_group] * w[dead]) - a @ (wt * g[grp])
    I0 = information(data, pc, u)
    I1 = information(data, pc, u, g)
    I2 = information(data, pc, u, g * g)
    imat = np.block([[I0, I1], [I1, I2]])
    u_full = np.r_[np.zeros(p), U]
    rows, names = [], []
    for name, sl in terms.items():
        jj = np.arange(p)[sl]
        kk = np.r_[np.arange(p), p + jj]
        uu = u_full[kk]
        stat = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append((stat, jj.size))
        names.append(name)
    stat = float(u_full @ np.linalg.solve(imat, u_full))
    rows.append((stat, p))
    names.append("GLOBAL")
    table = pd.DataFrame(rows, columns=["chisq", "df"], index=names)
    table["p"] = chi2.sf(table["chisq"], table["df"])
    return table
