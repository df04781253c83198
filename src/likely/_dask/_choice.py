"""`lk.conditional_logit` on a Dask DataFrame: whole cases per partition, sums over cases.

The conditional logit's log-likelihood is a sum over cases (choice situations), so every
partition that holds whole cases computes its cases' log-likelihood, score and Hessian with
the in-memory kernels (`ConditionalLogitDerivatives`), and the engine's Newton runs on the
sums, as `lk.fit` on Dask does. The steps:

1. A scan of the group column (and of the columns whose levels the formula needs) checks
   that no case is split across partitions: each partition's smallest and largest case label
   are compared with the others' (no data come back); only when ranges overlap are the
   partitions' sets of labels intersected, on the cluster, to name a case that is split.
2. The formula's specification is learned once from a two-row template whose categorical
   columns carry the levels of all partitions (as `lk.glm` on Dask does), so every partition
   has the in-memory fit's design columns.
3. Each partition becomes padded case arrays (`build_choice_data`, with the fit's list of
   alternatives) and small summaries: the identification check's Gram matrices, the
   log-likelihood at equal shares, and the weighted counts of (choice set, chosen
   alternative), which are all the constants-only reference fit needs.
4. Newton over the partitions' sums, then the covariance the user asked for (observed,
   robust, or clustered with per-cluster score sums merged on the cluster).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from .._engine.errors import DataError, InferenceWarning, ModelError
from .._engine.formula import check_terms
from .._engine.inference import covariance_u
from .._engine.model import check_param_values
from .._engine.result import Summary
from ..models.choice._conditional import ConditionalLogitModel, gram
from ..models.choice._data import (
    ChoiceData,
    _is_known_name,
    _show,
    _sort_key,
    build_choice_data,
    check_finite_design,
    check_grams,
)
from ..models.choice._fitting import _warn_running_off, per_case, reference_logliks, resolve_cov
from ..models.choice._result import ChoiceFit, ChoiceInfo, ChoiceSummary, reference_rows
from . import is_dask
from ._cluster import Cluster
from ._fit import check_method, estimate
from ._glm import _STATEFUL, _column_name, _is_categorical, _template
from ._partitions import align
from ._prepare import Part
from ._progress import Options
from ._result import DaskSummary, OnDask

# --------------------------------------------------------------------------- the fit's result


@dataclass(frozen=True)
class DaskCases:
    """What a choice fit on Dask knows of its cases (the cases themselves stay on the cluster);
    stands in for `ChoiceData` in `ChoiceInfo.data`."""

    n_cases: int
    n_rows: int
    min_size: int  # fewest alternatives in a case
    max_size: int  # most alternatives in a case
    alternatives: tuple[Any, ...] | None
    columns: tuple[str, ...]
    model_spec: Any = field(repr=False)  # formulaic spec of the right-hand side
    weights: None = None

    @property
    def n_slots(self) -> int:
        return self.max_size

    def alternative_names(self) -> list[str]:
        if self.alternatives is None:
            raise ModelError("this needs the alternatives: give alt='column' when fitting")
        return [str(a) for a in self.alternatives]


class DaskChoiceFit(OnDask, ChoiceFit):
    """The result of `lk.conditional_logit` on a Dask DataFrame: a `ChoiceFit` whose cases stay
    on the cluster. Estimates, covariances, tests, `wtp` and the summary are as in memory;
    probabilities and shares take new data as a pandas DataFrame; elasticities and marginal
    effects (averages over the training cases) are not available on Dask."""

    def _new_data(self, new: Any) -> tuple[ChoiceData, dict[str, Any]]:
        if new is None:
            raise ModelError(
                "the training cases of a fit on Dask stay on the cluster: pass cases as a "
                "pandas DataFrame (fit.predict_shares(df), fit.probabilities(df))"
            )
        if is_dask(new):
            raise ModelError(
                "predictions take new choice data as a pandas DataFrame (e.g. one partition: "
                "ddf.get_partition(0).compute())"
            )
        return super()._new_data(new)

    def elasticities(self, var: str, kind: str = "aggregate", level: float = 0.95) -> Any:
        raise _training_cases("elasticities")

    def marginal_effects(self, var: str, level: float = 0.95) -> Any:
        raise _training_cases("marginal effects")

    def summary(self, level: float = 0.95) -> Any:
        """The in-memory summary (pseudo-R2, LR test against constants only), with a line on
        the partitions and passes."""
        return DaskSummary(DaskChoiceSummary(self, level), self)


def _training_cases(what: str) -> ModelError:
    return ModelError(
        f"{what} average over the training cases, which stay on the cluster for a fit on "
        "Dask; compute them for a pandas DataFrame of cases with fit.predict_shares(df), or "
        "fit in memory"
    )


@dataclass(frozen=True)
class DaskChoiceSummary(ChoiceSummary):
    def header(self) -> list[tuple[str, str]]:
        f: Any = self.fit
        info: ChoiceInfo = f.choice
        cases = cast(DaskCases, info.data)
        rows = [("Model", f.model.name)]
        if info.formula:
            rows.append(("Formula", info.formula))
        lo, hi = cases.min_size, cases.max_size
        alts = f"{hi}" if lo == hi else f"{lo} to {hi}"
        rows.append(("Cases", f"{cases.n_cases} (alternatives per case: {alts})"))
        return rows + reference_rows(f) + Summary.header(self)[1:]


# --------------------------------------------------------------------------- the front end


def conditional_logit_dask(
    formula: str | None,
    data: Any,
    *,
    group: Any,
    alt: Any = None,
    X: Any = None,
    y: Any = None,
    weights: Any = None,
    cov_type: str | None = None,
    cluster: Any = None,
    init: dict[str, Any] | None = None,
    method: str = "auto",
    max_iter: int | None = None,
    tol: float = 1e-12,
) -> DaskChoiceFit:
    """`lk.conditional_logit(formula, data=<Dask DataFrame>, group=..., ...)`.

    group, alt, weights and cluster name columns of the data. Every case's rows must lie in
    one partition (``ddf.set_index(group, drop=False)`` or ``ddf.shuffle(on=group)`` makes
    it so). Options as in memory; Dask options from ``dask.config`` (see `Options`).
    """
    if X is not None or y is not None or formula is None:
        raise ModelError(
            "conditional_logit on Dask takes a formula and data= as a Dask DataFrame (long "
            "format), not X=/y= arrays"
        )
    if not (is_dask(data) and hasattr(data, "columns")):
        raise ModelError(
            f"conditional_logit on Dask needs data= as a Dask DataFrame, got {type(data).__name__}"
        )
    kind = resolve_cov(cov_type, cluster)
    all_columns = [str(c) for c in data.columns]
    if group is None:
        raise ModelError("group= is required: the column that identifies each case")
    names = {
        what: _column_name(value, what, all_columns)
        for what, value in (("group", group), ("alt", alt), ("weights", weights))
    }
    names["cluster"] = _column_name(cluster, "cluster", all_columns)
    options = Options.from_config()
    setup = _formula_setup(formula, data, names, options)
    model = ConditionalLogitModel(setup.columns)
    check_method(model, method)
    init_values = check_param_values(model.param_spec, init or {}, "init")

    cluster_ = Cluster(align({"data": setup.frame}), setup.preparer, options)
    stats: dict[str, Any] = {}

    def check_first(first: dict[str, Any]) -> None:
        stats.update(cluster_.reduce(_part_stats, _merge_stats))
        check_grams(stats["gram_centred"], stats["gram_raw"], setup.columns)

    result = estimate(
        cluster_,
        model,
        fixed={},
        init=init_values,
        priors=lambda first: (),
        cov_type="robust" if kind == "robust" else "observed",
        max_iter=max_iter,
        tol=tol,
        stream_fuse=("cluster",) if kind == "cluster" else (),
        check_first=check_first,
    )
    ll_equal, ll_constants, n_constants = _references(stats, setup.preparer.alternatives)
    cases = DaskCases(
        n_cases=int(stats["n_cases"]),
        n_rows=int(stats["n_rows"]),
        min_size=int(stats["min_size"]),
        max_size=int(stats["max_size"]),
        alternatives=setup.preparer.alternatives,
        columns=setup.columns,
        model_spec=setup.preparer.specs.rhs,
    )
    info = ChoiceInfo(
        "conditional",
        formula,
        names["group"],
        names["alt"],
        cast(ChoiceData, cases),
        None,
        ll_equal,
        ll_constants,
        n_constants,
        {},
    )
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    out = DaskChoiceFit(**fields, choice=info)
    if out.converged and out.method == "newton":
        _warn_running_off(out)
    if kind == "cluster":
        out = _cluster_covariance(out)
    return out


def refuse(what: str) -> ModelError:
    """For choice models that run in memory only."""
    return ModelError(
        f"{what} on Dask is not available (in memory only): compute the data first "
        "(ddf.compute()), or fit lk.conditional_logit, which runs on Dask"
    )


# --------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class ChoicePart(Part):
    """A partition's cases (padded arrays, case weights, cluster labels) and its summaries."""

    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChoicePreparer:
    """One partition's long rows to padded case arrays, with the fit's design columns."""

    specs: Any  # formulaic ModelSpecs (lhs and rhs)
    formula_vars: tuple[str, ...]  # columns whose missing values are errors
    categories: tuple[tuple[str, Any], ...]  # column -> CategoricalDtype with all levels
    keep: tuple[int, ...]  # the right-hand side's columns kept (the intercept dropped)
    columns: tuple[str, ...]
    group: str
    alt: str | None
    alternatives: tuple[Any, ...] | None
    weights: str | None
    cluster: str | None

    def __call__(self, pieces: dict[str, Any]) -> Part:
        df = pieces["data"]
        if len(df) == 0:
            return ChoicePart(None, np.zeros(0))
        if self.categories:
            df = df.assign(**{c: df[c].astype(dtype) for c, dtype in self.categories})
        g = df[self.group].to_numpy()
        na = df[list(self.formula_vars)].isna().to_numpy()
        if na.any():
            i, j = (int(v) for v in np.argwhere(na)[0])
            raise DataError(
                f"column {self.formula_vars[j]!r} has {int(na[:, j].sum())} missing value(s); "
                f"the first is at row {i} (case {_show(g[i])}). Remove or impute them first."
            )
        try:
            rhs = self.specs.rhs.get_model_matrix(df, na_action="raise")
            lhs = self.specs.lhs.get_model_matrix(df, na_action="raise")
        except Exception as e:
            raise DataError(f"cannot build the design: {e}") from e
        X = rhs.to_numpy(dtype=float)[:, list(self.keep)]
        check_finite_design(X, self.columns, g)
        cd = build_choice_data(
            None,
            df,
            group=self.group,
            alt=self.alt,
            X=X,
            y=lhs.to_numpy(dtype=float)[:, 0],
            weights=self.weights,
            alternatives=self.alternatives,
        )
        w = cd.weights if cd.weights is not None else np.ones(cd.n_cases)
        clusters = None if self.cluster is None else per_case(self.cluster, cd, df, "cluster")
        data = {"X": cd.X, "mask": cd.mask, "y": cd.y}
        return ChoicePart(data, w, clusters, stats=_case_stats(cd, w))


@dataclass(frozen=True)
class Setup:
    frame: Any  # the Dask DataFrame's columns that the fit reads
    preparer: ChoicePreparer
    columns: tuple[str, ...]


def _formula_setup(
    formula: str, data: Any, names: dict[str, str | None], options: Options
) -> Setup:
    """Scan the partitions (split cases, levels), then learn the formula's specification."""
    import formulaic

    all_columns = [str(c) for c in data.columns]
    try:
        parsed = formulaic.Formula(formula)
        needed = set(parsed.required_variables)
    except Exception as e:
        raise ModelError(f"cannot parse formula {formula!r}: {e}") from e
    if not hasattr(parsed, "lhs"):
        raise ModelError(f"the formula {formula!r} has no response: write 'choice ~ x1 + x2'")
    unknown = sorted(v for v in needed if v not in all_columns and not _is_known_name(v))
    if unknown:
        raise DataError(
            f"the formula uses {unknown}, which are not columns of the data: {all_columns}"
        )
    # formulaic does not list variables inside transforms: take the formula's words too
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|`[^`]+`", formula))
    words |= {w.strip("`") for w in words}
    formula_vars = tuple(c for c in all_columns if c in needed or c in words)
    extra = {v for v in names.values() if v is not None}
    frame = data[[c for c in all_columns if c in formula_vars or c in extra]]
    dtypes = dict(frame.dtypes.items())
    cats = [c for c in formula_vars if _is_categorical(dtypes[c])]
    group, alt = names["group"], names["alt"]
    assert group is not None
    levels: dict[str, list] = {}
    learn = []
    for c in cats:
        if isinstance(dtypes[c], pd.CategoricalDtype) and frame[c].cat.known:
            levels[c] = list(dtypes[c].categories)
        else:
            learn.append(c)
    if alt is not None and alt not in learn:
        learn.append(alt)
    found = _scan(frame, group, tuple(learn), options)
    for c in learn:
        if c in cats:
            try:
                levels[c] = sorted(found[c])
            except TypeError:
                levels[c] = sorted(found[c], key=str)
    alternatives = None
    if alt is not None:
        alternatives = tuple(sorted(found[alt], key=_sort_key))
    categories = tuple((c, pd.CategoricalDtype(levels[c])) for c in cats)
    template = _template(frame._meta, dict(categories), None)
    try:
        mm = formulaic.model_matrix(formula, template, na_action="raise")
    except Exception as e:
        raise ModelError(f"cannot build the design from {formula!r}: {e}") from e
    rhs_spec = mm.rhs.model_spec
    check_terms(rhs_spec, formula)
    if rhs_spec.transform_state or getattr(mm.lhs.model_spec, "transform_state", None):
        raise ModelError(
            f"{formula!r} uses {_STATEFUL}, which learn from the data: on Dask they would "
            "learn from one partition. Compute such columns before fitting."
        )
    for name, (enc, _state) in rhs_spec.encoder_state.items():
        known = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", name)) & set(dict(categories))
        if str(getattr(enc, "value", enc)) == "categorical" and not known:
            if "levels=" not in name:
                raise ModelError(
                    f"{name} is encoded as categorical with levels learned from the data; on "
                    "Dask give its levels, C(x, levels=[...]), or make the column a string or "
                    "categorical column"
                )
    if mm.lhs.shape[1] != 1:
        raise ModelError(f"the response must be one 0/1 column, got {list(mm.lhs.columns)}")
    rhs_columns = [str(c) for c in mm.rhs.columns]
    keep = tuple(j for j, c in enumerate(rhs_columns) if c != "Intercept")
    columns = tuple(rhs_columns[j] for j in keep)
    if not columns:
        raise ModelError("the utility has no terms: add attributes (the intercept cancels out)")
    preparer = ChoicePreparer(
        specs=mm.model_spec,
        formula_vars=formula_vars,
        categories=categories,
        keep=keep,
        columns=columns,
        group=group,
        alt=alt,
        alternatives=alternatives,
        weights=names["weights"],
        cluster=names["cluster"],
    )
    return Setup(frame, preparer, columns)


# --------------------------------------------------------------------------- whole cases


def _scan_partition(frame: pd.DataFrame, group: str, learn: tuple[str, ...]) -> dict[str, Any]:
    """The range of a partition's case labels (None: unorderable) and distinct levels."""
    g = frame[group].dropna()
    out: dict[str, Any] = {"levels": {c: set(frame[c].dropna().unique().tolist()) for c in learn}}
    out["range"] = None
    out["empty"] = len(g) == 0
    if len(g):
        try:
            out["range"] = (g.min(), g.max())
        except TypeError:
            pass
    return out


def _case_set(frame: pd.DataFrame, group: str) -> tuple[set, list]:
    return set(frame[group].dropna().unique().tolist()), []


def _join_case_sets(*parts: tuple[set, list]) -> tuple[set, list]:
    """Union of case labels, keeping a few labels met in two partitions."""
    acc: set = set()
    split: list = []
    for labels, found in parts:
        split += found
        if len(split) < 3:
            split += list(acc & labels)[: 3 - len(split)]
        acc |= labels
    return acc, split


def _split_cases(joined: tuple[set, list]) -> list:
    return joined[1]


def _scan(frame: Any, group: str, learn: tuple[str, ...], options: Options) -> dict[str, set]:
    """One pass over the group column (and the columns in `learn`): raise a `DataError` if a
    case's rows lie in more than one partition; return the distinct levels of `learn`."""
    import dask

    columns = list(dict.fromkeys([group, *learn]))
    parts = list(frame[columns].to_delayed())
    scans = dask.compute(
        *[dask.delayed(_scan_partition, pure=False)(p, group, learn) for p in parts]
    )
    levels: dict[str, set] = {c: set() for c in learn}
    for s in scans:
        for c in learn:
            levels[c] |= s["levels"][c]
    ranges = [(k, s["range"]) for k, s in enumerate(scans) if not s["empty"]]
    if not _ranges_disjoint([r for _, r in ranges]):
        tasks = [dask.delayed(_case_set, pure=False)(p, group) for p in parts]
        while len(tasks) > 1:
            step = options.split_every
            tasks = [
                dask.delayed(_join_case_sets, pure=False)(*tasks[i : i + step])
                for i in range(0, len(tasks), step)
            ]
        (split,) = dask.compute(dask.delayed(_split_cases, pure=False)(tasks[0]))
        if split:
            raise _split_error(split, ranges, group)
    return levels


def _ranges_disjoint(ranges: list[Any]) -> bool:
    """True when the partitions' label ranges do not overlap (so no case spans two)."""
    if any(r is None for r in ranges):
        return False
    try:
        ordered = sorted(ranges, key=lambda r: r[0])
        return all(a[1] < b[0] for a, b in itertools.pairwise(ordered))
    except TypeError:
        return False


def _split_error(split: list, ranges: list, group: str) -> DataError:
    label = split[0]
    where = ""
    try:
        holders = [k for k, r in ranges if r is not None and r[0] <= label <= r[1]]
        if holders:
            where = f" (it lies in the range of partitions {holders})"
    except TypeError:
        pass
    more = f" (so do {', '.join(_show(v) for v in split[1:])})" if len(split) > 1 else ""
    return DataError(
        f"case {_show(label)} has rows in more than one partition{where}{more}. On Dask every "
        "case must lie in one partition, since the likelihood is summed over whole cases: "
        f"repartition by the case column first, e.g. ddf.set_index({group!r}, drop=False) "
        f"(sorted by case) or ddf.shuffle(on={group!r})"
    )


# --------------------------------------------------------------------------- case summaries


def _case_stats(cd: ChoiceData, w: np.ndarray) -> dict[str, Any]:
    """A partition's cases, summarised: counts, the Gram matrices of the identification check,
    the log-likelihood at equal shares, and the weights of each (choice set, chosen
    alternative) pair (all that the constants-only model's likelihood depends on)."""
    sizes = cd.mask.sum(axis=1)
    X, mask = cd.X, cd.mask
    K = X.shape[2]
    means = X.sum(axis=1) / sizes[:, None]  # padding slots hold zeros
    centred = np.where(mask[:, :, None], X - means[:, None, :], 0.0)
    out: dict[str, Any] = {
        "n_cases": cd.n_cases,
        "n_rows": int(sizes.sum()),
        "min_size": int(sizes.min()),
        "max_size": int(sizes.max()),
        "ll_equal": float(-(w @ np.log(sizes))),
        "gram_centred": gram(centred.reshape(-1, K)),
        "gram_raw": gram(X.reshape(-1, K)),
    }
    if cd.alternatives is not None:
        a = len(cd.alternatives)
        s, j = np.nonzero(mask)
        key = np.zeros((cd.n_cases, a + 1), dtype=np.int64)
        key[s, cd.alt[s, j]] = 1
        key[:, a] = cd.alt[np.arange(cd.n_cases), cd.y]
        out["choice_sets"] = _compress(key, w)
    return out


def _compress(keys: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return unique, np.bincount(inverse.reshape(-1), weights=w, minlength=unique.shape[0])


def _part_stats(part: Part) -> dict[str, Any]:
    return dict(getattr(part, "stats", {}))


def _merge_stats(*parts: dict[str, Any]) -> dict[str, Any]:
    acc: dict[str, Any] = {}
    for p in parts:
        for k, v in p.items():
            if k not in acc:
                acc[k] = v
            elif k == "min_size":
                acc[k] = min(acc[k], v)
            elif k == "max_size":
                acc[k] = max(acc[k], v)
            elif k == "choice_sets":
                keys = np.concatenate([acc[k][0], v[0]])
                unique, inverse = np.unique(keys, axis=0, return_inverse=True)
                weights = np.bincount(
                    inverse.reshape(-1),
                    weights=np.concatenate([acc[k][1], v[1]]),
                    minlength=unique.shape[0],
                )
                acc[k] = (unique, weights)
            else:
                acc[k] = acc[k] + v
    return acc


def _references(
    stats: dict[str, Any], alternatives: tuple[Any, ...] | None
) -> tuple[float, float | None, int]:
    """(LL at equal shares, LL of constants only, free constants), as `reference_logliks`
    computes them in memory; the constants-only fit runs on one case per distinct (choice set,
    chosen alternative), weighted by the total weight of the cases like it."""
    ll_equal = float(stats["ll_equal"])
    if alternatives is None:
        return ll_equal, None, 0
    keys, w = stats["choice_sets"]
    a = len(alternatives)
    avail = keys[:, :a].astype(bool)
    J = int(avail.sum(axis=1).max())
    U = keys.shape[0]
    alt = np.full((U, J), -1, dtype=np.int64)
    mask = np.zeros((U, J), dtype=bool)
    y = np.zeros(U, dtype=np.int64)
    for u in range(U):
        codes = np.flatnonzero(avail[u])
        alt[u, : codes.size] = codes
        mask[u, : codes.size] = True
        y[u] = int(np.flatnonzero(codes == keys[u, a])[0])
    small = ChoiceData(
        X=np.zeros((U, J, 1)),
        mask=mask,
        y=y,
        alt=alt,
        rows=np.where(mask, 0, -1),
        cases=np.arange(U),
        alternatives=alternatives,
        columns=("constant",),
        weights=None,
        model_spec=None,
    )
    _, ll_constants, n_constants = reference_logliks(small, np.asarray(w, dtype=float))
    return ll_equal, ll_constants, n_constants


def _cluster_covariance(f: DaskChoiceFit) -> DaskChoiceFit:
    """`cluster_covariance` from a pass: per-cluster score sums are merged on the cluster
    (a cluster may span partitions), and only their p x p outer product comes back."""
    ctx = f._ctx
    derivs = ctx.derivatives
    u = f._u
    out = derivs.sums(u, ("cluster",))
    G = int(out["n_groups"])
    if G < 2:
        raise DataError("cluster-robust covariance needs at least two clusters")
    info = derivs.value_grad_hess(u)[2] * ctx.scale
    n, k = float(ctx.scale), f.k
    meat = out["cluster_meat"] * (G / (G - 1)) * ((n - 1) / (n - k))
    cov_u, note = covariance_u(info, f._free_labels, meat)
    if note:
        warnings.warn(note, InferenceWarning, stacklevel=3)
    return f.replace(_cov_u=cov_u, cov_type=f"cluster ({G} clusters)", note=note or f.note)
