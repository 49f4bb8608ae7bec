"""InnerSightNet communities: planted ground truth on the shipped models, and the machinery."""

import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score
from torch import nn

from innersight_widgets import Analysis, ImageDataset, load_pretrained, load_shapes
from innersight_widgets.innersightnet.aggregation import Communities, canonical


@pytest.fixture(scope="module")
def shapes_analysis():
    """shapes-cnn (trained where colour and shape are independent) on 1,000 test images."""
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=1000), layers=["layer2", "layer3"], progress=False)


def test_colour_communities_in_the_first_layer():
    # Colour is a local property decided in the first conv block, so we look there, with
    # max pooling (is the colour present anywhere?) and a cut that keeps neurons whose
    # profiles correlate above about 0.5 together.
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=1000), layers=["stem.2"], pooling="max", progress=False)
    communities = an.communities("stem.2", "agglomerative", threshold=0.5)
    report = an.evaluate(communities)
    colours = {
        label.value
        for label in (report.label(c) for c in range(communities.num_communities))
        if label.concept == "colour" and label.auroc >= 0.9
    }
    assert len(colours) >= 3, colours


def test_shape_communities_in_the_last_block(shapes_analysis):
    communities = shapes_analysis.communities("layer3", "louvain")  # default resolution 1, k=10
    report = shapes_analysis.evaluate(communities)
    labels = [report.label(c) for c in range(communities.num_communities)]
    shapes = {label.value for label in labels if label.concept == "shape" and label.auroc >= 0.9}
    assert len(shapes) >= 3, labels
    means, _ = report.class_selectivity()
    names = shapes_analysis.data.class_names
    for c, label in enumerate(labels):
        if label.concept == "shape" and label.auroc >= 0.95:
            assert names[int(np.argmax(means[:, c]))] == label.value  # the class it fires for is its shape
    within, outside = report.coherence()
    assert np.all(within > outside)


def test_the_most_important_late_community_beats_random_sets_and_random_partitions_do_not(shapes_analysis):
    communities = shapes_analysis.communities("layer3", "louvain")
    report = shapes_analysis.evaluate(communities)
    tests = [report.importance(c, draws=20) for c in range(communities.num_communities)]
    strongest = max(tests, key=lambda t: t.accuracy_drop)
    assert strongest.p_value < 0.05 and strongest.z_score > 3
    assert strongest.accuracy_drop > 0.1 and strongest.null_mean < 0.02

    rng = np.random.default_rng(0)
    random_labels = canonical(rng.permutation(np.arange(64) % communities.num_communities))
    random_partition = Communities("random", {}, 0, communities.neurons, random_labels, 0.0, None)
    random_report = shapes_analysis.evaluate(random_partition)
    p_values = [random_report.importance(c, draws=20).p_value for c in range(random_partition.num_communities)]
    assert sum(p < 0.05 for p in p_values) <= len(p_values) // 2, p_values


def test_moving_a_slider_reproduces_a_fresh_computation(shapes_analysis):
    an = shapes_analysis
    fresh = Analysis(an.model, an.data, layers=["layer2", "layer3"], progress=False)
    for method, name, values in [
        ("agglomerative", "threshold", [0.3, 1.1, 0.6]),
        ("louvain", "resolution", [0.4, 3.0, 1.5]),
        ("leiden", "resolution", [0.4, 3.0, 1.5]),
        ("spectral", "n_communities", [3, 9, 5]),
    ]:
        for value in values:
            moved = an.communities("layer2", method, stability_runs=0, **{name: value})
        again = fresh.communities("layer2", method, stability_runs=0, **{name: values[-1]})
        assert np.array_equal(moved.labels, again.labels), method
        assert moved.modularity == again.modularity


def test_the_dendrogram_cut_equals_scikit_learns_agglomerative_clustering(shapes_analysis):
    an = shapes_analysis
    profiles = an.profiles("layer2")
    distance = 1 - np.corrcoef(profiles.T)
    for threshold in (0.4, 0.8, 1.2):
        ours = an.communities("layer2", "agglomerative", threshold=threshold, stability_runs=0)
        reference = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, metric="precomputed", linkage="average"
        ).fit_predict(distance)
        assert adjusted_rand_score(ours.labels, reference) == pytest.approx(1.0)


def test_correlation_knn_graph_and_modularity_match_references(shapes_analysis):
    an = shapes_analysis
    aggregator = an.aggregator(["layer3"])
    reference = np.corrcoef(an.profiles("layer3").T)
    every = np.arange(64)
    np.testing.assert_allclose(aggregator.neurons.correlation(every, every), reference, atol=1e-4)
    rows, cols, weights = aggregator.edges(5, 0.2)
    assert np.all(rows < cols) and np.all(weights >= 0.2)
    np.testing.assert_allclose(weights, reference[rows, cols], atol=1e-4)
    others = reference - 2 * np.eye(64)  # a neuron is not its own neighbour
    nearest = np.argsort(-others, axis=1, kind="stable")[:, :5]
    expected = {(min(i, j), max(i, j)) for i in range(64) for j in nearest[i] if reference[i, j] >= 0.2}
    assert set(zip(rows.tolist(), cols.tolist())) == expected
    graph = nx.Graph()
    graph.add_nodes_from(range(64))
    graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), weights.tolist()))
    communities = an.communities("layer3", "louvain", k=5, min_corr=0.2, stability_runs=0)
    groups = [set(np.flatnonzero(communities.labels == c)) for c in range(communities.num_communities)]
    assert communities.modularity == pytest.approx(nx.community.modularity(graph, groups), abs=1e-9)


def test_stability_is_an_adjusted_rand_index(shapes_analysis):
    for method in ("louvain", "agglomerative"):
        communities = shapes_analysis.communities("layer3", method, stability_runs=3)
        assert 0.8 <= communities.stability <= 1.0


@pytest.mark.parametrize(
    "method, params, message",
    [
        ("kmeans", {}, "unknown method 'kmeans'; choose one of louvain, leiden, agglomerative, spectral"),
        ("louvain", {"threshold": 0.5}, "louvain takes no parameter threshold; its parameters are resolution, k, min_corr"),
        ("louvain", {"resolution": -1}, r"resolution must lie in \[0.001, 100.0\], got -1"),
        ("agglomerative", {"threshold": 3}, "threshold must lie"),
        ("agglomerative", {"linkage": "ward"}, "linkage must be one of average, complete, single"),
        ("spectral", {"n_communities": 1}, "n_communities must lie"),
        ("louvain", {"k": 0}, "k must lie"),
        ("louvain", {"k": 2.5}, "k must be an integer"),
    ],
)
def test_bad_parameters_get_clear_errors(shapes_analysis, method, params, message):
    with pytest.raises(ValueError, match=message):
        shapes_analysis.communities("layer3", method, **params)


def test_unselected_layers_and_foreign_communities_are_refused(shapes_analysis):
    with pytest.raises(ValueError, match="not selected"):
        shapes_analysis.communities("layer1")
    # a partition found on other images of the same layer can be evaluated on these
    other = Analysis(shapes_analysis.model, shapes_analysis.data.subset(range(100)), layers=["layer3"], progress=False)
    assert shapes_analysis.evaluate(other.communities("layer3")).scores.shape[0] == 1000
    # but not one over other neurons
    wrong = Communities("hand", {}, 0, [("layer3", i) for i in range(10)], np.zeros(10, int), 0.0, None)
    with pytest.raises(ValueError, match="another analysis or for other layers"):
        shapes_analysis.evaluate(wrong)


def test_dead_neurons_are_reported_not_nan(tiny_model, tiny_data):
    with torch.no_grad():
        tiny_model.conv.weight[1:3] = 0
        tiny_model.conv.bias[1:3] = 0.5  # channels 1 and 2 are constant
    an = Analysis(tiny_model, tiny_data, layers=["conv", "tokens"], progress=False)
    for method in ("louvain", "leiden", "agglomerative", "spectral"):
        params = {"n_communities": 3} if method == "spectral" else {}
        communities = an.communities(["conv", "tokens"], method, **params)
        assert communities.dead == [("conv", 1), ("conv", 2)]
        assert np.isfinite(communities.modularity)
        assert (communities.labels[[1, 2]] == -1).all() and (np.delete(communities.labels, [1, 2]) >= 0).all()
    neurons = an.aggregator(["conv", "tokens"]).neurons
    assert np.isfinite(neurons.correlation(np.arange(neurons.size))).all()
    report = an.evaluate(communities)
    assert np.isfinite(report.scores).all()


def test_community_scores_and_top_images(shapes_analysis):
    communities = shapes_analysis.communities("layer3", "louvain")
    report = shapes_analysis.evaluate(communities)
    profiles = shapes_analysis.profiles("layer3")
    z = (profiles - profiles.mean(0)) / profiles.std(0)
    members = [i for _, i in communities.members(0)]
    np.testing.assert_allclose(report.scores[:, 0], z[:, members].mean(1), atol=1e-4)
    top = report.top_images(0, k=10, ranking="plain")
    assert list(top) == list(np.argsort(-report.scores[:, 0], kind="stable")[:10])
    assert list(report.top_images(0, k=10)) == list(np.argsort(-report.specific_scores[:, 0], kind="stable")[:10])


def test_patches_are_receptive_fields_around_the_maximum():
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=200), layers=["stem.0", "layer1"], progress=False)
    # stem.0 is a 3x3 conv with stride 2 and padding 1: position (r, c) sees rows 2r-1..2r+1
    for image, neuron in [(0, 3), (5, 7), (17, 0)]:
        row, col = an.top_images("stem.0", neuron, k=200).positions[list(an.top_images("stem.0", neuron, k=200).indices).index(image)]
        top, left, bottom, right = an.receptive_box("stem.0", image, neuron)
        assert (top, left) == (max(0, 2 * row - 1), max(0, 2 * col - 1))
        assert (bottom, right) == (min(64, 2 * row + 2), min(64, 2 * col + 2))
    communities = an.communities("layer1", "louvain")
    patches = an.evaluate(communities).patches(0, k=5)
    assert len(patches) == 5
    for patch in patches:
        top, left, bottom, right = patch.box
        assert 0 <= top < bottom <= 64 and 0 <= left < right <= 64
        assert bottom - top >= 8  # layer1 sees more than the stem's 3x3


def test_neuron_graph_exports_to_graphml_and_json(shapes_analysis, tmp_path):
    from innersight_widgets import export_graph

    communities = shapes_analysis.communities(["layer2", "layer3"], "louvain")
    graph = shapes_analysis.neuron_graph(["layer2", "layer3"], k=5, flow_top=3, communities=communities)
    assert graph.number_of_nodes() == 128
    kinds = {k for _, _, data in graph.edges(data=True) for k in data}
    assert kinds == {"similarity", "flow"}
    flow_edges = [(u, v) for u, v, d in graph.edges(data=True) if "flow" in d]
    assert all(u.startswith("layer2:") and v.startswith("layer3:") for u, v in flow_edges)
    assert len(flow_edges) == 64 * 3
    back = nx.read_graphml(export_graph(graph, tmp_path / "g.graphml"))
    assert back.number_of_nodes() == 128 and back.nodes["layer3:0"]["community"] == graph.nodes["layer3:0"]["community"]
    assert "nodes" in (export_graph(graph, tmp_path / "g.json")).read_text()
    with pytest.raises(ValueError, match="graphml or .json"):
        export_graph(graph, tmp_path / "g.png")


def test_community_flow_sums_neuron_flow(shapes_analysis):
    communities = shapes_analysis.communities(["layer2", "layer3"], "louvain")
    report = shapes_analysis.evaluate(communities)
    flow = shapes_analysis.flow("layer2", "layer3")
    low, up = communities.labels[:64], communities.labels[64:]
    expected = np.zeros((communities.num_communities,) * 2)
    for u in range(64):
        for v in range(64):
            if low[v] >= 0 and up[u] >= 0:
                expected[low[v], up[u]] += flow[u, v]
    np.testing.assert_allclose(report.flow(), expected, rtol=1e-5)
    assert flow_edges(report.community_graph(flow=True)) == pytest.approx(
        {(f"c{a}", f"c{b}"): expected[a, b] for a, b in zip(*np.nonzero(expected))}, rel=1e-5
    )


def flow_edges(graph):
    return {(a, b): d["flow"] for a, b, d in graph.edges(data=True) if "flow" in d}


class TwoLinear(nn.Module):
    """12 pixels -> ``lower`` (6 features) -> ``upper`` (4 logits): upper's gradient with
    respect to lower neuron v is the weight W[u, v], so the flow is |W[u, v]| mean|a_v|."""

    def __init__(self) -> None:
        super().__init__()
        self.lower = nn.Linear(12, 6)
        self.upper = nn.Linear(6, 4)
        with torch.no_grad():
            self.upper.weight.copy_(torch.tensor([
                [3.0, -2.0, 0.5, 0.0, 0.0, 0.1],
                [0.0, 0.0, 0.0, -4.0, 0.0, 0.0],  # one input only: no zero-flow edges
                [0.2, 0.3, -1.0, 1.5, 2.5, 0.0],
                [1.0, 0.0, -1.0, 0.0, 1.0, -0.4],
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(x.flatten(1)))


def test_flow_edges_carry_the_gradient_times_activation_of_a_linear_layer():
    model = TwoLinear().eval()
    g = torch.Generator().manual_seed(6)
    data = ImageDataset(torch.rand(40, 3, 2, 2, generator=g), torch.randint(0, 4, (40,), generator=g), list("abcd"))
    an = Analysis(model, data, layers=["lower", "upper"], progress=False)
    with torch.no_grad():
        lower = model.lower(data.images.flatten(1)).numpy()
    flow = np.abs(model.upper.weight.detach().numpy()) * np.abs(lower).mean(0)  # 4 upper x 6 lower
    np.testing.assert_allclose(an.flow("lower", "upper"), flow, rtol=1e-5)

    expected = {}
    for u, row in enumerate(flow):
        for v in np.argsort(-row)[:2]:
            if row[v] > 0:
                expected[f"lower:{v}", f"upper:{u}"] = row[v]
    assert len(expected) == 7
    assert flow_edges(an.neuron_graph(["lower", "upper"], k=2, flow_top=2)) == pytest.approx(expected, rel=1e-5)

    neurons = [("lower", v) for v in range(6)] + [("upper", u) for u in range(4)]
    labels = np.array([0, 0, 0, 1, 1, 2, 0, 1, 2, 2])
    report = an.evaluate(Communities("planted", {}, 0, neurons, labels, 0.0, None))
    summed = np.zeros((3, 3))
    for v in range(6):
        for u in range(4):
            summed[labels[v], labels[6 + u]] += flow[u, v]
    assert flow_edges(report.community_graph(flow=True)) == pytest.approx(
        {(f"c{a}", f"c{b}"): summed[a, b] for a, b in zip(*np.nonzero(summed))}, rel=1e-5
    )


def test_the_neighbour_search_by_blocks_of_rows_equals_one_block(shapes_analysis, monkeypatch):
    """Neighbours are searched a block of correlation rows at a time (no M x M matrix):
    blocks of 3 rows give the neighbours and correlations of one block of all rows."""
    from innersight_widgets.innersightnet import neurons as _neurons

    profiles = {layer: shapes_analysis.profiles(layer) for layer in ("layer2", "layer3")}
    whole = _neurons.build_neuron_set(profiles, torch.device("cpu")).neighbours()
    m = whole[0].shape[0]
    monkeypatch.setattr(_neurons, "_BLOCK_BYTES", 3 * 4 * m)
    blocked = _neurons.build_neuron_set(profiles, torch.device("cpu")).neighbours()
    np.testing.assert_allclose(blocked[1], whole[1], atol=1e-5)
    assert (blocked[0] == whole[0]).mean() > 0.99  # ties between equal correlations may swap
    assert whole[0].shape == (m, min(_neurons.MAX_NEIGHBOURS, m - 1))


def _planted(m: int, groups: int, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n x m profiles of ``groups`` planted groups (each neuron a noisy copy of its group's
    latent signal), and each neuron's group."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, size=m)
    latent = rng.gamma(2.0, 1.0, size=(n, groups))
    return (latent[:, group] + rng.normal(0, 0.7, size=(n, m))).astype(np.float32), group


def test_above_the_coarse_size_louvain_and_leiden_cluster_micro_communities_and_find_the_planted_groups():
    """Above COARSE_ABOVE living neurons the slider's methods run on the graph of
    micro-communities: a partition has the same modularity on it as on the neurons' graph,
    and the planted groups are found as by the full graph."""
    from innersight_widgets.innersightnet import aggregation as module
    from innersight_widgets.innersightnet.neurons import build_neuron_set

    profiles, group = _planted(module.COARSE_ABOVE + 904, groups=40)
    aggregator = module.Aggregator(build_neuron_set({"wide": profiles}, torch.device("cpu")))
    micro, graph = aggregator._coarse(10, 0.0, 0)
    assert 40 <= graph.vcount() < len(micro) // 10
    coarse_labels = np.random.default_rng(1).integers(0, 7, size=graph.vcount())
    full_graph = aggregator._igraph(10, 0.0)
    for gamma in (0.5, 2.0):
        assert graph.modularity(coarse_labels.tolist(), weights="weight", resolution=gamma) == pytest.approx(
            full_graph.modularity(coarse_labels[micro].tolist(), weights="weight", resolution=gamma), abs=1e-9
        )
    for method in ("louvain", "leiden"):
        found = aggregator.communities(method, {"resolution": 1.0}, seed=0, stability_runs=0)
        assert adjusted_rand_score(found.labels, group) >= 0.95
        # the slider's top resolution is the micro-communities' own: each is within one community
        top = aggregator.communities(method, {"resolution": module.COARSE_RESOLUTION}, seed=0, stability_runs=0)
        assert all(len(np.unique(top.labels[micro == c])) == 1 for c in range(graph.vcount()))


def test_agglomerative_is_refused_above_its_size_and_names_the_methods_to_use():
    from innersight_widgets.innersightnet import aggregation as module
    from innersight_widgets.innersightnet.neurons import build_neuron_set

    profiles, _ = _planted(module.LARGEST["agglomerative"] + 1, groups=10, n=20)
    aggregator = module.Aggregator(build_neuron_set({"wide": profiles}, torch.device("cpu")))
    with pytest.raises(ValueError, match=r"agglomerative clustering of 10,001 living neurons needs every pair.s distance .* offered up to 10,000 neurons; use .louvain. or .leiden."):
        aggregator.communities("agglomerative", {}, seed=0, stability_runs=0)
    assert aggregator.communities("louvain", {}, seed=0, stability_runs=0).num_communities >= 2


def test_stability_runs_stop_when_asked_between_runs(shapes_analysis):
    from innersight_widgets.engine.runner import Cancelled

    asked = []

    def stop_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Cancelled):
        shapes_analysis.communities("layer3", "louvain", stability_runs=5, resolution=1.3, should_stop=stop_after_two)
    assert len(asked) == 3  # asked before each re-run: two ran, the third was stopped
    done = shapes_analysis.communities("layer3", "louvain", stability_runs=5, resolution=1.3, should_stop=lambda: False)
    assert 0 <= done.stability <= 1
