"""Pathways of communities across layers into a class: reference loops on a tiny model, and
planted ground truth on the shipped shapes models (docs/methods.md, section 3.6)."""

import itertools

import numpy as np
import pytest
import torch
from _reference import reference_flow

from innersight_widgets import Analysis, load_pretrained, load_shapes

TINY_LAYERS = ["conv", "block", "mix"]  # B x C x H x W, the same after a residual block, B x C x L


@pytest.fixture
def tiny_report(tiny_model, tiny_data):
    """One partition spanning the three layers, so that communities have parts in several."""
    an = Analysis(tiny_model, tiny_data, layers=TINY_LAYERS, batch_size=8, progress=False)
    communities = an.communities(TINY_LAYERS, "agglomerative", threshold=0.5, stability_runs=0)
    return an.evaluate(communities)


def parts(report, layer):
    """{community: [neuron index in layer]} of the community parts in ``layer``."""
    out = {}
    for (member_layer, index), c in zip(report.communities.neurons, report.communities.labels):
        if member_layer == layer and c >= 0:
            out.setdefault(int(c), []).append(index)
    return out


def reference_class_attribution(model, images, labels, layer):
    """Images x C: d logit[label] / d A * A summed over positions, one image at a time."""
    store = {}

    def grab(_m, _i, out):
        store["a"] = out.detach().requires_grad_(True)
        return store["a"]

    handle = dict(model.named_modules())[layer].register_forward_hook(grab)
    rows = []
    for x, y in zip(images, labels):
        logit = model(x[None])[0, int(y)]
        (g,) = torch.autograd.grad(logit, store["a"])
        rows.append((g * store["a"]).detach()[0].reshape(store["a"].shape[1], -1).sum(1).numpy())
    handle.remove()
    return np.array(rows)


def test_flow_edges_equal_a_per_community_loop(tiny_report, tiny_model, tiny_data):
    graph = tiny_report.flow_graph(images=64)  # 64 >= 37 images: every image, as the loop uses
    edges = 0
    for lower, upper in itertools.pairwise(TINY_LAYERS):
        neuron_flow = reference_flow(tiny_model, tiny_data.images, lower, upper)  # C_upper x C_lower
        below, above = parts(tiny_report, lower), parts(tiny_report, upper)
        for b, up_members in above.items():
            into_b = {a: sum(neuron_flow[u, v] for u in up_members for v in members) for a, members in below.items()}
            for a, flow in into_b.items():
                edge = graph.edges[f"{lower}:c{a}", f"{upper}:c{b}"]
                assert edge["flow"] == pytest.approx(flow, rel=1e-4)
                assert edge["share"] == pytest.approx(flow / sum(into_b.values()), rel=1e-4)
                edges += 1
    assert edges == sum(1 for _, _, d in graph.edges(data=True) if "flow" in d) > 4
    assert any(len({layer for layer, _ in tiny_report.communities.members(c)}) > 1
               for c in range(tiny_report.num_communities))  # some community has parts in several layers


def test_class_edges_equal_a_per_image_loop(tiny_report, tiny_model, tiny_data):
    graph = tiny_report.flow_graph(images=64)
    per_image = reference_class_attribution(tiny_model, tiny_data.images, tiny_data.labels, "mix")
    top = parts(tiny_report, "mix")
    for cls, name in enumerate(tiny_data.class_names):
        mine = tiny_data.labels.numpy() == cls
        attribution = {b: per_image[mine][:, members].sum(1).mean() for b, members in top.items()}
        positive = sum(max(a, 0) for a in attribution.values())
        for b, value in attribution.items():
            edge = graph.edges[f"mix:c{b}", f"class:{name}"]
            assert edge["attribution"] == pytest.approx(value, rel=1e-4, abs=1e-7)
            assert edge["share"] == pytest.approx(max(value, 0) / positive, rel=1e-4, abs=1e-7)
    assert {n for n, d in graph.nodes(data=True) if d["kind"] == "class"} == {"class:a", "class:b", "class:c"}
    # images=5: the first 5 images of each class in the seeded order of the flow's sample
    order = np.random.default_rng(0).permutation(len(tiny_data))
    labels = tiny_data.labels.numpy()
    few = np.array([[per_image[i] for i in order if labels[i] == cls][:5] for cls in range(3)])  # 3 x 5 x C
    members = np.zeros((per_image.shape[1], tiny_report.num_communities))
    for b, indices in top.items():
        members[indices, b] = 1
    np.testing.assert_allclose(tiny_report.class_flow(images=5), few.mean(1) @ members, rtol=1e-4, atol=1e-7)


def test_pathways_are_the_strongest_of_all_paths(tiny_report):
    graph = tiny_report.flow_graph(images=64)
    by_layer = [parts(tiny_report, layer) for layer in TINY_LAYERS]
    for name in ["a", "b", "c"]:
        every = []
        for chain in itertools.product(*by_layer):
            nodes = [f"{layer}:c{c}" for layer, c in zip(TINY_LAYERS, chain)] + [f"class:{name}"]
            shares = [graph.edges[u, v]["share"] if graph.has_edge(u, v) else 0.0 for u, v in itertools.pairwise(nodes)]
            every.append((float(np.prod(shares)), chain, shares))
        every.sort(key=lambda path: -path[0])
        found = tiny_report.pathways(name, k=3, images=64)
        assert [p.score for p in found] == pytest.approx([score for score, _, _ in every[:3]], rel=1e-9)
        assert found[0].communities == every[0][1]
        assert list(found[0].flows) == pytest.approx(every[0][2])
        assert sum(score for score, _, _ in every) <= 1 + 1e-9
    path = tiny_report.pathways(2, k=1, images=64)[0]
    assert path.to_dict()["steps"][-1] == {
        "layer": "mix", "community": path.communities[-1], "label": path.labels[-1], "flow": path.flows[-1]
    }
    assert path.target_class == "c" and path.layers == tuple(TINY_LAYERS)


def test_one_layer_and_mistakes(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=TINY_LAYERS, batch_size=8, progress=False)
    top = an.evaluate(an.communities("mix", "agglomerative", threshold=0.3, stability_runs=0))
    paths = top.pathways("c", k=2, images=64)  # one layer: a path is one community and its share of the class
    assert len(paths) == 2 and len(paths[0].flows) == 1 and paths[0].score == paths[0].flows[0] > paths[1].score
    with pytest.raises(ValueError, match="unknown class 'd'; the classes are a, b, c"):
        top.pathways("d")
    with pytest.raises(ValueError, match="k must be"):
        top.pathways("a", k=0)
    per_layer = [an.communities(layer, "louvain", stability_runs=0) for layer in TINY_LAYERS]
    with pytest.raises(ValueError, match="share layers"):
        an.evaluate([per_layer[0], an.communities(["conv", "block"], stability_runs=0)])
    with pytest.raises(ValueError, match="interleave"):
        an.evaluate([an.communities(["conv", "mix"], stability_runs=0), per_layer[1]])


@pytest.fixture(scope="module")
def shapes_data():
    return load_shapes("test", n=1000)


def per_layer_report(model, data):
    """The report of one Louvain partition per layer, layer1 to layer3, stacked."""
    an = Analysis(load_pretrained(model), data, layers=["layer1", "layer2", "layer3"], progress=False)
    report = an.evaluate([an.communities(layer, "louvain", stability_runs=0) for layer in an.layers])
    assert report.communities.method == "stacked"
    return report


def test_the_strongest_path_into_each_shape_ends_in_its_shape_community(shapes_data):
    report = per_layer_report("shapes-cnn", shapes_data)
    for shape in shapes_data.class_names:
        best = report.pathways(shape, k=3, images=128)[0]
        assert best.layers[-1] == "layer3"
        assert best.labels[-1] == f"shape={shape}", best


def test_the_spurious_model_routes_classes_through_colour(shapes_data):
    report = per_layer_report("shapes-spurious-cnn", shapes_data)
    best = [report.pathways(shape, k=1, images=128)[0] for shape in shapes_data.class_names]
    through_colour = [p for p in best if any(label.startswith("colour=") for label in p.labels)]
    assert len(through_colour) >= 3, best
