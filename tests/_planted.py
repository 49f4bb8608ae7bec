"""Probes whose profiles are planted: a model whose one layer, ``planted``, returns row ``i``
of a given N x M table for probe image ``i``, so that a test knows every neuron's profile
(tests/innersightnet/test_hub_images.py, test_partition_warnings.py, and the explorer,
report and debugger tests of the same truths)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from innersight_widgets import Analysis, ImageDataset

LAYER = "planted"


class _Lookup(nn.Module):
    """The table's row of each image, read from the image's first pixel (``index / N``)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[(x[:, 0, 0, 0] * len(self.table)).round().long()]


class PlantedNet(nn.Module):
    """``planted`` (B x M: the first table's rows), ``second`` when a second table is given,
    then a seeded linear head over ``classes`` reading both."""

    def __init__(self, table: torch.Tensor, classes: int, second: torch.Tensor | None = None) -> None:
        super().__init__()
        self.planted = _Lookup(table)
        self.second = None if second is None else _Lookup(second)
        width = table.shape[1] + (0 if second is None else second.shape[1])
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.planted(x) if self.second is None else torch.cat([self.planted(x), self.second(x)], dim=1)
        return self.head(features)


def planted_analysis(table: np.ndarray, classes: int = 3, seed: int = 0, second: np.ndarray | None = None) -> Analysis:
    """The Analysis of layer ``planted`` = ``table`` (N x M) and, when given, layer ``second`` =
    ``second`` (N x M'), over N random 3 x 4 x 4 images labelled ``i % classes``, each image's
    first pixel holding its index."""
    n = len(table)
    torch.manual_seed(seed)
    images = torch.rand(n, 3, 4, 4)
    images[:, 0, 0, 0] = torch.arange(n) / n
    tables = [torch.as_tensor(t, dtype=torch.float32) for t in (table, second) if t is not None]
    model = PlantedNet(tables[0], classes, tables[1] if second is not None else None).eval()
    layers = [LAYER] if second is None else [LAYER, "second"]
    return Analysis(model, ImageDataset(images, torch.arange(n) % classes), layers=layers, progress=False)


@dataclass(frozen=True)
class HubProfiles:
    """Planted profiles with hubs: ``table`` (N x M), each neuron's ``group``, the ``hubs``
    (images that drive every neuron), and each group's ``specific`` images (its own)."""

    table: np.ndarray
    group: np.ndarray
    hubs: np.ndarray
    specific: list[np.ndarray]


def hub_profiles(
    groups: int = 4, size: int = 15, images: int = 240, hubs: int = 6, own: int = 8, seed: int = 0
) -> HubProfiles:
    """``groups`` communities of ``size`` neurons over ``images`` images. Each group follows a
    latent signal of its own (gamma noise, mean 0.5) that is 4 higher on its ``own`` specific
    images; ``hubs`` images add 10 to every neuron of every group, more than any group's
    own images do; each neuron adds independent noise (sd 0.3)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(images)
    hub = np.sort(order[:hubs])
    specific = [np.sort(order[hubs + g * own: hubs + (g + 1) * own]) for g in range(groups)]
    latent = rng.gamma(2.0, 0.25, size=(images, groups))
    for g, chosen in enumerate(specific):
        latent[chosen, g] += 4.0
    latent[hub] += 10.0
    group = np.repeat(np.arange(groups), size)
    table = latent[:, group] + rng.normal(0, 0.3, size=(images, groups * size))
    return HubProfiles(table.astype(np.float32), group, hub, specific)


def noise_profiles(images: int = 300, neurons: int = 150, seed: int = 0) -> np.ndarray:
    """``images`` x ``neurons`` independent standard normal profiles: no community to find."""
    return np.random.default_rng(seed).normal(size=(images, neurons)).astype(np.float32)


def planted_group(partition_labels: np.ndarray, group: np.ndarray, community: int) -> int:
    """The planted group of a found community: that of its first member."""
    return int(group[np.flatnonzero(partition_labels == community)[0]])
