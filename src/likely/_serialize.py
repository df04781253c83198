"""Saving results as JSON (no pickle) and reading them back.

``fit.to_dict()`` is a JSON-safe dict: the model (class, name, constructor arguments,
parameter constraints), the estimates (flat by label and in their natural shapes), standard
errors, covariance, log-likelihood, AIC/BIC, convergence, the summary's header and table,
and for GLMs what predictions need: formula, family, link, design columns and the formula's
encoding state (categorical levels, stateful-transform state such as ``center(x)``'s mean).
Non-finite numbers are written as ``null`` (NaN) or the strings ``"inf"`` / ``"-inf"``.

``lk.load(path_or_dict)`` returns a `LoadedFit` (a `LoadedGLM` for GLMs): params, se, cov,
values, Wald conf_int, summary() (the saved one, identical text), predict() for GLMs, and
``model`` (the distribution object, for built-in families). Profile intervals, transforms,
LR tests and refits need the data and are not available on a loaded result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from ._engine.errors import DataError, ModelError
from ._engine.result import Summary, _two_sided, _z

if TYPE_CHECKING:
    from ._engine.result import Fit

FORMAT = "likely.fit/1"


# ------------------------------------------------------------------------- JSON conversion
def jsonable(x: Any) -> Any:
    """Numbers, arrays, Series and nested containers as JSON-safe Python values."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, pd.Series):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()] if x.ndim else jsonable(x.item())
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        v = float(x)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if x is None or isinstance(x, str):
        return x
    raise ModelError(f"cannot save a value of type {type(x).__name__} as JSON: {x!r}")


def _number(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf}.get(v, math.nan)
    return float(v)


def _array(v: Any) -> np.ndarray:
    if isinstance(v, list):
        return np.array([_array(e) for e in v], dtype=float) if v else np.zeros(0)
    return np.asarray(_number(v))


def _frame(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": [str(c) for c in table.columns],
        "index": [str(i) for i in table.index],
        "data": jsonable(table.to_numpy(dtype=float)),
    }


def _unframe(d: Mapping[str, Any]) -> pd.DataFrame:
    data = np.array([[_number(v) for v in row] for row in d["data"]], dtype=float)
    return pd.DataFrame(data.reshape(len(d["index"]), len(d["columns"])), d["index"], d["columns"])


# ---------------------------------------------------------------------------------- saving
def describe_model(model: Any) -> dict[str, Any]:
    """Class, display name, constructor arguments and parameter constraints of a model."""
    from ._engine.censoring import CensoredModel

    out: dict[str, Any] = {
        "class": type(model).__name__,
        "name": model.name,
        "params": {k: repr(c) for k, c in model.param_spec.items()},
    }
    if isinstance(model, CensoredModel):
        out["base"] = describe_model(model.base)
    elif dataclasses.is_dataclass(model):
        out["args"] = {f.name: _argument(getattr(model, f.name)) for f in dataclasses.fields(model)}
    return out


def _argument(v: Any) -> Any:
    """A constructor argument as JSON: plain values as they are, objects by name."""
    if v is None or isinstance(v, int | float | str | bool):
        return v
    if isinstance(v, tuple) and all(isinstance(e, str) for e in v):
        return list(v)  # e.g. a regression's column names
    return getattr(v, "name", None) or repr(v)


def fit_to_dict(fit: Fit) -> dict[str, Any]:
    """See the module docstring; `Fit.to_dict` calls this."""
    from ._engine.result import _real_labels

    summary = fit.summary()
    out: dict[str, Any] = {
        "format": FORMAT,
        "kind": "fit",
        "result_class": type(fit).__name__,
        "model": describe_model(fit.model),
        "labels": list(fit.labels),
        "free_labels": list(fit._free_labels),
        "params": jsonable(fit.params),
        "se": jsonable(fit.se),
        "cov": jsonable(fit.cov.to_numpy()),
        "values": {k: jsonable(np.asarray(v)) for k, v in fit.values.items()},
        "shapes": {k: list(np.shape(v)) for k, v in fit.values.items()},
        "loglik": jsonable(fit.loglik),
        "nobs": jsonable(fit.nobs),
        "k": fit.k,
        "aic": jsonable(fit.aic),
        "bic": jsonable(fit.bic),
        "converged": bool(fit.converged),
        "iterations": int(fit.iterations),
        "message": fit.message,
        "grad_norm": jsonable(fit.grad_norm),
        "method": fit.method,
        "cov_type": fit.cov_type,
        "boundary": list(fit.boundary),
        "note": fit.note,
        "is_map": fit.is_map,
        "fixed": {k: jsonable(np.asarray(v)) for k, v in fit.fixed.items()},
        "prior": {k: repr(v) for k, v in fit.prior.items()},
        "real_labels": [lab for lab in fit.labels if lab in _real_labels(fit)],
        "summary": {
            "level": summary.level,
            "header": [[str(a), str(b)] for a, b in summary.header()],
            "table": _frame(summary.table()),
        },
    }
    from .models.glm import GLMFit

    if isinstance(fit, GLMFit):
        out["kind"] = "glm"
        out["glm"] = _glm_to_dict(fit)
    return out


def _glm_to_dict(fit: Any) -> dict[str, Any]:
    info = fit.glm
    design = None
    if info.model_spec is not None:
        design = _spec_to_dict(info.model_spec)
    return {
        "formula": info.formula,
        "family": None if info.family is None else info.family.name,
        "link": info.link.name,
        "columns": list(info.columns),
        "coef_labels": list(fit._coef_labels),
        "y_name": info.y_name,
        "levels": None if info.levels is None else list(info.levels),
        "n_dropped": info.n_dropped,
        "dispersion": info.dispersion,
        "design": design,
    }


def _spec_to_dict(spec: Any) -> dict[str, Any]:
    """What formulaic needs to encode new data as the fit did: the right-hand side, each
    variable's kind and categories, and the stateful transforms' state."""
    encoders: dict[str, Any] = {}
    for name, (kind, state) in spec.encoder_state.items():
        entry: dict[str, Any] = {"kind": getattr(kind, "value", str(kind))}
        if "categories" in state:
            cats = []
            for c in state["categories"]:
                c = c.item() if isinstance(c, np.generic) else c
                if not isinstance(c, str | int | float | bool):
                    raise ModelError(
                        f"cannot save the category {c!r} of {name!r} ({type(c).__name__}) as "
                        "JSON; convert the column to strings before fitting"
                    )
                cats.append(c)
            entry["categories"] = cats
        encoders[str(name)] = entry
    return {
        "rhs": str(spec.formula),
        "ensure_full_rank": bool(spec.ensure_full_rank),
        "encoder_state": encoders,
        "transform_state": jsonable(spec.transform_state),
    }


def save(fit: Any, path: str | os.PathLike[str]) -> None:
    """Write ``fit.to_dict()`` to `path` as JSON (strict: no NaN literals)."""
    text = json.dumps(fit.to_dict(), indent=1, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


# --------------------------------------------------------------------------------- loading
def load(source: str | os.PathLike[str] | Mapping[str, Any]) -> LoadedFit:
    """Read a result saved by ``fit.save(path)`` (or the dict of ``fit.to_dict()``).

    Returns a `LoadedFit` (`LoadedGLM` for GLMs): ``params``, ``se``, ``cov``, ``values``,
    ``conf_int()`` (Wald), ``summary()``, ``to_dict()``; GLMs also ``coef`` and
    ``predict(new, interval=...)``. Everything that needs the data (profile intervals,
    transforms, LR tests) needs the original fit.
    """
    if isinstance(source, Mapping):
        d = dict(source)
    else:
        try:
            with open(source, encoding="utf-8") as fh:
                d = json.load(fh)
        except json.JSONDecodeError as e:
            raise DataError(f"{os.fspath(source)} is not valid JSON: {e}") from e
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        found = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise DataError(f"not a saved likely fit (format {found!r}, expected {FORMAT!r})")
    return LoadedGLM(d) if d.get("kind") == "glm" else LoadedFit(d)


class LoadedFit:
    """A fit read back from JSON: its estimates and Wald inference, without the data."""

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    # -- estimates
    @property
    def labels(self) -> list[str]:
        return list(self._d["labels"])

    @property
    def params(self) -> pd.Series:
        p = self._d["params"]
        return pd.Series([_number(p[k]) for k in self.labels], self.labels, name="estimate")

    @property
    def se(self) -> pd.Series:
        s = self._d["se"]
        return pd.Series([_number(s[k]) for k in self.labels], self.labels, name="se")

    @property
    def cov(self) -> pd.DataFrame:
        m = _array(self._d["cov"]).reshape(len(self.labels), len(self.labels))
        return pd.DataFrame(m, self.labels, self.labels)

    @property
    def values(self) -> dict[str, np.ndarray]:
        shapes = self._d["shapes"]
        return {k: _array(v).reshape(shapes[k]) for k, v in self._d["values"].items()}

    @property
    def fixed(self) -> dict[str, np.ndarray]:
        return {k: _array(v) for k, v in self._d["fixed"].items()}

    def _scalar(self, name: str) -> float:
        return _number(self._d[name])

    @property
    def loglik(self) -> float:
        return self._scalar("loglik")

    @property
    def nobs(self) -> float:
        return self._scalar("nobs")

    @property
    def aic(self) -> float:
        return self._scalar("aic")

    @property
    def bic(self) -> float:
        return self._scalar("bic")

    @property
    def grad_norm(self) -> float:
        return self._scalar("grad_norm")

    @property
    def k(self) -> int:
        return int(self._d["k"])

    @property
    def converged(self) -> bool:
        return bool(self._d["converged"])

    @property
    def iterations(self) -> int:
        return int(self._d["iterations"])

    @property
    def message(self) -> str:
        return str(self._d["message"])

    @property
    def method(self) -> str:
        return str(self._d["method"])

    @property
    def cov_type(self) -> str:
        return str(self._d["cov_type"])

    @property
    def note(self) -> str | None:
        return self._d["note"]

    @property
    def is_map(self) -> bool:
        return bool(self._d["is_map"])

    @property
    def boundary(self) -> tuple[str, ...]:
        return tuple(self._d["boundary"])

    @cached_property
    def model(self) -> Any:
        """The fitted model, rebuilt: built-in distributions only (a model of your own holds
        a Python function, which JSON cannot carry)."""
        return _rebuild_model(self._d["model"])

    # -- inference
    def conf_int(
        self, level: float = 0.95, method: str = "wald", params: list[str] | None = None
    ) -> pd.DataFrame:
        """Wald intervals (profile intervals need the data: use the original fit)."""
        if method != "wald":
            raise ModelError(
                f"a loaded fit gives Wald intervals only (method={method!r} needs the data)"
            )
        labels = params if params is not None else self.labels
        unknown = [lab for lab in labels if lab not in self.labels]
        if unknown:
            raise ModelError(f"unknown parameter(s) {unknown}; the fit has {self.labels}")
        z = _z(level)
        est, se = self.params[labels].to_numpy(), self.se[labels].to_numpy()
        return pd.DataFrame({"lower": est - z * se, "upper": est + z * se}, index=labels)

    # -- display and saving
    def summary(self, level: float = 0.95) -> Summary:
        return LoadedSummary(cast(Any, self), level)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._d))

    def save(self, path: str | os.PathLike[str]) -> None:
        save(self, path)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


@dataclasses.dataclass(frozen=True)
class LoadedSummary(Summary):
    """The saved summary: its header as saved, its table as saved (at the saved level) or
    recomputed from the estimates and standard errors (at another level)."""

    def header(self) -> list[tuple[str, str]]:
        d = cast(Any, self.fit)._d
        return [(a, b) for a, b in d["summary"]["header"]]

    def table(self) -> pd.DataFrame:
        f = cast(Any, self.fit)
        saved = f._d["summary"]
        if math.isclose(self.level, saved["level"]):
            return _unframe(saved["table"])
        se_name = "post. sd" if f.is_map else "std err"
        t = pd.DataFrame({"estimate": f.params, se_name: f.se})
        real = set(f._d["real_labels"])
        z = np.where([lab in real for lab in t.index], t["estimate"] / t[se_name], np.nan)
        t["z"] = z
        t["P>|z|"] = [_two_sided(v) for v in z]
        ci = f.conf_int(self.level)
        t[f"[{round(self.level * 100, 6):g}% lower"] = ci["lower"]
        t["upper]"] = ci["upper"]
        return t


def _rebuild_model(d: Mapping[str, Any]) -> Any:
    from . import distributions

    if "base" in d:
        from ._engine.censoring import CensoredModel

        return CensoredModel(_rebuild_model(d["base"]))
    cls = getattr(distributions, str(d["class"]), None)
    if not (isinstance(cls, type) and issubclass(cls, distributions.Distribution)):
        raise ModelError(
            f"the model {d['name']!r} ({d['class']}) is not a built-in distribution, so it "
            "cannot be rebuilt from JSON; its estimates and summary are all there"
        )
    return cls(**(d.get("args") or {}))


class LoadedGLM(LoadedFit):
    """A saved GLM: everything of `LoadedFit`, plus `coef` and `predict`.

    Formula fits encode new data with the saved formula, categorical levels and transform
    state; array fits (``lk.glm(y=, X=)``) take a new X with the same columns.
    """

    @property
    def coef(self) -> pd.Series:
        return self.params[self._d["glm"]["coef_labels"]]

    @cached_property
    def _spec(self) -> Any:
        design = self._d["glm"]["design"]
        if design is None:
            return None
        from formulaic import ModelSpec
        from formulaic.parser.types import Factor

        encoders = {}
        for name, e in design["encoder_state"].items():
            state = {"categories": e["categories"]} if "categories" in e else {}
            encoders[name] = (Factor.Kind(e["kind"]), state)
        return ModelSpec(
            formula=design["rhs"],
            materializer="pandas",
            ensure_full_rank=design["ensure_full_rank"],
            transform_state=_restore_state(design["transform_state"]),
            encoder_state=encoders,
        )

    def _design(self, new: Any) -> np.ndarray:
        from ._engine.data import as_array

        g = self._d["glm"]
        columns = g["columns"]
        if new is None:
            raise ModelError("a loaded fit has no data: pass the rows to predict for")
        if self._spec is None:
            X = as_array(new, "new X")
            if X.ndim != 2 or X.shape[1] != len(columns):
                raise DataError(
                    f"new X must have {len(columns)} columns {columns}, got shape {X.shape}"
                )
            return X
        import warnings

        from formulaic.errors import DataMismatchWarning

        from .models.glm._design import _to_pandas

        try:
            with warnings.catch_warnings():
                # a level the fit never saw would silently become the reference level
                warnings.simplefilter("error", DataMismatchWarning)
                mm = self._spec.get_model_matrix(_to_pandas(new), na_action="raise")
        except Exception as e:
            raise DataError(f"cannot build the design for the new data: {_first_line(e)}") from e
        got = [str(c) for c in mm.columns]
        if got != columns:
            raise ModelError(
                f"the saved formula rebuilt columns {got}, not the fit's {columns}; "
                "predict with the original fit"
            )
        return as_array(mm.to_numpy(dtype=float), "new design")

    def predict(
        self,
        new: Any,
        *,
        offset: Any = None,
        exposure: Any = None,
        trials: Any = None,
        interval: float | None = None,
        which: str = "mean",
    ) -> pd.DataFrame:
        """As `GLMFit.predict`: the mean (or linear predictor) with a delta-method se."""
        from ._engine.data import as_array
        from .models.glm._links import LINKS

        g = self._d["glm"]
        X = self._design(new)
        if g["levels"] is not None:
            from .models.glm._model import MultinomialLogitModel

            model = MultinomialLogitModel(tuple(g["columns"]), tuple(g["levels"]))
            return pd.DataFrame(
                model.probabilities(self.values["beta"], X), columns=list(g["levels"])
            )
        n = X.shape[0]
        off = np.zeros(n) if offset is None else np.broadcast_to(as_array(offset, "offset"), (n,))
        if exposure is not None:
            off = off + np.log(np.broadcast_to(as_array(exposure, "exposure"), (n,)))
        tr = None if trials is None else np.broadcast_to(as_array(trials, "trials"), (n,))
        labels = g["coef_labels"]
        beta = self.params[labels].to_numpy()
        cov = self.cov.loc[labels, labels].to_numpy()
        eta = X @ beta + off
        se_eta = np.sqrt(np.sum((X @ cov) * X, axis=1))
        if which == "linear":
            out = pd.DataFrame({"linear": eta, "se": se_eta})
            if interval is not None:
                z = _z(interval)
                out["lower"], out["upper"] = eta - z * se_eta, eta + z * se_eta
            return out
        if which != "mean":
            raise ModelError(f"which must be 'mean' or 'linear', got {which!r}")
        link = LINKS[g["link"]]
        scale = tr if tr is not None else 1.0
        mu = link.np_inverse(eta) * scale
        out = pd.DataFrame({"mean": mu, "se": np.abs(link.np_dinverse(eta)) * scale * se_eta})
        if interval is not None:
            z = _z(interval)
            a = link.np_inverse(eta - z * se_eta) * scale
            b = link.np_inverse(eta + z * se_eta) * scale
            out["lower"], out["upper"] = np.minimum(a, b), np.maximum(a, b)
        return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _restore_state(state: Any) -> Any:
    """Transform state back from JSON: lists of numbers become arrays, nulls stay None."""
    if isinstance(state, dict):
        return {k: _restore_state(v) for k, v in state.items()}
    if isinstance(state, list) and state and all(isinstance(v, int | float) for v in state):
        return np.asarray(state, dtype=float)
    if isinstance(state, list):
        return [_restore_state(v) for v in state]
    return state
