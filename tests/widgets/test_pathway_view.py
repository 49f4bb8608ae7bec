"""CommunityExplorer's pathways view without a browser: the payload is the core's flow graph
and pathways of the partition on screen, computed off the kernel's thread, never stale."""

import itertools
from dataclasses import asdict

import pytest
from _gates import gated

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.widgets import CommunityExplorer, community_explorer
from innersight_widgets.widgets.community_explorer import PATHWAYS_PER_CLASS

LAYERS = ["layer2", "layer3"]
FLOW_IMAGES = 32  # the flow's cost grows with its images: a few keep the tests quick


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=300), layers=LAYERS, progress=False)


def shown(analysis, **kw):
    """An explorer over both layers with the pathways view on, everything computed."""
    explorer = CommunityExplorer(analysis, layers=LAYERS, draws=3, images=100, flow_images=FLOW_IMAGES, stability_runs=0, **kw)
    explorer.show_pathways.value = True
    explorer.wait()
    return explorer


def test_the_pathways_are_the_reports_flow_graph_and_pathways_of_the_partition_on_screen(analysis):
    explorer = shown(analysis)
    report = analysis.evaluate(analysis.communities(LAYERS, "louvain", stability_runs=0))
    graph = report.flow_graph(images=FLOW_IMAGES)
    p = explorer.view.pathways
    assert p["layers"] == LAYERS and p["k"] == PATHWAYS_PER_CLASS and p["images"] == FLOW_IMAGES
    parts = {n: d for n, d in graph.nodes(data=True) if d["kind"] == "community"}
    assert {n["id"]: (n["column"], n["community"], n["size"], n["label"]) for n in p["nodes"]} == {
        n: (d["depth"], d["community"], d["size"], d["label"]) for n, d in parts.items()
    }
    assert {(e["a"], e["b"]): e["w"] for e in p["links"]} == {
        (a, b): pytest.approx(d["share"], abs=1e-4) for a, b, d in graph.edges(data=True)
    }
    assert [c["name"] for c in p["classes"]] == list(analysis.data.class_names)
    links = {(e["a"], e["b"]) for e in p["links"]}
    for c in p["classes"]:
        paths = report.pathways(c["name"], PATHWAYS_PER_CLASS, images=FLOW_IMAGES)
        assert c["id"] == f"class:{c['name']}" and len(c["paths"]) == len(paths) > 0
        assert c["paths"] == [[f"{l}:c{k}" for l, k in zip(q.layers, q.communities)] + [c["id"]] for q in paths]
        assert c["scores"] == [pytest.approx(q.score, abs=1e-4) for q in paths]
        for path in c["paths"]:  # every step of a path is a link of the view
            assert set(itertools.pairwise(path)) <= links
    assert 'data-kind="idle"' in explorer.status.value and "pathways: " in explorer.status.value


def test_the_button_shows_with_two_layers_only_and_hiding_the_view_clears_it(analysis):
    explorer = shown(analysis)
    assert explorer.show_pathways.layout.display is None and explorer.view.pathways
    explorer.show_pathways.value = False
    assert explorer.view.pathways == {}
    explorer.layers.value = ("layer3",)
    explorer.show_pathways.value = True
    explorer.wait()
    assert explorer.show_pathways.layout.display == "none" and explorer.view.pathways == {}
    explorer.layers.value = tuple(LAYERS)
    explorer.wait()
    assert explorer.view.pathways["layers"] == LAYERS  # still asked for: drawn for the new partition


def test_a_slider_move_while_the_flow_computes_never_shows_the_old_partitions_pathways(analysis, monkeypatch):
    explorer = CommunityExplorer(analysis, layers=LAYERS, draws=3, images=100, flow_images=FLOW_IMAGES, stability_runs=0, debounce=0.0)
    explorer.wait()
    original = community_explorer.pathway_graph
    started, release = gated(monkeypatch, community_explorer, "pathway_graph")
    drawn = []
    explorer.view.observe(lambda change: drawn.append(change["new"]), names="pathways")
    explorer.show_pathways.value = True  # the flow of resolution 1.0 starts, and blocks
    assert started.wait(10)
    explorer.parameter.value = 2.5
    release.set()
    explorer.wait()
    assert explorer.communities.params["resolution"] == 2.5
    new = original(analysis.evaluate(analysis.communities(LAYERS, "louvain", resolution=2.5, stability_runs=0)),
                   PATHWAYS_PER_CLASS, FLOW_IMAGES)
    old = original(analysis.evaluate(analysis.communities(LAYERS, "louvain", stability_runs=0)), PATHWAYS_PER_CLASS, FLOW_IMAGES)
    assert new.nodes != old.nodes  # else the test could not tell them apart
    assert [p["nodes"] for p in drawn if p] == [[asdict(n) for n in new.nodes]]
    assert 'data-kind="idle"' in explorer.status.value


def test_the_view_shown_while_the_graph_is_redrawn_another_way_is_drawn(analysis, monkeypatch):
    explorer = CommunityExplorer(analysis, layers=LAYERS, draws=3, images=100, flow_images=FLOW_IMAGES, stability_runs=0)
    explorer.wait()
    started, release = gated(monkeypatch, community_explorer, "neuron_points")  # the redraw as neurons
    explorer.graph_mode.value = "neurons"  # the same partition, drawn again: blocks
    assert started.wait(10)
    explorer.show_pathways.value = True
    release.set()
    explorer.wait()
    assert explorer.view.graph["mode"] == "neurons" and explorer.view.pathways["layers"] == LAYERS


def test_clicking_a_community_node_opens_its_details(analysis):
    explorer = shown(analysis)
    node = max(explorer.view.pathways["nodes"], key=lambda n: (n["column"], n["size"]))
    explorer.view.set_state({"selected": node["community"]})  # what the front end sends on a click
    explorer.wait()
    details = explorer.view.details
    assert details["community"] == node["community"] == explorer.view.selected
    members = explorer.communities.members(node["community"])
    assert details["members"] == [f"{l}:{i}" for l, i in members]
    assert sum(l == node["id"].split(":")[0] for l, _ in members) == node["size"]  # the node is that community's part
    assert explorer.view.pathways["nodes"]  # the pathways stay: the same partition


def test_a_failed_flow_shows_in_the_status_line_and_draws_no_pathways(analysis, monkeypatch):
    explorer = CommunityExplorer(analysis, layers=LAYERS, draws=3, images=100, flow_images=FLOW_IMAGES, stability_runs=0)
    explorer.wait()

    def broken(report, k, images):
        raise RuntimeError("no flow <here>")

    monkeypatch.setattr(community_explorer, "pathway_graph", broken)
    explorer.show_pathways.value = True
    explorer.wait()
    assert 'data-kind="error"' in explorer.status.value and "RuntimeError: no flow &lt;here&gt;" in explorer.status.value
    assert explorer.view.pathways == {} and explorer.view.graph  # the graph of the partition stays
