"""Misclassification debugging: what switching units off fixes and costs. Every candidate
is ablated alone and, when there are several, all together, in one pass over the probe
images (docs/methods.md, section "Debugging misclassifications")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..engine import AblationResult, class_means, pandas_module
from .confusions import Errors, error_images
from .diagnosis import Unit, UnitLike, as_unit

if TYPE_CHECKING:
    from ..engine import Probe

__all__ = ["Intervention", "intervene"]


@dataclass(frozen=True, eq=False)
class Intervention:
    """What switching units off does to a set of errors and to every other image.

    Made by :func:`intervene`. S candidates (the units, then all of them together when
    there are several), n erroneous images, N probe images, K classes.

    Parameters
    ----------
    names : list of str
        S candidate names; the last is ``"all together"`` when several units were given.
    mode : {"zero", "mean"}
        What replaced the units' outputs.
    errors : np.ndarray
        (n,) the erroneous probe images.
    true : np.ndarray
        (n,) their true classes.
    results : list of AblationResult
        S ablations over all N probe images.
    fix_rate : np.ndarray
        S: the share of the errors predicted as their true class after the ablation.
    now_predicted : np.ndarray
        S x n: each error's predicted class after the ablation.
    other_accuracy_change : np.ndarray
        S: accuracy after minus before on the N - n other probe images.
    other_class_accuracy_change : np.ndarray
        S x K: the same per true class (NaN for a class with no other image).
    right_before_change : np.ndarray
        S: accuracy after minus before on the images predicted correctly before (<= 0:
        minus the share of them the ablation breaks).
    """

    names: list[str]
    mode: str
    class_names: list[str]
    errors: np.ndarray = field(repr=False)
    true: np.ndarray = field(repr=False)
    results: list[AblationResult] = field(repr=False)
    fix_rate: np.ndarray
    now_predicted: np.ndarray = field(repr=False)
    other_accuracy_change: np.ndarray
    other_class_accuracy_change: np.ndarray = field(repr=False)
    right_before_change: np.ndarray

    def to_dataframe(self) -> Any:
        """One row per candidate.

        Returns
        -------
        pandas.DataFrame
            S rows indexed by ``candidate`` with the columns ``neurons``, ``fix_rate``,
            ``other_accuracy_change``, ``right_before_change`` and one
            ``accuracy_change:<class>`` column per class (on the other images).
        """
        pd = pandas_module()
        frame = pd.DataFrame(
            {
                "candidate": self.names,
                "neurons": [r.num_neurons for r in self.results],
                "fix_rate": self.fix_rate,
                "other_accuracy_change": self.other_accuracy_change,
                "right_before_change": self.right_before_change,
            }
        )
        for k, name in enumerate(self.class_names):
            frame[f"accuracy_change:{name}"] = self.other_class_accuracy_change[:, k]
        return frame.set_index("candidate")

    def to_dict(self) -> dict[str, Any]:
        """The intervention as plain JSON-ready values.

        Returns
        -------
        dict
            ``mode``, ``class_names``, ``errors``, ``true``, and ``candidates``: per
            candidate its ``name``, ``spec``, ``fix_rate``, ``now_predicted`` (n classes),
            ``other_accuracy_change``, ``other_class_accuracy_change`` (by class name,
            None for NaN) and ``right_before_change``.
        """
        return {
            "mode": self.mode,
            "class_names": list(self.class_names),
            "errors": self.errors.tolist(),
            "true": self.true.tolist(),
            "candidates": [
                {
                    "name": name,
                    "spec": {layer: list(v) for layer, v in result.spec.items()},
                    "fix_rate": float(self.fix_rate[s]),
                    "now_predicted": self.now_predicted[s].tolist(),
                    "other_accuracy_change": float(self.other_accuracy_change[s]),
                    "other_class_accuracy_change": {
                        c: None if np.isnan(v) else float(v)
                        for c, v in zip(self.class_names, self.other_class_accuracy_change[s])
                    },
                    "right_before_change": float(self.right_before_change[s]),
                }
                for s, (name, result) in enumerate(zip(self.names, self.results))
            ],
        }


def intervene(
    analysis: Probe,
    units: UnitLike | Sequence[UnitLike],
    errors: Errors,
    mode: Literal["zero", "mean"] = "zero",
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Intervention:
    """Switch units off, each alone and all together, and measure fixes and cost.

    All ablations run in one :meth:`Analysis.ablate_many` pass over every probe image
    (one copy of each batch per candidate).

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its probe images.
    units : Unit, spec, or list of them
        Candidates: :class:`Unit` (e.g. from :attr:`Diagnosis.units`) or ablation specs
        ``{layer: [neuron, ...]}``. With several, one more candidate ablates them all.
    errors : (true, predicted), list of int, or int
        The errors to fix, as for :func:`diagnose`.
    mode : {"zero", "mean"}
        Replace the units' outputs by 0 or by each neuron's probe-set mean.
    should_stop : callable, optional
        Asked between batches; True ends the work with :class:`Cancelled`.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each batch, in image copies.

    Returns
    -------
    Intervention
        Fix rate, new predictions of the errors, and the accuracy changes elsewhere.

    Raises
    ------
    ValueError
        If no unit is given, an image is classified correctly, a confusion has no
        images, or a spec names an unknown layer or neuron.
    """
    images, true, _ = error_images(analysis, errors)
    candidates = [units] if isinstance(units, (Unit, Mapping)) else list(units)
    if not candidates:
        raise ValueError("give at least one unit to switch off (a Unit or a spec {layer: [neuron, ...]})")
    found = [as_unit(analysis, c, i) for i, c in enumerate(candidates)]
    names, specs = [u.name for u in found], [u.spec for u in found]
    if len(found) > 1:
        together: dict[str, set[int]] = {}
        for spec in specs:
            for layer, neurons in spec.items():
                together.setdefault(layer, set()).update(neurons)
        names.append("all together")
        specs.append({layer: sorted(neurons) for layer, neurons in together.items()})
    results = analysis.ablate_many(specs, mode, should_stop, on_progress)

    labels = results[0].labels
    right_before = results[0].logits_before.argmax(1) == labels
    right_after = np.stack([r.logits_after.argmax(1) for r in results]) == labels
    others = np.ones(len(labels), bool)
    others[images] = False
    k = len(analysis.data.class_names)
    before_by_class = class_means(right_before[others], labels[others], k)
    return Intervention(
        names, mode, list(analysis.data.class_names), images, true, results,
        fix_rate=right_after[:, images].mean(1),
        now_predicted=np.stack([r.logits_after[images].argmax(1) for r in results]),
        other_accuracy_change=right_after[:, others].mean(1) - right_before[others].mean(),
        other_class_accuracy_change=np.stack([class_means(a[others], labels[others], k) for a in right_after]) - before_by_class,
        right_before_change=right_after[:, right_before].mean(1) - 1.0 if right_before.any() else np.zeros(len(results)),
    )
