"""Plain result objects of the core: numpy arrays in dataclasses, with dict/DataFrame views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def pandas_module() -> Any:
    """pandas, or an ImportError that says how to get it (for ``to_dataframe``)."""
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is a dependency
        raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
    return pandas


def class_means(values: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The mean of ``values`` over the images of each class, in float64.

    Parameters
    ----------
    values : ndarray, N or N x M
        One value (or row) per image; may be a memory-mapped array, read in chunks.
    labels : ndarray of int, N
        Each image's class, in 0..num_classes-1.
    num_classes : int
        K.

    Returns
    -------
    ndarray, K or K x M
        NaN for a class with no images: a class absent from the probe set has no mean
        (a mean of 0 would rank it among a community's top classes).
    """
    from scipy.sparse import csr_matrix

    n = len(labels)
    sums = np.zeros((num_classes, int(np.prod(np.shape(values)[1:], dtype=int))))
    for start in range(0, n, 8192):
        rows = slice(start, min(start + 8192, n))
        chunk = np.asarray(values[rows], dtype=np.float64).reshape(rows.stop - rows.start, -1)
        members = csr_matrix((np.ones(len(chunk)), (labels[rows], np.arange(len(chunk)))), shape=(num_classes, len(chunk)))
        sums += members @ chunk
    counts = np.bincount(labels, minlength=num_classes)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means.reshape((num_classes, *np.shape(values)[1:]))


@dataclass(frozen=True, eq=False)
class Predictions:
    """The model's outputs on every probe image.

    Parameters
    ----------
    logits : np.ndarray
        N x K: the model's output for each of the N probe images and K classes.
    labels : np.ndarray
        N: the true class index of each image.
    class_names : list of str
        K names, one per model output.
    """

    logits: np.ndarray  # N x K
    labels: np.ndarray  # N
    class_names: list[str]

    @property
    def classes(self) -> np.ndarray:
        """N: the predicted class of each image (the index of its largest logit)."""
        return self.logits.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        """N bool: whether the prediction equals the label."""
        return self.classes == self.labels

    @property
    def accuracy(self) -> float:
        """The share of images predicted correctly."""
        return float(self.correct.mean())

    @property
    def class_accuracy(self) -> np.ndarray:
        """K: the accuracy over the images of each class; NaN for a class with no image."""
        return class_means(self.correct, self.labels, len(self.class_names))

    def to_dataframe(self) -> Any:
        """One row per probe image.

        Returns
        -------
        pandas.DataFrame
            N rows with the columns ``label`` and ``predicted`` (class names) and
            ``correct`` (bool).
        """
        pd = pandas_module()
        return pd.DataFrame(
            {
                "label": [self.class_names[i] for i in self.labels],
                "predicted": [self.class_names[i] for i in self.classes],
                "correct": self.correct,
            }
        )


@dataclass(frozen=True, eq=False)
class TopImages:
    """A neuron's top-activating probe images, best first.

    Parameters
    ----------
    layer : str
        The neuron's layer.
    neuron : int
        The neuron's index in the layer.
    indices : np.ndarray
        k: probe image indices, highest profile value first.
    scores : np.ndarray
        k: the neuron's profile value (pooled activation) on each of those images.
    positions : np.ndarray or None
        k x d: where on each image the neuron's map peaks, as (row, column) for a
        ``B x C x H x W`` layer or (token,) for a sequence; None for a ``B x F`` layer.
    """

    layer: str
    neuron: int
    indices: np.ndarray  # k image indices
    scores: np.ndarray  # k pooled activations (the neuron's profile values)
    positions: np.ndarray | None  # k x d argmax coordinates (h, w) or (token,); None for flat layers

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-ready values.

        Returns
        -------
        dict
            ``layer``, ``neuron``, ``indices`` and ``scores`` (lists of length k), and
            ``positions`` (k lists of d coordinates, or None).
        """
        return {
            "layer": self.layer,
            "neuron": self.neuron,
            "indices": self.indices.tolist(),
            "scores": self.scores.tolist(),
            "positions": None if self.positions is None else self.positions.tolist(),
        }


@dataclass(frozen=True, eq=False)
class AblationResult:
    """What replacing some neurons' outputs did to the model's predictions on the probe set.

    Made by :meth:`Analysis.ablate` and :meth:`Analysis.ablate_many`. Accuracies are
    measured against the true labels, over the images the ablation ran on (N of them:
    all probe images, or the ``images`` asked for).

    Parameters
    ----------
    spec : dict of str to tuple of int
        The ablated neurons, ``{layer: (index, ...)}``.
    mode : {"zero", "mean"}
        What replaced them: 0, or each neuron's mean over the probe images and positions.
    class_names : list of str
        K class names.
    labels : np.ndarray
        N: the true class of each image.
    logits_before : np.ndarray
        N x K: the logits without ablation.
    logits_after : np.ndarray
        N x K: the logits with the neurons replaced.
    """

    spec: dict[str, tuple[int, ...]]
    mode: str
    class_names: list[str]
    labels: np.ndarray = field(repr=False)
    logits_before: np.ndarray = field(repr=False)
    logits_after: np.ndarray = field(repr=False)

    @property
    def accuracy_before(self) -> float:
        """The share of images predicted correctly without the ablation."""
        return float((self.logits_before.argmax(1) == self.labels).mean())

    @property
    def accuracy_after(self) -> float:
        """The share of images predicted correctly with the ablation."""
        return float((self.logits_after.argmax(1) == self.labels).mean())

    @property
    def accuracy_drop(self) -> float:
        """``accuracy_before - accuracy_after``: positive when the ablation hurts."""
        return self.accuracy_before - self.accuracy_after

    @property
    def class_accuracy_before(self) -> np.ndarray:
        """K: the accuracy over each class's images without the ablation (NaN: no images)."""
        return class_means(self.logits_before.argmax(1) == self.labels, self.labels, len(self.class_names))

    @property
    def class_accuracy_after(self) -> np.ndarray:
        """K: the accuracy over each class's images with the ablation (NaN: no images)."""
        return class_means(self.logits_after.argmax(1) == self.labels, self.labels, len(self.class_names))

    @property
    def class_accuracy_drop(self) -> np.ndarray:
        """K: per class, accuracy before minus after (NaN for a class with no images)."""
        return self.class_accuracy_before - self.class_accuracy_after

    @property
    def logit_change(self) -> np.ndarray:
        """K x K: mean change (after minus before) of each logit (columns) over the images
        of each true class (rows); NaN rows for a class with no images."""
        return class_means(self.logits_after - self.logits_before, self.labels, len(self.class_names))

    @property
    def own_logit_change(self) -> np.ndarray:
        """Per class: mean change of that class's own logit over its images (the diagonal of
        :attr:`logit_change`, without its K x K matrix)."""
        rows = np.arange(len(self.labels))
        own = self.logits_after[rows, self.labels] - self.logits_before[rows, self.labels]
        return class_means(own, self.labels, len(self.class_names))

    @property
    def num_neurons(self) -> int:
        """How many neurons were ablated, over all layers."""
        return sum(len(v) for v in self.spec.values())

    def to_dict(self) -> dict[str, Any]:
        """The spec and the accuracy figures as plain JSON-ready values.

        Returns
        -------
        dict
            ``spec``, ``mode``, ``accuracy_before``, ``accuracy_after``, and the per-class
            ``class_accuracy_before``, ``class_accuracy_after`` and ``own_logit_change``
            as dicts keyed by class name. The logits themselves are left out.
        """
        return {
            "spec": {k: list(v) for k, v in self.spec.items()},
            "mode": self.mode,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "class_accuracy_before": dict(zip(self.class_names, self.class_accuracy_before.tolist())),
            "class_accuracy_after": dict(zip(self.class_names, self.class_accuracy_after.tolist())),
            "own_logit_change": dict(zip(self.class_names, self.own_logit_change.tolist())),
        }

    def to_dataframe(self) -> Any:
        """One row per class: accuracy before/after and the change of its own logit.

        Returns
        -------
        pandas.DataFrame
            K rows indexed by class name, with the columns ``accuracy_before``,
            ``accuracy_after`` and ``own_logit_change``.
        """
        pd = pandas_module()
        return pd.DataFrame(
            {
                "class": self.class_names,
                "accuracy_before": self.class_accuracy_before,
                "accuracy_after": self.class_accuracy_after,
                "own_logit_change": self.own_logit_change,
            }
        ).set_index("class")

    def __repr__(self) -> str:
        return (
            f"AblationResult({self.num_neurons} neurons in {list(self.spec)}, mode={self.mode!r}, "
            f"accuracy {self.accuracy_before:.3f} -> {self.accuracy_after:.3f})"
        )
