"""`AFTFit`: a `Fit` that also knows its design, for acceleration factors and predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..._engine.data import as_array
from ..._engine.errors import DataError, ModelError
from ..._engine.result import Fit, Summary, Transformed, _z
from ._aft_laws import AbstractLaw


@dataclass(frozen=True)
class AFTInfo:
    formula: str | None
    law: AbstractLaw
    columns: tuple[str, ...]
    model_spec: Any  # formulaic ModelSpec of the right-hand side
    response: str  # how the times were given, for the summary
    counts: dict[str, int]  # exact / right / left / interval / truncated rows
    max_time: float  # the largest finite time in the data (plots' default range)
    X: np.ndarray = field(repr=False)


@dataclass(frozen=True, repr=False)
class AFTFit(Fit):
    """The result of `lk.aft`: every `Fit` method, plus acceleration factors and predictions
    of survival and quantiles (median lifetime) with delta-method intervals."""

    aft: AFTInfo = field(default=None, repr=False)  # type: ignore[assignment]

    # --------------------------------------------------------------------------- estimates
    @property
    def coef(self) -> pd.Series:
        """The regression coefficients (log-time scale) alone."""
        return self.params[list(self.aft.columns)]

    def acceleration_factors(self, level: float = 0.95) -> pd.DataFrame:
        """exp(beta) for each covariate (the intercept left out): the factor by which a unit
        increase stretches survival time. The interval is exp of the Wald interval of beta
        (invariance); `se` is the delta-method standard error of exp(beta)."""
        cols = [c for c in self.aft.columns if c != "Intercept"]
        b = self.params[cols].to_numpy()
        se = self.se[cols].to_numpy()
        z = _z(level)
        return pd.DataFrame(
            {
                "acceleration factor": np.exp(b),
                "se": np.exp(b) * se,
                "lower": np.exp(b - z * se),
                "upper": np.exp(b + z * se),
            },
            index=cols,
        )

    def shape(self) -> Transformed:
        """The Weibull or log-logistic shape 1/sigma (lifelines' rho_ / beta_, scipy's c),
        with a delta-method standard error; the Gamma shape is a parameter already."""
        if self.aft.law.name not in ("weibull", "loglogistic"):
            raise ModelError(
                f"shape() is the Weibull or log-logistic shape 1/scale; the {self.aft.law.name} "
                "model has none (the Gamma shape is params['shape'], the exponential's is 1)"
            )
        sigma = float(self.values["scale"])
        var = float(self.cov.loc["scale", "scale"]) / sigma**4  # d(1/sigma)/d sigma = -1/sigma^2
        return Transformed(
            pd.Series([1.0 / sigma], index=["shape"], name="estimate"),
            pd.DataFrame([[var]], index=["shape"], columns=["shape"]),
        )

    # --------------------------------------------------------------------------- predictions
    def _design(self, new: Any) -> tuple[np.ndarray, pd.Index]:
        info = self.aft
        if new is None:
            return info.X, pd.RangeIndex(info.X.shape[0])
        if info.model_spec is not None:
            from .._design_helpers import rhs_matrix
            from ..glm._design import _to_pandas

            df = _to_pandas(new)
            return rhs_matrix(info.model_spec, df), df.index
        X = as_array(new, "new X")
        if X.ndim != 2 or X.shape[1] != len(info.columns):
            raise DataError(
                f"new X must have {len(info.columns)} columns {list(info.columns)}, got shape {X.shape}"
            )
        return X, pd.RangeIndex(X.shape[0])

    def _se(self, G: np.ndarray) -> np.ndarray:
        cov_u = self._cov_u
        return np.sqrt(np.einsum("ij,jk,ik->i", G, cov_u, G))

    def predict_survival(self, new: Any = None, times: Any = None, level: float = 0.95):
        """S(t | x) for each row of `new` (a data frame with the formula's columns; None = the
        fitted rows) at each of `times`, with a delta-method se and an interval formed on the
        log(-log S) scale (so it stays inside [0, 1]).

        Returns a DataFrame indexed by (row, time) with columns survival, se, lower, upper;
        ``.unstack("row")`` gives one column per row.
        """
        X, rows = self._design(new)
        return self._survival(X, rows, _times(times), level)

    def _survival(self, X: np.ndarray, rows: pd.Index, t: np.ndarray, level: float):
        v, G = (
            np.asarray(a)
            for a in _log_cumhaz(self._ctx.problem, jnp.asarray(self._u), X, jnp.log(t))
        )
        se_v = self._se(G)
        z = _z(level)
        surv = np.exp(-np.exp(v))
        out = pd.DataFrame(
            {
                "survival": surv,
                "se": surv * np.exp(v) * se_v,
                "lower": np.exp(-np.exp(v + z * se_v)),
                "upper": np.exp(-np.exp(v - z * se_v)),
            },
            index=pd.MultiIndex.from_product([rows, t], names=["row", "time"]),
        )
        return out

    def predict_quantile(self, new: Any = None, q: Any = 0.5, level: float = 0.95):
        """The q-quantile of T given x (the time by which a fraction q has failed), with a
        delta-method se and an interval formed on the log-time scale.

        log t_q = x'beta + sigma W_q. A scalar `q` gives a DataFrame indexed by row with
        columns time, se, lower, upper; several give rows indexed by (row, q).
        """
        X, rows = self._design(new)
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if qs.ndim != 1 or np.any(~((qs > 0) & (qs < 1))):
            raise ModelError(f"q must be probabilities strictly between 0 and 1, got {q!r}")
        law = self.aft.law
        offset, grads = law.quantile(qs, self.values)
        beta = self.values["beta"]
        layout = self._ctx.problem.layout
        blocks = {b.name: b for b in layout.blocks}
        m, k = X.shape[0], qs.size
        log_t = (X @ beta)[:, None] + np.asarray(offset)[None, :]
        G = np.zeros((m, k, layout.size))
        bb = blocks["beta"]
        G[:, :, bb.offset : bb.offset + bb.size] = X[:, None, :]
        for name, d in grads.items():
            G[:, :, blocks[name].offset] = np.asarray(d)[None, :]
        se_log = self._se(G.reshape(m * k, -1)).reshape(m, k)
        z = _z(level)
        time = np.exp(log_t)
        frame = {
            "time": time.ravel(),
            "se": (time * se_log).ravel(),
            "lower": np.exp(log_t - z * se_log).ravel(),
            "upper": np.exp(log_t + z * se_log).ravel(),
        }
        if np.ndim(q) == 0:
            return pd.DataFrame(frame, index=rows)
        index = pd.MultiIndex.from_product([rows, qs], names=["row", "q"])
        return pd.DataFrame(frame, index=index)

    def predict_median(self, new: Any = None, level: float = 0.95) -> pd.DataFrame:
        """The median lifetime given x with a delta-method se and a log-scale interval
        (for the Weibull model exp(x'beta) (log 2)^sigma)."""
        return self.predict_quantile(new, 0.5, level).rename(columns={"time": "median"})

    def plot_survival(
        self,
        new: Any = None,
        times: Any = None,
        ax: Any = None,
        level: float | None = 0.95,
    ) -> Any:
        """Plot S(t | x) for each row of `new` (default: the first fitted row) with
        pointwise log(-log) confidence bands (`level=None`: none). Returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        if times is None:
            times = np.linspace(self.aft.max_time / 200, self.aft.max_time, 200)
        if new is None:
            X, rows = self.aft.X[:1], pd.RangeIndex(1)
        else:
            X, rows = self._design(new)
        pred = self._survival(X, rows, _times(times), level or 0.95)
        for row, part in pred.groupby(level="row", sort=False):
            t = part.index.get_level_values("time").to_numpy()
            (line,) = ax.plot(t, part["survival"].to_numpy(), label=f"row {row}")
            if level is not None:
                ax.fill_between(
                    t,
                    part["lower"].to_numpy(),
                    part["upper"].to_numpy(),
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel("time")
        ax.set_ylabel("S(t | x)")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{self.model.name}: predicted survival")
        ax.legend()
        return ax

    def summary(self, level: float = 0.95) -> Summary:
        return AFTSummary(self, level)


@partial(jax.jit, static_argnums=(0,))
def _log_cumhaz(problem: Any, u, X, log_t):
    """log(-log S(t | x)) for every row of X and time, and its Jacobian in u (one compiled
    program per problem and shapes, rather than op-by-op dispatch)."""
    law = problem.model.law

    def value(u_):
        p = problem.natural(u_, {})
        eta = X @ p["beta"]
        return jnp.ravel(jnp.log(-law.logsf(law.z(log_t[None, :], eta[:, None], p), p)))

    return value(u), jax.jacfwd(value)(u)


def _times(times: Any) -> np.ndarray:
    if times is None:
        raise ModelError("give the times at which to predict survival: times=[...]")
    t = np.atleast_1d(as_array(times, "times"))
    if t.ndim != 1 or np.any(t <= 0):
        raise DataError(f"times must be a 1-d list of positive numbers, got {times!r}")
    return t


@dataclass(frozen=True)
class AFTSummary(Summary):
    def header(self) -> list[tuple[str, str]]:
        f: Any = self.fit
        info = f.aft
        c = info.counts
        censored = ", ".join(
            f"{c[k]} {k}" for k in ("right-censored", "left-censored", "interval") if c[k]
        )
        rows = [
            ("Model", f"{info.law.name} AFT: log T = x'beta + error"),
            ("Response", info.response),
        ]
        if info.formula:
            rows.append(("Formula", info.formula))
        rows.append(("Events", f"{c['exact']} (censored: {censored or 'none'})"))
        if c["truncated"]:
            rows.append(("Left-truncated", f"{c['truncated']} rows (entry > 0)"))
        return rows + super().header()[1:]
