"""The scikit-learn facade: estimator conventions (check_estimator), and the estimates against
scikit-learn's own penalised estimators and statsmodels' unpenalised ones."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

sklearn = pytest.importorskip("sklearn")
sm = pytest.importorskip("statsmodels.api")

from sklearn import linear_model as sklm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

import likely as lk  # noqa: E402
from likely.sklearn import GammaRegressor, LogisticRegression, PoissonRegressor  # noqa: E402


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# --------------------------------------------------------------------------- check_estimator

_SEPARATED = (
    "the check fits unpenalised logistic regression on perfectly separated toy data (a single "
    "column splits the classes), where the MLE does not exist and lk.glm raises lk.DataError; "
    "LogisticRegression(C=1.0) passes it"
)
_P_GT_N = (
    "the check fits 30 features on 15 samples: without a penalty the MLE is not unique and "
    "the estimator raises a ValueError"
)


def _expected_failures(estimator) -> dict[str, str]:
    """Checks that need an estimate the unpenalised likelihood does not have (sklearn's
    documented mechanism for such checks: parametrize_with_checks(expected_failed_checks=))."""
    if isinstance(estimator, LogisticRegression):
        if estimator.C is not None:
            return {}
        out = dict.fromkeys(
            [
                "check_sample_weights_shape",
                "check_sample_weights_not_overwritten",
                "check_pipeline_consistency",
                "check_estimators_pickle",
                "check_classifiers_classes",
                "check_fit2d_1feature",
            ],
            _SEPARATED,
        )
        out["check_sample_weight_equivalence_on_dense_data"] = _P_GT_N
        return out
    if estimator.alpha == 0:
        return {"check_sample_weight_equivalence_on_dense_data": _P_GT_N}
    return {}


@parametrize_with_checks(
    [LogisticRegression(), LogisticRegression(C=1.0), PoissonRegressor(), GammaRegressor()],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        # the checks fit odd toy data; lk's notes about them are not what is tested here
        warnings.simplefilter("ignore", lk.InferenceWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", [PoissonRegressor(alpha=1.0), GammaRegressor(alpha=1.0)])
def test_penalised_sample_weight_equivalence(estimator):
    """The one check the unpenalised regressors cannot pass (p > n) passes with a penalty."""
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def spector():
    d = sm.datasets.spector.load_pandas().data
    return d[["GPA", "TUCE", "PSI"]], d.GRADE


@pytest.fixture(scope="module")
def randhie():
    d = sm.datasets.randhie.load_pandas().data
    cols = ["lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp"]
    return d[cols], d.mdvis


@pytest.fixture(scope="module")
def scotland():
    d = sm.datasets.scotland.load_pandas()
    return d.exog, d.endog


def _standardised(X: pd.DataFrame) -> pd.DataFrame:
    return (X - X.mean()) / X.std()


# --------------------------------------------------------------------------- logistic


def test_logistic_unpenalised_matches_statsmodels(spector):
    X, y = spector
    est = LogisticRegression().fit(X, y)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert est.coef_.shape == (1, 3) and est.intercept_.shape == (1,)
    assert rel(est.coef_[0], ref.params.iloc[1:]) < 1e-6
    assert est.intercept_[0] == pytest.approx(ref.params.iloc[0], rel=1e-6)
    assert rel(est.bse_[0], ref.bse.iloc[1:]) < 1e-5
    assert est.intercept_bse_[0] == pytest.approx(ref.bse.iloc[0], rel=1e-5)
    assert list(est.feature_names_in_) == ["GPA", "TUCE", "PSI"]
    assert est.n_features_in_ == 3 and list(est.classes_) == [0, 1]
    assert est.n_iter_.shape == (1,) and est.n_iter_[0] > 0
    assert not est.fit_.is_map
    ci = est.conf_int()
    assert list(ci.index) == ["Intercept", "GPA", "TUCE", "PSI"]
    assert rel(ci.to_numpy(), ref.conf_int().to_numpy()) < 1e-5
    p = est.predict_proba(X)
    assert rel(p[:, 1], ref.predict(sm.add_constant(X))) < 1e-6
    assert np.array_equal(est.predict(X), (p[:, 1] > 0.5).astype(int))
    assert est.score(X, y) == pytest.approx(np.mean(est.predict(X) == y))
    assert np.allclose(np.exp(est.predict_log_proba(X)), p, rtol=1e-12)


@pytest.mark.parametrize("C", [0.1, 0.5, 3.0])
def test_logistic_l2_matches_sklearn(spector, C):
    X, y = spector
    X = _standardised(X)
    sk = sklm.LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    sk.fit(X, y)
    est = LogisticRegression(C=C).fit(X, y)
    assert est.fit_.is_map
    assert rel(est.coef_, sk.coef_) < 1e-6
    assert rel(est.intercept_, sk.intercept_) < 1e-6
    assert np.allclose(est.predict_proba(X), sk.predict_proba(X), rtol=1e-7)
    assert np.all(np.isfinite(est.bse_)) and np.all(est.bse_ > 0)


def test_logistic_l2_weighted_matches_sklearn(spector):
    X, y = spector
    X = _standardised(X)
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    sk = sklm.LogisticRegression(C=0.7, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    sk.fit(X, y, sample_weight=w)
    est = LogisticRegression(C=0.7).fit(X, y, sample_weight=w)
    assert rel(est.coef_, sk.coef_) < 1e-6
    assert rel(est.intercept_, sk.intercept_) < 1e-6


def test_logistic_l1_matches_liblinear(spector):
    """Reference: liblinear with a huge intercept_scaling (the intercept unpenalised)."""
    X, y = spector
    for C in (0.3, 1.0):
        sk = sklm.LogisticRegression(
            l1_ratio=1.0, C=C, solver="liblinear", tol=1e-12, max_iter=100_000
        )
        sk.set_params(intercept_scaling=1e6)
        sk.fit(X.to_numpy(), y.to_numpy())
        est = LogisticRegression(C=C, penalty="l1").fit(X, y)
        assert np.allclose(est.coef_, sk.coef_, rtol=1e-4, atol=1e-6)
        assert np.array_equal(est.coef_ == 0, sk.coef_ == 0)


def test_logistic_separation_is_an_error_unless_penalised():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(lk.DataError, match="perfect separation"):
        LogisticRegression().fit(X, y)
    est = LogisticRegression(C=1.0).fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and est.predict([[0.0]])[0] == 0


def test_logistic_string_classes_and_one_class():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] + rng.normal(size=60) > 0, "yes", "no")
    est = LogisticRegression().fit(X, y)
    assert list(est.classes_) == ["no", "yes"]
    assert set(est.predict(X)) <= {"no", "yes"}
    with pytest.raises(ValueError, match="one class"):
        LogisticRegression().fit(X, np.full(60, "no"))


def test_multinomial_matches_statsmodels_and_sklearn():
    rng = np.random.default_rng(2)
    n = 400
    X = rng.normal(size=(n, 2))
    eta = np.column_stack([np.zeros(n), 0.5 + X @ [1.0, -0.5], -0.3 + X @ [-0.7, 0.8]])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[[rng.choice(3, p=pi) for pi in p]]
    est = LogisticRegression().fit(X, y)
    ref = sm.MNLogit(pd.Series(y).astype("category").cat.codes, sm.add_constant(X)).fit(
        disp=0, method="newton", maxiter=100
    )
    assert est.coef_.shape == (3, 2) and est.intercept_.shape == (3,)
    assert np.all(est.coef_[0] == 0) and np.all(est.bse_[0] == 0)  # the reference class
    assert rel(est.coef_[1:], np.asarray(ref.params)[1:].T) < 1e-6
    assert rel(est.intercept_[1:], np.asarray(ref.params)[0]) < 1e-6
    assert rel(est.bse_[1:], np.asarray(ref.bse)[1:].T) < 1e-5
    assert np.allclose(est.predict_proba(X), ref.predict(sm.add_constant(X)), rtol=1e-6)
    # penalised: scikit-learn's symmetric multinomial penalty; sklearn centres over classes
    sk = sklm.LogisticRegression(C=0.05, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    sk.fit(X, y)
    pen = LogisticRegression(C=0.05).fit(X, y)
    centred = pen.coef_ - pen.coef_.mean(axis=0)
    assert rel(centred, sk.coef_) < 1e-6
    assert np.allclose(pen.predict_proba(X), sk.predict_proba(X), rtol=1e-7)
    with pytest.raises(ValueError, match="Only binary classification"):
        LogisticRegression(C=1.0, penalty="l1").fit(X, y)


@pytest.mark.filterwarnings("ignore::likely.InferenceWarning")  # small folds: quasi-separation
def test_pipeline_cross_val_score_clone(spector):
    X, y = spector
    pipe = Pipeline([("scale", StandardScaler()), ("logit", LogisticRegression())])
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    pipe.set_params(logit__C=2.0)
    twin = clone(pipe)
    assert twin.get_params()["logit__C"] == 2.0 and twin.get_params()["logit__penalty"] == "l2"
    twin.fit(X, y)
    assert twin.named_steps["logit"].fit_.is_map
    assert not hasattr(pipe.named_steps["logit"], "coef_")  # clone did not fit the original
    again = pickle.loads(pickle.dumps(twin))
    assert np.array_equal(again.predict_proba(X), twin.predict_proba(X))


def test_summary_renders(spector):
    X, y = spector
    est = LogisticRegression().fit(X, y)
    text = str(est.summary())
    for name in ("Intercept", "GPA", "TUCE", "PSI", "P>|z|", "maximum likelihood"):
        assert name in text
    assert "<table>" in est.summary()._repr_html_()
    text = str(LogisticRegression(C=1.0).fit(X, y).summary())
    assert "MAP" in text
    plain = LogisticRegression(fit_intercept=False).fit(X.to_numpy(), y.to_numpy())
    assert "Intercept" not in str(plain.summary()) and "x0" in str(plain.summary())
    assert plain.intercept_bse_[0] == 0.0


# --------------------------------------------------------------------------- Poisson


def test_poisson_unpenalised_matches_statsmodels(randhie):
    X, y = randhie
    est = PoissonRegressor().fit(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit()
    assert rel(est.coef_, ref.params.iloc[1:]) < 1e-6
    assert est.intercept_ == pytest.approx(ref.params.iloc[0], rel=1e-6)
    assert rel(est.bse_, ref.bse.iloc[1:]) < 1e-5
    assert est.intercept_bse_ == pytest.approx(ref.bse.iloc[0], rel=1e-5)
    assert rel(est.predict(X), ref.fittedvalues) < 1e-6
    assert isinstance(est.n_iter_, int)
    assert est.score(X, y) == pytest.approx(1 - ref.deviance / ref.null_deviance, rel=1e-6)


@pytest.mark.parametrize("alpha", [1e-3, 0.1])
def test_poisson_penalised_matches_sklearn(randhie, alpha):
    X, y = randhie
    X = _standardised(X)
    sk = sklm.PoissonRegressor(alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    sk.fit(X, y)
    est = PoissonRegressor(alpha=alpha).fit(X, y)
    assert rel(est.coef_, sk.coef_) < 1e-5
    assert est.intercept_ == pytest.approx(sk.intercept_, rel=1e-6)
    assert est.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-6)


def test_poisson_rates_with_exposure_weights():
    """scikit-learn's idiom: y = counts / exposure (not whole numbers), sample_weight = exposure."""
    rng = np.random.default_rng(3)
    n = 300
    X = rng.normal(size=(n, 2))
    exposure = rng.uniform(0.5, 3.0, size=n)
    counts = rng.poisson(exposure * np.exp(0.2 + X @ [0.4, -0.3]))
    est = PoissonRegressor().fit(X, counts / exposure, sample_weight=exposure)
    ref = sm.GLM(counts, sm.add_constant(X), family=sm.families.Poisson(), exposure=exposure).fit()
    assert rel(est.coef_, ref.params[1:]) < 1e-6
    assert rel(est.bse_, ref.bse[1:]) < 1e-5
    sk = sklm.PoissonRegressor(alpha=0.01, solver="newton-cholesky", tol=1e-12)
    sk.fit(X, counts / exposure, sample_weight=exposure)
    pen = PoissonRegressor(alpha=0.01).fit(X, counts / exposure, sample_weight=exposure)
    assert rel(pen.coef_, sk.coef_) < 1e-6
    with pytest.raises(ValueError, match="y >= 0"):
        PoissonRegressor().fit(X, -counts)


# --------------------------------------------------------------------------- Gamma


def test_gamma_unpenalised_matches_statsmodels(scotland):
    X, y = scotland
    est = GammaRegressor().fit(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Gamma(sm.families.links.Log())).fit(
        tol=1e-12
    )
    assert rel(est.coef_, ref.params.iloc[1:]) < 1e-5
    assert est.intercept_ == pytest.approx(ref.params.iloc[0], rel=1e-5)
    # statsmodels' se use the Pearson dispersion, as GammaRegressor's default
    assert rel(est.bse_, ref.bse.iloc[1:]) < 1e-5
    assert est.intercept_bse_ == pytest.approx(ref.bse.iloc[0], rel=1e-5)
    assert est.score(X, y) == pytest.approx(1 - ref.deviance / ref.null_deviance, rel=1e-6)
    mle = GammaRegressor(dispersion="mle").fit(X, y)
    assert rel(mle.coef_, est.coef_) < 1e-9 and not np.allclose(mle.bse_, est.bse_)


@pytest.mark.parametrize("alpha", [0.01, 0.3])
def test_gamma_penalised_matches_sklearn(scotland, alpha):
    X, y = scotland
    X = _standardised(X)
    sk = sklm.GammaRegressor(alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    sk.fit(X, y)
    est = GammaRegressor(alpha=alpha).fit(X, y)
    assert est.fit_.is_map and est.fit_.converged
    assert rel(est.coef_, sk.coef_) < 1e-5
    assert est.intercept_ == pytest.approx(sk.intercept_, rel=1e-6)
    assert est.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-6)


def test_gamma_exact_fit_warns_and_fits():
    """log y exactly linear in X: the coefficients exist, the shape (1 / dispersion) does not."""
    X = np.repeat([[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [4.0, 1.0]], 4, axis=0)
    y = np.where(X[:, 1] == 3.0, 3.0, 4.0)
    with pytest.warns(lk.InferenceWarning, match="shape"):
        est = GammaRegressor().fit(X, y)
    assert np.allclose(est.predict(X), y, rtol=1e-10)
    assert est.coef_[1] == pytest.approx(np.log(3.0 / 4.0) / 2, rel=1e-10)
    assert np.all(est.bse_ < 1e-4) and est.fit_.fixed["shape"] == 1e10


def test_gamma_rejects_non_positive_y(scotland):
    X, y = scotland
    with pytest.raises(ValueError, match="y > 0"):
        GammaRegressor().fit(X, y - y.max())


# --------------------------------------------------------------------------- packaging


def test_feature_names():
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(80, 2)), columns=["age", "dose"])
    y = rng.poisson(np.exp(0.3 * X["age"]))
    est = PoissonRegressor().fit(X, y)
    assert list(est.feature_names_in_) == ["age", "dose"]
    assert list(est.conf_int().index) == ["Intercept", "age", "dose"]
    assert isinstance(est.n_iter_, int) and est.n_iter_ > 0
    # non-string column names: no feature_names_in_, generic labels
    plain = PoissonRegressor().fit(X.set_axis([0, 1], axis=1), y)
    assert not hasattr(plain, "feature_names_in_")
    assert list(plain.conf_int(level=0.9).index) == ["Intercept", "x0", "x1"]
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X.to_numpy())


def test_import_likely_does_not_import_sklearn():
    code = (
        "import sys, likely; "
        "assert 'likely.sklearn' not in sys.modules and 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_hyperparameters_raise_at_fit(spector):
    X, y = spector
    LogisticRegression(C=-1.0)  # no validation in __init__
    with pytest.raises(ValueError, match="C must be"):
        LogisticRegression(C=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="penalty"):
        LogisticRegression(penalty="elasticnet").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        PoissonRegressor(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="dispersion"):
        GammaRegressor(dispersion="x").fit(X, y + 1)
