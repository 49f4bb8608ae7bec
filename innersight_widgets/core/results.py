"""Plain result objects of the core: numpy arrays in dataclasses, with dict/DataFrame views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is a dependency
        raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
    return pandas


def _class_accuracy(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy per class; NaN for a class with no images."""
    counts = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels, weights=correct.astype(np.float64), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True, eq=False)
class Predictions:
    """The model's outputs on every probe image."""

    logits: np.ndarray  # N x K
    labels: np.ndarray  # N
    class_names: list[str]

    @property
    def classes(self) -> np.ndarray:
        """Predicted class per image."""
        return self.logits.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.classes == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def class_accuracy(self) -> np.ndarray:
        return _class_accuracy(self.correct, self.labels, len(self.class_names))

    def to_dataframe(self) -> Any:
        pd = _pandas()
        return pd.DataFrame(
            {
                "label": [self.class_names[i] for i in self.labels],
                "predicted": [self.class_names[i] for i in self.classes],
                "correct": self.correct,
            }
        )


@dataclass(frozen=True, eq=False)
class TopImages:
    """A neuron's top-activating probe images, best first."""

    layer: str
    neuron: int
    indices: np.ndarray  # k image indices
    scores: np.ndarray  # k pooled activations (the neuron's profile values)
    positions: np.ndarray | None  # k x d argmax coordinates (h, w) or (token,); None for flat layers

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "neuron": self.neuron,
            "indices": self.indices.tolist(),
            "scores": self.scores.tolist(),
            "positions": None if self.positions is None else self.positions.tolist(),
        }


@dataclass(frozen=True, eq=False)
class AblationResult:
    """What replacing some neurons' outputs did to the model's predictions on the probe set."""

    spec: dict[str, tuple[int, ...]]
    mode: str
    class_names: list[str]
    labels: np.ndarray = field(repr=False)
    logits_before: np.ndarray = field(repr=False)
    logits_after: np.ndarray = field(repr=False)

    @property
    def accuracy_before(self) -> float:
        return float((self.logits_before.argmax(1) == self.labels).mean())

    @property
    def accuracy_after(self) -> float:
        return float((self.logits_after.argmax(1) == self.labels).mean())

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_before - self.accuracy_after

    @property
    def class_accuracy_before(self) -> np.ndarray:
        return _class_accuracy(self.logits_before.argmax(1) == self.labels, self.labels, len(self.class_names))

    @property
    def class_accuracy_after(self) -> np.ndarray:
        return _class_accuracy(self.logits_after.argmax(1) == self.labels, self.labels, len(self.class_names))

    @property
    def class_accuracy_drop(self) -> np.ndarray:
        """Per class: accuracy before minus after (NaN for a class with no images)."""
        return self.class_accuracy_before - self.class_accuracy_after

    @property
    def logit_change(self) -> np.ndarray:
        """K x K: mean change of each logit (columns) over the images of each class (rows)."""
        k = len(self.class_names)
        delta = self.logits_after - self.logits_before
        sums = np.zeros((k, delta.shape[1]))
        np.add.at(sums, self.labels, delta)
        counts = np.bincount(self.labels, minlength=k)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    @property
    def own_logit_change(self) -> np.ndarray:
        """Per class: mean change of that class's own logit over its images."""
        return np.diagonal(self.logit_change).copy()

    @property
    def num_neurons(self) -> int:
        return sum(len(v) for v in self.spec.values())

    def to_dict(self) -> dict[str, Any]:
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
        """One row per class: accuracy before/after and the change of its own logit."""
        pd = _pandas()
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
