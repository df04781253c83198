"""Built-in families: each a likelihood the engine can fit."""

from ._base import Distribution as Distribution
from ._continuous import Beta as Beta
from ._continuous import Exponential as Exponential
from ._continuous import Gamma as Gamma
from ._continuous import Laplace as Laplace
from ._continuous import LogNormal as LogNormal
from ._continuous import Normal as Normal
from ._continuous import StudentT as StudentT
from ._continuous import Weibull as Weibull
from ._discrete import Bernoulli as Bernoulli
from ._discrete import Binomial as Binomial
from ._discrete import Categorical as Categorical
from ._discrete import Geometric as Geometric
from ._discrete import Multinomial as Multinomial
from ._discrete import NegativeBinomial as NegativeBinomial
from ._discrete import Poisson as Poisson
from ._loglogistic import LogLogistic as LogLogistic
from ._multivariate import MultivariateNormal as MultivariateNormal

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Distribution",
    "Exponential",
    "Gamma",
    "Geometric",
    "Laplace",
    "LogLogistic",
    "LogNormal",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "StudentT",
    "Weibull",
]
