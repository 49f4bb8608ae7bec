"""Datasets we ship (digits, planted-concept shapes) and the adapter for users' own data."""

from ._dataset import Concept, ImageDataset, as_image_dataset
from .digits import load_digits
from .shapes import COLOURS, SHAPES, TEXTURES, colour_agrees_with_shape, load_shapes

__all__ = [
    "COLOURS",
    "SHAPES",
    "TEXTURES",
    "Concept",
    "ImageDataset",
    "as_image_dataset",
    "colour_agrees_with_shape",
    "load_digits",
    "load_shapes",
]
