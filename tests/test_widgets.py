"""CommunityExplorer without a browser: set controls and deliver clicks as the front end would."""

import threading

import numpy as np
import pytest

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.widgets import CommunityExplorer


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=400), layers=["layer1", "layer2", "layer3"], progress=False)


def make(analysis, **kw):
    explorer = CommunityExplorer(analysis, layers="layer3", draws=5, **kw)
    explorer.wait()
    return explorer


def front_end_click(explorer, community):
    """What the browser does on a click: a comm update of the `selected` trait."""
    explorer.view.set_state({"selected": community})


def test_the_explorer_opens_with_a_partition(analysis):
    explorer = make(analysis)
    fresh = analysis.communities("layer3", "louvain", stability_runs=0)
    assert np.array_equal(explorer.communities.labels, fresh.labels)
    nodes = explorer.view.graph["nodes"]
    assert sorted(n["community"] for n in nodes) == list(range(fresh.num_communities))
    assert [n["size"] for n in sorted(nodes, key=lambda n: n["id"])] == fresh.sizes.tolist()
    assert all(0 <= n["x"] <= 1 and 0 <= n["y"] <= 1 for n in nodes)
    assert 'data-kind="idle"' in explorer.status.value and f"{fresh.num_communities} communities" in explorer.status.value


def test_selecting_a_community_fills_the_details(analysis):
    explorer = make(analysis)
    front_end_click(explorer, 1)
    explorer.wait()
    details = explorer.view.details
    report = analysis.evaluate(explorer.communities)
    assert details["community"] == 1 and details["size"] == int(explorer.communities.sizes[1])
    assert [m["index"] for m in details["images"]] == report.top_images(1, 12).tolist()
    assert details["members"] == [f"{l}:{i}" for l, i in explorer.communities.members(1)]
    label = report.label(1)
    assert details["label"] == {"concept": label.concept, "value": label.value, "auroc": label.auroc}
    # thumbnails: one PNG per top image, then one per receptive-field patch
    thumbs = explorer.view.thumbnails
    assert len(thumbs) == len(details["images"]) + len(details["patches"]) > 0
    assert all(t[:8] == b"\x89PNG\r\n\x1a\n" for t in thumbs)
    imp = details["importance"]
    assert imp is not None and imp["draws"] == 5
    expected = report.importance(1, draws=5)
    assert imp["accuracy_drop"] == pytest.approx(expected.accuracy_drop)
    assert imp["p_value"] == pytest.approx(expected.p_value)
    assert "p = " in explorer.status.value


def test_twenty_rapid_slider_moves_end_on_the_last_value(analysis):
    explorer = make(analysis)
    values = np.linspace(0.2, 4.0, 20)
    for value in values:
        explorer.parameter.value = float(value)
    explorer.wait()
    last = analysis.communities("layer3", "louvain", resolution=explorer.parameter.value, stability_runs=0)
    assert explorer.communities.params["resolution"] == pytest.approx(values[-1], abs=0.05)
    assert np.array_equal(explorer.communities.labels, last.labels)
    assert len(explorer.view.graph["communities"]) == last.num_communities


def test_a_stale_result_is_never_drawn_over_a_newer_one(analysis):
    explorer = make(analysis, debounce=0.0)
    started, gate = threading.Event(), threading.Event()
    original = analysis.communities
    drawn = []
    explorer.view.observe(lambda change: drawn.append(explorer.communities.params["resolution"]), names="graph")

    def slow_first(layers, method, **kw):
        if kw.get("resolution") == 0.3:
            started.set()
            gate.wait(5)  # the older request is still running when the newer one arrives
        return original(layers, method, **kw)

    analysis.communities = slow_first
    try:
        explorer.parameter.value = 0.3
        assert started.wait(5)
        explorer.parameter.value = 2.5
        gate.set()
        explorer.wait()
    finally:
        del analysis.communities
    assert drawn == [2.5]
    assert explorer.communities.params["resolution"] == 2.5


def test_switching_method_and_graph_mode(analysis):
    explorer = make(analysis)
    explorer.method.value = "agglomerative"
    explorer.wait()
    assert explorer.parameter.description == "distance cut" and explorer.communities.method == "agglomerative"
    explorer.method.value = "spectral"
    explorer.parameter.value = 5
    explorer.wait()
    assert explorer.communities.num_communities == 5
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    assert explorer.view.graph["mode"] == "neurons" and len(explorer.view.graph["nodes"]) == 64
    explorer.layers.value = ("layer2", "layer3")
    explorer.wait()
    assert len(explorer.view.graph["nodes"]) == 128 and explorer.communities.layers == ["layer2", "layer3"]


def test_an_exception_in_a_computation_shows_in_the_status_line(analysis):
    explorer = make(analysis)

    def broken(*args, **kwargs):
        raise RuntimeError("the GPU <caught fire>")

    analysis.communities = broken
    try:
        explorer.parameter.value = 1.7
        explorer.wait()
    finally:
        del analysis.communities
    assert 'data-kind="error"' in explorer.status.value
    assert "RuntimeError: the GPU &lt;caught fire&gt;" in explorer.status.value  # escaped, not HTML
    assert isinstance(explorer.status.last_error, RuntimeError)
    explorer.parameter.value = 1.0
    explorer.wait()
    assert 'data-kind="idle"' in explorer.status.value  # it recovers


def test_bad_arguments_are_explained(analysis):
    with pytest.raises(TypeError, match="needs an Analysis"):
        CommunityExplorer("not an analysis")
    with pytest.raises(ValueError, match="unknown method"):
        CommunityExplorer(analysis, method="kmeans")
    explorer = make(analysis)
    front_end_click(explorer, 99)
    assert "there is no community 99" in explorer.status.value
    explorer.layers.value = ()
    assert "select at least one layer" in explorer.status.value
