"""The analysis core: device-aware, headless, no UI imports."""

from ._layers import LayerInfo, LayerNotFoundError
from .analysis import Analysis
from .circuits import Circuit, build_circuit
from .communities import Communities
from .evaluation import CommunityReport, ConceptScore, Importance, Patch
from .graphs import export_graph
from .results import AblationResult, Predictions, TopImages

__all__ = [
    "AblationResult",
    "Analysis",
    "Circuit",
    "Communities",
    "CommunityReport",
    "ConceptScore",
    "Importance",
    "LayerInfo",
    "LayerNotFoundError",
    "Patch",
    "Predictions",
    "TopImages",
    "build_circuit",
    "export_graph",
]
