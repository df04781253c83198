"""Simulation studies of an estimator's sampling properties, and the bootstrap."""

from ._bootstrap import Bootstrap as Bootstrap
from ._bootstrap import bootstrap as bootstrap
from ._study import Study as Study
from ._study import study as study
