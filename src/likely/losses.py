r"""Loss functions are negative log-likelihoods: ``lk.losses``.

Each function here carries the name, arguments and conventions of its namesake in
``torch.nn.functional`` and returns the value PyTorch returns, computed in ``jax.numpy``
(float64; usable under ``jax.jit``, ``jax.grad`` and ``jax.hessian``). Each also takes
``exact=True``, which returns instead the true negative log-likelihood (NLL) of the family the
loss belongs to, with the same ``reduction``: the per-observation NLL (``"none"``), its sum
(``"sum"``) or its mean (``"mean"``, weighted where PyTorch weights the mean).

==================================== ================================ ==============================
loss                                 family of ``target``             dropped from the NLL
==================================== ================================ ==============================
``mse_loss``                         Normal(mean=input, sd=sigma)     1/2 log(2 pi sigma^2), and
                                                                      the factor 1 / (2 sigma^2)
``l1_loss``                          Laplace(loc=input, scale=b)      log(2 b), and the factor 1 / b
``binary_cross_entropy``             Bernoulli(p=input)               nothing (logs clamped at -100)
``binary_cross_entropy_with_logits`` Bernoulli(p=sigmoid(input))      nothing
``cross_entropy``                    Categorical(p=softmax(input))    nothing
``poisson_nll_loss``                 Poisson(rate=e^input or input)   log(y!); with full=True only
                                                                      log(y!) - Stirling(y) ~ 1/12y
``gaussian_nll_loss``                Normal(mean=input, variance=var) 1/2 log(2 pi); with full=True
                                                                      nothing
==================================== ================================ ==============================

The lesson: a dropped constant, or a positive factor, does not depend on the mean parameters,
so minimising the loss over a model's coefficients gives the maximum-likelihood coefficients
(the fit of ``lk.glm`` with the matching family). What the loss does not give: the scale
(sigma, b), the log-likelihood itself (for AIC, BIC, likelihood-ratio tests) and, where a
factor was dropped, standard errors on the right scale; these need the full NLL, which
``exact=True`` gives.

Arguments are keyword-only after the ones PyTorch's users pass by position (PyTorch's
deprecated ``size_average`` and ``reduce`` are not accepted, so a positional call that would
reach them fails instead of binding the wrong argument). PyTorch's value checks (probabilities
in [0, 1], class indices in range, var >= 0) raise ``ValueError`` on concrete arrays; under
``jax.jit`` the values cannot be inspected and are not checked.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import gammaln

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "gaussian_nll_loss",
    "l1_loss",
    "mse_loss",
    "poisson_nll_loss",
]

_LOG_2PI = math.log(2 * math.pi)
_REDUCTIONS = ("mean", "sum", "none")
#: PyTorch's lower bound on the logs in binary_cross_entropy
_BCE_LOG_MIN = -100.0
#: PyTorch's floor on p (1 - p) in binary_cross_entropy's gradient: 1e-12 as a float32
_BCE_GRAD_EPS = float(np.float32(1e-12))


# --------------------------------------------------------------------------------------------
# helpers


def _f64(a: Any) -> jax.Array:
    return jnp.asarray(a, dtype=jnp.float64)


def _concrete(a: Any) -> np.ndarray | None:
    """The values of `a` as numpy, or None while tracing (under jit the values are unknown)."""
    if isinstance(a, jax.core.Tracer):
        return None
    return np.asarray(a)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def _weighted_reduce(
    loss: jax.Array, weight: Any, reduction: str, input_shape: tuple[int, ...]
) -> jax.Array:
    """mse_loss / l1_loss: weights of the input's shape; the mean is sum(w l) / sum(w)."""
    if weight is None:
        return _reduce(loss, reduction)
    w = _f64(weight)
    if w.shape != input_shape:
        raise ValueError("Weights and input must have the same size.")
    wl = loss * w
    if reduction == "mean":
        return jnp.sum(wl) / jnp.sum(w)
    return _reduce(wl, reduction)


def _warn_broadcast(x: jax.Array, y: jax.Array) -> None:
    if x.shape != y.shape:
        warnings.warn(
            f"Using a target size ({y.shape}) that is different to the input size ({x.shape}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def _check_unit(a: Any, what: str) -> None:
    v = _concrete(a)
    if v is not None and not np.all((v >= 0) & (v <= 1)):
        raise ValueError(f"all elements of {what} should be between 0 and 1")


def _xlogy(y: jax.Array, x: jax.Array) -> jax.Array:
    """y log x with 0 log 0 = 0, and a gradient that is finite where y == 0."""
    zero = y == 0
    return jnp.where(zero, 0.0, y * jnp.log(jnp.where(zero, 1.0, x)))


# --------------------------------------------------------------------------------------------
# Gaussian: mse_loss, gaussian_nll_loss


def mse_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
    weight: Any = None,
    exact: bool = False,
    sigma: Any = None,
) -> jax.Array:
    r"""Mean squared error: the Normal negative log-likelihood, rescaled and shifted.

    PyTorch: ``(input - target) ** 2``, reduced (``weight``, of the input's shape, multiplies
    each term and the mean becomes ``sum(w l) / sum(w)``). A target of another shape is
    broadcast, with PyTorch's warning.

    Family: ``target ~ Normal(mean=input, sd=sigma)``, density
    ``f(y) = exp(-(y - mu)^2 / (2 sigma^2)) / sqrt(2 pi sigma^2)``, so per observation

        NLL = (y - mu)^2 / (2 sigma^2) + 1/2 log(2 pi sigma^2)
        MSE term = (y - mu)^2 = 2 sigma^2 (NLL - 1/2 log(2 pi sigma^2)).

    Dropped: the additive constant 1/2 log(2 pi sigma^2) and the factor 1 / (2 sigma^2). With
    sigma fixed neither depends on mu, so least squares is maximum likelihood for the mean;
    sigma's MLE is then sqrt(mean squared residual).

    exact=True returns the NLL above (reduced as the loss), with ``sigma`` (default 1.0; a
    scalar or an array broadcastable to the input: one sd per observation) the Normal's
    standard deviation. ``sigma`` is only used with exact=True, and passing it without is an
    error.
    """
    _check_reduction(reduction)
    x, y = _f64(input), _f64(target)
    _warn_broadcast(x, y)
    xb, yb = jnp.broadcast_arrays(x, y)
    r = xb - yb
    if exact:
        s = jnp.broadcast_to(_f64(1.0 if sigma is None else sigma), r.shape)
        z = r / s
        loss = 0.5 * z * z + jnp.log(s) + 0.5 * _LOG_2PI
    else:
        if sigma is not None:
            raise ValueError("sigma is used only with exact=True (the Normal NLL)")
        loss = r * r
    return _weighted_reduce(loss, weight, reduction, x.shape)


def _var_shape(input_shape: tuple[int, ...], var: jax.Array) -> jax.Array:
    """PyTorch's checks of var's shape against the input's (homo/heteroscedastic cases)."""
    if var.shape == input_shape:
        return var
    if input_shape[:-1] == var.shape:
        return var[..., None]
    if len(input_shape) == var.ndim and (
        sum(v for i, v in zip(input_shape, var.shape) if i != v) == 1
    ):
        return var
    raise ValueError("var is of incorrect size")


@jax.custom_jvp
def _clamp_min_straight_through(v: jax.Array, eps: jax.Array) -> jax.Array:
    """max(v, eps) whose derivative is 1 everywhere: PyTorch clamps var under no_grad."""
    return jnp.maximum(v, eps)


@_clamp_min_straight_through.defjvp
def _clamp_jvp(primals, tangents):
    v, eps = primals
    dv, _ = tangents
    return jnp.maximum(v, eps), dv


def gaussian_nll_loss(
    input: Any,
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
    *,
    exact: bool = False,
) -> jax.Array:
    r"""Gaussian negative log-likelihood with a given variance, less 1/2 log(2 pi).

    PyTorch: ``0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps))``, plus
    ``0.5 log(2 pi)`` when ``full``. ``var`` has the input's shape (heteroscedastic), or one
    dimension fewer or a size-1 dimension (homoscedastic, broadcast), or is a float; negative
    entries raise. As in PyTorch the clamp at ``eps`` is applied outside autograd: the
    gradient with respect to var passes straight through the clamp (it is the derivative at
    the clamped value).

    Family: ``target ~ Normal(mean=input, variance=var)``, density
    ``f(y) = exp(-(y - mu)^2 / (2 var)) / sqrt(2 pi var)``, so per observation

        NLL = 1/2 log(2 pi) + 1/2 log(var) + (y - mu)^2 / (2 var)
        loss (full=False) = NLL - 1/2 log(2 pi);  loss (full=True) = NLL.

    Dropped: the constant 1/2 log(2 pi) (nothing with full=True, where var >= eps).

    exact=True returns the NLL at var itself (no clamp at eps, whatever ``full``), reduced
    as the loss.
    """
    _check_reduction(reduction)
    x, y = _f64(input), _f64(target)
    if isinstance(var, int | float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        v = float(var) * jnp.ones_like(x)
    else:
        v = _f64(var)
        cv = _concrete(var)
        if cv is not None and np.any(cv < 0):
            raise ValueError("var has negative entry/entries")
        v = _var_shape(x.shape, v)
    r = x - y
    if exact:
        loss = 0.5 * (_LOG_2PI + jnp.log(v) + r * r / v)
    else:
        vc = _clamp_min_straight_through(v, jnp.asarray(eps, dtype=jnp.float64))
        loss = 0.5 * (jnp.log(vc) + r * r / vc)
        if full:
            loss = loss + 0.5 * _LOG_2PI
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------------------------
# Laplace: l1_loss


def l1_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
    weight: Any = None,
    exact: bool = False,
    scale: Any = None,
) -> jax.Array:
    r"""Mean absolute error: the Laplace negative log-likelihood, rescaled and shifted.

    PyTorch: ``|input - target|``, reduced (``weight``, of the input's shape, multiplies each
    term and the mean becomes ``sum(w l) / sum(w)``). A target of another shape is broadcast,
    with PyTorch's warning. The gradient at ``input == target`` is 0, as PyTorch's.

    Family: ``target ~ Laplace(loc=input, scale=b)``, density
    ``f(y) = exp(-|y - mu| / b) / (2 b)``, so per observation

        NLL = |y - mu| / b + log(2 b)
        L1 term = |y - mu| = b (NLL - log(2 b)).

    Dropped: the additive constant log(2 b) and the factor 1 / b. Minimising it is least
    absolute deviations (median regression: ``lk.glm(family="laplace")``); b's MLE is then
    the mean absolute residual.

    exact=True returns the NLL above (reduced as the loss), with ``scale`` (default 1.0; a
    scalar or an array broadcastable to the input) the Laplace scale b. ``scale`` is only used
    with exact=True, and passing it without is an error.
    """
    _check_reduction(reduction)
    x, y = _f64(input), _f64(target)
    _warn_broadcast(x, y)
    xb, yb = jnp.broadcast_arrays(x, y)
    r = xb - yb
    a = jnp.sign(r) * r  # |r|, with PyTorch's derivative sign(r) (0 at r == 0)
    if exact:
        b = jnp.broadcast_to(_f64(1.0 if scale is None else scale), a.shape)
        loss = a / b + jnp.log(2 * b)
    else:
        if scale is not None:
            raise ValueError("scale is used only with exact=True (the Laplace NLL)")
        loss = a
    return _weighted_reduce(loss, weight, reduction, x.shape)


# --------------------------------------------------------------------------------------------
# Bernoulli: binary_cross_entropy, binary_cross_entropy_with_logits


@jax.custom_jvp
def _bce_torch(p: jax.Array, y: jax.Array) -> jax.Array:
    log_p = jnp.maximum(jnp.log(p), _BCE_LOG_MIN)
    log_q = jnp.maximum(jnp.log1p(-p), _BCE_LOG_MIN)
    return (y - 1.0) * log_q - y * log_p


def _bce_jvp(primals, tangents):
    # PyTorch's derivatives: d/dp = (p - y) / max(p (1 - p), 1e-12), d/dy = -logit(p)
    p, y = primals
    dp, dy = tangents
    out = _bce_torch(p, y)
    t = jnp.zeros_like(out)
    if not isinstance(dp, SymbolicZero):
        t = t + (p - y) / jnp.maximum(p * (1.0 - p), _BCE_GRAD_EPS) * dp
    if not isinstance(dy, SymbolicZero):
        t = t + (jnp.log1p(-p) - jnp.log(p)) * dy
    return out, t


_bce_torch.defjvp(_bce_jvp, symbolic_zeros=True)


def _bce_weight(weight: Any, shape: tuple[int, ...]) -> jax.Array | None:
    return None if weight is None else jnp.broadcast_to(_f64(weight), shape)


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    exact: bool = False,
) -> jax.Array:
    r"""Binary cross-entropy on probabilities: the Bernoulli negative log-likelihood.

    PyTorch: ``-w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]`` with p = input,
    y = target (same shape; both must lie in [0, 1]), ``weight`` w broadcast to the target's
    shape; the mean is over elements (not divided by sum(w)). The clamp of each log at -100
    is PyTorch's and is replicated: a probability of exactly 0 or 1 on the wrong side costs
    100, not infinity. So are PyTorch's gradients, d/dp = w (p - y) / max(p (1 - p), 1e-12)
    (PyTorch's 1e-12 is a float32) and d/dy = -w logit(p).

    Family: ``target ~ Bernoulli(p=input)``, pmf ``f(y) = p^y (1 - p)^(1 - y)``, y in {0, 1}:

        NLL = -[y log p + (1 - y) log(1 - p)] = the loss, unclamped.

    Dropped: nothing (for y in {0, 1}). For fractional targets y = k/n, n times the loss is
    the Binomial(n, p) NLL of k without its term -log C(n, k) (the loss drops the binomial
    coefficient).

    exact=True returns the NLL without the clamp (infinite where y = 1, p = 0 or y = 0,
    p = 1), weighted and reduced as the loss.
    """
    _check_reduction(reduction)
    p, y = _f64(input), _f64(target)
    if p.shape != y.shape:
        raise ValueError(
            f"Using a target size ({y.shape}) that is different to the input size ({p.shape}) "
            "is deprecated. Please ensure they have the same size."
        )
    _check_unit(input, "input")
    _check_unit(target, "target")
    if exact:
        loss = -(_xlogy(y, p) + _xlogy(1.0 - y, 1.0 - p))
    else:
        loss = _bce_torch(p, y)
    w = _bce_weight(weight, y.shape)
    if w is not None:
        loss = loss * w
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    pos_weight: Any = None,
    exact: bool = False,
) -> jax.Array:
    r"""Binary cross-entropy on logits: the Bernoulli negative log-likelihood, logit link.

    PyTorch: ``w [(1 - y) x - (1 + (pw - 1) y) log sigmoid(x)]`` with x = input (logits),
    y = target (same shape), ``weight`` w and ``pos_weight`` pw broadcast against the target;
    the mean is over elements. log sigmoid is computed stably (no clamp), so logits of +-30
    and beyond are exact.

    Family: ``target ~ Bernoulli(p=sigmoid(input))``, so with pw = 1

        NLL = -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]
            = (1 - y) x - log sigmoid(x) = the loss.

    Dropped: nothing. Minimising it over x = X beta is logistic regression
    (``lk.glm(family="binomial")``). pos_weight pw counts each positive pw times (a weighted
    likelihood); for fractional targets y = k/n, n times the loss is the Binomial(n, p) NLL
    without its term -log C(n, k).

    exact=True returns the same value (the loss is already the exact NLL); it is there for a
    uniform API.
    """
    _check_reduction(reduction)
    x, y = _f64(input), _f64(target)
    if x.shape != y.shape:
        raise ValueError(f"Target size ({y.shape}) must be the same as input size ({x.shape})")
    log_sig = jax.nn.log_sigmoid(x)
    if pos_weight is not None:
        log_sig = log_sig * (1.0 + (_f64(pos_weight) - 1.0) * y)
    loss = (1.0 - y) * x - log_sig
    if weight is not None:
        loss = loss * _f64(weight)
    del exact  # the loss is the exact NLL
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------------------------
# Categorical: cross_entropy


def _class_targets(target: Any, shape: tuple[int, ...]) -> jax.Array:
    t = jnp.asarray(target)
    if t.shape != shape:
        raise ValueError(
            f"class-index targets must have the input's shape without the class dimension, "
            f"{shape}, got {t.shape} (class-probability targets have the input's shape)"
        )
    if not jnp.issubdtype(t.dtype, jnp.integer):
        ct = _concrete(target)
        if ct is None or not np.all(np.floor(ct) == ct):
            raise TypeError(
                "class-index targets must be integers (PyTorch: expected scalar type Long), "
                f"got dtype {t.dtype}"
            )
        t = t.astype(jnp.int64)
    return t


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    exact: bool = False,
) -> jax.Array:
    r"""Softmax cross-entropy: the Categorical negative log-likelihood, multinomial logit.

    PyTorch's conventions: ``input`` holds logits of shape (C,), (N, C) or (N, C, d1, ...),
    the class dimension being 1 (0 for a single sample). ``target`` holds either class
    indices, of the input's shape without the class dimension (integers, or floats that are
    whole numbers), or class probabilities, of the input's own shape.

    Class indices c_n: loss_n = -w[c_n] log softmax(x_n)[c_n], 0 where c_n == ignore_index;
    the mean is sum_n loss_n / sum_n w[c_n] over the entries not ignored (NaN if all are).
    Probabilities t_n: loss_n = -sum_c w[c] t_nc log softmax(x_n)_c; the mean is over samples
    (N d1 ...), not divided by the weights. ``weight`` is a per-class rescaling of size C.
    label_smoothing eps mixes the target with the uniform distribution as PyTorch does: for
    indices, (1 - eps) * loss + eps / C * smooth with smooth_n = -sum_c w[c] log softmax(x_n)_c
    (reduced with the same denominator); for probabilities, t becomes (1 - eps) t + eps / C.

    Family: ``target ~ Categorical(p=softmax(input))``, pmf ``f(c) = p_c``:

        NLL = -log softmax(x)_c = -x_c + logsumexp(x) = the loss.

    Dropped: nothing. Minimising it over x = X B is multinomial logistic regression
    (``lk.glm(family="multinomial")``; softmax is unchanged by adding a vector to every
    class's coefficients, so only differences from a reference class are identified). With
    one-hot probability targets the loss is the same NLL; with counts y of a
    Multinomial(n, p), n times the loss on the proportions y / n is the Multinomial NLL
    without its term -log(n! / prod_c y_c!) (the loss drops the multinomial coefficient).
    Class weights make a weighted likelihood; label smoothing is a penalty, not part of any
    likelihood.

    exact=True returns the same value, the NLL (class weights and ignore_index as in the
    loss); with label_smoothing > 0 it raises ValueError, since the smoothed loss is not a
    negative log-likelihood.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if exact and label_smoothing > 0:
        raise ValueError(
            "exact=True is the Categorical NLL; label_smoothing > 0 adds a penalty that is not "
            "part of the likelihood (use exact=False for the smoothed loss)"
        )
    x = _f64(input)
    if x.ndim == 0:
        raise ValueError("cross_entropy needs logits with a class dimension, got a scalar")
    cdim = 0 if x.ndim == 1 else 1
    n_classes = x.shape[cdim]
    logp = jax.nn.log_softmax(x, axis=cdim)
    bshape = [1] * x.ndim
    bshape[cdim] = n_classes
    w = None
    if weight is not None:
        w = _f64(weight)
        if w.shape != (n_classes,):
            raise ValueError(f"weight must have one entry per class ({n_classes}), got {w.shape}")
    wb = 1.0 if w is None else w.reshape(bshape)
    eps = float(label_smoothing)

    if np.shape(target) == x.shape:  # class probabilities
        if not jnp.issubdtype(jnp.asarray(target).dtype, jnp.floating):
            raise TypeError("class-probability targets (the input's shape) must be floating point")
        t = _f64(target)
        if eps > 0:
            t = t * (1.0 - eps) + eps / n_classes
        loss = -jnp.sum(logp * t * wb, axis=cdim)
        return _reduce(loss, reduction)

    out_shape = x.shape[:cdim] + x.shape[cdim + 1 :]
    t = _class_targets(target, out_shape)
    valid = t != ignore_index
    ct = _concrete(t)
    if ct is not None:
        cv = ct[np.asarray(valid)]
        if cv.size and (cv.min() < 0 or cv.max() >= n_classes):
            raise ValueError(
                f"class-index targets must lie in [0, {n_classes}) or equal ignore_index "
                f"({ignore_index}); got values from {cv.min()} to {cv.max()}"
            )
    safe = jnp.where(valid, t, 0)
    picked = jnp.squeeze(jnp.take_along_axis(logp, jnp.expand_dims(safe, cdim), axis=cdim), cdim)
    w_t = jnp.ones(out_shape) if w is None else w[safe]
    w_t = jnp.where(valid, w_t, 0.0)
    nll = -picked * w_t
    if reduction == "mean":
        denom = jnp.sum(w_t)
        loss = jnp.sum(nll) / denom
    else:
        loss = _reduce(nll, reduction)
    if eps == 0:
        return loss
    smooth = jnp.where(valid, -jnp.sum(logp * wb, axis=cdim), 0.0)
    if reduction == "mean":
        smooth_red = jnp.sum(smooth) / denom
    else:
        smooth_red = _reduce(smooth, reduction)
    return (1.0 - eps) * loss + smooth_red * (eps / n_classes)


# --------------------------------------------------------------------------------------------
# Poisson: poisson_nll_loss


def poisson_nll_loss(
    input: Any,
    target: Any,
    log_input: bool = True,
    full: bool = False,
    *,
    eps: float = 1e-8,
    reduction: str = "mean",
    exact: bool = False,
) -> jax.Array:
    r"""Poisson negative log-likelihood less log(y!).

    PyTorch: with log_input=True (input = log rate), ``exp(input) - target * input``; with
    log_input=False (input = rate), ``input - target * log(input + eps)``. ``full=True`` adds
    Stirling's approximation to log(y!), ``y log y - y + 1/2 log(2 pi y)``, for y > 1 only
    (log(0!) = log(1!) = 0 exactly). Reduced over elements.

    Family: ``target ~ Poisson(rate=mu)``, mu = exp(input) or input, pmf
    ``f(y) = mu^y exp(-mu) / y!``, so per observation

        NLL = mu - y log mu + log(y!)
        loss (full=False) = NLL - log(y!)
        loss (full=True) = NLL - [log(y!) - Stirling(y)],  Stirling's error ~ 1/(12 y).

    Dropped: log(y!), which depends on the data only: minimising the loss over x = X beta is
    Poisson regression (``lk.glm(family="poisson")``). With log_input=False PyTorch also adds
    eps inside the log.

    exact=True returns the NLL above, with log(y!) = gammaln(y + 1), y log mu = 0 where
    y = 0 (so a rate of 0 with a count of 0 has NLL 0), and no eps (``full`` and ``eps`` are
    then unused), reduced as the loss.
    """
    _check_reduction(reduction)
    x, y = _f64(input), _f64(target)
    if exact:
        if log_input:
            loss = jnp.exp(x) - y * x
        else:
            loss = x - _xlogy(y, x)
        return _reduce(loss + gammaln(y + 1.0), reduction)
    if log_input:
        loss = jnp.exp(x) - y * x
    else:
        loss = x - y * jnp.log(x + eps)
    if full:
        big = y > 1
        ys = jnp.where(big, y, 2.0)
        stirling = ys * jnp.log(ys) - ys + 0.5 * jnp.log(2 * math.pi * ys)
        loss = loss + jnp.where(big, stirling, 0.0)
    return _reduce(loss, reduction)
