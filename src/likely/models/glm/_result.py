"""`GLMFit`: a `Fit` that also knows its design, for predictions and marginal effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..._engine.data import as_array
from ..._engine.errors import DataError, ModelError
from ..._engine.result import Fit, Summary, _z
from ._families import dmu_deta


@dataclass(frozen=True)
class GLMInfo:
    formula: str | None
    family: Any
    link: Any
    columns: tuple[str, ...]
    y_name: str
    model_spec: Any
    levels: tuple[str, ...] | None
    n_dropped: int
    dispersion: str
    X: np.ndarray = field(repr=False)
    offset: np.ndarray | None = field(repr=False)
    trials: np.ndarray | None = field(repr=False)


@dataclass(frozen=True, repr=False)
class GLMFit(Fit):
    """The result of `lk.glm`: every `Fit` method, plus `predict` and `marginal_effects`."""

    glm: GLMInfo = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def coef(self) -> pd.Series:
        """The regression coefficients alone (without dispersion or shape parameters)."""
        return self.params[list(self._coef_labels)]

    @property
    def _coef_labels(self) -> tuple[str, ...]:
        block = next(b for b in self._all_layout.blocks if b.name == "beta")
        return tuple(block.labels)

    def _design(self, new: Any) -> np.ndarray:
        info = self.glm
        if new is None:
            return info.X
        if info.model_spec is not None:
            from .._design_helpers import rhs_matrix

            return rhs_matrix(info.model_spec, new)
        X = as_array(new, "new X")
        if X.ndim != 2 or X.shape[1] != len(info.columns):
            raise DataError(
                f"new X must have {len(info.columns)} columns {list(info.columns)}, got shape {X.shape}"
            )
        return X

    def predict(
        self,
        new: Any = None,
        *,
        offset: Any = None,
        exposure: Any = None,
        trials: Any = None,
        interval: float | None = None,
        which: str = "mean",
    ) -> pd.DataFrame:
        """Predicted mean (or linear predictor, which="linear") with a delta-method se.

        With `interval=level` the interval is formed on the linear-predictor scale and mapped
        through the inverse link, so it respects the range of the mean.
        """
        info = self.glm
        if info.levels is not None:
            return self._predict_multinomial(new)
        X = self._design(new)
        n = X.shape[0]
        if new is None:
            off = info.offset if info.offset is not None else np.zeros(n)
            tr = info.trials
        else:
            off = (
                np.zeros(n) if offset is None else np.broadcast_to(as_array(offset, "offset"), (n,))
            )
            if exposure is not None:
                off = off + np.log(np.broadcast_to(as_array(exposure, "exposure"), (n,)))
            tr = None if trials is None else np.broadcast_to(as_array(trials, "trials"), (n,))
        labels = list(self._coef_labels)
        beta = self.params[labels].to_numpy()
        cov = self.cov.loc[labels, labels].to_numpy()
        eta = X @ beta + off
        se_eta = np.sqrt(np.sum((X @ cov) * X, axis=1))
        if which == "linear":
            out = pd.DataFrame({"linear": eta, "se": se_eta})
            if interval is not None:
                z = _z(interval)
                out["lower"], out["upper"] = eta - z * se_eta, eta + z * se_eta
            return out
        if which != "mean":
            raise ModelError(f"which must be 'mean' or 'linear', got {which!r}")
        link = info.link
        scale = tr if tr is not None else 1.0
        mu = link.np_inverse(eta) * scale
        d = np.abs(link.np_dinverse(eta)) * scale
        out = pd.DataFrame({"mean": mu, "se": d * se_eta})
        if interval is not None:
            z = _z(interval)
            a = link.np_inverse(eta - z * se_eta) * scale
            b = link.np_inverse(eta + z * se_eta) * scale
            out["lower"], out["upper"] = np.minimum(a, b), np.maximum(a, b)
        return out

    def _predict_multinomial(self, new: Any) -> pd.DataFrame:
        X = self._design(new)
        beta = self.values["beta"]
        model: Any = self.model
        return pd.DataFrame(model.probabilities(beta, X), columns=list(self.glm.levels or ()))

    def marginal_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Average marginal effects d E[y] / d x_j (averaged over the rows) with delta-method se.

        As statsmodels' `get_margeff(at="overall", method="dydx")`: the derivative for every
        column, dummies included. The intercept is left out.
        """
        info = self.glm
        if info.levels is not None:
            raise ModelError("marginal effects are implemented for single-response GLMs")
        X = jnp.asarray(info.X)
        off = jnp.asarray(info.offset) if info.offset is not None else 0.0
        tr = jnp.asarray(info.trials) if info.trials is not None else 1.0
        link = info.link
        keep = [j for j, c in enumerate(info.columns) if c != "Intercept"]
        names = [info.columns[j] for j in keep]

        def ame(p):
            beta = p["beta"]
            d = dmu_deta(link, X @ beta + off) * tr
            return {n: jnp.mean(d) * beta[j] for n, j in zip(names, keep)}

        t = self.transform(ame)
        est, se = t.estimate.to_numpy(), t.se.to_numpy()
        z = est / se
        from math import erfc, sqrt

        ci = t.conf_int(level)
        return pd.DataFrame(
            {
                "effect": est,
                "se": se,
                "z": z,
                "P>|z|": [erfc(abs(v) / sqrt(2)) for v in z],
                "lower": ci["lower"].to_numpy(),
                "upper": ci["upper"].to_numpy(),
            },
            index=names,
        )

    def summary(self, level: float = 0.95) -> Summary:
        return GLMSummary(self, level)


@dataclass(frozen=True)
class GLMSummary(Summary):
    def header(self) -> list[tuple[str, str]]:
        f: Any = self.fit
        info = f.glm
        rows = [
            ("Response", info.y_name),
            (
                "Family / link",
                f"{info.family.name} / {info.link.name}"
                if info.levels is None
                else "multinomial / logit",
            ),
        ]
        if info.formula:
            rows.append(("Formula", info.formula))
        if info.n_dropped:
            rows.append(("Dropped rows", f"{info.n_dropped} (missing values)"))
        if info.dispersion == "pearson":
            rows.append(("Dispersion", "Pearson chi2 / (n - p) for the coefficients' se"))
        return rows + super().header()[1:]
