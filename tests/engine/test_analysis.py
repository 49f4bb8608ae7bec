"""The streaming pass against a brute-force full-batch computation, on every activation layout."""

import numpy as np
import pytest
import torch
from torch import nn

from innersight_widgets import Analysis, LayerNotFoundError

LAYERS = ["conv", "block", "block.1", "tokens", "mix", "head"]


def full_activations(model, images, layers):
    """Every selected layer's whole output for all images at once (the brute-force reference)."""
    outputs, modules = {}, dict(model.named_modules())
    handles = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o.detach().clone()))
        for n in layers
    ]
    with torch.no_grad():
        logits = model(images)
    for h in handles:
        h.remove()
    return outputs, logits


def neurons_first(name, act):
    """B x C x positions, by hand: token layers (B x T x D) have their neurons last."""
    if name == "tokens":
        act = act.transpose(1, 2)
    return act.reshape(act.shape[0], act.shape[1], -1).numpy()


@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("batch_size", [5, 256])
def test_streaming_statistics_equal_full_batch(tiny_model, tiny_data, pooling, batch_size):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=batch_size, pooling=pooling, progress=False)
    acts, logits = full_activations(tiny_model, tiny_data.images, LAYERS)
    labels = tiny_data.labels.numpy()
    np.testing.assert_allclose(an.predictions.logits, logits.numpy(), rtol=1e-5, atol=1e-5)
    assert np.array_equal(an.predictions.classes, logits.argmax(1).numpy())
    for name in LAYERS:
        flat = neurons_first(name, acts[name])
        pooled = flat.mean(2) if pooling == "mean" else flat.max(2)
        np.testing.assert_allclose(an.profiles(name), pooled, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(an.neuron_means(name), flat.mean(2).mean(0), rtol=1e-4, atol=1e-5)
        expected_means = np.stack([pooled[labels == k].mean(0) for k in range(3)])
        np.testing.assert_allclose(an.class_means(name), expected_means, rtol=1e-4, atol=1e-5)


def test_layouts_are_recognised(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    info = {i.name: i for i in an.available_layers()}
    assert info["conv"].num_neurons == 4 and info["conv"].spatial_shape == (8, 8)
    assert info["tokens"].num_neurons == 6 and info["tokens"].spatial_shape == (64,)
    assert info["mix"].num_neurons == 5 and info["mix"].spatial_shape == (64,)
    assert info["head"].num_neurons == 3 and info["head"].spatial_shape == ()
    # nested modules are found under their dotted names
    assert {"block", "block.0", "block.1", "block.2"} <= set(info)


def test_default_layers_are_the_conv_and_linear_units(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, progress=False)
    assert an.layers == ["conv", "block.0", "tokens", "mix", "head"]


@pytest.mark.parametrize("layer", ["conv", "block", "tokens", "mix", "head"])
def test_top_images_equal_a_brute_force_sort(tiny_model, tiny_data, layer):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=8, progress=False)
    acts, _ = full_activations(tiny_model, tiny_data.images, [layer])
    flat = neurons_first(layer, acts[layer])
    pooled = flat.mean(2)
    for neuron in range(pooled.shape[1]):
        top = an.top_images(layer, neuron, k=7)
        expected = sorted(range(len(pooled)), key=lambda i: -pooled[i, neuron])[:7]
        assert top.indices.tolist() == expected
        np.testing.assert_allclose(top.scores, pooled[expected, neuron], rtol=1e-5)
        if layer == "head":
            assert top.positions is None
            continue
        spatial = acts[layer].shape[2:] if layer != "tokens" else acts[layer].shape[1:2]
        for idx, pos in zip(expected, top.positions):
            assert int(np.ravel_multi_index(tuple(pos), spatial)) == int(flat[idx, neuron].argmax())


def test_top_images_of_a_conv_layer_give_row_and_column(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=["conv"], progress=False)
    top = an.top_images("conv", 2, k=3)
    acts, _ = full_activations(tiny_model, tiny_data.images, ["conv"])
    for idx, (row, col) in zip(top.indices, top.positions):
        fmap = acts["conv"][idx, 2]
        assert fmap[row, col] == fmap.max()


def test_a_wrong_layer_name_lists_close_matches(tiny_model, tiny_data):
    with pytest.raises(LayerNotFoundError, match=r"no layer named 'block.l'; did you mean .*'block.1'"):
        Analysis(tiny_model, tiny_data, layers=["block.l"], progress=False)
    with pytest.raises(LayerNotFoundError, match="the model's layers are: conv, block"):
        Analysis(tiny_model, tiny_data, layers=["zzzzzz"], progress=False)


def test_asking_for_an_unselected_layer_says_how_to_add_it(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=["conv"], progress=False)
    with pytest.raises(ValueError, match=r"not selected.*layers=\[\.\.\., 'head'\]"):
        an.profiles("head")


def test_bad_arguments_are_explained(tiny_model, tiny_data):
    with pytest.raises(ValueError, match="pooling"):
        Analysis(tiny_model, tiny_data, pooling="median")
    with pytest.raises(ValueError, match="batch_size"):
        Analysis(tiny_model, tiny_data, batch_size=0)
    an = Analysis(tiny_model, tiny_data, layers=["conv"], progress=False)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        an.top_images("conv", 4)
    with pytest.raises(ValueError, match="outputs but the data names"):
        Analysis(tiny_model, (tiny_data.images, torch.zeros(37, dtype=torch.long)), progress=False)


def test_a_shared_module_is_refused(tiny_data):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()
            self.fc = nn.Linear(3 * 8 * 8, 3)

        def forward(self, x):
            return self.fc(self.act(self.act(x)).flatten(1))

    with pytest.raises(ValueError, match="'act' cannot be analysed: it runs 2 times in one forward pass"):
        Analysis(Shared(), tiny_data, layers=["act"], progress=False)


def test_a_shared_conv_is_left_out_of_the_default_layers_with_a_note(tiny_data):
    class SharedConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.fc = nn.Linear(3 * 8 * 8, 3)

        def forward(self, x):
            return self.fc(self.conv(self.conv(x)).flatten(1))

    with pytest.warns(UserWarning, match="left out of the default layers: conv"):
        an = Analysis(SharedConv(), tiny_data, progress=False)
    assert an.layers == ["fc"]
    assert an.profiles("fc").shape == (37, 3)


def test_hooks_are_removed_after_the_pass(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    an.profiles("conv")
    an.ablate({"conv": [0]})
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny_model.modules())
