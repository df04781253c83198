"""GLMs and multinomial logit as index models of the engine."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..._engine.constraints import real
from ..._engine.indexed import AbstractIndexModel, weighted_gram
from ._families import Family
from ._links import Link


@dataclass(frozen=True, repr=False)
class GLMModel(AbstractIndexModel):
    """y_i ~ family(mean = g^-1(x_i' beta + offset_i), extra parameters)."""

    family: Family
    link: Link
    columns: tuple[str, ...]

    @property
    def param_spec(self):
        return {"beta": real, **self.family.extra}

    @property
    def smooth(self) -> bool:  # type: ignore[override]
        return self.family.smooth

    @property
    def name(self) -> str:
        return f"GLM {self.family.name} ({self.link.name} link)"

    def __repr__(self) -> str:
        return self.name

    def element_labels(self, name, shape):
        return self.columns if name == "beta" else None

    def prepare(self, data):
        return data  # validated by lk.glm

    def index_logpdf(self, eta, params, data):
        return self.family.loglik(data["y"], eta, self.link, params, data)

    def init(self, data, weights):
        return self.start(data, weights)

    def irls_system(self, data, weights):
        """(W0, W0 z): IRLS's first-step row weights and weighted working response, where
        they differ from row to row (Poisson and NB2, log link: W0 = w mu0, z = eta0 +
        (y - mu0) / mu0, NB2 with the Poisson variance as alpha is not known yet); else None.
        """
        if self.family.name not in ("poisson", "negative_binomial") or self.link.name != "log":
            return None
        y = data["y"]
        mu = np.asarray(self.family.start_mu(y, data), dtype=float)
        z = np.log(mu) - data.get("offset", 0.0) + (y - mu) / mu
        W0 = weights * mu
        return W0, W0 * z

    def start(self, data, weights, gram=None, rhs=None):
        """IRLS's first step from mu0. `gram` is X' diag(w) X, or X' diag(W0) X with `rhs`
        = X' W0 z when the family's first step has its own row weights (`irls_system`),
        when the caller has them already (lk.glm's rank check computes them)."""
        X, y = data["X"], data["y"]
        if rhs is None and (system := self.irls_system(data, weights)) is not None:
            gram, xv = weighted_gram(X, system[0], system[1][:, None])
            rhs = xv[:, 0]
        if rhs is not None:  # Newton took a step more from the least-squares fit of log mu0
            beta = np.linalg.solve(gram, rhs)
        else:  # one least-squares step from mu0 (normal equations: X is tall)
            G = weighted_gram(X, weights) if gram is None else gram
            beta = np.linalg.solve(G, ((weights * self._start_response(data)) @ X))
        trials = data.get("trials", 1.0)
        with np.errstate(all="ignore"):
            fitted = self.link.np_inverse(X @ beta + data.get("offset", 0.0)) * trials
        if not np.all(np.isfinite(fitted)) or (self.family.name == "gamma" and np.any(fitted <= 0)):
            beta = np.zeros(X.shape[1])
            beta_eta = float(np.average(self._start_response(data), weights=weights))
            if "Intercept" in self.columns:
                beta[self.columns.index("Intercept")] = beta_eta
            fitted = self.link.np_inverse(X @ beta + data.get("offset", 0.0)) * trials
        return {"beta": beta, **self.family.extra_init(y, fitted, data)}

    def _start_response(self, data):
        """The response of the least-squares start: eta0 = link(mu0) less the offset, or for a
        binary logit IRLS's working response (its weight mu0 (1 - mu0) = 3/16 is the same in
        every row, so the caller's X' diag(w) X serves: IRLS's exact first step)."""
        y = data["y"]
        mu = np.asarray(self.family.start_mu(y, data), dtype=float)
        mean = mu / data["trials"] if "trials" in data else mu
        with np.errstate(all="ignore"):
            eta = self.link.np_link(mean)
        eta = np.where(np.isfinite(eta), eta, 0.0)
        if self.family.name == "binomial" and self.link.name == "logit" and "trials" not in data:
            eta = eta + (y - mean) / (mean * (1.0 - mean))
        return eta - data.get("offset", 0.0)

    def mle(self, data, weights):
        """Closed form for Gaussian identity (weighted least squares); LAD for Laplace."""
        name = self.family.name
        if self.link.name != "identity" or name not in ("gaussian", "laplace"):
            return None
        X, y = data["X"], data["y"] - data.get("offset", 0.0)
        if name == "gaussian":
            beta = _weighted_least_squares(X, y, weights)
            r = y - X @ beta
            sigma = float(np.sqrt(np.sum(weights * r * r) / weights.sum()))
            rms = float(np.sqrt(np.average(y * y, weights=weights)))
            if sigma <= 16 * np.finfo(float).eps * rms:
                sigma = 0.0  # residuals of round-off: y = X beta exactly, sigma on the boundary
            return {"beta": beta, "sigma": sigma}
        beta = _least_absolute_deviations(X, y, weights)
        return {
            "beta": beta,
            "scale": float(np.sum(weights * np.abs(y - X @ beta)) / weights.sum()),
        }

    def expected_information(self, params, data, weights):
        extra_info = getattr(self.family, "extra_information", None)
        if self.family.extra and (extra_info is None or len(self.family.extra) > 1):
            return None
        eta = data["X"] @ params["beta"] + data.get("offset", 0.0)
        fw = np.asarray(self.family.fisher_weight(jnp.asarray(eta), self.link, params, data))
        info_beta = weighted_gram(data["X"], weights * fw)
        if not self.family.extra:
            return info_beta
        p = info_beta.shape[0]
        full = np.zeros((p + 1, p + 1))
        full[:p, :p] = info_beta
        assert extra_info is not None
        full[p:, p:] = extra_info(params, float(weights.sum()))
        return full


def _weighted_least_squares(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """By QR of sqrt(w) X (accurate for ill-conditioned designs; X is checked full rank)."""
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    return np.linalg.solve(R, Q.T @ (y * sw))


def _least_absolute_deviations(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """min sum w |y - X b| as a linear programme (HiGHS): b free, u, v >= 0, Xb + u - v = y."""
    from scipy.optimize import linprog
    from scipy.sparse import eye, hstack

    n, p = X.shape
    c = np.concatenate([np.zeros(p), w, w])
    A = hstack([X, eye(n), -eye(n)], format="csr")
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    res = linprog(c, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:
        from ..._engine.errors import ModelError

        raise ModelError(f"least absolute deviations failed: {res.message}")
    return np.asarray(res.x[:p])


@dataclass(frozen=True, repr=False)
class MultinomialLogitModel(AbstractIndexModel):
    """P(y = k) = softmax(x' beta_k), beta_0 = 0 for the reference level (the first)."""

    columns: tuple[str, ...]
    levels: tuple[str, ...]

    @property
    def n_index(self) -> int:  # type: ignore[override]
        return len(self.levels) - 1

    @property
    def param_spec(self):
        return {"beta": real}

    @property
    def name(self) -> str:
        return f"multinomial logit ({len(self.levels)} levels, reference {self.levels[0]!r})"

    def __repr__(self) -> str:
        return self.name

    def element_labels(self, name, shape):
        return tuple(f"{c}[{lev}]" for c in self.columns for lev in self.levels[1:])

    def prepare(self, data):
        return data

    def index_logpdf(self, eta, params, data):
        full = jnp.concatenate([jnp.zeros((eta.shape[0], 1)), eta], axis=1)
        y = data["y"].astype(jnp.int32)
        return jnp.take_along_axis(full, y[:, None], axis=1)[:, 0] - logsumexp(full, axis=1)

    def init(self, data, weights):
        return {"beta": np.zeros((data["X"].shape[1], len(self.levels) - 1))}

    def probabilities(self, beta: np.ndarray, X: np.ndarray) -> np.ndarray:
        eta = np.concatenate([np.zeros((X.shape[0], 1)), X @ beta], axis=1)
        eta -= eta.max(axis=1, keepdims=True)
        e = np.exp(eta)
        return e / e.sum(axis=1, keepdims=True)
