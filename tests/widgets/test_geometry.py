"""Where the community graph puts its communities and the neuron view its neurons, on small
graphs and partitions made here (widgets/geometry.py)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from innersight_widgets.widgets.geometry import (
    GOLDEN_ANGLE,
    MAX_SPRING_NODES,
    graph_layout,
    neuron_layout,
    sunflower,
)


def test_a_sunflower_grows_from_the_middle_each_point_the_same_area():
    offsets = sunflower(np.arange(200), 0.1)
    radius = np.hypot(*offsets.T)
    assert np.allclose(radius, 0.1 * np.sqrt(np.arange(200) + 0.5)) and np.all(np.diff(radius) > 0)
    turns = np.diff(np.unwrap(np.arctan2(offsets[:, 1], offsets[:, 0])))
    assert np.allclose(np.mod(turns, 2 * np.pi), np.mod(GOLDEN_ANGLE, 2 * np.pi))
    # n points fill a disc of n times one point's area (pi * spacing^2): the spiral fills it evenly
    assert np.pi * radius[-1] ** 2 == pytest.approx(np.pi * 0.01 * 200, rel=0.01)


def test_a_small_graph_is_a_spring_layout_stretched_over_the_square():
    graph = nx.Graph()
    graph.add_weighted_edges_from([("c0", "c1", 0.9), ("c1", "c2", 0.2), ("c2", "c3", 0.5), ("c0", "c3", 0.1)], weight="similarity")
    graph.add_node("c4")
    layout = graph_layout(graph, weight="similarity")
    assert list(layout) == ["c0", "c1", "c2", "c3", "c4"]
    xy = np.array(list(layout.values()))
    assert np.array_equal(xy.min(0), [0, 0]) and np.array_equal(xy.max(0), [1, 1])
    assert all(round(v, 4) == v for v in xy.ravel())
    assert graph_layout(graph, weight="similarity") == layout  # deterministic
    def apart(a: str, b: str) -> float:
        return float(np.hypot(*np.subtract(layout[a], layout[b])))

    assert apart("c0", "c1") < apart("c0", "c3")  # the strongest spring pulls its pair closest
    assert min(apart("c4", c) for c in ("c0", "c1", "c2", "c3")) > 0.5  # the lone node is pushed away


def test_an_empty_or_one_node_graph_has_its_place():
    assert graph_layout(nx.Graph(), weight="similarity") == {}
    assert graph_layout(nx.empty_graph(["c0"]), weight="similarity") == {"c0": (0.0, 0.0)}


def test_a_large_graph_is_a_sunflower_in_node_order_whatever_its_edges():
    n = MAX_SPRING_NODES + 50
    nodes = nx.empty_graph([f"c{c}" for c in range(n)])
    layout = graph_layout(nodes, weight="similarity")
    linked = nodes.copy()
    linked.add_weighted_edges_from([("c0", f"c{c}", 1.0) for c in range(1, n)], weight="similarity")
    assert graph_layout(linked, weight="similarity") == layout
    xy = np.array(list(layout.values()))
    assert np.allclose(xy.min(0), 0) and np.allclose(xy.max(0), 1)
    from_middle = np.hypot(*(xy - xy.mean(0)).T)
    assert np.argmin(from_middle) == 0 and from_middle[:10].max() < from_middle[-10:].min()  # largest in the middle
    nearest = np.sort(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)), axis=1)[:, 1]
    assert nearest.max() < 3 * nearest.min()  # even


def partition() -> tuple[np.ndarray, dict[str, tuple[float, float]], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Communities of 60, 30 and 10 neurons and 5 dead ones (label -1), their centres, and
    kNN links within each community."""
    labels = np.repeat([0, 1, 2, -1], [60, 30, 10, 5])
    np.random.default_rng(0).shuffle(labels)
    rng = np.random.default_rng(1)
    rows, cols = [], []
    for c in range(3):
        members = np.flatnonzero(labels == c)
        rows += list(np.repeat(members, 3))
        cols += list(rng.choice(members, 3 * members.size))
    centres = {"c0": (0.2, 0.3), "c1": (0.8, 0.4), "c2": (0.5, 0.9)}
    return labels, centres, (np.array(rows), np.array(cols), rng.random(len(rows)))


def test_each_community_is_a_round_disc_of_its_members_around_its_centre():
    labels, centres, links = partition()
    xy, moved = neuron_layout(labels, centres, *links)
    alive = labels >= 0
    assert np.array_equal(xy[~alive], np.zeros((5, 2)))  # dead: not drawn
    low, high = xy[alive].min(0), xy[alive].max(0)
    assert low.min() == pytest.approx(0) and high.max() == pytest.approx(1)
    assert (low + high) / 2 == pytest.approx([0.5, 0.5])  # centred, the shorter side too
    radius = {}
    for c in range(3):
        members = xy[labels == c]
        assert np.abs(members.mean(0) - moved[f"c{c}"]).max() < 0.02
        radius[c] = np.hypot(*(members - moved[f"c{c}"]).T).max()
    # every neuron the same area: a disc's radius grows with the square root of its members
    assert radius[0] / radius[2] == pytest.approx(np.sqrt(60 / 10), rel=0.1)
    # the centres moved as the neurons did: scaled and shifted alike, their pattern kept
    before, after = np.array(list(centres.values())), np.array(list(moved.values()))
    scale = np.ptp(after, axis=0) / np.ptp(before, axis=0)
    assert scale[0] == pytest.approx(scale[1], rel=1e-3)


def test_the_members_most_strongly_linked_within_their_community_are_in_its_middle():
    labels, centres, (rows, cols, weights) = partition()
    xy, moved = neuron_layout(labels, centres, rows, cols, weights)
    same = labels[rows] == labels[cols]
    strength = np.bincount(rows[same], weights[same], labels.size) + np.bincount(cols[same], weights[same], labels.size)
    for c in range(3):
        members = np.flatnonzero(labels == c)
        distance = np.hypot(*(xy[members] - moved[f"c{c}"]).T)
        assert members[np.argmin(distance)] == members[np.argmax(strength[members])]
    again = neuron_layout(labels, centres, rows, cols, weights)
    assert np.array_equal(again[0], xy) and again[1] == moved  # deterministic


def test_without_living_neurons_nothing_moves():
    centres = {"c0": (0.5, 0.5)}
    xy, moved = neuron_layout(np.full(4, -1), centres, np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    assert np.array_equal(xy, np.zeros((4, 2))) and moved is centres


def test_discs_that_overlap_are_moved_apart_inside_the_square():
    """A spring layout knows nothing of the discs' sizes: two large communities can land on
    each other (spectral, 8 communities on the spurious model's layer3 did)."""
    from innersight_widgets.widgets.geometry import disc_radii, separate

    sizes = np.array([40, 35, 30, 8, 8, 5])
    radii = disc_radii(sizes)
    assert radii[0] == pytest.approx((8 + 22 + 4) / 360)
    start = {"a": (0.5, 0.5), "b": (0.52, 0.5), "c": (0.5, 0.5), "d": (1.0, 1.0), "e": (0.99, 1.0), "f": (0.1, 0.1)}
    placed = separate(start, radii)
    xy = np.array(list(placed.values()))
    assert list(placed) == list(start) and ((xy >= 0) & (xy <= 1)).all()
    for i in range(len(xy)):
        for j in range(i + 1, len(xy)):
            assert np.hypot(*(xy[i] - xy[j])) >= radii[i] + radii[j] - 1e-3, (i, j)
    assert placed["f"] == start["f"]  # a disc clear of the others stays where it was
    assert separate(placed, radii) == placed  # nothing overlaps: nothing moves
