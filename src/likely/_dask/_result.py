"""A `Fit` whose data stay on the cluster: the context it keeps, and the methods that differ.

Everything a `Fit` does from its estimate and covariance works unchanged (params, se, cov,
Wald intervals, transform, lr_test, aic/bic, summary). What needs the data runs as passes
over the partitions: the observed, expected and robust information (`with_cov`,
`information`) and profile-likelihood intervals (each profile point is a Newton solve of a
few passes, and an interval takes tens of them: mind the cost). Plots of the data against
the fit (density, Q-Q, P-P) raise a `ModelError`.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .._engine.errors import InferenceWarning, ModelError
from .._engine.fit import Context, _jacobian, _u_labels
from .._engine.inference import covariance_u
from .._engine.model import Layout
from .._engine.result import Fit, Summary
from .._engine.solvers import SolverResult, newton
from ._derivatives import DaskDerivatives


class DaskContext(Context):
    """A `Context` whose derivatives are passes over a cluster; the data are never here."""

    def __init__(self, problem: Any, derivatives: DaskDerivatives) -> None:
        self.problem = problem
        self.data = None
        self.weights = np.zeros(0)
        self.fixed = derivatives.fixed
        self.scale = derivatives.scale
        self.closed_form = False
        self._derivatives = derivatives

    @cached_property
    def derivatives(self) -> DaskDerivatives:
        return self._derivatives

    @cached_property
    def device(self) -> tuple[Any, Any, dict[str, Any]]:
        return None, None, {k: jnp.asarray(v) for k, v in self.fixed.items()}

    def args(self) -> tuple[Any, ...]:
        raise ModelError("the data of a fit on Dask stay on the cluster")

    def solve(
        self,
        u0: np.ndarray,
        *,
        method: str,
        mask: np.ndarray | None = None,
        max_iter: int | None = None,
        tol: float = 1e-12,
    ) -> SolverResult:
        """Newton over partition sums (profile likelihoods come here); BFGS is not offered."""
        vgh = self.derivatives.value_grad_hess
        return newton(vgh, u0, mask=mask, gtol=tol, max_iter=max_iter or 100)


def information(
    ctx: DaskContext, u: np.ndarray, values: dict, kind: str, hess: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(information on u, meat or None), as the engine's `information_u`, from passes."""
    problem = ctx.problem
    derivs = ctx.derivatives
    if kind == "expected":
        full = derivs.expected(u)
        jac = _jacobian(problem, u, values)
        all_layout = Layout.build(problem.model.param_spec, values, problem.model)
        free = set(problem.layout.labels)
        keep = [i for i, lab in enumerate(all_layout.labels) if lab in free]
        return jac.T @ full[np.ix_(keep, keep)] @ jac, None
    if kind not in ("observed", "robust"):
        raise ModelError(f"cov must be 'observed', 'expected' or 'robust', got {kind!r}")
    if hess is None:
        hess = derivs.value_grad_hess(u)[2]
    info = hess * ctx.scale
    return info, (derivs.meat(u) if kind == "robust" else None)


def covariance(
    ctx: DaskContext, u: np.ndarray, values: dict, kind: str, hess: np.ndarray | None = None
) -> tuple[np.ndarray, str | None]:
    info, meat = information(ctx, u, values, kind, hess)
    cov_u, note = covariance_u(info, _u_labels(ctx.problem.layout), meat)
    if note is not None:
        warnings.warn(f"{ctx.problem.model.name}: {note}", InferenceWarning, stacklevel=4)
    return cov_u, note


class OnDask:
    """What a fit on Dask does differently (mixed into `Fit` and `GLMFit`)."""

    @property
    def partitions(self: Any) -> int:
        """Number of partitions of the data."""
        return int(self._ctx.derivatives.cluster.npartitions)

    @property
    def passes(self: Any) -> int:
        """Passes over the data so far (the fit's, then any its methods made)."""
        return int(self._ctx.derivatives.cluster.passes)

    def with_cov(self: Any, cov: str) -> Any:
        """The same estimates with covariance 'observed', 'expected' or 'robust' (a pass)."""
        if self.boundary:
            return self.replace(cov_type=cov)
        cov_u, note = covariance(self._ctx, self._u, dict(self.values), cov)
        return self.replace(cov_type=cov, _cov_u=cov_u, note=note)

    def information(self: Any, kind: str = "observed") -> pd.DataFrame:
        """The information matrix of the free parameters on the natural scale (a pass)."""
        if kind == "robust":
            raise ModelError("the robust covariance is a sandwich, not an information matrix")
        info_u, _ = information(self._ctx, self._u, dict(self.values), kind)
        jinv = np.linalg.pinv(self._jac)
        info = jinv.T @ info_u @ jinv
        return pd.DataFrame(info, index=self._free_labels, columns=self._free_labels)

    def plot_density(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _needs_data("plot_density")

    def plot_qq(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _needs_data("plot_qq")

    def plot_pp(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _needs_data("plot_pp")

    def summary(self: Any, level: float = 0.95) -> Any:
        """The fit's usual summary, with a line on the partitions and passes."""
        return DaskSummary(super().summary(level), self)  # type: ignore[misc]


def _needs_data(what: str) -> ModelError:
    return ModelError(
        f"{what} draws the data, which stay on the cluster for a fit on Dask; plot a sample "
        "(e.g. ddf.sample(frac=0.01).compute()) against the fitted model instead"
    )


class DaskSummary:
    """The fit's own summary with a line saying where the data are."""

    def __init__(self, inner: Summary, fit: Any) -> None:
        self.inner = inner
        self.fit = fit
        self.level = inner.level

    def table(self) -> pd.DataFrame:
        return self.inner.table()

    def header(self) -> list[tuple[str, str]]:
        f = self.fit
        where = (
            f"Dask, {f.partitions} partitions "
            f"({'in memory' if f._ctx.derivatives.cluster.persisted else 'read each pass'}), "
            f"{f.passes} passes"
        )
        return [*self.inner.header(), ("Data", where)]

    def __str__(self) -> str:
        head = "\n".join(f"{k:<16} {v}" for k, v in self.header())
        with pd.option_context("display.float_format", "{:.6g}".format, "display.width", 120):
            body = self.table().to_string(na_rep="")
        out = f"{head}\n{body}"
        if self.fit.note:
            out += f"\nNote: {self.fit.note}"
        return out

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.inner._repr_html_()


class DaskFit(OnDask, Fit):
    """The result of `lk.fit` on Dask data: a `Fit` (see `OnDask` for what runs as passes)."""
