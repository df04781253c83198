"""Mixed logit (random coefficients) by simulated maximum likelihood with Halton draws:
the model, its data layout by person, and `lk.mixed_logit`.

Random coefficients are normal (mean + L z) or lognormal (exp of that), with L diagonal
(independent: parameters "sd") or lower triangular (correlated: parameters "chol", the
Cholesky factor of the covariance of the underlying normals). The simulated log-likelihood
and its exact derivatives are in `_simulated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import logsumexp

from ..._engine.constraints import real
from ..._engine.errors import DataError, ModelError
from ..._engine.model import AbstractModel
from ._data import ChoiceData, build_choice_data, check_identified, to_pandas
from ._fitting import fit_engine, newton_logit, per_case, reference_logliks, resolve_cov
from ._halton import halton_normal
from ._result import ChoiceFit, ChoiceInfo
from ._simulated import MixedDerivatives, MixedSpec, draw_coefs, person_loglik

DISTRIBUTIONS = ("normal", "lognormal")
_CHUNK_ELEMENTS = 1 << 18  # situations x draws x alternatives per chunk, for predictions


@dataclass(frozen=True, repr=False)
class MixedLogitModel(AbstractModel):
    """Data: X (N, T, J, K), amask (N, T, J), Y (N, T, J) one-hot, Z (N, R, d) normal draws."""

    columns: tuple[str, ...]
    spec: MixedSpec
    scheme: str
    seed: int
    drop: int
    n_draws: int

    @property
    def param_spec(self):
        return {"beta": real, self.spec.spread_name: real}

    @property
    def name(self) -> str:
        kinds = "correlated" if self.spec.correlated else "independent"
        return f"mixed logit ({self.spec.d} {kinds} random coefficient(s), {self.n_draws} Halton draws)"

    def __repr__(self) -> str:
        return self.name

    @property
    def random_names(self) -> list[str]:
        return [self.columns[i] for i in self.spec.random_idx]

    @property
    def lognormal(self) -> tuple[str, ...]:
        return tuple(n for n, ln in zip(self.random_names, self.spec.lognormal_flags) if ln)

    def element_labels(self, name, shape):
        if name == "beta":
            return self.columns
        names = self.random_names
        if name == "sd":
            return tuple(f"sd[{n}]" for n in names)
        rows, cols = np.tril_indices(len(names))
        return tuple(f"chol[{names[r]},{names[c]}]" for r, c in zip(rows, cols))

    def prepare(self, data):
        return data

    def init(self, data, weights):
        return {
            "beta": np.zeros(self.spec.n_coef),
            self.spec.spread_name: np.full(self.spec.n_spread, 0.1),
        }

    def logpdf(self, params, data):
        theta_f, theta_r = self.spec.theta(params["beta"], params[self.spec.spread_name])
        return person_loglik(self.spec, theta_f, theta_r, data)

    def derivatives(self, problem, data, weights, fixed):
        if problem.layout.names != ["beta", self.spec.spread_name] or problem.prior:
            return None  # something fixed or a prior: plain autodiff
        return MixedDerivatives(problem, data, weights, self.spec)

    # ----------------------------------------------------- per choice situation (predictions)
    def situation_arrays(self, data: ChoiceData, extra) -> dict[str, jnp.ndarray]:
        return {
            "X": jnp.asarray(data.X),
            "mask": jnp.asarray(data.mask),
            "Z": jnp.asarray(extra["Z"]),
            "person": jnp.asarray(extra["person"]),
        }

    def new_extra(self, data: ChoiceData, frame, extra) -> dict:
        panel = extra.get("panel")
        people = _people(data, frame, panel if panel in frame.columns else None)
        Z = halton_normal(
            people.n, self.n_draws, self.spec.d, scheme=self.scheme, seed=self.seed, drop=self.drop
        )
        return {**extra, "Z": Z, "person": people.person}

    def log_probabilities(self, params, arrays) -> jnp.ndarray:
        """log of the draw-averaged probability of each slot (S, J), in chunks of situations."""
        spec = self.spec
        theta_f, theta_r = spec.theta(params["beta"], params[spec.spread_name])
        X, mask, Z, person = arrays["X"], arrays["mask"], arrays["Z"], arrays["person"]
        S, J, _ = X.shape
        R = Z.shape[1]
        size = max(1, min(S, _CHUNK_ELEMENTS // max(1, R * J)))
        n_chunks = -(-S // size)
        pad = n_chunks * size - S

        def padded(a, fill):
            if pad:
                a = jnp.concatenate([a, jnp.full((pad, *a.shape[1:]), fill, dtype=a.dtype)])
            return a.reshape(n_chunks, size, *a.shape[1:])

        Xc = padded(X, 0.0)
        mc = padded(mask, True)
        pc = padded(person, 0)

        def one(args):
            x, m, p = args  # (c, J, K), (c, J), (c,)
            beta_r = draw_coefs(spec, theta_r, Z[p])  # (c, R, d)
            V = jnp.einsum("cjd,crd->crj", x[..., list(spec.random_idx)], beta_r)
            if spec.fixed_idx:
                V = V + (x[..., list(spec.fixed_idx)] @ theta_f)[:, None]
            V = jnp.where(m[:, None], V, -jnp.inf)
            return logsumexp(jax.nn.log_softmax(V, axis=-1), axis=1) - jnp.log(R)

        out = jax.lax.map(one, (Xc, mc, pc)).reshape(n_chunks * size, J)[:S]
        return jnp.where(mask, out, -jnp.inf)


@dataclass(frozen=True)
class _People:
    n: int
    person: np.ndarray  # (S,) person of each case
    slot: np.ndarray  # (S,) position of the case among its person's cases
    labels: np.ndarray


def _people(data: ChoiceData, frame, panel: Any) -> _People:
    S = data.n_cases
    if panel is None:
        return _People(S, np.arange(S), np.zeros(S, dtype=np.int64), data.cases)
    ids = per_case(panel, data, frame, "panel")
    person, labels = pd.factorize(ids, sort=False)
    order = np.argsort(person, kind="stable")
    counts = np.bincount(person)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(S, dtype=np.int64)
    slot[order] = np.arange(S) - starts[person[order]]
    return _People(len(labels), person.astype(np.int64), slot, np.asarray(labels))


def _person_arrays(data: ChoiceData, people: _People) -> dict[str, np.ndarray]:
    _, J, K = data.X.shape
    T = int(people.slot.max()) + 1
    N = people.n
    X = np.zeros((N, T, J, K))
    amask = np.zeros((N, T, J), dtype=bool)
    Y = np.zeros((N, T, J))
    amask[:, :, 0] = True  # padded situations: one dummy alternative, chosen (log-lik 0)
    Y[:, :, 0] = 1.0
    p, t = people.person, people.slot
    X[p, t] = data.X
    amask[p, t] = data.mask
    Y[p, t] = 0.0
    Y[p, t, data.y] = 1.0
    return {"X": X, "amask": amask, "Y": Y}


def mixed_logit(
    formula: str | None = None,
    data: Any = None,
    *,
    group: Any,
    alt: Any = None,
    random: dict[str, str],
    correlated: bool = False,
    draws: int = 500,
    panel: Any = None,
    halton: str = "shifted",
    seed: int = 0,
    drop: int = 100,
    X: Any = None,
    y: Any = None,
    cov_type: str | None = None,
    cluster: Any = None,
    init: dict[str, Any] | None = None,
    method: str = "auto",
    max_iter: int | None = None,
    tol: float = 1e-8,
) -> ChoiceFit:
    """Mixed logit (random coefficients) by simulated maximum likelihood with Halton draws.

    Parameters
    ----------
    formula, data, group, alt, X, y : as `conditional_logit` (long data, one row per case and
        alternative).
    random : ``{column: "normal" | "lognormal"}``: the design columns with random
        coefficients. A normal coefficient is mean + sd z; a lognormal one is exp(mean + sd z),
        positive (enter a price as its negative to get a negative price effect). The means are
        in ``beta`` under the column's name (for a lognormal coefficient, the mean of its log).
    correlated : False: independent coefficients with parameters ``sd[col]`` (their signs are
        not identified; the fit reports them positive). True: parameters ``chol[a,b]``, the
        lower-triangular Cholesky factor L of the covariance L L' of the underlying normals
        (columns normalised to a positive diagonal).
    draws : Halton draws per person (R).
    panel : column identifying people who make several choices (constant within cases); the
        simulated probability of a person is the mean over draws of the product of the
        probabilities of all the person's choices (the coefficients are the person's own).
        Without it every case is its own person.
    halton, seed, drop : draw scheme (see ``likely.models.choice._halton``): "shifted" (the
        default; a standard Halton set shifted by a seeded uniform per person) or "sequential"
        (consecutive segments of one sequence: xlogit's draws when drop=100). The k-th random
        coefficient, in column order, uses the k-th prime base.
    cov_type, cluster : "observed" (exact Hessian of the simulated log-likelihood), "robust"
        (sandwich over people) or "cluster" (clusters constant within people).

    Observations are people: ``nobs``, the sandwich and BIC count them.

    Example::

        fit = lk.mixed_logit("choice ~ price + time + C(alt)", data=df, group="case",
                             alt="alt", random={"time": "normal"}, panel="person", draws=200)
    """
    from ..._dask import any_dask

    if any_dask(data, X, y, group, panel, cluster):
        from ..._dask._choice import refuse

        raise refuse("mixed_logit")
    frame = to_pandas(data) if data is not None else None
    kind = resolve_cov(cov_type, cluster)
    if not isinstance(random, dict) or not random:
        raise ModelError(
            "random must be a dict {column: 'normal' or 'lognormal'} with at least one entry"
        )
    cd = build_choice_data(formula, frame, group=group, alt=alt, X=X, y=y)
    check_identified(cd)
    unknown = [c for c in random if c not in cd.columns]
    if unknown:
        raise ModelError(
            f"random names {unknown}, which are not design columns: {list(cd.columns)}"
        )
    bad = {c: v for c, v in random.items() if v not in DISTRIBUTIONS}
    if bad:
        raise ModelError(f"random distributions must be one of {DISTRIBUTIONS}, got {bad}")
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise ModelError(f"draws must be a positive integer, got {draws!r}")
    rand_idx = tuple(j for j, c in enumerate(cd.columns) if c in random)
    spec = MixedSpec(
        n_coef=len(cd.columns),
        fixed_idx=tuple(j for j in range(len(cd.columns)) if j not in rand_idx),
        random_idx=rand_idx,
        lognormal_flags=tuple(random[cd.columns[j]] == "lognormal" for j in rand_idx),
        correlated=bool(correlated),
    )
    people = _people(cd, frame, panel)
    Z = halton_normal(people.n, int(draws), spec.d, scheme=halton, seed=seed, drop=drop)
    arrays = {**_person_arrays(cd, people), "Z": Z}
    clusters = None
    if kind == "cluster":
        by_case = per_case(cluster, cd, frame, "cluster")
        clusters = np.empty(people.n, dtype=by_case.dtype)
        clusters[people.person] = by_case
        if np.any(clusters[people.person] != by_case):
            raise DataError("cluster must be constant within each person (panel)")
    model = MixedLogitModel(cd.columns, spec, halton, int(seed), int(drop), int(draws))
    w_cases = np.ones(cd.n_cases)
    ll_equal, ll_constants, n_constants = reference_logliks(cd, w_cases)
    extra = {"Z": Z, "person": people.person, "panel": panel if isinstance(panel, str) else None}
    info = ChoiceInfo(
        "mixed",
        formula,
        group if isinstance(group, str) else None,
        alt if isinstance(alt, str) else None,
        cd,
        frame,
        ll_equal,
        ll_constants,
        n_constants,
        extra,
    )
    start = dict(init or {})
    if "beta" not in start:
        beta0, _ = newton_logit(cd.X, cd.mask, cd.y, w_cases)
        for j, ln in zip(rand_idx, spec.lognormal_flags):
            if ln:
                beta0[j] = np.log(max(beta0[j], 1e-2))
        start["beta"] = beta0
    if spec.spread_name not in start:
        start[spec.spread_name] = _default_spread(spec)
    out = fit_engine(
        model,
        arrays,
        np.ones(people.n),
        info,
        init=start,
        fixed=None,
        method=method,
        cov_type=kind,
        clusters=clusters,
        max_iter=max_iter,
        tol=tol,
    )
    return _normalise_spread(out, spec)


def _default_spread(spec: MixedSpec) -> np.ndarray:
    if not spec.correlated:
        return np.full(spec.d, 0.1)
    rows, cols = np.tril_indices(spec.d)
    return np.where(rows == cols, 0.1, 0.0)


def _normalise_spread(fit: ChoiceFit, spec: MixedSpec) -> ChoiceFit:
    """The same fit with positive sds (or Cholesky diagonal): the simulated likelihood is
    unchanged by flipping the sign of a draw's dimension (the draws are symmetric), so the
    estimate and its covariance change by a sign flip of the affected entries."""
    name = spec.spread_name
    v = np.asarray(fit.values[name], dtype=float)
    if spec.correlated:
        rows, cols = np.tril_indices(spec.d)
        diag = v[rows == cols]
        sign = np.where(diag[cols] < 0, -1.0, 1.0)
    else:
        sign = np.where(v < 0, -1.0, 1.0)
    if (sign > 0).all():
        return fit
    flip = np.ones(fit._u.shape[0])
    block = next(b for b in fit._ctx.problem.layout.blocks if b.name == name)
    flip[block.offset : block.offset + block.size] = sign
    values = dict(fit.values, **{name: v * sign})
    cov_u = fit._cov_u * np.outer(flip, flip)
    return fit.replace(values=values, _u=fit._u * flip, _cov_u=cov_u)
