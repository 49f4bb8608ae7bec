"""What the front ends draw, as plain typed records built by pure functions.

Each record is a frozen dataclass; the widgets' traits take it and send it as JSON, and the
JavaScript in ``js/`` reads the same field names (a test checks that). Images travel in a
:class:`Thumbnails` record whose ``owner`` names the details they belong to and whose
``ids`` name each picture, so the front end never matches pictures by position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

import numpy as np
import traitlets

from .._png import to_png
from ..analysis import Analysis
from ..data import Concept
from ..debugging import Confusions, Diagnosis, Intervention
from ..innersightnet import Communities, CommunityReport, Importance, part_id
from ..neucept import CriticalNeurons, Mechanisms
from ..neurflow import Circuit

# A group is lit by an image when a crop of it scores above this and above the group's own
# threshold: the log-barrier score is the mean log ratio to the group's mean activation, so
# a score at or below 0 means weaker than the group's typical crop on every neuron's average.
LIT_ABOVE = 0.0


#: The most classes the details panel's bar chart shows: those with the highest means.
SHOWN_CLASSES = 20

#: The most neurons :func:`neuron_points` packs: rows and communities travel as 16-bit integers.
MAX_PACKED_NEURONS = 2**15 - 1


def _number(x: Any) -> float | None:
    """A finite float rounded for display, or None (JSON has no NaN)."""
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


class Record(traitlets.Dict):
    """A trait holding one record of ``kind`` (sent as a dict); ``{}`` means nothing to show."""

    def __init__(self, kind: type, **kwargs: Any) -> None:
        self.kind = kind
        self.names = {f.name for f in fields(kind)}
        super().__init__(**kwargs)

    def validate(self, obj: Any, value: Any) -> dict:
        if is_dataclass(value) and not isinstance(value, type):
            if not isinstance(value, self.kind):
                self.error(obj, value)
            value = asdict(value)
        value = super().validate(obj, value)
        if value and set(value) != self.names:
            raise traitlets.TraitError(
                f"{self.name} takes a {self.kind.__name__} record (fields {sorted(self.names)}), got keys {sorted(value)}"
            )
        return value


@dataclass(frozen=True)
class Thumbnails:
    """PNG pictures for the details named ``owner``; ``ids[i]`` names ``pngs[i]``."""

    owner: str
    ids: list[str]
    pngs: list[bytes]


def _thumbnails(owner: str, pictures: dict[str, bytes]) -> Thumbnails:
    return Thumbnails(owner, list(pictures), list(pictures.values()))


# ------------------------------------------------------------------ communities
@dataclass(frozen=True)
class CommunityNode:
    id: int  # the community: what edges name
    community: int
    size: int
    caption: str  # the concept label shown on the disc ("" when none)
    title: str  # the hover text (in the neuron view, after the neuron's name)
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    a: int | str
    b: int | str
    w: float


@dataclass(frozen=True)
class NeuronPoints:
    """Every neuron of the neuron view, packed in little-endian binary buffers (ipywidgets
    sends ``bytes`` as binary, not JSON): 4 bytes a neuron and 5 a link.

    Neurons are the rows of ``Communities.neurons``: each layer's channels in order, so row
    ``i`` of the layer starting at row ``starts[j]`` is ``layers[j]:(i - starts[j])``.
    """

    count: int
    layers: list[str]
    starts: list[int]  # the first row of each layer
    xy: bytes  # 2 x count uint16: x, y of each neuron in the unit square, in 1/65535
    community: bytes  # count int16: each neuron's community, -1 for a dead one (not drawn)
    links: bytes  # 2 x L uint16: the rows joined by the L strongest similarity links, strongest first
    strength: bytes  # L uint8: each link's correlation, 255 = the strongest drawn
    links_of: int  # similarity links in the graph, of which L are drawn


@dataclass(frozen=True)
class CommunityGraph:
    mode: str  # "communities" or "neurons"
    nodes: list[CommunityNode]  # the communities (centres of their neurons in the neuron view)
    edges: list[Edge]  # links between communities (none in the neuron view, which has its own)
    communities: int
    neurons: NeuronPoints | None  # the neuron view's points; None for the community graph
    note: str  # what is not drawn and why ("" when everything asked for is)


@dataclass(frozen=True)
class StabilitySummary:
    """How alike re-runs' partitions are, for the partition on screen."""

    value: float | None  # mean adjusted Rand index; None while measured or when not measured
    runs: int  # re-runs compared with the partition (0: not measured)
    text: str  # e.g. "stability 0.52 (ARI over 5 other seeds)"
    meaning: str  # the figure in one line


@dataclass(frozen=True)
class ConceptScore:
    concept: str
    value: str
    auroc: float


@dataclass(frozen=True)
class TopImage:
    index: int
    label: str
    predicted: str
    score: float
    thumb: str


@dataclass(frozen=True)
class Patch:
    index: int
    neuron: str
    box: list[int]
    thumb: str


@dataclass(frozen=True)
class ImportanceSummary:
    """The importance test so far: the community's own drop, then the random sets filling in."""

    accuracy_drop: float
    class_drop: list[float | None]
    draws: int  # random sets done
    total_draws: int
    images: int  # probe images the test ran on
    probe_images: int
    null_mean: float | None
    null_std: float | None
    null_class_mean: list[float | None]
    null_class_std: list[float | None]
    z_score: float | None
    p_value: float | None


@dataclass(frozen=True)
class CommunityDetails:
    owner: str
    community: int
    size: int
    label: ConceptScore | None
    concepts: list[ConceptScore]
    members: list[str]
    within: float | None
    outside: float | None
    classes: list[str]  # the classes the bar chart shows (with probe images; at most SHOWN_CLASSES)
    class_means: list[float]
    classes_of: int  # the model's number of classes
    selectivity: float | None
    images: list[TopImage]
    patches: list[Patch]
    importance: ImportanceSummary | None


def community_labels(report: CommunityReport, shown: int) -> list[ConceptScore | None]:
    """The concept label of each community (None beyond the ``shown`` largest or when none fits)."""
    k = report.num_communities
    labels = report.labels(list(range(min(k, shown)))) + [None] * max(0, k - shown)
    return [None if s is None else ConceptScore(s.concept, s.value, round(s.auroc, 3)) for s in labels]


def community_graph(
    report: CommunityReport,
    positions: dict[str, tuple[float, float]],
    edges: list[Edge],
    labels: list[ConceptScore | None],
    neurons: NeuronPoints | None = None,
    note: str = "",
) -> CommunityGraph:
    """The graph of communities (``positions`` keyed ``"c<k>"``); with ``neurons``, the neuron
    view drawn around those positions. ``note`` says what is not drawn and why."""
    communities = report.communities

    def named(label: ConceptScore | None) -> str:
        return "" if label is None else f"{label.concept} = {label.value} (AUROC {label.auroc:.2f})"

    nodes = [
        CommunityNode(
            c, c, int(size), "" if label is None else label.value,
            f"community {c}: {int(size)} neurons" + ("" if label is None else f", {named(label)}"),
            *positions[f"c{c}"],
        )
        for c, (size, label) in enumerate(zip(communities.sizes, labels))
    ]
    mode = "communities" if neurons is None else "neurons"
    return CommunityGraph(mode, nodes, edges, communities.num_communities, neurons, note)


def neuron_points(
    communities: Communities,
    xy: np.ndarray,
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
    max_links: int,
) -> NeuronPoints:
    """The neuron view's points, packed, with the ``max_links`` strongest similarity links.

    Parameters
    ----------
    communities : Communities
        The partition drawn; its M neurons are the points.
    xy : np.ndarray
        M x 2 positions in the unit square (a dead neuron's is not drawn).
    links : tuple of np.ndarray
        The similarity graph's edges: rows, columns and weights (correlations), L each.
    max_links : int
        The most links kept, strongest first.

    Returns
    -------
    NeuronPoints
        Positions in 1/65535 of the square, communities, and the kept links.
    """
    m = len(communities.neurons)
    if m > MAX_PACKED_NEURONS:
        raise ValueError(
            f"the neuron view packs neurons as 16-bit integers: at most {MAX_PACKED_NEURONS:,} neurons, got {m:,}"
        )
    if xy.shape != (m, 2) or not np.isfinite(xy).all() or xy.min(initial=0) < 0 or xy.max(initial=0) > 1:
        raise ValueError(f"xy must be {m} x 2 finite positions in [0, 1], got shape {xy.shape}")
    rows, cols, weights = links
    strongest = np.argsort(-weights, kind="stable")[:max_links]
    top = float(weights[strongest[0]]) if strongest.size else 1.0
    layers = communities.layers
    names = [layer for layer, _ in communities.neurons]
    return NeuronPoints(
        count=m,
        layers=layers,
        starts=[names.index(layer) for layer in layers],
        xy=np.round(xy * 65535).astype("<u2").tobytes(),
        community=communities.labels.astype("<i2").tobytes(),
        links=np.stack([rows[strongest], cols[strongest]], axis=1).astype("<u2").tobytes(),
        strength=np.round(weights[strongest] / top * 255).astype(np.uint8).tobytes(),
        links_of=int(weights.size),
    )


def stability_summary(
    method: str, runs: int, measured: Communities | None = None, waiting: bool = False
) -> StabilitySummary:
    """The stability figure of a partition in words.

    Parameters
    ----------
    method : str
        The partition's method: the agglomerative one is compared over bootstrap resamples
        of the images, the others over other seeds.
    runs : int
        Re-runs asked for; 0: not measured.
    measured : Communities, optional
        The partition computed with ``stability_runs=runs``; None while it is computing.
    waiting : bool
        Not measured until asked for (re-runs that would take seconds each).

    Returns
    -------
    StabilitySummary
        The value (None until measured, or with fewer than 2 living neurons) and its words.
    """
    plural = "" if runs == 1 else "s"
    against = f"{runs} bootstrap resample{plural} of the images" if method == "agglomerative" else f"{runs} other seed{plural}"
    meaning = "how often two runs agree; 1 = always the same partition, 0 = no more alike than chance"
    if runs == 0:
        return StabilitySummary(None, 0, "stability not measured (stability runs: 0)", meaning)
    if waiting:
        return StabilitySummary(None, runs, "stability not measured yet: each bootstrap re-run rebuilds the dendrogram "
                                "of these neurons (seconds); press measure stability", meaning)
    if measured is None:
        return StabilitySummary(None, runs, f"stability: re-running over {against} …", meaning)
    if measured.stability is None:
        return StabilitySummary(None, runs, "stability: nothing to compare (fewer than 2 living neurons)", meaning)
    return StabilitySummary(_number(measured.stability), runs, f"stability {measured.stability:.2f} (ARI over {against})", meaning)


def community_details(report: CommunityReport, c: int, top_k: int, owner: str) -> tuple[CommunityDetails, Thumbnails]:
    """Everything the details panel shows for community ``c`` but the importance test."""
    an = report.analysis
    names = an.data.class_names
    predicted = an.predictions.classes
    images = report.top_images(c, top_k)
    patches = report.patches(c, top_k)
    means, selectivity = report.class_selectivity()
    within, outside = report.coherence()
    label = report.label(c)
    # the classes with probe images, in the model's order; of many, the highest means
    present = np.flatnonzero(~np.isnan(means[:, c]))
    if len(present) > SHOWN_CLASSES:
        present = np.sort(present[np.argsort(-means[present, c], kind="stable")[:SHOWN_CLASSES]])
    shown = present.tolist()
    pictures = dict(zip(images.tolist(), an.images(images)))
    extra = sorted({p.image for p in patches} - set(pictures))
    pictures.update(zip(extra, an.images(extra)) if extra else ())
    tops = [
        TopImage(int(i), names[int(an.labels[i])], names[int(predicted[i])], round(float(report.scores[i, c]), 3), f"image{int(i)}")
        for i in images
    ]
    crops = [Patch(p.image, f"{p.layer}:{p.neuron}", list(p.box), f"patch{n}") for n, p in enumerate(patches)]
    pngs = {t.thumb: to_png(pictures[t.index]) for t in tops}
    pngs.update({q.thumb: to_png(pictures[p.image], p.box) for q, p in zip(crops, patches)})
    details = CommunityDetails(
        owner=owner,
        community=c,
        size=int(report.communities.sizes[c]),
        label=None if label is None else ConceptScore(label.concept, label.value, round(label.auroc, 3)),
        concepts=[ConceptScore(s.concept, s.value, round(s.auroc, 3)) for s in report.concepts(c)[:5]],
        members=[f"{layer}:{index}" for layer, index in report.communities.members(c)],
        within=_number(within[c]),
        outside=_number(outside[c]),
        classes=[names[i] for i in shown],
        class_means=[round(float(means[i, c]), 4) for i in shown],
        classes_of=len(names),
        selectivity=_number(selectivity[c]),
        images=tops,
        patches=crops,
        importance=None,
    )
    return details, _thumbnails(owner, pngs)


def importance_summary(imp: Importance, total_draws: int, probe_images: int) -> ImportanceSummary:
    """An importance test, finished or partial (fewer than ``total_draws`` random sets so far)."""
    draws = len(imp.null_drops)
    return ImportanceSummary(
        accuracy_drop=round(float(imp.accuracy_drop), 4),
        class_drop=[_number(v) for v in imp.class_accuracy_drop],
        draws=draws,
        total_draws=total_draws,
        images=int(imp.images),
        probe_images=probe_images,
        null_mean=_number(imp.null_mean) if draws else None,
        null_std=_number(imp.null_std) if draws > 1 else None,
        null_class_mean=[_number(v) for v in imp.null_class_mean],
        null_class_std=[_number(v) for v in imp.null_class_std],
        z_score=_number(imp.z_score) if draws > 1 else None,
        p_value=_number(imp.p_value) if draws else None,
    )


# --------------------------------------------------------------------- pathways
@dataclass(frozen=True)
class PathwayNode:
    """A community's part in one layer (a node of :meth:`CommunityReport.flow_graph`)."""

    id: str  # the flow graph's node: "layer2:c3"
    column: int  # the layer's place, 0 lowest
    community: int
    size: int  # the community's members in this layer
    label: str  # the community's concept label ("concept=value"; "" when none)


@dataclass(frozen=True)
class PathwayClass:
    """A class, the last column, with its strongest pathways."""

    id: str  # the flow graph's node: "class:star"
    name: str
    paths: list[list[str]]  # the k strongest pathways, strongest first: part ids lowest first, then this id
    scores: list[float]  # each path's score (the share of the class's attribution it carries)


@dataclass(frozen=True)
class PathwayGraph:
    """The pathways view: layers as columns (lowest first), then the classes."""

    layers: list[str]
    nodes: list[PathwayNode]
    classes: list[PathwayClass]
    links: list[Edge]  # a = lower node id, b = upper node id (or class id), w = the edge's share
    k: int  # pathways asked for per class
    images: int  # probe images the flow is averaged over


def pathway_graph(report: CommunityReport, k: int, images: int) -> PathwayGraph:
    """The flow graph of the report's partition and each class's ``k`` strongest pathways
    (docs/methods.md, section 3.6).

    Parameters
    ----------
    report : CommunityReport
        The partition's report; its layers are the columns.
    k : int
        Pathways per class.
    images : int
        Probe images the flow between layers is averaged over (and at most as many of each
        class for the edges into the classes).

    Returns
    -------
    PathwayGraph
        Every node and edge of ``report.flow_graph(images=images)`` (links with their
        ``share``), and ``report.pathways(c, k, images=images)`` of every class with probe
        images as lists of node ids (none for a class without edges in: no probe images).
    """
    graph = report.flow_graph(images=images)
    nodes = [
        PathwayNode(node, int(d["depth"]), int(d["community"]), int(d["size"]), d["label"])
        for node, d in graph.nodes(data=True) if d["kind"] == "community"
    ]
    classes = []
    for node, d in graph.nodes(data=True):
        if d["kind"] != "class":
            continue
        name = d["target_class"]  # no edge in: no probe images of the class, or none adds to its logit
        paths = report.pathways(name, k, images=images) if graph.in_degree(node) else []
        classes.append(PathwayClass(
            node, name,
            [[part_id(layer, c) for layer, c in zip(p.layers, p.communities)] + [node] for p in paths],
            [round(p.score, 4) for p in paths],
        ))
    links = [Edge(a, b, round(float(d["share"]), 4)) for a, b, d in graph.edges(data=True)]
    return PathwayGraph(list(report.communities.layers), nodes, classes, links, k, images)


# --------------------------------------------------------------------- circuits
@dataclass(frozen=True)
class CircuitNode:
    id: str
    layer: str
    level: int
    size: int
    label: str
    share: float
    x: float
    y: float


@dataclass(frozen=True)
class CircuitGraph:
    nodes: list[CircuitNode]
    edges: list[Edge]
    levels: list[str]


@dataclass(frozen=True)
class Link:
    group: str
    weight: float


@dataclass(frozen=True)
class CropRef:
    crop: int
    image: int
    thumb: str


@dataclass(frozen=True)
class GroupDetails:
    owner: str
    id: str
    layer: str
    label: str  # "concept = value (share of its top probe images)" or ""
    members: list[str]
    crops: list[CropRef]
    inputs: list[Link]
    outputs: list[Link]


@dataclass(frozen=True)
class GroupMatch:
    group: str
    best: float
    threshold: float
    lit: bool
    boxes: list[list[int]]  # crops above the threshold, strongest first (at most 5)


@dataclass(frozen=True)
class DebugView:
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
    nodes = []
    for level_index, level in enumerate(levels):
        ids = [n for n, d in graph.nodes(data=True) if d["layer"] == level]
        for i, node in enumerate(ids):
            d = graph.nodes[node]
            nodes.append(CircuitNode(
                node, level, level_index, int(d["size"]), d["label"] or "", round(float(d["share"]), 2),
                (i + 1) / (len(ids) + 1), level_index / max(1, len(levels) - 1),
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
    return details, _thumbnails(details.owner, {c.thumb: to_png(circuit.crop_image(c.crop)) for c in crops})


def debug_view(circuit: Circuit, image: int, layer: str) -> tuple[DebugView, Thumbnails]:
    """Which groups of ``layer`` the probe image ``image`` lights, and where."""
    an = circuit.analysis
    if isinstance(image, bool) or not isinstance(image, (int, np.integer)) or not 0 <= image < len(an.data):
        raise ValueError(f"image must be a probe image index in 0..{len(an.data) - 1}, got {image!r}")
    names = an.data.class_names
    thresholds = {g.id: g.threshold for g in circuit.groups_of(layer)}
    matches = [
        GroupMatch(
            m["group"], round(m["best"], 3), round(float(thresholds[m["group"]]), 3),
            bool(m["best"] > LIT_ABOVE and m["crops"]), [c["box"] for c in m["crops"][:5]],
        )
        for m in circuit.debug_image(int(image), layer)
    ]
    height, width = an.data.image_shape[-2:]
    owner = f"debug {layer} {image}"
    view = DebugView(
        owner=owner,
        image=int(image),
        layer=layer,
        height=int(height),
        width=int(width),
        caption=f"#{image}: {names[int(an.labels[image])]}, predicted {names[int(an.predictions.classes[image])]}",
        rule=f"lit (red): a crop scores above {LIT_ABOVE:g} and above the group's own threshold",
        matches=matches,
    )
    return view, _thumbnails(owner, {"image": to_png(an.images([int(image)])[0], size=192)})


# ------------------------------------------------------------- critical neurons
@dataclass(frozen=True)
class CriticalNeuron:
    neuron: int
    w: float
    frequency: float


@dataclass(frozen=True)
class CriticalSelection:
    layer: str
    class_name: str
    fdr: float
    threshold: float | None
    neurons: list[CriticalNeuron]
    set_aside: int
    no_power_runs: int


@dataclass(frozen=True)
class MechanismImage:
    index: int
    thumb: str


@dataclass(frozen=True)
class Mechanism:
    size: int
    images: list[MechanismImage]  # the members closest to the mechanism's centre
    dominant: str  # e.g. "mostly 6: 62% of its 48 images, 7 of the 8 shown" ("" without a sub-label)


@dataclass(frozen=True)
class MechanismsView:
    owner: str
    k: int
    mechanisms: list[Mechanism]
    report: dict | None  # MechanismReport.to_dict() for the chosen sub-label
    ablation: dict | None  # ablation_comparison()


def critical_selection(critical: CriticalNeurons) -> CriticalSelection:
    """The neurons selected at ``critical.fdr``, strongest W first, with how often runs chose them."""
    selected = critical.selected
    frequency = critical.frequency
    return CriticalSelection(
        layer=critical.layer,
        class_name=critical.class_name,
        fdr=float(critical.fdr),
        threshold=_number(critical.threshold),
        neurons=[
            CriticalNeuron(int(j), round(float(critical.w[0, j]), 4), round(float(frequency[j]), 2))
            for j in selected[np.argsort(-critical.w[0, selected])]
        ],
        set_aside=int(critical.set_aside.sum()),
        no_power_runs=int(critical.no_power_runs),
    )


def mechanism_views(
    an: Analysis, found: Mechanisms, images_shown: int, truth: Concept | None, owner: str
) -> tuple[list[Mechanism], Thumbnails]:
    """Each mechanism with its ``images_shown`` most typical members (probe images of ``an``)
    and, given a sub-label concept ``truth``, its dominant value over all members and among
    the ones shown."""
    typical = [found.typical(m, images_shown) for m in range(found.k)]
    wanted = np.unique(np.concatenate(typical)) if typical else np.zeros(0, dtype=int)
    pictures = dict(zip(wanted.tolist(), an.images(wanted))) if wanted.size else {}
    out, pngs = [], {}
    for m, shown in enumerate(typical):
        members = found.members(m)
        dominant = ""
        if truth is not None:
            values, names = truth.values, truth.names
            counts = np.bincount(values[members], minlength=len(names))
            top = int(counts.argmax())
            in_shown = int(np.sum(values[shown] == top))
            dominant = (
                f"mostly {names[top]}: {counts[top] / members.size:.0%} of its {members.size} images, "
                f"{in_shown} of the {shown.size} shown"
            )
        refs = [MechanismImage(int(i), f"image{int(i)}") for i in shown]
        pngs.update({r.thumb: to_png(pictures[r.index]) for r in refs})
        out.append(Mechanism(int(members.size), refs, dominant))
    return out, _thumbnails(owner, pngs)


# -------------------------------------------------------------------- debugging
@dataclass(frozen=True)
class ConfusionTable:
    class_names: list[str]
    counts: list[list[int]]  # true class (rows) x predicted class (columns)
    accuracy: float


@dataclass(frozen=True)
class Picture:
    index: int  # the probe image
    thumb: str


@dataclass(frozen=True)
class ErrorGrid:
    owner: str
    true: int
    predicted: int
    caption: str
    images: list[Picture]
    hidden: int  # errors of the confusion beyond the ones shown


@dataclass(frozen=True)
class UnitRow:
    name: str
    label: str  # "colour = green (AUROC 0.99)" or ""
    neurons: int
    evidence: float  # the contrastive contribution made on the errors themselves: the ranking
    contribution: float
    spread: float
    this_image: float | None  # attribution on the chosen image (None: the whole confusion)
    on_errors: float  # mean attribution over the confusion's errors
    on_reference: float  # mean attribution on the correctly classified reference images
    image: Picture  # the chosen error image, else the error the unit pushes most
    box: list[int] | None  # (top, left, bottom, right) on it, None without 2-D maps
    top_images: list[Picture]


@dataclass(frozen=True)
class DiagnosisView:
    owner: str
    title: str
    image: int  # the chosen error image, -1: the whole confusion
    height: int
    width: int
    units: list[UnitRow]
    total_units: int


@dataclass(frozen=True)
class CandidateFix:
    name: str
    fix_rate: float


@dataclass(frozen=True)
class ClassCost:
    name: str
    change: float | None  # accuracy change on the other images of the class (None: none)


@dataclass(frozen=True)
class InterventionView:
    owner: str
    units: list[str]
    mode: str  # "zero" or "mean": what replaced the units' outputs
    errors: int
    fixed: int
    fix_rate: float
    alone: list[CandidateFix]  # each unit alone, when several are switched off
    image_now: str  # what the chosen error image is predicted as now ("" for the whole confusion)
    other_accuracy_change: float
    right_before_change: float
    classes: list[ClassCost]


def confusion_table(table: Confusions) -> ConfusionTable:
    """The counts of the confusion table and the accuracy."""
    return ConfusionTable(list(table.class_names), table.counts.tolist(), round(float(np.trace(table.counts) / table.counts.sum()), 4))


def error_grid(an: Analysis, true: int, predicted: int, shown: int, owner: str) -> tuple[ErrorGrid, Thumbnails]:
    """The first ``shown`` probe images of class ``true`` predicted as ``predicted``."""
    names = an.data.class_names
    images = an.confusions().images(true, predicted)
    pictures = [Picture(int(i), f"image{int(i)}") for i in images[:shown]]
    pngs = {p.thumb: to_png(x) for p, x in zip(pictures, an.images([p.index for p in pictures]))} if pictures else {}
    caption = f"{len(images)} images of {names[true]} predicted {names[predicted]}"
    return ErrorGrid(owner, true, predicted, caption, pictures, max(0, len(images) - shown)), _thumbnails(owner, pngs)


def diagnosis_view(
    an: Analysis, diagnosis: Diagnosis, image: int, shown: int, top_k: int, title: str, owner: str
) -> tuple[DiagnosisView, Thumbnails]:
    """The ``shown`` best units of ``diagnosis`` with their figures on error image ``image``
    (-1: the whole confusion, each unit on the error it pushes most) and their top images."""
    errors = diagnosis.errors.tolist()
    if image != -1 and image not in errors:
        raise ValueError(f"image {image} is not one of the {len(errors)} errors diagnosed")
    per_image, evidence = diagnosis.per_image, diagnosis.evidence
    contributions, spread = diagnosis.contributions, diagnosis.spread
    rows, wanted = [], set()
    for u, unit in enumerate(diagnosis.units[:shown]):
        row = errors.index(image) if image != -1 else int(np.argmax(per_image[u]))
        patch = diagnosis.where[u][row]
        label = unit.label
        tops = [Picture(int(i), f"image{int(i)}") for i in unit.top_images[:top_k]]
        rows.append(UnitRow(
            name=unit.name,
            label="" if label is None else f"{label.concept} = {label.value} (AUROC {label.auroc:.2f})",
            neurons=unit.num_neurons,
            evidence=round(float(evidence[u]), 4),
            contribution=round(float(contributions[u]), 4),
            spread=round(float(spread[u]), 4),
            this_image=None if image == -1 else round(float(diagnosis.attribution[u, row]), 4),
            on_errors=round(float(diagnosis.attribution[u].mean()), 4),
            on_reference=round(float(diagnosis.reference_attribution[u].mean()), 4),
            image=Picture(errors[row], f"image{errors[row]}"),
            box=None if patch is None else list(patch.box),
            top_images=tops,
        ))
        wanted.update([errors[row], *(p.index for p in tops)])
    order = sorted(wanted)
    pngs = {f"image{i}": to_png(x) for i, x in zip(order, an.images(order))} if order else {}
    height, width = an.data.image_shape[-2:]
    view = DiagnosisView(owner, title, image, int(height), int(width), rows, len(diagnosis.units))
    return view, _thumbnails(owner, pngs)


def intervention_view(result: Intervention, image: int, owner: str) -> InterventionView:
    """All the switched-off units together (the last candidate), each alone, and the cost;
    ``image`` (-1: none) is the chosen error image."""
    names, errors = result.class_names, result.errors.tolist()
    together = -1
    fixed = result.now_predicted[together] == result.true
    return InterventionView(
        owner=owner,
        units=result.names[:-1] if len(result.names) > 1 else list(result.names),
        mode=result.mode,
        errors=len(errors),
        fixed=int(fixed.sum()),
        fix_rate=round(float(result.fix_rate[together]), 4),
        alone=[CandidateFix(n, round(float(f), 4)) for n, f in zip(result.names[:-1], result.fix_rate[:-1])],
        image_now="" if image == -1 else names[int(result.now_predicted[together, errors.index(image)])],
        other_accuracy_change=round(float(result.other_accuracy_change[together]), 4),
        right_before_change=round(float(result.right_before_change[together]), 4),
        classes=[ClassCost(n, _number(v)) for n, v in zip(names, result.other_class_accuracy_change[together])],
    )
