"""``ProbeSet``: the probe images of an analysis, read batch by batch, never all held in memory.

Whatever a user has (an ``ImageDataset`` in memory, a map-style ``Dataset``, a
``DataLoader``, an image folder, an ``(images, labels)`` pair) becomes one ``ProbeSet``.
The analysis streams it in batches; views fetch the few images they show by index,
through a small LRU cache. Only in-memory data is ever indexed as one tensor.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from .._validation import Constraint, Interval, check
from ._dataset import UNREADABLE, Concept, ImageDataset, UnreadableImage, as_image_tensor, as_label_tensor

# Items whose bytes the fingerprint of a lazy dataset reads (evenly spaced, first and last included).
FINGERPRINT_SAMPLE = 16
# Bytes of decoded images the LRU cache keeps.
_IMAGE_CACHE_BYTES = 64 << 20


class ProbeSet:
    """The images an analysis probes the model with, their labels, class names and concepts.

    Parameters
    ----------
    source : ImageDataset or map-style Dataset
        Items are ``(image, label)``; an image is a C x H x W float tensor, an array, or a
        PIL image (converted to [0, 1]). An ``ImageDataset`` stays in memory; any other
        dataset is read batch by batch.
    class_names : list of str, optional
        One name per model output. Default: the source's ``class_names`` or ``classes``.
    concepts : dict of str -> Concept, optional
        Per-image annotations (one value per item). Default: the source's ``concepts``.
    num_workers : int
        DataLoader workers that read a lazy source (default: the source's ``num_workers``, else 0).

    Notes
    -----
    Labels are known without reading images when the source is in memory or has a
    ``labels`` or ``targets`` sequence (an image folder does); otherwise :attr:`labels`
    is None and the analysis learns them in its pass.
    """

    #: The constructor's declared constraints.
    constraints: ClassVar[dict[str, Constraint]] = {
        "num_workers": Interval(int, 0, meaning="DataLoader workers that read a lazy source"),
    }

    def __init__(
        self,
        source: Dataset,
        class_names: Sequence[str] | None = None,
        concepts: Mapping[str, Concept] | None = None,
        num_workers: int | None = None,
    ) -> None:
        if isinstance(source, IterableDataset) or not hasattr(source, "__len__"):
            raise TypeError(
                "the probe data must be a map-style Dataset (with __len__ and __getitem__), so that the "
                f"images a view shows can be fetched by index; got {type(source).__name__}"
            )
        if len(source) == 0:
            raise ValueError("the dataset is empty: give at least one image")
        self.source = source
        self.in_memory = isinstance(source, ImageDataset)
        names = class_names if class_names is not None else _attribute(source, "class_names", "classes")
        self.class_names: list[str] | None = None if names is None else [str(n) for n in names]
        self.concepts: dict[str, Concept] = dict(concepts if concepts is not None else getattr(source, "concepts", None) or {})
        for name, concept in self.concepts.items():
            if not isinstance(concept, Concept) or len(concept.values) != len(source):
                raise ValueError(
                    f"concept {name!r} must be a Concept with one value per image ({len(source)}); "
                    f"got {type(concept).__name__}"
                )
        workers = num_workers if num_workers is not None else getattr(source, "num_workers", 0)
        workers = check("num_workers", workers, self.constraints["num_workers"])
        self.num_workers = 0 if self.in_memory else workers
        self.labels = self._known_labels()
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.source)

    def __repr__(self) -> str:
        kind = "in memory" if self.in_memory else f"read lazily from {type(self.source).__name__}"
        classes = "?" if self.class_names is None else len(self.class_names)
        concepts = f", concepts={list(self.concepts)}" if self.concepts else ""
        return f"ProbeSet({len(self)} images, {classes} classes, {kind}{concepts})"

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """C x H x W of one image (read from the first readable item)."""
        if self._shape is None:
            self._shape = tuple(self.example(1).shape[1:])
        return self._shape

    def example(self, k: int) -> torch.Tensor:
        """k x C x H x W: the first ``k`` items that can be read (fewer if there are not as
        many), skipping those that raise :class:`UnreadableImage`.

        Raises
        ------
        UnreadableImage
            If no item at all can be read.
        """
        found: list[torch.Tensor] = []
        error: UnreadableImage | None = None
        for i in range(len(self)):
            try:
                found.append(self.images([i])[0])
            except UnreadableImage as exc:
                error = error or exc
                continue
            if len(found) == k:
                break
        if not found and error is not None:
            raise UnreadableImage(f"none of the {len(self)} probe images can be read; the first error: {error}") from error
        return stack_images(found)

    # --------------------------------------------------------------- reading
    def batches(
        self, batch_size: int, indices: Sequence[int] | np.ndarray | None = None, pin_memory: bool = False,
        skip_unreadable: bool = False,
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """``(rows, images, labels)`` batches in order: ``rows`` are the item indices.

        Parameters
        ----------
        batch_size : int
            Images per batch.
        indices : sequence of int, optional
            Read only these items (in this order); default all.
        pin_memory : bool
            Pin the batches (for non-blocking copies to a GPU).
        skip_unreadable : bool
            An item that raises :class:`UnreadableImage` comes as a zero image with the
            label ``UNREADABLE`` (-1), in its place, instead of stopping the batches.

        Yields
        ------
        rows : ndarray of int, B
        images : Tensor, B x C x H x W float
        labels : Tensor, B int64
        """
        order = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.in_memory:
            data = self.source
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                idx = torch.from_numpy(rows) if indices is not None else slice(int(rows[0]), int(rows[-1]) + 1)
                images = data.images[idx]
                yield rows, images.pin_memory() if pin_memory else images, data.labels[idx]
            return
        dataset = _Tolerant(self.source, self.image_shape) if skip_unreadable else self.source
        dataset = dataset if indices is None else Subset(dataset, order.tolist())
        loader = DataLoader(
            dataset, batch_size=batch_size, shuffle=False, num_workers=self.num_workers,
            collate_fn=collate, pin_memory=pin_memory,
        )
        start = 0
        for images, labels in loader:
            yield order[start : start + len(images)], images, labels
            start += len(images)

    def images(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """k x C x H x W: the images at ``indices`` (lazy sources through a small LRU cache)."""
        idx = [int(i) for i in np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices).reshape(-1)]
        for i in idx:
            if not 0 <= i < len(self):
                raise IndexError(f"image index {i} is out of range for {len(self)} probe images")
        if self.in_memory:
            return self.source.images[torch.as_tensor(idx, dtype=torch.long)]
        return stack_images([self._cached(i) for i in idx]) if idx else torch.empty(0, *self.image_shape)

    def cached_images(self) -> int:
        """How many decoded images the LRU cache holds now (it keeps about 64 MiB of them)."""
        with self._cache_lock:
            return len(self._cache)

    def _cached(self, index: int) -> torch.Tensor:
        with self._cache_lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        image = _image_tensor(_split_item(self.source[index], f"item {index}")[0], index)
        with self._cache_lock:
            self._cache[index] = image
            limit = max(8, _IMAGE_CACHE_BYTES // max(1, image.numel() * image.element_size()))
            while len(self._cache) > limit:
                self._cache.popitem(last=False)
        return image

    # ----------------------------------------------------------- identities
    def fingerprint(self) -> str:
        """A SHA-256 that changes when the probe data changes, without reading every image.

        In-memory data: every image and label byte. A source with its own
        ``fingerprint()`` (an image folder: file names, sizes and modification times):
        that. Any other dataset: its type, length and the bytes of a fixed sample of
        ``FINGERPRINT_SAMPLE`` items, so an edit to an item outside the sample is missed.
        """
        h = hashlib.sha256()
        h.update(f"{len(self)}|{self.class_names}|".encode())
        if self.in_memory:
            for t in (self.source.images, self.source.labels):
                h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
                h.update(tensor_bytes(t))
        elif callable(getattr(self.source, "fingerprint", None)):
            h.update(f"{type(self.source).__qualname__}|{self.source.fingerprint()}".encode())
        else:
            h.update(f"{type(self.source).__module__}.{type(self.source).__qualname__}".encode())
            sample = np.unique(np.linspace(0, len(self) - 1, min(len(self), FINGERPRINT_SAMPLE)).round().astype(int))
            for i in sample.tolist():
                image, label = _split_item(self.source[i], f"item {i}")
                h.update(f"|{i}|{int(label)}|".encode())
                h.update(tensor_bytes(_image_tensor(image, i)))
        if self.labels is not None:
            h.update(tensor_bytes(torch.from_numpy(self.labels)))
        return h.hexdigest()

    def subset(self, indices: Sequence[int] | np.ndarray) -> ProbeSet:
        """The items at ``indices``, with their labels and concepts (still lazy if this is)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        concepts = {k: Concept(c.values[idx], c.names) for k, c in self.concepts.items()}
        if self.in_memory:
            return ProbeSet(self.source.subset(idx), self.class_names, concepts)
        return ProbeSet(_LabelledSubset(self.source, idx, self.labels), self.class_names, concepts, self.num_workers)

    def with_class_names(self, class_names: Sequence[str]) -> ProbeSet:
        """The same images under other class names (one per model output)."""
        if self.in_memory:
            data = self.source
            return ProbeSet(ImageDataset(data.images, data.labels, class_names), concepts=self.concepts)
        return ProbeSet(self.source, class_names, self.concepts, self.num_workers)

    def _known_labels(self) -> np.ndarray | None:
        if self.in_memory:
            return self.source.labels.numpy()
        labels = _attribute(self.source, "labels", "targets")
        if labels is None or len(labels) != len(self):
            return None
        return as_label_tensor(labels).numpy()


class _Tolerant(Dataset):
    """The items of ``dataset``, with ``(zeros of shape, UNREADABLE)`` for one that raises
    :class:`UnreadableImage`."""

    def __init__(self, dataset: Dataset, shape: tuple[int, ...]) -> None:
        self.dataset, self.shape = dataset, shape

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except UnreadableImage:
            return torch.zeros(self.shape), UNREADABLE


class _LabelledSubset(Subset):
    """A subset that keeps the labels of its parent where they are known."""

    def __init__(self, dataset: Dataset, indices: np.ndarray, labels: np.ndarray | None) -> None:
        super().__init__(dataset, indices.tolist())
        if labels is not None:
            self.labels = labels[indices]
        names = _attribute(dataset, "class_names", "classes")
        if names is not None:
            self.class_names = list(names)


def as_probe_set(data: Any, class_names: Sequence[str] | None = None) -> ProbeSet:
    """Turn what a user has into a :class:`ProbeSet`.

    Accepts a ``ProbeSet``, an ``ImageDataset``, an ``(images, labels)`` pair (kept in
    memory; images an N x C x H x W tensor or array, or a list of C x H x W images of one
    shape; labels a tensor, array or list of class indices), a ``DataLoader`` over a
    map-style dataset (its dataset is read in order with its ``num_workers``; its sampler
    and batch size are not used), or any map-style ``Dataset`` of ``(image, label)`` items
    (read lazily), e.g. one from :func:`load_image_folder`.
    """
    if isinstance(data, ProbeSet):
        return data if class_names is None else data.with_class_names(class_names)
    if isinstance(data, ImageDataset):
        return ProbeSet(data) if class_names is None else ProbeSet(data).with_class_names(class_names)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if isinstance(images, (tuple, list)) and images and all(_is_image(x) for x in images):
            images = stack_images([_image_tensor(x, i) for i, x in enumerate(images)])
        if not isinstance(images, (tuple, list)):
            return ProbeSet(ImageDataset(images, labels, class_names=class_names))
    stream = data.dataset if isinstance(data, DataLoader) else data
    if isinstance(stream, IterableDataset):
        raise TypeError(
            f"{type(stream).__name__} is an IterableDataset, whose images cannot be fetched by index "
            "(the views show images by index); give a map-style Dataset (with __getitem__ and __len__)"
        )
    if isinstance(data, DataLoader):
        return ProbeSet(data.dataset, class_names, num_workers=data.num_workers)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        return ProbeSet(data, class_names)
    raise TypeError(
        f"cannot use {type(data).__name__} as image data; give an ImageDataset, an (images, labels) pair, "
        "a map-style Dataset of (image, label) items (e.g. load_image_folder(...)), or a DataLoader over one"
    )


def collate(items: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(image, label)`` items into a batch; PIL images become [0, 1] tensors."""
    pairs = [_split_item(item, "an item") for item in items]
    return stack_images([_image_tensor(x, None) for x, _ in pairs]), as_label_tensor([y for _, y in pairs])


def stack_images(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """N x C x H x W from N images of one shape; images of several shapes get an error
    that says how to make them one."""
    shapes = sorted({tuple(t.shape) for t in tensors})
    if len(shapes) > 1:
        raise ValueError(
            f"the images have different shapes {shapes[:4]}{' ...' if len(shapes) > 4 else ''}; give the dataset a "
            "transform that resizes them and converts them to the same number of channels (load_image_folder does)"
        )
    return torch.stack(list(tensors))


def _image_tensor(image: Any, index: int | None) -> torch.Tensor:
    """C x H x W float from a tensor, array or PIL image (PIL: scaled to [0, 1])."""
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, (torch.Tensor, np.ndarray)):
        if image.mode.startswith(("I", "F")):
            where = "" if index is None else f" (item {index})"
            raise TypeError(
                f"a PIL image of mode {image.mode!r}{where} has 16/32-bit or float pixels, which an 8-bit "
                "conversion would clip; convert it to a float tensor scaled the way your model expects"
            )
        array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image, dtype=np.float32) / 255.0
        image = torch.from_numpy(array if array.ndim == 3 else array[:, :, None]).permute(2, 0, 1)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        where = "" if index is None else f" (item {index})"
        got = f"shape {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise TypeError(f"each image must be a C x H x W tensor, array or PIL image{where}, got {got}")
    return as_image_tensor(image.unsqueeze(0))[0]


def _is_image(x: Any) -> bool:
    """A C x H x W tensor or array, or a PIL image: one image, not an (image, label) pair."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return x.ndim == 3
    return hasattr(x, "convert") and hasattr(x, "size")


def _split_item(item: Any, what: str) -> tuple[Any, Any]:
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise TypeError(f"{what} must be an (image, label) pair, got {type(item).__name__}")


def _attribute(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None and hasattr(value, "__len__") and len(value):
            return value
    return None


def tensor_bytes(t: torch.Tensor) -> memoryview:
    """The raw bytes of a tensor (on the CPU, contiguous), for hashing."""
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return memoryview(b"")
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())
