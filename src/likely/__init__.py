"""likely: maximum likelihood estimation with full likelihood inference, on JAX.

import likely as lk
fit = lk.fit(lk.Gamma(), x)
fit.params, fit.se, fit.conf_int(method="profile"), fit.summary()
"""

import os as _os
from typing import TYPE_CHECKING, Any

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

# The model families load on first use (`lk.glm`, `lk.coxph`, ...), so that `import likely`
# and a first distribution fit do not pay for code they do not run.
_LAZY: dict[str, str] = {
    "losses": "",
    "load": "._serialize",
    "Study": "._study",
    "study": "._study",
    "ChoiceFit": ".models.choice",
    "conditional_logit": ".models.choice",
    "long_from_wide": ".models.choice",
    "mixed_logit": ".models.choice",
    "nested_logit": ".models.choice",
    "GLMFit": ".models.glm",
    "glm": ".models.glm",
    "HMM": ".models.latent",
    "GaussianMixture": ".models.latent",
    "HMMFit": ".models.latent",
    "Mixture": ".models.latent",
    "MixtureFit": ".models.latent",
    "AFTFit": ".models.survival",
    "CoxFit": ".models.survival",
    "aft": ".models.survival",
    "coxph": ".models.survival",
}

if TYPE_CHECKING:
    from . import losses as losses
    from ._serialize import load as load
    from ._study import Study as Study
    from ._study import study as study
    from .models.choice import ChoiceFit as ChoiceFit
    from .models.choice import conditional_logit as conditional_logit
    from .models.choice import long_from_wide as long_from_wide
    from .models.choice import mixed_logit as mixed_logit
    from .models.choice import nested_logit as nested_logit
    from .models.glm import GLMFit as GLMFit
    from .models.glm import glm as glm
    from .models.latent import HMM as HMM
    from .models.latent import GaussianMixture as GaussianMixture
    from .models.latent import HMMFit as HMMFit
    from .models.latent import Mixture as Mixture
    from .models.latent import MixtureFit as MixtureFit
    from .models.survival import AFTFit as AFTFit
    from .models.survival import CoxFit as CoxFit
    from .models.survival import aft as aft
    from .models.survival import coxph as coxph


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'likely' has no attribute {name!r}")
    import importlib

    value = (
        importlib.import_module(f".{name}", __name__)
        if where == ""
        else getattr(importlib.import_module(where, __name__), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"
