"""``Analysis``: the user's one entry. A :class:`~innersight_widgets.engine.Probe` (the
streaming pass, ablation, flow, receptive fields) with the entry points of the methods
built on it: InnerSightNet's communities, their evaluation and neuron graph, and the
debugger's confusions. NeurFlow, NeuCEPT and the debugger's diagnosis take the analysis
as their first argument (``build_circuit(an, ...)``, ``critical_neurons(an, ...)``,
``diagnose(an, ...)``); docs/api.md says which style serves which work.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import networkx as nx

from ._validation import Interval, Options, validate_params
from .debugging import Confusions, confusions
from .engine import FLOW_METHOD, Probe
from .innersightnet import (
    Aggregator,
    Communities,
    CommunityReport,
    NeuronSet,
    UnreliablePartitionWarning,
    aggregator,
    check_params,
    neuron_graph,
    reliability_caveats,
)
from .innersightnet.aggregation import SEED, STABILITY_RUNS

__all__ = ["Analysis"]


class Analysis(Probe):
    """Pooled activations of chosen layers of a model over a set of probe images, and the
    methods that explain groups of its neurons.

    Constructed with the parameters of :class:`~innersight_widgets.engine.Probe` (model,
    data, layers, device, batch_size, pooling, cache_dir, progress, class_names,
    precision, profiles_dtype, memmap_threshold, refresh), whose statistics, ablation and
    flow it offers; on top: :meth:`communities`, :meth:`evaluate`, :meth:`neuron_graph`,
    :meth:`aggregator`, :meth:`neuron_set` and :meth:`confusions`.

    Example
    -------
    >>> from innersight_widgets import Analysis, load_pretrained, load_digits
    >>> an = Analysis(load_pretrained("digits-cnn"), load_digits(split="test"), progress=False)
    >>> an.profiles("conv2").shape
    (450, 32)
    """

    def confusions(self) -> Confusions:
        """The confusion table (true x predicted counts, the images of each cell) and the
        errors grouped by confusion; see :mod:`~innersight_widgets.debugging`."""
        return confusions(self)

    @validate_params({"seed": SEED, "stability_runs": STABILITY_RUNS})
    def communities(
        self,
        layers: Sequence[str] | str | None = None,
        method: Literal["louvain", "leiden", "agglomerative", "spectral"] = "louvain",
        *,
        seed: int = 0,
        stability_runs: int = 3,
        should_stop: Callable[[], bool] | None = None,
        warn: bool = True,
        **params: Any,
    ) -> Communities:
        """Partition the neurons of ``layers`` (default: all selected) into communities.

        Parameters by method (all also take ``k`` neighbours and ``min_corr`` for the
        similarity graph, on which modularity is reported):
        ``louvain``/``leiden``: ``resolution``; ``agglomerative``: ``threshold`` (a cut of
        the 1 - correlation dendrogram) and ``linkage``; ``spectral``: ``n_communities``.
        The correlation, dendrogram and embedding are computed once per set of layers, so
        calling again with a new value is fast. ``stability_runs`` re-runs with other seeds
        (agglomerative: bootstrap resamples of the images) and reports the mean adjusted
        Rand index; 0 skips it. ``should_stop`` is asked before each of those re-runs; when
        it returns True the work ends with :class:`Cancelled`.

        A partition that cannot be trusted as it is raises an
        :class:`~innersight_widgets.innersightnet.UnreliablePartitionWarning` per reason,
        saying what to do: a stability below
        :data:`~innersight_widgets.innersightnet.MIN_STABILITY` (0.5), or no more probe
        images than living neurons (docs/methods.md, section 3.3). ``warn=False`` keeps
        quiet (a widget that shows the reasons itself);
        :func:`~innersight_widgets.innersightnet.reliability_caveats` gives them.
        """
        grouped = aggregator(self, layers)
        found = grouped.communities(method, params, seed, stability_runs, should_stop)
        if warn:
            for caveat in reliability_caveats(found, grouped.neurons.z.shape[0]):
                warnings.warn(caveat, UnreliablePartitionWarning, stacklevel=3)  # past validate_params' wrapper
        return found

    def aggregator(self, layers: Sequence[str] | str | None = None) -> Aggregator:
        """The aggregator of ``layers`` (default: all selected): their neuron set with the
        correlation, dendrograms and embeddings it has computed, kept per set of layers."""
        return aggregator(self, layers)

    def neuron_set(self, layers: Sequence[str] | str | None = None) -> NeuronSet:
        """The neurons of ``layers`` with their z-scored profiles and correlations."""
        return aggregator(self, layers).neurons

    def evaluate(self, communities: Communities | Sequence[Communities]) -> CommunityReport:
        """Top images and patches, class selectivity, ablation importance against random sets,
        coherence, flow between communities, pathways into classes, and concept labels of each
        community; a list of partitions of disjoint layers (e.g. one per layer) is evaluated
        as one (docs/methods.md, section 3.6)."""
        return CommunityReport(self, communities)

    @validate_params({
        "flow": Options(*FLOW_METHOD.values, None, meaning="how flow edges are measured; None: no flow edges"),
        "flow_top": Interval(int, 1, meaning="the strongest inputs kept per upper neuron"),
    })
    def neuron_graph(
        self,
        layers: Sequence[str] | str | None = None,
        k: int = 10,
        min_corr: float = 0.0,
        flow: Literal["gradient", "weights"] | None = "gradient",
        flow_top: int = 5,
        communities: Communities | None = None,
    ) -> nx.DiGraph:
        """The neuron graph of docs/methods.md: similarity edges (kNN of profile correlation)
        and flow edges between consecutive layers; export with ``export_graph``."""
        check_params("louvain", {"k": k, "min_corr": min_corr})
        return neuron_graph(self, self.ordered_layers(layers), k, min_corr, flow, flow_top, communities)
