"""Neuronization: the neurons of selected layers, their z-scored profiles, correlations and kNN graph.

The expensive parts (correlation on the device, neighbour order) are computed once;
a graph for any k neighbours / minimum correlation is then a cheap slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

# The most neighbours a similarity graph may use; the neighbour order is precomputed up to it.
MAX_NEIGHBOURS = 64


@dataclass
class NeuronSet:
    """All neurons of some layers, in layer order, with what clustering needs."""

    layers: tuple[str, ...]
    neurons: list[tuple[str, int]]
    offsets: dict[str, tuple[int, int]]
    z: np.ndarray  # N x M z-scored profiles (0 for dead neurons)
    dead: np.ndarray  # M bool: constant over the probe images
    corr: np.ndarray  # M x M Pearson correlation (0 off-diagonal and on the diagonal for dead neurons)
    _order: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.neurons)

    def layer_of(self) -> np.ndarray:
        """M: index into ``layers`` of each neuron."""
        out = np.empty(self.size, dtype=np.int64)
        for i, layer in enumerate(self.layers):
            start, stop = self.offsets[layer]
            out[start:stop] = i
        return out

    def neighbour_order(self) -> np.ndarray:
        """M x min(MAX_NEIGHBOURS, M-1): each neuron's other neurons by falling correlation."""
        if self._order is None:
            m = self.size
            k = min(MAX_NEIGHBOURS, m - 1)
            c = torch.from_numpy(self.corr).clone()
            c.fill_diagonal_(-np.inf)
            self._order = torch.topk(c, k, dim=1).indices.numpy() if k > 0 else np.zeros((m, 0), np.int64)
        return self._order

    def knn_edges(self, k: int, min_corr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Undirected similarity edges (i < j, weight = correlation) of the kNN graph.

        An edge joins i and j when one is among the other's k most correlated neurons
        and their correlation is at least ``min_corr`` and positive. Dead neurons have none.
        """
        order = self.neighbour_order()[:, :k]
        rows = np.repeat(np.arange(self.size), order.shape[1])
        cols = order.reshape(-1)
        weights = self.corr[rows, cols]
        keep = (weights >= min_corr) & (weights > 0) & ~self.dead[rows] & ~self.dead[cols]
        rows, cols, weights = rows[keep], cols[keep], weights[keep]
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        key = lo * self.size + hi
        key, first = np.unique(key, return_index=True)
        return lo[first], hi[first], weights[first].astype(np.float64)


def build_neuron_set(profiles: dict[str, np.ndarray], device: torch.device) -> NeuronSet:
    """z-score every neuron's profile and correlate all pairs in one matrix product on the device."""
    layers = tuple(profiles)
    images = next(iter(profiles.values())).shape[0]
    if images < 3:
        raise ValueError(
            f"communities compare neurons by how their profiles vary across the probe images, which needs at "
            f"least 3 images; the probe set has {images}. Give more images"
        )
    neurons, offsets, start = [], {}, 0
    for layer, p in profiles.items():
        neurons += [(layer, i) for i in range(p.shape[1])]
        offsets[layer] = (start, start + p.shape[1])
        start += p.shape[1]
    x = torch.from_numpy(np.concatenate([profiles[l] for l in layers], axis=1)).to(device, torch.float32)
    z, dead, corr = zscore_correlation(x)
    return NeuronSet(layers, neurons, offsets, z.cpu().numpy(), dead.cpu().numpy(), corr.cpu().numpy())


def zscore_correlation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z-scores (N x M), dead mask (M) and Pearson correlation (M x M) of the columns of x.

    A constant column is *dead*: its z-scores are 0 and its correlations 0, never NaN.
    """
    n = x.shape[0]
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    dead = std <= 1e-6 * (1 + mean.abs())
    z = torch.where(dead, torch.zeros_like(x), (x - mean) / torch.where(dead, torch.ones_like(std), std))
    corr = (z.T @ z / n).clamp_(-1, 1)
    corr.fill_diagonal_(1.0)
    corr[dead] = 0
    corr[:, dead] = 0
    return z, dead, corr
