"""`lk.losses`: PyTorch's losses are negative log-likelihoods less a constant.

References: `torch.nn.functional` (values and autograd gradients, float64), scipy.stats (the
exact negative log-likelihoods, which names the dropped constant), and `lk.glm` (minimising
the PyTorch loss with torch.optim.LBFGS reaches the maximum-likelihood coefficients).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

import likely as lk
from likely import losses as L

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)  # small problems: threads only contend with JAX and pytest-xdist

REDUCTIONS = ["mean", "sum", "none"]
F64 = torch.float64


def tt(a: Any, grad: bool = False):
    """A numpy array as a torch tensor: float64, or int64 for integer arrays."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return torch.tensor(a, dtype=torch.int64)
    return torch.tensor(a, dtype=F64, requires_grad=grad)


def close(a, b, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    if isinstance(b, torch.Tensor):
        b = b.detach().numpy()
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Cases: each loss with random and edge inputs, compared with torch.nn.functional


@dataclass
class Case:
    id: str
    lk_fn: Callable[..., Any]
    torch_fn: Callable[..., Any]
    args: list[np.ndarray]
    kw: dict[str, Any] = field(default_factory=dict)
    diff: tuple[int, ...] = (0,)  # positional arguments to differentiate


def _cases() -> list[Case]:
    rng = np.random.default_rng(20261128)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    w = rng.uniform(0.2, 2.0, size=(6, 3))
    x_tie = x.copy()
    x_tie[0] = y[0]  # |x - y| has a kink at 0: PyTorch's gradient there is 0

    # probabilities, edges included: 0, 1, below exp(-100), 1 - 1e-12, 1 - 1e-17 == 1.0
    p = np.concatenate([rng.uniform(size=10), [0.0, 1.0, 1e-50, 1e-45, 1 - 1e-12, 1e-300, 0.5]])
    yb = np.concatenate([rng.integers(0, 2, 10).astype(float), [0.0, 0.0, 1.0, 0.3, 1.0, 1.0, 1.0]])
    y_frac = rng.uniform(size=p.size)
    p_in = np.clip(p, 1e-3, 1 - 1e-3)  # interior: finite gradients everywhere

    logits = np.concatenate([rng.normal(scale=3, size=10), [30.0, -30.0, 30.0, -30.0, 50.0, -50.0]])
    yl = np.concatenate([rng.integers(0, 2, 10).astype(float), [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
    wl = rng.uniform(0.5, 2.0, size=logits.size)

    C = 5
    z = rng.normal(scale=2, size=(8, C))
    cls = rng.integers(0, C, 8)
    cls_ign = cls.copy()
    cls_ign[[1, 4]] = -100
    wc = rng.uniform(0.3, 2.0, size=C)
    probs = rng.dirichlet(np.ones(C), size=8)
    z3 = rng.normal(size=(4, C, 3))
    cls3 = rng.integers(0, C, (4, 3))

    counts = np.concatenate([rng.poisson(3.0, 12), [0, 0, 1, 1, 2, 40]]).astype(float)
    log_rate = rng.normal(scale=0.8, size=counts.size)
    rate = np.exp(log_rate)
    rate_edge = rate.copy()
    rate_edge[:3] = [1e-12, 0.0, 1e-9]  # log(input + eps) near and at 0

    var = rng.uniform(0.1, 3.0, size=(6, 3))
    var_eps = var.copy()
    var_eps[0] = [1e-9, 1e-6, 1.1e-6]  # below, at and above eps: PyTorch clamps to eps

    def ce(**kw):
        return (
            lambda *a, **k: L.cross_entropy(*a, **kw, **k),
            lambda *a, **k: F.cross_entropy(*a, **kw, **k),
        )

    return [
        Case("mse", L.mse_loss, F.mse_loss, [x, y], diff=(0, 1)),
        Case("mse-weight", L.mse_loss, F.mse_loss, [x, y], {"weight": w}, diff=(0, 1)),
        Case("l1", L.l1_loss, F.l1_loss, [x_tie, y], diff=(0, 1)),
        Case("l1-weight", L.l1_loss, F.l1_loss, [x_tie, y], {"weight": w}, diff=(0, 1)),
        Case("bce-edges", L.binary_cross_entropy, F.binary_cross_entropy, [p, yb], diff=(0, 1)),
        Case(
            "bce-frac", L.binary_cross_entropy, F.binary_cross_entropy, [p_in, y_frac], diff=(0, 1)
        ),
        Case(
            "bce-weight",
            L.binary_cross_entropy,
            F.binary_cross_entropy,
            [p, yb],
            {"weight": rng.uniform(0.5, 2, p.size)},
            diff=(0, 1),
        ),
        Case(
            "bce-logits",
            L.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            [logits, yl],
            diff=(0, 1),
        ),
        Case(
            "bce-logits-frac",
            L.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            [logits, rng.uniform(size=logits.size)],
            diff=(0, 1),
        ),
        Case(
            "bce-logits-weights",
            L.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            [logits.reshape(4, 4), yl.reshape(4, 4)],
            {"weight": wl.reshape(4, 4), "pos_weight": np.array([0.5, 1.0, 2.0, 3.0])},
            diff=(0, 1),
        ),
        Case("ce", L.cross_entropy, F.cross_entropy, [z, cls]),
        Case("ce-weight", L.cross_entropy, F.cross_entropy, [z, cls], {"weight": wc}),
        Case("ce-ignore", L.cross_entropy, F.cross_entropy, [z, cls_ign]),
        Case("ce-ignore-class", *ce(ignore_index=2), [z, cls]),
        Case("ce-smooth", *ce(label_smoothing=0.2), [z, cls]),
        Case(
            "ce-weight-ignore-smooth",
            *ce(label_smoothing=0.15),
            [z, cls_ign],
            {"weight": wc},
        ),
        Case("ce-probs", L.cross_entropy, F.cross_entropy, [z, probs], diff=(0, 1)),
        Case("ce-probs-weight", L.cross_entropy, F.cross_entropy, [z, probs], {"weight": wc}),
        Case("ce-probs-smooth", *ce(label_smoothing=0.3), [z, probs], {"weight": wc}, diff=(0, 1)),
        Case("ce-nd", L.cross_entropy, F.cross_entropy, [z3, cls3], {"weight": wc}),
        Case("ce-nd-smooth", *ce(label_smoothing=0.1), [z3, cls3]),
        Case("ce-single", L.cross_entropy, F.cross_entropy, [z[0], np.array(3)]),
        Case("ce-logits-30", L.cross_entropy, F.cross_entropy, [30 * np.sign(z), cls]),
        Case("poisson", L.poisson_nll_loss, F.poisson_nll_loss, [log_rate, counts], diff=(0, 1)),
        Case(
            "poisson-full",
            L.poisson_nll_loss,
            F.poisson_nll_loss,
            [log_rate, counts],
            {"full": True},
        ),
        Case(
            "poisson-rate",
            L.poisson_nll_loss,
            F.poisson_nll_loss,
            [rate_edge, counts],
            {"log_input": False},
            diff=(0, 1),
        ),
        Case(
            "poisson-rate-full-eps",
            L.poisson_nll_loss,
            F.poisson_nll_loss,
            [rate, counts],
            {"log_input": False, "full": True, "eps": 1e-3},
        ),
        Case("gaussian", L.gaussian_nll_loss, F.gaussian_nll_loss, [x, y, var], diff=(0, 1, 2)),
        Case(
            "gaussian-eps",
            L.gaussian_nll_loss,
            F.gaussian_nll_loss,
            [x, y, var_eps],
            {"full": True},
            diff=(0, 1, 2),
        ),
        Case(
            "gaussian-eps-custom",
            L.gaussian_nll_loss,
            F.gaussian_nll_loss,
            [x, y, var],
            {"eps": 0.5},
            diff=(0, 1, 2),
        ),
        Case(
            "gaussian-homo",
            L.gaussian_nll_loss,
            F.gaussian_nll_loss,
            [x, y, var[:, 0]],
            diff=(0, 2),
        ),
        Case(
            "gaussian-homo-1",
            L.gaussian_nll_loss,
            F.gaussian_nll_loss,
            [x, y, var[:, :1]],
            diff=(0, 2),
        ),
        Case(
            "gaussian-row", L.gaussian_nll_loss, F.gaussian_nll_loss, [x, y, var[:1]], diff=(0, 2)
        ),
    ]


CASES = _cases()


def _torch_kw(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: tt(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def _cotangent(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(7).uniform(0.5, 1.5, size=shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_value_and_gradient_match_torch(case: Case, reduction: str):
    """Reference: torch.nn.functional's value and its autograd gradient (float64)."""
    t_args = [tt(a, grad=i in case.diff) for i, a in enumerate(case.args)]
    t_out = case.torch_fn(*t_args, **_torch_kw(case.kw), reduction=reduction)
    out = case.lk_fn(*case.args, **case.kw, reduction=reduction)
    assert out.dtype == jnp.float64
    assert out.shape == tuple(t_out.shape)
    close(out, t_out)

    # gradients of <cotangent, loss> with respect to the differentiable arguments
    c = _cotangent(out.shape)
    (t_out * tt(c)).sum().backward()

    def scalar(*diff_args):
        args = list(case.args)
        for i, a in zip(case.diff, diff_args):
            args[i] = a
        return jnp.sum(case.lk_fn(*args, **case.kw, reduction=reduction) * c)

    grads = jax.grad(scalar, argnums=tuple(range(len(case.diff))))(
        *[jnp.asarray(case.args[i]) for i in case.diff]
    )
    for i, g in zip(case.diff, grads):
        close(g, t_args[i].grad, rtol=1e-10, atol=1e-12)

    jitted = jax.jit(lambda *a: case.lk_fn(*a, **case.kw, reduction=reduction))
    close(jitted(*case.args), t_out)


def test_bce_clamp_at_minus_100_and_exact_has_none():
    """binary_cross_entropy caps each log at -100, as PyTorch; exact=True does not."""
    p = np.array([0.0, 1.0, 1e-50, 0.2])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    loss = L.binary_cross_entropy(p, y, reduction="none")
    close(loss, [100.0, 100.0, 100.0, -np.log(0.2)])
    exact = L.binary_cross_entropy(p, y, reduction="none", exact=True)
    close(exact, [np.inf, np.inf, 50 * np.log(10), -np.log(0.2)])


def test_bce_hessian_matches_torch():
    """Reference: torch.autograd.functional.hessian (PyTorch's double backward)."""
    rng = np.random.default_rng(3)
    p, y = rng.uniform(0.05, 0.95, 5), rng.uniform(size=5)
    h = jax.hessian(lambda q: L.binary_cross_entropy(q, y, reduction="sum"))(p)
    ht = torch.autograd.functional.hessian(
        lambda q: F.binary_cross_entropy(q, tt(y), reduction="sum"), tt(p)
    )
    close(h, ht, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Errors and warnings, as PyTorch


def test_errors_and_warnings_follow_torch():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="reduction"):
        L.mse_loss(x, x, reduction="avg")
    with pytest.warns(UserWarning, match="target size"):
        L.mse_loss(np.zeros((3, 1)), x)
    with pytest.raises(ValueError, match="same size"):
        L.l1_loss(x, x, weight=np.ones(2))
    with pytest.raises(ValueError, match="between 0 and 1"):
        L.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        L.binary_cross_entropy(np.array([0.5]), np.array([-0.5]))
    with pytest.raises(ValueError, match="same size"):
        L.binary_cross_entropy(np.array([0.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="must be the same as input size"):
        L.binary_cross_entropy_with_logits(x, np.zeros(2))
    with pytest.raises(ValueError, match="negative"):
        L.gaussian_nll_loss(x, x, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="negative"):
        L.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="incorrect size"):
        L.gaussian_nll_loss(np.zeros((4, 3)), np.zeros((4, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="in \\[0, 5\\)"):
        L.cross_entropy(np.zeros((2, 5)), np.array([0, 5]))
    with pytest.raises(TypeError, match="integers"):
        L.cross_entropy(np.zeros((2, 5)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        L.cross_entropy(np.zeros((2, 5)), np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="not part of the likelihood"):
        L.cross_entropy(np.zeros((2, 5)), np.array([0, 1]), label_smoothing=0.1, exact=True)
    with pytest.raises(ValueError, match="only with exact=True"):
        L.mse_loss(x, x, sigma=2.0)
    with pytest.raises(ValueError, match="only with exact=True"):
        L.l1_loss(x, x, scale=2.0)
    # whole-number float class indices are accepted (pandas columns are often float)
    close(
        L.cross_entropy(np.eye(3), np.array([0.0, 1.0, 2.0])), L.cross_entropy(np.eye(3), [0, 1, 2])
    )
    # all targets ignored: the mean is 0/0, as PyTorch
    t = F.cross_entropy(torch.zeros(2, 3, dtype=F64), torch.tensor([-100, -100]))
    assert np.isnan(float(L.cross_entropy(np.zeros((2, 3)), np.array([-100, -100])))) and t.isnan()


# ---------------------------------------------------------------------------------------------
# exact=True is the negative log-likelihood (scipy.stats): which constant each loss drops


def _reduced(per_obs: np.ndarray, reduction: str, weight: np.ndarray | None = None):
    if reduction == "none":
        return per_obs
    if reduction == "sum":
        return per_obs.sum()
    return per_obs.mean() if weight is None else per_obs.sum() / weight.sum()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_is_normal_nll(reduction):
    """Reference: scipy.stats.norm.logpdf. MSE = 2 sigma^2 (NLL - 1/2 log(2 pi sigma^2))."""
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=20), rng.normal(size=20)
    for sigma in (1.0, 0.7, rng.uniform(0.5, 2.0, 20)):
        nll = -st.norm.logpdf(y, loc=x, scale=sigma)
        close(
            L.mse_loss(x, y, reduction=reduction, exact=True, sigma=sigma), _reduced(nll, reduction)
        )
        if np.ndim(sigma) == 0:
            s2 = sigma**2
            const = 0.5 * np.log(2 * np.pi * s2)
            close(
                L.mse_loss(x, y, reduction=reduction), _reduced(2 * s2 * (nll - const), reduction)
            )
    close(L.mse_loss(x, y, exact=True), _reduced(-st.norm.logpdf(y, x), "mean"))  # sigma = 1
    w = rng.uniform(0.5, 2, 20)
    close(
        L.mse_loss(x, y, reduction=reduction, weight=w, exact=True, sigma=0.7),
        _reduced(-w * st.norm.logpdf(y, loc=x, scale=0.7), reduction, w),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_is_laplace_nll(reduction):
    """Reference: scipy.stats.laplace.logpdf. |y - mu| = b (NLL - log(2 b))."""
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=20), rng.laplace(size=20)
    for b in (1.0, 0.4, rng.uniform(0.5, 2.0, 20)):
        nll = -st.laplace.logpdf(y, loc=x, scale=b)
        close(L.l1_loss(x, y, reduction=reduction, exact=True, scale=b), _reduced(nll, reduction))
        close(
            L.l1_loss(x, y, reduction="none"),
            b * (-st.laplace.logpdf(y, loc=x, scale=b) - np.log(2 * b)),
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_is_bernoulli_nll(reduction):
    """Reference: scipy.stats.bernoulli.logpmf. Nothing is dropped (away from the clamp)."""
    rng = np.random.default_rng(13)
    p = np.concatenate([rng.uniform(size=30), [0.0, 1.0]])
    y = np.concatenate([rng.integers(0, 2, 30), [0, 1]]).astype(float)
    nll = -st.bernoulli.logpmf(y, p)
    close(L.binary_cross_entropy(p, y, reduction=reduction, exact=True), _reduced(nll, reduction))
    close(L.binary_cross_entropy(p, y, reduction=reduction), _reduced(nll, reduction))
    w = rng.uniform(0.5, 2, 32)
    close(
        L.binary_cross_entropy(p, y, w, reduction=reduction, exact=True),
        _reduced(w * nll, reduction),  # PyTorch's mean: over elements, not sum(w)
    )
    # binomial proportions k/n: n * loss = Binomial NLL + log C(n, k) (the NLL's -log C dropped)
    n, k = 7, rng.integers(0, 8, 30)
    q = rng.uniform(0.05, 0.95, 30)
    binom_nll = -st.binom.logpmf(k, n, q)
    log_coef = np.log(sps.comb(n, k))
    close(n * L.binary_cross_entropy(q, k / n, reduction="none", exact=True), binom_nll + log_coef)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_is_bernoulli_nll(reduction):
    """Reference: scipy.stats.bernoulli.logpmf at p = expit(x); scipy.special.log_expit for
    logits of +-30 (where expit(30) rounds)."""
    rng = np.random.default_rng(14)
    x = rng.normal(scale=2, size=30)
    y = rng.integers(0, 2, 30).astype(float)
    nll = -st.bernoulli.logpmf(y, sps.expit(x))
    for exact in (False, True):
        close(
            L.binary_cross_entropy_with_logits(x, y, reduction=reduction, exact=exact),
            _reduced(nll, reduction),
            rtol=1e-10,
        )
    xe = np.array([30.0, -30.0, 30.0, -30.0, 700.0, -700.0])
    ye = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    nll_e = -(ye * sps.log_expit(xe) + (1 - ye) * sps.log_expit(-xe))
    close(
        L.binary_cross_entropy_with_logits(xe, ye, reduction=reduction, exact=True),
        _reduced(nll_e, reduction),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_is_categorical_nll(reduction):
    """Reference: scipy.stats.multinomial.logpmf with n = 1 (the categorical). Nothing is
    dropped; with counts, n * loss on proportions drops the NLL's -log multinomial coefficient."""
    rng = np.random.default_rng(15)
    C = 4
    z = rng.normal(scale=2, size=(25, C))
    p = sps.softmax(z, axis=1)
    c = rng.integers(0, C, 25)
    onehot = np.eye(C)[c]
    nll = -np.array([st.multinomial.logpmf(onehot[i], 1, p[i]) for i in range(25)])
    for target in (c, onehot):
        close(L.cross_entropy(z, target, reduction=reduction, exact=True), _reduced(nll, reduction))
        close(L.cross_entropy(z, target, reduction=reduction), _reduced(nll, reduction))
    counts = np.array([rng.multinomial(9, p[i]) for i in range(25)])
    mult_nll = -np.array([st.multinomial.logpmf(counts[i], 9, p[i]) for i in range(25)])
    log_coef = sps.gammaln(10) - sps.gammaln(counts + 1).sum(axis=1)
    close(9 * L.cross_entropy(z, counts / 9, reduction="none", exact=True), mult_nll + log_coef)
    # class weights: a weighted likelihood, PyTorch's mean divides by the weights of the targets
    w = rng.uniform(0.5, 2.0, C)
    close(
        L.cross_entropy(z, c, w, reduction=reduction, exact=True),
        _reduced(w[c] * nll, reduction, w[c]),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_drops_log_factorial(reduction):
    """Reference: scipy.stats.poisson.logpmf. The loss is NLL - log(y!); with full=True,
    NLL - (log(y!) - Stirling(y)) for y > 1 and the NLL itself for y <= 1."""
    rng = np.random.default_rng(16)
    y = np.concatenate([rng.poisson(4.0, 30), [0, 0, 1, 2, 50]]).astype(float)
    eta = rng.normal(scale=0.7, size=y.size) + 1.0
    mu = np.exp(eta)
    nll = -st.poisson.logpmf(y, mu)
    log_fact = sps.gammaln(y + 1)
    close(L.poisson_nll_loss(eta, y, reduction=reduction, exact=True), _reduced(nll, reduction))
    close(
        L.poisson_nll_loss(mu, y, log_input=False, reduction=reduction, exact=True),
        _reduced(nll, reduction),
    )
    close(L.poisson_nll_loss(eta, y, reduction=reduction), _reduced(nll - log_fact, reduction))
    full = np.asarray(L.poisson_nll_loss(eta, y, full=True, reduction="none"))
    gap = nll - full  # log(y!) - Stirling(y): Stirling's series, about 1 / (12 y)
    small = y <= 1
    close(gap[small], 0.0)
    assert np.all(gap[~small] > 0) and np.all(gap[~small] < 1 / (12 * y[~small]))
    # a rate of 0 with a count of 0 has likelihood 1
    close(L.poisson_nll_loss(np.array([0.0]), np.array([0.0]), log_input=False, exact=True), 0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_drops_half_log_2pi(reduction):
    """Reference: scipy.stats.norm.logpdf with scale sqrt(var)."""
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    var = rng.uniform(0.1, 3.0, size=(10, 2))
    nll = -st.norm.logpdf(y, loc=x, scale=np.sqrt(var))
    close(L.gaussian_nll_loss(x, y, var, reduction=reduction, exact=True), _reduced(nll, reduction))
    close(L.gaussian_nll_loss(x, y, var, full=True, reduction=reduction), _reduced(nll, reduction))
    close(
        L.gaussian_nll_loss(x, y, var, reduction=reduction),
        _reduced(nll - 0.5 * np.log(2 * np.pi), reduction),
    )
    # exact=True does not clamp var at eps
    tiny = np.full((10, 2), 1e-8)
    nll_tiny = -st.norm.logpdf(y, loc=x, scale=1e-4)
    close(
        L.gaussian_nll_loss(x, y, tiny, reduction=reduction, exact=True),
        _reduced(nll_tiny, reduction),
        rtol=1e-10,
    )


# ---------------------------------------------------------------------------------------------
# The lesson: minimising PyTorch's loss over a GLM's coefficients is maximum likelihood


def _lbfgs(loss_fn: Callable[[Any], Any], init: np.ndarray, rounds: int = 5) -> np.ndarray:
    """Minimise loss_fn(theta) with torch.optim.LBFGS in float64, until the gradient is below
    1e-11 or the strong-Wolfe line search can no longer decrease the loss in float64."""
    theta = torch.tensor(init, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=1000,
        max_eval=2000,
        tolerance_grad=1e-12,
        tolerance_change=1e-16,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = loss_fn(theta)
        loss.backward()
        return loss

    for _ in range(rounds):
        opt.step(closure)
        if float(theta.grad.abs().max()) < 1e-11:
            break
    return theta.detach().numpy().copy()


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def test_logistic_regression_bce_with_logits_is_glm_binomial():
    """Reference: lk.glm(family="binomial") on statsmodels' spector data."""
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.spector.load_pandas().data
    fit = lk.glm("GRADE ~ GPA + TUCE + PSI", data=d, family="binomial")
    X = np.column_stack([np.ones(len(d)), d[["GPA", "TUCE", "PSI"]].to_numpy()])
    y = d.GRADE.to_numpy(float)
    Xt, yt = tt(X), tt(y)
    beta = _lbfgs(lambda b: F.binary_cross_entropy_with_logits(Xt @ b, yt), np.zeros(4))
    assert rel(beta, fit.coef) < 1e-6
    # nothing dropped: n * mean loss at the MLE is -loglik, and the MLE zeroes the loss's gradient
    coef = fit.coef.to_numpy()
    n = len(y)
    close(n * L.binary_cross_entropy_with_logits(X @ coef, y), -fit.loglik, rtol=1e-10)
    g = jax.grad(lambda b: L.binary_cross_entropy_with_logits(X @ b, y))(coef)
    assert np.max(np.abs(g)) < 1e-8
    # the same through probabilities
    p = sps.expit(X @ coef)
    close(n * L.binary_cross_entropy(p, y), -fit.loglik, rtol=1e-10)


def test_poisson_regression_poisson_nll_loss_is_glm_poisson():
    """Reference: lk.glm(family="poisson") on statsmodels' randhie data."""
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.randhie.load_pandas().data
    cols = ["lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp"]
    fit = lk.glm("mdvis ~ " + " + ".join(cols), data=d, family="poisson")
    X = np.column_stack([np.ones(len(d)), d[cols].to_numpy()])
    y = d.mdvis.to_numpy(float)
    Xt, yt = tt(X), tt(y)
    init = np.zeros(X.shape[1])
    init[0] = np.log(y.mean())
    beta = _lbfgs(lambda b: F.poisson_nll_loss(Xt @ b, yt), init)
    assert rel(beta, fit.coef) < 1e-6
    coef = fit.coef.to_numpy()
    # the dropped constant is sum log(y!)
    loss_sum = L.poisson_nll_loss(X @ coef, y, reduction="sum")
    close(loss_sum + sps.gammaln(y + 1).sum(), -fit.loglik, rtol=1e-10)
    close(L.poisson_nll_loss(X @ coef, y, reduction="sum", exact=True), -fit.loglik, rtol=1e-10)


def test_linear_regression_mse_loss_is_glm_gaussian():
    """Reference: lk.glm (Gaussian, identity link) on statsmodels' stackloss data."""
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.stackloss.load_pandas().data
    fit = lk.glm("STACKLOSS ~ AIRFLOW + WATERTEMP + ACIDCONC", data=d)
    X = np.column_stack([np.ones(len(d)), d[["AIRFLOW", "WATERTEMP", "ACIDCONC"]].to_numpy()])
    y = d.STACKLOSS.to_numpy(float)
    Xt, yt = tt(X), tt(y)
    beta = _lbfgs(lambda b: F.mse_loss(Xt @ b, yt), np.zeros(4))
    assert rel(beta, fit.coef) < 1e-6
    # what MSE drops: sigma's MLE is sqrt(MSE), and the NLL needs 1/2 log(2 pi sigma^2)
    coef = fit.coef.to_numpy()
    mse = float(L.mse_loss(X @ coef, y))
    sigma = float(fit.params["sigma"])
    close(np.sqrt(mse), sigma, rtol=1e-8)
    close(
        L.mse_loss(X @ coef, y, reduction="sum", exact=True, sigma=sigma), -fit.loglik, rtol=1e-10
    )
    # the same NLL through gaussian_nll_loss with var = sigma^2 and full=True
    close(
        L.gaussian_nll_loss(X @ coef, y, sigma**2, full=True, reduction="sum"),
        -fit.loglik,
        rtol=1e-10,
    )


def test_multinomial_logit_cross_entropy_is_glm_multinomial():
    """Reference: lk.glm(family="multinomial") on statsmodels' anes96 data. The GLM fixes the
    first level's coefficients at 0; the softmax of PyTorch's linear layer is identified only up
    to a common shift, so predicted probabilities and differences of logits are compared.

    With age and income unscaled LBFGS crawls (a gradient of 1e-5 after thousands of
    evaluations), so PyTorch fits the standardised design Z = X A, an invertible linear
    reparametrisation (X B = Z A^-1 B): its minimiser W maps back to B = A W."""
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.anes96.load_pandas().data
    cols = ["logpopul", "selfLR", "age", "educ", "income"]
    X = np.column_stack([np.ones(len(d)), d[cols].to_numpy()])
    y = d.PID.to_numpy().astype(np.int64)
    fit = lk.glm(y=d.PID, X=sm.add_constant(d[cols]), family="multinomial")
    k, C = X.shape[1], 7
    m, s = X[:, 1:].mean(axis=0), X[:, 1:].std(axis=0)
    A = np.eye(k)
    A[1:, 1:] = np.diag(1 / s)
    A[0, 1:] = -m / s
    Zt, yt = tt(X @ A), tt(y)
    w = _lbfgs(
        lambda v: F.cross_entropy(Zt @ v.reshape(k, C), yt, reduction="sum"), np.zeros(k * C)
    )
    B = A @ w.reshape(k, C)
    diffs = B[:, 1:] - B[:, :1]  # logits relative to the first level
    beta = fit.values["beta"]
    se = fit.se.to_numpy().reshape(beta.shape)
    assert np.max(np.abs(diffs - beta) / se) < 1e-6
    assert rel(diffs, beta) < 1e-5
    probs = sps.softmax(X @ B, axis=1)
    assert np.max(np.abs(probs - fit.predict().to_numpy())) < 1e-8
    eta = X @ np.column_stack([np.zeros(k), beta])
    close(L.cross_entropy(eta, y, reduction="sum", exact=True), -fit.loglik, rtol=1e-10)
    g = jax.grad(lambda b: L.cross_entropy(X @ b, y))(np.column_stack([np.zeros(k), beta]))
    assert np.max(np.abs(g)) < 1e-8
