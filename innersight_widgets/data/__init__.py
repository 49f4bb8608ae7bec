"""Datasets we ship (digits, planted-concept shapes) and the adapter for users' own data."""

from ._dataset import UNREADABLE, Concept, ImageDataset, UnreadableImage, as_image_dataset
from ._probe import ProbeSet, as_probe_set
from .digits import load_digits
from .folder import ImageFolder, load_image_folder, save_image_folder
from .shapes import COLOURS, SHAPES, TEXTURES, colour_agrees_with_shape, load_shapes

__all__ = [
    "COLOURS",
    "SHAPES",
    "TEXTURES",
    "UNREADABLE",
    "Concept",
    "ImageDataset",
    "ImageFolder",
    "ProbeSet",
    "UnreadableImage",
    "as_image_dataset",
    "as_probe_set",
    "colour_agrees_with_shape",
    "load_digits",
    "load_image_folder",
    "load_shapes",
    "save_image_folder",
]
