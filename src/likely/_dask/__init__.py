"""Fitting on Dask collections: per-partition sums of score and Hessian, Newton on the driver.

A log-likelihood of independent observations is a sum over rows, and so are its gradient,
Hessian, the sandwich's meat and the expected information. On a Dask collection each
partition computes its sums with the engine's compiled kernels, a tree of tasks adds them on
the cluster, and only p-sized and p x p arrays come back to the driver, where the engine's
damped Newton takes its step. This module is imported by `lk.fit` and `lk.glm` on every call,
so it must stay cheap: Dask itself is imported only when the data are Dask collections.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any


def is_dask(obj: Any) -> bool:
    """True for a Dask collection (array, data frame, series, delayed), without importing dask."""
    if "dask" not in sys.modules:  # nothing can be a Dask collection before dask is imported
        return False
    module = type(obj).__module__
    if not module.startswith("dask"):
        return False
    import dask

    return bool(dask.is_dask_collection(obj))


def any_dask(*objs: Any) -> bool:
    """True when an argument, a value of a dict argument, or a field of `lk.Censored` is Dask."""
    if "dask" not in sys.modules:
        return False
    for obj in objs:
        if isinstance(obj, Mapping):
            if any(is_dask(v) for v in obj.values()):
                return True
        elif is_dask(obj):
            return True
        elif type(obj).__name__ == "Censored" and any(
            is_dask(getattr(obj, bound, None)) for bound in ("lower", "upper", "entry")
        ):
            return True
    return False
