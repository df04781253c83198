"""Model matrices for new data from a stored formula specification."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._engine.data import as_array
from .._engine.errors import DataError


def rhs_matrix(model_spec: Any, new: Any) -> np.ndarray:
    """The right-hand-side design for `new` rows, with the fit's encoding of categories."""
    import warnings

    from formulaic.errors import DataMismatchWarning

    from .glm._design import _to_pandas

    df = _to_pandas(new)
    try:
        with warnings.catch_warnings():
            # a category level the fit never saw would otherwise become the reference level
            warnings.simplefilter("error", DataMismatchWarning)
            mm = model_spec.get_model_matrix(df, na_action="raise")
    except Exception as e:
        raise DataError(f"cannot build the design for the new data: {e}") from e
    return as_array(mm.to_numpy(dtype=float), "new design")
