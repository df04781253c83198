"""scikit-learn estimators with standard errors, p-values and confidence intervals.

``from likely.sklearn import LogisticRegression, PoissonRegressor, GammaRegressor``: drop-in
estimators (fit / predict / predict_proba / score, Pipeline, cross_val_score, clone,
get_params / set_params) whose fit is `lk.glm`, so every fitted estimator also carries
``bse_`` (standard errors), ``conf_int()``, ``summary()`` (estimates, se, z, p-values,
intervals) and ``fit_`` (the underlying `lk.GLMFit`, for profile intervals, likelihood-ratio
tests, marginal effects, robust covariances, ...).

Unlike scikit-learn's own classes, the default is **unpenalised** maximum likelihood: the
estimates and standard errors are those of statsmodels and R. A penalty is a prior (MAP):

- ``LogisticRegression(C=c)``: scikit-learn's ``C`` (L2: ``Normal(0, sqrt(c))`` on the slopes;
  ``penalty="l1"``: ``Laplace(0, c)``).
- ``PoissonRegressor(alpha=a)`` / ``GammaRegressor(alpha=a)``: scikit-learn's ``alpha``
  (``Normal(0, 1 / sqrt(n a))`` on the slopes for Poisson; see `GammaRegressor` for Gamma).

``sample_weight`` weights each row's log-likelihood, as in scikit-learn's objectives; for the
standard errors they are frequency weights (a weight of 2 counts the row twice), so rates with
``sample_weight=exposure`` in the Poisson model give the count model's standard errors.

Where the likelihood has no unique maximum, the estimators say so rather than return an
arbitrary point: unpenalised logistic regression on perfectly separated classes, and any
unpenalised fit with fewer rows than coefficients or collinear columns, raise a ValueError
(`lk.DataError` is one) naming the problem. A penalty gives a unique, finite MAP estimate
under separation, with collinear columns, or with more features than rows.

This module imports scikit-learn; ``import likely`` does not import it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import d2_tweedie_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._engine.errors import InferenceWarning
from .models.glm import glm
from .models.glm._families import Poisson as _PoissonFamily
from .models.glm._result import GLMFit

__all__ = ["GammaRegressor", "LogisticRegression", "PoissonRegressor"]

_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- priors
# The priors below carry their own mask (True = penalised) and are passed to lk.glm with
# penalize_intercept=True, so exactly the intercept column this module adds is left out
# (lk.glm would also leave out any other column of ones, which scikit-learn penalises).


def _row_mask(mask: tuple[bool, ...], value: Any) -> Any:
    m = jnp.asarray(mask, dtype=value.dtype)
    return m[:, None] if value.ndim == 2 else m


@dataclass(frozen=True)
class _Ridge:
    """Normal(0, scale) on the coefficients whose mask is True: scikit-learn's L2 penalty."""

    scale: float
    mask: tuple[bool, ...]

    def logpdf(self, value):
        z = value / self.scale
        return _row_mask(self.mask, value) * (-0.5 * z * z - math.log(self.scale) - 0.5 * _LOG_2PI)


@dataclass(frozen=True)
class _Lasso:
    """Laplace(0, scale) on the coefficients whose mask is True: scikit-learn's L1 penalty."""

    scale: float
    mask: tuple[bool, ...]

    def logpdf(self, value):
        lp = -jnp.abs(value) / self.scale - math.log(2 * self.scale)
        return _row_mask(self.mask, value) * lp

    def l1(self, shape: tuple[int, ...]):
        # (center, weight) of the exact L1 term for lk's proximal Newton
        weight = np.full(shape, 1.0 / self.scale)
        if shape and shape[0] == len(self.mask):
            m = np.asarray(self.mask, dtype=float)
            weight = weight * (m.reshape(-1, *([1] * (len(shape) - 1))))
        return np.zeros(shape), weight


@dataclass(frozen=True)
class _SymmetricRidge:
    """scikit-learn's multinomial L2 penalty, sum_k ||w_k||^2 / (2 C), over all K classes.

    lk's multinomial logit fixes the first class's coefficients at zero (B, shape (p, K-1)).
    scikit-learn's penalised solution has coefficients summing to zero over the classes, so
    w = [0, B] minus its row means, and the penalty is a (proper) Gaussian prior on B.
    """

    scale: float
    mask: tuple[bool, ...]

    def logpdf(self, value):
        full = jnp.concatenate([jnp.zeros((value.shape[0], 1), value.dtype), value], axis=1)
        centred = full - jnp.mean(full, axis=1, keepdims=True)
        lp = -0.5 * jnp.sum(centred * centred, axis=1) / self.scale**2
        return jnp.asarray(self.mask, dtype=value.dtype) * lp


@dataclass(frozen=True, repr=False)
class _NonNegativePoisson(_PoissonFamily):
    """The Poisson family for any y >= 0, as scikit-learn's PoissonRegressor (its deviance
    is defined for non-integer y: rates with sample_weight = exposure are the usual use)."""

    support_text: str = "non-negative (>= 0)"

    def in_support(self, y, data):
        return y >= 0


# ----------------------------------------------------------------------------- base


class _GLMMixin:
    """Design building, lk.glm, and the inference attributes shared by the three estimators."""

    fit_: GLMFit
    n_features_in_: int

    def _names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            names = [str(c) for c in names]
            if len(set(names)) == len(names) and "Intercept" not in names:
                return names
        return [f"x{j}" for j in range(self.n_features_in_)]

    def _design(self, X: np.ndarray) -> pd.DataFrame:
        names = self._names()
        df = pd.DataFrame(X, columns=names)
        if getattr(self, "fit_intercept", True):
            df.insert(0, "Intercept", 1.0)
        return df

    def _mask(self) -> tuple[bool, ...]:
        """True for the penalised coefficients: all but the intercept this module adds."""
        head = (False,) if getattr(self, "fit_intercept", True) else ()
        return head + (True,) * self.n_features_in_

    def _validate_fit_data(self, X, y, sample_weight, **kwargs):
        X, y = validate_data(self, X, y, dtype=np.float64, **kwargs)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        return X, y, sample_weight

    def _check_enough_samples(self, X, sample_weight, penalty: Any) -> None:
        """Without a penalty, fewer rows than coefficients leave the MLE not unique."""
        n = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        p = X.shape[1] + int(bool(getattr(self, "fit_intercept", True)))
        if n >= p:
            return
        if penalty:  # a prior, or alpha > 0: the MAP is unique
            return
        raise ValueError(
            f"{type(self).__name__} without a penalty estimates {p} coefficients, which "
            f"n_samples = {n} (rows with positive weight) cannot identify: the maximum-"
            f"likelihood estimate is not unique. Use fewer features, or set {_penalty_name(self)} "
            "for a penalised (MAP) fit."
        )

    def conf_int(self, level: float = 0.95, method: str = "wald") -> pd.DataFrame:
        """Confidence intervals for the coefficients (columns lower, upper), indexed by name.

        method="profile" gives profile-likelihood intervals (see `lk.Fit.conf_int`). For
        penalised fits these are Laplace-approximation posterior intervals.
        """
        check_is_fitted(self, "fit_")
        return self.fit_.conf_int(level, method=method, params=list(self.fit_._coef_labels))

    def summary(self, level: float = 0.95):
        """The underlying fit's summary: estimates, se, z, p-values and intervals."""
        check_is_fitted(self, "fit_")
        return self.fit_.summary(level)


# ----------------------------------------------------------------------------- logistic


class LogisticRegression(_GLMMixin, ClassifierMixin, BaseEstimator):
    """Logistic regression by maximum likelihood, with standard errors and p-values.

    A drop-in for ``sklearn.linear_model.LogisticRegression`` whose fit is
    ``lk.glm(family="binomial")`` (two classes) or ``lk.glm(family="multinomial")`` (more).

    Parameters
    ----------
    C : float or None, default None
        None (or ``np.inf``): no penalty, the maximum-likelihood estimate (as statsmodels'
        ``Logit`` and R's ``glm``); note that scikit-learn's default is ``C=1.0``. A number is
        scikit-learn's ``C``: with ``penalty="l2"`` the fit is the MAP under a
        ``Normal(0, sqrt(C))`` prior on every slope (the intercept is not penalised), which
        equals scikit-learn's penalised estimate; ``penalty="l1"`` is a ``Laplace(0, C)``
        prior (binary problems only). ``bse_`` are then Laplace-approximation posterior sds.
    penalty : {"l2", "l1"}, default "l2"
        The penalty used when ``C`` is a number.
    fit_intercept : bool, default True
        Add an intercept (named "Intercept" in ``summary()`` and ``conf_int()``).

    Attributes
    ----------
    classes_, coef_ (shape (1, n_features) for two classes, (n_classes, n_features) for more),
    intercept_, n_features_in_, feature_names_in_ (when X has string column names), n_iter_,
    bse_ (standard errors of ``coef_``), intercept_bse_, fit_ (the `lk.GLMFit`).

    More than two classes: the multinomial logit with the first class (``classes_[0]``) as
    reference, so ``coef_[0]`` and ``bse_[0]`` are zero and the other rows are log odds
    against that class (as statsmodels' ``MNLogit``); ``summary()`` and ``conf_int()`` show
    them. scikit-learn reports the same model centred over the classes:
    ``coef_ - coef_.mean(axis=0)``; the probabilities are identical. With ``C`` the penalty is
    scikit-learn's (``sum_k ||w_k||^2 / (2 C)`` on the centred coefficients).

    Perfect separation: without a penalty the maximum-likelihood estimate does not exist when a
    column (or combination of columns) splits the classes. `lk.glm` then raises `lk.DataError`
    (a ValueError) naming the column, or, when only a combination of columns separates, warns
    (`lk.InferenceWarning`) that fitted probabilities are 0 or 1. Set ``C`` for a finite MAP
    estimate.
    """

    def __init__(self, C: float | None = None, *, penalty: str = "l2", fit_intercept: bool = True):
        self.C = C
        self.penalty = penalty
        self.fit_intercept = fit_intercept

    def _prior(self, n_classes: int):
        C = self.C
        if self.penalty not in ("l2", "l1"):
            raise ValueError(f"penalty must be 'l2' or 'l1', got {self.penalty!r}")
        if C is None or (isinstance(C, int | float) and math.isinf(C) and C > 0):
            return None
        if isinstance(C, bool) or not isinstance(C, int | float | np.number) or not C > 0:
            raise ValueError(f"C must be None (no penalty) or a positive number, got {C!r}")
        mask = self._mask()
        if n_classes > 2:
            if self.penalty == "l1":
                raise ValueError(
                    "Only binary classification is supported with penalty='l1'; use "
                    f"penalty='l2' for {n_classes} classes"
                )
            return _SymmetricRidge(math.sqrt(float(C)), mask)
        if self.penalty == "l1":
            return _Lasso(float(C), mask)
        return _Ridge(math.sqrt(float(C)), mask)

    def fit(self, X, y, sample_weight=None):
        """Fit by maximum likelihood (or MAP with ``C``); returns self."""
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(
                "LogisticRegression needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {self.classes_[0]!r}"
            )
        prior = self._prior(K)
        if sample_weight is not None:
            present = np.unique(codes[sample_weight > 0])
            if present.size < 2:
                raise ValueError(
                    "LogisticRegression needs samples of at least 2 classes with positive "
                    f"sample_weight, but only {present.size} class has positive weight"
                )
            if prior is None and present.size < K:
                missing = [self.classes_[k] for k in range(K) if k not in present]
                raise ValueError(
                    f"class(es) {missing} have zero total sample_weight: without a penalty "
                    "their maximum-likelihood probability is 0 and the coefficients are "
                    "infinite. Set C for a penalised (MAP) fit."
                )
        self._check_enough_samples(X, sample_weight, prior)
        design = self._design(X)
        if K == 2:
            f = glm(
                y=codes.astype(float),
                X=design,
                family="binomial",
                weights=sample_weight,
                prior=prior,
                penalize_intercept=True,
            )
            beta = np.asarray(f.values["beta"], dtype=float)[:, None]
            se = f.se[list(f._coef_labels)].to_numpy()[:, None]
        else:
            levels = [str(c) for c in self.classes_]
            yc = pd.Series(pd.Categorical.from_codes(codes, categories=levels), name="y")
            f = glm(
                y=yc,
                X=design,
                family="multinomial",
                weights=sample_weight,
                prior=prior,
                penalize_intercept=True,
            )
            p = design.shape[1]
            B = np.asarray(f.values["beta"], dtype=float).reshape(p, K - 1)
            beta = np.concatenate([np.zeros((p, 1)), B], axis=1)
            se_flat = f.se[list(f._coef_labels)].to_numpy().reshape(p, K - 1)
            se = np.concatenate([np.zeros((p, 1)), se_flat], axis=1)
        self.fit_ = f
        self.n_iter_ = np.array([f.iterations], dtype=np.int32)
        # beta, se: (p, m) with m = 1 (binary) or K
        if self.fit_intercept:
            self.intercept_, self.intercept_bse_ = beta[0].copy(), se[0].copy()
            beta, se = beta[1:], se[1:]
        else:
            m = beta.shape[1]
            self.intercept_, self.intercept_bse_ = np.zeros(m), np.zeros(m)
        self.coef_ = np.ascontiguousarray(beta.T)
        self.bse_ = np.ascontiguousarray(se.T)
        return self

    def decision_function(self, X):
        """The linear predictor: log odds of ``classes_[1]`` (shape (n,)) for two classes;
        for more, one column per class (log odds against ``classes_[0]``)."""
        check_is_fitted(self, "fit_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The most probable class."""
        d = self.decision_function(X)
        idx = (d > 0).astype(int) if d.ndim == 1 else np.argmax(d, axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        d = self.decision_function(X)
        if d.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-d))
            return np.column_stack([1.0 - p1, p1])
        d = d - d.max(axis=1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Log of `predict_proba`."""
        d = self.decision_function(X)
        if d.ndim == 1:
            return np.column_stack([-np.logaddexp(0.0, d), -np.logaddexp(0.0, -d)])
        d = d - d.max(axis=1, keepdims=True)
        return d - np.log(np.exp(d).sum(axis=1, keepdims=True))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        if self.penalty == "l1":
            tags.classifier_tags.multi_class = False
        return tags


# ----------------------------------------------------------------------------- Poisson, Gamma


class _LogLinkRegressor(_GLMMixin, RegressorMixin, BaseEstimator):
    _power: int = 1  # Tweedie power of the family, for D^2

    def _alpha(self) -> float:
        a = self.alpha  # type: ignore[attr-defined]
        if isinstance(a, bool) or not isinstance(a, int | float | np.number) or not a >= 0:
            raise ValueError(f"alpha must be a number >= 0, got {a!r}")
        if not math.isfinite(a):
            raise ValueError(f"alpha must be finite, got {a!r}")
        return float(a)

    def _set_fit(self, f: GLMFit, earlier_iterations: int = 0) -> None:
        labels = list(f._coef_labels)
        beta = f.params[labels].to_numpy()
        se = f.se[labels].to_numpy()
        self.fit_ = f
        self.n_iter_ = int(f.iterations) + earlier_iterations
        if self.fit_intercept:  # type: ignore[attr-defined]
            self.intercept_, self.intercept_bse_ = float(beta[0]), float(se[0])
            beta, se = beta[1:], se[1:]
        else:
            self.intercept_, self.intercept_bse_ = 0.0, 0.0
        self.coef_, self.bse_ = beta.copy(), se.copy()

    def _linear_predictor(self, X) -> np.ndarray:
        check_is_fitted(self, "fit_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_

    def predict(self, X):
        """The predicted mean, exp(X coef_ + intercept_)."""
        return np.exp(self._linear_predictor(X))

    def score(self, X, y, sample_weight=None):
        """D^2, the fraction of deviance explained (as scikit-learn's GLM regressors)."""
        mu = self.predict(X)
        y = np.asarray(y, dtype=np.float64)
        return float(d2_tweedie_score(y, mu, sample_weight=sample_weight, power=self._power))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.positive_only = True
        return tags


class PoissonRegressor(_LogLinkRegressor):
    """Poisson regression (log link) by maximum likelihood, with standard errors and p-values.

    A drop-in for ``sklearn.linear_model.PoissonRegressor`` whose fit is
    ``lk.glm(family="poisson")``. y may be any non-negative number (rates with
    ``sample_weight=exposure``, as in scikit-learn); ``sample_weight`` enters as weights of
    the log-likelihood.

    Parameters
    ----------
    alpha : float, default 0.0
        scikit-learn's ``alpha``: the objective ``1/(2 S) sum_i w_i deviance_i + alpha/2
        ||coef||^2`` (S the sum of the sample weights, n without them) is, up to the factor S,
        the negative log-posterior under a ``Normal(0, 1/sqrt(S alpha))`` prior on every slope
        (the intercept is not penalised). 0 (the default; scikit-learn's is 1.0) is maximum
        likelihood, as statsmodels' ``GLM(family=Poisson())``.
    fit_intercept : bool, default True

    Attributes
    ----------
    coef_, intercept_, n_features_in_, feature_names_in_, n_iter_, bse_, intercept_bse_,
    fit_ (the `lk.GLMFit`).
    """

    _power = 1

    def __init__(self, *, alpha: float = 0.0, fit_intercept: bool = True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y, sample_weight=None):
        """Fit by maximum likelihood (or MAP with ``alpha``); returns self."""
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight, y_numeric=True)
        alpha = self._alpha()
        self._check_enough_samples(X, sample_weight, alpha)
        if np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are out of the valid range: PoissonRegressor needs y >= 0"
            )
        S = float(np.sum(sample_weight)) if sample_weight is not None else float(X.shape[0])
        prior = _Ridge(1.0 / math.sqrt(S * alpha), self._mask()) if alpha > 0 else None
        f = glm(
            y=y,
            X=self._design(X),
            family=_NonNegativePoisson(),
            link="log",
            weights=sample_weight,
            prior=prior,
            penalize_intercept=True,
        )
        self._set_fit(f)
        return self


class GammaRegressor(_LogLinkRegressor):
    """Gamma regression (log link) by maximum likelihood, with standard errors and p-values.

    A drop-in for ``sklearn.linear_model.GammaRegressor`` whose fit is
    ``lk.glm(family="gamma", link="log")``; the shape (1 / dispersion) is estimated too.

    Parameters
    ----------
    alpha : float, default 0.0
        scikit-learn's ``alpha``: the objective ``1/(2 S) sum_i w_i deviance_i + alpha/2
        ||coef||^2``. 0 (the default; scikit-learn's is 1.0) is maximum likelihood, as
        statsmodels' ``GLM(family=Gamma(link=Log()))``. The Gamma log-likelihood is
        ``-shape/2 * deviance`` + terms free of the coefficients, so the objective is the
        negative log-posterior under a ``Normal(0, 1/sqrt(shape S alpha))`` prior on every
        slope (a prior scaled by the dispersion); the fit uses that prior at the estimated
        shape, which reproduces scikit-learn's coefficients exactly.
    fit_intercept : bool, default True
    dispersion : {"pearson", "mle"}, default "pearson"
        For unpenalised fits: the coefficients' standard errors use the Pearson chi2 / (n - p)
        dispersion (the statsmodels and R convention), or the maximum-likelihood shape.
        Penalised fits use the maximum-likelihood shape (Laplace approximation).

    Attributes
    ----------
    coef_, intercept_, n_features_in_, feature_names_in_, n_iter_, bse_, intercept_bse_,
    fit_ (the `lk.GLMFit`).
    """

    _power = 2

    def __init__(
        self, *, alpha: float = 0.0, fit_intercept: bool = True, dispersion: str = "pearson"
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.dispersion = dispersion

    def fit(self, X, y, sample_weight=None):
        """Fit by maximum likelihood (or MAP with ``alpha``); returns self."""
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight, y_numeric=True)
        alpha = self._alpha()
        self._check_enough_samples(X, sample_weight, alpha)
        if self.dispersion not in ("pearson", "mle"):
            raise ValueError(f"dispersion must be 'pearson' or 'mle', got {self.dispersion!r}")
        if np.any(y <= 0):
            raise ValueError(
                "Some value(s) of y are out of the valid range: GammaRegressor needs y > 0"
            )
        design = self._design(X)
        D = design.to_numpy()
        w = sample_weight if sample_weight is not None else np.ones(X.shape[0])
        S = float(np.sum(w))
        mask = self._mask()
        dispersion = self.dispersion if alpha == 0 else "mle"

        def fit(prior_shape: float, **kwargs: Any) -> GLMFit:
            prior = _Ridge(1.0 / math.sqrt(prior_shape * S * alpha), mask) if alpha > 0 else None
            return glm(
                y=y,
                X=design,
                family="gamma",
                link="log",
                weights=sample_weight,
                prior=prior,
                penalize_intercept=True,
                **kwargs,
            )

        if alpha == 0 and not _near_exact_log_linear(D, y, w):
            self._set_fit(fit(1.0, dispersion=dispersion))
            return self
        # 1. the coefficients with the shape fixed at 1: -loglik is then deviance / 2, so this
        #    is scikit-learn's objective (the coefficients' MLE does not depend on the shape)
        first = fit(1.0, fixed={"shape": 1.0})
        beta = np.asarray(first.values["beta"], dtype=float)
        # 2. the shape's MLE given them
        nu = _gamma_shape(y, np.exp(D @ beta), w)
        if nu <= _MAX_SHAPE:
            # 3. the joint fit with the prior at that shape: (beta, nu) is its stationary point
            f = fit(nu, init={"beta": beta, "shape": nu}, dispersion=dispersion)
        else:
            warnings.warn(
                "GammaRegressor: the fitted means reproduce y (deviance ~ 0), so the Gamma "
                f"shape (1 / dispersion) is infinite; it is held at {_MAX_SHAPE:g} and the "
                "standard errors are ~0",
                InferenceWarning,
                stacklevel=2,
            )
            f = fit(_MAX_SHAPE, init={"beta": beta}, fixed={"shape": _MAX_SHAPE})
        self._set_fit(f, first.iterations)
        return self


_MAX_SHAPE = 1e10  # a Gamma shape above this is treated as infinite (an exact fit)


def _near_exact_log_linear(D: np.ndarray, y: np.ndarray, w: np.ndarray) -> bool:
    """Whether log y is (nearly) a linear function of the design: the Gamma shape's MLE is then
    huge or infinite, and the joint fit from lk.glm's start values may not converge."""
    keep = w > 0
    sw = np.sqrt(w[keep])
    ly = np.log(y[keep])
    coef = np.linalg.lstsq(D[keep] * sw[:, None], ly * sw, rcond=None)[0]
    r = ly - D[keep] @ coef
    return bool(np.average(r * r, weights=w[keep]) < 10.0 / _MAX_SHAPE)


def _penalty_name(est: Any) -> str:
    return "C" if isinstance(est, LogisticRegression) else "alpha"


def _gamma_shape(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    """The MLE of the Gamma shape nu given the means: log(nu) - digamma(nu) = D, the weighted
    mean of y/mu - log(y/mu) - 1 (half the mean unit deviance); inf when D is ~0."""
    from scipy.optimize import brentq
    from scipy.special import digamma

    r = y / mu
    d = float(np.sum(w * (r - np.log(r) - 1.0)) / np.sum(w))
    if not d * 2 * _MAX_SHAPE > 1:  # log(nu) - digamma(nu) ~ 1 / (2 nu) for large nu
        return math.inf

    def score(t: float) -> float:  # in t = log(nu): decreasing, from +inf to -d
        return t - float(digamma(math.exp(t))) - d

    return math.exp(brentq(score, -40.0, math.log(_MAX_SHAPE) + 5, xtol=1e-14, rtol=1e-15))
