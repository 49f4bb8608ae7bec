"""Feature visualisation: images that maximise what a unit responds to, optimised from
noise under random moves, free of the correlations of the probe images (docs/methods.md,
section 9). A unit is a community, a debugger unit, a circuit group, a neuron or a class
logit. Built on InnerSightNet, NeurFlow and the debugger's units."""

from .objectives import LOGIT, Objective, UnitLike, objective_of
from .render import CONSTRAINTS, PARTIAL_EVERY, VIEW_SETTINGS, Visualisation, unit_objective, visualise

__all__ = [
    "CONSTRAINTS", "LOGIT", "PARTIAL_EVERY", "VIEW_SETTINGS", "Objective", "UnitLike", "Visualisation", "objective_of", "unit_objective", "visualise",
]
