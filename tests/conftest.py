"""Shared fixtures: a tiny model with every activation layout, and small data for it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from innersight_widgets import ImageDataset


class TinyNet(nn.Module):
    """Conv (B x C x H x W), a nested residual block, a token layer (B x T x D), a Conv1d
    (B x C x L, channels first) and a linear head (B x F): every layout the core handles."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.tokens = nn.Linear(4, 6)
        self.mix = nn.Conv1d(6, 5, 1)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = self.block(h) + h
        t = self.tokens(h.flatten(2).transpose(1, 2))
        s = self.mix(t.transpose(1, 2))
        return self.head(s.mean(dim=2))


@pytest.fixture
def tiny_model() -> TinyNet:
    torch.manual_seed(0)
    model = TinyNet()
    bn = model.block[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture
def tiny_data() -> ImageDataset:
    g = torch.Generator().manual_seed(1)
    images = torch.rand(37, 3, 8, 8, generator=g)
    labels = torch.randint(0, 3, (37,), generator=g)
    return ImageDataset(images, labels, ["a", "b", "c"])
