"""likely: maximum likelihood estimation with full likelihood inference, on JAX.

import likely as lk
fit = lk.fit(lk.Gamma(), x)
fit.params, fit.se, fit.conf_int(method="profile"), fit.summary()
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from . import priors as priors  # noqa: E402
from ._engine.censoring import Censored as Censored  # noqa: E402
from ._engine.constraints import Constraint as Constraint  # noqa: E402
from ._engine.constraints import greater_than as greater_than  # noqa: E402
from ._engine.constraints import interval as interval  # noqa: E402
from ._engine.constraints import positive as positive  # noqa: E402
from ._engine.constraints import positive_definite as positive_definite  # noqa: E402
from ._engine.constraints import real as real  # noqa: E402
from ._engine.constraints import simplex as simplex  # noqa: E402
from ._engine.constraints import unit_interval as unit_interval  # noqa: E402
from ._engine.errors import ConvergenceWarning as ConvergenceWarning  # noqa: E402
from ._engine.errors import DataError as DataError  # noqa: E402
from ._engine.errors import InferenceWarning as InferenceWarning  # noqa: E402
from ._engine.errors import LikelyError as LikelyError  # noqa: E402
from ._engine.errors import ModelError as ModelError  # noqa: E402
from ._engine.fit import fit as fit  # noqa: E402
from ._engine.model import AbstractModel as AbstractModel  # noqa: E402
from ._engine.model import Model as Model  # noqa: E402
from ._engine.result import Fit as Fit  # noqa: E402
from ._engine.result import LRTest as LRTest  # noqa: E402
from ._engine.result import Transformed as Transformed  # noqa: E402
from .distributions import *  # noqa: E402, F403
from .distributions import __all__ as _dist_all  # noqa: E402

__version__ = "0.1.0"
