"""`lk.glm`: generalised linear models by maximum likelihood (or MAP with a prior)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, overload

import jax.numpy as jnp
import numpy as np

from ..._engine.errors import DataError, InferenceWarning, ModelError
from ..._engine.fit import fit as engine_fit
from ..._engine.indexed import weighted_gram
from ..._engine.inference import collinear_columns, covariance_u
from ._design import build_design
from ._families import CONSTANT, FAMILIES, Family, dmu_deta, loglik_constant
from ._links import LINKS, Link
from ._model import GLMModel, MultinomialLogitModel
from ._result import GLMFit, GLMInfo

COV_TYPES = ("observed", "nonrobust", "expected", "robust", "HC0", "HC1", "HC2", "HC3", "cluster")
# families whose MLE can run off to a fitted probability of 1 or a mean of 0 (separation)
_CERTAIN_FAMILIES = ("binomial", "poisson", "negative_binomial")


@dataclass(frozen=True)
class MaskedPrior:
    """A prior applied to the coefficients whose mask is True (the intercept is left out)."""

    prior: Any
    mask: tuple[bool, ...]

    def logpdf(self, value):
        m = jnp.asarray(self.mask, dtype=value.dtype)
        lp = self.prior.logpdf(value)
        if lp.ndim == 2:
            m = m[:, None]
        return jnp.sum(m * lp)

    def l1(self, shape: tuple[int, ...]):
        inner = getattr(self.prior, "l1", None)
        if inner is None:
            return None
        center, weight = inner(shape)
        m = np.asarray(self.mask, dtype=float)
        return center, weight * (m[:, None] if len(shape) == 2 else m)


def _resolve_family(family: Any) -> Family | str:
    from ... import distributions as d

    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        key = family.lower()
        if key in ("multinomial", "categorical"):
            return "multinomial"
        if key not in FAMILIES:
            raise ModelError(
                f"unknown family {family!r}; choose from {sorted(set(FAMILIES))} or 'multinomial'"
            )
        return FAMILIES[key]
    by_type = {
        d.Normal: "gaussian",
        d.Bernoulli: "binomial",
        d.Binomial: "binomial",
        d.Poisson: "poisson",
        d.NegativeBinomial: "negative_binomial",
        d.Gamma: "gamma",
        d.Laplace: "laplace",
        d.StudentT: "student_t",
    }
    for cls, name in by_type.items():
        if isinstance(family, cls):
            return FAMILIES[name]
    if isinstance(family, d.Categorical | d.Multinomial):
        return "multinomial"
    raise ModelError(
        f"family must be a name such as 'binomial' or a distribution such as lk.Poisson(), got {family!r}"
    )


def _resolve_link(family: Family, link: Any) -> Link:
    if link is None:
        return LINKS[family.default_link]
    if isinstance(link, Link):
        return link
    if not isinstance(link, str) or link not in LINKS:
        raise ModelError(f"unknown link {link!r}; choose from {sorted(LINKS)}")
    if link not in family.links:
        raise ModelError(f"the {family.name} family takes links {family.links}, not {link!r}")
    return LINKS[link]


def glm(
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
) -> GLMFit:
    """Fit a generalised linear model by maximum likelihood.

    ``lk.glm("grade ~ gpa + tuce + psi", data=df, family="binomial")`` or, with arrays,
    ``lk.glm(y=y, X=X, family="poisson", offset=np.log(exposure))`` (X used as given: add a
    column of ones for an intercept).

    family: "gaussian", "binomial", "poisson", "negative_binomial" (NB2, alpha estimated),
    "gamma" (shape estimated), "laplace" (least absolute deviations), "student_t" (sigma and df
    estimated), "multinomial" (softmax over the response's levels, the first is the
    reference); or a distribution such as ``lk.Bernoulli()``.
    link: defaults to the canonical one ("inverse" for Gamma, as R and statsmodels).
    weights: frequency weights. offset / exposure (offset = log exposure) enter the linear
    predictor with coefficient 1. trials: binomial trials per row (y then counts successes).
    cov_type: "observed" (the default, the exact Hessian; "expected" for the Laplace family,
    whose log-density has a kink), "expected" (Fisher scoring's
    information), "robust" / "HC0", "HC1", "HC2", "HC3", or "cluster" with ``groups=``.
    prior: a prior (e.g. ``lk.priors.Normal(0, 1)``, ridge) on every coefficient but the
    intercept (a column named "Intercept" or a column of ones; unless ``penalize_intercept``),
    or a dict by parameter name; the fit is then MAP.
    dispersion: "mle" (the full likelihood) or "pearson" (Gaussian and Gamma only: the
    coefficients' se use the Pearson chi2 / (n - p) dispersion, the R and statsmodels
    convention).
    missing: "raise" (default) or "drop" (rows with missing values are dropped and counted).
    init, fixed: start values / fixed values by parameter name (e.g. ``fixed={"sigma": 1.0}``).

    Penalties as priors (MAP): scikit-learn's ``LogisticRegression(C=C)`` (L2) is
    ``prior=lk.priors.Normal(0, sqrt(C))``; ``penalty="l1"`` is ``lk.priors.Laplace(0, C)``;
    ``PoissonRegressor(alpha=a)`` / ``GammaRegressor(alpha=a)`` are ``Normal(0, 1/sqrt(n a))``;
    ``Lasso(alpha=a)`` is the gaussian family with ``fixed={"sigma": 1.0}`` and
    ``Laplace(0, 1/(n a))``. Laplace (L1) priors are fitted exactly by proximal Newton, so
    coefficients become exactly zero; those have no Laplace-approximation sd.
    """
    from ..._dask import any_dask

    if any_dask(data, y, X, weights, offset, exposure, trials, groups):  # data on Dask
        from ..._dask._glm import glm_dask

        return glm_dask(
            formula, data, y=y, X=X, family=family, link=link, weights=weights, offset=offset,
            exposure=exposure, trials=trials, cov_type=cov_type, groups=groups, prior=prior,
            penalize_intercept=penalize_intercept, dispersion=dispersion, missing=missing,
            method=method, init=init, fixed=fixed, max_iter=max_iter, tol=tol,
        )  # fmt: skip
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
    design = build_design(
        formula,
        data,
        y=y,
        X=X,
        weights=weights,
        offset=offset,
        exposure=exposure,
        trials=trials,
        groups=groups,
        missing=missing,
        categorical_response=multinomial,
    )
    Xa, ya, cols = design.X, design.y, design.columns
    n = Xa.shape[0]
    w = design.weights if design.weights is not None else np.ones(n)
    if multinomial:
        if design.offset is not None or design.trials is not None:
            raise ModelError("multinomial logit takes neither offset nor trials")
        model: Any = MultinomialLogitModel(cols, design.levels or ())
        link_obj = LINKS["logit"]
        fam_obj: Any = None
    else:
        assert isinstance(fam, Family)
        fam_obj = fam
        link_obj = _resolve_link(fam, link)
        if design.trials is not None and fam.name != "binomial":
            raise ModelError("trials= is for the binomial family")
        if dispersion == "pearson" and fam.dispersion_param is None:
            raise ModelError(
                f"dispersion='pearson' applies to the gaussian and gamma families, not {fam.name}"
            )
        model = GLMModel(fam, link_obj, cols)
        _check_response(fam, ya, design)
    gram = None
    # Perfect separation by one column (binary response, no prior) is looked for only when
    # the fit shows its signs: fitted probabilities at 0 or 1, a fit that did not converge,
    # or any warning. The MLE exists otherwise, and the check costs 1.5-2 Gram matrices.
    separable = prior is None and fam_obj is not None and fam_obj.name == "binomial"
    data_dict: dict[str, np.ndarray] = {"X": Xa, "y": ya}
    if design.offset is not None:
        data_dict["offset"] = design.offset
    if design.trials is not None:
        data_dict["trials"] = design.trials
    start_rhs = None
    if prior is None:  # a prior identifies collinear or separated coefficients (MAP exists)
        counts = fam_obj is not None and fam_obj.name in ("poisson", "negative_binomial")
        all_zero = counts and not np.any(ya)
        # the rank check on X' diag(W0) X when IRLS's first step has row weights W0 > 0 (the
        # same null space as X' diag(w) X): one pass over X serves both
        system = None
        if isinstance(model, GLMModel) and not all_zero:
            system = model.irls_system(data_dict, w)
        if system is None:
            gram = _check_design(Xa, w, cols)
        else:
            gram, start_rhs = _check_design(Xa, system[0], cols, system[1])
        if separable:
            _check_constant_response(ya, design.trials)
        if all_zero:
            raise DataError(
                f"every {fam_obj.name} count is 0: the MLE of the mean is 0, on the boundary "
                "(the intercept runs to -infinity), so the fit does not exist"
            )
    const = None if fam_obj is None else loglik_constant(fam_obj, ya, data_dict)
    if const is not None:
        data_dict[CONSTANT] = const
    priors = None
    if prior is not None:
        intercept = tuple(
            c == "Intercept" or bool(np.all(Xa[:, j] == 1.0)) for j, c in enumerate(cols)
        )
        priors = _priors(prior, model, intercept, penalize_intercept)
    if gram is not None and isinstance(model, GLMModel) and method != "closed_form":
        # the IRLS start from the rank check's X'WX: no second pass for it
        free = set(model.param_spec) - set(fixed or {})
        closed = model.link.name == "identity" and fam_obj.name in ("gaussian", "laplace")
        if not free <= set(init or {}) and not (closed and method == "auto" and not fixed):
            init = {**model.start(data_dict, w, gram=gram, rhs=start_rhs), **(init or {})}
            init = {k: v for k, v in init.items() if k not in (fixed or {})}
    engine_cov = {"nonrobust": "observed", "HC0": "robust"}.get(cov_type, cov_type)
    if engine_cov in ("HC1", "HC2", "HC3", "cluster"):
        engine_cov = "observed"
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        try:
            result = engine_fit(
                model,
                data_dict,
                weights=w,
                init=init,
                fixed=fixed,
                prior=priors,
                method=method,
                cov=engine_cov,
                max_iter=max_iter,
                tol=tol,
            )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            if separable:
                _check_separation(Xa, ya, design.trials, cols)
            raise
    info = GLMInfo(
        formula,
        fam_obj,
        link_obj,
        cols,
        design.y_name,
        design.model_spec,
        design.levels,
        design.n_dropped,
        dispersion,
        Xa,
        design.offset,
        design.trials,
    )
    out = GLMFit(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}, glm=info)
    extreme = None
    if prior is None and (multinomial or fam_obj.name in _CERTAIN_FAMILIES):
        extreme = _extreme_fits(out)
    if separable and (held or not out.converged or (extreme is not None and extreme.any())):
        _check_separation(Xa, ya, design.trials, cols)
    for h in held:  # the fit's warnings, now that separation has not explained them
        warnings.warn_explicit(h.message, h.category, h.filename, h.lineno, source=h.source)
    if cov_type in ("HC1", "HC2", "HC3", "cluster"):
        out = _robust(out, cov_type, design.groups)
    if dispersion == "pearson":
        out = _pearson(out)
    if extreme is not None and extreme.any():
        warnings.warn(
            f"quasi-complete separation: {int(extreme.sum())} observation(s) are fitted with "
            "probability 0 or 1 (counts: a mean below 1e-10); some coefficients are not finite "
            "in the limit and their standard errors are unreliable",
            InferenceWarning,
            stacklevel=2,
        )
    return out


def _check_response(fam: Family, y: np.ndarray, design: Any) -> None:
    data = {"trials": design.trials} if design.trials is not None else {}
    ok = np.asarray(fam.in_support(y, data))
    if not ok.all():
        i = int(np.argmax(~ok))
        raise DataError(
            f"the {fam.name} response {design.y_name!r} must be {fam.support_text}; row {i} is "
            f"{y[i]} ({int((~ok).sum())} value(s) outside)"
        )


@overload
def _check_design(X: np.ndarray, w: np.ndarray, cols: tuple[str, ...]) -> np.ndarray: ...
@overload
def _check_design(
    X: np.ndarray, w: np.ndarray, cols: tuple[str, ...], v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
def _check_design(X, w, cols, v=None):
    """Raise on all-zero or collinear columns; return X' diag(w) X (and X' v, in the same
    pass, when v is given). Any w > 0 on the rows with weight gives the same answer."""
    out = weighted_gram(X, w) if v is None else weighted_gram(X, w, v[:, None])
    check_gram(out if v is None else out[0], cols)
    return out if v is None else (out[0], out[1][:, 0])


def check_gram(G: np.ndarray, cols: tuple[str, ...]) -> None:
    """Raise on all-zero or collinear columns, from the weighted Gram matrix X' diag(w) X
    (also summed over Dask partitions)."""
    d = np.sqrt(np.diag(G))
    zero = np.flatnonzero(d == 0)
    if zero.size:
        raise DataError(
            f"column(s) {[cols[j] for j in zero]} are all zero (no information about their coefficients)"
        )
    involved = collinear_columns(G, d, cols)
    if involved:
        raise DataError(
            f"the design matrix is rank deficient: collinear columns {involved} (one is a "
            "linear combination of the others, e.g. duplicated, or constant beside the "
            "intercept); drop one of them"
        )


def _check_constant_response(y: np.ndarray, trials: np.ndarray | None) -> None:
    n = trials if trials is not None else np.ones_like(y)
    if np.all(y == 0) or np.all(y == n):
        raise DataError(
            "the binomial response is constant (all failures or all successes): the MLE is on the boundary"
        )


def _check_separation(
    X: np.ndarray, y: np.ndarray, trials: np.ndarray | None, cols: tuple[str, ...]
) -> None:
    """Raise if one column splits the binary outcomes completely (perfect separation)."""
    _check_constant_response(y, trials)
    if trials is not None:
        return
    pos = y == 1
    # per-column ranges of x among y=1 and y=0 rows, in row chunks (no large temporaries)
    big = np.finfo(float).max
    lo1, hi1 = np.full(X.shape[1], big), np.full(X.shape[1], -big)
    lo0, hi0 = lo1.copy(), hi1.copy()
    step = max(256, (1 << 20) // (8 * X.shape[1]))  # chunks that stay in cache
    for start in range(0, X.shape[0], step):
        Xc, pc = X[start : start + step], pos[start : start + step]
        # the chunk's y=1 and y=0 rows as small copies: plain reductions over them are 1.5-5x
        # faster than masked (where=) ones
        for part, lo, hi in ((Xc[pc], lo1, hi1), (Xc[~pc], lo0, hi0)):
            if part.shape[0]:
                np.minimum(lo, part.min(axis=0), out=lo)
                np.maximum(hi, part.max(axis=0), out=hi)
    for j, c in enumerate(cols):
        if min(lo1[j], lo0[j]) == max(hi1[j], hi0[j]):
            continue  # constant column
        if hi0[j] < lo1[j] or hi1[j] < lo0[j]:
            raise DataError(
                f"perfect separation: column {c!r} splits the outcomes completely (every y=1 row "
                "lies on one side of every y=0 row), so the MLE does not exist (the coefficient "
                "runs to infinity). Remove the column, combine categories, or add a prior "
                "(prior=lk.priors.Normal(0, s)) for a finite MAP estimate."
            )


def _extreme_fits(f: GLMFit) -> np.ndarray:
    """Observations fitted with probability 0 or 1 (within 1e-10), or counts with a mean
    below 1e-10: the signs of (quasi-complete) separation."""
    info = f.glm
    derivs = f._ctx.derivatives
    if hasattr(derivs, "eta"):  # the last Newton evaluation's X beta: no pass over X
        eta = derivs.eta(f._u)
    else:
        eta = info.X @ f.values["beta"] + (info.offset if info.offset is not None else 0.0)
    # probabilities within 1e-10 of 0 or 1, read on the eta scale (links are increasing)
    if info.family is None:  # multinomial: a class fitted with probability 1 - 1e-10 or more
        from scipy.special import logsumexp

        full = np.concatenate([np.zeros((eta.shape[0], 1)), eta], axis=1)
        extreme = full.max(axis=1) - logsumexp(full, axis=1) > -1e-10
    elif info.family.name != "binomial":  # counts: fitted means below 1e-10 (log link: eta)
        extreme = info.link.np_inverse(eta) < 1e-10
    else:
        lo, hi = np.sort(info.link.np_link(np.array([1e-10, 1 - 1e-10])))
        extreme = (eta < lo) | (eta > hi)
    return np.asarray(extreme)


def _priors(
    prior: Any, model: Any, intercept: tuple[bool, ...], penalize_intercept: bool
) -> dict | None:
    if prior is None:
        return None
    spec = model.param_spec
    if isinstance(prior, dict):
        out = dict(prior)
    else:
        out = {"beta": prior}
    if "beta" in out:
        mask = tuple(penalize_intercept or not is_icpt for is_icpt in intercept)
        out["beta"] = MaskedPrior(out["beta"], mask)
    unknown = set(out) - set(spec)
    if unknown:
        raise ModelError(
            f"prior names unknown parameter(s) {sorted(unknown)}; the model has {list(spec)}"
        )
    return out


def _fisher_weights(f: GLMFit) -> np.ndarray:
    info = f.glm
    params = {k: jnp.asarray(v) for k, v in f.values.items()}
    data: dict[str, Any] = {}
    if info.trials is not None:
        data["trials"] = jnp.asarray(info.trials)
    eta = info.X @ f.values["beta"] + (info.offset if info.offset is not None else 0.0)
    return np.asarray(info.family.fisher_weight(jnp.asarray(eta), info.link, params, data))


def _robust(f: GLMFit, cov_type: str, groups: np.ndarray | None) -> GLMFit:
    ctx = f._ctx
    u = f._u
    w = ctx.weights
    n, k = float(w.sum()), len(f._coef_labels)  # k counts coefficients, as R and statsmodels
    info = ctx.derivatives.value_grad_hess(u)[2] * ctx.scale
    S = ctx.derivatives.scores(u)[: w.shape[0]]
    if cov_type == "cluster":
        assert groups is not None
        labels, idx = np.unique(groups, return_inverse=True)
        G = labels.size
        if G < 2:
            raise DataError("cluster-robust covariance needs at least two groups")
        sums = np.zeros((G, S.shape[1]))
        np.add.at(sums, idx, w[:, None] * S)
        meat = sums.T @ sums * (G / (G - 1)) * ((n - 1) / (n - k))
    else:
        scale = np.ones_like(w)
        if cov_type in ("HC2", "HC3"):
            X = f.glm.X
            W = w * _fisher_weights(f)
            XtWX_inv = np.linalg.inv(weighted_gram(X, W))
            h = W * np.einsum("ij,jk,ik->i", X, XtWX_inv, X)
            scale = 1 / (1 - h) if cov_type == "HC2" else 1 / (1 - h) ** 2
        meat = S.T @ ((w * scale)[:, None] * S)
        if cov_type == "HC1":
            meat = meat * n / (n - k)
    cov_u, note = covariance_u(info, f._free_labels, meat)
    if note:
        warnings.warn(note, InferenceWarning, stacklevel=3)
    return f.replace(_cov_u=cov_u, cov_type=cov_type, note=note or f.note)


def _pearson(f: GLMFit) -> GLMFit:
    """Coefficient covariance phi_hat (X' W0 X)^-1 with the Pearson dispersion."""
    info = f.glm
    fam = info.family
    X = info.X
    w = f._ctx.weights
    eta = X @ f.values["beta"] + (info.offset if info.offset is not None else 0.0)
    mu = np.asarray(info.link.inverse(jnp.asarray(eta)))
    V = np.asarray(fam.variance_function(jnp.asarray(mu), {}))
    y = f._ctx.data["y"]
    n, p = float(w.sum()), X.shape[1]
    phi = float(np.sum(w * (y - mu) ** 2 / V) / (n - p))
    d = np.asarray(dmu_deta(info.link, jnp.asarray(eta)))
    cov_beta = phi * np.linalg.inv(weighted_gram(X, w * d * d / V))
    layout = f._ctx.problem.layout
    block = next(b for b in layout.blocks if b.name == "beta")
    sl = slice(block.offset, block.offset + block.size)
    cov_u = f._cov_u.copy()
    cov_u[sl, :] = 0.0
    cov_u[:, sl] = 0.0
    cov_u[sl, sl] = cov_beta
    return f.replace(_cov_u=cov_u)
