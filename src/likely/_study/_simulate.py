"""Simulated data sets: numpy samplers for the built-in families and GLMs, on keyed streams.

Replicates are drawn in blocks of `BLOCK`; block b of sample size n has its own random stream,
derived from the user's key, the sample size and b. So the numbers do not depend on how the
work is split into chunks, and any one replicate can be drawn again on its own.

numpy's samplers are used rather than jax.random's: on CPU they are several times faster for
the gamma family (and everything built on it: Beta, Student t, negative binomial).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from .._engine.data import as_array
from .._engine.errors import DataError, LikelyError, ModelError
from .._engine.model import AbstractModel
from ..distributions import _continuous as cont
from ..distributions import _discrete as disc
from ..distributions import _multivariate as mv

BLOCK = 256
_DESIGN = ("X", "offset", "trials")  # the parts of a GLM's data that a study holds fixed

Draw = Callable[[dict[str, np.ndarray], tuple[int, int], np.random.Generator], Any]


def seed_sequence(key: Any) -> np.random.SeedSequence:
    """The root of every stream: an int seed, a jax PRNG key or a numpy SeedSequence."""
    if isinstance(key, np.random.SeedSequence):
        return key
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        if key < 0:
            raise ModelError(f"key must be a non-negative int seed or a jax PRNG key, got {key}")
        return np.random.SeedSequence(int(key))
    try:
        arr = key
        if jax.dtypes.issubdtype(getattr(key, "dtype", np.float64), jax.dtypes.prng_key):
            arr = jax.random.key_data(key)
        words = np.asarray(arr)
    except Exception as e:  # any failure here means it is not a key
        raise ModelError(f"key must be an int seed or a jax PRNG key, got {key!r}") from e
    if words.dtype != np.uint32 or words.size == 0:
        raise ModelError(f"key must be an int seed or a jax PRNG key, got {key!r}")
    return np.random.SeedSequence([int(v) for v in words.ravel()])


def block_rng(
    root: np.random.SeedSequence, tag: tuple[int, ...], block: int
) -> np.random.Generator:
    """The stream of one block: the root's entropy with (tag..., block) as the spawn key."""
    seq = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *tag, block))
    return np.random.default_rng(seq)


def _p(values: Mapping[str, np.ndarray], name: str) -> Any:
    v = np.asarray(values[name], dtype=float)
    return float(v) if v.ndim == 0 else v


def _distribution_draw(model: AbstractModel) -> Draw | None:
    """numpy sampler for a built-in family, or None (then the family's jax sampler is used)."""
    t = type(model)
    table: dict[type, Draw] = {
        cont.Normal: lambda p, s, g: g.normal(_p(p, "mu"), _p(p, "sigma"), s),
        cont.LogNormal: lambda p, s, g: g.lognormal(_p(p, "mu"), _p(p, "sigma"), s),
        cont.Exponential: lambda p, s, g: g.exponential(1.0 / _p(p, "rate"), s),
        cont.Gamma: lambda p, s, g: g.gamma(_p(p, "shape"), 1.0 / _p(p, "rate"), s),
        cont.Weibull: lambda p, s, g: _p(p, "scale") * g.weibull(_p(p, "shape"), s),
        cont.Beta: lambda p, s, g: g.beta(_p(p, "a"), _p(p, "b"), s),
        cont.Laplace: lambda p, s, g: g.laplace(_p(p, "loc"), _p(p, "scale"), s),
        cont.StudentT: lambda p, s, g: _p(p, "loc") + _p(p, "scale") * g.standard_t(_p(p, "df"), s),
        disc.Bernoulli: lambda p, s, g: (g.random(s) < _p(p, "p")).astype(float),
        disc.Poisson: lambda p, s, g: g.poisson(_p(p, "rate"), s).astype(float),
        disc.Geometric: lambda p, s, g: g.geometric(_p(p, "p"), s).astype(float),
        disc.NegativeBinomial: _negative_binomial,
        disc.Categorical: lambda p, s, g: _categorical(np.asarray(p["p"], float), s, g),
        mv.MultivariateNormal: lambda p, s, g: g.multivariate_normal(
            np.asarray(p["mu"], float), np.asarray(p["cov"], float), s
        ),
    }
    if t is disc.Binomial:
        trials = model.n  # type: ignore[attr-defined]
        return lambda p, s, g: g.binomial(trials, _p(p, "p"), s).astype(float)
    return table.get(t)


def _negative_binomial(p: Mapping[str, np.ndarray], s: tuple[int, ...], g: np.random.Generator):
    # NB2 as a gamma-Poisson mixture: numpy's negative_binomial(r, r / (r + mu)) has mean mu
    r = 1.0 / _p(p, "alpha")
    return g.negative_binomial(r, r / (r + _p(p, "mu")), s).astype(float)


def _categorical(prob: np.ndarray, size: tuple[int, ...], g: np.random.Generator) -> np.ndarray:
    cum = np.cumsum(prob)
    cum[-1] = 1.0
    return np.searchsorted(cum, g.random(size), side="right").astype(float)


def _jax_draw(model: AbstractModel) -> Draw:
    def draw(p, size, g):
        key = jax.random.PRNGKey(int(g.integers(0, 2**31 - 1)))
        return np.asarray(model.sample(p, size, key))  # type: ignore[attr-defined]

    return draw


def _glm_draw(model: Any, shared: Mapping[str, np.ndarray]) -> Draw:
    """y given the fixed design: the GLM's family at mean g^-1(X beta + offset)."""
    X = shared["X"]
    offset = shared.get("offset", 0.0)
    trials = shared.get("trials")
    if hasattr(model, "levels"):  # multinomial logit

        def multinomial(p, size, g):
            prob = model.probabilities(np.asarray(p["beta"], float), X)  # (n, K)
            cum = np.cumsum(prob, axis=1)
            cum[:, -1] = 1.0
            u = g.random(size)
            return {"y": (u[..., None] >= cum[None, :, :]).sum(axis=-1).astype(float)}

        return multinomial
    family, link = model.family, model.link
    name = family.name

    def draw(p, size, g):
        return {"y": response(p, size, g)}

    def response(p, size, g):
        mean = link.np_inverse(X @ np.asarray(p["beta"], float) + offset)
        if name == "gaussian":
            return mean + _p(p, "sigma") * g.standard_normal(size)
        if name == "binomial":
            n_trials = np.ones_like(mean) if trials is None else trials
            return g.binomial(n_trials.astype(np.int64), np.clip(mean, 0.0, 1.0), size).astype(
                float
            )
        if name == "poisson":
            return g.poisson(mean, size).astype(float)
        if name == "negative_binomial":
            r = 1.0 / _p(p, "alpha")
            return g.negative_binomial(r, r / (r + mean), size).astype(float)
        if name == "gamma":
            nu = _p(p, "shape")
            return g.gamma(nu, mean / nu, size)
        if name == "laplace":
            return mean + g.laplace(0.0, _p(p, "scale"), size)
        if name == "student_t":
            return mean + _p(p, "sigma") * g.standard_t(_p(p, "df"), size)
        raise ModelError(f"no simulator for the GLM family {name!r}; pass simulate=...")

    return draw


@dataclass(frozen=True)
class Simulator:
    """How one replicate data set is made: drawn parts (leading axes (reps, n)) and shared
    parts held fixed (a design matrix), with row weights held fixed too."""

    draw: Draw
    shared: dict[str, np.ndarray] | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)  # per row, held fixed
    # the built-in samplers draw each block from its own generator, so blocks can be drawn
    # on several threads; a user's simulate() is called in order, from one thread
    threaded: bool = False

    @property
    def n_rows(self) -> int | None:
        """Rows fixed by the shared design, or None when any n can be drawn."""
        if self.shared:
            return int(next(iter(self.shared.values())).shape[0])
        if self.weights is not None:
            return int(self.weights.shape[0])
        return None

    def batch(
        self,
        values: dict[str, np.ndarray],
        reps: int,
        n: int,
        rng: np.random.Generator,
        finite: bool = True,
    ):
        """(data, axes): `reps` data sets of n rows; axes says which leaves are batched.
        Shapes are always checked; every value is checked to be finite unless `finite` is
        False (the caller then checks something cheaper that NaN or inf would spoil)."""
        try:
            drawn = self.draw(values, (reps, n), rng)
        except LikelyError:
            raise
        except (ValueError, OverflowError, FloatingPointError) as e:
            shown = {k: np.asarray(v).tolist() for k, v in values.items()}
            raise ModelError(
                f"the sampler cannot draw data sets at the parameter values {shown}: {e}"
            ) from e
        if isinstance(drawn, Mapping):
            out = {
                k: _check_drawn(v, reps, n, f"simulate()[{k!r}]", finite) for k, v in drawn.items()
            }
            axes: Any = dict.fromkeys(out, 0)
            for k, v in (self.shared or {}).items():
                if k not in out:
                    out[k] = v
                    axes[k] = None
            return out, axes
        if self.shared:
            raise DataError(
                "simulate() must return a dict of the simulated arrays when covariates are held "
                f"fixed (covariates: {sorted(self.shared)})"
            )
        return _check_drawn(drawn, reps, n, "simulate()", finite), 0


def _check_drawn(x: Any, reps: int, n: int, where: str, finite: bool = True) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) and x.dtype == np.float64 else None
    if arr is None or (finite and not np.isfinite(arr).all()):
        arr = as_array(x, where)  # converts, or names the first bad value
    if arr.shape[:2] != (reps, n):
        raise DataError(
            f"{where} must have leading axes (reps, n) = ({reps}, {n}), got shape {arr.shape}"
        )
    return arr


def simulator_for(
    model: AbstractModel,
    *,
    simulate: Draw | None = None,
    covariates: Mapping[str, Any] | None = None,
    fit_data: Any = None,
    fit_weights: np.ndarray | None = None,
) -> Simulator:
    """The simulator of a model: the user's `simulate`, a GLM's family with its design held
    fixed (`fit_data`), or a built-in family's sampler."""
    shared = None
    if covariates is not None:
        if not isinstance(covariates, Mapping) or not covariates:
            raise DataError("covariates must be a dict of arrays held fixed, e.g. {'X': X}")
        shared = {k: as_array(v, f"covariates[{k!r}]") for k, v in covariates.items()}
        rows = {k: v.shape[0] if v.ndim else 0 for k, v in shared.items()}
        if len(set(rows.values())) != 1 or 0 in rows.values():
            raise DataError(f"covariates must share their first axis (rows); got {rows}")
    if simulate is not None:
        if not callable(simulate):
            raise ModelError("simulate must be a function simulate(params, size, rng)")
        return Simulator(simulate, shared)
    if hasattr(model, "link") or hasattr(model, "levels"):  # a GLM: its design is held fixed
        if not isinstance(fit_data, Mapping) or "X" not in fit_data:
            raise ModelError(f"{model.name}: study a fitted GLM, lk.study(glm_fit, ...)")
        # the design is held fixed; anything computed from y (a log-likelihood constant)
        # is left out, so that the family computes it from the simulated y
        fixed = {k: np.asarray(fit_data[k]) for k in _DESIGN if k in fit_data}
        return Simulator(_glm_draw(model, fixed), fixed, fit_weights, threaded=True)
    if shared is not None:
        raise ModelError("covariates= needs simulate=... (a function that draws the response)")
    from ..distributions._base import Distribution

    draw = _distribution_draw(model)
    if draw is None:
        if not isinstance(model, Distribution):
            raise ModelError(
                f"{model.name} has no sampler: pass simulate=lambda params, size, rng: ... "
                "returning data with leading axes size = (reps, n)"
            )
        return Simulator(_jax_draw(model))
    return Simulator(draw, threaded=True)
