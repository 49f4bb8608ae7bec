"""Planted-concept shapes drawn with Pillow: shape, colour and texture are all known per image."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw

from .._validation import Interval, Options, validate_params
from ._dataset import Concept, ImageDataset

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = ("red", "green", "blue", "yellow")
TEXTURES = ("solid", "striped")
#: In the spurious training split shape i comes in colour i this often.
SPURIOUS_AGREEMENT = 0.95

IMAGE_SIZE = 64
_SUPERSAMPLE = 4
_RGB = np.array(
    [[0.92, 0.15, 0.12], [0.15, 0.78, 0.20], [0.18, 0.32, 0.95], [0.95, 0.85, 0.12]],
    dtype=np.float32,
)
_DEFAULT_N = {"train": 8000, "test": 2000}


@validate_params({
    "split": Options("train", "test"),
    "n": Interval(
        int, 1, none=True, meaning=f"images drawn; None: {_DEFAULT_N['train']} for train, {_DEFAULT_N['test']} for test"
    ),
    "seed": Interval(int, 0, meaning="the seed of the drawing"),
})
def load_shapes(
    split: Literal["train", "test"] = "train",
    spurious: bool = False,
    n: int | None = None,
    seed: int = 0,
) -> ImageDataset:
    """RGB 64x64 images of one shape each; label = shape; concepts = shape, colour, texture.

    Shape, colour and texture are drawn independently, with random position, size,
    rotation, background and mild noise. With ``spurious=True`` the *train* split gives
    shape i the colour i (circle-red, square-green, triangle-blue, star-yellow) in 95%
    of images, a shortcut a model can learn; the test split is always independent, so
    such a model fails where colour and shape disagree.
    """
    n = _DEFAULT_N[split] if n is None else n
    images, shape, colour, texture = _generate(split, bool(spurious) and split == "train", n, seed)
    concepts = {
        "shape": Concept(shape, SHAPES),
        "colour": Concept(colour, COLOURS),
        "texture": Concept(texture, TEXTURES),
    }
    # The generated arrays are cached read-only; each dataset gets its own copy.
    return ImageDataset(torch.from_numpy(images.copy()), shape, list(SHAPES), concepts)


@lru_cache(maxsize=4)
def _generate(
    split: str, spurious: bool, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, int(spurious)])
    shape = rng.integers(len(SHAPES), size=n)
    colour = rng.integers(len(COLOURS), size=n)
    if spurious:
        agree = rng.random(n) < SPURIOUS_AGREEMENT
        other = (shape + rng.integers(1, len(COLOURS), size=n)) % len(COLOURS)
        colour = np.where(agree, shape, other)
    texture = rng.integers(len(TEXTURES), size=n)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for i in range(n):
        images[i] = _draw(rng, int(shape[i]), int(colour[i]), int(texture[i]))
    for arr in (images, shape, colour, texture):
        arr.setflags(write=False)
    return images, shape, colour, texture


def _draw(rng: np.random.Generator, shape: int, colour: int, texture: int) -> np.ndarray:
    size = IMAGE_SIZE
    radius = rng.uniform(10, 22)
    cx, cy = rng.uniform(radius + 2, size - radius - 2, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    alpha = _shape_mask(shape, cx, cy, radius, angle)

    rgb = np.clip(_RGB[colour] + rng.normal(0, 0.04, size=3), 0, 1).astype(np.float32)
    fill = np.broadcast_to(rgb[:, None, None], (3, size, size)).copy()
    if TEXTURES[texture] == "striped":
        period = rng.uniform(5, 8)
        theta = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) / period
        dark = (phase % 1.0) >= 0.5
        fill[:, dark] *= 0.3
    background = np.float32(rng.uniform(0.05, 0.3))
    image = background * (1 - alpha) + fill * alpha
    image += rng.normal(0, 0.03, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 1)


def _shape_mask(shape: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of the shape, drawn supersampled and box-filtered."""
    s = _SUPERSAMPLE
    canvas = Image.new("L", (IMAGE_SIZE * s, IMAGE_SIZE * s), 0)
    draw = ImageDraw.Draw(canvas)
    name = SHAPES[shape]
    if name == "circle":
        draw.ellipse([(cx - radius) * s, (cy - radius) * s, (cx + radius) * s, (cy + radius) * s], fill=255)
    else:
        if name == "square":
            radii = [radius] * 4
        elif name == "triangle":
            radii = [radius] * 3
        else:  # five-pointed star: alternate outer and inner radius
            radii = [radius if k % 2 == 0 else radius * 0.45 for k in range(10)]
        step = 2 * math.pi / len(radii)
        points = [
            ((cx + r * math.cos(angle + k * step)) * s, (cy + r * math.sin(angle + k * step)) * s)
            for k, r in enumerate(radii)
        ]
        draw.polygon(points, fill=255)
    small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def colour_agrees_with_shape(dataset: ImageDataset) -> np.ndarray:
    """Boolean per image: is its colour the one the spurious split pairs with its shape?"""
    if "shape" not in dataset.concepts or "colour" not in dataset.concepts:
        raise ValueError("the dataset has no shape and colour concepts; use load_shapes() data")
    return dataset.concepts["shape"].values == dataset.concepts["colour"].values
