"""The one codec of the records: arrays as little-endian bytes, pictures as PNG bytes.

ipywidgets sends ``bytes`` as binary buffers, not as JSON: a record carries an array as the
bytes :meth:`Packed.pack` makes, and the front end reads them back with a ``DataView`` in
the layout the record's field declares (``Annotated[bytes, Packed(...)]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..._png import THUMBNAIL_SIZE, to_png


@dataclass(frozen=True)
class Packed:
    """How an array travels as bytes: row-major, ``columns`` values a row, each a
    little-endian ``dtype`` integer.

    Parameters
    ----------
    dtype : str
        A NumPy integer type, little-endian where it has more than one byte (``"<u2"``,
        ``"<i2"``, ``"u1"``).
    columns : int
        Values in a row.
    rows : str, optional
        Names the number of rows: fields of a record with the same ``rows`` have as many,
        and an int field of that name says how many.
    """

    dtype: str
    columns: int = 1
    rows: str | None = None

    def __post_init__(self) -> None:
        kind = np.dtype(self.dtype)
        if kind.kind not in "iu" or kind.byteorder == ">":
            raise ValueError(f"Packed takes a little-endian integer dtype, got {self.dtype!r}")

    @property
    def row_bytes(self) -> int:
        """Bytes a row takes."""
        return np.dtype(self.dtype).itemsize * self.columns

    def describe(self) -> str:
        """The layout in words, e.g. ``"<u2 x 2 a row, rows: count"``."""
        return f"{self.dtype} x {self.columns} a row" + ("" if self.rows is None else f", rows: {self.rows}")

    def count(self, data: bytes) -> int:
        """The rows in ``data``.

        Raises
        ------
        ValueError
            If ``data`` is not a whole number of rows.
        """
        rows, rest = divmod(len(data), self.row_bytes)
        if rest:
            raise ValueError(f"{len(data)} bytes are not whole rows of {self.row_bytes} bytes ({self.describe()})")
        return rows

    def pack(self, values: np.ndarray) -> bytes:
        """``values`` as bytes in this layout.

        Parameters
        ----------
        values : np.ndarray
            Integers (of any numeric dtype) within the range of ``dtype``: a vector for one
            column, else rows x ``columns``.

        Returns
        -------
        bytes
            ``len(values) * row_bytes`` bytes.

        Raises
        ------
        ValueError
            If the shape does not match the layout, or a value is not an integer that
            ``dtype`` holds (nothing wraps around).
        """
        values = np.asarray(values)
        shape = (len(values),) if self.columns == 1 else (len(values), self.columns)
        if values.ndim != len(shape) or values.shape != shape:
            raise ValueError(f"{self.describe()} packs a {len(shape)}-d array of shape {shape}, got shape {values.shape}")
        limits = np.iinfo(self.dtype)
        if values.size and (
            not np.isfinite(values).all() or (values != np.round(values)).any()
            or values.min() < limits.min or values.max() > limits.max
        ):
            raise ValueError(f"{self.describe()} holds integers in {limits.min}..{limits.max}, got values outside")
        return values.astype(self.dtype).tobytes()

    def fraction(self, values: np.ndarray) -> bytes:
        """Values in [0, 1] as fixed point: 0 packs as 0, 1 as the largest value of ``dtype``."""
        return self.pack(np.round(np.asarray(values) * np.iinfo(self.dtype).max))


def pngs(
    images: Mapping[str, torch.Tensor],
    boxes: Mapping[str, Sequence[int]] | None = None,
    size: int = THUMBNAIL_SIZE,
) -> list[bytes]:
    """Each image of ``images`` (C x H x W in [0, 1]) as a PNG ``size`` pixels wide, in order.

    Parameters
    ----------
    images : mapping of str to torch.Tensor
        The pictures by name.
    boxes : mapping of str to (top, left, bottom, right), optional
        The crop to show of a picture, by its name; the whole picture otherwise.
    size : int
        Width of the PNGs in pixels.

    Returns
    -------
    list of bytes
        One PNG per picture, in the order of ``images``.
    """
    boxes = boxes or {}
    return [to_png(image, boxes.get(name), size) for name, image in images.items()]
