"""innersight_widgets: what groups of neurons in an image classifier do, in Jupyter widgets.

The analysis core, the data loaders and ``load_pretrained`` load with the package; the
widgets (``CircuitView``, ``CommunityExplorer``, ``CriticalNeuronsView``,
``MisclassificationDebugger``, ``ModelDiff``) load on first
access (PEP 562), so importing the package, or using the core headless, never imports
ipywidgets or anywidget.
"""

from importlib import metadata as _metadata

from . import data
from .analysis import Analysis
from .comparison import CircuitComparison, CommunityComparison, compare
from .data import *  # exactly data.__all__
from .debugging import Confusions, Diagnosis, Intervention, Unit, diagnose, intervene
from .engine import AblationResult, LayerInfo, LayerNotFoundError, Predictions, RankFailed, TopImages
from .innersightnet import (
    Communities,
    CommunityReport,
    ConceptScore,
    Importance,
    Patch,
    Pathway,
    export_graph,
    stack_partitions,
)
from .models import load_pretrained
from .neucept import (
    CriticalNeurons,
    MechanismReport,
    Mechanisms,
    ablation_comparison,
    critical_neurons,
    evaluate_mechanisms,
    mechanisms,
    saliency,
)
from .neurflow import Circuit, build_circuit
from .visualisation import Visualisation, unit_objective, visualise

try:
    __version__: str = _metadata.version("innersight_widgets")
except _metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

# Names of innersight_widgets.widgets, imported on first access: that module imports ipywidgets.
_WIDGETS = ("CircuitView", "CommunityExplorer", "CriticalNeuronsView", "MisclassificationDebugger", "ModelDiff")

# The analysis (engine, methods, results) by name, then the data loaders' own list and the
# widgets, in forms static tools can follow; sorted once complete.
__all__ = [
    "AblationResult",
    "Analysis",
    "Circuit",
    "CircuitComparison",
    "Communities",
    "CommunityComparison",
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
    "Visualisation",
    "ablation_comparison",
    "build_circuit",
    "compare",
    "critical_neurons",
    "diagnose",
    "evaluate_mechanisms",
    "export_graph",
    "intervene",
    "load_pretrained",
    "mechanisms",
    "saliency",
    "stack_partitions",
    "unit_objective",
    "visualise",
]
__all__.extend(data.__all__)
__all__.extend(_WIDGETS)
__all__.sort()


def __getattr__(name: str) -> type:
    """Import a widget class on first access; any other unknown name is an error.

    Parameters
    ----------
    name : str
        The attribute the normal lookup did not find.

    Returns
    -------
    type
        The widget class, also stored in the module so later lookups skip this hook.

    Raises
    ------
    AttributeError
        If ``name`` is not one of the widgets.
    """
    if name not in _WIDGETS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}; its public names are in {__name__}.__all__")
    from . import widgets

    value = getattr(widgets, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's attributes, widgets included before they are loaded.

    Returns
    -------
    list of str
        Sorted attribute names.
    """
    return sorted({*globals(), *_WIDGETS})
