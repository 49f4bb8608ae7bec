"""Inputs a new user gets wrong, and odd uses: each gets a correct result or an error that
names the argument and the fix, never a raw library message or a silently wrong answer."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
import torch
from conftest import TinyNet
from torch import nn
from torch.utils.data import Dataset

from innersight_widgets import Analysis, ImageDataset
from innersight_widgets.cli import main
from innersight_widgets.engine.records import AblationResult
from innersight_widgets.neucept.critical import CriticalNeurons

LAYERS = ["conv", "block.0", "tokens", "head"]


class Items(Dataset):
    """A map-style dataset of (image, label) items, as a user writes one."""

    def __init__(self, images, labels) -> None:
        self.images, self.labels_ = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels_[i]


# ------------------------------------------------------------------ silent wrong results
def test_a_nan_pixel_is_refused_naming_the_image(tiny_model, tiny_data):
    images = tiny_data.images.clone()
    images[5, 1, 2, 3] = float("nan")
    images[30, 0, 0, 0] = float("inf")
    an = Analysis(tiny_model, ImageDataset(images, tiny_data.labels, tiny_data.class_names), layers=LAYERS, progress=False)
    with pytest.raises(ValueError, match=r"probe image\(s\) 5, 30 hold NaN or infinite pixels"):
        an.profiles("conv")


def test_non_finite_activations_are_refused_naming_the_layer_and_images(tiny_model, tiny_data):
    class Overflowing(nn.Module):
        """Infinite in its second layer for images whose first pixel is above 0.9 only."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.gate = inner, nn.Identity()

        def forward(self, x):
            scale = torch.where(x[:, :1, :1, :1] > 0.9, torch.tensor(float("inf")), torch.tensor(1.0))
            return self.inner(self.gate(x) * scale)

    bright = np.flatnonzero(tiny_data.images[:, 0, 0, 0].numpy() > 0.9).tolist()
    assert bright  # the seeded data has some
    an = Analysis(Overflowing(tiny_model), tiny_data, layers=["gate", "inner.conv"], progress=False)
    with pytest.raises(ValueError, match=rf"image\(s\) {', '.join(map(str, bright))} give NaN or infinite activations in layer 'inner.conv'"):
        an.profiles("gate")


def test_classes_without_probe_images_have_no_mean_and_are_never_top_classes(tiny_model, tiny_data):
    keep = tiny_data.labels != 2  # class "c" is absent
    data = ImageDataset(tiny_data.images[keep], tiny_data.labels[keep], tiny_data.class_names)
    an = Analysis(tiny_model, data, layers=LAYERS, progress=False)
    assert np.isnan(an.class_means("conv")[2]).all() and np.isfinite(an.class_means("conv")[:2]).all()
    report = an.evaluate(an.communities(["conv", "block.0"], stability_runs=0))
    means, selectivity = report.class_selectivity()
    assert np.isnan(means[2]).all() and np.isfinite(selectivity).all()
    for c in range(report.num_communities):
        assert sorted(report.top_classes(c)) == ["a", "b"]  # of three asked for, the two with images
    # the selectivity index runs over the present classes: two classes, one driving alone -> 1
    manual = means[:2] - means[:2].min(0)
    p = manual / manual.sum(0)
    np.testing.assert_allclose(selectivity, 1 + (p * np.log(np.where(p > 0, p, 1))).sum(0) / np.log(2), atol=1e-5)


def test_own_logit_change_never_builds_the_class_by_class_matrix():
    k, n = 10_000, 6
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 3, 3, 9_999, 7])
    before = rng.standard_normal((n, k)).astype(np.float32)
    after = before + rng.standard_normal((n, k)).astype(np.float32)
    result = AblationResult({"x": (0,)}, "zero", [str(i) for i in range(k)], labels, before, after)
    tracemalloc.start()
    own = result.own_logit_change
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 << 20  # a K x K float64 matrix would be 800 MB
    rows = np.arange(n)
    delta = (after - before)[rows, labels]
    np.testing.assert_allclose(own[[0, 3, 9_999, 7]], [delta[:2].mean(), delta[2:4].mean(), delta[4], delta[5]], rtol=1e-6)
    assert np.isnan(own[1]) and np.isnan(own[5_000])  # classes without images


def test_labels_that_are_not_whole_numbers_are_refused_not_truncated(tiny_model, tiny_data):
    items = Items(tiny_data.images, [2.5] * len(tiny_data))
    with pytest.raises(TypeError, match=r"label 2\.5 is not a class index"):
        Analysis(tiny_model, items, layers=LAYERS, class_names=tiny_data.class_names, progress=False).labels  # noqa: B018
    whole = Items(tiny_data.images, [float(y) for y in tiny_data.labels])
    an = Analysis(tiny_model, whole, layers=LAYERS, class_names=tiny_data.class_names, progress=False)
    np.testing.assert_array_equal(an.labels, tiny_data.labels.numpy())


# ------------------------------------------------------------------ the cache
SCALE = {"logits": 1.0}  # a global the forward below reads: invisible to any fingerprint


class Tempered(TinyNet):
    """TinyNet whose logits are divided by a plain attribute: a change outside state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.temperature = 1.0

    def forward(self, x):
        return super().forward(x) / self.temperature * SCALE["logits"]


def test_the_cache_sees_attributes_and_hooks_outside_the_state_dict(tiny_data, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = Tempered().eval()
    first = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False).predictions.logits.copy()
    model.temperature = 4.0
    scaled = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False).predictions.logits
    np.testing.assert_allclose(scaled, first / 4, rtol=1e-5)
    handle = model.head.register_forward_hook(lambda _m, _i, out: out * 2)
    hooked = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(hooked.predictions.logits, first / 2, rtol=1e-5)
    handle.remove()
    # a change the fingerprint cannot see: a global the forward reads; refresh=True recomputes
    model.temperature = 1.0
    monkeypatch.setitem(SCALE, "logits", 3.0)
    stale = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False).predictions.logits
    np.testing.assert_allclose(stale, first, rtol=1e-5)
    fresh = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False, refresh=True)
    np.testing.assert_allclose(fresh.predictions.logits, first * 3, rtol=1e-5)
    again = Analysis(model, tiny_data, layers=["head"], cache_dir=tmp_path, progress=False).predictions.logits
    np.testing.assert_allclose(again, first * 3, rtol=1e-5)  # the refreshed entry replaced the old one


def test_an_unusable_cache_dir_is_refused_before_the_pass(tiny_model, tiny_data, tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        Analysis(tiny_model, tiny_data, layers=LAYERS, cache_dir=a_file, progress=False)
    with pytest.raises(ValueError, match="cannot be written"):
        Analysis(tiny_model, tiny_data, layers=LAYERS, cache_dir=a_file / "below", progress=False)


# ------------------------------------------------------------------ data that does not fit
@pytest.mark.parametrize(
    "dtype, images_dtype", [(torch.float64, torch.float32), (torch.bfloat16, torch.float32), (torch.float32, torch.float16)]
)
def test_images_are_cast_to_the_models_dtype(tiny_model, tiny_data, dtype, images_dtype):
    reference = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False).profiles("tokens")
    model = TinyNet()
    model.load_state_dict(tiny_model.state_dict())
    model = model.to(dtype).eval()
    data = ImageDataset(tiny_data.images.to(images_dtype), tiny_data.labels, tiny_data.class_names)
    profiles = Analysis(model, data, layers=LAYERS, progress=False).profiles("tokens")
    tolerance = {torch.float64: 1e-5, torch.bfloat16: 0.1, torch.float32: 1e-2}[dtype]
    np.testing.assert_allclose(profiles, reference, atol=tolerance * (1 + np.abs(reference).max()))


@pytest.mark.parametrize(
    "images, expected",
    [
        (torch.rand(4, 1, 8, 8), r"of shape \(1, 8, 8\)"),  # grayscale for an RGB model
        (torch.rand(4, 8, 8, 3), r"of shape \(8, 8, 3\)"),  # channels last
        (torch.rand(4, 3, 6, 6), r"of shape \(3, 6, 6\)"),  # 6 px where the model needs 8
    ],
)
def test_images_the_model_cannot_take_get_the_batch_shape_and_torchs_message(images, expected):
    class Fixed(nn.Module):  # a model that needs 3 x 8 x 8 images, as most classifiers need one size
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.head = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            return self.head(self.conv(x).flatten(1))

    with pytest.raises(ValueError, match=rf"the model failed on a batch of .*{expected}.*: .*channels, size and layout"):
        Analysis(Fixed(), (images, torch.zeros(4, dtype=torch.long)), class_names=["a", "b", "c"], progress=False)


def test_a_dataset_of_images_of_different_sizes_says_how_to_fix_it(tiny_model):
    items = Items([torch.rand(3, 8, 8), torch.rand(3, 9, 8), torch.rand(3, 8, 8)], [0, 1, 2])
    with pytest.raises(ValueError, match=r"different shapes \[\(3, 8, 8\), \(3, 9, 8\)\].*transform that resizes"):
        Analysis(tiny_model, items, class_names=["a", "b", "c"], progress=False)


def test_a_pair_of_lists_is_an_images_labels_pair(tiny_model, tiny_data):
    pair = ([image for image in tiny_data.images], [int(y) for y in tiny_data.labels])
    an = Analysis(tiny_model, pair, layers=LAYERS, class_names=tiny_data.class_names, progress=False)
    reference = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    np.testing.assert_array_equal(an.profiles("conv"), reference.profiles("conv"))


class Attending(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)
        self.spare = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        t = self.conv(x).flatten(2).transpose(1, 2)
        a, _ = self.attn(t, t, t)
        return self.head(a.mean(1))


@pytest.mark.parametrize(
    "layer, why",
    [("attn", "returns a tuple, not a tensor; choose a submodule"), ("spare", "did not run in a forward pass")],
)
def test_a_layer_that_exists_but_cannot_be_analysed_says_why(tiny_data, layer, why):
    with pytest.raises(ValueError, match=rf"layer '{layer}' cannot be analysed: it {why}"):
        Analysis(Attending(), tiny_data, layers=[layer], progress=False)
    with pytest.raises(ValueError, match="no layer named 'atn'; did you mean 'attn'"):
        Analysis(Attending(), tiny_data, layers=["atn"], progress=False)


# ------------------------------------------------------------------ degenerate sizes
def test_communities_need_three_images(tiny_model, tiny_data):
    few = tiny_data.subset([0, 1])
    an = Analysis(tiny_model, few, layers=LAYERS, progress=False)
    for method in ("louvain", "agglomerative", "spectral"):
        with pytest.raises(ValueError, match="needs at least 3 images; the probe set has 2"):
            an.communities("conv", method)


def test_a_layer_of_one_neuron_is_one_community_by_every_method(tiny_data):
    class Narrow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)
            self.head = nn.Linear(64, 3)

        def forward(self, x):
            return self.head(self.conv(x).flatten(1))

    torch.manual_seed(0)
    an = Analysis(Narrow().eval(), tiny_data, layers=["conv"], progress=False)
    for method in ("louvain", "agglomerative", "spectral"):
        communities = an.communities("conv", method)
        assert communities.num_communities == 1 and communities.labels.tolist() == [0]


@pytest.mark.parametrize(
    "w, no_power, expected",
    [
        (np.zeros((1, 6)), 1, "no power: the knockoffs could not differ"),
        (np.array([[3.0, 2.0, -0.5, 0.0, 0.1, 0.0]]), 0, r"knockoff\+ needs at least 10 neurons with a clearly positive W, and 3 of 6"),
    ],
)
def test_critical_neurons_say_why_nothing_is_selected(w, no_power, expected):
    critical = CriticalNeurons("conv2", 3, "3", 0.1, w, np.zeros(6, bool), no_power)
    assert critical.selected.size == 0
    assert critical.why_none is not None and re.search(expected, critical.why_none)
    assert CriticalNeurons("conv2", 3, "3", 0.5, np.array([[3.0, 2.0, 1.0, -0.1, 0.0, 0.0]]), np.zeros(6, bool)).why_none is None


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize(
    "arguments, expected",
    [(["--device", "gpu-please"], "'gpu-please' is not a device; use 'cpu', 'cuda'"), (["--cache-dir", "{file}"], "is a file, not a folder")],
)
def test_the_cli_answers_user_errors_in_one_line_with_exit_code_2(tmp_path, capsys, arguments, expected):
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["demo", *[a.format(file=a_file) for a in arguments]]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
