"""The records ``js/community_view.js`` reads: the community or neuron graph, the pathways,
the stability figure and a community's details (CommunityExplorer)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import networkx as nx
import numpy as np

from ...innersightnet import RANKING_TEXT, Communities, CommunityReport, ConceptScore, Importance, part_id
from ._codec import Packed
from ._records import Edge, Payload, Thumbnails, rounded, thumbnails

#: The most classes the details panel's bar chart shows: those with the highest means.
SHOWN_CLASSES = 20

#: The most neurons :func:`neuron_points` packs: rows and communities travel as 16-bit integers.
MAX_PACKED_NEURONS = 2**15 - 1

#: The weakest similarity between two communities that the community graph draws as a link.
MIN_LINK_SIMILARITY = 0.05

# How the neuron view's arrays travel (NeuronPoints): 4 bytes a neuron and 5 a link.
XY = Packed("<u2", columns=2, rows="count")  # x, y of each neuron in the unit square, in 1/65535
COMMUNITY = Packed("<i2", rows="count")  # each neuron's community, -1 for a dead one (not drawn)
LINKS = Packed("<u2", columns=2, rows="links drawn")  # the rows a link joins, strongest link first
STRENGTH = Packed("u1", rows="links drawn")  # each link's correlation, 255 = the strongest drawn


# ------------------------------------------------------------------ communities
@dataclass(frozen=True)
class CommunityNode(Payload):
    id: int  # the community: what edges name
    community: int
    size: int
    caption: str  # the concept label shown on the disc ("" when none)
    title: str  # the hover text (in the neuron view, after the neuron's name)
    x: float
    y: float


@dataclass(frozen=True)
class NeuronPoints(Payload):
    """Every neuron of the neuron view, its arrays packed by the codec (``XY``,
    ``COMMUNITY``, ``LINKS``, ``STRENGTH``).

    Neurons are the rows of ``Communities.neurons``: each layer's channels in order, so row
    ``i`` of the layer starting at row ``starts[j]`` is ``layers[j]:(i - starts[j])``.
    """

    count: int
    layers: list[str]
    starts: list[int]  # the first row of each layer
    xy: Annotated[bytes, XY]
    community: Annotated[bytes, COMMUNITY]
    links: Annotated[bytes, LINKS]  # the L strongest similarity links
    strength: Annotated[bytes, STRENGTH]
    links_of: int  # similarity links in the graph, of which L are drawn


@dataclass(frozen=True)
class CommunityGraph(Payload):
    mode: str  # "communities" or "neurons"
    nodes: list[CommunityNode]  # the communities (centres of their neurons in the neuron view)
    edges: list[Edge]  # links between communities (none in the neuron view, which has its own)
    communities: int
    neurons: NeuronPoints | None  # the neuron view's points; None for the community graph
    note: str  # what is not drawn and why ("" when everything asked for is)
    colours: list[str]  # each community's fill (CSS), in every drawing of the view


@dataclass(frozen=True)
class StabilitySummary(Payload):
    """How alike re-runs' partitions are, for the partition on screen."""

    value: float | None  # mean adjusted Rand index; None while measured or when not measured
    runs: int  # re-runs compared with the partition (0: not measured)
    text: str  # e.g. "stability 0.52 (ARI over 5 other seeds)"
    meaning: str  # the figure in one line
    warnings: list[str]  # why the partition should not be trusted, each with what to do (none: [])


@dataclass(frozen=True)
class ConceptBadge(Payload):
    """A concept value a community detects, with the AUROC of its score (a concept label)."""

    concept: str
    value: str
    auroc: float


@dataclass(frozen=True)
class TopImage(Payload):
    index: int
    label: str
    predicted: str
    score: float  # by the ranking the details show (CommunityDetails.ranking)
    thumb: str


@dataclass(frozen=True)
class PatchImage(Payload):
    """The receptive field of a member of the community on a probe image, where it peaks."""

    index: int  # the probe image
    neuron: str
    box: list[int]  # (top, left, bottom, right) on the image
    thumb: str


@dataclass(frozen=True)
class ImportanceSummary(Payload):
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
class CommunityDetails(Payload):
    owner: str
    community: int
    size: int
    label: ConceptBadge | None
    concepts: list[ConceptBadge]
    members: list[str]
    within: float | None
    outside: float | None
    classes: list[str]  # the classes the bar chart shows (with probe images; at most SHOWN_CLASSES)
    class_means: list[float]
    classes_of: int  # the model's number of classes
    selectivity: float | None
    ranking: str  # how the images are ranked: "specific" or "plain" (CommunityReport.top_images)
    ranking_text: str  # the ranking in words
    images: list[TopImage]
    patches: list[PatchImage]
    importance: ImportanceSummary | None


def _badge(score: ConceptScore) -> ConceptBadge:
    """A concept score as the front end shows it: its AUROC to 3 decimals."""
    return ConceptBadge(score.concept, score.value, round(score.auroc, 3))


def community_labels(report: CommunityReport, shown: int) -> list[ConceptBadge | None]:
    """The concept label of each community (None beyond the ``shown`` largest or when none fits)."""
    k = report.num_communities
    labels = report.labels(list(range(min(k, shown)))) + [None] * max(0, k - shown)
    return [None if s is None else _badge(s) for s in labels]


def community_edges(graph: nx.Graph) -> list[Edge]:
    """The links of a community graph (nodes ``"c<k>"``, edges with their ``similarity``)
    above :data:`MIN_LINK_SIMILARITY`, once per pair of communities."""
    pairs = {}
    for u, v, d in graph.edges(data=True):
        if d["similarity"] > MIN_LINK_SIMILARITY:
            pairs[tuple(sorted((int(u[1:]), int(v[1:]))))] = d["similarity"]
    return [Edge(a, b, round(float(sim), 3)) for (a, b), sim in pairs.items()]


def community_graph(
    report: CommunityReport,
    positions: dict[str, tuple[float, float]],
    edges: list[Edge],
    labels: list[ConceptBadge | None],
    neurons: NeuronPoints | None = None,
    note: str = "",
) -> CommunityGraph:
    """The graph of communities (``positions`` keyed ``"c<k>"``); with ``neurons``, the neuron
    view drawn around those positions. ``note`` says what is not drawn and why."""
    communities = report.communities

    def named(label: ConceptBadge | None) -> str:
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
    colours = community_colours([None if label is None else label.value for label in labels])
    return CommunityGraph(mode, nodes, edges, communities.num_communities, neurons, note, colours)


#: The fill of a community labelled with a colour name: that colour. Red and green differ in
#: lightness as well as hue, so that readers with deuteranopia still tell them apart.
NAMED_COLOURS = {
    "red": "#c0181e", "green": "#30a230", "blue": "#1f77b4", "yellow": "#e9c53a", "orange": "#f28e2b",
    "purple": "#9467bd", "violet": "#9467bd", "pink": "#f5a3c0", "brown": "#8c564b", "cyan": "#17becf",
    "magenta": "#d64fbf", "black": "#333333", "white": "#f4f4f4", "grey": "#9e9e9e", "gray": "#9e9e9e",
}
#: Fills for communities no label gives a colour (all of them, in turn, when no label names
#: one); when some label names a colour, those whose hue is
#: within :data:`HUE_APART` of a colour the labels name are left out, and the grey (last)
#: is left out while a label names black, white or grey, so that an unlabelled disc never
#: reads as one of those words. Chosen so that every two of them, the grey of dead neurons
#: (#bbb) and, on the shapes data, the four colour words' fills stay apart for readers with
#: protanopia, deuteranopia and tritanopia (CIEDE2000 >= 10 under the Machado et al. 2009
#: simulation), each with a contrast of at least 3 (WCAG's for graphics) on the light
#: (#fcfcfc) and the dark (#1c1c1c) canvas (tests/widgets/test_palette.py).
WORDLESS = ("#535cc6", "#7e9d38", "#b484a5", "#55a17b", "#8c83ff", "#337733", "#7a5f80", "#777777")
HUE_APART = 0.1
#: Below this saturation a colour counts as a grey (it names no hue).
GREY_BELOW = 0.2


def community_colours(captions: list[str | None]) -> list[str]:
    """Each community's fill, chosen so that colour never contradicts a label: a community
    captioned with a colour name ("red") is drawn in that colour; when any caption names a
    colour, the others take :data:`WORDLESS` fills whose hue no caption's colour word names,
    or its grey where no caption names black, white or grey (the grey in any case where the
    captions leave no hue free).

    Parameters
    ----------
    captions : list of str or None
        K communities' label values (None: unlabelled).

    Returns
    -------
    list of str
        K CSS colours.
    """
    named = [NAMED_COLOURS.get((caption or "").strip().lower()) for caption in captions]
    if not any(named):  # the same eight fills, in turn: no more than eight stay apart for every reader
        return [WORDLESS[c % len(WORDLESS)] for c in range(len(captions))]
    words = [_hue(fill) for fill in named if fill is not None]
    hues = [h for h, saturation in words if saturation >= GREY_BELOW]
    grey_named = len(hues) < len(words)

    def free(colour: str) -> bool:
        h, saturation = _hue(colour)
        if saturation < GREY_BELOW:
            return not grey_named
        return all(_hue_gap(h, word) >= HUE_APART for word in hues)

    def apart(colour: str) -> float:  # the hue gap to the nearest named colour; a grey counts as nearest
        h, saturation = _hue(colour)
        return min((_hue_gap(h, word) for word in hues), default=1.0) if saturation >= GREY_BELOW else 0.0

    # the hues furthest from every named colour first: the first unlabelled disc is the least
    # likely to be read as one of the words beside it
    spare = sorted((c for c in WORDLESS if free(c)), key=apart, reverse=True) or [c for c in WORDLESS if _hue(c)[1] < GREY_BELOW]
    others, seen = iter(range(len(captions))), {}
    fills = []
    for fill in named:
        if fill is None:
            fills.append(spare[next(others) % len(spare)])
        else:  # several "blue" communities: shades of blue, told apart, none another hue
            seen[fill] = seen.get(fill, -1) + 1
            fills.append(_shade(fill, seen[fill]))
    return fills


def _hue(colour: str) -> tuple[float, float]:
    """Hue (0..1, around the circle) and saturation of "#rrggbb"."""
    h, saturation, _ = colorsys.rgb_to_hsv(*(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)))
    return h, saturation


def _hue_gap(a: float, b: float) -> float:
    return min(abs(a - b), 1 - abs(a - b))


def _shade(colour: str, repeat: int) -> str:
    """``colour`` ("#rrggbb") for the ``repeat``-th other community of its name: darker,
    lighter, darker still, ... (black or white mixed in, a share growing from 0.25 by 0.15
    to 0.85; the hue stays), distinct up to 9 communities of one colour word."""
    if repeat == 0:
        return colour
    share = (-1 if repeat % 2 else 1) * min(0.85, 0.25 + 0.15 * ((repeat - 1) // 2))
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c * (1 + share)) if share < 0 else round(c + (255 - c) * share) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


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
        xy=XY.fraction(xy),
        community=COMMUNITY.pack(communities.labels),
        links=LINKS.pack(np.stack([rows[strongest], cols[strongest]], axis=1)),
        strength=STRENGTH.fraction(weights[strongest] / top),
        links_of=int(weights.size),
    )


def stability_summary(
    method: str, runs: int, measured: Communities | None = None, waiting: bool = False, caveats: Sequence[str] = ()
) -> StabilitySummary:
    """The stability figure of a partition in words, with what makes the partition unreliable.

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
    caveats : sequence of str
        Why the partition should not be trusted (``reliability_caveats`` of ``measured``,
        or of the partition while its stability is not known).

    Returns
    -------
    StabilitySummary
        The value (None until measured, or with fewer than 2 living neurons), its words and
        the caveats.
    """
    plural = "" if runs == 1 else "s"
    against = f"{runs} bootstrap resample{plural} of the images" if method == "agglomerative" else f"{runs} other seed{plural}"
    meaning = "how often two runs agree; 1 = always the same partition, 0 = no more alike than chance"
    warnings = list(caveats)
    if runs == 0:
        return StabilitySummary(None, 0, "stability not measured (stability runs: 0)", meaning, warnings)
    if waiting:
        return StabilitySummary(None, runs, "stability not measured yet: each bootstrap re-run rebuilds the dendrogram "
                                "of these neurons (seconds); press measure stability", meaning, warnings)
    if measured is None:
        return StabilitySummary(None, runs, f"stability: re-running over {against} …", meaning, warnings)
    if measured.stability is None:
        return StabilitySummary(None, runs, "stability: nothing to compare (fewer than 2 living neurons)", meaning, warnings)
    return StabilitySummary(
        rounded(measured.stability), runs, f"stability {measured.stability:.2f} (ARI over {against})", meaning, warnings
    )


def community_details(
    report: CommunityReport, c: int, top_k: int, owner: str, ranking: str = "specific"
) -> tuple[CommunityDetails, Thumbnails]:
    """Everything the details panel shows for community ``c`` but the importance test; its
    top images (and patches) ranked by ``ranking`` (``CommunityReport.top_images``), each
    with its score by that ranking."""
    analysis = report.analysis
    names = analysis.data.class_names
    predicted = analysis.predictions.classes
    images = report.top_images(c, top_k, ranking)
    patches = report.patches(c, top_k, ranking)
    scores = report.image_scores(ranking)
    means, selectivity = report.class_selectivity()
    within, outside = report.coherence()
    label = report.label(c)
    # the classes with probe images, in the model's order; of many, the highest means
    present = np.flatnonzero(~np.isnan(means[:, c]))
    if len(present) > SHOWN_CLASSES:
        present = np.sort(present[np.argsort(-means[present, c], kind="stable")[:SHOWN_CLASSES]])
    shown = present.tolist()
    pictures = dict(zip(images.tolist(), analysis.images(images)))
    extra = sorted({p.image for p in patches} - set(pictures))
    pictures.update(zip(extra, analysis.images(extra)) if extra else ())
    tops = [
        TopImage(int(i), names[int(analysis.labels[i])], names[int(predicted[i])], round(float(scores[i, c]), 3), f"image{int(i)}")
        for i in images
    ]
    crops = [PatchImage(p.image, f"{p.layer}:{p.neuron}", list(p.box), f"patch{n}") for n, p in enumerate(patches)]
    details = CommunityDetails(
        owner=owner,
        community=c,
        size=int(report.communities.sizes[c]),
        label=None if label is None else _badge(label),
        concepts=[_badge(s) for s in report.concepts(c)[:5]],
        members=[f"{layer}:{index}" for layer, index in report.communities.members(c)],
        within=rounded(within[c]),
        outside=rounded(outside[c]),
        classes=[names[i] for i in shown],
        class_means=[round(float(means[i, c]), 4) for i in shown],
        classes_of=len(names),
        selectivity=rounded(selectivity[c]),
        ranking=ranking,
        ranking_text=RANKING_TEXT[ranking],
        images=tops,
        patches=crops,
        importance=None,
    )
    shown_pictures = {t.thumb: pictures[t.index] for t in tops} | {q.thumb: pictures[q.index] for q in crops}
    return details, thumbnails(owner, shown_pictures, boxes={q.thumb: q.box for q in crops})


#: Decimals of the importance figures, in the view and in the explorer's status line alike.
SHOWN = 3


def importance_summary(imp: Importance, total_draws: int, probe_images: int) -> ImportanceSummary:
    """An importance test, finished or partial (fewer than ``total_draws`` random sets so far)."""
    draws = len(imp.null_drops)
    return ImportanceSummary(
        accuracy_drop=rounded(imp.accuracy_drop, SHOWN),
        class_drop=[rounded(v) for v in imp.class_accuracy_drop],
        draws=draws,
        total_draws=total_draws,
        images=int(imp.images),
        probe_images=probe_images,
        null_mean=rounded(imp.null_mean, SHOWN) if draws else None,
        null_std=rounded(imp.null_std, SHOWN) if draws > 1 else None,
        null_class_mean=[rounded(v) for v in imp.null_class_mean],
        null_class_std=[rounded(v) for v in imp.null_class_std],
        z_score=rounded(imp.z_score) if draws > 1 else None,
        p_value=rounded(imp.p_value, SHOWN) if draws else None,
    )


# --------------------------------------------------------------------- pathways
@dataclass(frozen=True)
class PathwayNode(Payload):
    """A community's part in one layer (a node of :meth:`CommunityReport.flow_graph`)."""

    id: str  # the flow graph's node: "layer2:c3"
    column: int  # the layer's place, 0 lowest
    community: int
    size: int  # the community's members in this layer
    label: str  # the community's concept label ("concept=value"; "" when none)


@dataclass(frozen=True)
class PathwayClass(Payload):
    """A class, the last column, with its strongest pathways."""

    id: str  # the flow graph's node: "class:star"
    name: str
    paths: list[list[str]]  # the k strongest pathways, strongest first: part ids lowest first, then this id
    scores: list[float]  # each path's score (the share of the class's attribution it carries)


@dataclass(frozen=True)
class PathwayGraph(Payload):
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
