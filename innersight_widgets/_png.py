"""Probe images as small PNG thumbnails: sent to the browser by the widgets, embedded in
the HTML reports as data URIs (no UI toolkit needed)."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

THUMBNAIL_SIZE = 72


def to_png(image: torch.Tensor, box: tuple[int, int, int, int] | None = None, size: int = THUMBNAIL_SIZE) -> bytes:
    """A C x H x W image in [0, 1] (or a crop of it) as PNG bytes, scaled to ``size`` pixels wide."""
    if box is not None:
        top, left, bottom, right = box
        image = image[:, top:bottom, left:right]
    array = image.detach().cpu().float()
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:  # normalised inputs: stretch to the visible range
        array = (array - low) / max(high - low, 1e-8)
    pixels = (array.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    pixels = pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)
    picture = Image.fromarray(pixels)
    scale = size / max(picture.size)
    picture = picture.resize(
        (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
