"""Options of a fit on Dask (from `dask.config`) and progress reports, one line per pass."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .._engine.errors import ModelError


@dataclass(frozen=True)
class PassInfo:
    """One pass over the data: its number, what it computed, its time and the log-likelihood."""

    number: int
    kind: str
    seconds: float
    partitions: int
    loglik: float | None = None


@dataclass(frozen=True)
class Options:
    """Set with ``dask.config.set({"likely.persist": False, ...})``.

    persist: "auto" (keep the prepared partitions in the workers' memory when the estimate of
    their size is under half the cluster's memory; never without a distributed Client, where
    they would sit in this process), True or False (read the data again on every pass).
    progress: None (a line per pass on stderr when it is a terminal), True or False. (Only
    plain values: Dask ships its configuration to workers it restarts. To receive each
    `PassInfo` in code, use `listen`.)
    chunk_rows: rows per compiled-kernel call inside a partition.
    split_every: fan-in of the tree that adds the partitions' sums on the cluster.
    """

    persist: bool | str = "auto"
    progress: Any = None
    chunk_rows: int = 1 << 16
    split_every: int = 8

    @staticmethod
    def from_config() -> Options:
        import dask

        opts = Options(
            persist=dask.config.get("likely.persist", "auto"),
            progress=dask.config.get("likely.progress", None),
            chunk_rows=int(dask.config.get("likely.chunk-rows", 1 << 16)),
            split_every=int(dask.config.get("likely.split-every", 8)),
        )
        if opts.progress not in (None, True, False):
            raise ModelError(f"likely.progress must be None, True or False, got {opts.progress!r}")
        if opts.persist not in ("auto", True, False):
            raise ModelError(f"likely.persist must be 'auto', True or False, got {opts.persist!r}")
        if opts.chunk_rows < 1 or opts.split_every < 2:
            raise ModelError("likely.chunk-rows must be >= 1 and likely.split-every >= 2")
        return opts


_LISTENERS: list[Callable[[PassInfo], None]] = []


@contextmanager
def listen(callback: Callable[[PassInfo], None]) -> Iterator[None]:
    """Call `callback(PassInfo)` on the driver after each pass of the fits inside the block."""
    _LISTENERS.append(callback)
    try:
        yield
    finally:
        _LISTENERS.remove(callback)


def reporter(option: Any) -> Callable[[PassInfo], None]:
    """What to do after each pass: tell the listeners, and print a line if asked to."""
    show = None
    if option is True or (option is None and sys.stderr.isatty()):
        show = _printer()

    def report(info: PassInfo) -> None:
        if show is not None:
            show(info)
        for callback in list(_LISTENERS):
            callback(info)

    return report


def _printer() -> Callable[[PassInfo], None]:
    from rich.console import Console

    console = Console(stderr=True)

    def show(info: PassInfo) -> None:
        ll = "" if info.loglik is None else f"  loglik {info.loglik:.12g}"
        console.print(
            f"[dim]dask[/dim] pass {info.number:>3}  {info.seconds:6.2f} s  {info.kind}{ll}",
            highlight=False,
            soft_wrap=True,
        )

    return show
