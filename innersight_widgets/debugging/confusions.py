"""The confusions of the model on its probe images: the confusion table, its errors
grouped by confusion, and the errors a diagnosis or an intervention is asked about
(docs/methods.md, section "Debugging misclassifications")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval
from ..engine import pandas_module

if TYPE_CHECKING:
    from ..engine import Probe

#: What ``errors`` may be: a confusion ``(true, predicted)`` (class indices or names), a
#: list or array of probe image indices, or one image index.
Errors = tuple[int | str, int | str] | Sequence[int] | np.ndarray | int

__all__ = ["Confusions", "confusions"]


@dataclass(frozen=True, eq=False)
class Confusions:
    """The confusion table of the model on the probe images.

    Made by :meth:`Analysis.confusions`.

    Parameters
    ----------
    class_names : list of str
        K class names.
    labels : np.ndarray
        N: the true class of each probe image.
    predicted : np.ndarray
        N: the class the model predicts for it.
    """

    class_names: list[str]
    labels: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)

    @property
    def counts(self) -> np.ndarray:
        """K x K: how many images of each true class (rows) are predicted as each class (columns)."""
        k = len(self.class_names)
        return np.bincount(self.labels * k + self.predicted, minlength=k * k).reshape(k, k)

    def images(self, true: int, predicted: int) -> np.ndarray:
        """The probe images of one cell of the table.

        Parameters
        ----------
        true, predicted : int
            Class indices in 0..K-1.

        Returns
        -------
        np.ndarray
            (count,) ascending probe image indices of class ``true`` predicted as ``predicted``.

        Raises
        ------
        ValueError
            If a class index is out of range.
        """
        k = len(self.class_names)
        for name, value in (("true", true), ("predicted", predicted)):
            if not Interval(int, 0, k - 1).accepts(value):
                raise ValueError(f"{name} must be a class index in 0..{k - 1}, got {value!r}")
        return np.flatnonzero((self.labels == true) & (self.predicted == predicted))

    @property
    def errors(self) -> list[tuple[int, int, np.ndarray]]:
        """The misclassified images grouped by confusion, most frequent confusion first.

        Returns
        -------
        list of (int, int, np.ndarray)
            ``(true, predicted, images)`` for every off-diagonal cell with images, by
            falling count (ties by true then predicted class).
        """
        counts = self.counts
        cells = [(int(t), int(p)) for t, p in zip(*np.nonzero(counts)) if t != p]
        cells.sort(key=lambda cell: (-counts[cell], cell))
        return [(t, p, self.images(t, p)) for t, p in cells]

    def to_dataframe(self) -> Any:
        """The table with class names.

        Returns
        -------
        pandas.DataFrame
            K x K counts, indexed by true class (``true``), one column per predicted class.
        """
        pd = pandas_module()
        index = pd.Index(self.class_names, name="true")
        return pd.DataFrame(self.counts, index=index, columns=pd.Index(self.class_names, name="predicted"))

    def to_dict(self) -> dict[str, Any]:
        """The table and the errors as plain JSON-ready values.

        Returns
        -------
        dict
            ``class_names``, ``counts`` (K lists of K ints), ``accuracy``, and ``errors``:
            one ``{"true", "predicted", "count", "images"}`` per confusion, as in :attr:`errors`.
        """
        return {
            "class_names": list(self.class_names),
            "counts": self.counts.tolist(),
            "accuracy": float((self.labels == self.predicted).mean()),
            "errors": [
                {"true": t, "predicted": p, "count": len(images), "images": images.tolist()}
                for t, p, images in self.errors
            ],
        }



def confusions(analysis: Probe) -> Confusions:
    """The confusion table of ``analysis``'s model on its probe images.

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its N probe images.

    Returns
    -------
    Confusions
        The true class and the predicted class of each probe image (N each).
    """
    return Confusions(list(analysis.data.class_names), np.asarray(analysis.labels), analysis.predictions.classes)


def error_images(analysis: Probe, errors: Errors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The misclassified images that ``errors`` names, checked.

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its probe images.
    errors : (true, predicted), list of int, or int
        A confusion (a tuple of two classes, by index or name), probe image indices (a
        list or array), or one probe image index.

    Returns
    -------
    images, true, predicted : np.ndarray
        (n,) each: the probe images, their true classes and their predicted classes.

    Raises
    ------
    ValueError
        If an image is classified correctly, a confusion is on the diagonal or has no
        images, or an index is out of range.
    """
    predictions = analysis.predictions
    labels, classes = predictions.labels, predictions.classes
    names = analysis.data.class_names
    if isinstance(errors, tuple):
        if len(errors) != 2:
            raise ValueError(
                f"a confusion is a tuple (true class, predicted class), got {len(errors)} values; "
                "give image indices as a list"
            )
        t, p = (analysis.class_index(c) for c in errors)
        if t == p:
            raise ValueError(f"({names[t]!r}, {names[p]!r}) is the diagonal of the confusion table: no errors")
        images = np.flatnonzero((labels == t) & (classes == p))
        if not images.size:
            found = ", ".join(f"{names[a]} -> {names[b]} ({len(i)})" for a, b, i in confusions(analysis).errors[:5])
            raise ValueError(
                f"no image of class {names[t]!r} is predicted as {names[p]!r}; the most frequent confusions are "
                f"{found or 'none: the model makes no errors on the probe images'} (see Analysis.confusions())"
            )
    else:
        single = isinstance(errors, (int, np.integer)) and not isinstance(errors, bool)
        images = analysis.image_indices([errors] if single else errors)
        right = images[labels[images] == classes[images]]
        if right.size:
            shown = ", ".join(map(str, right[:10].tolist())) + (" ..." if right.size > 10 else "")
            which = (
                f"image {right[0]} is classified correctly (as {names[classes[right[0]]]!r}), so there is no error "
                "to explain" if single
                else f"{right.size} of the {images.size} images are classified correctly ({shown}); "
                "give misclassified images only"
            )
            raise ValueError(f"{which}; Analysis.confusions().errors lists the misclassified images by confusion")
    return images, labels[images], classes[images]
