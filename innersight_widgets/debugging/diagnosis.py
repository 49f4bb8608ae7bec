"""Misclassification debugging: which units push the model to its errors.

A unit is a set of neurons: a community of a :class:`Communities` partition, a single
neuron, a NeurFlow group of a :class:`Circuit`, or any ablation spec. Its *contrastive
contribution* to an error is the Integrated Gradients attribution of the margin
``logit[predicted] - logit[true]`` to the unit's channels, averaged over the erroneous
images, minus the same on correctly classified images of the true class (the
reference): what the unit does on the errors that it does not do on the images the model
gets right. See docs/methods.md, section "Debugging misclassifications".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
import torch

from .._progress import bar as progress_bar
from .._validation import Interval, Options, validate_params
from ..engine import Cancelled, neurons_first, pandas_module, step_mean_gradient
from ..innersightnet import RANKING, Communities, CommunityReport, ConceptScore, Patch, aggregator
from ..innersightnet.concepts import label_text
from ..neurflow import Circuit
from .confusions import Errors, error_images

if TYPE_CHECKING:
    from ..engine import LayerInfo, Probe

#: What a candidate unit may be: a :class:`Unit` or an ablation spec ``{layer: [neuron, ...]}``.
UnitLike = Union["Unit", Mapping[str, Iterable[int]]]

__all__ = ["Diagnosis", "Unit", "diagnose"]


@dataclass(frozen=True, eq=False)
class Unit:
    """A set of neurons that is diagnosed and switched off as one.

    Parameters
    ----------
    name : str
        ``"community 3"``, ``"layer2:17"`` (a neuron), ``"group <id>"`` (a circuit
        group) or ``"unit 0"`` (a spec given by hand).
    kind : {"community", "neuron", "group", "spec"}
        Where it comes from.
    spec : dict of str to tuple of int
        Its neurons, ``{layer: (index, ...)}``, ready for :meth:`Analysis.ablate`.
    label : ConceptScore or None
        For a community, the concept value its score separates best (AUROC); else None.
    top_images : np.ndarray
        (k,) probe images that show the unit best: a community's top images (by the
        ranking :func:`diagnose` was given, its specific score by default), a neuron's top
        activating images, a group's crop sources; empty for a spec given by hand.
    """

    name: str
    kind: str
    spec: dict[str, tuple[int, ...]]
    label: ConceptScore | None = None
    top_images: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def num_neurons(self) -> int:
        """How many neurons the unit has, over all layers."""
        return sum(len(v) for v in self.spec.values())

    def to_dict(self) -> dict[str, Any]:
        """The unit as plain JSON-ready values.

        Returns
        -------
        dict
            ``name``, ``kind``, ``spec`` (layer -> list of neurons), ``label``
            (``{"concept", "value", "auroc"}`` or None) and ``top_images`` (k indices).
        """
        label = self.label
        return {
            "name": self.name,
            "kind": self.kind,
            "spec": {layer: list(v) for layer, v in self.spec.items()},
            "label": None if label is None else {"concept": label.concept, "value": label.value, "auroc": label.auroc},
            "top_images": self.top_images.tolist(),
        }


def as_unit(analysis: Probe, unit: UnitLike, index: int) -> Unit:
    """A candidate unit as a :class:`Unit`, checked.

    Parameters
    ----------
    analysis : Analysis
        The analysis whose layers and neurons a spec names.
    unit : Unit or mapping of str to iterable of int
        A unit, or an ablation spec ``{layer: [neuron, ...]}`` (selected layers only).
    index : int
        The candidate's position: a spec becomes ``Unit("unit <index>", "spec", ...)``.

    Returns
    -------
    Unit
        ``unit`` itself, or the spec's neurons as a unit (layers without neurons left out).

    Raises
    ------
    TypeError
        If ``unit`` is neither.
    ValueError
        If the spec has no neurons or names an unknown layer or neuron.
    """
    if isinstance(unit, Unit):
        return unit
    if not isinstance(unit, Mapping):
        raise TypeError(f"a unit is a Unit or a spec {{layer: [neuron, ...]}}, got {type(unit).__name__}")
    spec = {layer: neurons for layer, neurons in analysis.ablation_spec(unit, "mean").items() if neurons}
    if not spec:
        raise ValueError(f"unit {index} has no neurons; give at least one neuron per unit")
    return Unit(f"unit {index}", "spec", spec)


# ------------------------------------------------------------------- diagnosis
@dataclass(frozen=True, eq=False)
class Diagnosis:
    """Units ranked by the contrastive contribution they make on a set of errors.

    Made by :func:`diagnose`. U units, n erroneous images.

    Parameters
    ----------
    class_names : list of str
        K class names.
    errors : np.ndarray
        (n,) the erroneous probe images.
    true, predicted : np.ndarray
        (n,) each one's true and predicted class.
    margins : np.ndarray
        (n,) each one's margin ``logit[predicted] - logit[true]`` (> 0: the error).
    reference : np.ndarray
        (r,) the correctly classified probe images compared with; empty with ``reference=None``.
    layers : list of str
        The layers attributed to, in model order.
    steps : int
        Integrated Gradients steps.
    units : list of Unit
        U units, the largest :attr:`evidence` first.
    attribution : np.ndarray
        U x n: the IG attribution of each error's margin to each unit (summed over the
        unit's channels and their positions), in logit units.
    reference_attribution : np.ndarray
        U x n: the mean attribution, on the reference images of each error's true class,
        of the same margin (the same two logits); zeros with ``reference=None``.
    where : list of list of Patch or None
        U x n: on each error image, the receptive field at the maximum of the unit's
        member (with a 2-D map) whose attribution there is largest; None for a unit
        without 2-D maps.
    """

    class_names: list[str]
    errors: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    margins: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)
    layers: list[str]
    steps: int
    units: list[Unit] = field(repr=False)
    attribution: np.ndarray = field(repr=False)
    reference_attribution: np.ndarray = field(repr=False)
    where: list[list[Patch | None]] = field(repr=False)

    @property
    def per_image(self) -> np.ndarray:
        """U x n: each unit's contrastive contribution on each error image
        (``attribution - reference_attribution``)."""
        return self.attribution - self.reference_attribution

    @property
    def contributions(self) -> np.ndarray:
        """U: each unit's contrastive contribution, the mean of :attr:`per_image` over the
        errors. > 0: the unit pushes towards the wrong class on the errors more
        than on the images the model gets right."""
        return self.per_image.mean(1)

    @property
    def evidence(self) -> np.ndarray:
        """U: the part of each unit's contrastive contribution that it makes on the errors
        themselves, ``min(contribution, mean attribution on the errors)``, descending: the
        ranking. A unit silent on the errors that pushes towards the true class on the
        reference has a large contribution (evidence for the true class that is missing)
        but no evidence here: switching it off cannot fix the errors."""
        return _evidence(self.attribution, self.reference_attribution)

    @property
    def spread(self) -> np.ndarray:
        """U: the standard deviation of each unit's contribution over the error images."""
        return self.per_image.std(1)

    def to_dataframe(self) -> Any:
        """One row per unit, best first.

        Returns
        -------
        pandas.DataFrame
            U rows with the columns ``unit``, ``kind``, ``neurons``, ``evidence``,
            ``contribution``, ``spread``, ``on_errors`` (mean attribution on the errors), ``on_reference``
            (mean attribution on the reference), ``label`` (``concept=value``) and ``auroc``.
        """
        pd = pandas_module()
        return pd.DataFrame(
            {
                "unit": [u.name for u in self.units],
                "kind": [u.kind for u in self.units],
                "neurons": [u.num_neurons for u in self.units],
                "evidence": self.evidence,
                "contribution": self.contributions,
                "spread": self.spread,
                "on_errors": self.attribution.mean(1),
                "on_reference": self.reference_attribution.mean(1),
                "label": [label_text(u.label) for u in self.units],
                "auroc": [np.nan if u.label is None else u.label.auroc for u in self.units],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The diagnosis as plain JSON-ready values.

        Returns
        -------
        dict
            ``class_names``, ``errors``, ``true``, ``predicted``, ``margins``,
            ``reference``, ``layers``, ``steps``, and ``units``: per unit, best first, its
            :meth:`Unit.to_dict` with ``evidence``, ``contribution``, ``spread``, ``per_image`` (n values),
            ``attribution``, ``reference_attribution`` (n values each) and ``where`` (n
            ``{"image", "layer", "neuron", "box"}`` or None).
        """
        evidence, contributions, spread, per_image = self.evidence, self.contributions, self.spread, self.per_image
        units = [
            unit.to_dict() | {
                "evidence": float(evidence[u]),
                "contribution": float(contributions[u]),
                "spread": float(spread[u]),
                "per_image": per_image[u].tolist(),
                "attribution": self.attribution[u].tolist(),
                "reference_attribution": self.reference_attribution[u].tolist(),
                "where": [None if p is None else {"image": p.image, "layer": p.layer, "neuron": p.neuron, "box": list(p.box)}
                          for p in self.where[u]],
            }
            for u, unit in enumerate(self.units)
        ]
        return {
            "class_names": list(self.class_names),
            "errors": self.errors.tolist(),
            "true": self.true.tolist(),
            "predicted": self.predicted.tolist(),
            "margins": self.margins.tolist(),
            "reference": self.reference.tolist(),
            "layers": list(self.layers),
            "steps": self.steps,
            "units": units,
        }

    def __repr__(self) -> str:
        best = f", best {self.units[0].name} {self.evidence[0]:+.3f}" if self.units else ""
        return f"Diagnosis({len(self.errors)} errors, {len(self.units)} units in {self.layers}{best})"


@validate_params(
    {
        "reference": Options("correct", None),
        "steps": Interval(int, 1, meaning="Integrated Gradients steps"),
        "max_reference": Interval(int, 1, meaning="reference images per confusion"),
        "top_k": Interval(int, 1, meaning="top images per unit"),
        "ranking": RANKING,
    }
)
def diagnose(
    analysis: Probe,
    errors: Errors,
    layers: Sequence[str] | str | None = None,
    units: Literal["communities", "neurons"] | Circuit | Sequence[UnitLike] = "communities",
    reference: Literal["correct"] | None = "correct",
    communities: Communities | Sequence[Communities] | None = None,
    steps: int = 16,
    max_reference: int = 64,
    top_k: int = 8,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    ranking: Literal["specific", "plain"] = "specific",
) -> Diagnosis:
    """Rank units by their contrastive contribution to the model's errors.

    For each erroneous image (true class t, predicted p) and each layer L of the units,
    Integrated Gradients of the margin ``m = logit[p] - logit[t]`` with respect to L's
    activation A (zero baseline, midpoint steps alpha_s = (s + 0.5) / steps) gives
    ``A * mean_s dm(alpha_s A)/dA``, summed over positions: one number per channel; the
    channels of a layer share ``m(A) - m(0)`` among them. A unit's attribution is the sum
    over its channels. From the mean
    over the errors is subtracted the mean of the same margin's attribution on up to
    ``max_reference`` correctly classified images of class t (a seeded sample): the
    contrastive contribution. Units are ranked by the part of it they make on the errors
    themselves (:attr:`Diagnosis.evidence`): the smaller of the contribution and the mean
    attribution on the errors, so that a unit whose contribution comes only from the
    reference (silent on the errors) is not ranked as their cause. The steps
    of a batch of images go through one forward and one backward (the layers below L run
    once per image).

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its probe images.
    errors : (true, predicted), list of int, or int
        A confusion (a tuple of two classes, by index or name), probe image indices (a
        list or array), or one probe image index. Every image must be misclassified.
    layers : list of str, optional
        Selected layers to attribute to; units are kept where they have neurons there.
        Default: the layers of ``communities``, of the circuit or of the given units, else
        every selected layer.
    units : "communities", "neurons", Circuit, or list of Unit or spec
        The units ranked: communities, one unit per community and layer (the part of the
        community in that layer); every neuron of ``layers``; the groups of a circuit in
        ``layers``; or given units (:class:`Unit` or ``{layer: [neuron, ...]}``). A unit
        with channels in several layers gets the sum of their attributions.
    reference : {"correct", None}
        Subtract the attribution on correctly classified images of the true class, or
        (None) report the plain attribution on the errors.
    communities : Communities or list of Communities, optional
        The partitions whose communities are the units (``units="communities"``). Default:
        one partition per layer, ``an.communities(layer)`` with default settings.
    steps : int
        Integrated Gradients steps.
    max_reference : int
        At most this many reference images per confusion.
    top_k : int
        Top images reported per unit.
    seed : int
        Seed of the reference sample.
    should_stop : callable, optional
        Asked between batches; True ends the work with :class:`Cancelled`.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each batch, in image-layer rows.
    ranking : {"specific", "plain"}
        How a community unit's top images are ranked (``CommunityReport.top_images``):
        by its specific score, which discounts images that drive the whole layer (hubs
        would otherwise top most communities), or by the plain community score.

    Returns
    -------
    Diagnosis
        The units ranked by contribution, with their per-image figures.

    Raises
    ------
    ValueError
        If an image is classified correctly, a confusion has no images, a layer is not
        selected, there is no correct image of a true class to compare with, or an
        argument is out of range.
    """
    images, true, predicted = error_images(analysis, errors)
    chosen, found = _units(analysis, units, layers, communities, top_k, ranking)
    ref_images, ref_true, ref_predicted, pair_of_error, pair_of_reference = (
        _reference(analysis, true, predicted, max_reference, seed) if reference == "correct" else _no_reference(len(images))
    )
    rows = np.concatenate([images, ref_images])
    per_channel = _margin_attributions(
        analysis, rows, np.concatenate([true, ref_true]), np.concatenate([predicted, ref_predicted]), chosen, steps,
        should_stop, on_progress,
    )
    membership = {layer: _membership(found, layer, analysis.layer_info(layer).num_neurons) for layer in chosen}
    per_unit = sum(per_channel[layer] @ membership[layer] for layer in chosen).T  # U x rows
    attribution = per_unit[:, : len(images)]
    reference_attribution = np.zeros_like(attribution)
    for pair in np.unique(pair_of_reference):
        members = len(images) + np.flatnonzero(pair_of_reference == pair)
        reference_attribution[:, pair_of_error == pair] = per_unit[:, members].mean(1, keepdims=True)

    order = np.argsort(-_evidence(attribution, reference_attribution), kind="stable")
    logits = analysis.predictions.logits[images]
    return Diagnosis(
        list(analysis.data.class_names), images, true, predicted,
        logits[np.arange(len(images)), predicted] - logits[np.arange(len(images)), true],
        ref_images, chosen, steps, [found[u] for u in order], attribution[order], reference_attribution[order],
        [_where(analysis, found[u], images, per_channel, chosen) for u in order],
    )


# ------------------------------------------------------------------- internals
def _evidence(attribution: np.ndarray, reference_attribution: np.ndarray) -> np.ndarray:
    """U: the contrastive contribution each unit makes on the errors themselves (U x n
    attributions on the errors and on their references)."""
    return np.minimum((attribution - reference_attribution).mean(1), attribution.mean(1))



def _units(
    analysis: Probe,
    units: str | Circuit | Sequence[UnitLike],
    layers: Sequence[str] | str | None,
    communities: Communities | Sequence[Communities] | None,
    top_k: int,
    ranking: str,
) -> tuple[list[str], list[Unit]]:
    """(the layers attributed to, in model order; the units), checked; a community's top
    images are ranked by ``ranking``."""
    if isinstance(units, str):
        if units not in ("communities", "neurons"):
            raise ValueError(f"units must be 'communities', 'neurons', a Circuit or a list of units, got {units!r}")
        if units == "communities":
            return _community_units(analysis, layers, communities, top_k, ranking)
        chosen = analysis.ordered_layers(layers)
        return chosen, [
            Unit(f"{layer}:{n}", "neuron", {layer: (n,)}, None, analysis.top_images(layer, n, top_k).indices)
            for layer in chosen for n in range(analysis.layer_info(layer).num_neurons)
        ]
    if isinstance(units, Circuit):
        chosen = analysis.ordered_layers([l for l in units.layers if l in analysis.layers] if layers is None else layers)
        found = []
        for group in units.groups:
            if group.layer in chosen:
                sources = units.crops[group.crops, 0] if group.crops else np.zeros(0, np.int64)
                found.append(Unit(
                    f"group {group.id}", "group", {group.layer: tuple(sorted({n for n, _ in group.members}))},
                    None, np.asarray(list(dict.fromkeys(sources.tolist()))[:top_k], dtype=np.int64),
                ))
        if not found:
            raise ValueError(f"the circuit has no groups in the layers {chosen}; its layers are {units.layers}")
        return chosen, found
    found = [as_unit(analysis, u, i) for i, u in enumerate(units)]
    if not found:
        raise ValueError("units is an empty list; give 'communities', 'neurons', a Circuit or some units")
    return analysis.ordered_layers(sorted({layer for u in found for layer in u.spec})), found


def _community_units(
    analysis: Probe,
    layers: Sequence[str] | str | None,
    communities: Communities | Sequence[Communities] | None,
    top_k: int,
    ranking: str,
) -> tuple[list[str], list[Unit]]:
    """One unit per community and layer: a community's members in one layer. Integrated
    Gradients at one layer splits the margin among that layer's channels, so the parts of
    a community that spans layers are ranked one by one (their sum would count the same
    path through the network once per layer)."""
    if communities is None:
        partitions = [aggregator(analysis, layer).communities("louvain", {}, 0, 0, None) for layer in analysis.ordered_layers(layers)]
    else:
        partitions = [communities] if isinstance(communities, Communities) else list(communities)
    chosen = analysis.ordered_layers(
        layers if layers is not None else sorted({layer for p in partitions for layer in p.layers})
    )
    found = []
    for partition in partitions:
        report = CommunityReport(analysis, partition)
        labels = report.labels()
        for c in range(partition.num_communities):
            for layer, neurons in partition.spec(c).items():
                if layer in chosen:
                    found.append(Unit(
                        f"{layer} community {c}", "community", {layer: tuple(neurons)}, labels[c],
                        report.top_images(c, top_k, ranking),
                    ))
    if not found:
        raise ValueError(
            f"the communities have no members in the layers {chosen} (their layers: "
            f"{sorted({layer for p in partitions for layer in p.layers})}); choose layers they cover"
        )
    return chosen, found


def _reference(
    analysis: Probe, true: np.ndarray, predicted: np.ndarray, most: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference rows for each (true, predicted) pair of the errors: up to ``most``
    correctly classified images of the true class, with the margin of the same two
    classes. Returns (images, true, predicted) of the rows, the pair of each error and the
    pair of each row."""
    predictions = analysis.predictions
    pairs, pair_of_error = np.unique(np.stack([true, predicted], 1), axis=0, return_inverse=True)
    rng = np.random.default_rng(seed)
    images = []
    for t, _ in pairs.tolist():
        right = np.flatnonzero((predictions.labels == t) & predictions.correct)
        if not right.size:
            raise ValueError(
                f"no probe image of class {analysis.data.class_names[t]!r} is classified correctly, so there is no "
                "reference to compare with; pass reference=None for the plain attribution on the errors"
            )
        images.append(np.sort(rng.choice(right, size=min(most, right.size), replace=False)))
    pair_of_reference = np.repeat(np.arange(len(pairs)), [len(i) for i in images])
    return (
        np.concatenate(images), pairs[pair_of_reference, 0], pairs[pair_of_reference, 1],
        pair_of_error.ravel(), pair_of_reference,
    )


def _no_reference(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, np.int64)
    return empty, empty, empty, np.full(n, -1), empty


def _membership(units: list[Unit], layer: str, channels: int) -> np.ndarray:
    """C x U 0/1: which of the layer's channels each unit has."""
    out = np.zeros((channels, len(units)), np.float32)
    for u, unit in enumerate(units):
        out[list(unit.spec.get(layer, ())), u] = 1.0
    return out


def _margin_attributions(
    analysis: Probe,
    images: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    layers: list[str],
    steps: int,
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, np.ndarray]:
    """Layer -> rows x C: the IG attribution of each row's margin to each channel of the
    layer, summed over positions. A batch holds batch_size // steps images, widened to
    batch_size rows at the layer."""
    infos = [analysis.layer_info(layer) for layer in layers]
    out = {info.name: np.empty((len(images), info.num_neurons), np.float32) for info in infos}
    alphas = (torch.arange(steps, device=analysis.device, dtype=torch.float32) + 0.5) / steps
    total, done = len(images) * len(infos), 0
    with progress_bar(total=total, desc="diagnosis", unit="row", disable=not analysis.progress) as bar:

        def work(rows: slice) -> None:
            nonlocal done
            x = analysis.runner.to_device(analysis.images(images[rows]))
            t = torch.as_tensor(true[rows], device=analysis.device)
            p = torch.as_tensor(predicted[rows], device=analysis.device)
            for info in infos:
                if should_stop is not None and should_stop():
                    raise Cancelled("diagnosis stopped: a newer request replaced it")
                out[info.name][rows] = _margin_ig(analysis, x, t, p, info, alphas).cpu().numpy()
                done += rows.stop - rows.start
                bar.update(rows.stop - rows.start)
                if on_progress is not None:
                    on_progress(done, total)

        analysis.runner.in_batches(len(images), work, size=max(1, analysis.batch_size // steps))
    return out


def _margin_ig(
    analysis: Probe, x: torch.Tensor, true: torch.Tensor, predicted: torch.Tensor, info: LayerInfo, alphas: torch.Tensor
) -> torch.Tensor:
    """B x C: sum over positions of A * mean_s d(logit[p] - logit[t])(alpha_s A) / dA at
    ``info``'s layer, by one forward and one backward of B x steps rows."""
    steps, rows = len(alphas), len(x)
    each = torch.arange(rows, device=x.device)

    def margin(values: torch.Tensor) -> torch.Tensor:
        per_step = values.view(steps, rows, -1)
        return (per_step[:, each, predicted] - per_step[:, each, true]).sum()

    act, mean_grad = step_mean_gradient(analysis.runner, x, info, None, alphas, margin)
    return neurons_first(act * mean_grad, info).sum(2)


def _where(
    analysis: Probe, unit: Unit, images: np.ndarray, per_channel: dict[str, np.ndarray], layers: list[str]
) -> list[Patch | None]:
    """On each error image, the receptive box of the unit's member with a 2-D map whose
    attribution there is largest, at that member's maximum."""
    members = [
        (layer, n) for layer in layers for n in unit.spec.get(layer, ())
        if len(analysis.layer_info(layer).spatial_shape) == 2
    ]
    if not members:
        return [None] * len(images)
    values = np.stack([per_channel[layer][: len(images), n] for layer, n in members], 1)
    out = []
    for row, image in enumerate(images.tolist()):
        layer, n = members[int(np.argmax(values[row]))]
        out.append(Patch(image, layer, n, analysis.receptive_box(layer, image, n)))
    return out
