"""Discrete choice: conditional (McFadden), nested and mixed logit."""

from ._api import conditional_logit as conditional_logit
from ._api import nested_logit as nested_logit
from ._data import long_from_wide as long_from_wide
from ._mixed import mixed_logit as mixed_logit
from ._result import ChoiceFit as ChoiceFit
from ._result import PredictedShares as PredictedShares
