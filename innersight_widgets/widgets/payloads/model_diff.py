"""The records ``js/model_diff.js`` reads: two models' community graphs side by side with
their counterparts linked, and the pair (or lone community) a reader opened (ModelDiff)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from ...comparison import CommunityComparison, ComparedSide
from ...innersightnet import CommunityReport
from ..geometry import disc_radii, graph_layout, separate
from ._records import Edge, Payload, Thumbnails, rounded, thumbnails
from .community_view import community_colours, community_edges

#: How the top images of the opened communities are ranked (``CommunityReport.top_images``).
RANKING = "specific"


@dataclass(frozen=True)
class DiffNode(Payload):
    community: int
    size: int
    caption: str  # the label's value, drawn under the disc ("" when none)
    title: str  # the hover text
    x: float
    y: float
    counterpart: int | None  # the other side's community; None: it has none
    best: float | None  # its highest similarity to any community of the other side (None: that side has none)


@dataclass(frozen=True)
class DiffSide(Payload):
    name: str
    layers: list[str]
    nodes: list[DiffNode]
    links: list[Edge]  # the side's own community graph: each community's strongest similarity links
    colours: list[str]  # each community's fill (CSS), one palette over both sides


@dataclass(frozen=True)
class DiffGraph(Payload):
    a: DiffSide
    b: DiffSide
    matches: list[Edge]  # a's community, b's, their similarity
    min_similarity: float
    cka: float | None
    images: int  # the probe images both sides were read on


@dataclass(frozen=True)
class DiffImage(Payload):
    index: int
    label: str
    predicted: str
    thumb: str


@dataclass(frozen=True)
class PairSide(Payload):
    """One side of the opened pair: a community of that side and its figures."""

    name: str
    community: int
    size: int
    label: str  # "concept=value" ("" when none)
    auroc: float | None  # of its own label
    other_auroc: float | None  # of the other side's label (None: no counterpart, or it has no label)
    accuracy_drop: float | None  # when it is ablated (None: the comparison ran without ablation)
    images: list[DiffImage]


@dataclass(frozen=True)
class ClassDrop(Payload):
    name: str
    a: float | None
    b: float | None
    change: float | None  # b less a (None unless both sides have a community)


@dataclass(frozen=True)
class PairDetails(Payload):
    owner: str
    status: str  # "matched", "only a" or "only b": a row of CommunityComparison.rows()
    similarity: float | None  # of the pair
    best: float | None  # of a lone community: its highest similarity to the other side
    a: PairSide | None
    b: PairSide | None
    own_class: str | None  # the class driving a's community most (b's for one only in b)
    drops: list[ClassDrop]  # each class's accuracy drop when the community is ablated (None: not measured)
    overall: ClassDrop  # the drop over all probe images
    ranking: str  # how the top images are ranked


#: Decimals the view prints similarities (and CKA) at, and drops and AUROCs at: each figure
#: is sent at those digits, so that the view, the status line and the snapshot cannot round
#: it to different last digits, and a change is the difference of the two figures shown.
SIMILARITY_DIGITS, FIGURE_DIGITS = 2, 3

#: How far right of side a's unit square side b's starts, in unit squares: js/model_diff.js
#: draws each side's unit square SIZE - 2 * PAD = 360 pixels wide, the sides SIZE + GAP = 480
#: pixels apart.
SIDE_OFFSET = 480 / 360

#: The four ways a side's layout may be mirrored: (flip x, flip y).
MIRRORS = [(False, False), (True, False), (False, True), (True, True)]


def diff_graph(comparison: CommunityComparison) -> DiffGraph:
    """Both sides' community graphs, laid out as the explorer lays out one, their fills from
    one palette over both sides' labels (``community_colours``: a disc never takes a colour
    that a label anywhere on screen names for another), and the counterparts as links.

    Each side's layout is mirrored (left-right, up-down, both or neither) so that the
    counterpart links are as short as they can be: counterparts face each other across the
    gap rather than cross the drawings."""
    sides = (comparison.a, comparison.b)
    captions = [[None if s.label is None else s.label.value for s in side.communities] for side in sides]
    fills = community_colours(captions[0] + captions[1])
    colours = (fills[: len(captions[0])], fills[len(captions[0]):])
    best = (comparison.similarity.max(1, initial=-np.inf), comparison.similarity.max(0, initial=-np.inf))
    graphs = [side.report.community_graph(top=3) for side in sides]
    places = [_places(side.report, graph) for side, graph in zip(sides, graphs)]
    places = _facing(places[0], places[1], [(m.a, m.b) for m in comparison.matches])
    out = [
        _side(comparison, letter, side, graph, xy, palette, closest)
        for letter, side, graph, xy, palette, closest in zip("ab", sides, graphs, places, colours, best)
    ]
    matches = [Edge(int(m.a), int(m.b), round(m.similarity, SIMILARITY_DIGITS)) for m in comparison.matches]
    return DiffGraph(out[0], out[1], matches, float(comparison.min_similarity), rounded(comparison.cka, SIMILARITY_DIGITS),
                     len(comparison.a.analysis.data))


def _places(report: CommunityReport, graph: nx.Graph) -> np.ndarray:
    """K x 2: each community's place in the unit square, as the explorer's community graph
    places it (a spring layout, then the discs moved apart)."""
    centres = graph_layout(graph, weight="similarity")
    # the discs drawn must not cover each other (positions in community order, as the radii)
    k = report.num_communities
    places = separate({f"c{c}": centres[f"c{c}"] for c in range(k)}, disc_radii(report.communities.sizes))
    return np.array([places[f"c{c}"] for c in range(k)], dtype=np.float64).reshape(k, 2)


def _facing(a: np.ndarray, b: np.ndarray, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Both layouts, each mirrored as :data:`MIRRORS` allows, so that the summed length of the
    links between ``pairs`` (a's community, b's) is least; the first such choice on a tie."""

    def mirrored(xy: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
        return np.where(np.array(flips), 1 - xy, xy)

    def length(xa: np.ndarray, xb: np.ndarray) -> float:
        return sum(float(np.hypot(xb[j, 0] + SIDE_OFFSET - xa[i, 0], xb[j, 1] - xa[i, 1])) for i, j in pairs)

    choices = [(mirrored(a, fa), mirrored(b, fb)) for fa in MIRRORS for fb in MIRRORS]
    return min(choices, key=lambda pair: length(*pair))


def _side(
    comparison: CommunityComparison, letter: str, side: ComparedSide, graph: nx.Graph, places: np.ndarray,
    colours: list[str], best: np.ndarray,
) -> DiffSide:
    nodes = []
    for s in side.communities:
        c = s.community
        label = "" if s.label is None else f", {s.label.concept} = {s.label.value} (AUROC {s.label.auroc:.2f})"
        nodes.append(DiffNode(
            c, s.size, "" if s.label is None else s.label.value, f"{side.name} community {c}: {s.size} neurons{label}",
            round(float(places[c, 0]), 4), round(float(places[c, 1]), 4), comparison.counterpart(letter, c), rounded(best[c], SIMILARITY_DIGITS),
        ))
    return DiffSide(side.name, list(side.layers), nodes, community_edges(graph), colours)


def drop(name: str, a: float | None, b: float | None) -> ClassDrop:
    """Both sides' drops as shown, and their change as the difference of the two shown
    (None unless both sides have a community)."""
    a, b = rounded(a, FIGURE_DIGITS), rounded(b, FIGURE_DIGITS)
    change = None if a is None or b is None else round(b - a, FIGURE_DIGITS)
    return ClassDrop(name, a, b, change)


def pair_details(
    comparison: CommunityComparison, side: str, community: int, top_k: int, owner: str
) -> tuple[PairDetails, Thumbnails]:
    """The opened community with its counterpart, if it has one: both sides' figures as
    ``comparison.rows(per_class=True)`` gives them, and each side's ``top_k`` top images.

    Parameters
    ----------
    comparison : CommunityComparison
        What the view shows.
    side : {"a", "b"}
        The side of the community opened.
    community : int
        Its number on that side.
    top_k : int
        Top images per side.
    owner : str
        Names these details (their pictures are sent for it).

    Returns
    -------
    (PairDetails, Thumbnails)
        The panel's record and its pictures.
    """
    key = f"community_{side}"
    row = next(r for r in comparison.rows(per_class=True) if r[key] == community)
    names = comparison.a.analysis.data.class_names
    pictures: dict[str, torch.Tensor] = {}

    def one(letter: str) -> PairSide | None:
        c = row[f"community_{letter}"]
        if c is None:
            return None
        compared = comparison.a if letter == "a" else comparison.b
        analysis = compared.analysis
        shown = compared.report.top_images(c, top_k, RANKING)
        refs = [
            DiffImage(int(i), names[int(analysis.labels[i])], names[int(analysis.predictions.classes[i])], f"{letter}-image{int(i)}")
            for i in shown
        ]
        pictures.update(zip((r.thumb for r in refs), analysis.images(shown)))
        other = "b" if letter == "a" else "a"
        return PairSide(
            compared.name, int(c), int(row[f"size_{letter}"]), row[f"label_{letter}"] or "",
            rounded(row[f"label_auroc_{letter}"], FIGURE_DIGITS), rounded(row[f"label_{other}_auroc_{letter}"], FIGURE_DIGITS),
            rounded(row[f"accuracy_drop_{letter}"], FIGURE_DIGITS), refs,
        )

    a, b = one("a"), one("b")
    drops = [drop(name, row[f"drop_a[{name}]"], row[f"drop_b[{name}]"]) for name in names]
    overall = drop("all images", row["accuracy_drop_a"], row["accuracy_drop_b"])
    details = PairDetails(
        owner, row["status"], rounded(row["similarity"], SIMILARITY_DIGITS), rounded(row["best_similarity"], SIMILARITY_DIGITS),
        a, b, row["own_class"],
        drops, overall, RANKING,
    )
    return details, thumbnails(owner, pictures)
