"""Exceptions and warnings raised by likely."""


class LikelyError(Exception):
    """Base class of likely's own errors."""


class DataError(LikelyError, ValueError):
    """The data cannot be used: NaN, inf, out of support, wrong shape, empty, wrong type."""


class ModelError(LikelyError, ValueError):
    """The model or its options are inconsistent: unknown names, bad init, bad log-density."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its convergence test."""


class InferenceWarning(UserWarning):
    """Inference is unreliable: singular information, boundary estimate, and the like."""
