"""Simulation studies of an estimator's sampling properties, and the bootstrap."""

from ._placeholder import Study as Study
from ._placeholder import study as study
