"""Halton draws for simulated maximum likelihood.

Dimension k of the random coefficients uses the radical-inverse (van der Corput) sequence in
the k-th prime base (2, 3, 5, ...); standard normal draws are its normal quantiles.

Two ways to give each person R points:

- "shifted" (default): the points `drop`, ..., `drop` + R - 1 of the sequence, shifted for
  each person by a uniform vector drawn from `seed` and wrapped into [0, 1) (a
  Cranley-Patterson rotation). Every person gets an equally well spread set, and the sets
  differ between people, which removes the correlation across people that consecutive
  segments of one sequence carry.
- "sequential": person n takes the consecutive points `drop` + n R, ..., `drop` + (n+1) R - 1
  of one long sequence (Train 2009, ch. 9; the draws of xlogit and of many packages, so that
  with drop=100 the simulated likelihood equals xlogit's).
"""

from __future__ import annotations

import numpy as np

from ..._engine.errors import ModelError

SCHEMES = ("shifted", "sequential")


def primes(count: int) -> list[int]:
    out: list[int] = []
    k = 2
    while len(out) < count:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 1
    return out


def radical_inverse(index: np.ndarray, base: int) -> np.ndarray:
    """The van der Corput point of each (non-negative integer) index in `base`."""
    i = np.asarray(index, dtype=np.int64)
    top = int(i.max(initial=0))
    if top < (1 << 24):  # the whole sequence up to the largest index, then a lookup
        return van_der_corput(top + 1, base)[i]
    i = i.copy()
    out = np.zeros(i.shape)
    f = 1.0 / base
    while np.any(i > 0):
        out += f * (i % base)
        i //= base
        f /= base
    return out


def van_der_corput(n: int, base: int) -> np.ndarray:
    """Points 0..n-1 of the sequence, by its self-similarity: the block of indices
    k b^t + i (i < b^t) is the first block shifted by k / b^(t+1). O(n) memory copies."""
    seq = np.zeros(max(n, 1))
    size, scale = 1, 1.0 / base
    while size < n:
        for k in range(1, base):
            start = k * size
            if start >= n:
                break
            stop = min(start + size, n)
            seq[start:stop] = seq[: stop - start] + k * scale
        size *= base
        scale /= base
    return seq[:n]


def halton_normal(
    n_people: int,
    n_draws: int,
    dims: int,
    *,
    scheme: str = "shifted",
    seed: int = 0,
    drop: int = 100,
) -> np.ndarray:
    """Standard normal Halton draws, shape (n_people, n_draws, dims)."""
    from scipy.special import ndtri

    if scheme not in SCHEMES:
        raise ModelError(f"halton must be one of {SCHEMES}, got {scheme!r}")
    if n_draws < 1:
        raise ModelError(f"draws must be a positive integer, got {n_draws}")
    bases = primes(dims)
    out = np.empty((n_people, n_draws, dims))
    if scheme == "sequential":
        index = drop + np.arange(n_people * n_draws)
        for k, b in enumerate(bases):
            out[:, :, k] = radical_inverse(index, b).reshape(n_people, n_draws)
    else:
        shift = np.random.default_rng(seed).uniform(size=(n_people, dims))
        index = drop + np.arange(n_draws)
        for k, b in enumerate(bases):
            out[:, :, k] = np.mod(radical_inverse(index, b)[None, :] + shift[:, k, None], 1.0)
    np.clip(out, 1e-15, 1 - 1e-15, out=out)
    return ndtri(out)
