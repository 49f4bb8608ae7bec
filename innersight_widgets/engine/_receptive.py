"""Receptive fields of conv layers, measured by back-propagating from one position to the input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..data import ProbeSet
    from ._layers import LayerInfo
    from .runner import ModelRunner


@dataclass(frozen=True)
class ReceptiveField:
    """Input box of position (0, 0) of a layer's map, and the input stride between positions."""

    top: float
    left: float
    bottom: float
    right: float
    stride_h: float
    stride_w: float
    image_h: int
    image_w: int

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in input pixels of position (row, col), clipped to the image."""
        top = int(round(self.top + row * self.stride_h))
        left = int(round(self.left + col * self.stride_w))
        bottom = int(round(self.bottom + row * self.stride_h))
        right = int(round(self.right + col * self.stride_w))
        return (
            max(0, top), max(0, left), min(self.image_h, max(bottom, top + 1)), min(self.image_w, max(right, left + 1))
        )


def field_of(runner: ModelRunner, data: ProbeSet, info: LayerInfo) -> ReceptiveField:
    """The receptive field of a layer's positions: a patch layer's position is its patch's
    pixels (attention mixes the whole image, but a patch token stands for its patch); a conv
    map's is measured (:func:`measure`)."""
    if info.grid is None:
        return measure(runner, data, info)
    image_h, image_w = data.image_shape[-2:]
    patch_h, patch_w = image_h / info.grid[0], image_w / info.grid[1]
    return ReceptiveField(0.0, 0.0, patch_h, patch_w, patch_h, patch_w, image_h, image_w)


def measure(runner: ModelRunner, data: ProbeSet, info: LayerInfo, samples: int = 8) -> ReceptiveField:
    """Where the input influences the centre of ``info``'s map: the union, over a few
    probe images and all channels, of pixels with a non-zero gradient."""
    if len(info.spatial_shape) != 2:
        raise ValueError(f"layer {info.name!r} has no 2-D map (shape {info.shape}); receptive fields need a conv layer")
    h, w = info.spatial_shape
    image_h, image_w = data.image_shape[-2:]
    row, col = h // 2, w // 2
    x = runner.to_device(data.example(samples)).clone().requires_grad_(True)
    centre = runner.forward(x, stop_after=info.name, grad=True).movedim(info.channel_axis, 1)[:, :, row, col]
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(centre.float().pow(2).sum() + centre.float().sum(), x)
    touched = grad.abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(touched.any(dim=1)).flatten()
    cols = torch.nonzero(touched.any(dim=0)).flatten()
    stride_h, stride_w = image_h / h, image_w / w
    if rows.numel() == 0:  # a dead centre: fall back to one stride-sized cell
        r0, r1, c0, c1 = row * stride_h, (row + 1) * stride_h, col * stride_w, (col + 1) * stride_w
    else:
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return ReceptiveField(
        r0 - row * stride_h, c0 - col * stride_w, r1 - row * stride_h, c1 - col * stride_w,
        stride_h, stride_w, image_h, image_w,
    )
