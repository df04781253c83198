"""`ChoiceFit`: a `Fit` that knows its choice data, for shares, elasticities and WTP."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..._engine.errors import ModelError
from ..._engine.result import Fit, LRTest, Summary, Transformed, _pvalue_chi2, _z, delta_cov
from ._data import ChoiceData, build_choice_data, to_pandas


@dataclass(frozen=True)
class ChoiceInfo:
    """What a choice fit keeps beyond the engine's `Fit`."""

    kind: str  # "conditional", "nested" or "mixed"
    formula: str | None
    group: Any  # the case column (name) or None for arrays
    alt: Any  # the alternative column (name) or None
    data: ChoiceData = field(repr=False)  # choice situations
    frame: pd.DataFrame | None = field(repr=False)  # the long data (for elasticities)
    ll_equal: float  # log-likelihood when every alternative is equally likely
    ll_constants: float | None  # log-likelihood of alternative-specific constants only
    n_constants: int  # free constants in that model (alternatives - 1)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # model-specific arrays


@dataclass(frozen=True)
class PredictedShares:
    """Choice probabilities per row and the market share of each alternative.

    `probabilities` is indexed like the rows of the long data it was computed for; `shares`
    holds, per alternative, the expected fraction of cases that choose it (the mean of its
    probability over cases, weighted by case weights) with delta-method standard errors.
    """

    probabilities: pd.Series
    shares: pd.DataFrame

    def __repr__(self) -> str:
        return "PredictedShares\n" + self.shares.to_string()


@dataclass(frozen=True, repr=False)
class ChoiceFit(Fit):
    """The result of a discrete-choice fit: every `Fit` method, plus

    `predict_shares`, `elasticities`, `marginal_effects`, `wtp` and McFadden's pseudo-R2
    (`rho2`, `rho2_constants`) and the likelihood-ratio test against constants only
    (`lr_constants`) in the summary.
    """

    choice: ChoiceInfo = field(default=None, repr=False)  # type: ignore[assignment]

    # ------------------------------------------------------------------ goodness of fit
    @property
    def rho2(self) -> float:
        """McFadden's pseudo-R2 against equal shares: 1 - LL / LL(equal shares)."""
        return 1.0 - self.loglik / self.choice.ll_equal

    @property
    def rho2_constants(self) -> float | None:
        """McFadden's pseudo-R2 against the constants-only model (alternative-specific constants)."""
        llc = self.choice.ll_constants
        return None if llc is None else 1.0 - self.loglik / llc

    @property
    def lr_constants(self) -> LRTest | None:
        """LR test of this model against constants only (df = k - (alternatives - 1)); it
        presumes the constants-only model is nested in this one (the model has the constants)."""
        llc = self.choice.ll_constants
        df = self.k - self.choice.n_constants
        if llc is None or df <= 0:
            return None
        stat = max(2.0 * (self.loglik - llc), 0.0)
        return LRTest(stat, df, _pvalue_chi2(stat, df))

    # ------------------------------------------------------------------ predictions
    def _arrays(self, data: ChoiceData) -> dict[str, jnp.ndarray]:
        model: Any = self.model
        return model.situation_arrays(data, self.choice.extra)

    def _new_data(self, new: Any) -> tuple[ChoiceData, dict[str, Any]]:
        info = self.choice
        if new is None:
            return info.data, info.extra
        model: Any = self.model
        if info.formula is None:
            raise ModelError("predictions on new data need a fit from a formula and a data frame")
        df = to_pandas(new)
        data = build_choice_data(
            None,
            df,
            group=info.group,
            alt=info.alt,
            needs_response=False,
            model_spec=info.data.model_spec,
            alternatives=info.data.alternatives,
        )
        return data, model.new_extra(data, df, info.extra)

    def _kernel_args(self, data: ChoiceData, extra: dict) -> tuple:
        model: Any = self.model
        fixed = {k: jnp.asarray(v) for k, v in self._ctx.fixed.items()}
        return self._ctx.problem, jnp.asarray(self._u), fixed, model.situation_arrays(data, extra)

    def _delta(self, est_jac: tuple, names: list[str]) -> Transformed:
        est, G = (np.asarray(a) for a in est_jac)
        G = G.reshape(est.size, -1)
        cov = delta_cov(G, self._cov_u)
        return Transformed(
            pd.Series(est.reshape(-1), index=names, name="estimate"),
            pd.DataFrame(cov, index=names, columns=names),
            self.is_map,
        )

    def probabilities(self, new: Any = None) -> pd.Series:
        """The choice probability of each row (fitted data, or `new` long data), indexed like
        the rows; no standard errors (see `predict_shares` for shares with them)."""
        data, extra = self._new_data(new)
        logp = np.asarray(_log_probabilities(*self._kernel_args(data, extra)))
        rows = data.rows[data.mask]
        probs = np.empty(len(rows))
        probs[rows] = np.exp(logp[data.mask])
        index = to_pandas(new).index if new is not None else self._row_index()
        return pd.Series(probs, index=index, name="probability")

    def predict_shares(self, new: Any = None, level: float = 0.95) -> PredictedShares:
        """Choice probabilities per row and market shares per alternative, for the fitted data
        or for `new` long data (e.g. a counterfactual with changed prices).

        `new` needs the group and alternative columns and every variable of the formula (not
        the choice). Market shares are the mean over cases of each alternative's probability
        (weighted by case weights), with delta-method standard errors and `level` intervals.
        Mixed logit simulates new people with fresh draws of the same kind."""
        data, extra = self._new_data(new)
        A = _alt_onehot(data)
        w = jnp.asarray(data.weights if data.weights is not None else np.ones(data.n_cases))
        t = self._delta(_shares(*self._kernel_args(data, extra), A, w), data.alternative_names())
        ci = t.conf_int(level)
        table = pd.DataFrame(
            {"share": t.estimate, "se": t.se, "lower": ci["lower"], "upper": ci["upper"]}
        )
        table.index.name = "alternative"
        return PredictedShares(self.probabilities(new), table)

    def _row_index(self) -> pd.Index:
        frame = self.choice.frame
        if frame is not None:
            return frame.index
        return pd.RangeIndex(int(self.choice.data.mask.sum()))

    # ------------------------------------------------------------------ elasticities
    def elasticities(self, var: str, kind: str = "aggregate", level: float = 0.95) -> pd.DataFrame:
        """Own and cross elasticities of the choice probabilities with respect to `var`, with
        delta-method standard errors (exact autodiff throughout).

        For an attribute that varies across alternatives (a price), the entry for (i, j) is the
        elasticity of alternative i's demand with respect to alternative j's value of `var`:

        - kind="aggregate" (default): d log D_i / d log x_j with D_i = sum_s P_si the expected
          demand for i (equivalently the probability-weighted mean of the cases' elasticities);
          the elasticity of market share that pricing needs.
        - kind="average": the unweighted mean over cases (where both i and j are available) of
          the cases' elasticities d log P_si / d log x_sj.

        For a case-specific variable (income: the same for all of a case's alternatives) the
        result has one row per alternative: d log D_i / d log x (or the case average).

        `var` is a column of the data that enters the utility linearly, alone or in
        interactions (price, price:income, I(price * (mode == 'air')) ...). The result is a
        long table (`.elasticity.unstack()` gives the matrix).
        """
        return self._effects(var, kind, level, log=True)

    def marginal_effects(self, var: str, level: float = 0.95) -> pd.DataFrame:
        """Average marginal effects d P_si / d x_sj over cases (where both are available), with
        delta-method standard errors; laid out as `elasticities`."""
        return self._effects(var, "average", level, log=False)

    def _slopes(self, var: str) -> tuple[np.ndarray, np.ndarray]:
        """(d X / d var per slot (S, J, K), values of var per slot (S, J))."""
        info = self.choice
        data = info.data
        frame = info.frame
        if frame is not None and data.model_spec is not None:
            if var not in frame.columns:
                raise ModelError(f"{var!r} is not a column of the data: {list(frame.columns)}")
            used = set(data.model_spec.required_variables)
            if var not in used:
                raise ModelError(f"{var!r} does not enter the model's formula {info.formula!r}")
            from ._data import design_only

            base = {
                c: design_only(data.model_spec, frame.assign(**{var: float(c)}), data.columns)
                for c in (0, 1, 2)
            }
            slope = base[1] - base[0]
            curved = ~np.isclose(base[2] - base[0], 2 * slope, rtol=1e-9, atol=1e-12)
            if curved.any():
                cols = sorted({data.columns[j] for j in np.flatnonzero(curved.any(axis=0))})
                raise ModelError(
                    f"{var!r} enters {cols} nonlinearly; elasticities here need it to enter "
                    "linearly (alone or in interactions)"
                )
            values = frame[var].to_numpy(dtype=float)
        else:
            if var not in data.columns:
                raise ModelError(f"{var!r} is not a column of X: {list(data.columns)}")
            n = int(data.mask.sum())
            slope = np.zeros((n, len(data.columns)))
            slope[:, data.columns.index(var)] = 1.0
            values = np.zeros(n)
            values[data.rows[data.mask]] = data.X[..., data.columns.index(var)][data.mask]
        S, J, K = data.X.shape
        D = np.zeros((S, J, K))
        D[data.mask] = slope[data.rows[data.mask]]
        vals = np.zeros((S, J))
        vals[data.mask] = values[data.rows[data.mask]]
        return D, vals

    def _effects(self, var: str, kind: str, level: float, log: bool) -> pd.DataFrame:
        if kind not in ("aggregate", "average"):
            raise ModelError(f"kind must be 'aggregate' or 'average', got {kind!r}")
        info = self.choice
        data = info.data
        names = data.alternative_names()
        D, vals = self._slopes(var)
        varies = np.any(data.mask & (np.abs(vals - vals[:, :1]) > 0), axis=1)
        case_specific = not varies.any()
        A = _alt_onehot(data)  # (S, J, a)
        w = jnp.asarray(data.weights if data.weights is not None else np.ones(data.n_cases))
        Dj = jnp.asarray(D * (vals[..., None] if log else 1.0))
        est_jac = _effects_kernel(
            *self._kernel_args(data, info.extra), Dj, A, w, kind, case_specific, log
        )
        if case_specific:
            index = pd.Index(names, name="alternative")
        else:
            index = pd.MultiIndex.from_product([names, names], names=["alternative", f"{var} of"])
        t = self._delta(est_jac, [str(i) for i in index])
        ci = t.conf_int(level)
        label = "elasticity" if log else "effect"
        return pd.DataFrame(
            {
                label: t.estimate.to_numpy(),
                "se": t.se.to_numpy(),
                "lower": ci["lower"].to_numpy(),
                "upper": ci["upper"].to_numpy(),
            },
            index=index,
        )

    # ------------------------------------------------------------------ willingness to pay
    def wtp(self, attr: str, per: str, level: float = 0.95, method: str = "delta") -> pd.DataFrame:
        """Willingness to pay for `attr` in units of `per` (a price): -b_attr / b_per, with a
        delta-method standard error and interval (method="delta") or Fieller's interval
        (method="fieller", exact for a ratio of jointly normal estimates; it can be unbounded
        when b_per is not clearly non-zero). For a normal random coefficient the ratio uses its
        mean; lognormal coefficients have no such ratio here."""
        model: Any = self.model
        for name in (attr, per):
            if name not in self.labels:
                raise ModelError(f"{name!r} is not a coefficient; the fit has {self.labels}")
            if name in getattr(model, "lognormal", ()):
                raise ModelError(
                    f"{name!r} has a lognormal coefficient; -b_attr/b_per of its parameters is "
                    "not a willingness to pay (use fit.transform on the distribution you want)"
                )
        est = self.params
        cov = self.cov
        a, b = float(est[attr]), float(est[per])
        t = self.transform(
            lambda p: _coef(self, p, attr) / _coef(self, p, per) * -1.0, names=["wtp"]
        )
        ratio = float(t.estimate.iloc[0])
        se = float(t.se.iloc[0])
        z = _z(level)
        if method == "delta":
            lo, hi = ratio - z * se, ratio + z * se
        elif method == "fieller":
            vaa, vbb, vab = cov.loc[attr, attr], cov.loc[per, per], cov.loc[attr, per]
            lo, hi = _fieller(a, b, vaa, vbb, vab, z)
        else:
            raise ModelError(f"method must be 'delta' or 'fieller', got {method!r}")
        return pd.DataFrame(
            {"wtp": [ratio], "se": [se], "lower": [lo], "upper": [hi], "method": [method]},
            index=[f"{attr} per {per}"],
        )

    # ------------------------------------------------------------------ display
    def summary(self, level: float = 0.95) -> Summary:
        return ChoiceSummary(self, level)


# --------------------------------------------------------------------------- jitted kernels
# Each takes the engine's (hashable) problem as a static argument, so a fit's predictions and
# effects compile once per data shape; the delta method's Jacobian in u is autodiff.


def _logp(problem, u, fixed, arrays):
    return problem.model.log_probabilities(problem.natural(u, fixed), arrays)


@partial(jax.jit, static_argnums=(0,))
def _log_probabilities(problem, u, fixed, arrays):
    return _logp(problem, u, fixed, arrays)


@partial(jax.jit, static_argnums=(0,))
def _shares(problem, u, fixed, arrays, A, w):
    def shares(v):
        P = jnp.exp(_logp(problem, v, fixed, arrays))
        return jnp.einsum("s,sj,sja->a", w, P, A) / jnp.sum(w)

    return shares(u), jax.jacfwd(shares)(u)


@partial(jax.jit, static_argnums=(0, 7, 8, 9))
def _effects_kernel(problem, u, fixed, arrays, Dj, A, w, kind, case_specific, log):
    """Elasticities (log=True; Dj = x dX/dx) or marginal effects (Dj = dX/dx) and their
    Jacobian in u. tau scales var in the rows of one alternative (or all, case-specific)."""
    X0 = arrays["X"]
    avail = jnp.sum(A, axis=1)  # (S, a)
    tau0 = jnp.zeros(() if case_specific else (A.shape[-1],))

    def logp_at(v, tau):
        shift = tau[None, None] if case_specific else jnp.einsum("sja,a->sj", A, tau)
        return _logp(problem, v, fixed, dict(arrays, X=X0 + shift[..., None] * Dj))

    def effects(v):
        if kind == "aggregate":

            def demand(tau):
                return jnp.einsum("s,sj,sja->a", w, jnp.exp(logp_at(v, tau)), A)

            d = demand(tau0)
            jac = jax.jacfwd(demand)(tau0)  # (a,) or (a, a)
            return jnp.ravel(jac / (d if case_specific else d[:, None]))

        def per_slot(tau):
            lp = logp_at(v, tau)
            return lp if log else jnp.exp(lp)

        # mean over the cases where both alternatives are available (the derivative is 0
        # where the varied alternative is absent, so only the count needs the mask)
        jac = jax.jacfwd(per_slot)(tau0)  # (S, J) or (S, J, a)
        if case_specific:
            return jnp.einsum("s,sj,sja->a", w, jac, A) / (w @ avail)
        num = jnp.einsum("s,sjb,sja->ab", w, jac, A)
        return jnp.ravel(num / jnp.einsum("s,sa,sb->ab", w, avail, avail))

    return effects(u), jax.jacfwd(effects)(u)


def _coef(fit: ChoiceFit, p: Any, label: str) -> jnp.ndarray:
    model: Any = fit.model
    return p["beta"][model.columns.index(label)]


def _fieller(
    a: float, b: float, vaa: float, vbb: float, vab: float, z: float
) -> tuple[float, float]:
    """Fieller's interval for -a/b: the r with (a + r b)^2 <= z^2 (vaa + 2 r vab + r^2 vbb)."""
    z2 = z * z
    qa = b * b - z2 * vbb
    qb = 2 * (a * b - z2 * vab)
    qc = a * a - z2 * vaa
    disc = qb * qb - 4 * qa * qc
    if qa <= 0:
        return (-math.inf, math.inf)  # b not significantly different from zero: unbounded
    root = math.sqrt(max(disc, 0.0))
    r1, r2 = (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)
    return (min(r1, r2), max(r1, r2))


def _alt_onehot(data: ChoiceData) -> jnp.ndarray:
    names = data.alternative_names()
    A = np.zeros((*data.alt.shape, len(names)))
    s, j = np.nonzero(data.mask)
    A[s, j, data.alt[s, j]] = 1.0
    return jnp.asarray(A)


@dataclass(frozen=True)
class ChoiceSummary(Summary):
    def header(self) -> list[tuple[str, str]]:
        f: Any = self.fit
        info: ChoiceInfo = f.choice
        d = info.data
        rows = [("Model", f.model.name)]
        if info.formula:
            rows.append(("Formula", info.formula))
        sizes = d.mask.sum(axis=1)
        alts = f"{d.n_slots}" if sizes.min() == sizes.max() else f"{sizes.min()} to {sizes.max()}"
        rows.append(("Cases", f"{d.n_cases} (alternatives per case: {alts})"))
        return rows + reference_rows(f) + super().header()[1:]


def reference_rows(f: Any) -> list[tuple[str, str]]:
    """Summary rows of the reference fits: equal shares, constants only, the LR test."""
    info = f.choice
    rows = [("LL equal shares", f"{info.ll_equal:.6f} (rho2 {f.rho2:.4f})")]
    if info.ll_constants is not None:
        rows.append(("LL constants", f"{info.ll_constants:.6f} (rho2 {f.rho2_constants:.4f})"))
        lr = f.lr_constants
        if lr is not None:
            rows.append(
                ("LR vs constants", f"chi2 {lr.statistic:.4f}, df {lr.df}, p {lr.pvalue:.4g}")
            )
    return rows
