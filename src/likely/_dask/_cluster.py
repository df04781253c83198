"""The driver's side: the partitions of one fit, and passes that bring back only their sums.

A pass maps `_kernels.partition_sums` over the partitions and adds the results in a tree of
tasks on the cluster (`split_every` at a time); only the root, p-sized and p x p arrays,
comes back. Prepared partitions are persisted (kept in the workers' memory) when they fit;
otherwise each pass reads and prepares them again. Either way Dask recomputes a partition
lost with a worker.
"""

from __future__ import annotations

import pickle
import sys
import time
import uuid
from typing import Any

import numpy as np

from .._engine.errors import DataError
from . import _kernels
from ._progress import Options, PassInfo, reporter


def _payload(obj: Any) -> tuple[str, Any]:
    """(token, delayed bytes): one key in each graph, unpickled once per worker."""
    import cloudpickle
    import dask

    token = uuid.uuid4().hex
    return token, dask.delayed(cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def distributed_client() -> Any:
    """The distributed Client that `dask.compute` would use now, or None."""
    if "distributed" not in sys.modules:
        return None
    import dask.base

    scheduler = dask.base.get_scheduler()
    client = getattr(scheduler, "__self__", None)
    return client if type(client).__name__ == "Client" else None


class Cluster:
    """Prepared partitions of one data set and the passes over them."""

    def __init__(self, raw: list[dict[str, Any]], preparer: Any, options: Options) -> None:
        import dask

        self.options = options
        self.report = reporter(options.progress)
        token, payload = _payload(preparer)
        self.parts = [
            dask.delayed(_kernels.prepare, pure=False)(token, payload, k, pieces)
            for k, pieces in enumerate(raw)
        ]
        self.persisted = False
        self.passes = 0
        self._kernel: tuple[str, Any] | None = None

    @property
    def npartitions(self) -> int:
        return len(self.parts)

    def start(self, job: _kernels.InitJob) -> dict[str, Any]:
        """Start values from the first partition with rows (the model's `init` there)."""
        import dask

        token, payload = _payload(job)
        for first in range(0, self.npartitions, 4):
            batch = range(first, min(first + 4, self.npartitions))
            found = dask.compute(
                *[
                    dask.delayed(_kernels.start_values, pure=False)(
                        token, payload, k, self.parts[k]
                    )
                    for k in batch
                ]
            )
            for out in found:
                if out is not None:
                    return out
        raise DataError("the Dask data have no rows with positive weight")

    def persist_if_wanted(self, first_nbytes: int) -> None:
        """Keep the prepared partitions in the workers' memory (see `Options.persist`)."""
        import dask

        option = self.options.persist
        if option == "auto":
            client = distributed_client()
            if client is None:
                return
            workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
            memory = sum(float(w.get("memory_limit") or 0) for w in workers)
            option = 0 < first_nbytes * self.npartitions < 0.5 * memory
        if option:
            self.parts = list(dask.persist(*self.parts))
            self.persisted = True

    def reduce(self, func: Any, combine: Any) -> Any:
        """`func(part)` on every prepared partition, combined by `combine(*results)` in a tree
        of tasks on the cluster (`split_every` at a time); only the root comes back. For
        small per-partition summaries (module-level functions, so that workers import them)."""
        import dask

        tasks = [dask.delayed(func, pure=False)(part) for part in self.parts]
        split = self.options.split_every
        while len(tasks) > 1:
            tasks = [
                dask.delayed(combine, pure=False)(*tasks[i : i + split])
                for i in range(0, len(tasks), split)
            ]
        (out,) = dask.compute(tasks[0])
        return out

    def set_kernel(self, job: _kernels.KernelJob) -> None:
        self._kernel = _payload(job)

    def run(
        self, u: np.ndarray, want: tuple[str, ...], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One pass: the sums of `want` over all partitions at the unconstrained point u.

        Keys: "vgh" (ll, grad, hess of the log-likelihood), "ll", "meat" (sum of w s s'),
        "cluster" (cluster_meat, n_groups; needs groups), "expected" (analytic expected
        information, natural scale, needs extra["values"]), "ll_natural", "bad_start",
        and GLM checks ("gram", "xrange", "separation", "extreme", "pearson",
        "fisher_gram", "hc_meat"). Always: n, sum_w, n_dropped.
        """
        import dask

        assert self._kernel is not None, "set_kernel first"
        token, payload = self._kernel
        u = np.asarray(u, dtype=float)
        t0 = time.perf_counter()
        tasks = [
            dask.delayed(_kernels.partition_sums, pure=False)(
                token, payload, k, part, u, want, extra or {}
            )
            for k, part in enumerate(self.parts)
        ]
        split = self.options.split_every
        while len(tasks) > 1:
            tasks = [
                dask.delayed(_kernels.merge, pure=False)(*tasks[i : i + split])
                for i in range(0, len(tasks), split)
            ]
        (out,) = dask.compute(dask.delayed(_kernels.finalize, pure=False)(tasks[0]))
        self.passes += 1
        ll = out.get("ll")
        seconds = time.perf_counter() - t0
        ll = None if ll is None else float(ll)
        self.report(PassInfo(self.passes, "+".join(want), seconds, self.npartitions, ll))
        return out


def distinct(frames: list[Any], columns: tuple[str, ...], split_every: int) -> dict[str, set]:
    """Distinct non-missing values of columns over all partitions of a data frame (one pass)."""
    import dask

    tasks = [dask.delayed(_kernels.uniques, pure=False)(f, columns) for f in frames]
    while len(tasks) > 1:
        tasks = [
            dask.delayed(_kernels.union, pure=False)(*tasks[i : i + split_every])
            for i in range(0, len(tasks), split_every)
        ]
    (out,) = dask.compute(tasks[0])
    return out
