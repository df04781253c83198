"""What a model is to the engine: named, constrained parameters and a per-observation
log-density. Built-in distributions, regressions and user models all look like this."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from .constraints import Constraint
from .data import as_array, as_data_dict
from .device import to_device
from .errors import ModelError


class AbstractModel:
    """A likelihood: `logpdf(params, data)` returns one log-density per observation.

    Required: `param_spec` (name -> constraint) and `logpdf`. Optional hooks, each of which
    returns None when it does not apply: `mle` (closed form or special-purpose solver),
    `expected_information` (natural scale, total over the data), and `init`.
    """

    #: True when the family is a full exponential family in these parameters, so that the
    #: observed information at the unrestricted MLE equals the expected information.
    exponential_family: bool = False
    #: False when the log-density is not twice differentiable in the parameters
    #: (e.g. Laplace in its location); inference then uses expected information.
    smooth: bool = True

    @property
    def param_spec(self) -> dict[str, Constraint]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def logpdf(self, params: Mapping[str, jnp.ndarray], data: Any) -> jnp.ndarray:
        raise NotImplementedError

    def prepare(self, data: Any) -> Any:
        """Validate and convert data (numpy float64); raise DataError on bad input."""
        if isinstance(data, Mapping):
            return as_data_dict(data)
        return as_array(data)

    def init(self, data: Any, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {k: c.default(()) for k, c in self.param_spec.items()}

    def mle(self, data: Any, weights: np.ndarray) -> dict[str, np.ndarray] | None:
        return None

    def expected_information(
        self, params: Mapping[str, np.ndarray], data: Any, weights: np.ndarray
    ) -> np.ndarray | None:
        return None

    def element_labels(self, name: str, shape: tuple[int, ...]) -> tuple[str, ...] | None:
        """Labels for the elements of an array parameter (e.g. column names); None = indices."""
        return None

    def derivatives(self, problem: Any, data: Any, weights: np.ndarray, fixed: Any) -> Any:
        """Optional structured derivatives (see `inference.AutodiffDerivatives`); None = autodiff."""
        return None

    def fit_override(self, data: Any, **options: Any) -> Any:
        """Optional: a model with its own fitting algorithm (EM, say) returns its `Fit` here,
        given `fit`'s data and keyword options; None = the engine's path."""
        return None

    def loglik(self, params: Mapping[str, Any], data: Any) -> float:
        """Total log-likelihood of `data` at `params` (natural scale)."""
        prepared = self.prepare(data)
        values = _as_param_values(self, params)
        return float(jnp.sum(self.logpdf(values, prepared)))

    def likelihood(self, params: Mapping[str, Any], data: Any) -> float:
        """The likelihood L(theta | data): the joint density of the data at `params`."""
        return float(np.exp(self.loglik(params, data)))


def _as_param_values(model: AbstractModel, params: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    """All of a model's parameters, validated (one path with init= and fixed=)."""
    spec = model.param_spec
    checked = check_param_values(spec, params, "params")
    missing = set(spec) - set(checked)
    if missing:
        raise ModelError(f"missing parameter(s) {sorted(missing)} for {model.name}")
    return {k: jnp.asarray(checked[k]) for k in spec}


class Model(AbstractModel):
    """A model from your own log-density.

    ``logpdf(params, x)`` takes a dict of parameter values (natural scale, jax arrays) and the
    data (an array, or a dict of arrays, with observations along the first axis) and returns
    the log-density of each observation, written in ``jax.numpy``. Score, Hessian and all
    inference follow by automatic differentiation.

    Example::

        def logpdf(p, x):
            return jax.scipy.stats.norm.logpdf(x, p["mu"], p["sigma"])
        model = lk.Model(logpdf, params={"mu": lk.real, "sigma": lk.positive})
        fit = lk.fit(model, x)
    """

    def __init__(
        self,
        logpdf: Callable[[Mapping[str, jnp.ndarray], Any], jnp.ndarray],
        params: Mapping[str, Constraint],
        *,
        name: str = "Model",
    ) -> None:
        if not callable(logpdf):
            raise ModelError("Model needs a callable logpdf(params, data)")
        if not params:
            raise ModelError("Model needs at least one parameter in params={name: constraint}")
        for k, c in params.items():
            if not isinstance(c, Constraint):
                raise ModelError(
                    f"parameter {k!r} must map to a constraint such as lk.real or lk.positive, "
                    f"got {c!r}"
                )
        self._logpdf = logpdf
        self._spec = dict(params)
        self._name = name

    @property
    def param_spec(self) -> dict[str, Constraint]:
        return dict(self._spec)

    @property
    def name(self) -> str:
        return self._name

    def logpdf(self, params, data):
        return self._logpdf(params, data)

    def __hash__(self) -> int:
        return hash((self._logpdf, tuple(self._spec.items())))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Model) and self._logpdf is other._logpdf and self._spec == other._spec
        )

    def __repr__(self) -> str:
        spec = ", ".join(f"{k}: {c!r}" for k, c in self._spec.items())
        return f"Model({self._name}; {spec})"


# ---------------------------------------------------------------------------------------------
# Layout: the map between the free unconstrained vector and named natural values.


@dataclass(frozen=True)
class Block:
    name: str
    shape: tuple[int, ...]
    constraint: Constraint
    offset: int  # into the unconstrained vector
    size: int  # unconstrained size
    names: tuple[str, ...] | None = None  # element labels given by the model

    @property
    def labels(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        if self.shape == ():
            return [self.name]
        return [
            f"{self.name}[{','.join(map(str, ix))}]"
            for ix in itertools.product(*(range(s) for s in self.shape))
        ]


@dataclass(frozen=True)
class Layout:
    blocks: tuple[Block, ...]

    @staticmethod
    def build(
        spec: Mapping[str, Constraint],
        values: Mapping[str, np.ndarray],
        model: AbstractModel | None = None,
    ) -> Layout:
        blocks, offset = [], 0
        for name, c in spec.items():
            if name not in values:
                continue
            shape = tuple(np.shape(values[name]))
            size = c.unconstrained_size(shape)
            names = model.element_labels(name, shape) if model is not None else None
            blocks.append(Block(name, shape, c, offset, size, names))
            offset += size
        return Layout(tuple(blocks))

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.blocks]

    @property
    def labels(self) -> list[str]:
        return [lab for b in self.blocks for lab in b.labels]

    def to_natural(self, u: jnp.ndarray) -> dict[str, jnp.ndarray]:
        return {
            b.name: b.constraint.forward(u[b.offset : b.offset + b.size], b.shape)
            for b in self.blocks
        }

    def to_natural_np(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """`to_natural` in numpy where every block's constraint has a numpy form (no jax
        dispatch: eager jax operations compile a program per new shape)."""
        u = np.asarray(u, dtype=float)
        if not all(b.constraint.has_np_forward for b in self.blocks):
            return {k: np.asarray(v) for k, v in self.to_natural(to_device(u)).items()}
        return {
            b.name: b.constraint.np_forward(u[b.offset : b.offset + b.size]).reshape(b.shape)
            for b in self.blocks
        }

    def natural_flat(self, u: jnp.ndarray) -> jnp.ndarray:
        nat = self.to_natural(u)
        return jnp.concatenate([jnp.ravel(nat[b.name]) for b in self.blocks])

    def to_unconstrained(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = [b.constraint.inverse(np.asarray(values[b.name], float)) for b in self.blocks]
        return np.concatenate(parts) if parts else np.zeros(0)

    def elementwise_index(self) -> dict[str, int]:
        """Natural label -> unconstrained index, for elements of elementwise blocks."""
        out = {}
        for b in self.blocks:
            if b.constraint.elementwise:
                for i, lab in enumerate(b.labels):
                    out[lab] = b.offset + i
        return out


def check_param_values(
    spec: Mapping[str, Constraint], values: Mapping[str, Any], what: str
) -> dict[str, np.ndarray]:
    unknown = set(values) - set(spec)
    if unknown:
        raise ModelError(
            f"{what} names unknown parameter(s) {sorted(unknown)}; the model has {list(spec)}"
        )
    out = {}
    for k, v in values.items():
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError) as e:
            raise ModelError(f"{what}[{k!r}] must be numeric, got {v!r}") from e
        reason = spec[k].check(arr)
        if reason:
            raise ModelError(f"{what}[{k!r}] {reason}; got {arr!r}")
        out[k] = arr
    return out


def check_logpdf_shape(model: AbstractModel, values: Mapping[str, Any], data: Any) -> None:
    """Trace the log-density once (no compilation) and check it returns one value per row."""
    import jax

    from .data import nrows

    n = nrows(data)
    try:
        out = jax.eval_shape(model.logpdf, {k: to_device(v) for k, v in values.items()}, data)
    except Exception as e:  # user code: say where it failed
        raise ModelError(f"{model.name}.logpdf failed at the start values: {e}") from e
    if getattr(out, "shape", None) != (n,):
        raise ModelError(
            f"{model.name}.logpdf must return one log-density per observation, shape ({n},); "
            f"got shape {getattr(out, 'shape', out)}. Do not sum over observations."
        )


def explain_bad_start(model: AbstractModel, values: Mapping[str, Any], data: Any) -> ModelError:
    """The error for a log-likelihood that is not finite at the start values."""
    out = np.asarray(model.logpdf({k: jnp.asarray(v) for k, v in values.items()}, data))
    bad = ~np.isfinite(out)
    where = " (its gradient is not finite there)"
    if bad.any():
        i = int(np.argmax(bad))
        where = f" for observation {i} (log-density {out[i]})"
    start = {k: np.asarray(v).tolist() for k, v in values.items()}
    return ModelError(
        f"the log-likelihood of {model.name} is not finite at the start values{where}; "
        f"give better start values with init={{...}} (start was {start})"
    )
