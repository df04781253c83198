"""`GaussianMixture`: d-dimensional normal mixtures with full, tied, diagonal or spherical
covariances, fitted by a fused EM kernel, with full likelihood inference."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp

from ..._engine.constraints import Constraint, positive, positive_definite, real, simplex
from ..._engine.data import as_array, as_weights, bucket, nrows, pad_rows
from ..._engine.errors import DataError, ModelError
from ..._engine.model import AbstractModel, check_param_values
from ._constraints import Stacked
from ._derivatives import LARGE_ROWS, RowChunks
from ._em import kmeans_plus_plus, run_em, soft_labels
from ._gmm_kernel import em_statistics, whitening
from ._result import (
    MixtureFit,
    best_start,
    check_options,
    context,
    em_solution,
    finish,
    polish_if,
)

COVARIANCES = ("full", "tied", "diag", "spherical")
EM_SWITCH_TOL = 1e-8
FLOOR = 1e-6  # covariance eigenvalue floor: (FLOOR x the data's largest sd)^2
EMPTY = 1e-10
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True, repr=False)
class GaussianMixture(AbstractModel):
    """A mixture of k multivariate normals: f(x) = sum_j w_j N(x | mu_j, Sigma_j).

    Parameters
    ----------
    k : number of components (>= 2; 1 is a single normal).
    covariance : "full" (``cov``, (k, d, d)), "tied" (one ``cov``, (d, d)), "diag" (``var``,
        (k, d)) or "spherical" (``var``, (k,)) -- scikit-learn's covariance types.
    reg_covar : added to the diagonal of every covariance in each M-step, as scikit-learn's
        `reg_covar` (default 0: the exact MLE; scikit-learn's default is 1e-6). With
        ``reg_covar > 0`` EM is a regularised fixed point, not the MLE, and no Newton steps
        follow it.
    n_init : number of k-means++ starts, run together as one batch; the best is kept.
    seed : seed of the starts.

    Data: an (n, d) array (a 1-D array is one column). Fitting is EM in one compiled pass over
    the data per iteration: Mahalanobis distances by whitening (one matmul with the Cholesky
    inverses of all components), responsibilities, and the whitened weighted moments from
    which the M-step is closed form. ``method="auto"`` then takes Newton steps on the
    marginal likelihood (exact MLE); ``method="em"`` stops at the relative-change test `tol`.
    Standard errors: observed information of the marginal log-likelihood by autodiff.

    Components are ordered by the first coordinate of their mean, increasing. A covariance
    whose smallest eigenvalue falls below (1e-6 x the data's largest sd)^2 is held there and
    reported (the likelihood is unbounded as a component collapses); an empty component keeps
    its last values and is reported. No `fixed=` or `prior=`: use
    ``lk.Mixture(lk.MultivariateNormal(), k)`` for those.

    Example::

        gmm = lk.fit(lk.GaussianMixture(k=3, covariance="full"), X)
        gmm.values["mu"], gmm.values["cov"], gmm.se, gmm.posterior(), gmm.classify(X)
    """

    k: int = 2
    covariance: str = "full"
    # options of the M-step and of the starts do not enter the likelihood: models that differ
    # only in them share compiled programs
    reg_covar: float = field(default=0.0, compare=False)
    n_init: int = field(default=1, compare=False)
    seed: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int | np.integer) and self.k >= 1):
            raise ModelError(f"GaussianMixture needs k >= 1 components, got {self.k!r}")
        if self.covariance not in COVARIANCES:
            raise ModelError(f"covariance must be one of {COVARIANCES}, got {self.covariance!r}")
        if not (self.reg_covar >= 0 and math.isfinite(self.reg_covar)):
            raise ModelError(f"reg_covar must be >= 0, got {self.reg_covar!r}")
        if not (isinstance(self.n_init, int | np.integer) and self.n_init >= 1):
            raise ModelError(f"n_init must be a whole number >= 1, got {self.n_init!r}")

    @property
    def param_spec(self):
        cov: Constraint = {
            "full": Stacked(positive_definite),
            "tied": positive_definite,
            "diag": positive,
            "spherical": positive,
        }[self.covariance]
        name = "cov" if self.covariance in ("full", "tied") else "var"
        return {"weights": simplex, "mu": real, name: cov}

    @property
    def name(self) -> str:
        return f"GaussianMixture(k={self.k}, covariance={self.covariance!r})"

    def __repr__(self) -> str:
        return self.name

    def prepare(self, data):
        x = as_array(data)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise DataError(f"GaussianMixture data must have shape (n, d), got {x.shape}")
        return x

    # ---------------------------------------------------------------------------- densities
    def full_covariances(self, params: dict[str, Any], d: int) -> Any:
        """Every component's covariance as a (k, d, d) array (jax)."""
        if self.covariance == "full":
            return params["cov"]
        if self.covariance == "tied":
            return jnp.broadcast_to(params["cov"], (self.k, d, d))
        var = params["var"]
        if self.covariance == "spherical":
            var = jnp.broadcast_to(var[:, None], (self.k, d))
        return jax.vmap(jnp.diag)(var)

    def component_logpdf(self, params, x):
        """log w_j + log N(x_i | mu_j, Sigma_j): an (n, k) array."""
        d = x.shape[1]
        mu = params["mu"]
        if self.covariance in ("diag", "spherical"):
            var = params["var"]
            if self.covariance == "spherical":
                var = jnp.broadcast_to(var[:, None], (self.k, d))
            r = x[:, None, :] - mu[None, :, :]
            maha = jnp.sum(r * r / var[None], axis=2)
            logdet = jnp.sum(jnp.log(var), axis=1)
        else:
            # whitening matrices L^-1 from the k small Cholesky factors, then one matmul per
            # component: derivatives flow through d x d matrices, not through a solve per row
            chol = jnp.linalg.cholesky(self.full_covariances(params, d))
            eye = jnp.eye(d, dtype=x.dtype)
            inv = jax.vmap(lambda L: solve_triangular(L, eye, lower=True))(chol)
            z = jnp.einsum("nd,ked->nke", x, inv) - jnp.einsum("kd,ked->ke", mu, inv)[None]
            maha = jnp.sum(z * z, axis=2)
            logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
        comp = -0.5 * (maha + logdet[None, :] + d * _LOG_2PI)
        return jnp.log(params["weights"])[None, :] + comp

    def logpdf(self, params, x):
        return logsumexp(self.component_logpdf(params, x), axis=1)

    def derivatives(self, problem, data, weights, fixed):
        return RowChunks(problem, data, weights, fixed) if nrows(data) > LARGE_ROWS else None

    def init(self, data, weights):
        return _ordered(self, _start(self, data, weights, np.random.default_rng([self.seed, 0])))

    def draw(self, values: dict[str, np.ndarray], n: int, key: Any = 0):
        k = jax.random.PRNGKey(key) if isinstance(key, int) else key
        k1, k2 = jax.random.split(k)
        mu = np.asarray(values["mu"])
        d = mu.shape[1]
        w = jnp.asarray(values["weights"])
        labels = np.asarray(jax.random.categorical(k1, jnp.log(w), shape=(n,)))
        cov = np.asarray(self.full_covariances({k_: jnp.asarray(v) for k_, v in values.items()}, d))
        chol = np.linalg.cholesky(cov)
        z = np.asarray(jax.random.normal(k2, (n, d)))
        return mu[labels] + np.einsum("nij,nj->ni", chol[labels], z), labels

    def fit_override(self, data, **options):
        method = options["method"]
        if method in ("newton", "bfgs"):
            return None
        if method not in ("auto", "em"):
            raise ModelError(f"method must be 'auto', 'em', 'newton' or 'bfgs', got {method!r}")
        return _fit(self, data, **options)


# ------------------------------------------------------------------------------------ M-step
def _floor_of(x: np.ndarray, w: np.ndarray) -> float:
    mean = w @ x / w.sum()
    sd = np.sqrt(np.max(w @ (x - mean) ** 2 / w.sum()))
    return float((FLOOR * sd) ** 2) if sd > 0 else FLOOR**2


def _covariances_from_scatter(
    model: GaussianMixture, scatter: np.ndarray, mass: np.ndarray, floor: float
) -> tuple[dict[str, np.ndarray], list[int]]:
    """Covariance parameters from each component's scatter about its mean (k, d, d)."""
    k, d = scatter.shape[0], scatter.shape[1]
    reg = model.reg_covar
    floored: list[int] = []
    if model.covariance == "full":
        cov = scatter / mass[:, None, None] + reg * np.eye(d)
        for j in range(k):
            c = 0.5 * (cov[j] + cov[j].T)
            eig, vec = np.linalg.eigh(c)
            if eig.min() < floor:
                c = (vec * np.maximum(eig, floor)) @ vec.T
                floored.append(j)
            cov[j] = c
        return {"cov": cov}, floored
    if model.covariance == "tied":
        c = scatter.sum(0) / mass.sum() + reg * np.eye(d)
        c = 0.5 * (c + c.T)
        eig, vec = np.linalg.eigh(c)
        if eig.min() < floor:
            c = (vec * np.maximum(eig, floor)) @ vec.T
            floored = list(range(k))
        return {"cov": c}, floored
    diag = np.einsum("kii->ki", scatter) / mass[:, None]
    var = diag if model.covariance == "diag" else diag.mean(axis=1)
    var = var + reg
    low = var < floor
    if low.any():
        floored = sorted({int(j) for j in np.argwhere(low)[:, 0]})
        var = np.maximum(var, floor)
    return {"var": var}, floored


def _mstep_stats(
    model: GaussianMixture,
    previous: dict[str, np.ndarray],
    chol: np.ndarray,
    stats: tuple[np.ndarray, np.ndarray, np.ndarray],
    floor: float,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The M-step from the whitened moments of the E-step (one lane)."""
    mass, m1, M2 = stats
    total = float(mass.sum())
    k = model.k
    events: list[str] = []
    empty = mass <= EMPTY * total
    safe = np.where(empty, 1.0, mass)
    shift = np.einsum("kij,kj->ki", chol, m1) / safe[:, None]
    mu = np.where(empty[:, None], previous["mu"], previous["mu"] + shift)
    centred = M2 - np.einsum("ki,kj->kij", m1, m1) / safe[:, None, None]
    scatter = np.einsum("kij,kjl,kml->kim", chol, centred, chol)
    scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    if empty.any():
        # an empty component keeps its covariance (tied: it adds nothing to the pooled one)
        prev_cov = _full_np(model, previous, mu.shape[1])
        scatter[empty] = 0.0 if model.covariance == "tied" else prev_cov[empty]
        for j in np.flatnonzero(empty).tolist():
            events.append(
                f"component {j} is empty (weight share {mass[j] / total:.2g}): it keeps its last "
                "parameters; the model may have too many components"
            )
    pooled = np.where(empty, 0.0, mass) if model.covariance == "tied" else safe
    cov, floored = _covariances_from_scatter(model, scatter, pooled, floor)
    for j in floored:
        events.append(
            f"component {j} collapsed: its covariance was held at the floor {floor:.3g} "
            "(the likelihood is unbounded as a component collapses onto a few points); "
            "consider fewer components or reg_covar"
        )
    out = {"weights": mass / total, "mu": mu, **cov}
    if k == 1:
        out["weights"] = np.ones(1)
    return out, events


def _full_np(model: GaussianMixture, values: dict[str, np.ndarray], d: int) -> np.ndarray:
    """`full_covariances` in numpy (called every EM iteration: no jax dispatch)."""
    if model.covariance == "full":
        return np.asarray(values["cov"], dtype=float)
    if model.covariance == "tied":
        return np.broadcast_to(np.asarray(values["cov"], dtype=float), (model.k, d, d)).copy()
    var = np.asarray(values["var"], dtype=float)
    if model.covariance == "spherical":
        var = np.broadcast_to(var[:, None], (model.k, d))
    return var[:, :, None] * np.eye(d)[None]


def _mstep_resp(
    model: GaussianMixture, x: np.ndarray, w: np.ndarray, resp: np.ndarray, floor: float
) -> dict[str, np.ndarray]:
    """The M-step straight from responsibilities (for starts)."""
    r = resp * w[:, None]
    mass = r.sum(0)
    mu = (r.T @ x) / mass[:, None]
    scatter = np.stack([((x - mu[j]) * r[:, j : j + 1]).T @ (x - mu[j]) for j in range(model.k)])
    cov, _ = _covariances_from_scatter(model, scatter, mass, floor)
    return {"weights": mass / mass.sum(), "mu": mu, **cov}


def _start(model: GaussianMixture, x: np.ndarray, w: np.ndarray, rng: np.random.Generator):
    if model.k == 1:
        return _mstep_resp(model, x, w, np.ones((x.shape[0], 1)), _floor_of(x, w))
    labels = kmeans_plus_plus(x, model.k, w, rng)
    return _mstep_resp(model, x, w, soft_labels(labels, model.k), _floor_of(x, w))


# ------------------------------------------------------------------------------------ fit
def _fit(model: GaussianMixture, data: Any, **options: Any):
    t0 = time.perf_counter()
    cov_type = check_options(model.name, options)
    method, max_iter, tol = options["method"], options.get("max_iter"), options.get("tol", 1e-12)
    if options.get("fixed") or options.get("prior"):
        raise ModelError(
            "GaussianMixture takes no fixed= or prior=; use lk.Mixture(lk.MultivariateNormal(), "
            "k=...) for fixed parameters or priors, or reg_covar for a covariance floor"
        )
    x = model.prepare(data)
    n, d = x.shape
    w = as_weights(options.get("weights"), n)
    if w.sum() <= model.k:
        raise DataError(f"{model.name} needs more observations than components ({model.k})")
    spec = model.param_spec
    init_values = check_param_values(spec, options.get("init") or {}, "init")
    _check_init_shapes(model, init_values, d)
    floor = _floor_of(x, w)

    lanes = 1 if init_values else model.n_init
    starts = []
    for r in range(lanes):
        if set(spec) <= set(init_values):  # a full start: no clustering
            start = {k: np.asarray(v, dtype=float) for k, v in init_values.items()}
        else:
            start = _start(model, x, w, np.random.default_rng([model.seed, r]))
            start.update(init_values)
        starts.append(start)
    state = {k: np.stack([s[k] for s in starts]) for k in starts[0]}

    xc, wc = _chunks(x, w)
    events: list[list[str]] = [[] for _ in range(lanes)]
    em_tol = max(tol, EM_SWITCH_TOL) if method == "auto" and model.reg_covar == 0 else tol
    iters = max_iter or 1000

    def em_step(state, active):
        covs = np.stack(
            [_full_np(model, {k: v[r] for k, v in state.items()}, d) for r in range(lanes)]
        )
        chol, inv_t, ok = whitening(covs)
        ll, mass, m1, M2 = em_statistics(
            xc, wc, jnp.asarray(state["weights"]), jnp.asarray(state["mu"]), inv_t, chol
        )
        ll = np.where(ok, np.asarray(ll), np.nan)
        new = {k: np.array(v) for k, v in state.items()}
        stats = (np.asarray(mass), np.asarray(m1), np.asarray(M2))
        chol_np = np.asarray(chol)
        for r in np.flatnonzero(active & ok):
            lane = {k: v[r] for k, v in state.items()}
            lane_stats = (stats[0][r], stats[1][r], stats[2][r])
            upd, ev = _mstep_stats(model, lane, chol_np[r], lane_stats, floor)
            for k, v in upd.items():
                new[k][r] = v
            for e in ev:
                if e not in events[r]:
                    events[r].append(e)
        return new, ll

    run = run_em(em_step, state, lanes, max_iter=iters, tol=em_tol)
    best = best_start(model.name, run)
    values = _ordered(model, {k: np.asarray(v[best]) for k, v in run.state.items()})
    ctx = context(model, x, w, values, {}, ())
    values, newton = polish_if(
        ctx, values, tol, method == "auto" and model.reg_covar == 0 and not events[best]
    )
    solution = em_solution(
        model.name,
        values,
        run,
        best,
        events=events[best],
        newton=newton,
        em_tol=em_tol,
        max_iter=iters,
        started=t0,
    )
    return finish(ctx, solution, cov_type, MixtureFit, newton)


def _ordered(model: GaussianMixture, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    perm = np.argsort(values["mu"][:, 0], kind="stable")
    out = dict(values)
    out["weights"] = values["weights"][perm]
    out["mu"] = values["mu"][perm]
    if model.covariance == "full":
        out["cov"] = values["cov"][perm]
    elif model.covariance in ("diag", "spherical"):
        out["var"] = values["var"][perm]
    return out


def _chunks(x: np.ndarray, w: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """Rows padded (weight 0) and cut into equal chunks for the scan of the E-step kernel."""
    from ._gmm_kernel import CHUNK

    n = x.shape[0]
    target = bucket(n)
    size = min(CHUNK, target)
    count = -(-target // size)
    xp, wp = pad_rows(x, w, count * size)
    return (
        jnp.asarray(xp.reshape(count, size, x.shape[1])),
        jnp.asarray(wp.reshape(count, size)),
    )


def _check_init_shapes(model: GaussianMixture, init: dict[str, np.ndarray], d: int) -> None:
    want = {
        "weights": (model.k,),
        "mu": (model.k, d),
        "cov": (model.k, d, d) if model.covariance == "full" else (d, d),
        "var": (model.k, d) if model.covariance == "diag" else (model.k,),
    }
    for name, v in init.items():
        if v.shape != want[name]:
            raise ModelError(f"init[{name!r}] must have shape {want[name]}, got {v.shape}")
