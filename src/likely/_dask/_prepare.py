"""From one raw partition (pandas or numpy pieces) to validated float64 arrays, on a worker.

A preparer is a small frozen object sent to the workers once per fit; called on the pieces of
one partition (data, weights, ...) it returns a `Part`. Errors name the partition and the row
within it (and, for data frames, the index label), since rows are not numbered across
partitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engine.censoring import Censored, truncated
from .._engine.data import as_array, nrows
from .._engine.errors import DataError, ModelError
from .._engine.model import AbstractModel


@dataclass(frozen=True)
class Part:
    """One prepared partition: the model's data, frequency weights, cluster labels."""

    data: Any  # the model's data (array or dict of arrays); None when the partition is empty
    weights: np.ndarray
    groups: np.ndarray | None = None
    n_dropped: int = 0

    @property
    def n(self) -> int:
        return int(self.weights.shape[0])

    @property
    def nbytes(self) -> int:
        arrays = self.data.values() if isinstance(self.data, Mapping) else [self.data]
        return int(sum(getattr(a, "nbytes", 0) for a in arrays) + self.weights.nbytes)


def _length(x: Any) -> int:
    if isinstance(x, Mapping):
        return len(next(iter(x.values())))
    return len(x)


def _empty() -> Part:
    return Part(None, np.zeros(0))


def check_weights(w: Any, n: int) -> np.ndarray:
    """Frequency weights of one partition (a partition may carry zero total weight)."""
    if w is None:
        return np.ones(n)
    arr = as_array(w, "weights")
    if arr.shape != (n,):
        raise DataError(f"weights must have one value per row ({n}), got shape {arr.shape}")
    if (arr < 0).any():
        i = int(np.argmax(arr < 0))
        raise DataError(f"weights must be >= 0; weights row {i} is {arr[i]!r}")
    return arr


def in_partition(index: int, error: Exception) -> Exception:
    """The same error type, its message prefixed by the partition it came from."""
    kind = type(error) if isinstance(error, DataError | ModelError) else DataError
    out = kind(f"partition {index}: {error} (rows are counted within the partition)")
    return out


@dataclass(frozen=True)
class ModelPreparer:
    """For `lk.fit`: the model's own `prepare`, with censoring as `fit` applies it."""

    model: AbstractModel  # a CensoredModel when the data are censored or truncated
    entry: float | None = None  # a left-truncation time shared by every row

    def __call__(self, pieces: dict[str, Any]) -> Part:
        if "lower" in pieces:  # lk.Censored(lower, upper) with Dask bounds
            n = _length(pieces["lower"])
            data: Any = Censored(pieces["lower"], pieces["upper"]) if n else None
        else:
            data = pieces["data"]
            n = _length(data)
            if n and pieces.get("event") is not None:
                data = Censored.right(data, pieces["event"])
        if n == 0:
            return _empty()
        entry = pieces.get("entry", self.entry)
        if entry is not None:
            data = truncated(data, entry)
        prepared = self.model.prepare(data)
        return Part(prepared, check_weights(pieces.get("weights"), nrows(prepared)))


@dataclass(frozen=True)
class GLMColumns:
    """Per-row vectors of a GLM besides X and y: names of columns, or None."""

    weights: str | None = None
    offset: str | None = None
    exposure: str | None = None
    trials: str | None = None
    groups: str | None = None


def glm_part(
    X: np.ndarray,
    y: np.ndarray,
    vectors: Mapping[str, Any],
    family: Any,
    y_name: str,
    n_dropped: int = 0,
) -> Part:
    """Validate a GLM partition's per-row vectors as `build_design` and `_check_response` do."""
    n = X.shape[0]

    def vector(what: str, allow_inf: bool = False) -> np.ndarray | None:
        value = vectors.get(what)
        if value is None:
            return None
        arr = as_array(value, what, allow_inf=allow_inf)
        if arr.shape != (n,):
            raise DataError(f"{what} must have one value per row ({n}), got shape {arr.shape}")
        return arr

    w = check_weights(vectors.get("weights"), n)
    off = vector("offset")
    expo = vector("exposure")
    if expo is not None:
        if (expo <= 0).any():
            i = int(np.argmax(expo <= 0))
            raise DataError(f"exposure must be > 0; row {i} is {expo[i]}")
        off = np.log(expo) if off is None else off + np.log(expo)
    tr = vector("trials")
    if tr is not None and ((tr < 1).any() or (np.floor(tr) != tr).any()):
        i = int(np.argmax((tr < 1) | (np.floor(tr) != tr)))
        raise DataError(f"trials must be whole numbers >= 1; row {i} is {tr[i]}")
    data: dict[str, np.ndarray] = {"X": X, "y": y}
    if off is not None:
        data["offset"] = off
    if tr is not None:
        data["trials"] = tr
    if family is not None:
        ok = np.asarray(family.in_support(y, {"trials": tr} if tr is not None else {}))
        if not ok.all():
            i = int(np.argmax(~ok))
            raise DataError(
                f"the {family.name} response {y_name!r} must be {family.support_text}; row {i} "
                f"is {y[i]} ({int((~ok).sum())} value(s) outside)"
            )
    groups = None
    if vectors.get("groups") is not None:
        groups = np.asarray(vectors["groups"])
        if groups.shape != (n,):
            raise DataError(f"groups must have one label per row ({n}), got shape {groups.shape}")
    return Part(data, w, groups, n_dropped)


def codes(values: Any, levels: tuple[Any, ...], y_name: str) -> np.ndarray:
    """A multinomial response as level codes 0..k-1 (levels learned over all partitions)."""
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=object))
    lookup = {v: i for i, v in enumerate(levels)}
    out = s.map(lookup)
    if out.isna().any():
        i = int(np.flatnonzero(out.isna().to_numpy())[0])
        raise DataError(f"the response {y_name!r} has a missing or unknown level at row {i}")
    return out.to_numpy(dtype=float)


@dataclass(frozen=True)
class FormulaPreparer:
    """For `lk.glm(formula, data=<Dask DataFrame>)`: the design of one partition, built with
    the formula's specification learned once (categorical levels learned over all partitions)."""

    specs: Any  # formulaic ModelSpecs (lhs and rhs)
    used: tuple[str, ...]  # columns whose missing values count
    categories: tuple[tuple[str, Any], ...]  # column -> pandas CategoricalDtype with all levels
    columns: GLMColumns
    missing: str
    family: Any  # None for multinomial
    y_name: str
    response_levels: tuple[Any, ...] | None = None

    def __call__(self, pieces: dict[str, Any]) -> Part:
        df = pieces["data"]
        n_dropped = 0
        if len(df) == 0:
            return _empty()
        if self.categories:
            df = df.assign(**{c: df[c].astype(dtype) for c, dtype in self.categories})
        na = df[list(self.used)].isna()
        bad = na.any(axis=1).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            if self.missing == "raise":
                where = [c for c in self.used if na[c].any()]
                labels = df.index[rows[:5]].tolist()
                raise DataError(
                    f"{len(rows)} row(s) have missing values (in {where}); the first are rows "
                    f"{rows[:5].tolist()} (index labels {labels}). Pass missing='drop' to drop "
                    "them (the fit reports how many)."
                )
            df = df.loc[~bad]
            n_dropped = len(rows)
            if len(df) == 0:
                return Part(None, np.zeros(0), None, n_dropped)
        try:
            rhs = self.specs.rhs.get_model_matrix(df, na_action="raise")
            lhs = None
            if self.response_levels is None:
                lhs = self.specs.lhs.get_model_matrix(df, na_action="raise")
        except Exception as e:
            raise DataError(f"cannot build the design: {e}") from e
        X = as_array(rhs.to_numpy(dtype=float), "design matrix")
        if lhs is None:
            assert self.response_levels is not None
            y = codes(df[self.y_name].to_numpy(), self.response_levels, self.y_name)
        else:
            y = as_array(lhs.to_numpy(dtype=float)[:, 0], f"response {self.y_name!r}")
        cols = self.columns
        vectors = {
            k: (df[name] if name is not None else None)
            for k, name in (
                ("weights", cols.weights),
                ("offset", cols.offset),
                ("exposure", cols.exposure),
                ("trials", cols.trials),
                ("groups", cols.groups),
            )
        }
        return glm_part(X, y, vectors, self.family, self.y_name, n_dropped)


@dataclass(frozen=True)
class ArrayGLMPreparer:
    """For `lk.glm(y=..., X=...)` with Dask collections: X used as given."""

    family: Any
    y_name: str
    n_columns: int
    response_levels: tuple[Any, ...] | None = None

    def __call__(self, pieces: dict[str, Any]) -> Part:
        if _length(pieces["X"]) == 0:
            return _empty()
        X = as_array(pieces["X"], "X")
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise DataError(f"X must be 2-d with {self.n_columns} columns, got shape {X.shape}")
        if self.response_levels is not None:
            y = codes(np.ravel(np.asarray(pieces["y"])), self.response_levels, self.y_name)
        else:
            y = as_array(pieces["y"], "y")
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
        if y.shape != (X.shape[0],):
            raise DataError(
                f"y must be 1-d with one value per row of X ({X.shape[0]}), got shape {y.shape}"
            )
        return glm_part(X, y, pieces, self.family, self.y_name)
