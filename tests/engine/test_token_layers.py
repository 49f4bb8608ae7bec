"""Token layers of patch-based models as image regions: the patch grid found from the patch
embedding (or given), profiles pooled over the patch tokens (or the CLS token, or all),
maxima as grid cells and receptive boxes as the patch's pixels; channels-last maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from innersight_widgets import Analysis, ImageDataset

SIDE, PATCH, DIM = 16, 4, 6


class PatchNet(nn.Module):
    """A tiny vision transformer's shape: a patch embedding (conv, kernel = stride = 4), a CLS
    token before the 16 patch tokens, a token-wise MLP and a head on the CLS token."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.randn(1, 1, DIM))
        self.mlp = nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], 1)
        mixed = self.mlp(tokens)
        return self.head(mixed[:, 0] + mixed[:, 1:].mean(1))


def planted() -> tuple[ImageDataset, list[tuple[int, int]]]:
    """Dark images, each with one bright patch at a known cell of the 4 x 4 grid."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(20, 3, SIDE, SIDE, generator=g) * 0.1
    cells = [(i % 4, (3 * i + 1) % 4) for i in range(20)]
    for i, (row, col) in enumerate(cells):
        images[i, :, row * PATCH : (row + 1) * PATCH, col * PATCH : (col + 1) * PATCH] = 1.0
    return ImageDataset(images, torch.arange(20) % 2, ["a", "b"]), cells


def bright_neuron(model: PatchNet) -> int:
    """A neuron of the MLP that grows with the patch's brightness."""
    with torch.no_grad():
        model.embed.weight.fill_(0.05)
        model.embed.bias.zero_()
        model.mlp.weight.zero_()
        model.mlp.weight[2].fill_(1.0)
    return 2


def test_the_grid_is_found_and_a_planted_patch_is_where_its_neuron_peaks():
    model = PatchNet()
    neuron = bright_neuron(model)
    data, cells = planted()
    an = Analysis(model, data, layers=["mlp"], progress=False)
    info = an.layer_info("mlp")
    assert (info.grid, info.prefix, info.spatial_shape) == ((4, 4), 1, (4, 4))
    top = an.top_images("mlp", neuron, k=20)
    assert [tuple(p) for p in top.positions] == [cells[i] for i in top.indices]
    for image in range(20):
        row, col = cells[image]
        box = (row * PATCH, col * PATCH, (row + 1) * PATCH, (col + 1) * PATCH)
        assert an.receptive_box("mlp", image, neuron) == box


@pytest.mark.parametrize("tokens", ["patches", "cls", "all"])
def test_profiles_pool_the_tokens_asked_for(tokens):
    model, (data, _) = PatchNet(), planted()
    an = Analysis(model, data, layers=["mlp"], tokens=tokens, progress=False)
    out = {}
    model.mlp.register_forward_hook(lambda m, i, o: out.__setitem__("mlp", o))
    with torch.no_grad():
        model(data.images)
    chosen = {"patches": slice(1, 17), "cls": slice(0, 1), "all": slice(None)}[tokens]
    np.testing.assert_allclose(an.profiles("mlp"), out["mlp"][:, chosen].mean(1).numpy(), rtol=1e-5, atol=1e-6)
    assert an.layer_info("mlp").spatial_shape == {"patches": (4, 4), "cls": (), "all": (17,)}[tokens]


def test_a_grid_can_be_given_and_a_wrong_one_is_explained():
    model, (data, _) = PatchNet(), planted()
    given = Analysis(model, data, layers=["mlp"], token_grid=(2, 8), prefix_tokens=1, progress=False)
    assert given.layer_info("mlp").spatial_shape == (2, 8)
    with pytest.raises(ValueError, match=r"token_grid=\(5, 5\) fits no token layer.*hold \[17\]"):
        Analysis(model, data, layers=["mlp"], token_grid=(5, 5), progress=False)
    with pytest.raises(ValueError, match="token_grid must be"):
        Analysis(model, data, layers=["mlp"], token_grid=(4, True), progress=False)
    with pytest.raises(ValueError, match="tokens must be one of 'patches', 'cls', 'all'"):
        Analysis(model, data, layers=["mlp"], tokens="mean", progress=False)


def test_a_channels_last_map_is_never_read_as_c_equal_h():
    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pointwise = nn.Linear(4, 5)  # on N x H x W x C, as ConvNeXt blocks run it
            self.head = nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.pointwise(self.conv(x).permute(0, 2, 3, 1))
            return self.head(h.mean((1, 2)))

    data, _ = planted()
    an = Analysis(ChannelsLast(), data, layers=["pointwise"], progress=False)
    info = an.layer_info("pointwise")
    assert (info.num_neurons, info.spatial_shape) == (5, (SIDE, SIDE))
    assert an.profiles("pointwise").shape == (20, 5)


def test_a_channels_last_layer_can_be_declared():
    class GeluLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.act = nn.GELU()  # on N x H x W x C: nothing in the module says so
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.act(self.conv(x).permute(0, 2, 3, 1))
            return self.head(h.mean((1, 2)))

    data, _ = planted()
    read = Analysis(GeluLast(), data, layers=["act"], progress=False)
    assert read.layer_info("act").num_neurons == SIDE  # undeclared, H is taken for the channels
    declared = Analysis(GeluLast(), data, layers=["act"], channels_last=["act"], progress=False)
    info = declared.layer_info("act")
    assert (info.num_neurons, info.spatial_shape) == (4, (SIDE, SIDE))
    with pytest.raises(ValueError, match="only a 4-D output"):
        Analysis(GeluLast(), data, layers=["act"], channels_last=["head"], progress=False)
    with pytest.raises(ValueError, match="no layer named 'actt'"):
        Analysis(GeluLast(), data, layers=["act"], channels_last=["actt"], progress=False)
