"""Generalised linear models by maximum likelihood."""

from ._api import glm as glm
from ._families import FAMILIES as FAMILIES
from ._links import LINKS as LINKS
from ._result import GLMFit as GLMFit
