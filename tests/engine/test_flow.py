"""Flow edges: batched gradient x activation against a one-neuron-at-a-time reference."""

import numpy as np
import pytest
from _reference import reference_flow

from innersight_widgets import Analysis


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
