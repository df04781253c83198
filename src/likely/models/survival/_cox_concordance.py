"""Harrell's concordance for a Cox model, with R's rules (`survival::concordance`, timewt="n").

A pair (i, j) in the same stratum is comparable when i has an event at t_i and j is still at
risk after it: t_j > t_i, or t_j == t_i with j censored (censored at t_i means alive at t_i);
with entry times j must also have entered (entry_j < t_i). Two events at the same time are a
tie in the response and are not counted. The pair weighs w_i w_j. It is concordant when the
earlier event has the higher risk score, tied when the scores are equal:

    C = (concordant + tied / 2) / (concordant + discordant + tied).

Counting: for event i the comparable rows form a prefix of one ordering of the rows, so each
count is "the weight of the rows before position P whose score is below v". These queries
are answered offline for all events at once by splitting every prefix into aligned dyadic
blocks and searching each block's sorted scores (O(n log^2 n), vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Concordance:
    concordant: float
    discordant: float
    tied_risk: float
    estimate: float


def _prefix_below(
    keys: np.ndarray, weights: np.ndarray, P: np.ndarray, values: list[np.ndarray], kmax: int
) -> list[np.ndarray]:
    """For each query q and each array v of `values`: the sum of weights[j] over positions
    j < P[q] with keys[j] < v[q] (keys and values in [0, kmax)).

    [0, P) is the union of aligned dyadic blocks, one per set bit of P. Small blocks are
    scanned directly; for larger ones the rows are grouped by block (a radix sort of the
    block ids of the globally key-sorted rows, so keys stay sorted within each block) and
    each query is a binary search."""
    n = keys.shape[0]
    outs = [np.zeros(P.shape[0]) for _ in values]
    by_key = np.argsort(keys, kind="stable")
    small = max(3, n.bit_length() - 16)  # blocks above 2^small have uint16 block ids
    level = 0
    while (1 << level) <= n:
        has = np.flatnonzero((P >> level) & 1)
        if has.size:
            bid = (P[has] >> (level + 1)) << 1
            if level < small:
                idx = (bid << level)[:, None] + np.arange(1 << level)
                kk, ww = keys[idx], weights[idx]
                for out, v in zip(outs, values):
                    out[has] += np.sum(ww * (kk < v[has][:, None]), axis=1)
            else:
                blocks = by_key >> level
                dtype = np.uint16 if blocks.max() < 65536 else np.int64
                grouped = by_key[np.argsort(blocks.astype(dtype), kind="stable")]
                combined = (grouped >> level) * kmax + keys[grouped]
                cum = np.r_[0.0, np.cumsum(weights[grouped])]
                lo = np.searchsorted(combined, bid * kmax, side="left")
                for out, v in zip(outs, values):
                    hi = np.searchsorted(combined, bid * kmax + v[has], side="left")
                    out[has] += cum[hi] - cum[lo]
        level += 1
    return outs


def _counts(
    order: np.ndarray,
    P: np.ndarray,
    score_rank: np.ndarray,
    strata: np.ndarray,
    w: np.ndarray,
    events: np.ndarray,
    width: int,
):
    """(below, equal) weights of the rows before P in `order`, in the event's stratum."""
    keys = strata[order] * width + score_rank[order]
    ev_base = strata[events] * width
    ev_key = ev_base + score_rank[events]
    wo = w[order]
    kmax = int(strata.max() + 1) * width + 1

    # rows of earlier strata all precede P: their weight is the prefix up to the stratum
    cum = np.r_[0.0, np.cumsum(wo)]
    first = np.searchsorted(strata[order], strata[events], side="left")
    base = cum[first]
    total = cum[P] - base
    below, upto = _prefix_below(keys, wo, P, [ev_key, ev_key + 1], kmax)
    return below - base, upto - below, total


def concordance(
    score: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    weights: np.ndarray,
    strata: np.ndarray,
    entry: np.ndarray | None = None,
) -> Concordance:
    """Harrell's C for risk scores (higher = earlier events), R's rules (module docstring)."""
    n = time.shape[0]
    _, score_rank = np.unique(score, return_inverse=True)
    score_rank = score_rank.astype(np.int64)
    width = int(score_rank.max()) + 2
    strata = strata.astype(np.int64)
    events = np.flatnonzero(event)
    # ordering 1: stratum, time descending, censored before events at equal times
    order = np.lexsort((event.astype(np.int64), -time, strata))
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    so, to, eo = strata[order], time[order], event[order]
    # first event row of each (stratum, time) block: every row before it is comparable
    first = np.r_[True, (so[1:] != so[:-1]) | (to[1:] != to[:-1]) | (eo[1:] != eo[:-1])]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    P = start[pos[events]]
    # queries in the order of their prefix (then score): the binary searches then walk
    # memory nearly in order, which is several times faster than random order
    by_p = np.lexsort((score_rank[events], P))
    events, P = events[by_p], P[by_p]
    below, tied, total = _counts(order, P, score_rank, strata, weights, events, width)
    if entry is not None:
        # remove the rows that have not yet entered at t_i (entry_j >= t_i)
        order2 = np.lexsort((-entry, strata))
        s2, e2 = strata[order2], entry[order2]
        # within the stratum entries descend: count those >= t_i
        P2 = np.empty(events.size, dtype=np.int64)
        for k in np.unique(strata[events]):
            sel = strata[events] == k
            lo, hi = np.searchsorted(s2, [k, k + 1])
            seg = -e2[lo:hi]  # ascending
            P2[sel] = lo + np.searchsorted(seg, -time[events][sel], side="right")
        b2, t2, tot2 = _counts(order2, P2, score_rank, strata, weights, events, width)
        below, tied, total = below - b2, tied - t2, total - tot2
    we = weights[events]
    conc = float(we @ below)
    tie = float(we @ tied)
    disc = float(we @ (total - below - tied))
    denom = conc + disc + tie
    est = (conc + tie / 2) / denom if denom > 0 else np.nan
    return Concordance(conc, disc, tie, est)
