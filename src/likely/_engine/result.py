"""`Fit`: the immutable result of a fit, and everything likelihood theory says about it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Self

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .errors import ModelError
from .model import AbstractModel, Layout

if TYPE_CHECKING:
    from .fit import Context

_Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ModelError(f"level must lie in (0, 1), got {level}")
    if level in _Z:
        return _Z[level]
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


@lru_cache(maxsize=256)
def _label_index(labels: tuple[str, ...]) -> pd.Index:
    """The pandas Index of a tuple of labels (fits take views of it)."""
    return pd.Index(labels, dtype=object)


def delta_cov(G: np.ndarray, cov_u: np.ndarray) -> np.ndarray:
    """G cov_u G', where coordinates without a covariance (NaN) make NaN only the outputs
    that depend on them (plain matrix products would spread NaN everywhere)."""
    missing = np.isnan(np.diag(cov_u))
    if not missing.any():
        return G @ cov_u @ G.T
    out = G @ np.where(np.isnan(cov_u), 0.0, cov_u) @ G.T
    touched = np.any(G[:, missing] != 0, axis=1)
    out[touched, :] = np.nan
    out[:, touched] = np.nan
    return out


def _pvalue_chi2(stat: float, df: float) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(stat, df))


@dataclass(frozen=True)
class LRTest:
    """Likelihood-ratio test of a restricted model against a fuller one."""

    statistic: float
    df: int
    pvalue: float

    def __repr__(self) -> str:
        return f"LRTest(statistic={self.statistic:.6g}, df={self.df}, pvalue={self.pvalue:.4g})"


@dataclass(frozen=True)
class Transformed:
    """The MLE of g(theta) (invariance) with delta-method standard errors."""

    estimate: pd.Series
    cov: pd.DataFrame
    is_map: bool = False

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.estimate.index)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        z = _z(level)
        est, se = self.estimate.to_numpy(), self.se.to_numpy()
        return pd.DataFrame(
            {"lower": est - z * se, "upper": est + z * se}, index=self.estimate.index
        )

    def __float__(self) -> float:
        if len(self.estimate) != 1:
            raise TypeError("float() of a transform with several outputs")
        return float(self.estimate.iloc[0])

    def __repr__(self) -> str:
        table = pd.DataFrame({"estimate": self.estimate, "se": self.se}).join(self.conf_int())
        return "Transformed (delta method)\n" + table.to_string()


@dataclass(frozen=True)
class Fit:
    """A fitted model. Parameters are on their natural scale; inference is likelihood-based.

    For MAP fits (a prior was given) `params` are posterior modes and `se` are
    Laplace-approximation posterior standard deviations.
    """

    model: AbstractModel
    values: dict[str, np.ndarray]  # natural values by parameter name (fixed ones included)
    loglik: float  # the log-likelihood at the estimate (prior excluded)
    nobs: float  # number of observations (sum of frequency weights)
    converged: bool
    iterations: int
    message: str
    grad_norm: float
    method: str
    cov_type: str
    boundary: tuple[str, ...]
    note: str | None
    _ctx: Context = field(repr=False)
    _u: np.ndarray = field(repr=False)
    _cov_u: np.ndarray = field(repr=False)
    _jac: np.ndarray = field(repr=False)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------------------- estimates
    @cached_property
    def _all_layout(self) -> Layout:
        if not self._ctx.fixed:  # every parameter is free: the problem's own layout
            return self._ctx.problem.layout
        return Layout.build(self.model.param_spec, self.values, self.model)

    @property
    def labels(self) -> list[str]:
        return self._all_layout.labels

    @cached_property
    def _index(self) -> pd.Index:
        # one Index for params, se and cov: building it is most of a small Series' cost. A
        # view of a cached one: a user who names this fit's index does not name another's
        return _label_index(tuple(self.labels)).view()

    @cached_property
    def _free_labels(self) -> list[str]:
        return self._ctx.problem.layout.labels

    @property
    def params(self) -> pd.Series:
        flat = np.concatenate([np.ravel(self.values[b.name]) for b in self._all_layout.blocks])
        return pd.Series(flat, index=self._index, name="estimate", copy=False)

    @property
    def fixed(self) -> dict[str, np.ndarray]:
        return dict(self._ctx.fixed)

    @property
    def prior(self) -> dict[str, Any]:
        return dict(self._ctx.problem.prior)

    @property
    def is_map(self) -> bool:
        return bool(self._ctx.problem.prior)

    @cached_property
    def _cov_full(self) -> np.ndarray:
        labels = self.labels
        free = self._free_labels
        cov_free = delta_cov(self._jac, self._cov_u)
        if list(free) == list(labels):
            return cov_free
        full = np.zeros((len(labels), len(labels)))
        pos = [labels.index(lab) for lab in free]
        full[np.ix_(pos, pos)] = cov_free
        return full

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Covariance of the estimates on the natural scale (zero rows for fixed parameters)."""
        return pd.DataFrame(self._cov_full, index=self._index, columns=self._index)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._cov_full)), index=self._index, name="se", copy=False)

    @property
    def k(self) -> int:
        """Number of free parameters (the dimension of the unconstrained vector)."""
        return int(self._ctx.problem.layout.size)

    @property
    def aic(self) -> float:
        return 2 * self.k - 2 * self.loglik

    @property
    def bic(self) -> float:
        return self.k * math.log(self.nobs) - 2 * self.loglik

    @cached_property
    def _objective_at_hat(self) -> float:
        u = np.clip(self._u, -40.0, 40.0)
        return self._ctx.derivatives.value_grad_hess(u)[0]

    @property
    def log_posterior(self) -> float:
        """For MAP fits: log-likelihood plus log-prior at the estimate."""
        return -self._objective_at_hat * self._ctx.scale

    # ----------------------------------------------------------------------------- inference
    def with_cov(self, cov: str) -> Fit:
        """The same estimates with covariance 'observed', 'expected' or 'robust'."""
        from .fit import refinish

        return refinish(self, cov)

    def information(self, kind: str = "observed") -> pd.DataFrame:
        """The information matrix of the free parameters on the natural scale."""
        from .fit import information_u

        info_u, _ = information_u(self._ctx, self._u, dict(self.values), kind, None)
        if kind == "robust":
            raise ModelError("the robust covariance is a sandwich, not an information matrix")
        jinv = np.linalg.pinv(self._jac)
        info = jinv.T @ info_u @ jinv
        return pd.DataFrame(info, index=self._free_labels, columns=self._free_labels)

    def conf_int(
        self, level: float = 0.95, method: str = "wald", params: list[str] | None = None
    ) -> pd.DataFrame:
        """Confidence intervals: 'wald' (estimate +- z se) or 'profile' (likelihood ratio)."""
        labels = params if params is not None else self.labels
        unknown = [lab for lab in labels if lab not in self.labels]
        if unknown:
            raise ModelError(f"unknown parameter(s) {unknown}; the fit has {self.labels}")
        est = self.params[labels].to_numpy()
        if method == "wald":
            se = self.se[labels].to_numpy()
            z = _z(level)
            lower, upper = est - z * se, est + z * se
        elif method == "profile":
            from .profile import profile_interval

            _z(level)
            pairs = []
            for lab in labels:
                if lab in self.fixed or lab not in self._free_labels:
                    pairs.append((est[labels.index(lab)],) * 2)
                else:
                    pairs.append(profile_interval(self, lab, level))
            lower, upper = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
        else:
            raise ModelError(f"method must be 'wald' or 'profile', got {method!r}")
        return pd.DataFrame({"lower": lower, "upper": upper}, index=labels)

    def transform(
        self, g: Callable[[Mapping[str, jnp.ndarray]], Any], names: list[str] | None = None
    ) -> Transformed:
        """The MLE of g(theta) (the invariance property) with a delta-method covariance.

        `g` takes the natural parameters by name (jax arrays) and returns a scalar, an array
        or a dict of scalars; it must be written in jax.numpy so that it can be differentiated.
        """
        problem = self._ctx.problem
        fixed = self._ctx.device[2]

        def flat(u: jnp.ndarray) -> jnp.ndarray:
            out = g(problem.natural(u, fixed))
            if isinstance(out, Mapping):
                return jnp.stack([jnp.asarray(v, dtype=jnp.float64) for v in out.values()])
            return jnp.ravel(jnp.asarray(out, dtype=jnp.float64))

        u = jnp.asarray(self._u)
        est = np.asarray(flat(u))
        G = np.asarray(jax.jacfwd(flat)(u)).reshape(est.size, -1)
        cov = delta_cov(G, self._cov_u)
        sample = g(problem.natural(u, fixed))
        if names is None:
            if isinstance(sample, Mapping):
                names = list(sample)
            elif est.size == 1:
                names = ["g"]
            else:
                names = [f"g[{i}]" for i in range(est.size)]
        if len(names) != est.size:
            raise ModelError(f"names has {len(names)} entries for {est.size} outputs of g")
        return Transformed(
            pd.Series(est, index=names, name="estimate"),
            pd.DataFrame(cov, index=names, columns=names),
            self.is_map,
        )

    def bootstrap(
        self,
        reps: int = 2000,
        kind: str = "nonparametric",
        *,
        key: Any = 0,
        chunk: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Refit `reps` resampled ("nonparametric") or simulated ("parametric") data sets at
        once; the result has ``conf_int(method="percentile" | "basic" | "bca")``, ``se`` and
        ``estimates``. `key` is an int seed or a jax PRNG key. See `likely._study.bootstrap`."""
        from .._study._bootstrap import bootstrap

        return bootstrap(self, reps, kind, key=key, chunk=chunk, progress=progress)

    def lr_test(self, restricted: Fit) -> LRTest:
        """Likelihood-ratio test of `restricted` (nested in this fit) against this fit."""
        if not isinstance(restricted, Fit):
            raise ModelError("lr_test needs another Fit (the restricted model)")
        if not math.isclose(restricted.nobs, self.nobs, rel_tol=1e-12):
            raise ModelError(f"the fits use different data: nobs {self.nobs} vs {restricted.nobs}")
        full, small = (self, restricted) if self.k >= restricted.k else (restricted, self)
        df = full.k - small.k
        if df <= 0:
            raise ModelError("the two fits have the same number of free parameters: not nested")
        stat = 2.0 * (full.loglik - small.loglik)
        if stat < -1e-6 * max(1.0, abs(full.loglik)):
            raise ModelError(
                f"the larger model has the lower log-likelihood ({full.loglik:.6g} < "
                f"{small.loglik:.6g}): the models are not nested or a fit did not converge"
            )
        stat = max(stat, 0.0)
        return LRTest(stat, df, _pvalue_chi2(stat, df))

    # ----------------------------------------------------------------------------- plots
    def plot_profile(self, param: str, level: float = 0.95, ax: Any = None) -> Any:
        """Profile log-likelihood of `param` with its profile interval shaded and the Wald
        interval and quadratic approximation dashed; returns the matplotlib Axes."""
        from .._plots import plot_profile

        return plot_profile(self, param, level, ax)

    def plot_coef(
        self,
        level: float = 0.95,
        method: str = "wald",
        params: list[str] | None = None,
        ax: Any = None,
    ) -> Any:
        """Estimates with their intervals (regression coefficients, or every free parameter)."""
        from .._plots import plot_coef

        return plot_coef(self, level, method, params, ax)

    def plot_density(
        self, ax: Any = None, bins: Any = "auto", hist: bool = True, label: str | None = None
    ) -> Any:
        """For a distribution fitted to one column: the fitted density (or pmf) over a
        histogram (bar chart) of the data."""
        from .._plots import plot_density

        return plot_density(self, ax, bins, hist, label)

    def plot_qq(self, ax: Any = None) -> Any:
        """For a distribution fitted to one column: observed against fitted quantiles."""
        from .._plots import plot_qq

        return plot_qq(self, ax)

    def plot_pp(self, ax: Any = None) -> Any:
        """For a distribution fitted to one column: empirical against fitted probabilities."""
        from .._plots import plot_pp

        return plot_pp(self, ax)

    # ----------------------------------------------------------------------------- saving
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the result (model, estimates, covariance, summary, and for
        GLMs what predictions need); ``lk.load`` reads it back."""
        from .._serialize import fit_to_dict

        return fit_to_dict(self)

    def save(self, path: Any) -> None:
        """Write ``to_dict()`` to `path` as JSON; read it back with ``lk.load(path)``."""
        from .._serialize import save

        save(self, path)

    # ----------------------------------------------------------------------------- display
    def summary(self, level: float = 0.95) -> Summary:
        return Summary(self, level)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


@dataclass(frozen=True)
class Summary:
    fit: Fit
    level: float = 0.95

    def table(self) -> pd.DataFrame:
        f = self.fit
        ci = f.conf_int(self.level)
        se_name = "post. sd" if f.is_map else "std err"
        t = pd.DataFrame({"estimate": f.params, se_name: f.se})
        real = _real_labels(f)
        z = np.where([lab in real for lab in t.index], t["estimate"] / t[se_name], np.nan)
        t["z"] = z
        t["P>|z|"] = [_two_sided(v) for v in z]
        pct = round(self.level * 100, 6)
        t[f"[{pct:g}% lower"] = ci["lower"]
        t["upper]"] = ci["upper"]
        return t

    def header(self) -> list[tuple[str, str]]:
        f = self.fit
        rows = [
            ("Model", f.model.name),
            ("Estimate", "MAP (posterior mode)" if f.is_map else "maximum likelihood"),
            ("Method", f.method),
            ("Observations", f"{f.nobs:g}"),
            ("Log-likelihood", f"{f.loglik:.6f}"),
            ("AIC / BIC", f"{f.aic:.4f} / {f.bic:.4f}"),
            ("Free parameters", str(f.k)),
            ("Converged", f"{f.converged} ({f.iterations} iterations, |grad| {f.grad_norm:.1e})"),
            ("Covariance", f.cov_type + (" (Laplace approximation)" if f.is_map else "")),
        ]
        if f.fixed:
            rows.append(
                ("Fixed", ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in f.fixed.items()))
            )
        return rows

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
        from html import escape

        head = "".join(
            f"<tr><th style='text-align:left'>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
            for k, v in self.header()
        )
        body = self.table().to_html(float_format="{:.6g}".format, na_rep="")
        note = f"<p><b>Note:</b> {escape(self.fit.note)}</p>" if self.fit.note else ""
        return f"<div><table>{head}</table>{body}{note}</div>"


def _two_sided(z: float) -> float:
    if not np.isfinite(z):
        return np.nan
    return math.erfc(abs(z) / math.sqrt(2.0))


def _real_labels(f: Fit) -> set[str]:
    from .constraints import real

    out: set[str] = set()
    for b in f._all_layout.blocks:
        if b.constraint == real and b.name not in f.fixed:
            out.update(b.labels)
    return out
