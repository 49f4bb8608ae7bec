"""NeurFlow circuits on the shipped shapes model, and the batched IG against a slow reference."""

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, Circuit, build_circuit, load_pretrained, load_shapes
from innersight_widgets.core._ig import integrated_gradients

LAYERS = ["layer3", "layer2"]


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=600), layers=["layer3"], progress=False)


@pytest.fixture(scope="module")
def circuit(analysis):
    return build_circuit(analysis, "star", LAYERS, tau=8, top_k=30, ig_steps=16, max_images=24)


def reference_ig(model, image, lower, upper, target, steps):
    """One image, one target, one step at a time: the reference implementation's structure."""
    modules = dict(model.named_modules())
    store = {}
    handle = modules[lower].register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    with torch.no_grad():
        model(image[None])
    handle.remove()
    act, total = store["a"], torch.zeros_like(store["a"])
    for s in range(steps):
        x = ((s + 0.5) / steps * act).clone().requires_grad_(True)
        handles = [modules[lower].register_forward_hook(lambda m, i, o: x)]
        if upper is not None:
            handles.append(modules[upper].register_forward_hook(lambda m, i, o: store.__setitem__("u", o)))
        out = model(image[None])
        for h in handles:
            h.remove()
        value = out[0, target] if upper is None else store["u"][0, target].mean()
        (grad,) = torch.autograd.grad(value, x)
        total += grad
    return (act * total / steps).abs()[0].reshape(act.shape[1], -1).mean(1).numpy()


@pytest.mark.parametrize("lower, upper", [("layer2", "layer3"), ("layer3", None), ("layer1.conv2", "layer2")])
def test_batched_ig_equals_a_per_neuron_per_step_loop(analysis, lower, upper):
    images = analysis.data.images[:6]
    targets = np.array([0, 1, 2, 3, 0, 1]) if upper is None else np.array([0, 5, 9, 17, 33, 63])
    batched = integrated_gradients(
        analysis, images, targets, analysis.layer_info(lower), None if upper is None else analysis.layer_info(upper), 8
    )
    reference = np.stack(
        [reference_ig(analysis.model, images[i], lower, upper, int(targets[i]), 8) for i in range(len(targets))]
    )
    np.testing.assert_allclose(batched, reference, rtol=1e-4, atol=1e-7)


def test_circuit_structure_and_export(circuit, analysis):
    assert circuit.class_name == "star" and circuit.layers == LAYERS
    assert 1 <= len(circuit.core["layer3"]) <= 8  # the logit keeps tau inputs
    assert all(len(inputs) == 8 for inputs in circuit.scores["layer3"].values())
    graph = circuit.graph()
    levels = {d["level"] for _, d in graph.nodes(data=True)}
    assert levels == {0, 1, 2}
    assert all(graph.nodes[a]["level"] == graph.nodes[b]["level"] + 1 for a, b in graph.edges)
    assert all(d["weight"] > 0 for *_, d in graph.edges(data=True))
    again = Circuit.from_json(circuit.to_json(), analysis)
    assert again.to_dict() == circuit.to_dict()
    with pytest.raises(ValueError, match="without its analysis"):
        Circuit.from_json(circuit.to_json()).debug_image(0, "layer3")


def test_upper_groups_carry_shape_labels(circuit):
    upper = [g for g in circuit.groups if g.layer in ("logit", "layer3")]
    shaped = [g for g in upper if g.label and g.label["concept"] == "shape" and g.label["share"] >= 0.5]
    assert len(shaped) > len(upper) / 2, [g.label for g in upper]
    assert all(g.label["value"] == "star" for g in circuit.groups if g.layer == "logit")


def test_fidelity_core_inputs_matter_more_than_random_ones(circuit):
    result = circuit.fidelity("layer3", draws=5)
    # margin asserted: masking the tau core inputs changes the top-k crop set at least
    # three times as much as masking tau random neurons of layer2, and by 0.25 more
    assert result["core_mean"] >= 3 * result["random_mean"]
    assert result["core_mean"] >= result["random_mean"] + 0.25


def test_debug_image_finds_the_class_groups_in_a_star(circuit, analysis):
    star = int(np.flatnonzero(analysis.data.labels.numpy() == 3)[0])
    matches = circuit.debug_image(star, "layer3")
    assert matches[0]["best"] >= max(m["best"] for m in matches)
    assert any(m["crops"] for m in matches)
    for m in matches:
        for crop in m["crops"]:
            top, left, bottom, right = crop["box"]
            assert 0 <= top < bottom <= 64 and 0 <= left < right <= 64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target_class": "hexagon"}, "unknown class 'hexagon'"),
        ({"target_class": 7}, r"class index in 0\.\.3"),
        ({"layers": ["layer2", "layer3"]}, "high to low"),
        ({"tau": 65}, r"tau must be in 1\.\.64"),
        ({"layers": ["layer3", "fc"]}, "no 2-D map"),
        ({"error_range": 1.5}, r"error_range must lie in \(0, 1\)"),
    ],
)
def test_bad_input_is_explained(analysis, kwargs, message):
    args = {"target_class": "star", "layers": LAYERS, "tau": 8, "top_k": 10, "ig_steps": 2, "max_images": 4} | kwargs
    with pytest.raises(ValueError, match=message):
        build_circuit(analysis, **args)


def test_error_range_keeps_fewer_inputs(analysis):
    full = build_circuit(analysis, "circle", ["layer3", "layer2"], tau=8, top_k=20, ig_steps=4, max_images=8)
    cut = build_circuit(analysis, "circle", ["layer3", "layer2"], tau=8, top_k=20, ig_steps=4, max_images=8, error_range=0.5)
    assert sum(map(len, cut.scores["layer3"].values())) <= sum(map(len, full.scores["layer3"].values()))
    assert all(1 <= len(v) <= 8 for v in cut.scores["layer3"].values())
