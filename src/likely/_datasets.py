"""Real data that ships with a core dependency, so the tour runs offline with no extra files."""

from __future__ import annotations

from typing import Any

import numpy as np


def goog_log_returns() -> np.ndarray:
    """Daily log returns of Google's adjusted close, 2004-08-19 to 2008-10-10 (1,046 days).

    The prices are matplotlib's bundled sample data (mpl-data/sample_data/goog.npz).
    """
    from matplotlib import cbook

    data: Any = cbook.get_sample_data("goog.npz")
    with data:
        prices = np.asarray(data["price_data"]["adj_close"], dtype=np.float64)
    return np.diff(np.log(prices))
