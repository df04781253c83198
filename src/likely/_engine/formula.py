"""Checks shared by every model that builds its design from a formula (formulaic)."""

from __future__ import annotations

from typing import Any

from .errors import DataError


def check_terms(spec: Any, formula: str) -> None:
    """A term that gives no column (a categorical with one level, all others dropped by
    treatment coding) is named, rather than left to fail later as an empty design."""
    try:
        slices = spec.term_slices.items()
    except AttributeError:  # a formulaic version without term slices
        return
    empty = [str(t) for t, sl in slices if sl.start == sl.stop]
    if empty:
        raise DataError(
            f"the term(s) {empty} of {formula!r} give no column: a categorical with a single "
            "level is constant, so the data say nothing about its effect; drop it"
        )
