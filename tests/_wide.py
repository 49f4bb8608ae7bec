"""A network at the scale the explorer must handle: a small CNN whose two wide layers hold
8,192 neurons, on 64 shapes images (an Analysis in about a second). Used by
tests/test_explorer_scale.py, and by the notebook tests/test_browser_explorer_scale.py
writes (which puts this folder on the kernel's path)."""

from __future__ import annotations

import torch
from torch import nn

from innersight_widgets import Analysis, load_shapes

LAYERS = ["wide1", "wide2"]
NEURONS = 8192  # 4,096 channels in each of LAYERS


class WideNet(nn.Module):
    """Stem (3 -> 64 channels, 8 x 8 maps), then two wide 1 x 1 convolutions of 4,096 channels
    (the second grouped, so that it stays cheap), and a linear head over 4 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 5, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.wide1 = nn.Conv2d(64, NEURONS // 2, 1)
        self.wide2 = nn.Conv2d(NEURONS // 2, NEURONS // 2, 1, groups=64)
        self.head = nn.Linear(NEURONS // 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.wide1(self.stem(x)))
        h = torch.relu(self.wide2(h))
        return self.head(h.mean(dim=(2, 3)))


def wide_analysis(images: int = 64) -> Analysis:
    """The Analysis of a seeded :class:`WideNet` on ``images`` shapes test images."""
    torch.manual_seed(0)
    return Analysis(WideNet().eval(), load_shapes("test", n=images), layers=LAYERS, progress=False)
