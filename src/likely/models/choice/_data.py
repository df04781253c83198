"""Choice data: long data (one row per case and alternative) to padded arrays, with checks.

A *case* (choice situation) is one decision among the alternatives available to it. The
arrays are padded to the largest choice set: ``X[s, j]`` is the design row of the j-th
alternative of case s (zeros where the case has fewer alternatives), ``mask[s, j]`` says
whether that slot holds an alternative, ``y[s]`` is the slot of the chosen one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._engine.data import as_array
from ..._engine.errors import DataError, ModelError
from ..._engine.formula import check_terms
from ..._engine.inference import collinear_columns


@dataclass(frozen=True)
class ChoiceData:
    """Choice situations as padded arrays, with the labels needed to report on them."""

    X: np.ndarray = field(repr=False)  # (S, J, K) design, zero in padding slots
    mask: np.ndarray = field(repr=False)  # (S, J) bool: slot holds an alternative
    y: np.ndarray = field(repr=False)  # (S,) int slot of the chosen alternative (-1: none)
    alt: np.ndarray = field(repr=False)  # (S, J) int code into `alternatives`, -1 padding
    rows: np.ndarray = field(repr=False)  # (S, J) row position in the input, -1 padding
    cases: np.ndarray = field(repr=False)  # (S,) case labels
    alternatives: tuple[Any, ...] | None  # alternative labels (None: no alt column)
    columns: tuple[str, ...]
    weights: np.ndarray | None = field(repr=False)  # (S,) case weights
    model_spec: Any = field(repr=False)  # formulaic spec of the right-hand side, or None

    @property
    def n_cases(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_slots(self) -> int:
        return int(self.X.shape[1])

    def alternative_names(self) -> list[str]:
        if self.alternatives is None:
            raise ModelError("this needs the alternatives: give alt='column' when fitting")
        return [str(a) for a in self.alternatives]


def to_pandas(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):  # polars and friends
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DataError(
        f"data must be a pandas or polars DataFrame (or a dict of columns), got {type(data).__name__}"
    )


def _column(df: pd.DataFrame | None, value: Any, what: str, n: int) -> np.ndarray:
    if isinstance(value, str):
        if df is None:
            raise ModelError(f"{what}={value!r} names a column, but no data frame was given")
        if value not in df.columns:
            raise DataError(
                f"{what} column {value!r} is not in the data; columns are {list(df.columns)}"
            )
        out = df[value].to_numpy()
    else:
        out = np.asarray(value)
    if out.shape != (n,):
        raise DataError(f"{what} must have one value per row ({n}), got shape {out.shape}")
    if pd.isna(out).any():
        i = int(np.flatnonzero(pd.isna(out))[0])
        raise DataError(f"{what} has a missing value at row {i}")
    return out


def _design(
    formula: str | None,
    df: pd.DataFrame | None,
    X: Any,
    y: Any,
    group_values: np.ndarray | None,
    needs_response: bool,
    model_spec: Any,
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...], Any]:
    """(X, y or None, column names, formula spec) from a formula or from arrays."""
    if formula is not None or model_spec is not None:
        import formulaic

        assert df is not None
        if model_spec is None:
            try:
                parsed = formulaic.Formula(formula)
            except Exception as e:
                raise ModelError(f"cannot parse formula {formula!r}: {e}") from e
            if not hasattr(parsed, "lhs"):
                raise ModelError(
                    f"the formula {formula!r} has no response: write 'choice ~ x1 + x2'"
                )
            needed = set(parsed.required_variables)
        else:
            needed = set(model_spec.required_variables)
        missing = sorted(v for v in needed if v not in df.columns and not _is_known_name(v))
        if missing:
            raise DataError(
                f"the formula uses {missing}, which are not columns of the data: {list(df.columns)}"
            )
        used = [c for c in df.columns if c in needed]
        na = df[used].isna().to_numpy()
        if na.any():
            i, j = (int(v) for v in np.argwhere(na)[0])
            case = f" (case {_show(group_values[i])})" if group_values is not None else ""
            raise DataError(
                f"column {used[j]!r} has {int(na[:, j].sum())} missing value(s); the first is at "
                f"row {i}{case}. Remove or impute them first."
            )
        try:
            if model_spec is None:
                mm = formulaic.model_matrix(formula, df, na_action="raise")
                rhs, lhs = mm.rhs, mm.lhs
                model_spec = rhs.model_spec
                check_terms(model_spec, str(formula))
            else:
                rhs, lhs = model_spec.get_model_matrix(df, na_action="raise"), None
        except Exception as e:
            raise ModelError(f"cannot build the design from {formula!r}: {e}") from e
        columns = [str(c) for c in rhs.columns]
        Xa = rhs.to_numpy(dtype=float)
        keep = [j for j, c in enumerate(columns) if c != "Intercept"]
        Xa, columns = Xa[:, keep], [columns[j] for j in keep]
        ya = None
        if lhs is not None and needs_response:
            if lhs.shape[1] != 1:
                raise ModelError(f"the response must be one 0/1 column, got {list(lhs.columns)}")
            ya = lhs.to_numpy(dtype=float)[:, 0]
    else:
        if X is None:
            raise ModelError("give a formula with data=..., or X= (and y=) arrays")
        if hasattr(X, "columns"):
            columns = [str(c) for c in X.columns]
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise DataError(
                    f"X must be 2-d (one row per case and alternative), got shape {arr.shape}"
                )
            columns = [f"x{j}" for j in range(arr.shape[1])]
        Xa = as_array(X, "X")
        if Xa.ndim != 2:
            raise DataError(
                f"X must be 2-d (one row per case and alternative), got shape {Xa.shape}"
            )
        ya = None
        if needs_response:
            if y is None:
                raise ModelError("give the choices: y= (one 0/1 value per row of X)")
            ya = as_array(y, "y")
            if ya.shape != (Xa.shape[0],):
                raise DataError(
                    f"y must have one value per row of X ({Xa.shape[0]}), got shape {ya.shape}"
                )
    if not columns:
        raise ModelError("the utility has no terms: add attributes (the intercept cancels out)")
    check_finite_design(Xa, columns, group_values)
    return Xa, ya, tuple(columns), model_spec


def check_finite_design(X: np.ndarray, columns: Any, group_values: Any = None) -> None:
    """Raise on the first NaN or infinite entry of a design, naming its column, row and case."""
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        case = f" (case {_show(group_values[i])})" if group_values is not None else ""
        raise DataError(f"design column {columns[j]!r} is not finite at row {i}{case}: {X[i, j]}")


def _is_known_name(name: str) -> bool:
    return name in {"np", "numpy", "C", "log", "exp", "center", "scale", "poly", "bs", "I"}


def build_choice_data(
    formula: str | None,
    data: Any,
    *,
    group: Any,
    alt: Any = None,
    X: Any = None,
    y: Any = None,
    weights: Any = None,
    needs_response: bool = True,
    model_spec: Any = None,
    alternatives: tuple[Any, ...] | None = None,
) -> ChoiceData:
    """Validate long choice data and lay it out as padded arrays (see the module docstring).

    `alternatives` fixes the label order (new data for predictions use the fit's labels).
    """
    df = to_pandas(data) if data is not None else None
    if formula is not None and df is None:
        raise ModelError("a formula needs data=... (a data frame in long format)")
    if group is None:
        raise ModelError("group= is required: the column (or array) that identifies each case")
    n = len(df) if df is not None else np.asarray(X).shape[0] if X is not None else 0
    if n == 0:
        raise DataError("the data are empty: at least one case is needed")
    g = _column(df, group, "group", n)
    Xa, ya, columns, spec = _design(formula, df, X, y, g, needs_response, model_spec)
    codes, case_labels = pd.factorize(g, sort=False)
    case_labels = np.asarray(case_labels)
    S = len(case_labels)
    counts = np.bincount(codes, minlength=S)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot_sorted = np.arange(n) - starts[codes[order]]
    slot = np.empty(n, dtype=np.int64)
    slot[order] = slot_sorted
    J = int(counts.max())

    if needs_response:
        single = np.flatnonzero(counts < 2)
        if single.size:
            raise DataError(
                f"case {_show(case_labels[single[0]])} has only one alternative ({single.size} such "
                "case(s)): a choice needs at least two alternatives"
            )

    alt_codes = None
    if alt is not None:
        a = _column(df, alt, "alt", n)
        if alternatives is None:
            alternatives = tuple(sorted(pd.unique(a).tolist(), key=_sort_key))
        alt_codes = pd.Categorical(a, categories=list(alternatives)).codes.astype(np.int64)
        if (alt_codes < 0).any():
            i = int(np.argmax(alt_codes < 0))
            raise DataError(
                f"alternative {_show(a[i])} (row {i}) was not among the fitted alternatives "
                f"{list(alternatives)}"
            )
        pair = codes.astype(np.int64) * len(alternatives) + alt_codes
        _, first, cnt = np.unique(pair, return_index=True, return_counts=True)
        if (cnt > 1).any():
            i = int(first[np.argmax(cnt > 1)])
            raise DataError(f"case {_show(g[i])} lists alternative {_show(a[i])} more than once")

    if ya is not None:
        bad = ~np.isin(ya, (0.0, 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"the choice must be 0 or 1 (1 = chosen); row {i} (case {_show(g[i])}) has {ya[i]:g}"
            )
        chosen = np.bincount(codes, weights=ya, minlength=S)
        wrong = np.flatnonzero(chosen != 1)
        if wrong.size:
            s = int(wrong[0])
            what = (
                "no chosen alternative"
                if chosen[s] == 0
                else f"{int(chosen[s])} chosen alternatives"
            )
            raise DataError(
                f"case {_show(case_labels[s])} has {what}; each case needs exactly one row with "
                f"choice 1 ({wrong.size} case(s) fail this)"
            )

    w = None
    if weights is not None:
        wv = _column(df, weights, "weights", n)
        wv = as_array(wv, "weights")
        if (wv < 0).any():
            i = int(np.argmax(wv < 0))
            raise DataError(f"weights must be >= 0; row {i} (case {_show(g[i])}) is {wv[i]}")
        w = np.zeros(S)
        w[codes] = wv
        if not np.allclose(wv, w[codes]):
            i = int(np.argmax(~np.isclose(wv, w[codes])))
            raise DataError(
                f"weights must be constant within a case; case {_show(g[i])} has several"
            )

    K = Xa.shape[1]
    balanced = bool((counts == J).all())
    if balanced and np.array_equal(order, np.arange(n)):
        X3 = Xa.reshape(S, J, K)
        rows = np.arange(n).reshape(S, J)
        mask = np.ones((S, J), dtype=bool)
        alt3 = alt_codes.reshape(S, J) if alt_codes is not None else np.tile(np.arange(J), (S, 1))
    else:
        X3 = np.zeros((S, J, K))
        X3[codes, slot] = Xa
        rows = np.full((S, J), -1, dtype=np.int64)
        rows[codes, slot] = np.arange(n)
        mask = rows >= 0
        alt3 = np.full((S, J), -1, dtype=np.int64)
        alt3[codes, slot] = alt_codes if alt_codes is not None else slot
    ychosen = np.full(S, -1, dtype=np.int64)
    if ya is not None:
        hit = ya == 1.0
        ychosen[codes[hit]] = slot[hit]
    return ChoiceData(
        X=X3,
        mask=mask,
        y=ychosen,
        alt=alt3,
        rows=rows,
        cases=np.asarray(case_labels),
        alternatives=alternatives,
        columns=columns,
        weights=w,
        model_spec=spec,
    )


def _show(value: Any) -> str:
    """repr of a label as Python prints it (7.0, 'air'; not np.float64(7.0))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float | np.number) else (1, str(v))


def check_identified(data: ChoiceData) -> None:
    """Refuse columns that do not vary within any case, and collinear columns.

    Only differences between a case's alternatives enter the likelihood, so the check runs on
    the design centred within each case."""
    from ._conditional import gram

    X, mask = data.X, data.mask
    S, J, K = X.shape
    size = mask.sum(axis=1)
    means = X.sum(axis=1) / size[:, None]  # padding slots hold zeros
    G, raw = np.zeros((K, K)), np.zeros((K, K))
    step = max(1, (1 << 18) // J)
    for start in range(0, S, step):  # centred in blocks of cases (no cancellation, bounded memory)
        blk = slice(start, start + step)
        Xb = X[blk]
        centred = np.where(mask[blk, :, None], Xb - means[blk, None, :], 0.0)
        G += gram(centred.reshape(-1, K))
        raw += gram(Xb.reshape(-1, K))
    check_grams(G, raw, data.columns)


def check_grams(G: np.ndarray, raw: np.ndarray, cols: tuple[str, ...]) -> None:
    """The identification tests on the within-case centred Gram matrix G and the raw one
    (also used with Gram matrices summed over Dask partitions)."""
    d = np.sqrt(np.clip(np.diag(G), 0.0, None))
    scale = np.sqrt(np.clip(np.diag(raw), 0.0, None))
    flat = np.flatnonzero(d <= 1e-12 * np.maximum(scale, 1e-300))
    if flat.size:
        raise DataError(
            f"column(s) {[cols[j] for j in flat]} do not vary across the alternatives of any case, "
            "so they cancel out of every choice probability (their coefficients are not identified). "
            "A case-specific variable (e.g. income) enters a choice model interacted with "
            "alternative dummies, leaving one alternative out: I(income * (mode == 'air')), ..."
        )
    involved = collinear_columns(G, d, cols)
    if involved:
        raise DataError(
            f"the design is collinear within cases: columns {involved} are linearly dependent once "
            "constants common to a case's alternatives are removed. Typical causes: a dummy for "
            "every alternative (use C(mode), which leaves one out, or drop one), or a "
            "case-specific variable interacted with every alternative's dummy (leave one out)"
        )


def long_from_wide(
    wide: Any,
    *,
    choice: str,
    alternatives: list[Any] | tuple[Any, ...],
    varying: list[str] | tuple[str, ...] = (),
    sep: str = "_",
    case: str = "case",
    alt: str = "alt",
    available: str | None = None,
    fill: float | None = None,
) -> pd.DataFrame:
    """Wide choice data (one row per case) to long data (one row per case and alternative).

    Parameters
    ----------
    wide : data frame with one row per case.
    choice : column holding the label of the chosen alternative.
    alternatives : the alternatives' labels, in the order wanted.
    varying : stems of alternative-specific attributes: stem ``"price"`` with ``sep="_"`` reads
        columns ``price_air``, ``price_train``, ... into one column ``price``.
    case, alt : names of the case-id and alternative columns created (the case id is the
        wide row's position unless `case` is already a column).
    available : stem of 0/1 availability columns (``av_air``, ...): unavailable alternatives
        get no row, which gives unbalanced choice sets.
    fill : value for an attribute column that is absent for some alternative (e.g. terminal
        time for car); by default an absent column is an error.

    Returns a long data frame with columns `case`, `alt`, `choice` (0/1), the varying stems and
    every other column of `wide` copied to each of the case's rows. Example::

        long = lk.long_from_wide(df, choice="mode", alternatives=["air", "car"],
                                 varying=["price", "time"])
    """
    df = to_pandas(wide).reset_index(drop=True)
    if choice not in df.columns:
        raise DataError(
            f"choice column {choice!r} is not in the data; columns are {list(df.columns)}"
        )
    alts = list(alternatives)
    if len(alts) < 2:
        raise ModelError("alternatives needs at least two labels")
    labels = [str(a) for a in alts]
    chosen = df[choice]
    if chosen.isna().any():
        i = int(np.flatnonzero(chosen.isna().to_numpy())[0])
        raise DataError(f"the choice column {choice!r} is missing at row {i}")
    unknown = ~chosen.astype(str).isin(labels)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        raise DataError(
            f"row {i} chose {_show(chosen.iloc[i])}, which is not among the alternatives {alts}"
        )
    used: set[str] = {choice}
    columns: dict[str, Any] = {}
    n, J = len(df), len(alts)
    case_ids = df[case].to_numpy() if case in df.columns else np.arange(n)
    if case in df.columns:
        used.add(case)
    columns[case] = np.repeat(case_ids, J)
    columns[alt] = np.tile(np.asarray(alts, dtype=object), n)
    columns[choice] = (np.repeat(chosen.astype(str).to_numpy(), J) == np.tile(labels, n)).astype(
        float
    )
    for stem in varying:
        block = np.empty((n, J))
        absent = []
        for j, lab in enumerate(labels):
            name = f"{stem}{sep}{lab}"
            if name in df.columns:
                block[:, j] = df[name].to_numpy(dtype=float)
                used.add(name)
            elif fill is not None:
                block[:, j] = fill
            else:
                absent.append(name)
        if absent:
            raise DataError(
                f"columns {absent} are not in the data; pass fill=0.0 to fill absent attributes"
            )
        columns[stem] = block.reshape(-1)
    for c in df.columns:
        if c not in used and c not in columns:
            columns[c] = np.repeat(df[c].to_numpy(), J)
    out = pd.DataFrame(columns)
    if available is not None:
        av = np.empty((n, J))
        for j, lab in enumerate(labels):
            name = f"{available}{sep}{lab}"
            if name not in df.columns:
                raise DataError(f"availability column {name!r} is not in the data")
            av[:, j] = df[name].to_numpy(dtype=float)
            if name in out.columns:
                out = out.drop(columns=name)
        keep = av.reshape(-1) != 0
        bad = (~keep) & (out[choice].to_numpy() == 1)
        if bad.any():
            i = int(np.argmax(bad)) // J
            raise DataError(
                f"row {i} chose {_show(chosen.iloc[i])}, which its availability column marks unavailable"
            )
        out = out.loc[keep].reset_index(drop=True)
    return out


def design_only(model_spec: Any, df: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """The fit's design columns (intercept dropped) for the rows of `df`."""
    try:
        mm = model_spec.get_model_matrix(df, na_action="raise")
    except Exception as e:
        raise DataError(f"cannot build the design for these data: {e}") from e
    names = [str(c) for c in mm.columns]
    return mm.to_numpy(dtype=float)[:, [names.index(c) for c in columns]]
