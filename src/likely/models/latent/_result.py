"""Results of EM fits: a `Fit` (standard errors from the observed information of the marginal
log-likelihood at the EM solution) plus the EM report and the latent-variable methods."""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._engine.errors import ConvergenceWarning, DataError, InferenceWarning, ModelError
from ..._engine.fit import Context, _finish
from ..._engine.model import AbstractModel, Layout
from ..._engine.problem import Problem
from ..._engine.result import Fit, Summary
from ..._engine.solvers import CONVERGED, MAX_ITER, SolverResult
from ._em import EMReport, EMRun

# Newton steps on the marginal likelihood after EM are taken when the model has at most this
# many free parameters (each step needs the Hessian).
POLISH_MAX_PARAMS = 200


@dataclass(frozen=True)
class Solution:
    """An EM (or EM + Newton) solution, ready for inference."""

    values: dict[str, np.ndarray]  # natural values, fixed ones included
    converged: bool
    iterations: int
    message: str
    method: str  # "EM" or "EM + Newton"
    report: EMReport


def context(
    model: AbstractModel,
    prepared: Any,
    weights: np.ndarray,
    values: dict[str, np.ndarray],
    fixed: dict[str, np.ndarray],
    priors: tuple,
) -> Context:
    spec = model.param_spec
    free = {k: values[k] for k in spec if k not in fixed}
    layout = Layout.build(spec, free, model)
    return Context(Problem(model, layout, priors), prepared, weights, dict(fixed))


def polish(
    ctx: Context, values: dict[str, np.ndarray], tol: float, max_iter: int | None
) -> tuple[dict[str, np.ndarray], SolverResult] | None:
    """Newton's method on the marginal log-likelihood from the EM solution (quadratic
    convergence to the exact maximum); None when it does not improve on EM."""
    layout = ctx.problem.layout
    if layout.size > POLISH_MAX_PARAMS or _on_boundary(layout, values):
        return None
    u0 = layout.to_unconstrained(values)
    if not np.all(np.isfinite(u0)):
        return None
    # damped Newton only accepts steps that increase the likelihood
    res = ctx.solve(u0, method="newton", max_iter=max_iter or 50, tol=tol)
    if not res.converged or not np.isfinite(res.value):
        return None
    nat = layout.to_natural(jnp.asarray(res.u))
    new = dict(values)
    new.update({k: np.asarray(v) for k, v in nat.items()})
    return new, res


def polish_if(
    ctx: Context, values: dict[str, np.ndarray], tol: float, wanted: bool
) -> tuple[dict[str, np.ndarray], SolverResult | None]:
    """(values, Newton's result) after `polish` when wanted and it improves on EM, else EM's
    values and None."""
    polished = polish(ctx, values, tol, None) if wanted else None
    return (values, None) if polished is None else polished


def _on_boundary(layout: Layout, values: dict[str, np.ndarray]) -> bool:
    return any(np.any(b.constraint.on_boundary(values[b.name])) for b in layout.blocks)


def finish(
    ctx: Context,
    solution: Solution,
    cov_type: str,
    cls: type[Fit],
    newton: SolverResult | None = None,
    **extra: Any,
) -> Any:
    """The `Fit` at an EM solution: inference through the engine's `_finish`, with the
    observed information of the marginal log-likelihood by automatic differentiation."""
    values = solution.values
    layout = ctx.problem.layout
    if newton is not None:
        solver = newton
    elif _on_boundary(layout, values):
        u = layout.to_unconstrained(values)
        solver = SolverResult(u, np.nan, np.zeros_like(u), None, solution.iterations, CONVERGED)
    else:
        u = layout.to_unconstrained(values)
        f, g, H = ctx.derivatives.value_grad_hess(u)
        solver = SolverResult(u, f, g, H, solution.iterations, CONVERGED)
    status = CONVERGED if solution.converged else MAX_ITER
    solver = dataclasses.replace(solver, iterations=solution.iterations, status=status)
    base = _finish(ctx, values, solver, "newton", cov_type)
    notes = [*solution.report.events]
    if base.note:
        notes.append(base.note)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Fit)}
    fields.update(
        method=solution.method,
        message=solution.message,
        note="; ".join(notes) if notes else None,
    )
    return cls(**fields, em=solution.report, **extra)  # type: ignore[call-arg]


def em_solution(
    name: str,
    values: dict[str, np.ndarray],
    run: EMRun,
    best: int,
    *,
    events: list[str],
    newton: SolverResult | None,
    em_tol: float,
    max_iter: int,
    started: float,
    polished: bool | None = None,
) -> Solution:
    """The chosen start's solution and EM report; warns about what happened (stack level:
    the user's `lk.fit` call). `polished`: Newton's method converged after EM (default:
    `newton` is given)."""
    polished = newton is not None if polished is None else polished
    converged = bool(run.converged[best]) or polished
    message = "converged"
    if not converged:
        message = (
            f"EM reached max_iter={max_iter} before the relative change of the log-likelihood "
            f"fell below {em_tol:g}"
        )
        warnings.warn(
            f"{name}: {message}. Try a larger max_iter, other start values (init=... or more "
            "n_init), or fewer components/states.",
            ConvergenceWarning,
            stacklevel=5,
        )
    report = EMReport(
        iterations=int(run.iterations[best]),
        loglik_trace=run.trace[: run.iterations[best], best],
        converged=bool(run.converged[best]),
        n_init=run.trace.shape[1],
        start_logliks=run.trace[-1],
        newton_steps=0 if newton is None else newton.iterations,
        seconds=time.perf_counter() - started,
        em_seconds=run.seconds,
        events=tuple(events),
    )
    if events:
        warnings.warn(f"{name}: {'; '.join(events)}", InferenceWarning, stacklevel=5)
    method = "EM + Newton" if polished else "EM"
    return Solution(values, converged, report.iterations, message, method, report)


def best_start(name: str, run: EMRun) -> int:
    """The start with the highest final log-likelihood (ModelError if none is finite)."""
    final = run.trace[-1]
    if not np.any(np.isfinite(final)):
        raise ModelError(
            f"{name}: the log-likelihood is not finite in any start; check the data and the "
            "family, or give start values with init=..."
        )
    return int(np.argmax(np.where(np.isfinite(final), final, -np.inf)))


@dataclass(frozen=True)
class EMSummary(Summary):
    def header(self) -> list[tuple[str, str]]:
        rows = super().header()
        em = getattr(self.fit, "em", None)
        if em is not None:
            polish = f", then {em.newton_steps} Newton steps" if em.newton_steps else ""
            rows.append(("EM", f"{em.iterations} iterations, {em.n_init} start(s){polish}"))
        return rows


@dataclass(frozen=True, repr=False)
class MixtureFit(Fit):
    """The result of fitting `lk.Mixture` or `lk.GaussianMixture`: every `Fit` method, plus
    `posterior`, `classify`, `sample`, `plot_components` and the EM report `em`.

    Components are ordered by their first parameter (`mu`, `rate`, ...; for
    `GaussianMixture` the first coordinate of the mean), increasing: this fixes the labels.
    """

    em: EMReport = field(default=None, repr=False)  # type: ignore[assignment]

    def _x(self, x: Any) -> Any:
        if x is None:
            return self._ctx.data
        return self.model.prepare(x)

    def posterior(self, x: Any = None) -> np.ndarray:
        """P(component j | x_i): an (n, k) array, rows summing to 1 (default: the fitted data)."""
        lp = np.asarray(_latent(self).component_logpdf(_jax_values(self), self._x(x)))
        top = lp.max(axis=1, keepdims=True)
        p = np.exp(lp - top)
        return p / p.sum(axis=1, keepdims=True)

    def classify(self, x: Any = None) -> np.ndarray:
        """The most probable component of each observation (0-based)."""
        return np.argmax(self.posterior(x), axis=1)

    def sample(self, n: int, key: Any = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` observations from the fitted mixture: (x, component labels)."""
        return _latent(self).draw(self.values, n, key)

    def plot_components(self, ax: Any = None, bins: Any = "auto") -> Any:
        """Histogram of univariate data with the fitted density and its weighted components."""
        import matplotlib.pyplot as plt

        x = np.asarray(self._ctx.data)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise ModelError("plot_components draws univariate mixtures only")
        if ax is None:
            _, ax = plt.subplots()
        discrete = bool(np.all(np.floor(x) == x))
        lo, hi = float(x.min()), float(x.max())
        pad = 0.05 * (hi - lo or 1.0)
        if discrete:
            grid = np.arange(np.floor(lo), np.ceil(hi) + 1)
            counts = np.bincount((x - grid[0]).astype(int), weights=self._ctx.weights)
            ax.bar(grid, counts / counts.sum(), color="0.85", label="data")
        else:
            grid = np.linspace(lo - pad, hi + pad, 400)
            ax.hist(x, bins=bins, density=True, color="0.85", weights=self._ctx.weights)
        lp = np.asarray(
            _latent(self).component_logpdf(_jax_values(self), grid.reshape(-1, *x.shape[1:]))
        )
        dens = np.exp(lp)
        for j in range(dens.shape[1]):
            ax.plot(grid, dens[:, j], lw=1.2, label=f"component {j}")
        ax.plot(grid, dens.sum(axis=1), color="k", lw=1.8, label="mixture")
        ax.set_xlabel("x")
        ax.set_ylabel("probability" if discrete else "density")
        ax.legend()
        return ax

    def summary(self, level: float = 0.95) -> EMSummary:
        return EMSummary(self, level)


@dataclass(frozen=True, repr=False)
class HMMFit(Fit):
    """The result of fitting `lk.HMM`: every `Fit` method, plus `posterior` (smoothed state
    probabilities), `viterbi` (most likely state path), `sample`, `initial` and the EM report.

    `nobs` is the number of observations (time points), which BIC uses; states are ordered by
    the emission's first parameter, increasing.
    """

    em: EMReport = field(default=None, repr=False)  # type: ignore[assignment]
    n_sequences: int = 0
    n_boundary: int = 0  # probabilities estimated as exactly 0 (counted in k, as estimated)

    @property
    def k(self) -> int:
        """Free parameters, counting probabilities the fit set to 0 (they were estimated)."""
        return int(self._ctx.problem.layout.size) + self.n_boundary

    @property
    def initial(self) -> np.ndarray:
        """The initial state distribution (the stationary one unless it was estimated)."""
        return np.asarray(_latent(self).initial_distribution(_jax_values(self)))

    def _packed(self, sequences: Any) -> Any:
        if sequences is None:
            return self._ctx.data
        return self.model.prepare(sequences)

    def posterior(self, sequences: Any = None) -> np.ndarray | list[np.ndarray]:
        """P(state at t | whole sequence): a (T, K) array per sequence (default: the fitted
        data); a list when there are several sequences."""
        packed = self._packed(sequences)
        out = _latent(self).smoothed(_jax_values(self), packed)
        return out[0] if len(out) == 1 else out

    def viterbi(self, sequences: Any = None) -> np.ndarray | list[np.ndarray]:
        """The most likely state path (0-based states) of each sequence (default: the fitted
        data); a list when there are several sequences."""
        packed = self._packed(sequences)
        out = _latent(self).most_likely_path(_jax_values(self), packed)
        return out[0] if len(out) == 1 else out

    def sample(self, n: int, key: Any = 0) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one sequence of length `n` from the fitted chain: (x, states)."""
        return _latent(self).draw(self.values, n, key)

    def summary(self, level: float = 0.95) -> EMSummary:
        return EMSummary(self, level)


def _latent(fit: Fit) -> Any:
    """The fit's model (a Mixture, GaussianMixture or HMM), with its latent-variable methods."""
    return fit.model


def _jax_values(fit: Fit) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v) for k, v in fit.values.items()}


def check_options(name: str, options: dict[str, Any]) -> str:
    """The covariance type; options an EM fit cannot honour raise at once."""
    for key in ("event", "entry"):
        if options.get(key) is not None:
            raise DataError(f"{name} does not take censored or truncated data ({key}=)")
    return options.get("cov") or "observed"
