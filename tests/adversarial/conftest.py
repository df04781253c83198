"""Hypothesis profiles for the adversarial suite.

"fast" (the default, used by ``make test``): few examples, no deadline, derandomized so that
CI runs the same examples every time. "fuzz" (``make fuzz``, HYPOTHESIS_PROFILE=fuzz): many
random examples, and the slow tests (the n = 1e7 memory check) run too.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "fast",
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    max_examples=300,
    deadline=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(config, items):
    """Tests marked slow in this folder run only under the fuzz profile (``make fuzz``)."""
    if PROFILE == "fuzz":
        return
    skip = pytest.mark.skip(reason="slow adversarial test: runs in `make fuzz`")
    here = os.path.dirname(__file__)
    for item in items:
        if "slow" in item.keywords and str(item.fspath).startswith(here):
            item.add_marker(skip)
