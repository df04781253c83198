"""`lk.aft`: parametric survival regression (accelerated failure time) by maximum likelihood.

log T = x'beta + sigma W, as R's `survreg` (coefficients and scale match it and lifelines'
AFT fitters), with right, left and interval censoring, left truncation and case weights.
The likelihood is in `_aft_model.py`, the error laws in `_aft_laws.py`, the result in
`_aft_result.py`; this module validates the data and builds the design.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ..._engine.censoring import EXACT, INTERVAL, LEFT, RIGHT
from ..._engine.data import as_weights
from ..._engine.errors import DataError, InferenceWarning, ModelError
from ..._engine.fit import fit as engine_fit
from ..glm._api import _check_design
from ..glm._design import _to_pandas, build_design
from ._aft_laws import ALIASES, LAWS, AbstractLaw
from ._aft_model import AFTModel
from ._aft_result import AFTFit, AFTInfo

COV_TYPES = ("observed", "robust")
_GAMMA_SHAPE_LIMIT = 1e4  # the incomplete gamma functions are checked up to here


def aft(
    data: Any = None,
    *,
    duration: Any = None,
    event: Any = None,
    formula: str | None = None,
    dist: str = "weibull",
    entry: Any = None,
    lower: Any = None,
    upper: Any = None,
    weights: Any = None,
    cov_type: str = "observed",
    init: dict[str, Any] | None = None,
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> AFTFit:
    """Fit an accelerated failure time model: log T = x'beta + sigma W.

    ``lk.aft(df, duration="week", event="arrest", formula="fin + age + prio")``

    Parameters
    ----------
    data : a pandas or polars data frame holding the columns named below (strings), or None
        when every argument is an array (then the model has only an intercept).
    duration, event : follow-up time (> 0) and 1 = event observed, 0 = right-censored
        (default: every event observed).
    formula : the right-hand side, e.g. ``"fin + age + C(race)"`` (formulaic; an intercept is
        included unless removed with ``- 1``). None: intercept only.
    dist : "weibull" (default), "exponential" (Weibull with sigma = 1), "lognormal",
        "loglogistic" or "gamma" (log T = x'beta + log G, G ~ Gamma(shape, 1)).
    entry : left truncation (delayed entry) times, >= 0 and before the exit time; each row
        contributes its log-likelihood minus log S(entry | x). 0 = entered at time 0.
    lower, upper : interval censoring instead of duration/event: the time lies in
        [lower, upper]; lower == upper is exact, upper = inf right-censored, lower = 0
        left-censored.
    weights : frequency (case) weights.
    cov_type : "observed" (inverse of the exact Hessian) or "robust" (sandwich).
    init, max_iter, tol : passed to the engine (start values by parameter name).

    Returns
    -------
    AFTFit: ``params`` (the coefficients by column name, then ``scale`` = sigma, or
    ``shape`` for the Gamma), ``se``, ``conf_int()``, ``loglik``, ``aic``, ``summary()``,
    ``acceleration_factors()``, ``shape()``, ``predict_survival``, ``predict_median``,
    ``predict_quantile`` and ``plot_survival``.

    Notes
    -----
    R: ``survreg(Surv(week, arrest) ~ fin + age + prio, data, dist="weibull")`` reports the
    same coefficients and ``Log(scale)`` = log(params["scale"]). lifelines'
    ``WeibullAFTFitter``: lambda_ coefficients = these coefficients, rho_ intercept =
    -log(scale); ``LogNormalAFTFitter``: mu_ = coefficients, sigma_ = log(scale);
    ``LogLogisticAFTFitter``: alpha_ = coefficients, beta_ = -log(scale).
    """
    law = _resolve_dist(dist)
    if cov_type not in COV_TYPES:
        raise ModelError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    df = _to_pandas(data) if data is not None else None

    if lower is not None or upper is not None:
        if duration is not None or event is not None:
            raise ModelError("give duration= (with event=) or lower= and upper=, not both")
        if lower is None or upper is None:
            raise ModelError("interval censoring needs both lower= and upper=")
        lo, lo_name = _numbers(lower, df, "lower")
        hi, hi_name = _numbers(upper, df, "upper", allow_inf=True)
        if hi.shape != lo.shape:
            raise DataError(f"lower and upper have different lengths: {lo.size} and {hi.size}")
        _check_interval(lo, hi, lo_name, hi_name)
        response = f"interval [{lo_name}, {hi_name}]"
    else:
        if duration is None:
            raise ModelError(
                "give duration= (the follow-up time, with event=) or lower= and upper= "
                "(interval censoring)"
            )
        t, t_name = _numbers(duration, df, "duration")
        _check_durations(t, t_name)
        if event is None:
            e, e_name = np.ones_like(t), None
        else:
            e, e_name = _events(event, df, t.size)
        lo, hi = t, np.where(e == 1.0, t, np.inf)
        response = t_name + (f", {e_name}" if e_name else " (every event observed)")
    n = lo.size

    kind = np.where(
        lo == hi, EXACT, np.where(np.isinf(hi), RIGHT, np.where(lo == 0, LEFT, INTERVAL))
    )
    trunc = np.zeros(n, dtype=bool)
    e_times = None
    if entry is not None:
        e_times, e_name = _numbers(entry, df, "entry", n=n)
        _check_entry(e_times, lo, hi, kind, e_name)
        trunc = e_times > 0
        left_trunc = trunc & (kind == LEFT)  # seen because T > entry, and T <= upper
        lo = np.where(left_trunc, e_times, lo)
        kind = np.where(left_trunc, INTERVAL, kind)

    X, columns, model_spec, w = _design(formula, df, n, weights, duration, lower)
    _check_events(kind, w)

    a = np.where(kind == LEFT, hi, lo)
    b = np.where(np.isinf(hi), lo, hi)
    kinds = tuple(int(k) for k in np.unique(kind))
    arrays: dict[str, np.ndarray] = {"X": X, "la": np.log(a)}
    if LEFT in kinds or INTERVAL in kinds:
        arrays["lb"] = np.log(b)
    if len(kinds) > 1:
        arrays["kind"] = kind.astype(np.float64)
    if trunc.any():
        assert e_times is not None
        arrays["le"] = np.where(trunc, np.log(np.where(trunc, e_times, 1.0)), arrays["la"])
        arrays["trunc"] = trunc.astype(np.float64)

    model = AFTModel(law, columns, kinds)
    result = engine_fit(
        model, arrays, weights=w, init=init, cov=cov_type, max_iter=max_iter, tol=tol
    )
    counts = {
        "exact": int(np.sum(kind == EXACT)),
        "right-censored": int(np.sum(kind == RIGHT)),
        "left-censored": int(np.sum(kind == LEFT)),
        "interval": int(np.sum(kind == INTERVAL)),
        "truncated": int(trunc.sum()),
    }
    finite = np.concatenate([lo[lo > 0], hi[np.isfinite(hi)]])
    info = AFTInfo(
        formula=formula,
        law=law,
        columns=columns,
        model_spec=model_spec,
        response=response,
        counts=counts,
        max_time=float(finite.max()),
        X=X,
    )
    out = AFTFit(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}, aft=info)
    if law.name == "gamma" and float(out.values["shape"]) > _GAMMA_SHAPE_LIMIT:
        warnings.warn(
            f"the Gamma shape estimate {float(out.values['shape']):.4g} is beyond "
            f"{_GAMMA_SHAPE_LIMIT:g}, where the incomplete gamma functions lose accuracy; the "
            "log-time errors are then nearly normal: dist='lognormal' fits the same data",
            InferenceWarning,
            stacklevel=2,
        )
    return out


def _resolve_dist(dist: Any) -> AbstractLaw:
    key = str(dist).lower()
    key = ALIASES.get(key, key)
    if key not in LAWS:
        raise ModelError(f"unknown dist {dist!r}; choose from {list(LAWS)}")
    return LAWS[key]


# ------------------------------------------------------------------------------------ data


def _numbers(
    value: Any, df: Any, what: str, allow_inf: bool = False, n: int | None = None
) -> tuple[np.ndarray, str]:
    """A column (by name) or an array as float64, refusing NaN (and inf unless allowed)."""
    if isinstance(value, str):
        if df is None:
            raise ModelError(f"{what}={value!r} names a column, but no data frame was given")
        if value not in df.columns:
            raise DataError(
                f"{what} column {value!r} is not in the data; columns are {list(df.columns)}"
            )
        label, raw = f"{what} column {value!r}", df[value]
    else:
        label, raw = what, value
    raw = raw.to_numpy() if hasattr(raw, "to_numpy") else raw
    try:
        x = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{label} must be numeric: {e}") from e
    if x.ndim == 0 and n is not None:
        x = np.full(n, float(x))
    if x.ndim != 1 or x.size == 0:
        raise DataError(f"{label} must be a non-empty 1-d column, got shape {x.shape}")
    if n is not None and x.size != n:
        raise DataError(f"{label} must have one value per row ({n}), got {x.size}")
    nan = np.isnan(x)
    if nan.any():
        i = int(np.argmax(nan))
        raise DataError(
            f"{label} has {int(nan.sum())} missing (NaN) value(s); the first is at row {i}. "
            "Drop or impute those rows first."
        )
    if not allow_inf and np.isinf(x).any():
        i = int(np.argmax(np.isinf(x)))
        raise DataError(f"{label} must be finite; row {i} is {x[i]}")
    return x, label


def _check_durations(t: np.ndarray, name: str) -> None:
    neg = t < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise DataError(
            f"{name} must be positive: row {i} is {t[i]} ({int(neg.sum())} negative value(s))"
        )
    zero = t == 0
    if zero.any():
        i = int(np.argmax(zero))
        raise DataError(
            f"{name} must be > 0: row {i} is 0 ({int(zero.sum())} zero duration(s)). AFT "
            "models work with log(time), which is -inf at 0 (R's survreg rejects zero times "
            "for these distributions too). Drop those rows, or move them to a small positive "
            "time such as half the time unit."
        )


def _events(event: Any, df: Any, n: int) -> tuple[np.ndarray, str]:
    e, name = _numbers(event, df, "event", n=n)
    bad = (e != 0) & (e != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{name} must be 1 (event observed) or 0 (right-censored); row {i} is {e[i]} "
            f"({int(bad.sum())} such row(s))"
        )
    return e, name


def _check_interval(lo: np.ndarray, hi: np.ndarray, lo_name: str, hi_name: str) -> None:
    def refuse(mask: np.ndarray, message: str) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise DataError(
                f"{message}; row {i} is [{lo[i]}, {hi[i]}] ({int(mask.sum())} such row(s))"
            )

    refuse(lo < 0, f"{lo_name} must be >= 0 (0 = left-censored)")
    refuse(hi <= 0, f"{hi_name} must be > 0 (an event time of 0 has log-time -inf)")
    refuse(lo > hi, f"{lo_name} must not exceed {hi_name}")
    refuse(
        (lo == 0) & np.isinf(hi),
        "an interval [0, inf] says nothing about the time (it carries no information)",
    )


def _check_entry(
    entry: np.ndarray, lo: np.ndarray, hi: np.ndarray, kind: np.ndarray, name: str
) -> None:
    neg = entry < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise DataError(f"{name} must be >= 0 (0 = no delayed entry); row {i} is {entry[i]}")
    exit_time = np.where(kind == LEFT, hi, lo)
    # exact and right-censored rows: entry < time; interval rows: entry <= lower
    late = np.where(kind == INTERVAL, entry > lo, entry >= exit_time) & (entry > 0)
    if late.any():
        i = int(np.argmax(late))
        raise DataError(
            f"{name} must come before the exit time: row {i} enters at {entry[i]} but its "
            f"time is [{lo[i]}, {hi[i]}] ({int(late.sum())} such row(s)). An individual can "
            "only be observed after entering."
        )


def _check_events(kind: np.ndarray, w: np.ndarray) -> None:
    seen = kind[w > 0]
    for code, what, where in (
        (RIGHT, "right-censored", "+inf (survival times without bound)"),
        (LEFT, "left-censored", "-inf (every time near zero)"),
    ):
        if seen.size and np.all(seen == code):
            raise DataError(
                f"no events: all {seen.size} rows are {what}, so the likelihood increases "
                f"without bound as the intercept runs to {where}: the MLE does not exist. "
                "At least one observed (or interval-censored) time is needed."
            )


# ---------------------------------------------------------------------------------- design


def _design(
    formula: str | None, df: Any, n: int, weights: Any, duration: Any, lower: Any
) -> tuple[np.ndarray, tuple[str, ...], Any, np.ndarray]:
    if df is None:
        if formula not in (None, "1"):
            raise ModelError("a formula needs data=... (a data frame with its columns)")
        return np.ones((n, 1)), ("Intercept",), None, as_weights(weights, n)
    rhs = _rhs(formula)
    lhs = next((v for v in (duration, lower) if isinstance(v, str)), None)
    frame = df
    if lhs is None:
        frame = df.assign(_likely_time=1.0)
        lhs = "_likely_time"
    quoted = lhs if lhs.isidentifier() else f"`{lhs}`"
    design = build_design(
        f"{quoted} ~ {rhs}",
        frame,
        y=None,
        X=None,
        weights=weights,
        offset=None,
        exposure=None,
        trials=None,
        groups=None,
        missing="raise",
        categorical_response=False,
    )
    X, columns = design.X, design.columns
    if X.shape[0] != n:
        raise DataError(f"the data have {X.shape[0]} rows but the times {n}")
    clash = sorted({"scale", "shape"} & set(columns))
    if clash:
        raise DataError(
            f"covariate(s) {clash} share a name with the model's parameters; rename the column"
        )
    w = design.weights if design.weights is not None else np.ones(n)
    if w.sum() <= 0:
        raise DataError("weights sum to zero: no observation carries weight")
    _check_variation(X, columns, w)
    _check_design(X, w, columns)
    return X, columns, design.model_spec, w


def _rhs(formula: str | None) -> str:
    if formula is None:
        return "1"
    if "~" in formula:
        lhs, rhs = formula.split("~", 1)
        if lhs.strip():
            raise ModelError(
                f"give only the right-hand side of the formula (e.g. 'fin + age'), got "
                f"{formula!r}: the times come from duration=/event= or lower=/upper="
            )
        return rhs.strip() or "1"
    return formula


def _check_variation(X: np.ndarray, columns: tuple[str, ...], w: np.ndarray) -> None:
    if "Intercept" not in columns:
        return
    constant = np.ptp(X, axis=0) == 0
    for j in np.flatnonzero(constant):
        if columns[j] != "Intercept":
            raise DataError(
                f"covariate {columns[j]!r} has no variation (every row is {X[0, j]:g}): its "
                "coefficient is not identified beside the intercept; drop it"
            )
