"""One dataset type for every probe set, and the adapter that turns what users have into it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

#: The label the streaming pass reads for an item that raised :class:`UnreadableImage`.
UNREADABLE = -1


class UnreadableImage(OSError):
    """An item that cannot be read (a truncated, empty or non-image file).

    Raised by :class:`ImageFolder` for a file Pillow cannot decode. The analysis's pass
    leaves such items out and names them all at its end, instead of losing the pass at
    the first one; any other error stops the pass. A dataset of your own may raise it for
    the same treatment.

    Parameters
    ----------
    message : str
        What could not be read and why.
    path : str, optional
        The file, when there is one; the pass's warning names it beside the cause.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Concept:
    """A concept annotation: one integer value per image and the names of the values."""

    values: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"concept values must be a 1-D integer array, got shape {values.shape} "
                f"and dtype {values.dtype}"
            )
        if values.size and (values.min() < 0 or values.max() >= len(self.names)):
            raise ValueError(
                f"concept values must lie in 0..{len(self.names) - 1} (one per name "
                f"in {list(self.names)}), got {values.min()}..{values.max()}"
            )
        object.__setattr__(self, "values", values.astype(np.int64, copy=False))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))

    def value_names(self) -> list[str]:
        """The name of each image's value."""
        return [self.names[v] for v in self.values]


class ImageDataset(Dataset):
    """Images (N x C x H x W float), integer labels, class names, optional concept annotations.

    Indexing returns ``(image, label)`` like any map-style torch dataset, so it can be
    used for training as well as for analysis.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | np.ndarray | Sequence[int],
        class_names: Sequence[str] | None = None,
        concepts: Mapping[str, Concept] | None = None,
    ) -> None:
        images = as_image_tensor(images)
        labels = as_label_tensor(labels)
        if images.shape[0] == 0:
            raise ValueError("the dataset is empty: give at least one image")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"got {images.shape[0]} images but {labels.shape[0]} labels; "
                "give exactly one label per image"
            )
        if class_names is None:
            class_names = [str(i) for i in range(int(labels.max()) + 1)]
        class_names = [str(n) for n in class_names]
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise ValueError(
                f"labels must lie in 0..{len(class_names) - 1} (one per class name), "
                f"got {int(labels.min())}..{int(labels.max())}"
            )
        concepts = dict(concepts or {})
        for name, concept in concepts.items():
            if not isinstance(concept, Concept):
                raise TypeError(f"concept {name!r} must be a Concept, got {type(concept).__name__}")
            if len(concept.values) != images.shape[0]:
                raise ValueError(
                    f"concept {name!r} has {len(concept.values)} values for "
                    f"{images.shape[0]} images; give one value per image"
                )
        self.images = images
        self.labels = labels
        self.class_names = class_names
        self.concepts = concepts

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageDataset:
        """The images at ``indices``, with their labels and concepts."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return ImageDataset(
            self.images[idx],
            self.labels[idx],
            self.class_names,
            {k: Concept(c.values[idx.numpy()], c.names) for k, c in self.concepts.items()},
        )

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        concepts = f", concepts={list(self.concepts)}" if self.concepts else ""
        return (
            f"ImageDataset({len(self)} images of {shape}, "
            f"{self.num_classes} classes{concepts})"
        )


def as_image_tensor(images: Any) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a tensor or numpy array, got {type(images).__name__}; "
            "if you have PIL images, convert them (e.g. torchvision's ToTensor)"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"images must be floating point, got {images.dtype}; for 8-bit images use "
            "images.float() / 255 (and the normalisation your model was trained with)"
        )
    if images.ndim != 4:
        hint = " (add a channel axis with images.unsqueeze(1))" if images.ndim == 3 else ""
        raise ValueError(
            f"images must have shape N x C x H x W, got {tuple(images.shape)}{hint}"
        )
    return images.detach().cpu().contiguous()


def as_label_tensor(labels: Any) -> torch.Tensor:
    """N int64 class indices from a tensor, an array or a sequence of numbers (0-d tensors
    included). Floats are accepted only when whole (2.0): 2.5 is no class index, and
    truncating it would silently relabel the image."""
    if not isinstance(labels, torch.Tensor):
        values = [v.item() if isinstance(v, (torch.Tensor, np.generic)) else v for v in labels] if isinstance(labels, (list, tuple)) else labels
        array = np.asarray(values)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise TypeError(f"labels must be integer class indices, got values of type {array.dtype}")
        labels = torch.tensor(array)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one integer per image (1-D), got shape {tuple(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.is_floating_point():
        fractional = torch.nonzero(labels != labels.round()).flatten()
        if fractional.numel():
            raise TypeError(
                f"label {labels[int(fractional[0])].item()!r} is not a class index: labels must be integers "
                "0..K-1 (whole floats such as 2.0 are accepted)"
            )
    return labels.detach().cpu().long()


def as_image_dataset(data: Any, class_names: Sequence[str] | None = None) -> ImageDataset:
    """Turn what a user has into an :class:`ImageDataset`.

    Accepts an ``ImageDataset``, an ``(images, labels)`` pair of tensors or arrays, a
    ``DataLoader`` yielding ``(images, labels)`` batches, or any map-style torch
    ``Dataset`` whose items are ``(image, label)``. Images are gathered into memory once.
    """
    if isinstance(data, ImageDataset):
        if class_names is not None and list(class_names) != data.class_names:
            return ImageDataset(data.images, data.labels, class_names, data.concepts)
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        images, labels = data
        return ImageDataset(images, labels, class_names)
    if isinstance(data, DataLoader):
        batches = [_split_item(batch, "batch") for batch in data]
        if not batches:
            raise ValueError("the DataLoader yielded no batches: the data is empty")
        images = torch.cat([as_image_tensor(b[0]) for b in batches])
        labels = torch.cat([as_label_tensor(b[1]) for b in batches])
        return ImageDataset(images, labels, class_names or _names_of(data.dataset))
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        if len(data) == 0:
            raise ValueError("the dataset is empty: give at least one image")
        items = [_split_item(data[i], f"item {i}") for i in range(len(data))]
        images = as_image_tensor(torch.stack([torch.as_tensor(x) for x, _ in items]))
        labels = as_label_tensor([y for _, y in items])
        return ImageDataset(images, labels, class_names or _names_of(data))
    raise TypeError(
        f"cannot use {type(data).__name__} as image data; give an ImageDataset, an "
        "(images, labels) pair, a DataLoader of (images, labels) batches, or a map-style "
        "Dataset of (image, label) items"
    )


def _split_item(item: Any, what: str) -> tuple[Any, Any]:
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise TypeError(f"{what} must be an (image, label) pair, got {type(item).__name__}")


def _names_of(dataset: Any) -> list[str] | None:
    names = getattr(dataset, "class_names", None) or getattr(dataset, "classes", None)
    return list(names) if names else None
