"""Flow edges: batched gradient x activation against a one-neuron-at-a-time reference."""

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis


def reference_flow(model, images, lower, upper, upper_axis=1):
    """Loop over upper neurons and images: mean over images of sum |d pooled_u / dA * A|."""
    modules = dict(model.named_modules())
    store = {}

    def grab_lower(_m, _i, out):
        leaf = out.detach().requires_grad_(True)
        store["lower"] = leaf
        return leaf

    def grab_upper(_m, _i, out):
        store["upper"] = out

    h1 = modules[lower].register_forward_hook(grab_lower)
    h2 = modules[upper].register_forward_hook(grab_upper)
    rows = []
    for x in images:
        model(x[None])
        act, out = store["lower"], store["upper"]
        out = out.movedim(upper_axis, 1).reshape(1, out.shape[upper_axis], -1).mean(2)[0]
        row = []
        for u in range(out.shape[0]):
            (g,) = torch.autograd.grad(out[u], act, retain_graph=True)
            row.append((g * act).abs().reshape(act.shape[1], -1).sum(1).detach().numpy())
        rows.append(np.stack(row))
    h1.remove()
    h2.remove()
    return np.mean(rows, axis=0)


@pytest.mark.parametrize("lower, upper", [("conv", "block"), ("conv", "block.0"), ("block", "head")])
def test_batched_flow_equals_the_loop(tiny_model, tiny_data, lower, upper):
    an = Analysis(tiny_model, tiny_data, layers=[lower, upper], batch_size=8, progress=False)
    n = len(tiny_data)
    sample = np.sort(np.random.default_rng(0).permutation(n)[:20])
    expected = reference_flow(tiny_model, tiny_data.images[sample], lower, upper)
    np.testing.assert_allclose(an.flow(lower, upper, images=20), expected, rtol=1e-4, atol=1e-6)


def test_weight_flow_for_directly_connected_layers(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=["conv", "block.0"], progress=False)
    expected = tiny_model.block[0].weight.detach().abs().sum(dim=(2, 3)).numpy()
    np.testing.assert_allclose(an.flow("conv", "block.0", method="weights"), expected)
    with pytest.raises(ValueError, match="use flow='gradient'"):
        an.flow("conv", "block", method="weights")
    with pytest.raises(ValueError, match="flow goes from a lower layer to a later one"):
        an.flow("block.0", "conv")
    with pytest.raises(ValueError, match="'gradient' or 'weights'"):
        an.flow("conv", "block.0", method="random")


def test_weight_flow_through_a_flatten(tiny_data):
    from innersight_widgets import load_digits, load_pretrained

    model = load_pretrained("digits-cnn")
    an = Analysis(model, load_digits(split="test"), layers=["pool3", "fc1"], progress=False)
    flow = an.flow("pool3", "fc1", method="weights")
    w = model.fc1.weight.detach().abs().reshape(64, 64, 16).sum(2).numpy()
    np.testing.assert_allclose(flow, w, rtol=1e-6)
