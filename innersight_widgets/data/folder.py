"""Users' own images from a folder of class sub-folders, read lazily one image at a time.

``root/<class name>/<image file>`` is the layout torchvision's ``ImageFolder`` and most
image-classification datasets use. Only file names are listed up front; each image is
decoded with Pillow when it is indexed, so thousands of photos never sit in memory at
once and an analysis can stream them through a ``DataLoader`` with several workers.
Images go through the standard ImageNet evaluation recipe (resize the shorter side,
centre crop, normalise), so a pretrained classifier sees them as it did in training.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .._progress import bar as progress_bar
from .._validation import Constraint, Interval, Options, check, validate_params
from ._dataset import ImageDataset, UnreadableImage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# Pillow image mode and resampling filter of the recipe; both are part of the fingerprint.
_MODE = "RGB"
_RESAMPLE = Image.Resampling.BILINEAR


class ImageFolder(Dataset):
    """A lazy map-style dataset over ``root/<class name>/<image file>``.

    Build it with :func:`load_image_folder`, which documents the parameters and the
    decoding recipe. Indexing returns ``(image, label)``: a float32 3 x size x size
    tensor and the class index. Only the file list and labels are held; every item is
    decoded from disk when it is read.

    Attributes
    ----------
    root : Path
        The folder the images were listed from.
    files : list of Path, length N
        Every image file, class by class in class-name order, by file name within a class.
    labels : ndarray, shape (N,), int64
        The class index of each file: its sub-folder's position in ``class_names``.
    class_names : list of str
        The sorted names of the class sub-folders, including any that hold no image, or
        the ``classes`` given.
    num_workers : int
        How many ``DataLoader`` workers an analysis should use to read the images.
    size, resize : int
        Side of the square crop, and the length the shorter side is resized to before it.
    mean, std : tuple of 3 floats, or None
        Per-channel normalisation; None when the images are left in [0, 1].
    extensions : tuple of str
        The lower-case file extensions that were listed as images.
    on_bad_image : {"skip", "raise"}
        "skip": a file that cannot be decoded raises :class:`UnreadableImage`, which the
        analysis's pass leaves out; "raise": a plain ``OSError``.
    """

    #: The constructor's (and :func:`load_image_folder`'s) declared constraints.
    constraints: ClassVar[dict[str, Constraint]] = {
        "size": Interval(int, 1, meaning="the side in pixels of the square images the model takes", wrong_type=TypeError),
        "resize": Interval(
            int, 1, meaning="the length in pixels the shorter side is resized to", none=True, wrong_type=TypeError
        ),
        "num_workers": Interval(int, 0, meaning="0 reads images in the main process"),
        "on_bad_image": Options("skip", "raise", meaning="what a file that cannot be decoded does"),
    }

    def __init__(
        self,
        root: str | os.PathLike[str],
        size: int = 224,
        *,
        resize: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        num_workers: int = 0,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        classes: Sequence[str] | None = None,
        on_bad_image: str = "skip",
    ) -> None:
        self.size = check("size", size, self.constraints["size"])
        self.on_bad_image = check("on_bad_image", on_bad_image, self.constraints["on_bad_image"])
        imagenet_resize = round(self.size * 256 / 224)
        resize = check("resize", resize, self.constraints["resize"])
        self.resize = imagenet_resize if resize is None else resize
        if self.resize < self.size:
            raise ValueError(
                f"resize={self.resize} is smaller than size={self.size}: the shorter side is resized to "
                f"`resize` and then a size x size square is cut from the centre, so resize must be at "
                f"least size; pass resize={self.size} to crop without a margin, or leave it out for "
                f"the ImageNet default {imagenet_resize}"
            )
        if mean is None or std is None:
            self.mean: tuple[float, float, float] | None = None
            self.std: tuple[float, float, float] | None = None
        else:
            self.mean = _channel_values("mean", mean, positive=False)
            self.std = _channel_values("std", std, positive=True)
        self.num_workers = check("num_workers", num_workers, self.constraints["num_workers"])
        self.extensions = _normalised_extensions(extensions)
        self.root = Path(root).expanduser()
        self.class_names, self.files, self.labels = _list_folder(self.root, self.extensions, classes)
        #: Whether the class order was given (``classes``) rather than the sorted folder names.
        self.classes_given = classes is not None

    def in_class_order(self, classes: Sequence[str]) -> ImageFolder:
        """The same folder with its classes in the order of ``classes`` (the same names), so
        that label i is ``classes[i]``; decoding settings are kept.

        Parameters
        ----------
        classes : sequence of str
            The folder's class names, reordered.

        Returns
        -------
        ImageFolder
            A new dataset over the same files.
        """
        reordered = copy.copy(self)
        reordered.class_names, reordered.files, reordered.labels = _list_folder(self.root, self.extensions, classes)
        reordered.classes_given = True
        return reordered

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.files[index]
        try:
            with Image.open(path) as image:
                pixels = self._resize_and_crop(image.convert(_MODE))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            message = (
                f"could not read the image file {path}: {error}. Every file with an image extension "
                f"({', '.join(self.extensions)}) in a class folder is read as an image; replace or remove "
                f"this one and load the folder again"
            )
            raise (UnreadableImage(message, str(path)) if self.on_bad_image == "skip" else OSError(message)) from error
        x = np.asarray(pixels, dtype=np.float32) / np.float32(255)
        if self.mean is not None:
            x = (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), int(self.labels[index])

    def unreadable(self, progress: bool = True) -> dict[int, str]:
        """Decode every file (as a pass would) and return those that cannot be read.

        Parameters
        ----------
        progress : bool
            Show a bar; decoding a large folder takes about as long as reading it in a pass.

        Returns
        -------
        dict of int to str
            Item index -> why its file cannot be read; empty when every file can.
        """
        bad = {}
        with progress_bar(total=len(self.files), desc="checking images", unit="img", disable=not progress) as shown:
            for i, path in enumerate(self.files):
                try:
                    with Image.open(path) as image:
                        image.convert(_MODE)
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                    bad[i] = f"{path}: {error}"
                shown.update(1)
        return bad

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """3 x size x size: the shape of every item's image."""
        return (3, self.size, self.size)

    def _resize_and_crop(self, image: Image.Image) -> Image.Image:
        # Sizes and offsets are computed as torchvision's Resize(int) and CenterCrop do, so the
        # pixels match what models evaluated with torchvision saw.
        width, height = image.size
        if width <= height:
            new_size = (self.resize, int(self.resize * height / width))
        else:
            new_size = (int(self.resize * width / height), self.resize)
        image = image.resize(new_size, _RESAMPLE)
        left = int(round((new_size[0] - self.size) / 2.0))
        top = int(round((new_size[1] - self.size) / 2.0))
        return image.crop((left, top, left + self.size, top + self.size))

    def fingerprint(self) -> str:
        """A hash that changes when the images this dataset yields may have changed.

        Covers the decoding settings, the class names, and for every file its path
        relative to ``root``, byte size and modification time. No pixel data is read, so
        it takes a ``stat`` per file (well under a second for 50,000 files on a local
        disk). Moving the whole folder elsewhere keeps the fingerprint.

        Returns
        -------
        str
            64 hexadecimal characters (SHA-256).

        Raises
        ------
        FileNotFoundError
            If a listed file has been deleted or renamed since the folder was loaded.
        """
        settings = {
            "size": self.size,
            "resize": self.resize,
            "mean": self.mean,
            "std": self.std,
            "mode": _MODE,
            "resample": _RESAMPLE.name,
            "classes": self.class_names,
        }
        h = hashlib.sha256(json.dumps(settings).encode())
        for path in self.files:
            try:
                stat = path.stat()
            except FileNotFoundError as error:
                raise FileNotFoundError(
                    f"{path} was listed when the image folder was loaded but is gone now; "
                    f"load the folder again with load_image_folder({str(self.root)!r})"
                ) from error
            relative = path.relative_to(self.root).as_posix()
            h.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        images = f"{len(self)} image{'s' * (len(self) != 1)}"
        classes = f"{len(self.class_names)} class{'es' * (len(self.class_names) != 1)}"
        return f"ImageFolder({images} in {classes} from {self.root}, {self.size}x{self.size})"


@validate_params(ImageFolder.constraints)
def load_image_folder(
    root: str | os.PathLike[str],
    size: int = 224,
    *,
    resize: int | None = None,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    num_workers: int = 0,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    classes: Sequence[str] | None = None,
    on_bad_image: str = "skip",
) -> ImageFolder:
    """Your own images, one sub-folder per class, as a lazy dataset an analysis can probe with.

    Lists ``root/<class name>/<image file>`` without reading any image: classes are the
    sorted names of the sub-folders of ``root`` (or ``classes``) and their indices are the labels, files
    are sorted by name within a class. Each image is decoded when it is indexed, with
    Pillow: converted to RGB, resized (bilinear) so its shorter side is ``resize``, a
    ``size`` x ``size`` square cut from the centre, scaled to [0, 1] and normalised per
    channel as ``(x - mean) / std``. With the defaults that is the standard ImageNet
    evaluation recipe, which pretrained torchvision and timm classifiers expect.

    Parameters
    ----------
    root : str or path-like
        The folder holding one sub-folder per class. Files directly in ``root``, files in
        deeper sub-folders of a class folder, and names starting with ``.`` (such as
        Jupyter's ``.ipynb_checkpoints``) are ignored. A class folder with no image keeps
        its class name and index, so labels still match a model trained on every class;
        it just contributes no image.
    size : int
        Side in pixels of the square images given to the model (224 for most ImageNet models).
    resize : int, optional
        Length in pixels the shorter side is resized to before the centre crop; at least
        ``size``. Default ``round(size * 256 / 224)``, i.e. 256 for size 224.
    mean, std : sequence of 3 floats, or None
        Per-channel (R, G, B) mean and standard deviation the model was trained with;
        default ImageNet's. Pass ``mean=None`` or ``std=None`` to skip normalisation
        altogether and get pixel values in [0, 1] (a model that normalises inside itself).
    num_workers : int
        ``DataLoader`` worker processes an analysis should use to decode the images;
        0 decodes in the main process. A few workers help when there are thousands of JPEGs.
    extensions : sequence of str
        File extensions read as images, matched case-insensitively (``.JPG`` is found
        too); other files are ignored.
    classes : sequence of str, optional
        The class names in the order of the model's outputs, when that is not the sorted
        order of the sub-folders: a sub-folder is the class of its name, a class without
        a sub-folder has no image (so that a probe folder of 10 ImageNet classes keeps
        ImageNet's 1000 indices), and a sub-folder that is not a class is an error.
    on_bad_image : {"skip", "raise"}
        What a file that cannot be decoded (truncated, empty, not an image) does. "skip"
        (default): the analysis's pass leaves it out and, at its end, names every such file
        in one warning; probe image i is then the i-th readable file (see
        ``Analysis.unreadable``). "raise": every file is decoded now, before any pass,
        and one error names all those that fail.

    Returns
    -------
    ImageFolder
        N items ``(image, label)``: image a float32 tensor of shape 3 x size x size, label
        an int in ``0..len(class_names) - 1``. ``files``, ``labels`` (shape (N,), int64) and
        ``class_names`` are available without reading any image.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        If ``root`` does not exist or is not a folder.
    ValueError
        If ``root`` has no class sub-folder or no image in them, or a setting is out of range.
    TypeError
        If ``size`` or ``resize`` is not an integer.
    OSError
        With ``on_bad_image="raise"``, if a file cannot be decoded.

    Notes
    -----
    With ``on_bad_image="skip"`` a bad file is only found when it is read: indexing it
    raises :class:`UnreadableImage` (an ``OSError``) naming the file, with Pillow's error
    as its cause.
    """
    folder = ImageFolder(
        root, size, resize=resize, mean=mean, std=std, num_workers=num_workers, extensions=extensions,
        classes=classes, on_bad_image=on_bad_image,
    )
    if on_bad_image == "raise":
        bad = folder.unreadable()
        if bad:
            listed = "\n  ".join(list(bad.values())[:20]) + (f"\n  and {len(bad) - 20} more" if len(bad) > 20 else "")
            raise OSError(
                f"{len(bad)} of the {len(folder)} image files of {folder.root} cannot be read:\n  {listed}\n"
                "Replace or remove them, or pass on_bad_image='skip' to leave them out of the analysis"
            )
    return folder


def _channel_values(name: str, values: Sequence[float], positive: bool) -> tuple[float, float, float]:
    expected = (
        f"{name} must be 3 {'positive ' if positive else ''}numbers, one per channel (R, G, B), "
        f"e.g. ImageNet's {IMAGENET_MEAN if name == 'mean' else IMAGENET_STD}, or None to skip normalisation"
    )
    try:
        channels = tuple(float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{expected}; got {values!r}") from error
    if len(channels) != 3 or not all(math.isfinite(v) and (v > 0 or not positive) for v in channels):
        raise ValueError(f"{expected}; got {values!r}")
    return channels  # type: ignore[return-value]


def _normalised_extensions(extensions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    normalised = tuple(dict.fromkeys("." + str(e).lower().lstrip(".") for e in extensions))
    if not normalised or "." in normalised:
        raise ValueError(f"extensions must be file extensions such as '.jpg', got {extensions!r}")
    return normalised


def _list_folder(
    root: Path, extensions: tuple[str, ...], classes: Sequence[str] | None
) -> tuple[list[str], list[Path], np.ndarray]:
    """Class names, image files and their labels, from directory listings only."""
    if not root.exists():
        raise FileNotFoundError(
            f"image folder {root} does not exist; give the folder that holds one sub-folder per class, "
            f"e.g. {root}/cat/1.jpg and {root}/dog/2.jpg"
        )
    if not root.is_dir():
        raise NotADirectoryError(
            f"{root} is a file, not a folder; give the folder that holds one sub-folder per class"
        )

    def is_image(entry: os.DirEntry[str]) -> bool:
        return not entry.name.startswith(".") and entry.is_file() and entry.name.lower().endswith(extensions)

    with os.scandir(root) as listing:
        entries = list(listing)
    folders = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    class_names = folders if classes is None else _class_order(classes, folders, root)
    if not folders:
        loose = sum(is_image(e) for e in entries)
        found = f"; the {loose} image file(s) directly in it must be moved" if loose else ""
        raise ValueError(
            f"{root} has no class sub-folder{found}: put the images in one sub-folder per class, "
            f"named after the class, e.g. {root}/cat/1.jpg and {root}/dog/2.jpg"
        )
    files: list[Path] = []
    counts: list[int] = []
    for name in class_names:
        if name not in folders:
            counts.append(0)
            continue
        with os.scandir(root / name) as listing:
            names = sorted(e.name for e in listing if is_image(e))
        files.extend(root / name / f for f in names)
        counts.append(len(names))
    if not files:
        raise ValueError(
            f"no image file found in the {len(class_names)} class folder(s) of {root} "
            f"({', '.join(class_names[:5])}{', ...' if len(class_names) > 5 else ''}); searched for the "
            f"extensions {', '.join(extensions)} (any case) directly inside each class folder. Move the "
            f"images there, or pass extensions=[...] if yours have another extension"
        )
    labels = np.repeat(np.arange(len(class_names), dtype=np.int64), counts)
    return class_names, files, labels


def _class_order(classes: Sequence[str], folders: list[str], root: Path) -> list[str]:
    """The given class names, checked: unique, and naming every class sub-folder of ``root``."""
    if isinstance(classes, str):
        raise TypeError(f"classes must be a list of class names, got the string {classes!r}")
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"classes must name each class once; named twice: {', '.join(twice)}")
    unknown = [f for f in folders if f not in set(names)]
    if unknown:
        raise ValueError(
            f"sub-folder(s) {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} of {root} are not among "
            f"the {len(names)} classes given; name every class folder in classes, or move those folders out"
        )
    return names


def save_image_folder(dataset: ImageDataset, root: str | os.PathLike[str]) -> Path:
    """Write an in-memory dataset as ``root/<class name>/<index>.png``, the layout
    :func:`load_image_folder` reads: to try the folder workflows (``innersight
    precompute``) on a shipped dataset, or to hand probe images to another tool.

    Parameters
    ----------
    dataset : ImageDataset
        N images of shape C x H x W (C = 1 or 3) with values in [0, 1], as
        :func:`load_shapes` and :func:`load_digits` give; saved losslessly as 8-bit PNG.
    root : str or path-like
        The folder to write; created when missing. It must not hold images already.

    Returns
    -------
    Path
        ``root``. ``load_image_folder(root, size=H, resize=H, mean=None, std=None,
        classes=dataset.class_names)`` reads the images back, rounded to 8 bits, with
        their labels, class by class.

    Raises
    ------
    ValueError
        If ``root`` already holds files, or the images are not in [0, 1] with 1 or 3 channels.
    """
    root = Path(root).expanduser()
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty; give a new or empty folder for the images")
    images = dataset.images
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be N x C x H x W with 1 or 3 channels, got {tuple(images.shape)}")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"images must have values in [0, 1] to be saved as PNG, got {low:.3g}..{high:.3g}; "
            "save the images before normalising them"
        )
    pixels = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for name in dataset.class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    width = len(str(len(dataset) - 1))
    for i, (picture, label) in enumerate(zip(pixels, dataset.labels.tolist())):
        mode = "L" if picture.shape[2] == 1 else "RGB"
        Image.fromarray(picture[:, :, 0] if mode == "L" else picture, mode).save(
            root / dataset.class_names[label] / f"{i:0{width}d}.png"
        )
    return root
