"""Debugging misclassified images: the confusions of the model, which communities and
circuit groups drove a wrong class (diagnosis), and what removing them does (intervention)
(docs/methods.md, section 6). Built on InnerSightNet and NeurFlow."""

from .confusions import Confusions, confusions
from .diagnosis import Diagnosis, Unit, diagnose
from .intervention import Intervention, intervene

__all__ = ["Confusions", "Diagnosis", "Intervention", "Unit", "confusions", "diagnose", "intervene"]
