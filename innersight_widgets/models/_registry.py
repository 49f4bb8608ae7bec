"""What each shipped demo model is: its architecture, its data, how it is trained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from ..data import ImageDataset, load_digits, load_shapes
from ._architectures import DigitsCNN, ShapesResNet, ShapesViT


@dataclass(frozen=True)
class DemoModel:
    name: str
    description: str
    build: Callable[[], nn.Module]
    train_data: Callable[[], ImageDataset]
    test_data: Callable[[], ImageDataset]
    epochs: int
    learning_rate: float
    augment_shift: int
    #: Flip each batch left-right and up-down at random (labels that flips keep, e.g. shapes
    #: drawn at random angles).
    augment_flip: bool = False


DEMO_MODELS: dict[str, DemoModel] = {
    m.name: m
    for m in [
        DemoModel(
            "digits-cnn",
            "plain CNN for the 10 handwritten digits",
            partial(DigitsCNN, 10),
            partial(load_digits, "digits", "train"),
            partial(load_digits, "digits", "test"),
            epochs=30,
            learning_rate=2e-3,
            augment_shift=2,
        ),
        DemoModel(
            "parity-cnn",
            "plain CNN for even/odd digits (the digit is the hidden mechanism)",
            partial(DigitsCNN, 2),
            partial(load_digits, "parity", "train"),
            partial(load_digits, "parity", "test"),
            epochs=30,
            learning_rate=2e-3,
            augment_shift=2,
        ),
        DemoModel(
            "shapes-cnn",
            "residual CNN for 4 shapes, trained where colour and shape are independent",
            partial(ShapesResNet, 4),
            partial(load_shapes, "train", False),
            partial(load_shapes, "test"),
            epochs=12,
            learning_rate=3e-3,
            augment_shift=0,
        ),
        DemoModel(
            "shapes-spurious-cnn",
            "residual CNN for 4 shapes, trained where colour gives the shape away in 95% of images",
            partial(ShapesResNet, 4),
            partial(load_shapes, "train", True),
            partial(load_shapes, "test"),
            epochs=5,
            learning_rate=3e-3,
            augment_shift=0,
        ),
        DemoModel(
            "shapes-vit",
            "small vision transformer (8x8-pixel patches, 4 blocks) for 4 shapes, colour and shape independent",
            partial(ShapesViT, 4),
            partial(load_shapes, "train", False),
            partial(load_shapes, "test"),
            epochs=34,
            learning_rate=3e-3,
            augment_shift=6,
            augment_flip=True,  # a ViT has no built-in notion that a shape moved or mirrored is the same shape
        ),
    ]
}


def demo_model(name: str) -> DemoModel:
    if name not in DEMO_MODELS:
        raise ValueError(f"unknown demo model {name!r}; the shipped ones are: {', '.join(DEMO_MODELS)}")
    return DEMO_MODELS[name]
