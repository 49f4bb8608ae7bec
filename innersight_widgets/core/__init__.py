"""The analysis core: device-aware, headless, no UI imports."""

from ._distributed import RankFailed
from ._layers import LayerInfo, LayerNotFoundError
from .analysis import Analysis
from .circuits import Circuit, build_circuit
from .communities import Communities
from .critical import (
    CriticalNeurons,
    MechanismReport,
    Mechanisms,
    ablation_comparison,
    critical_neurons,
    evaluate_mechanisms,
    mechanisms,
    saliency,
)
from .debugging import Confusions, Diagnosis, Intervention, Unit, diagnose, intervene
from .evaluation import CommunityReport, ConceptScore, Importance, Patch, Pathway, stack_partitions
from .graphs import export_graph
from .results import AblationResult, Predictions, TopImages

__all__ = [
    "AblationResult",
    "Analysis",
    "Circuit",
    "Communities",
    "CommunityReport",
    "ConceptScore",
    "Confusions",
    "CriticalNeurons",
    "Diagnosis",
    "Importance",
    "Intervention",
    "LayerInfo",
    "LayerNotFoundError",
    "MechanismReport",
    "Mechanisms",
    "Patch",
    "Pathway",
    "Predictions",
    "RankFailed",
    "TopImages",
    "Unit",
    "ablation_comparison",
    "build_circuit",
    "critical_neurons",
    "diagnose",
    "evaluate_mechanisms",
    "export_graph",
    "intervene",
    "mechanisms",
    "saliency",
    "stack_partitions",
]
