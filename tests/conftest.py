"""Shared fixtures: a tiny model with every activation layout, and small data for it."""

from __future__ import annotations

import os

# One compute thread per process, set before torch and numpy load their thread pools: the
# suite runs in parallel processes (pytest-xdist, see addopts in pyproject.toml) beside the
# kernels, servers and browsers it starts, on as few as 2 cores. Pools of several threads
# there spin waiting for each other: the quiet suite took 60% more CPU time and a third
# more wall time with them. Notebook kernels and CLI runs inherit the setting.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest
import torch
from torch import nn

from innersight_widgets import ImageDataset

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server for the real-browser tests (tests/_browser.py): (address, token)."""
    from _browser import jupyter_lab

    with jupyter_lab(tmp_path) as server:
        yield server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e (notebooks, JupyterLab in Chromium, the wheel, torchrun,
    README run as printed) carries the ``e2e`` marker: ``pytest -m "not e2e"`` is the fast suite."""
    e2e = os.path.join(os.path.dirname(__file__), "e2e") + os.sep
    for item in items:
        if str(item.path).startswith(e2e):
            item.add_marker(pytest.mark.e2e)
