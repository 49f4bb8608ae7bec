"""Jupyter widgets: views over the analysis core."""

from .circuit_view import CircuitView
from .community_explorer import CommunityExplorer
from .critical_view import CriticalNeuronsView
from .debugger import MisclassificationDebugger
from .model_diff import ModelDiff

__all__ = ["CircuitView", "CommunityExplorer", "CriticalNeuronsView", "MisclassificationDebugger", "ModelDiff"]
