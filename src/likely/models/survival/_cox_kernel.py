"""The Breslow and Efron partial likelihood, its exact gradient and Hessian, in O(n p^2).

With r_j = w_j exp(eta_j), risk-set sums S0, S1 (of r, r x) at each event group g, and the
group's event rows' sums D0, D1, Efron's approximation splits a group of m tied events into m
"units" k = 0..m-1 with fraction f = k/m (Breslow: one unit, f = 0) and mean event weight
mw = (sum of the events' weights) / m. With den = S0 - f D0 and a = (S1 - f D1) / den:

    loglik = sum_events w_i eta_i - sum_units mw log(den)
    score  = sum_events w_i x_i  - sum_units mw a
    info   = sum_units mw [(S2 - f D2) / den - a a']

The S2 part never forms S2: it equals X' diag(c) X with c_j = r_j (h_j - [j an event] E_g(j)),
where h_j = sum over the event groups at which j is at risk of C_g = sum_units mw / den (a
cumulative hazard, by suffix sums over slots) and E_g = sum_units mw f / den. So the
information is two weighted Gram matrices, X' diag(c) X - A' diag(mw) A, formed by BLAS.

Every group's first unit has f = 0 (den = S0, a = S1 / S0, no gather); only tied groups
under Efron add "extra" units (k >= 1), which need the sums D over their event rows.
`Pieces` keeps the sums at one beta for residuals, baseline hazards and the zph test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cox_data import CoxData

_CHUNK = 1 << 18


def gram(At: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A' diag(c) A for At = A' of shape (p, n) (rows contiguous), in column chunks (bounded
    memory, one BLAS product each); weights of either sign."""
    p, n = At.shape
    out = np.zeros((p, p))
    for sign, part in ((1.0, np.maximum(c, 0.0)), (-1.0, np.maximum(-c, 0.0))):
        if not part.any():
            continue
        root = np.sqrt(part)
        for start in range(0, n, _CHUNK):
            Y = At[:, start : start + _CHUNK] * root[start : start + _CHUNK]
            out += sign * (Y @ Y.T)
    return out


def group_prefix(data: CoxData, bucket: np.ndarray) -> np.ndarray:
    """Per group: the running sum over its stratum's slots up to the group's slot (last
    axis), i.e. the risk-set sums from slot buckets."""
    out = np.empty((*bucket.shape[:-1], data.n_groups))
    gb = data.group_base
    for s in range(data.n_strata):
        lo, hi = gb[s] + s, gb[s + 1] + s
        np.cumsum(bucket[..., lo:hi], axis=-1, out=out[..., gb[s] : gb[s + 1]])
    return out


def slot_suffix(data: CoxData, per_group: np.ndarray) -> np.ndarray:
    """Per-stratum sums from each slot to the stratum's end, of values given per group
    (last axis); the spare slot ending each stratum holds 0."""
    vals = np.zeros((*per_group.shape[:-1], data.n_slots))
    vals[..., data.group_slot] = per_group
    out = np.empty_like(vals)
    gb = data.group_base
    for s in range(data.n_strata):
        lo, hi = gb[s] + s, gb[s + 1] + s + 1
        out[..., lo:hi] = np.cumsum(vals[..., lo:hi][..., ::-1], axis=-1)[..., ::-1]
    return out


def at_risk_sum(data: CoxData, suffix: np.ndarray) -> np.ndarray:
    """Per row: the sum of a per-group quantity over the groups at which the row is at risk,
    from `slot_suffix` output (last axis slots)."""
    out = suffix[..., data.slot_a]
    if data.slot_b is not None:
        out = out - suffix[..., data.slot_b]
    return out


def risk_set_sums(data: CoxData, V: np.ndarray) -> np.ndarray:
    """Sums over each group's risk set of the rows of V (shape (k, n)): shape (k, G)."""
    NS = data.n_slots
    bucket = np.empty((V.shape[0], NS))
    for k in range(V.shape[0]):
        bucket[k] = np.bincount(data.slot_a, weights=V[k], minlength=NS)
        if data.slot_b is not None:
            bucket[k] -= np.bincount(data.slot_b, weights=V[k], minlength=NS)
    return group_prefix(data, bucket)


@dataclass(frozen=True)
class Units:
    """Unit weights of each group's first unit, and the extra Efron units of tied groups."""

    first_weight: np.ndarray  # (G,)
    ext_group: np.ndarray  # (X,) group of each extra unit
    ext_tied: np.ndarray  # (X,) its index among the tied groups
    ext_frac: np.ndarray  # (X,)
    ext_weight: np.ndarray  # (X,)
    tied_dead: np.ndarray  # sorted-row indices of the events of tied groups (contiguous)
    tied_starts: np.ndarray  # (T,) where each tied group's events start in tied_dead
    tied_X: np.ndarray  # (p, len(tied_dead)) their covariates
    efron: bool


def units(data: CoxData, ties: str) -> Units:
    m = data.group_deaths
    if ties == "breslow" or not np.any(m > 1):
        empty = np.zeros(0)
        idx = np.zeros(0, dtype=np.int64)
        first = data.group_weight.copy() if ties == "breslow" else data.group_weight / m
        return Units(first, idx, idx, empty, empty, idx, idx, np.zeros((data.p, 0)), False)
    extra = data.dead_rank > 0
    eg = data.dead_group[extra]
    tied_groups = np.flatnonzero(m > 1)
    in_tied = m[data.dead_group] > 1
    tied_dead = data.dead[in_tied]
    tied_group_of = data.dead_group[in_tied]
    starts = np.flatnonzero(np.r_[True, tied_group_of[1:] != tied_group_of[:-1]])
    return Units(
        data.group_weight / m,
        eg,
        np.searchsorted(tied_groups, eg),
        data.dead_rank[extra] / m[eg],
        data.group_weight[eg] / m[eg],
        tied_dead,
        starts,
        np.ascontiguousarray(data.Xd[:, in_tied]),
        True,
    )


@dataclass(frozen=True)
class Pieces:
    """Sums at one beta. Risks carry the factor exp(-shift) (exact in every ratio used)."""

    shift: float
    eta: np.ndarray  # X beta (centered X), unshifted
    risk: np.ndarray  # exp(eta - shift), without case weights
    S0: np.ndarray  # (G,)
    S1: np.ndarray  # (p, G)
    a0: np.ndarray  # (p, G) S1 / S0
    den_ext: np.ndarray  # (X,)
    a_ext: np.ndarray  # (p, X)
    loglik: float
    score: np.ndarray
    C: np.ndarray  # (G,) sum over units of mw / den: the hazard increment at the center
    E: np.ndarray  # (G,) sum over units of mw f / den
    h: np.ndarray  # (n,) sum of C over the groups at which the row is at risk

    def all_units(
        self, u: Units
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(group, frac, weight, den, a (p, U)) of every unit, first units first."""
        G = self.S0.shape[0]
        return (
            np.r_[np.arange(G), u.ext_group],
            np.r_[np.zeros(G), u.ext_frac],
            np.r_[u.first_weight, u.ext_weight],
            np.r_[self.S0, self.den_ext],
            np.hstack([self.a0, self.a_ext]),
        )


def pieces(data: CoxData, beta: np.ndarray, u: Units, work: np.ndarray | None = None) -> Pieces:
    """The sums at `beta`; `work`, a (p + 1, n) buffer, is reused across calls if given."""
    Xt, w = data.Xt, data.weights
    p, G = Xt.shape[0], data.n_groups
    # small products by einsum / dot: threaded BLAS costs more than it saves for them on a
    # busy machine (measured: 7x on matrix-vector products at n = 1e5)
    eta = np.einsum("k,kn->n", beta, Xt)
    # any constant shift cancels in every ratio; the midpoint of eta's range keeps both the
    # largest risk from overflowing and the latest risk sets from underflowing to 0 (until
    # the range passes 1400), and hi - 690 keeps sums of up to 1e8 risks finite
    hi, lo = float(np.max(eta)), float(np.min(eta))
    shift = max(0.5 * (hi + lo), hi - 690.0)
    risk = np.subtract(eta, shift)
    np.exp(risk, out=risk)
    V = np.empty((p + 1, Xt.shape[1])) if work is None else work
    r = np.multiply(w, risk, out=V[0])
    np.multiply(Xt, r, out=V[1:])
    S = risk_set_sums(data, V)
    S0, S1 = S[0], S[1:]
    a0 = S1 / S0
    if u.efron:
        rd = r[u.tied_dead]
        Vd = np.empty((p + 1, rd.size))
        Vd[0] = rd
        np.multiply(u.tied_X, rd, out=Vd[1:])
        D = np.add.reduceat(Vd, u.tied_starts, axis=1)[:, u.ext_tied]  # (p+1, X)
        eg, f = u.ext_group, u.ext_frac
        den_ext = S0[eg] - f * D[0]
        a_ext = (S1[:, eg] - f * D[1:]) / den_ext
    else:
        den_ext = np.zeros(0)
        a_ext = np.zeros((p, 0))
    wd_total = float(data.group_weight.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = float(
            np.dot(data.XdTw, beta)
            - shift * wd_total
            - np.dot(u.first_weight, np.log(S0))
            - np.dot(u.ext_weight, np.log(den_ext))
        )
    score = (
        data.XdTw
        - np.einsum("kg,g->k", a0, u.first_weight)
        - np.einsum("kx,x->k", a_ext, u.ext_weight)
    )
    C = u.first_weight / S0
    E: np.ndarray = np.zeros(G)
    if u.efron:
        C = C + np.bincount(u.ext_group, weights=u.ext_weight / den_ext, minlength=G)
        E = np.bincount(u.ext_group, weights=u.ext_weight * u.ext_frac / den_ext, minlength=G)
    h = at_risk_sum(data, slot_suffix(data, C))
    return Pieces(shift, eta, risk, S0, S1, a0, den_ext, a_ext, loglik, score, C, E, h)


def information(
    data: CoxData, pc: Pieces, u: Units, group_weight: np.ndarray | None = None
) -> np.ndarray:
    """The information sum_units mw V_unit, or with each group's terms times a weight
    (the blocks of the proportional-hazards test's information)."""
    w = data.weights
    gw = np.ones(data.n_groups) if group_weight is None else group_weight
    h = pc.h if group_weight is None else at_risk_sum(data, slot_suffix(data, pc.C * gw))
    c = w * pc.risk * h
    if u.efron:
        dead = data.dead
        c[dead] -= w[dead] * pc.risk[dead] * (pc.E * gw)[data.dead_group]
    out = gram(data.Xt, c) - gram(pc.a0, u.first_weight * gw)
    if u.ext_group.size:
        out -= gram(pc.a_ext, u.ext_weight * gw[u.ext_group])
    return out


# ------------------------------------------------------------------------------ residuals
def _per_group(units_group: np.ndarray, values: np.ndarray, G: int) -> np.ndarray:
    """Sums of unit values (shape (k, U)) by group: (k, G)."""
    return np.stack([np.bincount(units_group, weights=v, minlength=G) for v in values])


def group_means(data: CoxData, pc: Pieces, u: Units) -> np.ndarray:
    """(p, G) abar_g: the average of the group's units' risk-set means (Schoenfeld's xbar)."""
    grp, _, _, _, a = pc.all_units(u)
    G = data.n_groups
    counts = np.bincount(grp, minlength=G).astype(float)
    return _per_group(grp, a, G) / counts


def hazard_weighted_means(data: CoxData, pc: Pieces, u: Units, frac: bool = False) -> np.ndarray:
    """(p, G) q_g = sum_units (mw / den) a (times f when `frac`): R's `xbar` increments."""
    grp, f, wt, den, a = pc.all_units(u)
    scale = wt / den * (f if frac else 1.0)
    return _per_group(grp, a * scale, data.n_groups)


def martingale(data: CoxData, pc: Pieces) -> np.ndarray:
    """d_i - exp(eta_i) * (cumulative hazard over i's at-risk period, Efron-weighted)."""
    expected = pc.risk * pc.h
    dead = data.dead
    expected[dead] -= pc.risk[dead] * pc.E[data.dead_group]
    return data.event.astype(float) - expected


def score_residuals(data: CoxData, pc: Pieces, u: Units) -> np.ndarray:
    """(n, p) per row: d/dw_i of the weighted score (R's `resid(type="score")`, consistent
    with the ties method)."""
    Xt = data.Xt
    q = hazard_weighted_means(data, pc, u)
    Q = at_risk_sum(data, slot_suffix(data, q))  # (p, n)
    out = -(pc.risk * (Xt * pc.h - Q))
    abar = group_means(data, pc, u)
    dead, g = data.dead, data.dead_group
    out[:, dead] += data.Xd - abar[:, g]
    if u.efron:
        F = hazard_weighted_means(data, pc, u, frac=True)
        out[:, dead] += pc.risk[dead] * (data.Xd * pc.E[g] - F[:, g])
    return out.T


def schoenfeld(data: CoxData, pc: Pieces, u: Units) -> np.ndarray:
    """(E, p) per event row (in the order of data.dead): x_i - abar_g(i)."""
    return (data.Xd - group_means(data, pc, u)[:, data.dead_group]).T
