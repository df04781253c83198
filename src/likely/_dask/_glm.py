"""`lk.glm` on a Dask DataFrame (or Dask arrays): the design is built per partition.

Formulas: formulaic's specification is learned once, from a two-row template with the data's
dtypes, after one pass has collected the levels of every categorical column (string, object
or category dtype) over all partitions; those columns are then given a pandas
`CategoricalDtype` with the sorted levels (or a categorical column's own categories, when Dask
knows them) in every partition, so that every partition's design has the same columns in
the same order as `lk.glm` on the whole data in memory. Stateful transforms (center, scale,
splines) would learn from one partition only and are refused.

The checks `lk.glm` makes in memory (rank of X'WX, perfect separation, a constant response,
quasi-separation at the estimate) are sums too, computed in the fit's first and last passes.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from .._engine.errors import DataError, InferenceWarning, ModelError
from .._engine.fit import _check_prior
from .._engine.inference import covariance_u
from .._engine.model import check_param_values
from ..models.glm._api import COV_TYPES, _priors, _resolve_family, _resolve_link, check_gram
from ..models.glm._families import Family
from ..models.glm._links import LINKS
from ..models.glm._model import GLMModel, MultinomialLogitModel
from ..models.glm._result import GLMFit, GLMInfo
from . import is_dask
from ._cluster import Cluster, distinct
from ._fit import check_method, estimate
from ._partitions import align
from ._prepare import ArrayGLMPreparer, FormulaPreparer, GLMColumns
from ._progress import Options
from ._result import OnDask

_STATEFUL = "stateful transforms (center, scale, standardize, poly, bs, ...)"


class DaskGLMFit(OnDask, GLMFit):
    """The result of `lk.glm` on Dask data: a `GLMFit` whose training design stays on the
    cluster. `predict(new)` takes a pandas DataFrame (in memory) or a Dask DataFrame (a lazy
    Dask DataFrame of predictions, partition by partition); `predict()` without new data and
    `marginal_effects()` (averages over the training rows) are not available on Dask."""

    def _design(self, new: Any) -> np.ndarray:
        if new is None:
            raise ModelError(
                "the training design of a fit on Dask stays on the cluster: pass the data, "
                "fit.predict(ddf) (a Dask DataFrame of predictions) or a pandas DataFrame"
            )
        return super()._design(new)

    def predict(
        self,
        new: Any = None,
        *,
        offset: Any = None,
        exposure: Any = None,
        trials: Any = None,
        interval: float | None = None,
        which: str = "mean",
    ) -> Any:
        """As `GLMFit.predict`; for a Dask DataFrame `new`, lazily per partition (offset,
        exposure and trials are then column names of `new`)."""
        if not is_dask(new):
            return super().predict(
                new, offset=offset, exposure=exposure, trials=trials, interval=interval, which=which
            )
        for what, value in (("offset", offset), ("exposure", exposure), ("trials", trials)):
            if value is not None and not isinstance(value, str):
                raise ModelError(f"with a Dask DataFrame, {what}= must name one of its columns")
        light = GLMFit(
            **{k: v for k, v in _fields(self).items() if k != "_ctx"}, _ctx=_light(self._ctx)
        )

        def one(df: pd.DataFrame) -> pd.DataFrame:
            # Dask stores text as pyarrow strings; formulaic encodes object columns
            text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype)]
            if text:
                df = df.astype({c: object for c in text})

            def col(name: str | None) -> Any:
                return None if name is None else df[name].to_numpy()

            out = light.predict(
                df,
                offset=col(offset),
                exposure=col(exposure),
                trials=col(trials),
                interval=interval,
                which=which,
            )
            out.index = df.index
            return out

        if self.glm.levels is not None:
            names = list(self.glm.levels)
        else:
            names = ["linear" if which == "linear" else "mean", "se"]
            names += ["lower", "upper"] if interval is not None else []
        meta = pd.DataFrame({c: pd.Series(dtype=float) for c in names})
        return new.map_partitions(one, meta=meta)

    def marginal_effects(self, level: float = 0.95) -> pd.DataFrame:
        raise ModelError(
            "average marginal effects average over the training rows, which stay on the "
            "cluster for a fit on Dask; not available yet"
        )


def _fields(fit_: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(fit_, f.name) for f in dataclasses.fields(fit_)}


def _light(ctx: Any) -> Any:
    """A context without the cluster, small enough to ship to workers for predictions."""
    from .._engine.fit import Context

    return Context(ctx.problem, None, np.ones(1), dict(ctx.fixed))


def glm_dask(
    formula: str | None = None,
    data: Any = None,
    *,
    y: Any = None,
    X: Any = None,
    family: Any = "gaussian",
    link: Any = None,
    weights: Any = None,
    offset: Any = None,
    exposure: Any = None,
    trials: Any = None,
    cov_type: str | None = None,
    groups: Any = None,
    prior: Any = None,
    penalize_intercept: bool = False,
    dispersion: str = "mle",
    missing: str = "raise",
    method: str = "auto",
    init: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> DaskGLMFit:
    """`lk.glm` where the data are Dask collections (see `lk.glm` for the options).

    With a formula, weights, offset, exposure, trials and groups name columns of `data`;
    with ``y=`` and ``X=`` they are Dask collections partitioned like X (or None).
    """
    fam = _resolve_family(family)
    multinomial = fam == "multinomial"
    if cov_type is None:
        cov_type = "expected" if isinstance(fam, Family) and not fam.smooth else "observed"
    if cov_type not in COV_TYPES:
        raise ModelError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if multinomial and cov_type in ("HC2", "HC3"):
        raise ModelError(
            "HC2 and HC3 need GLM leverages; for multinomial logit use HC0, HC1 or cluster"
        )
    if cov_type == "cluster" and groups is None:
        raise ModelError("cov_type='cluster' needs groups=... (a column name or one label per row)")
    if dispersion not in ("mle", "pearson"):
        raise ModelError(f"dispersion must be 'mle' or 'pearson', got {dispersion!r}")
    if dispersion == "pearson" and prior is not None:
        raise ModelError("dispersion='pearson' is a frequentist convention; with a prior use 'mle'")
    if missing not in ("raise", "drop"):
        raise ModelError(f"missing must be 'raise' or 'drop', got {missing!r}")
    if isinstance(fam, Family) and not fam.smooth:
        raise ModelError(
            f"the {fam.name} family is fitted by a linear programme over all rows at once, "
            "which needs the data in memory"
        )
    fam_obj: Family | None = fam if isinstance(fam, Family) else None
    link_obj = LINKS["logit"] if fam_obj is None else _resolve_link(fam_obj, link)
    options = Options.from_config()
    vectors = {
        "weights": weights,
        "offset": offset,
        "exposure": exposure,
        "trials": trials,
        "groups": groups,
    }
    if multinomial and (offset is not None or exposure is not None or trials is not None):
        raise ModelError("multinomial logit takes neither offset nor trials")
    if trials is not None and (fam_obj is None or fam_obj.name != "binomial"):
        raise ModelError("trials= is for the binomial family")
    if formula is not None:
        if y is not None or X is not None:
            raise ModelError("give a formula with data, or y= and X= arrays, not both")
        setup = _formula_setup(formula, data, vectors, missing, fam_obj, multinomial, options)
    else:
        if y is None or X is None:
            raise ModelError("give either a formula with data=..., or both y= and X=")
        setup = _array_setup(y, X, vectors, fam_obj, multinomial, options)
    preparer, pieces, columns, y_name, spec, levels = setup
    if multinomial:
        model: Any = MultinomialLogitModel(columns, tuple(str(v) for v in levels or ()))
    else:
        assert fam_obj is not None
        model = GLMModel(fam_obj, link_obj, columns)
        if dispersion == "pearson" and fam_obj.dispersion_param is None:
            raise ModelError(
                f"dispersion='pearson' applies to the gaussian and gamma families, not "
                f"{fam_obj.name}"
            )
    check_method(model, method)
    fixed_values = check_param_values(model.param_spec, fixed or {}, "fixed")
    init_values = check_param_values(model.param_spec, init or {}, "init")
    if set(fixed_values) & set(init_values):
        raise ModelError(f"{sorted(set(fixed_values) & set(init_values))} in both init and fixed")

    binomial = fam_obj is not None and fam_obj.name == "binomial"
    first_want: tuple[str, ...] = ("xrange",)
    if prior is None:
        first_want = ("gram", "separation") if binomial else ("gram",)
    engine_cov = {"nonrobust": "observed", "HC0": "robust"}.get(cov_type, cov_type)
    if engine_cov in ("HC1", "HC2", "HC3", "cluster"):
        engine_cov = "observed"
    cluster = Cluster(align(pieces), preparer, options)
    seen: dict[str, Any] = {}

    def check_first(first: dict[str, Any]) -> None:
        seen.update(first)
        if first.get("n_dropped"):
            warnings.warn(
                f"dropped {int(first['n_dropped'])} row(s) with missing values",
                UserWarning,
                stacklevel=5,
            )
        if prior is None:
            check_gram(first["gram"], columns)
            if binomial:
                _check_separation(first, columns)

    def priors(first: dict[str, Any]) -> tuple:
        if prior is None:
            return ()
        lo = first.get("min_x", np.zeros(len(columns)))
        hi = first.get("max_x", np.zeros(len(columns)))
        intercept = tuple(
            c == "Intercept" or bool(lo[j] == 1.0 and hi[j] == 1.0) for j, c in enumerate(columns)
        )
        chosen = _priors(prior, model, intercept, penalize_intercept)
        return _check_prior(model.param_spec, chosen or {}, fixed_values)

    fuse: tuple[str, ...] = ("extreme",) if binomial and prior is None else ()
    stream_fuse = {"HC1": ("meat",), "cluster": ("cluster",)}.get(cov_type, ())
    result = estimate(
        cluster,
        model,
        fixed=fixed_values,
        init=init_values,
        priors=priors,
        cov_type=engine_cov,
        max_iter=max_iter,
        tol=tol,
        first_want=first_want,
        fuse=fuse,
        stream_fuse=stream_fuse,
        check_first=check_first,
    )
    info = GLMInfo(
        formula=formula,
        family=fam_obj,
        link=link_obj,
        columns=columns,
        y_name=y_name,
        model_spec=spec,
        levels=tuple(str(v) for v in levels) if levels is not None else None,
        n_dropped=int(seen.get("n_dropped", 0)),
        dispersion=dispersion,
        X=np.empty((0, len(columns))),
        offset=None,
        trials=None,
    )
    out = DaskGLMFit(**_fields(result), glm=info)
    if cov_type in ("HC1", "HC2", "HC3", "cluster"):
        out = _robust(out, cov_type)
    if dispersion == "pearson":
        out = _pearson(out)
    if binomial and prior is None and not out.boundary:
        extreme = out._ctx.derivatives.sums(out._u, ("extreme",)).get("n_extreme", 0.0)
        if extreme:
            warnings.warn(
                f"quasi-complete separation: {int(extreme)} observation(s) are fitted with "
                "probability 0 or 1; some coefficients are not finite in the limit and their "
                "standard errors are unreliable",
                InferenceWarning,
                stacklevel=3,
            )
    return out


def _column_name(value: Any, what: str, columns: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(
            f"with a formula on a Dask DataFrame, {what}= must name a column of the data "
            f"(got a {type(value).__name__})"
        )
    if value not in columns:
        raise DataError(f"{what} column {value!r} is not in the data; columns are {columns}")
    return value


def _is_categorical(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def _formula_setup(
    formula: str,
    data: Any,
    vectors: dict[str, Any],
    missing: str,
    family: Any,
    multinomial: bool,
    options: Options,
) -> tuple[Any, dict[str, Any], tuple[str, ...], str, Any, tuple | None]:
    import formulaic

    if not (is_dask(data) and hasattr(data, "columns")):
        raise ModelError(
            f"a formula on Dask needs data= as a Dask DataFrame, got {type(data).__name__}"
        )
    all_columns = [str(c) for c in data.columns]
    names = {k: _column_name(v, k, all_columns) for k, v in vectors.items()}
    try:
        parsed = formulaic.Formula(formula)
        needed = set(parsed.required_variables)
    except Exception as e:
        raise ModelError(f"cannot parse formula {formula!r}: {e}") from e
    from ..models.glm._design import _is_known_name

    unknown = sorted(v for v in needed if v not in all_columns and not _is_known_name(v))
    if unknown:
        raise DataError(
            f"the formula uses {unknown}, which are not columns of the data: {all_columns}"
        )
    if not hasattr(parsed, "lhs"):
        raise ModelError(f"the formula {formula!r} has no response: write 'y ~ x1 + x2'")
    y_vars = sorted(parsed.lhs.required_variables)
    extra = [v for v in names.values() if v is not None]
    # formulaic does not list variables inside transforms (center(x)): take every column
    # named in the formula's text too
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|`[^`]+`", formula))
    words |= {w.strip("`") for w in words}
    used = tuple(c for c in all_columns if c in needed or c in words or c in extra)
    frame = data[list(used)]
    dtypes = dict(frame.dtypes.items())
    formula_vars = [c for c in used if c in needed or c in words]
    response = y_vars[0] if multinomial and len(y_vars) == 1 else None
    if multinomial and response is None:
        raise ModelError("a multinomial response must be a single column")
    cats = [c for c in formula_vars if _is_categorical(dtypes[c]) and c != response]
    levels: dict[str, list] = {}
    learn = []
    for c in [*cats, *([response] if response else [])]:
        dt = dtypes[c]
        known = isinstance(dt, pd.CategoricalDtype) and frame[c].cat.known
        if known:
            levels[c] = list(dt.categories)
        else:
            learn.append(c)
    if learn:
        source = frame.dropna() if missing == "drop" else frame
        found = distinct(list(source.to_delayed()), tuple(learn), options.split_every)
        for c in learn:
            values = found.get(c, set())
            try:
                levels[c] = sorted(values)
            except TypeError:
                levels[c] = sorted(values, key=str)
    if response is not None and len(levels.get(response, [])) < 2:
        raise DataError("a multinomial response needs at least two levels")
    categories = tuple((c, pd.CategoricalDtype(levels[c])) for c in cats)
    template = _template(frame._meta, dict(categories), levels.get(response) if response else None)
    try:
        mm = formulaic.model_matrix(formula, template, na_action="raise")
    except Exception as e:
        raise ModelError(f"cannot build the design from {formula!r}: {e}") from e
    rhs_spec = mm.rhs.model_spec
    if rhs_spec.transform_state or getattr(mm.lhs.model_spec, "transform_state", None):
        raise ModelError(
            f"{formula!r} uses {_STATEFUL}, which learn from the data: on Dask they would "
            "learn from one partition. Compute such columns before fitting."
        )
    for name, (kind, _state) in rhs_spec.encoder_state.items():
        if str(getattr(kind, "value", kind)) == "categorical" and name not in dict(categories):
            if "levels=" not in name:
                raise ModelError(
                    f"{name} is encoded as categorical with levels learned from the data; on "
                    "Dask give its levels, C(x, levels=[...]), or make the column a string or "
                    "categorical column"
                )
    columns = tuple(str(c) for c in mm.rhs.columns)
    if response is not None:
        y_name = response
    else:
        if len(mm.lhs.columns) != 1:
            raise ModelError(
                f"the response {list(mm.lhs.columns)} has several columns; for binomial counts "
                "use a single count column with trials=..."
            )
        y_name = str(mm.lhs.columns[0])
    preparer = FormulaPreparer(
        specs=mm.model_spec,
        used=used,
        categories=categories,
        columns=GLMColumns(**names),
        missing=missing,
        family=family,
        y_name=y_name,
        response_levels=tuple(levels[response]) if response else None,
    )
    resp_levels = tuple(levels[response]) if response else None
    return preparer, {"data": frame}, columns, y_name, rhs_spec, resp_levels


def _template(meta: pd.DataFrame, categories: dict[str, Any], response: list | None) -> Any:
    """Two rows with the data's dtypes (categorical columns with all their levels)."""
    out = {}
    for c in meta.columns:
        dt = meta[c].dtype
        if c in categories:
            lv = list(categories[c].categories)
            out[c] = pd.Categorical([lv[0], lv[-1]], dtype=categories[c])
        elif response is not None and c not in categories and _is_categorical(dt):
            out[c] = pd.Series([response[0], response[-1]], dtype=object)
        elif pd.api.types.is_bool_dtype(dt):
            out[c] = pd.Series([True, False], dtype=dt)
        elif pd.api.types.is_numeric_dtype(dt):
            out[c] = pd.Series([1, 2], dtype=dt)
        else:
            out[c] = pd.Series(["a", "b"], dtype=object)
    return pd.DataFrame(out)


def _array_setup(
    y: Any, X: Any, vectors: dict[str, Any], family: Any, multinomial: bool, options: Options
) -> tuple[Any, dict[str, Any], tuple[str, ...], str, Any, tuple | None]:
    for what, value in vectors.items():
        if value is not None and not is_dask(value):
            raise ModelError(
                f"with y= and X= on Dask, {what}= must be a Dask collection partitioned like X"
            )
    if not is_dask(X) or not is_dask(y):
        raise ModelError("on Dask, give both y= and X= as Dask collections")
    if hasattr(X, "columns"):
        columns = tuple(str(c) for c in X.columns)
    else:
        if X.ndim != 2:
            raise DataError(f"X must be 2-d (rows = observations), got shape {X.shape}")
        columns = tuple(f"x{j}" for j in range(X.shape[1]))
    y_name = str(getattr(y, "name", None) or "y")
    levels = None
    pieces: dict[str, Any] = {"X": X, "y": y, **{k: v for k, v in vectors.items() if v is not None}}
    if multinomial:
        frames = [
            _as_frame_task(part) for part in (y.to_delayed() if hasattr(y, "npartitions") else [])
        ]
        if not frames:
            raise ModelError("for a multinomial response on Dask, give y= as a Dask Series")
        found = distinct(frames, ("y",), options.split_every)["y"]
        try:
            levels = tuple(sorted(found))
        except TypeError:
            levels = tuple(sorted(found, key=str))
        if len(levels) < 2:
            raise DataError("a multinomial response needs at least two levels")
    preparer = ArrayGLMPreparer(family, y_name, len(columns), levels)
    return preparer, pieces, columns, y_name, None, levels


def _as_frame_task(part: Any) -> Any:
    import dask

    return dask.delayed(lambda s: pd.DataFrame({"y": s}))(part)


def _check_separation(first: dict[str, Any], cols: tuple[str, ...]) -> None:
    n = first["n"] - first.get("n_dropped", 0)
    if first.get("n_positive", 0) == 0 or first.get("n_below_trials", 0) == 0:
        raise DataError(
            "the binomial response is constant (all failures or all successes): the MLE is on "
            "the boundary"
        )
    if "min_x_y1" not in first or "min_x_y0" not in first or n <= 0:
        return  # binomial counts (trials=): no separation check, as in memory
    lo1, hi1, lo0, hi0 = (first[k] for k in ("min_x_y1", "max_x_y1", "min_x_y0", "max_x_y0"))
    for j, c in enumerate(cols):
        if min(lo1[j], lo0[j]) == max(hi1[j], hi0[j]):
            continue
        if hi0[j] < lo1[j] or hi1[j] < lo0[j]:
            raise DataError(
                f"perfect separation: column {c!r} splits the outcomes completely (every y=1 row "
                "lies on one side of every y=0 row), so the MLE does not exist (the coefficient "
                "runs to infinity). Remove the column, combine categories, or add a prior "
                "(prior=lk.priors.Normal(0, s)) for a finite MAP estimate."
            )


def _robust(f: DaskGLMFit, cov_type: str) -> DaskGLMFit:
    """HC1, HC2, HC3 and cluster-robust covariances, as `lk.glm` makes them, from passes."""
    ctx = f._ctx
    derivs = ctx.derivatives
    u = f._u
    n, k = float(ctx.scale), len(f._coef_labels)  # k counts coefficients, as R and statsmodels
    info = derivs.value_grad_hess(u)[2] * ctx.scale
    if cov_type == "cluster":
        out = derivs.sums(u, ("cluster",))
        G = int(out["n_groups"])
        if G < 2:
            raise DataError("cluster-robust covariance needs at least two groups")
        meat = out["cluster_meat"] * (G / (G - 1)) * ((n - 1) / (n - k))
    elif cov_type in ("HC2", "HC3"):
        values = derivs.natural(u)
        fisher = derivs.sums(u, ("fisher_gram",), {"values": values})["fisher_gram"]
        extra = {"values": values, "xtwx_inv": np.linalg.inv(fisher), "hc": cov_type}
        meat = derivs.cluster.run(u, ("hc_meat",), extra)["hc_meat"]
    else:
        meat = derivs.meat(u) * (n / (n - k))
    cov_u, note = covariance_u(info, f._free_labels, meat)
    if note:
        warnings.warn(note, InferenceWarning, stacklevel=3)
    return f.replace(_cov_u=cov_u, cov_type=cov_type, note=note or f.note)


def _pearson(f: DaskGLMFit) -> DaskGLMFit:
    """Coefficient covariance phi_hat (X' W0 X)^-1 with the Pearson dispersion (one pass)."""
    ctx = f._ctx
    out = ctx.derivatives.sums(f._u, ("pearson",))
    n, p = float(ctx.scale), len(f.glm.columns)
    phi = float(out["pearson_chi2"]) / (n - p)
    cov_beta = phi * np.linalg.inv(out["pearson_gram"])
    block = next(b for b in ctx.problem.layout.blocks if b.name == "beta")
    sl = slice(block.offset, block.offset + block.size)
    cov_u = f._cov_u.copy()
    cov_u[sl, :] = 0.0
    cov_u[:, sl] = 0.0
    cov_u[sl, sl] = cov_beta
    return f.replace(_cov_u=cov_u)
