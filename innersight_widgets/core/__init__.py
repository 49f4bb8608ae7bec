"""The analysis core: device-aware, headless, no UI imports."""

from ._layers import LayerInfo, LayerNotFoundError
from .analysis import Analysis
from .results import AblationResult, Predictions, TopImages

__all__ = ["AblationResult", "Analysis", "LayerInfo", "LayerNotFoundError", "Predictions", "TopImages"]
