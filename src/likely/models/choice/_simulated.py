"""The simulated log-likelihood of the mixed logit and its exact derivatives, in one kernel.

Person n makes choices t = 1..T_n; with coefficients beta_nr = b(theta, z_nr) at draw r,

    L_n = log (1/R) sum_r prod_t P_nt,chosen(beta_nr)          (the panel product inside)

Exact derivatives without differentiating through the (people x draws x alternatives)
arrays: with s_r the conditional-logit log-likelihood of a person at draw r, w_r its
posterior weight softmax_r(s_r), g_r and H_r its gradient and Hessian in beta (closed forms)
and B_r = d beta_r / d theta,

    grad L_n = sum_r w_r B_r' g_r
    hess L_n = sum_r w_r (B_r' H_r B_r + sum_k g_rk d2 beta_rk / d theta2 + G_r G_r')
               - grad L_n grad L_n'                                     (G_r = B_r' g_r)

With e = mean + L z and b_i = h(e_i) (h = identity or exp), B_r is sparse and known: row i
is h'(e_i) times 1 (for mean i) or z_l (for L_il), so every block of the Hessian is a weighted
sum over (person, draw) pairs of products of (people, draws) arrays, which XLA fuses into
single passes; forming B_r'H_rB_r pair by pair moved 1.4x more memory and ran 1.6x slower.
The kernel loops over chunks of people so memory stays bounded. Alternatives are the leading
axis of the chunk arrays: every per-alternative step is then an elementwise operation on
(people, draws, situations) arrays (reductions over a short minor axis ran 2-3x slower).
Tests check value, gradient, Hessian and scores against `jax.hessian` of the plain
simulated log-likelihood (`person_loglik`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..._engine.device import to_device
from ..._engine.problem import Problem

_CHUNK_ELEMENTS = 1 << 17  # people x draws x situations per chunk (intermediates fit in cache)
_SWITCH = 1.0  # BHHH Newton decrement below which the exact Hessian takes over
_MARQUARDT = 0.3  # BHHH steps use B + 0.3 diag(B): shorter first steps from poor starts


@dataclass(frozen=True)
class MixedSpec:
    """Static description of the coefficients (hashable: a jit argument)."""

    n_coef: int
    fixed_idx: tuple[int, ...]
    random_idx: tuple[int, ...]
    lognormal_flags: tuple[bool, ...]
    correlated: bool

    @property
    def d(self) -> int:
        return len(self.random_idx)

    @property
    def n_spread(self) -> int:
        return self.d * (self.d + 1) // 2 if self.correlated else self.d

    @property
    def spread_name(self) -> str:
        return "chol" if self.correlated else "sd"

    def coefs(self, theta_r: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
        """Random coefficients (d,) from theta_r = (means, spread) and one normal draw z (d,)."""
        d = self.d
        mu, spread = theta_r[:d], theta_r[d:]
        if self.correlated:
            rows, cols = np.tril_indices(d)
            L = jnp.zeros((d, d), dtype=theta_r.dtype).at[rows, cols].set(spread)
            e = mu + L @ z
        else:
            e = mu + spread * z
        parts = [jnp.exp(e[i]) if ln else e[i] for i, ln in enumerate(self.lognormal_flags)]
        return jnp.stack(parts)

    def features(self) -> tuple[tuple[tuple[int, int | None], ...], ...]:
        """For each random coefficient i, the parameters it depends on: (index in theta_r, l)
        with d b_i / d theta_r[index] = h'(e_i) * (1 if l is None else z_l), where
        e = mean + L z and b_i = h(e_i) (h = identity or exp)."""
        d = self.d
        out = []
        for i in range(d):
            feats: list[tuple[int, int | None]] = [(i, None)]
            if self.correlated:
                rows, cols = np.tril_indices(d)
                feats += [(d + m, int(c)) for m, (r, c) in enumerate(zip(rows, cols)) if r == i]
            else:
                feats.append((d + i, i))
            out.append(tuple(feats))
        return tuple(out)

    def theta(self, beta: jnp.ndarray, spread: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(fixed coefficients, (random means, spread)) from the engine's parameters."""
        fixed = beta[jnp.asarray(self.fixed_idx, dtype=jnp.int32)] if self.fixed_idx else beta[:0]
        rand = beta[jnp.asarray(self.random_idx, dtype=jnp.int32)]
        return fixed, jnp.concatenate([rand, spread])

    def u_positions(self) -> np.ndarray:
        """Position in the engine's vector (beta, spread) of each entry of (fixed, means, spread)."""
        spread = [self.n_coef + i for i in range(self.n_spread)]
        return np.asarray([*self.fixed_idx, *self.random_idx, *spread], dtype=np.int64)


def draw_coefs(spec: MixedSpec, theta_r, Z):
    """beta_r for draws Z (..., d) -> (..., d)."""
    flat = Z.reshape(-1, spec.d)
    out = jax.vmap(lambda z: spec.coefs(theta_r, z))(flat)
    return out.reshape(Z.shape)


def _chunk(spec: MixedSpec, theta_f, theta_r, batch, hessian: bool):
    """(value, gradient, Hessian or None, per-person scores) of one chunk, in theta order.

    batch: Xf (J, n, T, Kf), Xr (J, n, T, d), Y and amask (J, n, T), Z (n, R, d), wt (n,).
    """
    Xf, Xr, Y, amask, Z, wt = (batch[k] for k in ("Xf", "Xr", "Y", "amask", "Z", "wt"))
    J = Xr.shape[0]
    d, Kf, q_r = spec.d, len(spec.fixed_idx), spec.d + spec.n_spread
    feats = spec.features()
    beta_r = draw_coefs(spec, theta_r, Z)  # (n, R, d)
    # d b_i / d theta_r[a] = h'_i * mult(a): h' = 1 (normal) or b_i (lognormal)
    hp = [beta_r[..., i] if ln else None for i, ln in enumerate(spec.lognormal_flags)]

    def mult(l):  # (n, R) or None for 1
        return None if l is None else Z[..., l]

    def times(*factors):
        out = None
        for f in factors:
            if f is not None:
                out = f if out is None else out * f
        return out

    br = [beta_r[:, :, None, i] for i in range(d)]
    V = []  # utilities (n, R, T) of each alternative slot
    for j in range(J):
        v = (Xf[j] @ theta_f)[:, None, :] if Kf else jnp.zeros(())
        for i in range(d):
            v = v + Xr[j, :, None, :, i] * br[i]
        V.append(v)
    Vm = [jnp.where(amask[j][:, None], V[j], -jnp.inf) for j in range(J)]
    top = Vm[0]
    for j in range(1, J):
        top = jnp.maximum(top, Vm[j])
    E = [jnp.exp(v - top) for v in Vm]
    tot = sum(E[1:], E[0])
    inv = 1.0 / tot
    P = [e * inv for e in E]
    vy = sum((Y[j][:, None] * V[j] for j in range(1, J)), Y[0][:, None] * V[0])
    s = jnp.sum(vy - top - jnp.log(tot), axis=-1)  # (n, R): log prod_t P(chosen)
    lse = logsumexp(s, axis=1)
    value = jnp.sum(wt * (lse - jnp.log(s.shape[1])))
    w = jnp.exp(s - lse[:, None])  # posterior weights of the draws

    def mean_over_alts(cols):  # sum_j P_j cols_j, (n, R, T)
        return sum((P[j] * cols[j][:, None] for j in range(1, J)), P[0] * cols[0][:, None])

    xr = [mean_over_alts([Xr[j, ..., i] for j in range(J)]) for i in range(d)]
    yr = jnp.einsum("jnt,jntd->nd", Y, Xr)
    g_r = [yr[:, None, i] - jnp.sum(xr[i], axis=-1) for i in range(d)]  # (n, R) each
    G_r: list[Any] = [None] * q_r
    for i in range(d):
        for a, l in feats[i]:
            G_r[a] = times(g_r[i], hp[i], mult(l))
    if Kf:
        xf = [mean_over_alts([Xf[j, ..., k] for j in range(J)]) for k in range(Kf)]
        yf = jnp.einsum("jnt,jntk->nk", Y, Xf)
        G = [yf[:, None, k] - jnp.sum(xf[k], axis=-1) for k in range(Kf)] + G_r
    else:
        G = G_r
    Gs = jnp.stack(G, axis=-1)  # (n, R, q)
    scores = jnp.sum(w[..., None] * Gs, axis=1)
    grad = wt @ scores
    if not hessian:
        return value, grad, None, scores

    ww = wt[:, None] * w
    outer = jnp.einsum("nrp,nrq->pq", Gs * ww[..., None], Gs) - jnp.einsum(
        "np,nq->pq", scores * wt[:, None], scores
    )

    def centred_cov(a, b, ma, mb):  # sum_t [sum_j P_j a_j b_j - ma mb], (n, R)
        return jnp.sum(mean_over_alts([a[j] * b[j] for j in range(J)]) - ma * mb, axis=-1)

    # information of the random block: sum ww Jb' C Jb - sum ww g_i d2 b_i, entry by entry
    # (Jb_i = h'_i (1 or z_l) on the parameters coefficient i depends on)
    xr_cols = [[Xr[j, ..., i] for j in range(J)] for i in range(d)]
    terms: dict[tuple[int, int], list] = {}  # (a, b), a >= b -> (n, R) summands
    for i in range(d):
        for e in range(i + 1):
            D = times(ww, centred_cov(xr_cols[i], xr_cols[e], xr[i], xr[e]), hp[i], hp[e])
            for a, la in feats[i]:
                for b, lb in feats[e]:
                    key = (max(a, b), min(a, b))
                    if i == e and a < b:
                        continue  # the symmetric twin comes from (b, a)
                    terms.setdefault(key, []).append(times(D, mult(la), mult(lb)))
        if spec.lognormal_flags[i]:  # d2 b_i = b_i (d e_i)(d e_i)'
            S = -(ww * g_r[i] * beta_r[..., i])
            for a, la in feats[i]:
                for b, lb in feats[i]:
                    if a >= b:
                        terms.setdefault((a, b), []).append(times(S, mult(la), mult(lb)))
    rr = jnp.zeros((q_r, q_r), dtype=value.dtype)
    for (a, b), parts in terms.items():
        total = sum(jnp.sum(x) for x in parts)
        rr = rr.at[a, b].add(total)
        if a != b:
            rr = rr.at[b, a].add(total)
    if not Kf:
        return value, grad, outer - rr, scores
    xf_cols = [[Xf[j, ..., k] for j in range(J)] for k in range(Kf)]
    fr = jnp.zeros((Kf, q_r), dtype=value.dtype)
    for k in range(Kf):
        for i in range(d):
            D = times(ww, centred_cov(xf_cols[k], xr_cols[i], xf[k], xr[i]), hp[i])
            for a, l in feats[i]:
                fr = fr.at[k, a].add(jnp.sum(times(D, mult(l))))
    xfs = jnp.stack(xf, axis=-1)  # (n, R, T, Kf)
    ff = -jnp.einsum("nrtk,nrtl->kl", xfs * ww[..., None, None], xfs)
    for j in range(J):
        Pw = jnp.einsum("nr,nrt->nt", ww, P[j])
        ff = ff + jnp.einsum("ntk,ntl->kl", Xf[j] * Pw[..., None], Xf[j])
    info = jnp.block([[ff, fr], [fr.T, rr]])
    return value, grad, outer - info, scores


@partial(jax.jit, static_argnums=(0, 4))
def _sum_chunks(spec: MixedSpec, theta_f, theta_r, batches, hessian: bool):
    q = len(spec.fixed_idx) + spec.d + spec.n_spread

    def step(carry, batch):
        v, g, H, S = carry
        cv, cg, cH, cs = _chunk(spec, theta_f, theta_r, batch, hessian)
        if hessian:
            H = H + cH
        else:  # the outer products of the people's scores (BHHH)
            S = S + jnp.einsum("n,np,nq->pq", batch["wt"], cs, cs)
        return (v + cv, g + cg, H, S), None

    zero = jnp.zeros((q, q))
    (v, g, H, S), _ = jax.lax.scan(step, (jnp.zeros(()), jnp.zeros(q), zero, zero), batches)
    return v, g, H, S


@partial(jax.jit, static_argnums=(0,))
def _scores_chunks(spec: MixedSpec, theta_f, theta_r, batches):
    return jax.lax.map(lambda b: _chunk(spec, theta_f, theta_r, b, False)[3], batches)


def split_people(data: dict, spec: MixedSpec, weights: np.ndarray) -> dict[str, jnp.ndarray]:
    """Person arrays X (N, T, J, K), Y, amask (N, T, J), Z (N, R, d) to chunked jax arrays
    (chunks, J, people per chunk, T, ...) with padded people of weight 0."""
    X = np.asarray(data["X"])
    N, T = X.shape[:2]
    R = data["Z"].shape[1]
    size = max(1, min(N, _CHUNK_ELEMENTS // max(1, R * T)))
    n_chunks = -(-N // size)
    pad = n_chunks * size - N

    def chunked(v: np.ndarray, fill_first: float | None = None, alts_first: bool = True):
        if pad:
            filler = np.zeros((pad, *v.shape[1:]), dtype=v.dtype)
            if fill_first is not None:  # a padded person: one dummy alternative, chosen
                filler[:, :, 0] = fill_first
            v = np.concatenate([v, filler])
        v = v.reshape(n_chunks, size, *v.shape[1:])
        if alts_first:  # (chunks, size, T, J, ...) -> (chunks, J, size, T, ...)
            v = np.moveaxis(v, 3, 1)
        return jnp.asarray(np.ascontiguousarray(v))

    return {
        "Xf": chunked(X[..., list(spec.fixed_idx)]),
        "Xr": chunked(X[..., list(spec.random_idx)]),
        "Y": chunked(np.asarray(data["Y"], dtype=float), 1.0),
        "amask": chunked(np.asarray(data["amask"], dtype=bool), True),
        "Z": chunked(np.asarray(data["Z"], dtype=float), alts_first=False),
        "wt": chunked(np.asarray(weights, dtype=float), alts_first=False),
    }


class MixedDerivatives:
    """Value, gradient, Hessian and per-person scores of the simulated log-likelihood.

    Far from the maximum (where the simulated log-likelihood of a mixed logit is often not
    concave, e.g. at small standard deviations) Newton's step uses the BHHH matrix B (the sum
    of outer products of the people's scores: positive definite, and a third of the cost),
    Marquardt-damped to B + 0.3 diag(B) (measured: fewer rejected first steps); once
    the BHHH Newton decrement g'B^-1 g falls below 1 (within about a unit of log-likelihood of
    the maximum) every later call returns the exact Hessian, which then gives quadratic
    convergence and the observed information at the estimate. `exact = True` forces it.
    """

    def __init__(self, problem: Problem, data: dict, weights: np.ndarray, spec: MixedSpec) -> None:
        self.problem = problem
        self.spec = spec
        self.n = int(np.asarray(data["X"]).shape[0])
        self.batches = split_people(data, spec, weights)
        self.pos = spec.u_positions()
        self.scale = float(np.sum(weights))
        self.exact = False
        self.last_exact = False

    def _theta(self, u: np.ndarray):
        ju = to_device(u)
        return self.spec.theta(ju[: self.spec.n_coef], ju[self.spec.n_coef :])

    def _to_u(self, g, H) -> tuple[np.ndarray, np.ndarray]:
        size = self.pos.size
        gu, Hu = np.zeros(size), np.zeros((size, size))
        gu[self.pos] = np.asarray(g)
        Hu[np.ix_(self.pos, self.pos)] = np.asarray(H)
        return gu, Hu

    def value_grad_hess(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        tf, tr = self._theta(u)
        if not self.exact:
            v, g, _, B = _sum_chunks(self.spec, tf, tr, self.batches, False)
            g_np, B_np = np.asarray(g), np.asarray(B)
            try:
                decrement = float(g_np @ np.linalg.solve(B_np, g_np))
            except np.linalg.LinAlgError:
                decrement = np.inf
            if not (np.isfinite(decrement) and decrement < _SWITCH):
                self.last_exact = False
                gu, Bu = self._to_u(g_np, B_np + _MARQUARDT * np.diag(np.diag(B_np)))
                s = self.scale
                return -float(v) / s, -gu / s, Bu / s
            self.exact = True
        v, g, H, _ = _sum_chunks(self.spec, tf, tr, self.batches, True)
        self.last_exact = True
        gu, Hu = self._to_u(g, H)
        s = self.scale
        return -float(v) / s, -gu / s, -Hu / s

    def loglik(self, u: np.ndarray) -> float:
        tf, tr = self._theta(u)
        return float(_sum_chunks(self.spec, tf, tr, self.batches, False)[0])

    def scores(self, u: np.ndarray) -> np.ndarray:
        tf, tr = self._theta(u)
        per = np.asarray(_scores_chunks(self.spec, tf, tr, self.batches))
        per = per.reshape(-1, per.shape[-1])[: self.n]
        out = np.zeros((self.n, self.pos.size))
        out[:, self.pos] = per
        return out


def person_loglik(spec: MixedSpec, theta_f, theta_r, data) -> jnp.ndarray:
    """Simulated log-likelihood per person (N,) in plain jax: the reference the kernel is
    tested against, and the model's `logpdf`. data: X (N, T, J, K), Y, amask, Z."""
    X, Y, amask, Z = data["X"], data["Y"], data["amask"], data["Z"]
    beta_r = draw_coefs(spec, theta_r, Z)  # (N, R, d)
    Xf, Xr = X[..., list(spec.fixed_idx)], X[..., list(spec.random_idx)]
    V = jnp.einsum("ntjk,k->ntj", Xf, theta_f)[:, None] + jnp.einsum("ntjd,nrd->nrtj", Xr, beta_r)
    lse = logsumexp(jnp.where(amask[:, None], V, -jnp.inf), axis=-1)
    s = jnp.sum(jnp.sum(Y[:, None] * V, axis=-1) - lse, axis=-1)  # (N, R)
    return logsumexp(s, axis=1) - jnp.log(s.shape[1])
