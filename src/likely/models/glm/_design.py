"""From a formula and a data frame, or from arrays, to a validated design."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._engine.data import as_array
from ..._engine.errors import DataError, ModelError
from ..._engine.formula import check_terms


@dataclass(frozen=True)
class Design:
    X: np.ndarray
    y: np.ndarray
    columns: tuple[str, ...]
    y_name: str
    weights: np.ndarray | None
    offset: np.ndarray | None
    trials: np.ndarray | None
    groups: np.ndarray | None
    model_spec: Any  # formulaic ModelSpec of the right-hand side, or None for arrays
    levels: tuple[str, ...] | None  # response levels, for multinomial
    n_dropped: int


def _to_pandas(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):  # polars and friends
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DataError(
        f"data must be a pandas or polars DataFrame (or a dict of columns), got {type(data).__name__}"
    )


def _column_or_array(value: Any, df: Any, what: str) -> Any:
    if isinstance(value, str):
        if df is None:
            raise ModelError(f"{what}={value!r} names a column, but no data frame was given")
        if value not in df.columns:
            raise DataError(
                f"{what} column {value!r} is not in the data; columns are {list(df.columns)}"
            )
        return df[value]
    return value


def build_design(
    formula: str | None,
    data: Any,
    *,
    y: Any,
    X: Any,
    weights: Any,
    offset: Any,
    exposure: Any,
    trials: Any,
    groups: Any,
    missing: str,
    categorical_response: bool,
) -> Design:
    if missing not in ("raise", "drop"):
        raise ModelError(f"missing must be 'raise' or 'drop', got {missing!r}")
    spec = None
    n_dropped = 0
    levels = None
    df = None
    if formula is not None:
        if y is not None or X is not None:
            raise ModelError("give a formula with data, or y= and X= arrays, not both")
        if data is None:
            raise ModelError("a formula needs data=... (a data frame)")
        import formulaic

        df = _to_pandas(data)
        try:
            parsed = formulaic.Formula(formula)
            needed = set(parsed.required_variables)
        except Exception as e:
            raise ModelError(f"cannot parse formula {formula!r}: {e}") from e
        extra_cols = [v for v in (weights, offset, exposure, trials, groups) if isinstance(v, str)]
        used = [c for c in df.columns if c in needed or c in extra_cols]
        unknown = sorted(v for v in needed if v not in df.columns and not _is_known_name(v))
        if unknown:
            raise DataError(
                f"the formula uses {unknown}, which are not columns of the data: {list(df.columns)}"
            )
        na = df[used].isna()
        bad = na.any(axis=1).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            cols = [c for c in used if na[c].any()]
            if missing == "raise":
                raise DataError(
                    f"{len(rows)} row(s) have missing values (in {cols}); the first are rows "
                    f"{rows[:5].tolist()}. Pass missing='drop' to drop them (the fit reports how many)."
                )
            warnings.warn(
                f"dropped {len(rows)} row(s) with missing values in {cols}",
                UserWarning,
                stacklevel=3,
            )
            df = df.loc[~bad]
            n_dropped = len(rows)
        if len(df) == 0:
            raise DataError("no rows left to fit")
        try:
            mm = formulaic.model_matrix(formula, df, na_action="raise")
        except Exception as e:
            raise ModelError(f"cannot build the design from {formula!r}: {e}") from e
        if not hasattr(mm, "lhs"):
            raise ModelError(f"the formula {formula!r} has no response: write 'y ~ x1 + x2'")
        rhs = mm.rhs
        spec = rhs.model_spec
        check_terms(spec, formula)
        columns = tuple(str(c) for c in rhs.columns)
        y_vars = sorted(parsed.lhs.required_variables)
        y_name = str(mm.lhs.columns[0]) if len(mm.lhs.columns) == 1 else "+".join(y_vars)
        Xa = as_array(rhs.to_numpy(dtype=float), "design matrix")
        if categorical_response:
            if len(y_vars) != 1:
                raise ModelError("a multinomial response must be a single column")
            y_name = y_vars[0]
            yv, levels = _codes(df[y_name])
        else:
            if len(mm.lhs.columns) != 1:
                raise ModelError(
                    f"the response {list(mm.lhs.columns)} has several columns; for binomial counts "
                    "use a single count column with trials=..."
                )
            yv = as_array(mm.lhs.to_numpy(dtype=float)[:, 0], f"response {y_name!r}")
    else:
        if y is None or X is None:
            raise ModelError("give either a formula with data=..., or both y= and X=")
        if hasattr(X, "columns"):
            columns = tuple(str(c) for c in X.columns)
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise DataError(f"X must be 2-d (rows = observations), got shape {arr.shape}")
            columns = tuple(f"x{j}" for j in range(arr.shape[1]))
        Xa = as_array(X, "X")
        if Xa.ndim != 2:
            raise DataError(f"X must be 2-d (rows = observations), got shape {Xa.shape}")
        y_name = str(getattr(y, "name", None) or "y")
        if categorical_response:
            yv, levels = _codes(y)
        else:
            yv = as_array(y, "y")
            if yv.ndim == 2 and yv.shape[1] == 1:
                yv = yv[:, 0]
        if yv.ndim != 1 or yv.shape[0] != Xa.shape[0]:
            raise DataError(
                f"y must be 1-d with one value per row of X ({Xa.shape[0]}), got shape {yv.shape}"
            )

    n = Xa.shape[0]

    def vector(value: Any, what: str, allow_inf: bool = False) -> np.ndarray | None:
        if value is None:
            return None
        v = _column_or_array(value, df, what)
        arr = as_array(v, what, allow_inf=allow_inf)
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise DataError(f"{what} must have one value per row ({n}), got shape {arr.shape}")
        return arr

    w = vector(weights, "weights")
    if w is not None and (w < 0).any():
        i = int(np.argmax(w < 0))
        raise DataError(f"weights must be >= 0; row {i} is {w[i]}")
    off = vector(offset, "offset")
    expo = vector(exposure, "exposure")
    if expo is not None:
        if (expo <= 0).any():
            i = int(np.argmax(expo <= 0))
            raise DataError(f"exposure must be > 0; row {i} is {expo[i]}")
        off = np.log(expo) if off is None else off + np.log(expo)
    tr = vector(trials, "trials")
    if tr is not None and ((tr < 1).any() or (np.floor(tr) != tr).any()):
        i = int(np.argmax((tr < 1) | (np.floor(tr) != tr)))
        raise DataError(f"trials must be whole numbers >= 1; row {i} is {tr[i]}")
    grp = None
    if groups is not None:
        g = _column_or_array(groups, df, "groups")
        grp = np.asarray(g)
        if grp.shape != (n,):
            raise DataError(f"groups must have one label per row ({n}), got shape {grp.shape}")
    return Design(Xa, yv, columns, y_name, w, off, tr, grp, spec, levels, n_dropped)


def _is_known_name(name: str) -> bool:
    return name in {"np", "numpy", "C", "log", "exp", "center", "scale", "poly", "bs", "I"}


def _codes(values: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    import pandas as pd

    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataError(f"the response has a missing value at row {i}")
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
    else:
        cats = sorted(s.unique().tolist())
    if len(cats) < 2:
        raise DataError("a multinomial response needs at least two levels")
    lookup = {c: i for i, c in enumerate(cats)}
    codes = np.array([lookup[v] for v in s.tolist()], dtype=float)
    return codes, tuple(str(c) for c in cats)
