"""scikit-learn's bundled handwritten digits, upsampled to 32x32, for the 10-class and parity tasks."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import Options, validate_params
from ._dataset import Concept, ImageDataset

_SPLIT_SEED = 0
_TEST_FRACTION = 0.25


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False).clamp_(0, 1)
    digits = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(digits)), test_size=_TEST_FRACTION, random_state=_SPLIT_SEED, stratify=digits
    )
    return images, digits, np.sort(train_idx), np.sort(test_idx)


@validate_params({"task": Options("digits", "parity"), "split": Options("train", "test")})
def load_digits(
    task: Literal["digits", "parity"] = "digits",
    split: Literal["train", "test"] = "train",
) -> ImageDataset:
    """Handwritten digits as 1x32x32 images in [0, 1], with a fixed seeded 75/25 split.

    ``task="digits"`` labels each image with its digit; ``task="parity"`` labels it
    even/odd. Both carry the concepts ``digit`` and ``parity``, so in the parity task
    the digit is the planted mechanism behind each prediction.
    """
    images, digits, train_idx, test_idx = _digits_arrays()
    idx = train_idx if split == "train" else test_idx
    digit = digits[idx]
    parity = digit % 2
    concepts = {
        "digit": Concept(digit, tuple(str(d) for d in range(10))),
        "parity": Concept(parity, ("even", "odd")),
    }
    if task == "digits":
        return ImageDataset(images[idx].clone(), digit, [str(d) for d in range(10)], concepts)
    return ImageDataset(images[idx].clone(), parity, ["even", "odd"], concepts)
