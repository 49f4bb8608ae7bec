"""Neuronization: the neurons of selected layers, their z-scored profiles and kNN graph.

Each neuron's most correlated neighbours are found once, a block of rows at a time on the
device, without the M x M correlation matrix (26,560 neurons would need 2.8 GB for it);
a graph for any k neighbours / minimum correlation is then a cheap slice. Correlations
between given neurons are computed from the z-scores when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

# The most neighbours a similarity graph may use; the neighbour order is precomputed up to it.
MAX_NEIGHBOURS = 64
# Bytes of one block of correlation rows while the neighbours are searched.
_BLOCK_BYTES = 128 * 2**20


@dataclass
class NeuronSet:
    """All neurons of some layers, in layer order, with what clustering needs."""

    layers: tuple[str, ...]
    neurons: list[tuple[str, int]]
    offsets: dict[str, tuple[int, int]]
    z: np.ndarray  # N x M z-scored profiles (0 for dead neurons), column-major
    dead: np.ndarray  # M bool: constant over the probe images
    device: torch.device = field(default=torch.device("cpu"), repr=False)
    _neighbours: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

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

    def correlation(self, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """len(rows) x len(cols) Pearson correlations (default: with every neuron); 1 on a
        living neuron's own diagonal entry, 0 for a dead neuron."""
        z = self.z
        cols = np.arange(self.size) if cols is None else np.asarray(cols)
        block = (z[:, rows].T @ z[:, cols] / z.shape[0]).clip(-1, 1)
        same = np.asarray(rows)[:, None] == cols[None, :]
        block[same & ~self.dead[cols][None, :]] = 1.0
        return block

    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, corr): M x min(MAX_NEIGHBOURS, M-1) each neuron's other neurons by falling
        correlation, and those correlations. Rows are searched a block at a time on the
        device (the correlations of a block with every neuron, then their top k)."""
        if self._neighbours is None:
            m, n = self.size, self.z.shape[0]
            k = min(MAX_NEIGHBOURS, m - 1)
            if k <= 0:
                self._neighbours = (np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32))
                return self._neighbours
            z = torch.from_numpy(self.z).to(self.device, torch.float32)
            order, corr = np.empty((m, k), np.int64), np.empty((m, k), np.float32)
            step = max(1, _BLOCK_BYTES // (4 * m))
            for start in range(0, m, step):
                stop = min(m, start + step)
                block = (z[:, start:stop].T @ z / n).clamp_(-1, 1)
                block[torch.arange(stop - start), torch.arange(start, stop)] = -torch.inf
                values, indices = torch.topk(block, k, dim=1)
                order[start:stop], corr[start:stop] = indices.cpu().numpy(), values.cpu().numpy()
            self._neighbours = (order, corr)
        return self._neighbours

    def knn_edges(self, k: int, min_corr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Undirected similarity edges (i < j, weight = correlation) of the kNN graph.

        An edge joins i and j when one is among the other's k most correlated neurons
        and their correlation is at least ``min_corr`` and positive. Dead neurons have none.
        """
        order, corr = self.neighbours()
        order, corr = order[:, :k], corr[:, :k]
        rows = np.repeat(np.arange(self.size), order.shape[1])
        cols, weights = order.reshape(-1), corr.reshape(-1)
        keep = (weights >= min_corr) & (weights > 0) & ~self.dead[rows] & ~self.dead[cols]
        rows, cols, weights = rows[keep], cols[keep], weights[keep]
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        key = lo * self.size + hi
        key, first = np.unique(key, return_index=True)
        return lo[first], hi[first], weights[first].astype(np.float64)


def build_neuron_set(profiles: dict[str, np.ndarray], device: torch.device) -> NeuronSet:
    """z-score every neuron's profile on the device."""
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
    z, dead = zscore(x)
    # Column-major: a neuron's profile is contiguous, so that the products over neurons
    # (community scores, correlation blocks) read z.T without copying it.
    return NeuronSet(layers, neurons, offsets, np.asfortranarray(z.cpu().numpy()), dead.cpu().numpy(), device)


def standardisation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How the columns of x are z-scored: their mean, the standard deviation they are
    divided by (1 for a dead column) and the dead mask.

    Parameters
    ----------
    x : torch.Tensor
        N x M: M profiles over N images.

    Returns
    -------
    mean, std, dead : torch.Tensor
        M each. A column constant over the images (std at most 1e-6 of its size) is dead:
        it scores 0 wherever it is z-scored, here or in a community's objective.
    """
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    dead = std <= 1e-6 * (1 + mean.abs())
    return mean, torch.where(dead, torch.ones_like(std), std), dead


def zscore(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z-scores (N x M) and dead mask (M) of the columns of x: ``z.T @ z / N`` is their
    Pearson correlation. A constant column is *dead*: its z-scores are 0, never NaN."""
    mean, std, dead = standardisation(x)
    z = torch.where(dead, torch.zeros_like(x), (x - mean) / std)
    return z, dead
