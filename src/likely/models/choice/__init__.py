"""Discrete choice: conditional (McFadden), nested and mixed logit."""

from ._placeholder import conditional_logit as conditional_logit
from ._placeholder import long_from_wide as long_from_wide
from ._placeholder import mixed_logit as mixed_logit
from ._placeholder import nested_logit as nested_logit
