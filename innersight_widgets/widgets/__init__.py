"""Jupyter widgets: views over the analysis core."""

from .circuit_view import CircuitView
from .community_explorer import CommunityExplorer
from .critical_view import CriticalNeuronsView

__all__ = ["CircuitView", "CommunityExplorer", "CriticalNeuronsView"]
