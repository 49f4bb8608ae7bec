"""Where the community graph draws its communities and the neuron view its neurons: pure
functions of a graph or a partition, deterministic, every position in the unit square."""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
import numpy as np

#: A force layout costs O(n^2) per iteration: above this many nodes, a sunflower by size.
MAX_SPRING_NODES = 150
#: The share of the square the neuron view's points cover (every neuron the same area).
NEURON_COVER = 0.4
#: The turn between consecutive points of a sunflower spiral, which fills a disc evenly.
GOLDEN_ANGLE = np.pi * (3 - np.sqrt(5))


def sunflower(rank: np.ndarray, spacing: float) -> np.ndarray:
    """Offsets from a disc's centre of the points ranked ``rank`` in a sunflower spiral.

    Point ``r`` sits at radius ``spacing * sqrt(r + 1/2)`` and angle ``(r + 1/2)`` times
    the golden angle: the first points at the centre, each point the same area (``pi *
    spacing**2``), the disc filled evenly.

    Parameters
    ----------
    rank : np.ndarray
        Each point's place in the spiral, 0 first.
    spacing : float
        The radius of one point's share of the disc, over the square root of pi.

    Returns
    -------
    np.ndarray
        ``len(rank)`` x 2 offsets (x, y).
    """
    radius, angle = spacing * np.sqrt(rank + 0.5), (rank + 0.5) * GOLDEN_ANGLE
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def graph_layout(graph: nx.Graph, weight: str) -> dict[Hashable, tuple[float, float]]:
    """Positions of the nodes in [0, 1]^2, deterministic, each axis stretched to fill it.

    Parameters
    ----------
    graph : nx.Graph
        The nodes and, up to :data:`MAX_SPRING_NODES` nodes, the edges that pull them
        together (a spring layout). Larger graphs are a sunflower in node order, the first
        node in the middle (communities are numbered by falling size).
    weight : str
        The edge attribute of the springs' strength.

    Returns
    -------
    dict
        Each node's (x, y), rounded to 4 decimals.
    """
    n = graph.number_of_nodes()
    if n == 0:
        return {}
    if n > MAX_SPRING_NODES:
        xy = sunflower(np.arange(n), 1 / (2 * np.sqrt(n)))
    else:
        xy = np.array(list(nx.spring_layout(graph, weight=weight, seed=0).values()))
    low, high = xy.min(0), xy.max(0)
    span = np.where(high - low > 1e-9, high - low, 1)
    scaled = (xy - low) / span
    return {node: (round(float(x), 4), round(float(y), 4)) for node, (x, y) in zip(graph.nodes, scaled)}


#: The community graph's discs as js/community_view.js draws them: a radius of
#: ``DISC_MIN + DISC_GROWTH * sqrt(size / largest)`` pixels in a drawing whose unit square
#: spans ``DRAWING`` pixels; ``DISC_GAP`` more keeps a disc's caption off its neighbour.
DISC_MIN, DISC_GROWTH, DRAWING, DISC_GAP = 8.0, 22.0, 360.0, 4.0


def disc_radii(sizes: np.ndarray) -> np.ndarray:
    """Each community disc's radius in the unit square (K sizes -> K radii, gap included)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    return (DISC_MIN + DISC_GROWTH * np.sqrt(sizes / max(sizes.max(initial=1.0), 1.0)) + DISC_GAP) / DRAWING


def separate(
    positions: dict[Hashable, tuple[float, float]], radii: np.ndarray, rounds: int = 100
) -> dict[Hashable, tuple[float, float]]:
    """Move overlapping discs apart, as little as it takes, inside the unit square.

    A force layout places nodes by their links and knows nothing of their discs' sizes:
    two large communities can land on each other. Each round pushes every overlapping
    pair apart along the line between their centres, by half the overlap each (all pairs
    at once, as arrays), and keeps the centres in the square; it stops when no pair
    overlaps. Above :data:`MAX_SPRING_NODES` discs the layout is a sunflower, whose discs
    could not all fit anyway: the places stand.

    Parameters
    ----------
    positions : dict
        K nodes' (x, y) in [0, 1]^2, in the order of ``radii``.
    radii : np.ndarray
        K radii in the same units (:func:`disc_radii`).
    rounds : int
        At most this many rounds (the discs may not fit: the last round's places stand).

    Returns
    -------
    dict
        The same nodes, (x, y) rounded to 4 decimals.
    """
    nodes = list(positions)
    xy = np.array([positions[n] for n in nodes], dtype=np.float64).reshape(-1, 2)
    radii = np.asarray(radii, dtype=np.float64)
    k = len(xy)
    if 1 < k <= MAX_SPRING_NODES:
        upper = np.triu(np.ones((k, k), dtype=bool), 1)
        pair_angle = np.add.outer(np.arange(k), np.arange(k)).astype(np.float64)
        reach = radii[:, None] + radii[None, :]
        for turn in range(rounds):
            gap = xy[None, :, :] - xy[:, None, :]  # gap[i, j] = xy[j] - xy[i]
            distance = np.hypot(gap[..., 0], gap[..., 1])
            overlap = np.where(upper, reach - distance, 0.0)
            if overlap.max() <= 1e-6:
                break
            # coincident centres part along a direction that depends on the pair only
            angle = pair_angle + turn
            apart = distance > 1e-9
            unit = np.where(apart[..., None], gap / np.where(apart, distance, 1.0)[..., None],
                            np.stack([np.cos(angle), np.sin(angle)], axis=-1))
            push = unit * (np.clip(overlap, 0.0, None) / 2)[..., None]
            xy += push.sum(axis=0) - push.sum(axis=1)  # j moves along the gap, i against it
            np.clip(xy, 0.0, 1.0, out=xy)
    return {node: (round(float(x), 4), round(float(y), 4)) for node, (x, y) in zip(nodes, xy)}


def neuron_layout(
    labels: np.ndarray, centres: dict[str, tuple[float, float]], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Neuron positions around the communities' ``centres``, deterministic and O(M log M).

    Each community's members fill a disc around its centre, as a sunflower with the
    members most strongly linked within the community in the middle; every neuron gets the
    same area, together :data:`NEURON_COVER` of the square. The whole is scaled into
    [0, 1]^2 (centred, discs kept round).

    Parameters
    ----------
    labels : np.ndarray
        Each of the M neurons' community; -1 for a dead neuron, which stays at (0, 0) (not
        drawn).
    centres : dict
        Each community's place, keyed ``"c<k>"``.
    rows, cols, weights : np.ndarray
        The similarity graph's edges (kNN links between neurons) and their weights.

    Returns
    -------
    xy : np.ndarray
        M x 2 positions.
    centres : dict
        The communities' centres, moved as the neurons were.
    """
    m = labels.size
    xy = np.zeros((m, 2))
    alive = np.flatnonzero(labels >= 0)
    if alive.size == 0:
        return xy, centres
    same = labels[rows] == labels[cols]
    strength = np.bincount(rows[same], weights[same], m) + np.bincount(cols[same], weights[same], m)
    order = alive[np.lexsort((-strength[alive], labels[alive]))]  # by community, strongest first
    community = labels[order]
    rank = np.arange(order.size) - np.searchsorted(community, community)  # place within the community
    middle = np.array([centres[f"c{c}"] for c in range(int(community.max()) + 1)])
    placed = middle[community] + sunflower(rank, np.sqrt(NEURON_COVER / (np.pi * alive.size)))
    low, high = placed.min(0), placed.max(0)
    scale = 1 / max((high - low).max(), 1e-9)
    shift = (1 - (high - low) * scale) / 2 - low * scale  # centred, the shorter side too
    xy[order] = placed * scale + shift
    moved = middle * scale + shift
    return xy, {f"c{c}": (round(float(x), 4), round(float(y), 4)) for c, (x, y) in enumerate(moved)}
