"""NeurFlow circuits on the shipped shapes model and on hand-built models with a planted answer,
and the batched IG against a slow reference (tests/_reference.py)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _reference import reference_ig
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score, silhouette_score
from torch import nn

from innersight_widgets import Analysis, Circuit, ImageDataset, build_circuit, load_pretrained, load_shapes
from innersight_widgets.engine._ig import integrated_gradients
from innersight_widgets.engine._segment import SegmentPlan, plan_segment
from innersight_widgets.neurflow.circuits import GROUP_RANGES, _pooled, _silhouette, _ward, barrier_score

LAYERS = ["layer3", "layer2"]


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=600), layers=["layer3"], progress=False)


@pytest.fixture(scope="module")
def circuit(analysis):
    return build_circuit(analysis, "star", LAYERS, tau=8, top_k=30, ig_steps=16, max_images=24)


@pytest.mark.parametrize("score", ["abs_mean", "mean_abs"])
@pytest.mark.parametrize("lower, upper", [("layer2", "layer3"), ("layer3", None), ("layer1.conv2", "layer2")])
def test_batched_ig_equals_a_per_neuron_per_step_loop(analysis, lower, upper, score):
    images = analysis.images(range(6))
    targets = np.array([0, 1, 2, 3, 0, 1]) if upper is None else np.array([0, 5, 9, 17, 33, 63])
    batched = integrated_gradients(
        analysis.runner, images, targets, analysis.layer_info(lower), None if upper is None else analysis.layer_info(upper), 8,
        score,
    )
    reference = np.concatenate(
        [reference_ig(analysis.model, images[i : i + 1], lower, upper, int(targets[i]), 8, score) for i in range(len(targets))]
    )
    np.testing.assert_allclose(batched, reference, rtol=1e-4, atol=1e-7)


def test_circuit_structure_and_export(circuit, analysis):
    assert circuit.class_name == "star" and circuit.layers == LAYERS
    assert 1 <= len(circuit.core["layer3"]) <= 8  # the logit keeps tau inputs
    assert all(len(inputs) == 8 for inputs in circuit.scores["layer3"].values())
    graph = circuit.graph()
    levels = {d["level"] for _, d in graph.nodes(data=True)}
    assert levels == {0, 1, 2}
    # the flow is connected level to level: every group below the class feeds a group one
    # level up, every group above the lowest layer is fed from one level down
    for group, data in graph.nodes(data=True):
        ups = [graph.nodes[b]["level"] for b in graph.successors(group)]
        downs = [graph.nodes[a]["level"] for a in graph.predecessors(group)]
        assert (ups != []) == (data["level"] > 0) and set(ups) <= {data["level"] - 1}, group
        assert (downs != []) == (data["level"] < 2) and set(downs) <= {data["level"] + 1}, group
        assert all(graph.edges[group, b]["weight"] > 0 for b in graph.successors(group))
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


def test_debug_image_finds_a_groups_own_crop_where_it_was_cut(circuit, analysis):
    group = circuit.groups_of("layer3")[0]
    crop = group.crops[0]  # the group's most representative crop
    image, *box = circuit.crops[crop].tolist()
    match = next(m for m in circuit.debug_image(image, "layer3") if m["group"] == group.id)
    hit = [c for c in match["crops"] if c["box"] == box]
    assert len(hit) == 1 and group.threshold <= hit[0]["score"] <= match["best"]
    # the score is the crop's own: its pooled activations over the group's neurons against the group's mean
    size = analysis.data.image_shape[-2:]
    pixels = F.interpolate(circuit.crop_image(crop)[None], size=size, mode="bilinear", align_corners=False)
    vector = _pooled(analysis, pixels, [group.space_layer])[group.space_layer][:, group.space]
    assert hit[0]["score"] == pytest.approx(float(barrier_score(vector, np.asarray(group.vector))[0]), rel=1e-4)


def test_star_images_light_the_class_groups_more_than_other_images(circuit, analysis):
    used = set(circuit.crops[:, 0].tolist())
    held_out = {cls: [int(i) for i in np.flatnonzero(analysis.labels == cls) if i not in used][:3] for cls in range(4)}
    stars, others = held_out.pop(3), [held_out[cls][0] for cls in held_out]

    def lit(image):
        return sum(bool(m["crops"]) for m in circuit.debug_image(image, "logit"))

    assert sum(map(lit, stars)) >= sum(map(lit, others)) + 2, [list(map(lit, stars)), list(map(lit, others))]
    for m in circuit.debug_image(stars[0], "layer3"):
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
        ({"n_groups": 0}, r"n_groups must be a positive integer \(groups per layer; None chooses"),
        ({"n_groups": 2.5}, r"n_groups must be a positive integer .*got 2\.5"),
        ({"max_images": 0}, "max_images must be a positive integer"),
        ({"score": "mean"}, r"score must be one of 'abs_mean', 'mean_abs' \('abs_mean': \|spatial mean.*got 'mean'"),
        ({"concept_space": "all"}, r"concept_space must be one of 'layer', 'core' .*got 'all'"),
        ({"group_range": 10}, r"group_range must be one of 'wide', 'narrow' .*got 10"),
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


# ---------------------------------------------------------------- the definitions, on planted answers
class Cancelling(nn.Module):
    """Two neurons (a 1x1 convolution copying the image's two channels) under a linear head:
    logit 0 = sum over positions of (+1 on the left half, -1 on the right) x neuron 0 + 0.5 x
    neuron 1. On images constant per channel, neuron 0's IG map is +a on the left and -a on
    the right: a large mean of |IG| whose spatial mean is 0."""

    def __init__(self, side: int = 4) -> None:
        super().__init__()
        self.features = nn.Conv2d(2, 2, 1, bias=False)
        self.head = nn.Linear(2 * side * side, 2, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            halves = torch.ones(side, side)
            halves[:, side // 2 :] = -1
            self.head.weight.zero_()
            self.head.weight[0] = torch.cat([halves.flatten(), torch.full((side * side,), 0.5)])

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


@pytest.fixture(scope="module")
def cancelling():
    """12 images of class 0: channel 0 is 0.6 or 1.4 by turns (two kinds), channel 1 is about 1."""
    n = 12
    values = torch.stack([torch.where(torch.arange(n) % 2 == 0, 0.6, 1.4), 1 + 0.01 * torch.arange(n)], 1)
    images = values.view(n, 2, 1, 1).expand(n, 2, 4, 4).contiguous()
    data = ImageDataset(images, torch.zeros(n, dtype=torch.long), ["a", "b"])
    return Analysis(Cancelling().eval(), data, layers=["features"], progress=False)


def _planted_circuit(an, **kwargs):
    return build_circuit(an, "a", ["features"], tau=1, top_k=12, ig_steps=4, granularities=(1.0,), max_images=12, **kwargs)


def test_the_default_score_is_the_absolute_spatial_mean(cancelling):
    # mean |IG|: neuron 0 scores a (0.6 or 1.4), neuron 1 scores 0.5 x about 1;
    # |mean IG|: neuron 0 scores 0, neuron 1 still about 0.5
    assert _planted_circuit(cancelling, score="mean_abs").core["features"] == [0]
    circuit = _planted_circuit(cancelling)
    assert circuit.core["features"] == [1]
    assert circuit.scores["logit"][0][1] == pytest.approx(0.5 * 1.055, rel=1e-3)  # 0.5 x mean of channel 1


def test_the_default_concepts_are_clustered_over_the_whole_lower_layer(cancelling):
    kinds = np.arange(12) % 2  # the crops are the images (granularity 1)
    for option, whole_layer in [({}, True), ({"concept_space": "core"}, False)]:
        circuit = _planted_circuit(cancelling, **option)
        found = np.empty(12, dtype=int)
        for c in (c for c in circuit.concepts if c.layer == "logit"):
            found[c.crops] = c.index
        # over both neurons the two kinds of image separate; in the core input (neuron 1) alone they cannot
        assert (adjusted_rand_score(kinds, found) == 1.0) == whole_layer, (option, found)
        assert {len(g.space) for g in circuit.groups} == {2 if whole_layer else 1}


def test_a_fixed_number_of_groups_is_kept(cancelling):
    circuit = _planted_circuit(cancelling, n_groups=1)
    assert [len(circuit.groups_of(level)) for level in ["logit", "features"]] == [1, 1]


def test_the_default_group_range_reaches_n_minus_one_groups():
    # four kinds of image, (channel 0, channel 1) = (1, 1), (1, 1.5), (6, 1), (1, 6): neuron 1's
    # top crops (the images) form four concepts, the first two close together: 3 groups fit them
    # best, which 2..min(n - 1, 100) reaches for n = 4 concepts and 2..min(10, n / 2) does not
    kinds = np.arange(16) % 4
    values = torch.tensor([[1.0, 1.0], [1.0, 1.5], [6.0, 1.0], [1.0, 6.0]])[kinds]
    values[:, 1] += 1e-3 * torch.arange(16)
    images = values.view(16, 2, 1, 1).expand(16, 2, 4, 4).contiguous()
    an = Analysis(Cancelling().eval(), ImageDataset(images, torch.zeros(16, dtype=torch.long), ["a", "b"]),
                  layers=["features"], progress=False)
    settings = {"tau": 1, "top_k": 16, "ig_steps": 2, "granularities": (1.0,), "max_images": 16}
    for option, expected in [({}, [[0, 1], [2], [3]]), ({"group_range": "narrow"}, None)]:
        circuit = build_circuit(an, "a", ["features"], **settings, **option)
        for level in ["logit", "features"]:
            assert len([c for c in circuit.concepts if c.layer == level]) == 4
            groups = circuit.groups_of(level)
            if expected is None:
                assert len(groups) == 2
            else:
                assert sorted(sorted(set(kinds[g.crops].tolist())) for g in groups) == expected, level


def test_the_wide_group_range_finds_many_separate_groups():
    rng = np.random.default_rng(0)
    planted = np.repeat(np.arange(24), 3)
    vectors = rng.normal(scale=10, size=(24, 5))[planted] + rng.normal(scale=0.01, size=(72, 5))
    wide = _ward(vectors, None, 2, GROUP_RANGES["wide"][1](len(vectors)))
    assert adjusted_rand_score(planted, wide) == 1.0
    assert len(set(_ward(vectors, None, 2, GROUP_RANGES["narrow"][1](len(vectors))))) == 10


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
    got = integrated_gradients(an.runner, images, targets, an.layer_info(lower), an.layer_info(upper) if upper else None, steps)
    reference = np.concatenate(
        [reference_ig(an.model, images[i : i + 1], lower, upper, int(targets[i]), steps, "abs_mean") for i in range(len(targets))]
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
