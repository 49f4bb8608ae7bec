"""CommunityExplorer at the scale of a real network: 8,192 neurons in the neuron view, sent
compactly, laid out around the community graph, redrawn without recomputing the partition
(tests/_wide.py builds the network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _wide import LAYERS, NEURONS, wide_analysis
from ipywidgets.widgets.widget import _remove_buffers

import innersight_widgets.widgets.community_explorer as module
from innersight_widgets.widgets import CommunityExplorer


@pytest.fixture(scope="module")
def analysis():
    return wide_analysis()


@pytest.fixture(scope="module")
def explorer(analysis):
    """One explorer on all 8,192 neurons, in the neuron view (each test leaves it there)."""
    explorer = CommunityExplorer(analysis, layers=LAYERS, draws=2, images=32, debounce=0.0)
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    return explorer


def unpack(points: dict) -> dict[str, np.ndarray]:
    """A NeuronPoints record's buffers as the front end reads them (little-endian)."""
    return {
        "xy": np.frombuffer(points["xy"], "<u2").reshape(-1, 2) / 65535,
        "community": np.frombuffer(points["community"], "<i2"),
        "links": np.frombuffer(points["links"], "<u2").reshape(-1, 2),
        "strength": np.frombuffer(points["strength"], np.uint8),
    }


def test_every_neuron_is_a_point_named_and_coloured_by_its_community(explorer):
    graph, communities = explorer.view.graph, explorer.communities
    points = graph["neurons"]
    assert graph["mode"] == "neurons" and graph["note"] == "" and points["count"] == NEURONS == len(communities.neurons)
    unpacked = unpack(points)
    assert np.array_equal(unpacked["community"], communities.labels)
    # the front end names row i "layer:index" from the layers' first rows
    assert points["layers"] == LAYERS and points["starts"] == [0, NEURONS // 2]
    for row in (0, 4095, 4096, 8191):
        layer = max(j for j, start in enumerate(points["starts"]) if start <= row)
        assert (points["layers"][layer], row - points["starts"][layer]) == communities.neurons[row]
    # each community's members sit around its place, which the community graph's node gives
    xy = unpacked["xy"]
    assert xy.min() >= 0 and xy.max() <= 1 and np.ptp(xy, axis=0).max() > 0.99
    nodes = {n["community"]: (n["x"], n["y"]) for n in graph["nodes"]}
    assert sorted(nodes) == list(range(communities.num_communities))
    for c in range(communities.num_communities):
        members = xy[communities.labels == c]
        assert np.abs(members.mean(axis=0) - nodes[c]).max() < 0.01, c
        spread = np.sqrt(((members - nodes[c]) ** 2).sum(axis=1)).max()
        assert spread < 0.5 * np.sqrt(len(members) / NEURONS), c  # a disc whose area grows with the members


def test_the_payload_stays_compact_with_the_strongest_links(explorer, analysis):
    state, _, buffers = _remove_buffers(explorer.view.get_state(["graph"]))
    size = len(json.dumps(state)) + sum(len(b) for b in buffers)
    assert size < 80_000, size  # 4 bytes a neuron and 5 a link, sent as binary
    rows, cols, weights = analysis.aggregator(LAYERS).edges(explorer.k.value, explorer.min_corr.value)
    unpacked, points = unpack(explorer.view.graph["neurons"]), explorer.view.graph["neurons"]
    assert len(unpacked["links"]) == module.MAX_DRAWN_LINKS < points["links_of"] == len(weights)
    strongest = np.argsort(-weights, kind="stable")[: module.MAX_DRAWN_LINKS]
    assert np.array_equal(unpacked["links"], np.stack([rows[strongest], cols[strongest]], axis=1))
    assert unpacked["strength"][0] == 255 and np.all(np.diff(unpacked["strength"].astype(int)) <= 0)


def test_a_graph_mode_switch_redraws_the_same_partition_without_recomputing_it(explorer, analysis, monkeypatch):
    before, communities, stability = explorer.view.graph, explorer.communities, explorer.view.stability
    calls = []
    original = analysis.communities
    monkeypatch.setattr(analysis, "communities", lambda *a, **kw: (calls.append(kw), original(*a, **kw))[1])
    explorer.graph_mode.value = "communities"
    explorer.wait()
    assert explorer.view.graph["mode"] == "communities" and explorer.view.graph["neurons"] is None
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    assert calls == [] and explorer.communities is communities and explorer.view.stability == stability
    assert explorer.view.graph == before  # the same layout, to the byte: deterministic


def test_above_the_cap_the_community_graph_is_shown_and_says_why(explorer, monkeypatch):
    monkeypatch.setattr(module, "MAX_DRAWN_NEURONS", NEURONS // 2)
    explorer.graph_mode.value = "communities"
    explorer.wait()
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    graph = explorer.view.graph
    assert graph["mode"] == "communities" and graph["neurons"] is None
    assert "at most 4,096 neurons and these layers have 8,192" in graph["note"] and "select fewer layers" in graph["note"]
    assert len(graph["nodes"]) == explorer.communities.num_communities
    monkeypatch.undo()
    explorer.graph_mode.value = "communities"
    explorer.wait()
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    assert explorer.view.graph["neurons"]["count"] == NEURONS


def test_a_click_on_a_neuron_opens_its_community(explorer):
    c = explorer.communities.num_communities - 1
    row = int(np.flatnonzero(unpack(explorer.view.graph["neurons"])["community"] == c)[0])
    explorer.view.set_state({"selected": c})  # what the canvas sends for a click on that row's point
    explorer.wait()
    assert explorer.view.details["community"] == c and explorer.view.details["size"] == int(explorer.communities.sizes[c])
    assert explorer.view.details["importance"]["draws"] == 2
    assert f"{explorer.communities.neurons[row][0]}:{explorer.communities.neurons[row][1]}" in explorer.view.details["members"]


def test_agglomerative_stability_at_this_size_waits_for_the_button_then_is_the_cores(analysis):
    """A bootstrap re-run rebuilds the dendrogram of 8,192 neurons (seconds): it is not
    started on its own, where the slider would wait for it; the button measures it."""
    explorer = CommunityExplorer(analysis, layers=LAYERS, method="agglomerative", stability_runs=1, debounce=0.0)
    explorer.wait()
    waiting = explorer.view.stability
    assert waiting["value"] is None and "press measure stability" in waiting["text"]
    explorer.measure.click()
    explorer.wait()
    direct = analysis.communities(LAYERS, "agglomerative", stability_runs=1, **explorer.current_params())
    assert explorer.view.stability["value"] == round(direct.stability, 4)
    assert "ARI over 1 bootstrap resample of the images" in explorer.view.stability["text"]
