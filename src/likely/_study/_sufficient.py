"""Full exponential families reduced to their mean sufficient statistics.

The log-likelihood of n observations from a full exponential family depends on the data only
through the means of a few statistics T(x) (for the Gamma: mean x and mean log x). A study
or a bootstrap of such a family computes those means once per replicate (one pass over the
data, in numpy; a bootstrap's weighted means are one matrix product) and then runs Newton on
a handful of numbers per replicate instead of on n rows.

Each entry gives the statistics and the mean log-likelihood as a function of their means; a
test checks every entry against the family's own `logpdf`. Families are matched by exact type,
so a user's subclass with another density is never reduced by mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlog1py, xlogy
from scipy.special import gammaln as np_gammaln

from .._engine.model import AbstractModel
from ..distributions import _continuous as cont
from ..distributions import _discrete as disc
from ..distributions._base import STIRLING_FROM, mean_log, stirling_correction

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

Stats = Callable[[AbstractModel, np.ndarray, float], list[np.ndarray]]
MeanLoglik = Callable[[AbstractModel, dict[str, Any], Any], Any]
Estimate = Callable[[AbstractModel, np.ndarray], dict[str, np.ndarray]]
Information = Callable[[AbstractModel, dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class _Family:
    stats: Stats  # T(x) given a centre c
    mean_loglik: MeanLoglik  # the mean log-likelihood from the means of T (jax)
    mle: Estimate  # the closed-form MLE from the means of T, vectorised (numpy): start values
    centred: bool = False  # T is centred at c, and c is kept as the last statistic
    means: Callable[[np.ndarray], list[np.ndarray]] | None = None  # unweighted means of T
    # the Fisher information of one observation on the natural scale, (R, k, k) in the order
    # of param_spec, vectorised (numpy); given where `mle` is the exact MLE, not a start
    information: Information | None = None


def gammaln(x):
    """log Gamma(x) for x > 0: the recurrence up to x + 10 and Stirling's series there
    (Bernoulli terms through B_12; error < 1e-15 absolute for x + 10 >= 10).

    Elementwise arithmetic only, so that it and its autodiff derivatives (digamma,
    trigamma) are cheap in XLA, whose own polygamma costs about 1 microsecond a value."""
    small = x < STIRLING_FROM
    z = jnp.where(small, x + STIRLING_FROM, x)
    xs = jnp.where(small, x, 1.0)  # the branch not taken gets a safe input, for gradients
    shift = jnp.log(jnp.prod(jnp.stack([xs + i for i in range(int(STIRLING_FROM))]), axis=0))
    stirling = (z - 0.5) * jnp.log(z) - z + _HALF_LOG_2PI + stirling_correction(z)
    return stirling - jnp.where(small, shift, 0.0)


def _normal_mean_loglik(params, t):
    # t = (mean(x - c), mean((x - c)^2), c): E(x - mu)^2 without cancellation for |mu| >> sigma
    d = params["mu"] - t[..., 2]
    s2 = t[..., 1] - 2.0 * d * t[..., 0] + d * d
    sigma = params["sigma"]
    return -0.5 * s2 / (sigma * sigma) - jnp.log(sigma) - _HALF_LOG_2PI


def _log_choose(model: Any, x: np.ndarray) -> np.ndarray:
    n = float(model.n)
    return np_gammaln(n + 1.0) - np_gammaln(x + 1.0) - np_gammaln(n - x + 1.0)


def _trigamma(x: np.ndarray) -> np.ndarray:
    """trigamma(x) for x > 0, vectorised: the recurrence until every x is >= 10 (the same
    number of steps in every row: no masks), then the asymptotic series through the z^-11
    term (error < 1e-12 relative)."""
    x = np.asarray(x, dtype=float)
    steps = int(np.clip(np.ceil(10.0 - np.nanmin(x, initial=10.0)), 0, 10))  # all rows alike
    acc = np.zeros_like(x)
    z = x.copy()
    for _ in range(steps):  # psi'(z) = 1/z^2 + psi'(z + 1), rows already >= 10 included
        acc += 1.0 / (z * z)
        z += 1.0
    r = 1.0 / (z * z)
    series = 1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * (5 / 66))))
    return acc + 1 / z + r / 2 + r / z * series


def _gamma_shape(t: np.ndarray) -> np.ndarray:
    """Solve log(a) - digamma(a) = log(mean x) - mean(log x) for every row, by Newton from
    Greenwood and Durand's approximation (within 1e-4 relative), so that two quadratically
    converging steps reach round-off; the iteration stops once every step is below 1e-7 a, which
    leaves an error below 1e-14 a (NaN where that fails in 20 steps, and where the data have
    no spread)."""
    from scipy.special import digamma

    with np.errstate(all="ignore"):
        s = np.log(t[..., 0]) - t[..., 1]
        a = np.where(s > 0, _greenwood_durand(s), 1.0)
        done = np.zeros(np.shape(a), dtype=bool)
        for _ in range(20):
            new = np.maximum(a - (np.log(a) - digamma(a) - s) / (1 / a - _trigamma(a)), a / 2)
            # Newton's error here is e' = e^2 / a to leading order (f''/2f' = -1/a for
            # f = log a - digamma a - s), so a step below 1e-7 a leaves at most 1e-14 a
            done = np.abs(new - a) <= 1e-7 * a
            a = new
            if np.all(done | (s <= 0)):
                break
    return np.where((s > 0) & done, a, np.nan)


def _greenwood_durand(s: np.ndarray) -> np.ndarray:
    """The Gamma shape MLE from s = log(mean x) - mean(log x) > 0 by Greenwood and Durand's
    rational approximations (Technometrics 2, 1960; relative error below 1e-4 for s <= 17),
    with Minka's approximation beyond (Estimating a Gamma distribution, 2002)."""
    with np.errstate(all="ignore"):
        low = (0.5000876 + 0.1648852 * s - 0.0544274 * s * s) / s
        mid = (8.898919 + 9.059950 * s + 0.9775373 * s * s) / (
            s * (17.79728 + 11.968477 * s + s * s)
        )
        minka = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    return np.where(s <= 0.5772, low, np.where(s <= 17.0, mid, minka))


def _fisher(*rows: list) -> np.ndarray:
    """Stack per-replicate entries [[..], [..]] (each (R,) or scalar) into (R, k, k)."""
    return np.stack([np.stack(np.broadcast_arrays(*r), axis=-1) for r in rows], axis=-2)


def _normal_information(p: dict[str, np.ndarray]) -> np.ndarray:
    v = 1.0 / p["sigma"] ** 2
    return _fisher([v, 0.0 * v], [0.0 * v, 2.0 * v])


def _normal_mle(t: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore"):
        s2 = t[..., 1] - t[..., 0] ** 2
        # a variance at the round-off of the (centred) second moment is 0: all values equal
        s2 = np.where(s2 > 1e-14 * t[..., 1], s2, 0.0)
        return {"mu": t[..., 2] + t[..., 0], "sigma": np.sqrt(s2)}


_TABLE: dict[type, _Family] = {
    cont.Normal: _Family(
        lambda m, x, c: [x - c, (x - c) ** 2],
        lambda m, p, t: _normal_mean_loglik(p, t),
        lambda m, t: _normal_mle(t),
        centred=True,
        information=lambda m, p: _normal_information(p),
    ),
    cont.LogNormal: _Family(
        lambda m, x, c: [np.log(x) - c, (np.log(x) - c) ** 2],
        lambda m, p, t: _normal_mean_loglik(p, t) - (t[..., 0] + t[..., 2]),
        lambda m, t: _normal_mle(t),
        centred=True,
        information=lambda m, p: _normal_information(p),
    ),
    cont.Exponential: _Family(
        lambda m, x, c: [x],
        lambda m, p, t: jnp.log(p["rate"]) - p["rate"] * t[..., 0],
        lambda m, t: {"rate": 1.0 / t[..., 0]},
        information=lambda m, p: _fisher([1.0 / p["rate"] ** 2]),
    ),
    cont.Gamma: _Family(
        lambda m, x, c: [x, np.log(x)],
        lambda m, p, t: (
            p["shape"] * jnp.log(p["rate"])
            + (p["shape"] - 1.0) * t[..., 1]
            - p["rate"] * t[..., 0]
            - gammaln(p["shape"])
        ),
        lambda m, t: {"shape": (a := _gamma_shape(t)), "rate": a / t[..., 0]},
        means=lambda x: [np.mean(x, axis=-1), mean_log(x)],
        information=lambda m, p: _fisher(
            [_trigamma(p["shape"]), -1.0 / p["rate"]],
            [-1.0 / p["rate"], p["shape"] / p["rate"] ** 2],
        ),
    ),
    cont.Beta: _Family(
        lambda m, x, c: [np.log(x), np.log1p(-x)],
        lambda m, p, t: (
            (p["a"] - 1.0) * t[..., 0]
            + (p["b"] - 1.0) * t[..., 1]
            - gammaln(p["a"])
            - gammaln(p["b"])
            + gammaln(p["a"] + p["b"])
        ),
        lambda m, t: {},  # no closed form: Newton starts from the given values
    ),
    disc.Poisson: _Family(
        lambda m, x, c: [x, np_gammaln(x + 1.0)],
        lambda m, p, t: xlogy(t[..., 0], p["rate"]) - p["rate"] - t[..., 1],
        lambda m, t: {"rate": t[..., 0]},
        information=lambda m, p: _fisher([1.0 / p["rate"]]),
    ),
    disc.Bernoulli: _Family(
        lambda m, x, c: [x],
        lambda m, p, t: xlogy(t[..., 0], p["p"]) + xlog1py(1.0 - t[..., 0], -p["p"]),
        lambda m, t: {"p": t[..., 0]},
        information=lambda m, p: _fisher([1.0 / (p["p"] * (1.0 - p["p"]))]),
    ),
    disc.Binomial: _Family(
        lambda m, x, c: [x, _log_choose(m, x)],
        lambda m, p, t: (
            xlogy(t[..., 0], p["p"]) + xlog1py(float(m.n) - t[..., 0], -p["p"]) + t[..., 1]  # type: ignore[attr-defined]
        ),
        lambda m, t: {"p": t[..., 0] / float(m.n)},  # type: ignore[attr-defined]
        information=lambda m, p: _fisher([float(m.n) / (p["p"] * (1.0 - p["p"]))]),  # type: ignore[attr-defined]
    ),
    disc.Geometric: _Family(
        lambda m, x, c: [x],
        lambda m, p, t: jnp.log(p["p"]) + xlog1py(t[..., 0] - 1.0, -p["p"]),
        lambda m, t: {"p": 1.0 / t[..., 0]},
        information=lambda m, p: _fisher([1.0 / (p["p"] ** 2 * (1.0 - p["p"]))]),
    ),
}


def reducible(model: AbstractModel) -> bool:
    return type(model) in _TABLE


@dataclass(frozen=True, repr=False)
class Reduced(AbstractModel):
    """A family whose data are rows of mean sufficient statistics (one row per replicate,
    weighted by its number of observations): `logpdf` is the mean log-likelihood."""

    base: AbstractModel

    @property
    def param_spec(self):
        return self.base.param_spec

    @property
    def name(self) -> str:
        return self.base.name

    def logpdf(self, params, data):
        return _TABLE[type(self.base)].mean_loglik(self.base, params, data)


def statistics(
    model: AbstractModel, x: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean sufficient statistics, shape (R, m), of R data sets.

    x is (R, n), one data set per row, with weights None or shared (n,); or x is shared (n,)
    with weights (R, n), frequency weights per replicate as in the bootstrap."""
    family = _TABLE[type(model)]
    stats_fn, centred = family.stats, family.centred
    c = 0.0
    with np.errstate(all="ignore"):  # bad values become NaN statistics, which callers check
        if weights is None and family.means is not None:
            return np.stack(family.means(x), axis=-1)
        if centred:  # any centre near the data will do: the mean of the first few values
            head = np.ravel(x)[:4096]
            head = np.log(head) if type(model) is cont.LogNormal else head
            head = head[np.isfinite(head)]
            c = float(np.mean(head)) if head.size else 0.0
        cols = stats_fn(model, x, c)
    if weights is None:
        means = [np.mean(t, axis=-1) for t in cols]
    elif weights.ndim == 1:
        means = [(t @ weights) / weights.sum() for t in cols]
    else:
        means = [(weights @ t) / weights.sum(axis=-1) for t in cols]
    if centred:
        means.append(np.full_like(means[0], c))
    return np.stack(means, axis=-1)


def exact_information(model: AbstractModel, est: dict[str, np.ndarray]) -> np.ndarray | None:
    """The Fisher information of one observation at the closed-form estimates `est` (R, k,
    k), or None where the family's closed form is only a start for Newton. For these full
    exponential families the observed information at the MLE equals the expected one (in any
    parametrisation: the term with the score vanishes there), so no Newton step is needed."""
    family = _TABLE.get(type(model))
    if family is None or family.information is None:
        return None
    with np.errstate(all="ignore"):
        return family.information(model, est)


def closed_form(model: AbstractModel, t: np.ndarray) -> dict[str, np.ndarray]:
    """The closed-form MLE of every row of mean statistics t (R, m); {} where there is none.
    Values may be NaN or on the boundary (all-zero counts, say)."""
    return _TABLE[type(model)].mle(model, t)
