"""Shared test settings: float64 everywhere, seeded data, warnings as errors where it matters."""

import numpy as np
import pytest

import likely  # noqa: F401  (turns on float64 before any test builds arrays)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261128)
