"""Latent-variable models fitted by EM: finite mixtures and hidden Markov models."""

from ._em import EMReport as EMReport
from ._gmm import GaussianMixture as GaussianMixture
from ._hmm import HMM as HMM
from ._mixture import Mixture as Mixture
from ._result import HMMFit as HMMFit
from ._result import MixtureFit as MixtureFit
