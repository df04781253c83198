"""Cox model input: validation of the user's columns, the design, and the risk-set layout.

Everything that does not depend on the coefficients is computed here, once per fit. The rows
are sorted once (by stratum, then time descending, events first within a time), so that
every per-iteration pass over them is sequential:

* event groups are the distinct (stratum, event time) pairs, in that order (within a stratum
  the latest time first); a group's event rows are contiguous;
* each stratum owns G_s + 1 consecutive *slots* (group g of stratum s is slot g + s, and one
  spare slot ends the stratum); a row's `slot_a` is the slot of the first (latest) event
  time at which it is at risk, `slot_b` that of the first event time at or before its entry.
  A row is at risk at exactly the groups in [slot_a, slot_b), so risk-set sums are prefix
  sums over slots and a row's cumulative hazard is a difference of suffix sums.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._engine.data import as_array
from ..._engine.errors import DataError, ModelError
from ..._engine.formula import check_terms
from ..._engine.inference import collinear_columns


@dataclass(frozen=True)
class CoxData:
    """Validated data, sorted, with the layout of its risk sets (module docstring)."""

    Xt: np.ndarray  # (p, n): the design, transposed, centered at `center`, rows sorted
    center: np.ndarray  # (p,) weighted column means of the design
    time: np.ndarray  # exit times (sorted order, as every per-row array here)
    entry: np.ndarray | None  # entry times (left truncation) or None
    event: np.ndarray  # bool
    weights: np.ndarray  # case weights (> 0)
    strata: np.ndarray  # int codes 0..K-1
    order: np.ndarray  # sorted row i is the user's row order[i]
    strata_labels: tuple[str, ...]
    cluster: np.ndarray | None  # cluster labels (sorted order)
    columns: tuple[str, ...]
    index: pd.Index  # the user's row labels, in the user's order
    group_time: np.ndarray  # (G,)
    group_stratum: np.ndarray  # (G,)
    group_deaths: np.ndarray  # (G,) number of event rows m
    group_weight: np.ndarray  # (G,) summed case weight of the event rows
    group_base: np.ndarray  # (K+1,) first group of each stratum
    slot_a: np.ndarray  # (n,)
    slot_b: np.ndarray | None  # (n,) only with entry times
    dead: np.ndarray  # (E,) sorted-row indices of the events, contiguous per group
    dead_group: np.ndarray  # (E,)
    dead_rank: np.ndarray  # (E,) 0..m-1 within the group
    Xd: np.ndarray = field(repr=False)  # (p, E) the event rows of Xt
    XdTw: np.ndarray = field(repr=False)  # (p,) sum over events of w x

    @property
    def n(self) -> int:
        return int(self.time.shape[0])

    @property
    def p(self) -> int:
        return int(self.Xt.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.group_time.shape[0])

    @property
    def n_strata(self) -> int:
        return int(self.group_base.shape[0] - 1)

    @property
    def n_slots(self) -> int:
        return self.n_groups + self.n_strata

    @property
    def group_slot(self) -> np.ndarray:
        return np.arange(self.n_groups) + self.group_stratum

    def to_user_order(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


@dataclass(frozen=True)
class CoxInput:
    """What `coxph` was given, resolved to arrays (before the layout is built)."""

    X: np.ndarray
    columns: tuple[str, ...]
    time: np.ndarray
    event: np.ndarray
    entry: np.ndarray | None
    weights: np.ndarray | None
    strata: np.ndarray
    strata_labels: tuple[str, ...]
    cluster: np.ndarray | None
    index: pd.Index
    model_spec: Any
    term_slices: dict[str, slice]
    n_dropped: int


_KNOWN = {"np", "numpy", "C", "log", "exp", "center", "scale", "poly", "bs", "I", "Q"}


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):  # polars
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DataError(
        f"data must be a pandas or polars DataFrame (or a dict of columns), got {type(data).__name__}"
    )


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    pos = np.flatnonzero(mask)
    labels = [index[i] for i in pos[:5]]
    more = f" (and {pos.size - 5} more)" if pos.size > 5 else ""
    return f"{pos.size} row(s), the first at index {labels}{more}"


def resolve_input(
    data: Any,
    *,
    duration: Any,
    event: Any,
    formula: str | None,
    X: Any,
    strata: Any,
    weights: Any,
    entry: Any,
    cluster: Any,
    missing: str,
) -> CoxInput:
    """Columns (or arrays) to validated arrays, with missing values refused or dropped."""
    if missing not in ("raise", "drop"):
        raise ModelError(f"missing must be 'raise' or 'drop', got {missing!r}")
    df = None if data is None else _frame(data)
    if df is not None and len(df) == 0:
        raise DataError("the data have no rows")
    if formula is not None and X is not None:
        raise ModelError("give covariates either by formula= or by X=, not both")

    named = {
        "duration": _names(duration),
        "event": _names(event),
        "entry": _names(entry),
        "weights": _names(weights),
        "strata": _names(strata),
        "cluster": _names(cluster),
    }
    if df is None and any(named.values()):
        raise ModelError("columns are named but no data frame was given (data=...)")
    if df is not None:
        for what, cols in named.items():
            bad = [c for c in cols if c not in df.columns]
            if bad:
                raise DataError(
                    f"{what} column(s) {bad} not in the data; columns are {list(df.columns)}"
                )
    special = [c for cols in named.values() for c in cols]

    rhs = None
    needed: list[str] = []
    if formula is not None:
        if df is None:
            raise ModelError("a formula needs data=... (a data frame)")
        rhs = _rhs(formula)
        import formulaic

        try:
            needed = sorted(formulaic.Formula(rhs).required_variables)
        except Exception as e:
            raise ModelError(f"cannot parse formula {formula!r}: {e}") from e
        unknown = [v for v in needed if v not in df.columns and v not in _KNOWN]
        if unknown:
            raise DataError(
                f"the formula uses {unknown}, which are not columns of the data: {list(df.columns)}"
            )
        needed = [v for v in needed if v in df.columns]
    elif X is None:
        if df is None:
            raise ModelError("give data with covariate columns, formula=..., or X=...")
        needed = [c for c in df.columns if c not in special]
        if not needed:
            raise ModelError("no covariate columns left in the data besides the survival columns")

    n_dropped = 0
    if df is not None:
        used = list(dict.fromkeys(needed + special))
        na = df[used].isna()
        bad = na.any(axis=1).to_numpy()
        if bad.any():
            cols = [c for c in used if na[c].any()]
            if missing == "raise":
                raise DataError(
                    f"missing values in {cols}: {_rows(bad, df.index)}. "
                    "Pass missing='drop' to drop those rows (the fit reports how many)."
                )
            warnings.warn(
                f"dropped {int(bad.sum())} row(s) with missing values in {cols}",
                UserWarning,
                stacklevel=3,
            )
            df = df.loc[~bad]
            n_dropped = int(bad.sum())
            if len(df) == 0:
                raise DataError("no rows left after dropping missing values")

    model_spec = None
    term_slices: dict[str, slice] = {}
    if formula is not None:
        assert df is not None and rhs is not None
        Xa, columns, model_spec, term_slices = _formula_design(rhs, df, formula)
    elif X is not None:
        Xa, columns = _array_design(X, df)
    else:
        assert df is not None
        non_numeric = [c for c in needed if not pd.api.types.is_numeric_dtype(df[c])]
        if non_numeric:
            raise DataError(
                f"column(s) {non_numeric} are not numeric; use formula=... to encode them, "
                "or drop them"
            )
        Xa = as_array(df[needed].to_numpy(dtype=float), "covariates")
        columns = tuple(str(c) for c in needed)
    n = Xa.shape[0]
    index = df.index if df is not None else pd.RangeIndex(n)

    def vector(value: Any, what: str) -> np.ndarray | None:
        if value is None:
            return None
        v = df[value] if isinstance(value, str) and df is not None else value
        arr = as_array(v, what)
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise DataError(f"{what} must have one value per row ({n}), got shape {arr.shape}")
        return arr

    if duration is None:
        raise ModelError("duration= is required: the column of exit (event or censoring) times")
    time = vector(duration, f"duration {duration!r}" if isinstance(duration, str) else "duration")
    assert time is not None
    neg = time < 0
    if neg.any():
        raise DataError(
            f"durations must be >= 0; {_rows(neg, index)} are negative "
            f"(the first is {time[np.argmax(neg)]})"
        )
    if event is None:
        ev = np.ones(n, dtype=bool)
    else:
        raw = vector(event, f"event {event!r}" if isinstance(event, str) else "event")
        assert raw is not None
        off = (raw != 0) & (raw != 1)
        if off.any():
            raise DataError(
                f"events must be 0 (censored) or 1 (event); {_rows(off, index)} are not "
                f"(the first is {raw[np.argmax(off)]})"
            )
        ev = raw == 1
    if not ev.any():
        raise DataError("there are no events (every row is censored): the Cox model needs events")
    t0 = vector(entry, f"entry {entry!r}" if isinstance(entry, str) else "entry")
    if t0 is not None:
        late = t0 >= time
        if late.any():
            raise DataError(
                f"entry times must be < exit times (a subject is at risk for entry < t <= exit); "
                f"{_rows(late, index)} enter at or after they exit"
            )
    w = vector(weights, f"weights {weights!r}" if isinstance(weights, str) else "weights")
    if w is not None and (w <= 0).any():
        raise DataError(
            f"case weights must be > 0 (as in R's coxph); {_rows(w <= 0, index)} are not"
        )
    codes, labels = _strata(strata, df, n)
    clus = None
    if cluster is not None:
        raw_c = df[cluster] if isinstance(cluster, str) and df is not None else cluster
        clus = np.asarray(raw_c)
        if clus.shape != (n,):
            raise DataError(f"cluster must have one label per row ({n}), got shape {clus.shape}")
    return CoxInput(
        Xa, columns, time, ev, t0, w, codes, labels, clus, index, model_spec, term_slices, n_dropped
    )


def _rhs(formula: str) -> str:
    if "~" in formula:
        lhs, rhs = formula.split("~", 1)
        if lhs.strip():
            raise ModelError(
                f"the Cox formula is the right-hand side only ({formula!r} has a response); "
                "name the time and event columns with duration= and event="
            )
        formula = rhs
    if not formula.strip():
        raise ModelError("the formula has no covariates")
    return formula.strip()


def _formula_design(
    rhs: str, df: pd.DataFrame, formula: str
) -> tuple[np.ndarray, tuple[str, ...], Any, dict[str, slice]]:
    import formulaic

    try:
        mm = formulaic.model_matrix(rhs, df, na_action="raise")
    except Exception as e:
        raise ModelError(f"cannot build the design from {formula!r}: {e}") from e
    spec = mm.model_spec
    check_terms(spec, formula)
    cols = [str(c) for c in mm.columns]
    keep = [j for j, c in enumerate(cols) if c != "Intercept"]
    Xa = as_array(mm.to_numpy(dtype=float)[:, keep], "design matrix")
    columns = tuple(cols[j] for j in keep)
    slices: dict[str, slice] = {}
    try:
        shift = 1 if "Intercept" in cols else 0
        for term, sl in spec.term_slices.items():
            name = str(term)
            if name == "1":
                continue
            slices[name] = slice(sl.start - shift, sl.stop - shift)
    except Exception:  # formulaic without term slices: one term per column
        slices = {c: slice(j, j + 1) for j, c in enumerate(columns)}
    if not columns:
        raise ModelError(f"the formula {formula!r} has no covariates (an intercept alone)")
    return Xa, columns, spec, slices


def _array_design(X: Any, df: pd.DataFrame | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if hasattr(X, "columns"):
        columns = tuple(str(c) for c in X.columns)
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise DataError(f"X must be 2-d (rows = observations), got shape {arr.shape}")
        columns = tuple(f"x{j}" for j in range(arr.shape[1]))
        X = arr
    Xa = as_array(X, "X")
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if df is not None and Xa.shape[0] != len(df):
        raise DataError(f"X has {Xa.shape[0]} rows but the data have {len(df)}")
    return Xa, columns


def _strata(strata: Any, df: pd.DataFrame | None, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if strata is None:
        return np.zeros(n, dtype=np.int64), ("all",)
    names = _names(strata)
    if names:
        assert df is not None
        frame = df[names]
    else:
        arr = np.asarray(strata)
        if arr.shape != (n,):
            raise DataError(f"strata must have one label per row ({n}), got shape {arr.shape}")
        names = ["strata"]
        frame = pd.DataFrame({"strata": arr})
    grouped = frame.groupby(names, sort=True, observed=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    keys = list(grouped.groups.keys())
    labels = []
    for key in keys:
        vals = key if isinstance(key, tuple) else (key,)
        labels.append(", ".join(f"{nm}={v}" for nm, v in zip(names, vals)))
    return codes, tuple(labels)


def check_design(data: CoxData) -> None:
    """No-variation and collinear covariates (within strata) raise a DataError naming them."""
    Xt, cols, w = data.Xt, data.columns, data.weights
    K = data.n_strata
    if K > 1:  # center within strata (Xt is centered overall)
        sw = np.bincount(data.strata, weights=w, minlength=K)
        means = np.stack([np.bincount(data.strata, weights=w * x, minlength=K) for x in Xt]) / sw
        Xt = Xt - means[:, data.strata]
    scale = np.max(np.abs(Xt), axis=1)
    scale[scale == 0] = 1.0
    Y = Xt * (np.sqrt(w) / scale[:, None])
    G = Y @ Y.T
    d = np.sqrt(np.clip(np.diag(G), 0.0, None))
    flat = np.flatnonzero(d <= 1e-12 * np.sqrt(w.sum()))
    if flat.size:
        where = "" if K == 1 else " within any stratum"
        raise DataError(
            f"covariate(s) {[cols[j] for j in flat]} have no variation{where}: the partial "
            "likelihood has no information about their coefficients; drop them"
        )
    involved = collinear_columns(G, d, cols)
    if involved:
        raise DataError(
            f"collinear covariates {involved}: one is a linear combination of the others"
            + (" within strata" if K > 1 else "")
            + "; drop one of them"
        )


def build(inp: CoxInput) -> CoxData:
    """Sort the rows and lay out their risk sets (see the module docstring)."""
    n = inp.X.shape[0]
    w0 = inp.weights if inp.weights is not None else np.ones(n)
    # stratum, then time descending, events first within a time: stable sorts, least
    # significant key first (cheaper than a three-key lexsort)
    order = np.argsort(~inp.event, kind="stable")
    order = order[np.argsort(-inp.time[order], kind="stable")]
    if len(inp.strata_labels) > 1:
        order = order[np.argsort(inp.strata[order], kind="stable")]
    s, t, d, w = inp.strata[order], inp.time[order], inp.event[order], w0[order]
    t0 = None if inp.entry is None else inp.entry[order]
    K = len(inp.strata_labels)
    center = (w0 @ inp.X) / w0.sum()
    XT = np.ascontiguousarray(inp.X.T)
    Xt = np.empty_like(XT)
    for k in range(XT.shape[0]):  # row by row: each gather stays within one column
        np.take(XT[k], order, out=Xt[k])
        Xt[k] -= center[k]

    # blocks of equal (stratum, time); a group is a block with events (they come first)
    new_block = np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])]
    block_start = np.maximum.accumulate(np.where(new_block, np.arange(n), 0))
    gstart = new_block & d  # first row of a block whose first row is an event
    group_rows = np.flatnonzero(gstart)
    G = group_rows.size
    group_stratum, group_time = s[group_rows], t[group_rows]
    starts_before = np.r_[0, np.cumsum(gstart)[:-1]]  # group starts strictly before each row
    slot_a = (starts_before[block_start] + s).astype(np.int64)
    dead = np.flatnonzero(d)
    dead_group = np.cumsum(gstart)[dead] - 1
    first = np.searchsorted(dead_group, np.arange(G))
    dead_rank = np.arange(dead.size) - first[dead_group]
    deaths = np.bincount(dead_group, minlength=G)
    gweight = np.bincount(dead_group, weights=w[dead], minlength=G)
    group_base = np.searchsorted(group_stratum, np.arange(K + 1)).astype(np.int64)

    slot_b = None
    if t0 is not None:
        # first group (latest time first) with time <= entry: count the groups with time >
        # entry, within the stratum, by a binary search on (stratum, -time) keys
        times = np.unique(np.concatenate([t, t0]))
        width = times.size + 1
        gkey = group_stratum * width + (times.size - np.searchsorted(times, group_time))
        qkey = s * width + (times.size - np.searchsorted(times, t0))
        qo = np.argsort(qkey, kind="stable")
        count = np.empty(n, dtype=np.int64)
        count[qo] = np.searchsorted(gkey, qkey[qo], side="left")
        slot_b = (count + s).astype(np.int64)
    Xd = np.ascontiguousarray(Xt[:, dead])
    return CoxData(
        Xt=Xt,
        center=center,
        time=t,
        entry=t0,
        event=d,
        weights=w,
        strata=s,
        order=order,
        strata_labels=inp.strata_labels,
        cluster=None if inp.cluster is None else inp.cluster[order],
        columns=inp.columns,
        index=inp.index,
        group_time=group_time,
        group_stratum=group_stratum,
        group_deaths=deaths,
        group_weight=gweight,
        group_base=group_base,
        slot_a=slot_a,
        slot_b=slot_b,
        dead=dead,
        dead_group=dead_group,
        dead_rank=dead_rank,
        Xd=Xd,
        XdTw=Xd @ w[dead],
    )
