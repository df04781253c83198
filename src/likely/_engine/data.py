"""Validation and conversion of user data at the edge: numpy in, clear errors out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import DataError

# Row counts are rounded up to one of these steps times a power of two so that fits on
# data of similar size share one compiled program; padded rows carry weight zero.
_BUCKET_STEPS = (1.0, 1.25, 1.5, 1.75)
_PAD_LIMIT = 1 << 15  # above this, padding costs more than a compilation


def _describe(where: str, index: tuple[int, ...]) -> str:
    if len(index) == 1:
        return f"{where} row {index[0]}"
    return f"{where} row {index[0]}, column {index[1]}"


def as_array(x: Any, where: str = "data", allow_inf: bool = False) -> np.ndarray:
    """Convert array-likes (lists, numpy, pandas, polars) to float64, refusing bad values."""
    columns = None
    if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):
        columns = list(getattr(x, "columns", [])) or None
        dtypes = getattr(x, "dtypes", None)
        if columns is not None and dtypes is not None:
            for name, dt in zip(columns, list(dtypes)):
                _check_dtype(str(dt), f"{where} column {name!r}")
        elif hasattr(x, "dtype"):
            _check_dtype(str(x.dtype), where)
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":  # numbers and booleans pass without a look
        _check_dtype(str(arr.dtype), where, arr)
    arr = arr.astype(np.float64, copy=False)
    if arr.size == 0 or (arr.ndim >= 1 and arr.shape[0] == 0):
        raise DataError(f"{where} is empty: at least one observation is needed")
    if arr.dtype.kind == "f" and np.isfinite(np.add.reduce(arr, axis=None)):
        return arr  # a finite sum: no NaN or inf anywhere (one pass, no temporary)
    bad = ~np.isfinite(arr) if not allow_inf else np.isnan(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        col = ""
        if columns is not None and len(idx) > 1:
            col = f" (column {columns[idx[1]]!r})"
        what = "NaN or infinite" if not allow_inf else "NaN"
        raise DataError(
            f"{where} contains {int(bad.sum())} {what} value(s); the first is at "
            f"{_describe(where, idx)}{col}: {float(arr[idx])}. Remove or impute them first."
        )
    return arr


def _check_dtype(dtype: str, where: str, arr: np.ndarray | None = None) -> None:
    if dtype == "category":
        raise DataError(
            f"{where} is a pandas categorical; encode it (e.g. its .cat.codes) "
            "or use a formula, which creates dummy columns"
        )
    if dtype in ("object", "string", "str") or dtype.startswith(("<U", "|S", "<S", "str")):
        sample = ""
        if arr is not None and arr.size:
            flat = arr.ravel()
            for i, v in enumerate(flat):
                try:
                    float(v)
                except (TypeError, ValueError):
                    sample = f"; element {i} is {v!r}"
                    break
        if not sample and arr is not None:
            return  # numeric values stored as objects: numpy converts them
        raise DataError(f"{where} must be numeric, got dtype {dtype}{sample}")


_ONE = np.ones(1)


def unit_weights(n: int) -> np.ndarray:
    """n weights of 1 as a read-only, zero-stride view of one value: no allocation, and
    `is_unit` recognises them without a pass over the data."""
    w = np.ndarray((n,), dtype=np.float64, buffer=_ONE, strides=(0,))
    w.flags.writeable = False
    return w


def is_unit(w: np.ndarray) -> bool:
    """True for weights that are all 1, known from their layout alone (a zero stride means
    every element is the first)."""
    return w.ndim == 1 and w.strides == (0,) and w.shape[0] > 0 and w[0] == 1.0


def wsum(w: np.ndarray) -> float:
    """The total weight (the number of rows for unit weights, without a pass)."""
    return float(w.shape[0]) if is_unit(w) else float(w.sum())


def as_weights(w: Any, n: int) -> np.ndarray:
    if w is None:
        return unit_weights(n)
    arr = as_array(w, "weights")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"weights must have shape ({n},) to match the data, got {arr.shape}")
    if (arr < 0).any():
        i = int(np.argmax(arr < 0))
        raise DataError(f"weights must be >= 0; weights row {i} is {arr[i]!r}")
    if arr.sum() <= 0:
        raise DataError("weights sum to zero: no observation carries weight")
    return arr


def nrows(data: Any) -> int:
    if isinstance(data, Mapping):
        return next(iter(data.values())).shape[0]
    return data.shape[0]


def as_data_dict(data: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Validate a dict of arrays that share their first axis (observations)."""
    if len(data) == 0:
        raise DataError("data is an empty dict")
    out = {k: as_array(v, f"data[{k!r}]") for k, v in data.items()}
    for k, v in out.items():
        if v.ndim == 0:
            raise DataError(f"data[{k!r}] is a scalar; observations run along the first axis")
    lengths = {k: v.shape[0] for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"data arrays must share their first axis (observations); got {lengths}")
    return out


def bucket(n: int) -> int:
    """The padded row count for n rows (n itself above the padding limit)."""
    if n >= _PAD_LIMIT or n <= 8:
        return n
    p = 1 << (n - 1).bit_length() - 1
    for step in _BUCKET_STEPS:
        if n <= int(p * step):
            return int(p * step)
    return 2 * p


def pad_rows(data: Any, weights: np.ndarray, target: int) -> tuple[Any, np.ndarray]:
    """Pad to `target` rows with copies of row 0 at weight zero (same log-likelihood)."""
    n = weights.shape[0]
    if target == n:
        return data, weights

    def pad(a: np.ndarray) -> np.ndarray:
        fill = np.repeat(a[:1], target - n, axis=0)
        return np.concatenate([a, fill], axis=0)

    if isinstance(data, Mapping):
        padded: Any = {k: pad(v) for k, v in data.items()}
    else:
        padded = pad(data)
    return padded, np.concatenate([weights, np.zeros(target - n)])
