"""InnerSightNet: neurons grouped into communities by how alike they respond over the probe
images, and what each community does (docs/methods.md, sections 2-3).

``neurons`` builds the neuron set (z-scored profiles, correlation neighbours);
``aggregation`` partitions it (Louvain, Leiden, agglomerative, spectral); ``report``
evaluates a partition (top images, selectivity, importance, coherence, flow, pathways,
concepts); ``graphs`` draws the neuron graph. Takes from the engine only what
:class:`innersight_widgets.engine.Probe` offers.
"""

from .aggregation import LARGEST, Aggregator, Communities, aggregator, check_params, modularity
from .graphs import export_graph, neuron_graph, neuron_id
from .neurons import NeuronSet, build_neuron_set
from .report import CommunityReport, ConceptScore, Importance, Patch, Pathway, part_id, stack_partitions

__all__ = [
    "LARGEST",
    "Aggregator",
    "Communities",
    "CommunityReport",
    "ConceptScore",
    "Importance",
    "NeuronSet",
    "Patch",
    "Pathway",
    "aggregator",
    "build_neuron_set",
    "check_params",
    "export_graph",
    "modularity",
    "neuron_graph",
    "neuron_id",
    "part_id",
    "stack_partitions",
]
