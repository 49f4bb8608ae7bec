"""The records ``js/model_diff.js`` reads: two models' community graphs side by side with
their counterparts linked, and the pair (or lone community) a reader opened (ModelDiff)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...comparison import CommunityComparison, ComparedSide
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


def diff_graph(comparison: CommunityComparison) -> DiffGraph:
    """Both sides' community graphs, laid out as the explorer lays out one, their fills from
    one palette over both sides' labels (``community_colours``: a disc never takes a colour
    that a label anywhere on screen names for another), and the counterparts as links."""
    sides = (comparison.a, comparison.b)
    captions = [[None if s.label is None else s.label.value for s in side.communities] for side in sides]
    fills = community_colours(captions[0] + captions[1])
    colours = (fills[: len(captions[0])], fills[len(captions[0]):])
    best = (comparison.similarity.max(1, initial=-np.inf), comparison.similarity.max(0, initial=-np.inf))
    out = []
    for letter, side, palette, closest in zip("ab", sides, colours, best):
        out.append(_side(comparison, letter, side, palette, closest))
    matches = [Edge(int(m.a), int(m.b), round(m.similarity, 4)) for m in comparison.matches]
    return DiffGraph(out[0], out[1], matches, float(comparison.min_similarity), rounded(comparison.cka),
                     len(comparison.a.analysis.data))


def _side(comparison: CommunityComparison, letter: str, side: ComparedSide, colours: list[str], best: np.ndarray) -> DiffSide:
    report = side.report
    graph = report.community_graph(top=3)
    centres = graph_layout(graph, weight="similarity")
    # the discs drawn must not cover each other (positions in community order, as the radii)
    places = separate({f"c{c}": centres[f"c{c}"] for c in range(report.num_communities)}, disc_radii(report.communities.sizes))
    nodes = []
    for s in side.communities:
        c = s.community
        label = "" if s.label is None else f", {s.label.concept} = {s.label.value} (AUROC {s.label.auroc:.2f})"
        other = comparison.counterpart(letter, c)
        nodes.append(DiffNode(
            c, s.size, "" if s.label is None else s.label.value, f"{side.name} community {c}: {s.size} neurons{label}",
            *places[f"c{c}"], other, rounded(best[c]),
        ))
    return DiffSide(side.name, list(side.layers), nodes, community_edges(graph), colours)


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
            rounded(row[f"label_auroc_{letter}"]), rounded(row[f"label_{other}_auroc_{letter}"]),
            rounded(row[f"accuracy_drop_{letter}"]), refs,
        )

    a, b = one("a"), one("b")
    drops = [
        ClassDrop(name, rounded(row[f"drop_a[{name}]"]), rounded(row[f"drop_b[{name}]"]), rounded(row[f"drop_change[{name}]"]))
        for name in names
    ]
    overall = ClassDrop("all images", rounded(row["accuracy_drop_a"]), rounded(row["accuracy_drop_b"]),
                        rounded(row["accuracy_drop_change"]))
    details = PairDetails(
        owner, row["status"], rounded(row["similarity"]), rounded(row["best_similarity"]), a, b, row["own_class"],
        drops, overall, RANKING,
    )
    return details, thumbnails(owner, pictures)
