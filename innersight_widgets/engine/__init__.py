"""The engine: runs the model over the probe images and keeps what the pass measured.

It imports no method. What a method (InnerSightNet, NeurFlow, NeuCEPT, debugging) may
rely on is exactly the names below: the :class:`Probe` and its public members, the
runner's hooked forward, the records of the pass, the Integrated Gradients primitives,
and the declared constraints of the probe's arguments (``ABLATION_MODE``,
``FLOW_METHOD``). Everything else in this package is private to it.
"""

from ._distributed import RankFailed
from ._ig import SCORES, integrated_gradients, step_mean_gradient
from ._layers import LayerInfo, LayerNotFoundError
from .html import write_html
from .probe import ABLATION_MODE, FLOW_METHOD, AblationSpec, Probe, cached_analyses
from .records import AblationResult, Predictions, TopImages, class_means, pandas_module
from .runner import Cancelled, ModelRunner, Precision, channel_replacer, chunks, neurons_first, pooled

__all__ = [
    "ABLATION_MODE",
    "FLOW_METHOD",
    "SCORES",
    "AblationResult",
    "AblationSpec",
    "Cancelled",
    "LayerInfo",
    "LayerNotFoundError",
    "ModelRunner",
    "Precision",
    "Predictions",
    "Probe",
    "RankFailed",
    "TopImages",
    "cached_analyses",
    "channel_replacer",
    "chunks",
    "class_means",
    "integrated_gradients",
    "neurons_first",
    "pandas_module",
    "pooled",
    "step_mean_gradient",
    "write_html",
]
