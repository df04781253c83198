"""Latent-variable models fitted by EM: finite mixtures and hidden Markov models."""

from ._placeholder import HMM as HMM
from ._placeholder import GaussianMixture as GaussianMixture
from ._placeholder import Mixture as Mixture
