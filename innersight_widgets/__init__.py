"""innersight_widgets: what groups of neurons in an image classifier do, in Jupyter widgets."""

from .core import (
    AblationResult,
    Analysis,
    Circuit,
    Communities,
    CommunityReport,
    ConceptScore,
    CriticalNeurons,
    Importance,
    LayerInfo,
    LayerNotFoundError,
    Patch,
    Predictions,
    TopImages,
    build_circuit,
    critical_neurons,
    evaluate_mechanisms,
    export_graph,
    mechanisms,
)
from .data import Concept, ImageDataset, as_image_dataset, load_digits, load_shapes
from .models import load_pretrained

__version__ = "0.1.0"

__all__ = [
    "AblationResult",
    "Analysis",
    "Circuit",
    "Communities",
    "CommunityReport",
    "Concept",
    "ConceptScore",
    "CriticalNeurons",
    "Importance",
    "Patch",
    "ImageDataset",
    "LayerInfo",
    "LayerNotFoundError",
    "Predictions",
    "TopImages",
    "as_image_dataset",
    "build_circuit",
    "critical_neurons",
    "evaluate_mechanisms",
    "export_graph",
    "mechanisms",
    "load_digits",
    "load_pretrained",
    "load_shapes",
]
