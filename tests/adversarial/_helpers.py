"""The contract every entry point must keep on bad or degenerate input, as assertions.

An outcome is one of: a typed error (``lk.DataError`` / ``lk.ModelError``, both ValueError)
with a message, or a result whose problems are flagged: ``converged=False`` with a
``ConvergenceWarning``, boundary estimates listed in ``boundary`` with an
``InferenceWarning``, undefined standard errors explained by an ``InferenceWarning`` and a
``note``. Anything else (another exception type, a silent NaN, a silent non-convergence)
fails the test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import likely as lk


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    caught: list[warnings.WarningMessage] = field(default_factory=list)

    def messages(self, category: type[Warning]) -> list[str]:
        return [str(w.message) for w in self.caught if issubclass(w.category, category)]

    @property
    def flagged(self) -> bool:
        """An explicit warning of likely's own (convergence or inference)."""
        return bool(self.messages(lk.ConvergenceWarning) or self.messages(lk.InferenceWarning))


def attempt(fn: Any, *args: Any, **kwargs: Any) -> Outcome:
    """Run fn, recording every warning; typed likely errors are returned, others propagate."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except (lk.DataError, lk.ModelError) as e:
            return Outcome(error=e, caught=list(caught))
    return Outcome(result=result, caught=list(caught))


def check_honest(out: Outcome) -> None:
    """The result (if any) is either clean or says what is wrong with it."""
    if out.error is not None:
        assert str(out.error).strip(), "a typed error must say what is wrong"
        return
    fit = out.result
    if not fit.converged:
        assert out.messages(lk.ConvergenceWarning), "silent non-convergence"
        assert fit.message
    se = fit.se.to_numpy(dtype=float)
    free = [lab for lab in fit.labels if lab not in fit.fixed]
    se_free = fit.se[free].to_numpy(dtype=float) if free else se
    if fit.boundary:
        assert any("boundary" in m for m in out.messages(lk.InferenceWarning)), (
            f"boundary estimate {fit.boundary} without an InferenceWarning"
        )
        assert fit.note and "boundary" in fit.note
    if not np.all(np.isfinite(se_free)) or np.any(se_free <= 0):
        assert out.messages(lk.InferenceWarning) or not fit.converged, (
            f"standard errors {dict(zip(free, se_free))} are not finite and positive, silently"
        )
        assert fit.note or fit.boundary or not fit.converged
    if fit.converged and not out.flagged:
        params = fit.params.to_numpy(dtype=float)
        assert np.all(np.isfinite(params)), f"non-finite estimates reported as converged: {params}"
        assert np.isfinite(fit.loglik)


def check_clean(out: Outcome) -> Any:
    """A valid-input fit: no error, converged, finite positive standard errors, no flags."""
    assert out.error is None, f"unexpected error: {out.error!r}"
    fit = out.result
    assert fit.converged, fit.message
    assert not out.flagged, [str(w.message) for w in out.caught]
    assert np.all(np.isfinite(fit.params.to_numpy(dtype=float)))
    assert np.all(np.isfinite(fit.se.to_numpy(dtype=float)))
    return fit
