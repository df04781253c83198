"""Dask collections as lists of aligned partitions (one dict of pieces per partition)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._engine.errors import ModelError
from . import is_dask


def _is_array(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask.array")


def _blocks(obj: Any, row_chunks: tuple[int, ...] | None) -> list[Any]:
    """One delayed object per block of rows."""
    if _is_array(obj):
        if obj.ndim == 0:
            raise ModelError("a Dask array of data needs observations along its first axis")
        if row_chunks is not None and obj.chunks[0] != row_chunks:
            obj = obj.rechunk({0: row_chunks})
        if obj.ndim > 1:
            obj = obj.rechunk({i: -1 for i in range(1, obj.ndim)})
        blocks = obj.to_delayed()
        return list(blocks.reshape(blocks.shape[0], -1)[:, 0])
    if hasattr(obj, "to_delayed") and hasattr(obj, "npartitions"):
        return list(obj.to_delayed())
    raise ModelError(
        f"{type(obj).__name__} is not a Dask array, DataFrame or Series; pass one of those"
    )


def align(pieces: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Partition k of every piece, as {name: delayed}, checking that the pieces line up.

    Dask arrays are rechunked to the rows of the first one; data frames and series must
    have the same number of partitions (take them from one Dask DataFrame)."""
    flat: dict[tuple[str, str | None], Any] = {}
    for name, obj in pieces.items():
        if obj is None:
            continue
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                flat[(name, key)] = value
        else:
            flat[(name, None)] = obj
    for (name, key), obj in flat.items():
        if not is_dask(obj):
            label = name if key is None else f"{name}[{key!r}]"
            raise ModelError(
                f"{label} is a {type(obj).__name__}, but the data are on Dask: give every "
                "per-row input as a Dask collection partitioned like the data (e.g. columns "
                "of the same Dask DataFrame)"
            )
    arrays = [obj for obj in flat.values() if _is_array(obj)]
    rows = arrays[0].chunks[0] if arrays else None
    blocks = {k: _blocks(obj, rows) for k, obj in flat.items()}
    counts = {
        (name if key is None else f"{name}[{key!r}]"): len(b) for (name, key), b in blocks.items()
    }
    if len(set(counts.values())) > 1:
        raise ModelError(
            f"the Dask inputs have different numbers of partitions {counts}: take them from "
            "one Dask DataFrame, or repartition them alike"
        )
    n = next(iter(counts.values()))
    if n == 0:
        raise ModelError("the Dask collection has no partitions")
    out: list[dict[str, Any]] = []
    for k in range(n):
        part: dict[str, Any] = {}
        for (name, key), b in blocks.items():
            if key is None:
                part[name] = b[k]
            else:
                part.setdefault(name, {})[key] = b[k]
        out.append(part)
    return out
