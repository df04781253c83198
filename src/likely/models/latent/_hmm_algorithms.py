"""Forward-backward and Viterbi for hidden Markov models, as pure functions on `lax.scan`.

One sequence of T steps is cut into B blocks of L steps and laid out time-major and
state-major: step t = b L + l of state k sits at [l, k, b]. `log_e` (L, K, B) holds
log p(x_t | state k) and `valid` (L, B) marks real steps. Every step has a transition matrix
M_t = G diag(e_t), where G is the transition matrix for a real step after the first and the
identity at the first step and at padding (whose e_t = 1), so the forward vector entering
step 0 is the initial distribution `delta`. State probabilities per step come back in the
same (L, K, B) layout (`time_order` gives (T, K)); Viterbi paths in time order. Each step of
a scan works on (K, B) arrays whose rows run over the blocks, so the small matrix-vector
products are unrolled sums of K rows and fuse with the elementwise work around them.

Two implementations of the same quantities:

- scaled (Rabiner's scaling; Zucchini & MacDonald 2009, sec. 3.2): each forward vector is
  normalised to sum to 1 and the log-likelihood is the sum of the logs of the normalisers.
  With several blocks, the products of the L matrices of every block are formed together (a
  scan of length L over a batch of B blocks), the forward vectors at block starts follow from
  a scan of length B over those products, and a last scan of length L fills in every step,
  again across all blocks at once: 3 scans of about sqrt(T) steps instead of one of T steps.
  Backward vectors likewise, normalised to sum to 1 (posteriors and transition counts do not
  depend on their scale). State probabilities and expected transition counts then follow
  from elementwise work over all steps and one contraction (no (T, K, K) array is formed).
- log-space: log-sum-exp recursions over the T steps, the reference implementation.

Viterbi runs in log space (max-plus) with a backtracking scan.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from ..._engine.data import bucket

UNROLL = 1
BLOCK_FROM = 512  # sequences longer than this are cut into blocks
UNROLL_STATES = 8  # up to this many states, matrix-vector products are unrolled sums


def grid_shape(length: int) -> tuple[int, int]:
    """(B, L): blocks and block length for a sequence of `length` steps (lengths are
    bucketed, so that sequences of similar length share one compiled program)."""
    target = bucket(length)
    if target <= BLOCK_FROM:
        return 1, target
    block = 1 << round(math.log2(math.sqrt(target)))
    return -(-target // block), block


def time_order(a):
    """(L, K, B) in grid layout -> (B L, K) in time order."""
    L, K, B = a.shape
    return jnp.transpose(a, (2, 0, 1)).reshape(B * L, K)


def grid_order(a, L: int, B: int):
    """(B L, K) in time order -> (L, K, B) grid layout."""
    return jnp.transpose(a.reshape(B, L, a.shape[1]), (1, 2, 0))


def _left(a, G):
    """(a' G)' for columns a (K, B): out[k, b] = sum_i a[i, b] G[i, k]."""
    K = G.shape[0]
    if K > UNROLL_STATES:
        return G.T @ a
    return sum(a[i][None, :] * G[i][:, None] for i in range(K))


def _right(G, v):
    """G v for columns v (K, B): out[i, b] = sum_k G[i, k] v[k, b]."""
    K = G.shape[0]
    if K > UNROLL_STATES:
        return G @ v
    return sum(G[:, k][:, None] * v[k][None, :] for k in range(K))


def _colsum(a):
    """Sum over the leading (state) axis of a (K, B) array: unrolled for few states, so that
    it fuses with the elementwise work around it."""
    if a.shape[0] > UNROLL_STATES:
        return jnp.sum(a, axis=0)
    return sum((a[i] for i in range(1, a.shape[0])), a[0])


def _emission_scaled(log_e, valid):
    top = jnp.where(valid > 0, jnp.max(log_e, axis=1), 0.0)
    e = jnp.where(valid[:, None, :] > 0, jnp.exp(log_e - top[:, None, :]), 1.0)
    return e, top


def _transitions(valid):
    """Steps that take a transition: real steps other than the first."""
    first = jnp.zeros(valid.shape, dtype=bool).at[0, 0].set(True)
    return (valid > 0) & ~first


def _block_products(e, trans, G, unroll=UNROLL):
    """Normalised products of each block's step matrices, P[i, j, b], and their log scales."""
    _, K, B = e.shape
    eye = jnp.broadcast_to(jnp.eye(K, dtype=e.dtype)[:, :, None], (K, K, B))

    def step(carry, inp):
        P, s = carry
        et, tt = inp
        if K > UNROLL_STATES:
            PG = jnp.einsum("ijb,jk->ikb", P, G)
        else:  # P G as a sum of K broadcast products: one fused elementwise loop
            PG = sum(P[:, j, None, :] * G[j][None, :, None] for j in range(K))
        P = jnp.where(tt[None, None, :], PG, P) * et[None, :, :]
        flat = P.reshape(K * K, B)
        if K > UNROLL_STATES:
            top = jnp.max(flat, axis=0)
        else:
            top = flat[0]
            for r in range(1, K * K):
                top = jnp.maximum(top, flat[r])
        return (P / top[None, None, :], s + jnp.log(top)), None

    (P, s), _ = jax.lax.scan(step, (eye, jnp.zeros(B, dtype=e.dtype)), (e, trans), unroll=unroll)
    return jnp.transpose(P, (2, 0, 1)), s  # (B, K, K)


def _block_starts(P, delta, unroll=UNROLL):
    """Normalised forward vector entering each block (B, K), and each block's log normaliser."""

    def step(v, Pb):
        w = v @ Pb
        total = jnp.sum(w)
        return w / total, (v, jnp.log(total))

    _, (V, log_total) = jax.lax.scan(step, delta, P, unroll=unroll)
    return V, log_total


def loglik_scaled(log_e, valid, G, delta):
    """log p(x_1..T) by the scaled forward algorithm (differentiable)."""
    e, top = _emission_scaled(log_e, valid)
    trans = _transitions(valid)
    if e.shape[2] > 1:
        P, s = _block_products(e, trans, G, unroll=1)
        _, log_total = _block_starts(P, delta, unroll=1)
        return jnp.sum(s + log_total) + jnp.sum(top)

    def step(a, inp):
        et, tt = inp
        u = jnp.where(tt, a @ G, a) * et
        c = jnp.sum(u)
        return u / c, jnp.log(c)

    _, log_c = jax.lax.scan(step, delta, (e[:, :, 0], trans[:, 0]))
    return jnp.sum(log_c) + jnp.sum(top)


def posteriors_scaled(log_e, valid, G, delta):
    """(log-likelihood, gamma (L, K, B), transition counts (K, K)) by scaled forward-backward."""
    _, K, B = log_e.shape
    e, top = _emission_scaled(log_e, valid)
    trans = _transitions(valid)
    if B > 1:  # the vectors at block boundaries, from the products of each block's matrices
        P, _ = _block_products(e, trans, G)
        V, _ = _block_starts(P, delta)

        def back_block(w, Pb):
            u = Pb @ w
            return u / jnp.sum(u), w

        _, W = jax.lax.scan(back_block, jnp.full(K, 1.0 / K, dtype=e.dtype), P, reverse=True)
        V, W, unroll = V.T, W.T, UNROLL
    else:
        V, W, unroll = delta[:, None], jnp.full((K, 1), 1.0 / K, dtype=e.dtype), 1

    def forward(a, inp):
        et, tt = inp
        u = jnp.where(tt[None, :], _left(a, G), a) * et
        c = _colsum(u)
        return u / c[None, :], (u / c[None, :], jnp.log(c))

    # A: forward vectors; before: the one of the step before (at a block start, the previous
    # block's last, which is what the scan carries in: V)
    _, (A, log_c) = jax.lax.scan(forward, V, (e, trans), unroll=unroll)
    before = jnp.concatenate([V[None], A[:-1]], axis=0)

    def backward(b, inp):
        et, tt = inp
        v = et * b
        u = jnp.where(tt[None, :], _right(G, v), v)
        return u / _colsum(u)[None, :], b

    _, Bk = jax.lax.scan(backward, W, (e, trans), reverse=True, unroll=unroll)
    # everything else is elementwise over all steps at once (and one contraction)
    gamma = A * Bk
    v = e * Bk
    if K > UNROLL_STATES:
        gamma = gamma / jnp.sum(gamma, axis=1, keepdims=True)
        d = jnp.sum(jnp.einsum("lib,ik->lkb", before, G) * v, axis=1)
        scale = jnp.where(trans & (d > 0), 1.0 / jnp.where(d > 0, d, 1.0), 0.0)
        counts = jnp.einsum("lib,ljb->ij", before * scale[:, None, :], v)
    else:  # unrolled over the few states: fused elementwise passes and K^2 reductions
        gamma = gamma / sum(gamma[:, i, :] for i in range(K))[:, None, :]
        pred = sum(before[:, i, None, :] * G[i][None, :, None] for i in range(K))
        d = sum(pred[:, k, :] * v[:, k, :] for k in range(K))
        scale = jnp.where(trans & (d > 0), 1.0 / jnp.where(d > 0, d, 1.0), 0.0)
        weighted = before * scale[:, None, :]
        # one fused reduction over a broadcast product (K^2 separate sums took 7x longer)
        counts = jnp.sum(weighted[:, :, None, :] * v[:, None, :, :], axis=(0, 3))
    ll = jnp.sum(log_c) + jnp.sum(top)
    return ll, gamma, counts * G


def _log_steps(log_e, valid):
    """(T, K) log emissions in time order (0 at padding) and (T,) transition flags."""
    le = jnp.where(valid[:, None, :] > 0, log_e, 0.0)
    trans = _transitions(valid)
    return time_order(le), jnp.swapaxes(trans, 0, 1).reshape(-1)


def _log_matmul(la, logG):
    return logsumexp(la[:, None] + logG, axis=0)


def _safe_log(p):
    return jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -jnp.inf)


def loglik_log(log_e, valid, G, delta):
    """log p(x_1..T) by the forward algorithm in log space (differentiable)."""
    le, trans = _log_steps(log_e, valid)
    logG = _safe_log(G)

    def step(la, inp):
        lt, tt = inp
        la = jnp.where(tt, _log_matmul(la, logG), la) + lt
        return la, None

    la, _ = jax.lax.scan(step, _safe_log(delta), (le, trans))
    return logsumexp(la)


def posteriors_log(log_e, valid, G, delta):
    """(log-likelihood, gamma (L, B, K), transition counts (K, K)) by log-space
    forward-backward."""
    le, trans = _log_steps(log_e, valid)
    logG = _safe_log(G)

    def forward(la, inp):
        lt, tt = inp
        la = jnp.where(tt, _log_matmul(la, logG), la) + lt
        return la, la

    _, LA = jax.lax.scan(forward, _safe_log(delta), (le, trans), unroll=UNROLL)
    ll = logsumexp(LA[-1])
    K = G.shape[0]

    def backward(lb, inp):
        lt, tt = inp
        v = lt + lb
        lb_prev = jnp.where(tt, logsumexp(logG + v[None, :], axis=1), v)
        return lb_prev, lb

    _, LB = jax.lax.scan(backward, jnp.zeros(K, dtype=le.dtype), (le, trans), reverse=True)
    gamma = jnp.exp(LA + LB - ll)
    prev = jnp.concatenate([jnp.full((1, K), -jnp.inf, dtype=le.dtype), LA[:-1]])
    terms = prev[:, :, None] + logG[None] + (le + LB)[:, None, :] - ll
    terms = jnp.where(trans[:, None, None], terms, -jnp.inf)
    xi = jnp.exp(logsumexp(terms, axis=0))
    return ll, grid_order(gamma, log_e.shape[0], log_e.shape[2]), xi


def viterbi(log_e, valid, G, delta):
    """The most probable state path (T,) in time order (padding repeats the last state)."""
    le, trans = _log_steps(log_e, valid)
    logG = _safe_log(G)
    K = G.shape[0]
    same = jnp.arange(K)

    def forward(ld, inp):
        lt, tt = inp
        scores = ld[:, None] + logG
        best = jnp.argmax(scores, axis=0)
        ld_new = jnp.where(tt, jnp.max(scores, axis=0), ld) + lt
        return ld_new, jnp.where(tt, best, same)

    ld, ptr = jax.lax.scan(forward, _safe_log(delta), (le, trans), unroll=UNROLL)
    last = jnp.argmax(ld)

    def back(state, p):
        return p[state], state

    _, path = jax.lax.scan(back, last, ptr, reverse=True)
    return path
