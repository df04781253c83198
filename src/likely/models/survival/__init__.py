"""Survival analysis: Cox proportional hazards and parametric (AFT) regressions."""

from ._aft import AFTFit as AFTFit
from ._aft import aft as aft
from ._cox import CoxFit as CoxFit
from ._cox import coxph as coxph
