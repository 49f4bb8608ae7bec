"""The analysis core: device-aware, headless, no UI imports."""

from ._layers import LayerInfo, LayerNotFoundError
from .analysis import Analysis
from .circuits import Circuit, build_circuit
from .communities import Communities
from .critical import CriticalNeurons, critical_neurons, evaluate_mechanisms, mechanisms
from .evaluation import CommunityReport, ConceptScore, Importance, Patch
from .graphs import export_graph
from .results import AblationResult, Predictions, TopImages

__all__ = [
    "AblationResult",
    "Analysis",
    "Circuit",
    "Communities",
    "CommunityReport",
    "CriticalNeurons",
    "ConceptScore",
    "Importance",
    "LayerInfo",
    "LayerNotFoundError",
    "Patch",
    "Predictions",
    "TopImages",
    "build_circuit",
    "critical_neurons",
    "evaluate_mechanisms",
    "export_graph",
    "mechanisms",
]
