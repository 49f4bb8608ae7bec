"""NeurFlow circuits on the shipped shapes model, and the batched IG against a slow reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import silhouette_score
from torch import nn

from innersight_widgets import Analysis, Circuit, ImageDataset, build_circuit, load_pretrained, load_shapes
from innersight_widgets.core._ig import integrated_gradients
from innersight_widgets.core._segment import SegmentPlan, plan_segment
from innersight_widgets.core.circuits import _silhouette

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
    images = analysis.images(range(6))
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
    star = int(np.flatnonzero(analysis.labels == 3)[0])
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


# ---------------------------------------------------------------- the exact IG plan (core/_segment.py)
class TorchvisionStyleBlock(nn.Module):
    """Identity shortcut, in-place ReLUs and ``out += identity``, as torchvision writes them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class PlanNet(nn.Module):
    """Max pooling, a biased strided conv, functional ReLU and pooling, torch.flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.block = TorchvisionStyleBlock(8)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.pool(self.block(self.stem(x)))
        x = F.relu(self.conv(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Untraceable(PlanNet):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            x = x * 1.0
        return super().forward(x)


def _plan_analysis(cls):
    torch.manual_seed(3)
    model = cls()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    g = torch.Generator().manual_seed(4)
    data = ImageDataset(torch.rand(8, 3, 16, 16, generator=g), torch.arange(8) % 3, ["a", "b", "c"])
    return Analysis(model.eval(), data, progress=False)


def _check_against_reference(an, lower, upper, steps=8):
    n = an.layer_info(upper).num_neurons if upper else len(an.data.class_names)
    targets = np.arange(len(an.data)) % n
    images = an.images(range(len(an.data)))
    got = integrated_gradients(an, images, targets, an.layer_info(lower), an.layer_info(upper) if upper else None, steps)
    reference = np.stack(
        [reference_ig(an.model, images[i], lower, upper, int(targets[i]), steps) for i in range(len(targets))]
    )
    np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "lower, upper, planned",
    [
        ("stem", "block", True),  # the lower activation itself is the shortcut: read at the target channel only
        ("block", "conv", True),  # max pooling before the sliced conv
        ("conv", None, True),  # functional ReLU and pooling, flatten, the sliced linear head
        ("block.conv1", "block", False),  # the shortcut reads from below block.conv1: plain path
    ],
)
def test_planned_ig_equals_the_reference_on_other_architectures(lower, upper, planned):
    an = _plan_analysis(PlanNet)
    plan = plan_segment(an.model, lower, upper)
    assert (plan is not None) == planned
    _check_against_reference(an, lower, upper)  # a plan that failed or disagreed would warn: an error here


def test_the_plan_takes_the_shortcuts_on_the_shipped_models(analysis):
    plan = plan_segment(analysis.model, "layer2", "layer3")
    head, sliced = {n.name for n in plan.head}, {n.name for n in plan.sliced}
    # conv1 and the projection shortcut run once per row; conv2 computes the target channel only
    assert {"layer3_conv1", "layer3_bn1", "layer3_shortcut_0", "layer3_shortcut_1"} <= head
    assert {"layer3_conv2", "layer3_bn2", "layer3_relu2"} <= sliced
    digits = load_pretrained("digits-cnn")
    assert {n.name for n in plan_segment(digits, "conv2", "conv3").sliced} == {"conv3"}


def test_a_model_fx_cannot_trace_takes_the_plain_path():
    an = _plan_analysis(Untraceable)
    assert plan_segment(an.model, "block", "conv") is None
    _check_against_reference(an, "block", "conv")


def test_a_plan_that_disagrees_with_the_plain_path_is_dropped(monkeypatch):
    an = _plan_analysis(PlanNet)
    original = SegmentPlan.mean_gradient
    monkeypatch.setattr(SegmentPlan, "mean_gradient", lambda self, *a: 2 * original(self, *a))
    with pytest.warns(UserWarning, match="disagreed with the plain path"):
        _check_against_reference(an, "block", "conv")


def test_silhouette_equals_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = int(rng.integers(6, 40))
        x = rng.normal(size=(m, 4))
        labels = np.arange(m) % int(rng.integers(2, 5))
        rng.shuffle(labels)
        assert _silhouette(squareform(pdist(x)), labels) == pytest.approx(silhouette_score(x, labels), abs=1e-9)
