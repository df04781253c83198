"""Progress bars for long work (EM iterations, simulation studies, bootstraps).

Shown on stderr with rich, and only when stderr is a terminal and the caller did not pass
``progress=False``; otherwise every call is a no-op that costs nothing. Two ways to use it::

    from likely._progress import progress_bar, track

    for b in track(range(n_boot), "bootstrap", enabled=progress):
        ...

    with progress_bar("EM", total=max_iter, enabled=progress) as bar:
        for it in range(max_iter):
            ...
            bar.advance(info=f"loglik {ll:.4f}")
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def shown(enabled: bool = True) -> bool:
    """True when a bar would be drawn: `enabled` and stderr is an interactive terminal."""
    if not enabled:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


class Bar:
    """A handle on one progress bar; a silent no-op when the bar is not shown."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def advance(self, n: float = 1, *, info: str | None = None) -> None:
        """Move the bar `n` steps; `info` replaces the text shown after the bar."""
        if self._progress is not None:
            if info is not None:
                self._progress.update(self._task, info=info)
            self._progress.advance(self._task, n)

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
        info: str | None = None,
    ) -> None:
        """Set the position, the total (e.g. when EM stops early), the label or the info."""
        if self._progress is None:
            return
        fields: dict[str, Any] = {}
        if info is not None:
            fields["info"] = info
        self._progress.update(
            self._task, completed=completed, total=total, description=description, **fields
        )


@contextmanager
def progress_bar(
    description: str, total: float | None = None, *, enabled: bool = True
) -> Iterator[Bar]:
    """A progress bar on stderr for the duration of the ``with`` block.

    `total` None draws an indeterminate bar. The bar is removed when the block ends.
    """
    if not shown(enabled):
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(description, total=total, info="")
        yield Bar(progress, task)


def track(
    items: Iterable[T],
    description: str,
    *,
    total: float | None = None,
    enabled: bool = True,
) -> Iterator[T]:
    """Iterate over `items`, advancing a progress bar by one per item.

    `total` defaults to ``len(items)`` when the iterable has a length.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.advance()
