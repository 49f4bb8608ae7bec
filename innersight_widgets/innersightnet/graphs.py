"""The neuron graph (similarity and flow edges) as networkx, and its export for Gephi/Cytoscape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from .aggregation import Communities, aggregator

if TYPE_CHECKING:
    from ..engine import Probe


def neuron_id(layer: str, index: int) -> str:
    return f"{layer}:{index}"


def neuron_graph(
    analysis: Probe,
    layers: list[str],
    k: int,
    min_corr: float,
    flow: str | None,
    flow_top: int,
    communities: Communities | None,
) -> nx.DiGraph:
    """Nodes: neurons with layer, index, mean, std, dead, top class (and community).
    Edges: ``similarity`` (both directions, the kNN graph) and ``flow`` (lower -> upper,
    each upper neuron's ``flow_top`` strongest inputs).

    Parameters
    ----------
    analysis : Analysis
        Supplies the profiles, correlations and flow edges.
    layers : list of str
        Selected layers, lower to upper.
    k : int
        Neighbours per neuron in the similarity graph.
    min_corr : float
        Smallest correlation an edge may have (edges are always positive).
    flow : {"gradient", "weights"} or None
        How flow edges between consecutive layers are measured; None leaves them out.
    flow_top : int
        Flow edges kept per upper neuron (its strongest positive inputs).
    communities : Communities, optional
        Adds each neuron's ``community`` attribute (-1 for dead); must be over ``layers``.

    Returns
    -------
    networkx.DiGraph
        Nodes named ``"layer:index"``.
    """
    found = aggregator(analysis, layers)
    neurons = found.neurons
    rows, cols, weights = found.edges(k, min_corr)
    graph = nx.DiGraph()
    labels = None
    if communities is not None:
        if communities.neurons != neurons.neurons:
            raise ValueError("the communities were made for other layers than this graph")
        labels = communities.labels
    class_names = analysis.data.class_names
    for layer in neurons.layers:
        profiles = analysis.profiles(layer)
        top_class = np.nanargmax(analysis.class_means(layer), axis=0)
        start, _ = neurons.offsets[layer]
        for i in range(profiles.shape[1]):
            attrs = {
                "layer": layer,
                "neuron": i,
                "mean": float(profiles[:, i].mean()),
                "std": float(profiles[:, i].std()),
                "dead": bool(neurons.dead[start + i]),
                "top_class": class_names[int(top_class[i])],
            }
            if labels is not None:
                attrs["community"] = int(labels[start + i])
            graph.add_node(neuron_id(layer, i), **attrs)
    ids = [neuron_id(layer, i) for layer, i in neurons.neurons]
    for a, b, w in zip(rows.tolist(), cols.tolist(), weights.tolist()):
        graph.add_edge(ids[a], ids[b], similarity=w)
        graph.add_edge(ids[b], ids[a], similarity=w)
    if flow is not None:
        for lower, upper in zip(layers, layers[1:]):
            f = analysis.flow(lower, upper, method=flow)
            strongest = np.argsort(-f, axis=1)[:, :flow_top]
            for u, inputs in enumerate(strongest):
                for v in inputs:
                    if f[u, v] > 0:
                        graph.add_edge(neuron_id(lower, int(v)), neuron_id(upper, u), flow=float(f[u, v]))
    return graph


def export_graph(graph: nx.Graph, path: str | Path) -> Path:
    """Write a graph as GraphML (``.graphml``, for Gephi/Cytoscape) or node-link JSON (``.json``).

    Parameters
    ----------
    graph : networkx.Graph
        E.g. :meth:`Analysis.neuron_graph`, :meth:`CommunityReport.community_graph` or
        :meth:`Circuit.graph`.
    path : str or path
        The file to write; its suffix picks the format.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For a suffix other than ``.graphml`` or ``.json``.
    """
    path = Path(path)
    if path.suffix == ".graphml":
        nx.write_graphml(graph, path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), indent=1))
    else:
        raise ValueError(f"export to .graphml or .json, not {path.suffix or 'a file without suffix'!r}")
    return path
