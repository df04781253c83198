"""`lk.coxph`: Cox proportional hazards regression by maximum partial likelihood.

The log partial likelihood (Breslow's or Efron's handling of tied event times, or the exact
discrete likelihood) is maximised by the engine's Newton solver with exact derivatives, and
the result is a `Fit`: standard errors, Wald and profile intervals, likelihood-ratio tests,
the delta method and AIC come from the engine unchanged. `CoxFit` adds what is particular to
survival: hazard ratios, the model tests R prints, concordance, baseline and predicted
survival curves with bands, residuals and the proportional-hazards test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..._engine.errors import ConvergenceWarning, DataError, InferenceWarning, ModelError
from ..._engine.fit import Context, _finish
from ..._engine.inference import covariance_u, running_off
from ..._engine.model import Layout
from ..._engine.problem import Problem
from ..._engine.result import Fit, Summary, _z
from ._cox_concordance import concordance as _concordance
from ._cox_data import CoxData, build, check_design, resolve_input
from ._cox_kernel import Pieces, martingale, pieces, schoenfeld, score_residuals, units
from ._cox_model import TIES, CoxDerivatives, CoxModel
from ._cox_survival import TRANSFORMS, Curves, baseline, curves, risk_counts, zph

COV_TYPES = ("observed", "robust", "cluster")
RESIDUALS = ("martingale", "deviance", "score", "dfbeta", "schoenfeld", "scaled_schoenfeld")


@dataclass(frozen=True)
class CoxInfo:
    data: CoxData = field(repr=False)
    ties: str
    formula: str | None
    model_spec: Any = field(repr=False)
    terms: dict[str, slice]
    n_dropped: int
    loglik_null: float
    score_test: float


@dataclass(frozen=True)
class SurvivalPrediction:
    """Predicted survival S(t | x) at `times` (rows) for each new row (columns), with the
    cumulative hazard, its standard error, and R's log-scale bands."""

    survival: pd.DataFrame
    lower: pd.DataFrame
    upper: pd.DataFrame
    cumhaz: pd.DataFrame
    se: pd.DataFrame
    level: float


def coxph(
    data: Any = None,
    duration: Any = None,
    event: Any = None,
    formula: str | None = None,
    *,
    X: Any = None,
    ties: str = "efron",
    strata: Any = None,
    weights: Any = None,
    entry: Any = None,
    cluster: Any = None,
    cov_type: str | None = None,
    missing: str = "raise",
    init: Any = None,
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> CoxFit:
    """Fit a Cox proportional hazards model by maximum partial likelihood.

    ``lk.coxph(df, duration="week", event="arrest", formula="fin + age + prio")``.

    Parameters
    ----------
    data : pandas or polars DataFrame (or dict of columns).
    duration, event : exit time and event indicator (1 = event, 0 = censored; all events when
        `event` is None): column names or arrays.
    formula : the covariates, formulaic's right-hand side ("age + C(trt)"); categorical
        terms are coded as R does (treatment contrasts, no intercept column). Without a
        formula or `X`, every other column of `data` is a covariate.
    X : covariates as an array or DataFrame (used as given), instead of a formula.
    ties : "efron" (default, as R), "breslow", or "exact" (the exact discrete / conditional
        logistic likelihood; no case weights or entry times, slower).
    strata : column name(s) or labels: a separate baseline hazard per stratum.
    weights : case weights (> 0), with R's semantics: a tied group's Efron terms use the
        group's mean weight; standard errors treat weights as frequencies unless robust.
    entry : entry times (left truncation): a row is at risk only for entry < t <= exit.
    cluster : column or labels; implies cov_type="cluster".
    cov_type : "observed" (inverse information, default), "robust" (Lin-Wei sandwich from the
        score residuals of the chosen ties method, R's robust=TRUE) or "cluster".
    missing : "raise" (default) or "drop" rows with missing values in the used columns.
    init, max_iter, tol : start values (default 0, as R), Newton's limits.
    """
    if ties not in TIES:
        raise ModelError(f"ties must be one of {TIES}, got {ties!r}")
    if cov_type is None:
        cov_type = "cluster" if cluster is not None else "observed"
    if cov_type not in COV_TYPES:
        raise ModelError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if cov_type == "cluster" and cluster is None:
        raise ModelError("cov_type='cluster' needs cluster=... (a column name or labels)")
    inp = resolve_input(
        data,
        duration=duration,
        event=event,
        formula=formula,
        X=X,
        strata=strata,
        weights=weights,
        entry=entry,
        cluster=cluster,
        missing=missing,
    )
    if ties == "exact":
        if inp.weights is not None and np.any(inp.weights != 1.0):
            raise ModelError("ties='exact' does not take case weights; use 'efron'")
        if inp.entry is not None:
            raise ModelError("ties='exact' does not take entry times; use 'efron'")
        if cov_type != "observed":
            raise ModelError(
                "robust standard errors need score residuals, which the exact method does not "
                "have (as in R); use ties='efron'"
            )
    cdata = build(inp)
    check_design(cdata)
    model = CoxModel(cdata.columns, ties)
    p = cdata.p
    layout = Layout.build(model.param_spec, {"beta": np.zeros(p)}, model)
    ctx = Context(Problem(model, layout, ()), cdata, cdata.weights, {})
    # the Cox data never travel to JAX through the engine's padded copy (transform() only
    # needs the fixed values from it)
    ctx.device = (None, None, {})  # type: ignore[misc,assignment]
    deriv: CoxDerivatives = ctx.derivatives
    u0 = np.zeros(p) if init is None else np.asarray(init, dtype=float).reshape(p)
    solver = ctx.solve(u0, method="newton", max_iter=max_iter, tol=tol)
    if not solver.converged:
        warnings.warn(
            f"{model.name}: Newton did not converge ({solver.message}; {solver.iterations} "
            "iterations). A coefficient may be infinite (monotone likelihood: a covariate "
            "separates the events), or try a larger max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    _warn_monotone(solver, cdata.columns)
    deriv.work = None  # the fit keeps its data, not the (p + 1, n) work buffer
    if deriv.at_zero is None:
        deriv.loglik_grad_info(np.zeros(p))
    assert deriv.at_zero is not None
    ll0, u_0, i_0 = deriv.at_zero
    try:
        score_test = float(u_0 @ np.linalg.solve(i_0, u_0))
    except np.linalg.LinAlgError:
        score_test = math.nan
    values = {"beta": np.asarray(solver.u)}
    result = _finish(ctx, values, solver, "newton", "observed")
    info = CoxInfo(
        cdata, ties, formula, inp.model_spec, inp.term_slices, inp.n_dropped, ll0, score_test
    )
    fit = CoxFit(**{f.name: getattr(result, f.name) for f in _fit_fields()}, cox=info)
    if cov_type != "observed":
        fit = fit.with_cov(cov_type)
    return fit


def _warn_monotone(solver: Any, names: Sequence[str]) -> None:
    """Warn, as R's coxph does, about coefficients the partial likelihood is monotone in."""
    if solver.hess is None:
        return
    infinite = running_off(solver.hess, solver.grad, solver.u)
    if infinite.any():
        which = ", ".join(repr(names[int(j)]) for j in np.flatnonzero(infinite))
        warnings.warn(
            f"coxph: the partial log-likelihood converged before coefficient(s) {which}: they "
            "may be infinite (monotone likelihood: the covariate orders the events within "
            "their risk sets), and their Wald standard errors and tests are meaningless",
            InferenceWarning,
            stacklevel=3,
        )


def _fit_fields():
    import dataclasses

    return dataclasses.fields(Fit)


@dataclass(frozen=True, repr=False)
class CoxFit(Fit):
    """The result of `lk.coxph`: every `Fit` method, plus survival-specific ones."""

    cox: CoxInfo = field(default=None, repr=False)  # type: ignore[assignment]

    # ------------------------------------------------------------------ basic quantities
    @property
    def coef(self) -> pd.Series:
        return self.params

    @property
    def n(self) -> int:
        """Number of rows used."""
        return self.cox.data.n

    @property
    def n_events(self) -> int:
        """Number of events (unweighted, as R's nevent)."""
        return int(self.cox.data.event.sum())

    @property
    def bic(self) -> float:
        """BIC with the number of events as the sample size (R's BIC for coxph)."""
        return self.k * math.log(self.n_events) - 2 * self.loglik

    @property
    def loglik_null(self) -> float:
        """The partial log-likelihood at beta = 0."""
        return self.cox.loglik_null

    def model_tests(self) -> pd.DataFrame:
        """Likelihood-ratio, Wald and score (log-rank) tests of beta = 0, as R's summary."""
        from scipy.stats import chi2

        beta = self.params.to_numpy()
        lr = 2.0 * (self.loglik - self.cox.loglik_null)
        cov = self.cov.to_numpy()
        try:
            wald = float(beta @ np.linalg.solve(cov, beta))
        except np.linalg.LinAlgError:
            wald = math.nan
        stats = [lr, wald, self.cox.score_test]
        k = self.k
        return pd.DataFrame(
            {"statistic": stats, "df": [k] * 3, "p": [float(chi2.sf(s, k)) for s in stats]},
            index=["likelihood ratio", "wald", "score (log-rank)"],
        )

    def hazard_ratios(self, level: float = 0.95, method: str = "wald") -> pd.DataFrame:
        """exp(beta) with the interval's ends transformed (invariance), Wald or profile."""
        ci = self.conf_int(level, method=method)
        return pd.DataFrame(
            {
                "hazard_ratio": np.exp(self.params),
                "lower": np.exp(ci["lower"]),
                "upper": np.exp(ci["upper"]),
            }
        )

    @cached_property
    def _pieces(self) -> Pieces:
        d = self.cox.data
        ties = "efron" if self.cox.ties == "exact" else self.cox.ties
        return pieces(d, self.params.to_numpy(), units(d, ties))

    def _units(self, ctype: str | None = None):
        ties = self.cox.ties
        kind = ctype or ("breslow" if ties == "breslow" else "efron")
        if kind not in ("breslow", "efron"):
            raise ModelError(f"ctype must be 'breslow' or 'efron', got {ctype!r}")
        return units(self.cox.data, kind)

    @cached_property
    def concordance(self) -> float:
        """Harrell's C (R's `concordance`, timewt="n": ties in the score count 1/2, two events
        at the same time are not compared, pairs weigh w_i w_j, within strata)."""
        return self.concordance_counts().estimate

    def concordance_counts(self):
        d = self.cox.data
        eta = self.params.to_numpy() @ d.Xt
        return _concordance(eta, d.time, d.event, d.weights, d.strata, d.entry)

    # ------------------------------------------------------------------ covariances
    def with_cov(self, cov: str) -> CoxFit:
        """The same estimates with covariance "observed", "robust" or "cluster"."""
        if cov not in COV_TYPES:
            raise ModelError(f"cov must be one of {COV_TYPES}, got {cov!r}")
        ctx = self._ctx
        info = ctx.derivatives.value_grad_hess(self._u)[2] * ctx.scale
        meat = None
        if cov != "observed":
            if self.cox.ties == "exact":
                raise ModelError("robust covariances are not available for ties='exact' (as in R)")
            d = self.cox.data
            D = d.weights[:, None] * score_residuals(d, self._pieces, self._units())
            if cov == "cluster":
                if d.cluster is None:
                    raise ModelError("this fit has no cluster labels (pass cluster= to coxph)")
                _, idx = np.unique(d.cluster, return_inverse=True)
                sums = np.zeros((int(idx.max()) + 1, D.shape[1]))
                np.add.at(sums, idx, D)
                D = sums
            meat = D.T @ D
        cov_u, note = covariance_u(info, self._free_labels, meat)
        if note:
            warnings.warn(f"{self.model.name}: {note}", InferenceWarning, stacklevel=2)
        return self.replace(cov_type=cov, note=note, _cov_u=cov_u)

    # ------------------------------------------------------------------ residuals
    def residuals(self, kind: str = "martingale") -> pd.Series | pd.DataFrame:
        """Residuals as R's `residuals.coxph`, consistent with the ties method.

        "martingale", "deviance" (Series by row); "score" (d/dw_i of the score),
        "dfbeta" (weighted score residuals times the model-based covariance) (DataFrame by
        row); "schoenfeld", "scaled_schoenfeld" (DataFrame by event row, sorted by stratum
        and time; scaled = beta + n_events V s_i, R's "scaledsch"). After ties="exact" only
        martingale and deviance residuals exist (as in R); they use the Efron-adjusted
        hazard."""
        if kind not in RESIDUALS:
            raise ModelError(f"kind must be one of {RESIDUALS}, got {kind!r}")
        d = self.cox.data
        pc = self._pieces
        u = self._units()
        cols = list(d.columns)
        if kind in ("martingale", "deviance"):
            m = martingale(d, pc)
            if kind == "deviance":
                ev = d.event.astype(float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    inner = m + np.where(d.event, np.log(np.maximum(ev - m, 1e-300)), 0.0)
                m = np.sign(m) * np.sqrt(np.maximum(-2.0 * inner, 0.0))
            return pd.Series(d.to_user_order(m), index=d.index, name=kind)
        if self.cox.ties == "exact":
            raise ModelError(f"{kind} residuals are not available for ties='exact' (as in R)")
        if kind in ("score", "dfbeta"):
            U = score_residuals(d, pc, u)
            if kind == "dfbeta":
                U = (d.weights[:, None] * U) @ self._model_cov()
            return pd.DataFrame(d.to_user_order(U), index=d.index, columns=cols)
        S = schoenfeld(d, pc, u)
        if kind == "scaled_schoenfeld":
            S = self.n_events * S @ self._model_cov() + self.params.to_numpy()
        # R's order: by stratum, then time ascending
        by_time = np.lexsort((d.time[d.dead], d.strata[d.dead]))
        rows = d.order[d.dead[by_time]]
        return pd.DataFrame(S[by_time], index=d.index[rows], columns=cols)

    def _model_cov(self) -> np.ndarray:
        ctx = self._ctx
        info = ctx.derivatives.value_grad_hess(self._u)[2] * ctx.scale
        return np.linalg.inv(info)

    def zph(self, transform: str = "km", terms: bool = True) -> pd.DataFrame:
        """Test of proportional hazards as R's `cox.zph` (survival >= 3.0): for each term and
        globally, the score test for adding gamma * g(t) * x, g = `transform` of time
        ("km", "identity", "log", "rank"). Returns chisq, df and p."""
        if self.cox.ties == "exact":
            raise ModelError("cox.zph needs Schoenfeld residuals: not available for ties='exact'")
        if transform not in TRANSFORMS:
            raise ModelError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        d = self.cox.data
        groups = (
            self.cox.terms
            if terms and self.cox.terms
            else {c: slice(j, j + 1) for j, c in enumerate(d.columns)}
        )
        return zph(d, self._pieces, self._units(), transform, groups)

    # ------------------------------------------------------------------ survival curves
    def _curves(self, Xnew: np.ndarray, strata_new: np.ndarray, times: np.ndarray, ctype):
        d = self.cox.data
        default = "breslow" if self.cox.ties == "breslow" else "efron"
        u = self._units(ctype)
        pc = self._pieces if (ctype or default) == default else pieces(d, self.params.to_numpy(), u)
        base = baseline(d, pc, u)
        return curves(d, base, self.params.to_numpy(), self.cov.to_numpy(), Xnew, strata_new, times)

    def baseline_survival(
        self, centered: bool = True, level: float = 0.95, ctype: str | None = None
    ) -> pd.DataFrame:
        """The baseline survival at every event time, per stratum, with R's log bands.

        centered=True: at the covariate means (R's `survfit(fit)` and `basehaz(fit)`,
        lifelines' baseline); False: at x = 0 (statsmodels). ctype: "efron" (R's default
        after Efron or exact ties: the Efron-adjusted hazard) or "breslow" (Nelson-Aalen
        type; lifelines' and statsmodels' estimator)."""
        d = self.cox.data
        x = d.center if centered else np.zeros(d.p)
        n_risk, n_event = risk_counts(d)
        frames = []
        for s in range(d.n_strata):
            g = np.arange(d.group_base[s], d.group_base[s + 1])[::-1]  # ascending time
            times = d.group_time[g]
            c = self._curves(x[None, :], np.array([s]), times, ctype)
            frame = _band_frame(c.cumhaz[:, 0], c.se[:, 0], level)
            frame.insert(0, "n_event", n_event[g])
            frame.insert(0, "n_risk", n_risk[g])
            frame.index = pd.Index(times, name="time")
            if d.n_strata > 1:
                frame.insert(0, "stratum", d.strata_labels[s])
            frames.append(frame)
        return pd.concat(frames)

    def predict_survival(
        self,
        new: Any = None,
        times: Any = None,
        level: float = 0.95,
        ctype: str | None = None,
    ) -> SurvivalPrediction:
        """S(t | x) for each row of `new` (a data frame with the covariate columns, and the
        strata columns if the fit has strata; default: the fit's data) at `times` (default:
        the event times), with the standard error of the cumulative hazard (including the
        variance of beta, R's survfit.coxph) and log-scale bands."""
        Xnew, snew, labels = self._new_design(new)
        d = self.cox.data
        t = np.unique(d.group_time) if times is None else np.atleast_1d(np.asarray(times, float))
        c = self._curves(Xnew, snew, t, ctype)
        return _prediction(c, labels, level)

    def _new_design(self, new: Any) -> tuple[np.ndarray, np.ndarray, pd.Index]:
        d = self.cox.data
        if new is None:
            return d.to_user_order(d.Xt.T + d.center), d.to_user_order(d.strata), d.index
        from ._cox_data import _frame

        df = _frame(new) if not isinstance(new, np.ndarray) else None
        if df is None:
            Xn = np.atleast_2d(np.asarray(new, float))
            if Xn.shape[1] != d.p:
                raise DataError(f"new X must have {d.p} columns {list(d.columns)}, got {Xn.shape}")
            if d.n_strata > 1:
                raise DataError(
                    "this fit has strata: give new data as a frame with the strata columns"
                )
            return Xn, np.zeros(Xn.shape[0], dtype=np.int64), pd.RangeIndex(Xn.shape[0])
        if self.cox.model_spec is not None:
            from .._design_helpers import rhs_matrix

            full = rhs_matrix(self.cox.model_spec, df)
            names = [str(c) for c in self.cox.model_spec.column_names]
            Xn = full[:, [j for j, c in enumerate(names) if c != "Intercept"]]
        else:
            missing = [c for c in d.columns if c not in df.columns]
            if missing:
                raise DataError(f"new data lack the covariate column(s) {missing}")
            from ..._engine.data import as_array

            Xn = as_array(df[list(d.columns)].to_numpy(dtype=float), "new data")
        snew = np.zeros(len(df), dtype=np.int64)
        if d.n_strata > 1:
            lookup = {lab: k for k, lab in enumerate(d.strata_labels)}
            names = [part.split("=", 1)[0] for part in d.strata_labels[0].split(", ")]
            absent = [c for c in names if c not in df.columns]
            if absent:
                raise DataError(f"new data lack the strata column(s) {absent}")
            labs = [
                ", ".join(f"{nm}={v}" for nm, v in zip(names, row))
                for row in df[names].itertuples(index=False)
            ]
            unknown = sorted({lab for lab in labs if lab not in lookup})
            if unknown:
                raise DataError(f"strata {unknown} do not occur in the fitted data")
            snew = np.array([lookup[lab] for lab in labs], dtype=np.int64)
        return Xn, snew, df.index

    def plot_survival(self, new: Any = None, ax: Any = None, level: float = 0.95) -> Any:
        """Predicted survival curves with log-scale bands (one per row of `new`; the
        baseline at the covariate means, per stratum, when `new` is None). Returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        if new is None:
            table = self.baseline_survival(level=level)
            groups = (
                table.groupby("stratum", sort=False)
                if "stratum" in table
                else [("baseline", table)]
            )
            for label, part in groups:
                _step(ax, part.index.to_numpy(), part, str(label))
        else:
            pred = self.predict_survival(new, level=level)
            for col in pred.survival.columns:
                part = pd.DataFrame(
                    {
                        "survival": pred.survival[col],
                        "lower": pred.lower[col],
                        "upper": pred.upper[col],
                    }
                )
                _step(ax, pred.survival.index.to_numpy(), part, f"row {col}")
        ax.set_xlabel("time")
        ax.set_ylabel("survival")
        ax.set_ylim(0.0, 1.02)
        ax.legend(loc="best", fontsize="small")
        return ax

    # ------------------------------------------------------------------ display
    def summary(self, level: float = 0.95) -> Summary:
        return CoxSummary(self, level)


def _step(ax: Any, times: np.ndarray, part: pd.DataFrame, label: str) -> None:
    t = np.r_[0.0, times]
    line = ax.step(t, np.r_[1.0, part["survival"]], where="post", label=label)[0]
    ax.fill_between(
        t,
        np.r_[1.0, part["lower"]],
        np.r_[1.0, part["upper"]],
        step="post",
        alpha=0.2,
        color=line.get_color(),
    )


def _band_frame(cumhaz: np.ndarray, se: np.ndarray, level: float) -> pd.DataFrame:
    z = _z(level)
    surv = np.exp(-cumhaz)
    return pd.DataFrame(
        {
            "cumhaz": cumhaz,
            "survival": surv,
            "se": se,
            "lower": surv * np.exp(-z * se),
            "upper": np.minimum(surv * np.exp(z * se), 1.0),
        }
    )


def _prediction(c: Curves, labels: pd.Index, level: float) -> SurvivalPrediction:
    z = _z(level)
    idx = pd.Index(c.times, name="time")

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=idx, columns=labels)

    surv = np.exp(-c.cumhaz)
    return SurvivalPrediction(
        survival=frame(surv),
        lower=frame(surv * np.exp(-z * c.se)),
        upper=frame(np.minimum(surv * np.exp(z * c.se), 1.0)),
        cumhaz=frame(c.cumhaz),
        se=frame(c.se),
        level=level,
    )


@dataclass(frozen=True)
class CoxSummary(Summary):
    def table(self) -> pd.DataFrame:
        t = super().table()
        hr = self.fit.hazard_ratios(self.level)  # type: ignore[attr-defined]
        t.insert(1, "exp(coef)", hr["hazard_ratio"])
        pct = round(self.level * 100, 6)
        t[f"exp [{pct:g}% lower"] = hr["lower"]
        t["exp upper]"] = hr["upper"]
        return t

    def header(self) -> list[tuple[str, str]]:
        f: Any = self.fit
        info = f.cox
        d = info.data
        tests = f.model_tests()
        rows = [("Model", f.model.name)]
        if info.formula:
            rows.append(("Formula", info.formula))
        rows.append(("Observations", f"n = {d.n}, events = {f.n_events}"))
        if d.n_strata > 1:
            rows.append(("Strata", f"{d.n_strata}"))
        if info.n_dropped:
            rows.append(("Dropped rows", f"{info.n_dropped} (missing values)"))
        rows += [
            ("Log partial lik.", f"{f.loglik:.6f} (null {info.loglik_null:.6f})"),
            ("AIC / BIC", f"{f.aic:.4f} / {f.bic:.4f} (BIC with n = events)"),
            ("Concordance", f"{f.concordance:.4f}"),
        ]
        for name, row in tests.iterrows():
            rows.append(
                (
                    f"{name} test".capitalize(),
                    f"{row.statistic:.4f} on {row.df:g} df, p = {row.p:.4g}",
                )
            )
        rows += [
            ("Converged", f"{f.converged} ({f.iterations} iterations, |grad| {f.grad_norm:.1e})"),
            ("Covariance", f.cov_type),
        ]
        return rows
