"""NeuCEPT: the critical neurons of a class with a false-discovery guarantee (model-X
knockoffs), and the mechanisms they form (docs/methods.md, section 5). Takes from the
engine only what :class:`innersight_widgets.engine.Probe` offers, and its Integrated
Gradients."""

from .critical import CriticalNeurons, ablation_comparison, critical_neurons
from .mechanisms import MechanismReport, Mechanisms, evaluate_mechanisms, mechanisms
from .saliency import saliency

__all__ = [
    "CriticalNeurons",
    "MechanismReport",
    "Mechanisms",
    "ablation_comparison",
    "critical_neurons",
    "evaluate_mechanisms",
    "mechanisms",
    "saliency",
]
