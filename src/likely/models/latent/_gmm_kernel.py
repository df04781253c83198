"""The E-step of a Gaussian mixture as one compiled pass over the data.

Each component j is whitened by the inverse of its Cholesky factor L_j (Sigma_j = L_j L_j'):
z_ij = L_j^-1 (x_i - mu_j), so the Mahalanobis distance is |z_ij|^2 and all k components come
from one matmul x @ [L_1^-T ... L_k^-T]. The pass runs over chunks of rows (`lax.scan`), so
the (n, k, d) whitened values never leave the cache, and returns the log-likelihood and the
responsibility-weighted moments of z: mass_j, sum_i r_ij z_ij and sum_i r_ij z_ij z_ij'. The
M-step maps them back (mu_j += L_j m1_j / mass_j, scatter = L_j (M2 - m1 m1'/mass) L_j'):
moments about the current mean, so the update is free of the cancellation of raw moments.
Several starts (lanes) are a leading batch axis (vmap).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

CHUNK = 1024
_LOG_2PI = math.log(2 * math.pi)


def whitening(covs: np.ndarray) -> tuple[jax.Array, jax.Array, np.ndarray]:
    """Cholesky factors L (lanes, k, d, d), L^-T, and which lanes are positive definite."""
    lanes = covs.shape[0]
    d = covs.shape[-1]
    chol = np.zeros_like(covs)
    ok = np.ones(lanes, dtype=bool)
    for r in range(lanes):
        try:
            chol[r] = np.linalg.cholesky(covs[r])
        except np.linalg.LinAlgError:
            ok[r] = False
            chol[r] = np.eye(d)
    inv = np.linalg.inv(chol)
    return jnp.asarray(chol), jnp.asarray(np.swapaxes(inv, -1, -2)), ok


def _lane(xc, wc, weights, mu, inv_t, chol):
    k, d = mu.shape
    acat = jnp.transpose(inv_t, (1, 0, 2)).reshape(d, k * d)
    b = jnp.einsum("kd,kde->ke", mu, inv_t).reshape(k * d)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
    c = jnp.log(weights) - 0.5 * logdet - 0.5 * d * _LOG_2PI

    def body(acc, chunk):
        x, wt = chunk
        z = (x @ acat - b).reshape(x.shape[0], k, d)
        lp = -0.5 * jnp.sum(z * z, axis=2) + c
        top = jnp.max(lp, axis=1, keepdims=True)
        e = jnp.exp(lp - top)
        s = jnp.sum(e, axis=1, keepdims=True)
        r = e / s * wt[:, None]
        ll = jnp.sum(jnp.where(wt > 0, wt * (jnp.log(s[:, 0]) + top[:, 0]), 0.0))
        ll0, m0, s1, s2 = acc
        return (
            ll0 + ll,
            m0 + jnp.sum(r, axis=0),
            s1 + jnp.einsum("ck,ckd->kd", r, z),
            s2 + jnp.einsum("ck,ckd,cke->kde", r, z, z),
        ), None

    init = (jnp.zeros(()), jnp.zeros(k), jnp.zeros((k, d)), jnp.zeros((k, d, d)))
    out, _ = jax.lax.scan(body, init, (xc, wc))
    return out


@jax.jit
def em_statistics(xc, wc, weights, mu, inv_t, chol):
    """Per lane: log-likelihood, mass (k,), sum r z (k, d), sum r z z' (k, d, d)."""
    if weights.shape[0] == 1:  # one start: no batch axis in the kernel
        out = _lane(xc, wc, weights[0], mu[0], inv_t[0], chol[0])
        return tuple(a[None] for a in out)
    return jax.vmap(_lane, in_axes=(None, None, 0, 0, 0, 0))(xc, wc, weights, mu, inv_t, chol)
