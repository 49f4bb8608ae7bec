"""InnerSightNet: neurons grouped into communities by how alike they respond over the probe
images, and what each community does (docs/methods.md, sections 2-3).

``neurons`` builds the neuron set (z-scored profiles, correlation neighbours);
``aggregation`` partitions it (Louvain, Leiden, agglomerative, spectral); ``report``
evaluates a partition (top images, selectivity, coherence, summaries), delegating to
``importance`` (the ablation test), ``pathways`` (flow between communities, pathways into
classes) and ``concepts`` (concept AUROC, labels), which never import it; ``graphs`` draws
the neuron graph. Takes from the engine only what
:class:`innersight_widgets.engine.Probe` offers.
"""

from .aggregation import (
    LARGEST,
    MIN_STABILITY,
    Aggregator,
    Communities,
    UnreliablePartitionWarning,
    aggregator,
    check_params,
    modularity,
    reliability_caveats,
)
from .concepts import ConceptScore
from .graphs import export_graph, neuron_graph, neuron_id
from .importance import Importance
from .neurons import NeuronSet, build_neuron_set, standardisation
from .pathways import Pathway, part_id
from .report import RANKING, RANKING_TEXT, CommunityReport, Patch, stack_partitions

__all__ = [
    "LARGEST",
    "MIN_STABILITY",
    "RANKING",
    "RANKING_TEXT",
    "Aggregator",
    "Communities",
    "CommunityReport",
    "ConceptScore",
    "Importance",
    "NeuronSet",
    "Patch",
    "Pathway",
    "UnreliablePartitionWarning",
    "aggregator",
    "build_neuron_set",
    "check_params",
    "export_graph",
    "modularity",
    "neuron_graph",
    "neuron_id",
    "part_id",
    "reliability_caveats",
    "stack_partitions",
    "standardisation",
]
