"""The report of a NeurFlow circuit: its layered graph of groups, each group's crops on click."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bokeh.models import Div

from ._features import feature_strip
from ._graph import node_link_figure
from ._page import image_strip, png_data_uri, write_page

if TYPE_CHECKING:
    from ..neurflow.circuits import Circuit, Group

# Representative crops shown per group.
CROPS_PER_GROUP = 8


def circuit_html(
    circuit: Circuit, path: str | Path, visualise: bool = False, feature_options: dict[str, Any] | None = None
) -> Path:
    """Write the circuit as a standalone HTML page: the groups layer by layer (the class
    logit at the top) joined by their weighted edges; hover a group for its layer, size and
    label, click it for its representative crops (with ``visualise``, and what it looks for).

    Parameters
    ----------
    circuit : Circuit
        The circuit (from ``build_circuit``). Its crops are shown when it holds its
        analysis; a circuit loaded without one gives a page without images.
    path : str or Path
        The HTML file to write.
    visualise : bool
        Also show under each group's crops what it looks for: its feature visualisation
        (``visualise`` with the views' settings, reused from a widget when the analysis
        holds it), beside the group's threshold. Needs the circuit's analysis.
    feature_options : dict, optional
        With ``visualise``: ``visualise``'s other arguments (``mean``, ``std``, ``size``, ...).

    Returns
    -------
    Path
        The file written.
    """
    graph = circuit.graph()
    ids = list(graph.nodes)
    levels: dict[int, list[str]] = {}
    for group in ids:
        levels.setdefault(graph.nodes[group]["level"], []).append(group)
    x = {g: i - (len(row) - 1) / 2 for row in levels.values() for i, g in enumerate(row)}
    groups = {g.id: g for g in circuit.groups}
    crops = _crops(circuit, groups)
    if visualise and not circuit.has_analysis:
        raise ValueError("visualise=True needs the circuit's analysis (the model); load it with Circuit.from_json(text, analysis)")
    features = {
        g: feature_strip(circuit.analysis, group, group.threshold, "a crop shows the group above", feature_options)
        if visualise else ""
        for g, group in groups.items()
    }
    nodes = {
        "x": [x[g] for g in ids],
        "y": [-graph.nodes[g]["level"] for g in ids],
        "size": [10 + 3 * graph.nodes[g]["size"] ** 0.5 for g in ids],
        "colour": ["#d62728" if graph.nodes[g]["layer"] == "logit" else "#1f77b4" for g in ids],
        "name": ids,
        "layer": [graph.nodes[g]["layer"] for g in ids],
        "members": [graph.nodes[g]["size"] for g in ids],
        "label": [graph.nodes[g]["label"] or "-" for g in ids],
        "share": [graph.nodes[g]["share"] for g in ids],
        "images": [image_strip(crops.get(g, []), f"group {g} ({graph.nodes[g]['layer']})") + features[g] for g in ids],
    }
    row = {g: i for i, g in enumerate(ids)}
    edges = [(row[low], row[high], data["weight"]) for low, high, data in graph.edges(data=True)]
    tooltips = [
        ("group", "@name"),
        ("layer", "@layer"),
        ("concepts", "@members"),
        ("label", "@label"),
        ("label share", "@share{0.00}"),
    ]
    plot, shown = node_link_figure(
        f"circuit of {circuit.class_name}",
        nodes,
        edges,
        tooltips,
        "Click a group to see its representative crops.",
    )
    layers = " > ".join(["logit", *circuit.layers])
    about = Div(
        width=900,
        text=(
            f"<p>Class <b>{html.escape(circuit.class_name)}</b> through {html.escape(layers)}: {len(circuit.groups)} "
            f"groups of concepts, {len(circuit.edges)} weighted edges (line width). "
            + ("" if crops else "No crops: the circuit was saved without its analysis.")
            + "</p>"
        ),
    )
    return write_page(path, f"Circuit of {circuit.class_name}", [about, plot, shown])


def _crops(circuit: Circuit, groups: dict[str, Group]) -> dict[str, list[str]]:
    """Each group's first representative crops as data URIs; none without the analysis."""
    if not circuit.has_analysis:
        return {}
    return {
        g: [png_data_uri(circuit.crop_image(c)) for c in group.crops[:CROPS_PER_GROUP]]
        for g, group in groups.items()
    }
