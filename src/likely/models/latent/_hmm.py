"""`HMM`: hidden Markov models with any emission family, fitted by EM (Baum-Welch) with full
likelihood inference."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.data import as_weights
from ..._engine.errors import DataError, ModelError
from ..._engine.fit import _check_prior
from ..._engine.model import AbstractModel, check_param_values
from . import _hmm_algorithms as alg
from ._components import ComponentStep, stack_values
from ._constraints import ProbabilityRows, stacked, zeros_of
from ._em import run_em
from ._result import (
    HMMFit,
    best_start,
    check_options,
    context,
    em_solution,
    finish,
    polish,
)

INITIALS = ("stationary", "estimated")
ALGORITHMS = ("scaled", "log")
EM_SWITCH_TOL = 1e-8
TO_ZERO = 1e-8  # a transition or initial probability the fit drives below this is set to 0
STAY = 0.8  # start transition matrices put this on the diagonal


@dataclass(frozen=True, repr=False)
class HMM(AbstractModel):
    """A hidden Markov model: a Markov chain on `n_states` states, observed through an
    emission family whose parameters depend on the state.

    p(x_1..T) = delta P(x_1) Gamma P(x_2) ... Gamma P(x_T) 1', with P(x) = diag(f_k(x)),
    Gamma the transition matrix (rows sum to 1) and delta the initial distribution.

    Parameters
    ----------
    emission : a likely model such as ``lk.Poisson()`` or ``lk.Normal()``; each of its
        parameters gets a leading axis of length `n_states`.
    n_states : number of hidden states (>= 2).
    initial : "stationary" (delta is the stationary distribution of Gamma, Zucchini &
        MacDonald's default; no parameter) or "estimated" (a parameter ``initial``, as
        hmmlearn's ``startprob_``; with one sequence its MLE is a point mass).
    algorithm : "scaled" (forward-backward with scaling, in blocks; the faster) or "log"
        (log-space recursions).
    n_init : number of starts (k-means++ on the pooled observations), each run to
        convergence; the best is kept.
    seed : seed of the starts.

    Data: one sequence (an array of observations), or a list of sequences of any lengths.
    Parameters: the emission parameters by their own names, ``transition`` (K, K) and, with
    ``initial="estimated"``, ``initial`` (K,). Zeros in a start value of ``transition`` (given
    with ``init=``) are structural: they stay 0 and are not estimated; a probability the fit
    drives to 0 is set to exactly 0 and reported (it sits on the boundary, and the standard
    errors of the rest are conditional on it).

    Fitting is EM (Baum-Welch): forward-backward for the E-step; for the M-step, normalised
    transition counts (with a stationary initial distribution, the exact maximiser, by BFGS
    with the analytic gradient) and each emission's weighted MLE. ``method="auto"`` then takes
    Newton steps on the marginal likelihood; ``method="em"`` is EM alone (to `tol`, the
    relative change of the log-likelihood); ``"newton"``/``"bfgs"`` maximise the marginal
    likelihood directly (a cross-check). States are ordered by the emission's first
    parameter. Standard errors: the observed information of the marginal log-likelihood by
    automatic differentiation (through the forward algorithm; for long sequences, of the
    gradient from forward-backward by Fisher's identity, in forward mode).

    Example::

        hmm = lk.fit(lk.HMM(lk.Poisson(), n_states=2), counts)
        hmm.params, hmm.se, hmm.initial, hmm.viterbi(), hmm.posterior()
    """

    emission: AbstractModel
    n_states: int = 2
    initial: str = "stationary"
    algorithm: str = "scaled"
    # start options do not enter the likelihood: models that differ only in them share
    # compiled programs
    n_init: int = field(default=4, compare=False)
    seed: int = field(default=0, compare=False)
    transition_zeros: frozenset[int] = frozenset()
    initial_zeros: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.emission, AbstractModel):
            raise ModelError(
                f"HMM needs a likely model as its emission (e.g. lk.Poisson()), got "
                f"{self.emission!r}"
            )
        if not (isinstance(self.n_states, int | np.integer) and self.n_states >= 2):
            raise ModelError(f"HMM needs n_states >= 2 (a whole number), got {self.n_states!r}")
        if self.initial not in INITIALS:
            raise ModelError(f"initial must be one of {INITIALS}, got {self.initial!r}")
        if self.algorithm not in ALGORITHMS:
            raise ModelError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if not (isinstance(self.n_init, int | np.integer) and self.n_init >= 1):
            raise ModelError(f"n_init must be a whole number >= 1, got {self.n_init!r}")
        clash = {"transition", "initial"} & set(self.emission.param_spec)
        if clash:
            raise ModelError(f"the emission has parameter(s) {sorted(clash)}, which HMM uses")

    @property
    def param_spec(self):
        spec = {k: stacked(c) for k, c in self.emission.param_spec.items()}
        spec["transition"] = ProbabilityRows(self.transition_zeros)
        if self.initial == "estimated":
            spec["initial"] = ProbabilityRows(self.initial_zeros)
        return spec

    @property
    def name(self) -> str:
        return f"HMM({self.emission.name}, n_states={self.n_states})"

    def __repr__(self) -> str:
        return self.name

    @property
    def _event_ndim(self) -> int:
        return int(getattr(self.emission, "event_ndim", 0))

    # ---------------------------------------------------------------------------- data
    def prepare(self, data):
        """Sequences -> {"x": (S, L, B, ...), "valid": (S, L, B)}: each sequence padded and
        laid out time-major in B blocks of L steps (see `_hmm_algorithms`)."""
        if isinstance(data, dict) and set(data) == {"x", "valid"}:
            return data
        seqs = list(data) if isinstance(data, list | tuple) else [data]
        if not seqs:
            raise DataError("HMM data is an empty list: give one sequence or a list of them")
        checked = []
        for s, seq in enumerate(seqs):
            try:
                arr = self.emission.prepare(seq)
            except DataError as e:
                where = f"sequence {s}: " if len(seqs) > 1 else ""
                raise DataError(f"{where}{e}") from e
            checked.append(np.asarray(arr, dtype=float))
        longest = max(a.shape[0] for a in checked)
        B, L = alg.grid_shape(longest)
        event = checked[0].shape[1:]
        x = np.empty((len(checked), B * L, *event))
        valid = np.zeros((len(checked), B * L))
        for s, a in enumerate(checked):
            if a.shape[1:] != event:
                raise DataError(
                    f"sequence {s} has observations of shape {a.shape[1:]}, sequence 0 {event}"
                )
            x[s, : a.shape[0]] = a
            x[s, a.shape[0] :] = a[0]
            valid[s, : a.shape[0]] = 1.0
        S = len(checked)
        return {
            "x": np.ascontiguousarray(x.reshape(S, B, L, *event).swapaxes(1, 2)),
            "valid": np.ascontiguousarray(valid.reshape(S, B, L).swapaxes(1, 2)),
        }

    # ---------------------------------------------------------------------------- densities
    def initial_distribution(self, params):
        if self.initial == "estimated":
            return params["initial"]
        return stationary(params["transition"])

    def log_emissions(self, params, x):
        """log f_k(x_t) for every step and state: (..., K, B) for x of shape (..., B) + event
        (the state axis just before the blocks, as `_hmm_algorithms` lays them out)."""
        comp = {k: params[k] for k in self.emission.param_spec}
        if self._event_ndim == 0 and all(v.ndim == 1 for v in comp.values()):
            # one number per state for every parameter: broadcast, no transpose
            return self.emission.logpdf({k: v[:, None] for k, v in comp.items()}, x[..., None, :])
        lead = x.shape[: x.ndim - self._event_ndim]
        flat = x.reshape(-1, *x.shape[x.ndim - self._event_ndim :])
        per = jax.vmap(lambda p: self.emission.logpdf(p, flat))(comp)
        return jnp.moveaxis(per.reshape(self.n_states, *lead), 0, -2)

    def logpdf(self, params, data):
        """The log-likelihood of each sequence (the forward algorithm)."""
        le = self.log_emissions(params, data["x"])
        G = params["transition"]
        delta = self.initial_distribution(params)
        f = alg.loglik_scaled if self.algorithm == "scaled" else alg.loglik_log
        return jax.vmap(lambda a, v: f(a, v, G, delta))(le, data["valid"])

    def derivatives(self, problem, data, weights, fixed):
        """Long sequences (cut into blocks): Fisher's identity and forward mode (see
        `_hmm_derivatives`); short ones: the engine's automatic differentiation of `logpdf`."""
        if data["valid"].shape[2] == 1:
            return None
        from ._hmm_derivatives import HMMDerivatives

        return HMMDerivatives(problem, data, weights, fixed)

    def init(self, data, weights):
        return _order(self, _Setup(self, data, weights, {}, ()).start(0))

    # ---------------------------------------------------------------------------- decoding
    def kernel(self) -> HMM:
        """This model without structural zeros: the recursions do not depend on them (zero
        probabilities stay 0), so every zero pattern shares one compiled program."""
        return dataclasses.replace(self, transition_zeros=frozenset(), initial_zeros=frozenset())

    def smoothed(self, params, data) -> list[np.ndarray]:
        _, gamma, _ = _posteriors(self.kernel(), params, data["x"], data["valid"])
        g = np.asarray(gamma)  # (S, L, K, B)
        in_time = np.transpose(g, (0, 3, 1, 2)).reshape(g.shape[0], -1, g.shape[2])
        return _per_sequence(in_time, data["valid"])

    def most_likely_path(self, params, data) -> list[np.ndarray]:
        paths = _viterbi(self.kernel(), params, data["x"], data["valid"])
        return _per_sequence(np.asarray(paths), data["valid"])

    def draw(self, values: dict[str, np.ndarray], n: int, key: Any = 0):
        k = jax.random.PRNGKey(key) if isinstance(key, int) else key
        k_states, k_obs = jax.random.split(k)
        G = np.asarray(values["transition"])
        delta = np.asarray(
            self.initial_distribution({k_: jnp.asarray(v) for k_, v in values.items()})
        )
        u = np.asarray(jax.random.uniform(k_states, (n,)))
        cum_delta, cum_G = np.cumsum(delta), np.cumsum(G, axis=1)
        states = np.empty(n, dtype=int)
        states[0] = min(int(np.searchsorted(cum_delta, u[0], side="right")), self.n_states - 1)
        for t in range(1, n):
            row = cum_G[states[t - 1]]
            states[t] = min(int(np.searchsorted(row, u[t], side="right")), self.n_states - 1)
        keys = jax.random.split(k_obs, self.n_states)
        family: Any = self.emission  # a Distribution: it has `sample`
        draws = [
            np.asarray(
                family.sample(
                    {name: np.asarray(values[name])[j] for name in self.emission.param_spec},
                    n,
                    keys[j],
                )
            )
            for j in range(self.n_states)
        ]
        return np.stack(draws)[states, np.arange(n)], states

    def fit_override(self, data, **options):
        method = options["method"]
        if method in ("newton", "bfgs"):
            return None
        if method not in ("auto", "em"):
            raise ModelError(f"method must be 'auto', 'em', 'newton' or 'bfgs', got {method!r}")
        return _fit(self, data, **options)


def stationary(G):
    """The stationary distribution of a transition matrix: delta (I - G + U) = 1."""
    K = G.shape[0]
    return jnp.linalg.solve((jnp.eye(K) - G + 1.0).T, jnp.ones(K))


def _valid_in_time_order(valid: Any) -> np.ndarray:
    """(S, L, B) grid of valid steps -> (S, T) booleans in time order."""
    v = np.asarray(valid)
    return np.swapaxes(v, 1, 2).reshape(v.shape[0], -1) > 0


def _per_sequence(values: np.ndarray, valid: np.ndarray) -> list[np.ndarray]:
    """Per-step results in time order (S, T, ...) -> one array per sequence, padding dropped."""
    keep = _valid_in_time_order(valid)
    return [values[s][keep[s]] for s in range(keep.shape[0])]


@partial(jax.jit, static_argnums=(0,))
def _posteriors(model: HMM, params, x, valid):
    le = model.log_emissions(params, x)
    G = params["transition"]
    delta = model.initial_distribution(params)
    f = alg.posteriors_scaled if model.algorithm == "scaled" else alg.posteriors_log
    return jax.vmap(lambda a, v: f(a, v, G, delta))(le, valid)


@partial(jax.jit, static_argnums=(0, 6))
def _estep(model: HMM, params, x, valid, weights, centres, order: int | None):
    """EM's E-step: log-likelihoods (S,), the emission M-step's input, the state
    probabilities of the first steps (S, K) and the transition counts (S, K, K). The M-step's
    input is either the state probabilities (K, S L B) in the data's grid order (0 at
    padding) or, when the emission family's MLE needs only weighted power sums of x about
    `centres` (K,) up to `order`, those sums (K, order + 1), with the sequence weights."""
    ll, gamma, xi = _posteriors(model, params, x, valid)
    masked = gamma * valid[:, :, None, :]
    if order is None:
        return ll, jnp.moveaxis(masked, 2, 0).reshape(model.n_states, -1), gamma[:, 0, :, 0], xi
    r = masked * weights[:, None, None, None]
    dev = x[:, :, None, :] - centres[None, None, :, None]
    power = jnp.ones_like(dev)
    sums = []
    for _ in range(order + 1):
        sums.append(jnp.sum(r * power, axis=(0, 1, 3)))
        power = power * dev
    return ll, jnp.stack(sums, axis=1), gamma[:, 0, :, 0], xi


@partial(jax.jit, static_argnums=(0,))
def _viterbi(model: HMM, params, x, valid):
    le = model.log_emissions(params, x)
    G = params["transition"]
    delta = model.initial_distribution(params)
    return jax.vmap(lambda a, v: alg.viterbi(a, v, G, delta))(le, valid)


# ------------------------------------------------------------------------------ stationary
def _stationary_mstep(
    constraint: ProbabilityRows, counts: np.ndarray, first: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """argmax_G sum n_ij log G_ij + sum_k f_k log delta_k(G), delta the stationary
    distribution of G: BFGS on the rows' log-ratios with the analytic gradient
    (d delta = delta dG Z, Z = (I - G + U)^-1, so d/dG_ij sum_k f_k log delta_k =
    delta_i (Z (f / delta))_j), from the better of the count proportions and the previous G."""
    from scipy.optimize import minimize

    K = counts.shape[0]
    shape = (K, K)
    allowed = constraint._allowed(shape)
    scale = float(counts.sum() + first.sum())

    def unpack(u: np.ndarray) -> np.ndarray:
        G, offset = np.zeros(shape), 0
        for i, a in enumerate(allowed):
            z = np.append(u[offset : offset + a.size - 1], 0.0)
            e = np.exp(z - z.max())
            G[i, a] = e / e.sum()
            offset += a.size - 1
        return G

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        G = unpack(u)
        try:
            Z = np.linalg.inv(np.eye(K) - G + 1.0)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(u)
        delta = Z.sum(axis=0)
        used = counts > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.sum(counts[used] * np.log(G[used]))
            ratio = np.where(first > 0, first / delta, 0.0)
            value += np.sum(first * np.log(np.where(first > 0, delta, 1.0)))
            dG = np.where(used, counts / np.where(used, G, 1.0), 0.0) + np.outer(delta, Z @ ratio)
        if not np.isfinite(value) or np.any(delta[first > 0] <= 0):
            return np.inf, np.zeros_like(u)
        grad, offset = np.zeros_like(u), 0
        for i, a in enumerate(allowed):
            g, p = dG[i, a], G[i, a]
            grad[offset : offset + a.size - 1] = (p * (g - g @ p))[:-1]
            offset += a.size - 1
        return -value / scale, -grad / scale

    def counts_hessian(u: np.ndarray) -> np.ndarray:
        # the Hessian of the counts term alone (rows are softmaxes: N_i (diag p - p p')),
        # which dominates the initial-distribution term in all but very short sequences
        G, H, offset = unpack(u), np.zeros((u.size, u.size)), 0
        for i, a in enumerate(allowed):
            m = a.size - 1
            pr = G[i, a][:-1]
            block = counts[i, a].sum() * (np.diag(pr) - np.outer(pr, pr))
            H[offset : offset + m, offset : offset + m] = block / scale
            offset += m
        return H

    rows = counts.sum(axis=1, keepdims=True)
    proportions = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), previous)
    candidates = [constraint.inverse(G) for G in (proportions, previous)]
    u0 = min(candidates, key=lambda u: objective(u)[0])
    if u0.size == 0:
        return unpack(u0)
    # Newton steps with the counts term's Hessian: a few steps where the initial term is
    # small; BFGS if that does not meet the gradient test
    u, (f, g) = u0, objective(u0)
    for _ in range(30):
        if np.max(np.abs(g)) <= 1e-13:
            return unpack(u)
        H = counts_hessian(u)
        try:
            step = np.linalg.solve(H + 1e-12 * np.eye(u.size), g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-6:
            f_new, g_new = objective(u - t * step)
            if f_new <= f + 1e-14 * abs(f):  # round-off: f cannot resolve the last steps
                break
            t *= 0.5
        else:
            break
        u, f, g = u - t * step, f_new, g_new
    res = minimize(objective, u, jac=True, method="BFGS", options={"gtol": 1e-13})
    best = res.x if objective(res.x)[0] <= f else u
    return unpack(best)


# ------------------------------------------------------------------------------ fit
class _Setup:
    """Data, options and the M-step of one HMM fit."""

    def __init__(self, model: HMM, data: dict, w: np.ndarray, fixed: dict, priors: tuple):
        self.model = model
        self.data = data
        self.w = w
        self.fixed = fixed
        K = model.n_states
        # every step of the (S, L, B) grid, padding included at weight 0: the M-step's
        # weighted sums need no reordering or selection
        valid = data["valid"]
        x = data["x"]
        self.obs = x.reshape(valid.size, *x.shape[3:])
        self.obs_w = np.broadcast_to(w[:, None, None], valid.shape).reshape(-1)
        self.components = ComponentStep(
            model.emission, K, self.obs, self.obs_w, fixed, priors, label="state"
        )

    def start(self, lane: int, given: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        K = self.model.n_states
        rng = np.random.default_rng([self.model.seed, lane])
        values = self.components.start(rng, given)
        values.pop("weights")
        G = np.full((K, K), (1 - STAY) / (K - 1))
        np.fill_diagonal(G, STAY)
        values["transition"] = G
        if self.model.initial == "estimated":
            values["initial"] = np.full(K, 1.0 / K)
        values.update(self.fixed)
        return values

    def mstep(
        self, previous, emission_input, centres, first, xi
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """New values from the E-step (see `_estep`): the emission M-step's input, the state
        probabilities of each sequence's first step (S, K), transition counts (S, K, K)."""
        model = self.model
        events: list[str] = []
        if self.components.moments is not None:
            emis, ev = self.components.mstep_from_sums(previous, emission_input, centres)
        else:
            emis, ev = self.components.mstep(previous, emission_input)
        events += ev
        new = {k: emis[k] for k in model.emission.param_spec}
        counts = np.einsum("s,sij->ij", self.w, xi)
        first = np.einsum("s,sk->k", self.w, first)
        rows = counts.sum(axis=1)
        for i in np.flatnonzero(rows <= 1e-12 * max(rows.sum(), 1e-300)):
            events.append(
                f"state {i} is never left or never visited (no transitions out of it): its "
                "transition row keeps its last values"
            )
        G_prev = np.asarray(previous["transition"])
        if "transition" in self.fixed:
            new["transition"] = G_prev
        elif model.initial == "stationary":
            constraint = ProbabilityRows(model.transition_zeros)
            new["transition"] = _stationary_mstep(constraint, counts, first, G_prev)
        else:
            safe = np.where(rows > 0, rows, 1.0)[:, None]
            new["transition"] = np.where(rows[:, None] > 0, counts / safe, G_prev)
        if model.initial == "estimated":
            if "initial" in self.fixed:
                new["initial"] = np.asarray(previous["initial"])
            else:
                new["initial"] = first / first.sum()
        return new, events


def _order(model: HMM, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    first = next(iter(model.emission.param_spec))
    key = values[first].reshape(model.n_states, -1)[:, 0]
    perm = np.argsort(key, kind="stable")
    out = {k: np.asarray(values[k])[perm] for k in model.emission.param_spec}
    out["transition"] = np.asarray(values["transition"])[np.ix_(perm, perm)]
    if "initial" in values:
        out["initial"] = np.asarray(values["initial"])[perm]
    return {k: out[k] for k in values}


def _to_zero(values: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str], int]:
    """Set transition/initial probabilities below TO_ZERO to exactly 0 (renormalising)."""
    events = []
    count = 0
    out = dict(values)
    for name in ("transition", "initial"):
        if name not in values:
            continue
        v = np.array(values[name], dtype=float)
        rows = v.reshape(-1, v.shape[-1])
        small = (rows > 0) & (rows < TO_ZERO)
        if small.any():
            count += int(small.sum())
            rows[small] = 0.0
            rows /= rows.sum(axis=1, keepdims=True)
            labels = [
                f"{name}[{i},{j}]" if v.ndim == 2 else f"{name}[{j}]" for i, j in np.argwhere(small)
            ]
            events.append(
                f"{', '.join(labels)} went to 0 (the boundary of the parameter space): set to 0 "
                "and held there; the standard errors of the other parameters are conditional "
                "on it (test it with a likelihood-ratio test, not a Wald test)"
            )
            out[name] = rows.reshape(v.shape)
    return out, events, count


def _with_zeros(model: HMM, values: dict[str, np.ndarray]) -> HMM:
    initial = zeros_of(values["initial"]) if "initial" in values else frozenset()
    return dataclasses.replace(
        model, transition_zeros=zeros_of(values["transition"]), initial_zeros=initial
    )


def _fit(model: HMM, data: Any, **options: Any):
    t0 = time.perf_counter()
    cov_type = check_options(model.name, options)
    method, max_iter, tol = options["method"], options.get("max_iter"), options.get("tol", 1e-12)
    packed = model.prepare(data)
    S = packed["valid"].shape[0]
    w = as_weights(options.get("weights"), S)
    if cov_type == "robust" and S == 1:
        raise ModelError(
            "cov='robust' treats sequences as the independent units of the sandwich; with one "
            "sequence it does not exist. Use cov='observed', or give several sequences"
        )
    spec = model.param_spec
    fixed_values = check_param_values(spec, options.get("fixed") or {}, "fixed")
    init_values = check_param_values(spec, options.get("init") or {}, "init")
    priors = _check_prior(spec, options.get("prior") or {}, fixed_values)
    if any(name in ("transition", "initial") for name, _ in priors):
        raise ModelError("priors on transition or initial probabilities are not supported")
    if len(fixed_values) == len(spec):
        raise ModelError("every parameter is fixed: there is nothing to estimate")
    _check_shapes(model, {**init_values, **fixed_values})
    given = {**init_values, **fixed_values}
    if "transition" in given:
        model = dataclasses.replace(model, transition_zeros=zeros_of(given["transition"]))
    if "initial" in given and model.initial == "estimated":
        model = dataclasses.replace(model, initial_zeros=zeros_of(given["initial"]))
    setup = _Setup(model, packed, w, fixed_values, priors)

    lanes = 1 if init_values else model.n_init
    starts = []
    known = frozenset(init_values) | frozenset(fixed_values)
    for r in range(lanes):
        start = setup.start(r, known)
        start.update(init_values)
        start.update(fixed_values)
        starts.append(start)
    state = stack_values(starts)
    x, valid, wj = jnp.asarray(packed["x"]), jnp.asarray(packed["valid"]), jnp.asarray(w)
    K = model.n_states
    events: list[list[str]] = [[] for _ in range(lanes)]
    em_tol = max(tol, EM_SWITCH_TOL) if method == "auto" else tol
    iters = max_iter or 1000

    kernel = model.kernel()

    def em_step(state, active):
        new = {k: np.array(v) for k, v in state.items()}
        ll_total = np.full(lanes, np.nan)
        for r in np.flatnonzero(active):
            lane = {k: v[r] for k, v in state.items()}
            order = setup.components.moment_order
            centres = np.zeros(K) if order is None else setup.components.centres(lane)
            ll, inp, first, xi = _estep(
                kernel, {k: jnp.asarray(v) for k, v in lane.items()}, x, valid, wj, centres, order
            )
            ll_total[r] = float(np.asarray(ll) @ w)
            if not np.isfinite(ll_total[r]):
                continue
            upd, ev = setup.mstep(lane, np.asarray(inp), centres, np.asarray(first), np.asarray(xi))
            for k, v in upd.items():
                new[k][r] = v
            for e in ev:
                if e not in events[r]:
                    events[r].append(e)
        return new, ll_total

    run = run_em(em_step, state, lanes, max_iter=iters, tol=em_tol)
    best = best_start(model.name, run)
    values = {k: np.asarray(v[best]) for k, v in run.state.items()}
    if not fixed_values:
        values = _order(model, values)
    values, zero_events, n_boundary = _to_zero(values)
    model = _with_zeros(model, values)
    ctx = context(model, packed, w, values, fixed_values, priors)
    newton_result, polished = None, False
    if method == "auto" and not events[best]:
        first = polish(ctx, values, tol, None)
        if first is not None:
            values, newton_result = first
            polished = True
            values, more, extra = _to_zero(values)
            if more:  # Newton drove more probabilities to 0: hold them there, polish again
                zero_events += more
                n_boundary += extra
                model = _with_zeros(model, values)
                ctx = context(model, packed, w, values, fixed_values, priors)
                again = polish(ctx, values, tol, None)
                newton_result = None if again is None else again[1]
                if again is not None:
                    values = again[0]
    solution = em_solution(
        model.name,
        values,
        run,
        best,
        events=events[best] + zero_events,
        newton=newton_result,
        em_tol=em_tol,
        max_iter=iters,
        started=t0,
        polished=polished,
    )
    fit = finish(
        ctx, solution, cov_type, HMMFit, newton_result, n_sequences=S, n_boundary=n_boundary
    )
    n_time = float(np.sum(packed["valid"].reshape(S, -1).sum(axis=1) * w))
    return fit.replace(nobs=n_time)


def _check_shapes(model: HMM, given: dict[str, np.ndarray]) -> None:
    K = model.n_states
    for name, v in given.items():
        want = {"transition": (K, K), "initial": (K,)}.get(name)
        if want is not None and v.shape != want:
            raise ModelError(f"{name} must have shape {want}, got {v.shape}")
        if want is None and (v.ndim == 0 or v.shape[0] != K):
            raise ModelError(
                f"{name} must have one value per state along its first axis (length {K}), "
                f"got shape {v.shape}"
            )
