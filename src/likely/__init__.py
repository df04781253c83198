"""likely: maximum likelihood estimation with full likelihood inference, on JAX.

import likely as lk
fit = lk.fit(lk.Gamma(), x)
fit.params, fit.se, fit.conf_int(method="profile"), fit.summary()
"""

import os as _os

import jax as _jax

_jax.config.update("jax_enable_x64", True)


def _use_compilation_cache() -> None:
    """Keep compiled solvers on disk, so a new process does not compile them again.

    Off with LIKELY_NO_COMPILATION_CACHE=1; a cache directory the user already gave JAX is
    respected; LIKELY_CACHE_DIR moves ours (default ~/.cache/likely/jax)."""
    if _os.environ.get("LIKELY_NO_COMPILATION_CACHE") or _jax.config.values.get(
        "jax_compilation_cache_dir"
    ):
        return
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    path = _os.environ.get("LIKELY_CACHE_DIR") or _os.path.join(base, "likely", "jax")
    try:
        _os.makedirs(path, exist_ok=True)
    except OSError:
        return
    _jax.config.update("jax_compilation_cache_dir", path)
    _jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


_use_compilation_cache()

from . import losses as losses  # noqa: E402
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
from ._serialize import load as load  # noqa: E402
from ._study import Study as Study  # noqa: E402
from ._study import study as study  # noqa: E402
from .distributions import *  # noqa: E402, F403
from .models.choice import ChoiceFit as ChoiceFit  # noqa: E402
from .models.choice import conditional_logit as conditional_logit  # noqa: E402
from .models.choice import long_from_wide as long_from_wide  # noqa: E402
from .models.choice import mixed_logit as mixed_logit  # noqa: E402
from .models.choice import nested_logit as nested_logit  # noqa: E402
from .models.glm import GLMFit as GLMFit  # noqa: E402
from .models.glm import glm as glm  # noqa: E402
from .models.latent import HMM as HMM  # noqa: E402
from .models.latent import GaussianMixture as GaussianMixture  # noqa: E402
from .models.latent import HMMFit as HMMFit  # noqa: E402
from .models.latent import Mixture as Mixture  # noqa: E402
from .models.latent import MixtureFit as MixtureFit  # noqa: E402
from .models.survival import AFTFit as AFTFit  # noqa: E402
from .models.survival import CoxFit as CoxFit  # noqa: E402
from .models.survival import aft as aft  # noqa: E402
from .models.survival import coxph as coxph  # noqa: E402

__version__ = "0.1.0"
