"""The records ``js/circuit_view.js`` reads: NeurFlow's circuit as a layered graph, a group's
details and an image's debugging (CircuitView)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...neurflow import Circuit
from ._records import Edge, Payload, Thumbnails, thumbnails
from .community_view import community_colours

# A group is lit by an image when a crop of it scores above this and above the group's own
# threshold: the log-barrier score is the mean log ratio to the group's mean activation, so
# a score at or below 0 means weaker than the group's typical crop on every neuron's average.
LIT_ABOVE = 0.0


@dataclass(frozen=True)
class CircuitNode(Payload):
    id: str
    layer: str
    level: int
    size: int
    label: str
    share: float
    x: float
    y: float
    fill: str  # by the same rule as a community's: a colour label's colour, else a hue no colour word names


@dataclass(frozen=True)
class CircuitGraph(Payload):
    nodes: list[CircuitNode]
    edges: list[Edge]
    levels: list[str]


@dataclass(frozen=True)
class Link(Payload):
    group: str
    weight: float


@dataclass(frozen=True)
class CropRef(Payload):
    crop: int
    image: int
    thumb: str


@dataclass(frozen=True)
class GroupDetails(Payload):
    owner: str
    id: str
    layer: str
    label: str  # "concept = value (share of its top probe images)" or ""
    members: list[str]
    crops: list[CropRef]
    inputs: list[Link]
    outputs: list[Link]


@dataclass(frozen=True)
class GroupMatch(Payload):
    group: str
    best: float
    threshold: float
    lit: bool
    boxes: list[list[int]]  # crops above the threshold, strongest first (at most 5)


@dataclass(frozen=True)
class DebugView(Payload):
    owner: str
    image: int
    layer: str
    height: int
    width: int
    caption: str
    rule: str  # when a group is lit, in words
    matches: list[GroupMatch]


def circuit_graph(circuit: Circuit) -> CircuitGraph:
    """Groups as nodes on levels (the class on top), edges weighted by flow."""
    graph = circuit.graph()
    levels = ["logit", *circuit.layers]
    placed = [
        (node, level, level_index, i, len(ids))
        for level_index, level in enumerate(levels)
        for ids in [[n for n, d in graph.nodes(data=True) if d["layer"] == level]]
        for i, node in enumerate(ids)
    ]
    # a label is "concept=value": the value names a colour or not
    fills = community_colours([(graph.nodes[node]["label"] or "").split("=")[-1] or None for node, *_ in placed])
    nodes = []
    for (node, level, level_index, i, count), fill in zip(placed, fills):
        d = graph.nodes[node]
        nodes.append(CircuitNode(
            node, level, level_index, int(d["size"]), d["label"] or "", round(float(d["share"]), 2),
            (i + 1) / (count + 1), level_index / max(1, len(levels) - 1), fill,
        ))
    edges = [Edge(a, b, round(float(d["weight"]), 4)) for a, b, d in graph.edges(data=True)]
    return CircuitGraph(nodes, edges, ["class " + circuit.class_name, *circuit.layers])


def group_details(circuit: Circuit, group_id: str, crops_shown: int) -> tuple[GroupDetails, Thumbnails]:
    """A group's label, members, representative crops and strongest links."""
    groups = {g.id: g for g in circuit.groups}
    if group_id not in groups:
        raise ValueError(f"there is no group {group_id!r} in this circuit; its groups are {', '.join(groups)}")
    group = groups[group_id]
    graph = circuit.graph()
    inputs = sorted(((d["weight"], a) for a, _, d in graph.in_edges(group_id, data=True)), reverse=True)
    outputs = sorted(((d["weight"], b) for _, b, d in graph.out_edges(group_id, data=True)), reverse=True)
    crops = [CropRef(int(c), int(circuit.crops[c][0]), f"crop{int(c)}") for c in group.crops[:crops_shown]]
    label = group.label
    details = GroupDetails(
        owner=f"group {group_id}",
        id=group.id,
        layer=group.layer,
        label="" if not label else f"{label['concept']} = {label['value']} ({label['share']:.0%} of its top probe images)",
        members=[f"{group.layer}:{n} concept {k}" for n, k in group.members],
        crops=crops,
        inputs=[Link(g, round(float(w), 4)) for w, g in inputs[:5]],
        outputs=[Link(g, round(float(w), 4)) for w, g in outputs[:5]],
    )
    return details, thumbnails(details.owner, {c.thumb: circuit.crop_image(c.crop) for c in crops})


def debug_view(circuit: Circuit, image: int, layer: str) -> tuple[DebugView, Thumbnails]:
    """Which groups of ``layer`` the probe image ``image`` lights, and where."""
    analysis = circuit.analysis
    if isinstance(image, bool) or not isinstance(image, (int, np.integer)) or not 0 <= image < len(analysis.data):
        raise ValueError(f"image must be a probe image index in 0..{len(analysis.data) - 1}, got {image!r}")
    names = analysis.data.class_names
    thresholds = {g.id: g.threshold for g in circuit.groups_of(layer)}
    matches = [
        GroupMatch(
            m["group"], round(m["best"], 3), round(float(thresholds[m["group"]]), 3),
            bool(m["best"] > LIT_ABOVE and m["crops"]), [c["box"] for c in m["crops"][:5]],
        )
        for m in circuit.debug_image(int(image), layer)
    ]
    height, width = analysis.data.image_shape[-2:]
    owner = f"debug {layer} {image}"
    view = DebugView(
        owner=owner,
        image=int(image),
        layer=layer,
        height=int(height),
        width=int(width),
        caption=f"#{image}: {names[int(analysis.labels[image])]}, predicted {names[int(analysis.predictions.classes[image])]}",
        rule=f"lit: a crop scores above {LIT_ABOVE:g} and above the group's own threshold",
        matches=matches,
    )
    return view, thumbnails(owner, {"image": analysis.images([int(image)])[0]}, size=192)
