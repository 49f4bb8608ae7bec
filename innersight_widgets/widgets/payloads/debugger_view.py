"""The records ``js/debugger_view.js`` reads: the confusion table, a confusion's errors, the
units ranked on it and what switching them off does (MisclassificationDebugger)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis import Analysis
from ...debugging import Confusions, Diagnosis, Intervention
from ._records import Payload, Thumbnails, rounded, thumbnails


@dataclass(frozen=True)
class ConfusionTable(Payload):
    class_names: list[str]
    counts: list[list[int]]  # true class (rows) x predicted class (columns)
    accuracy: float


@dataclass(frozen=True)
class Picture(Payload):
    index: int  # the probe image
    thumb: str


@dataclass(frozen=True)
class ErrorGrid(Payload):
    owner: str
    true: int
    predicted: int
    caption: str
    images: list[Picture]
    hidden: int  # errors of the confusion beyond the ones shown


@dataclass(frozen=True)
class UnitRow(Payload):
    name: str
    label: str  # "colour = green (AUROC 0.99)" or ""
    neurons: int
    evidence: float  # the contrastive contribution made on the errors themselves: the ranking
    contribution: float
    spread: float
    this_image: float | None  # attribution on the chosen image (None: the whole confusion)
    on_errors: float  # mean attribution over the confusion's errors
    on_reference: float  # mean attribution on the correctly classified reference images
    image: Picture  # the chosen error image, else the error the unit pushes most
    box: list[int] | None  # (top, left, bottom, right) on it, None without 2-D maps
    top_images: list[Picture]


@dataclass(frozen=True)
class DiagnosisView(Payload):
    owner: str
    title: str
    image: int  # the chosen error image, -1: the whole confusion
    height: int
    width: int
    units: list[UnitRow]
    total_units: int


@dataclass(frozen=True)
class CandidateFix(Payload):
    name: str
    fix_rate: float


@dataclass(frozen=True)
class ClassCost(Payload):
    name: str
    change: float | None  # accuracy change on the other images of the class (None: none)


@dataclass(frozen=True)
class InterventionView(Payload):
    owner: str
    units: list[str]
    mode: str  # "zero" or "mean": what replaced the units' outputs
    errors: int
    fixed: int
    fix_rate: float
    alone: list[CandidateFix]  # each unit alone, when several are switched off
    image_now: str  # what the chosen error image is predicted as now ("" for the whole confusion)
    other_accuracy_change: float
    right_before_change: float
    classes: list[ClassCost]


def confusion_table(table: Confusions) -> ConfusionTable:
    """The counts of the confusion table and the accuracy."""
    return ConfusionTable(list(table.class_names), table.counts.tolist(), round(float(np.trace(table.counts) / table.counts.sum()), 4))


def error_grid(analysis: Analysis, true: int, predicted: int, shown: int, owner: str) -> tuple[ErrorGrid, Thumbnails]:
    """The first ``shown`` probe images of class ``true`` predicted as ``predicted``."""
    names = analysis.data.class_names
    images = analysis.confusions().images(true, predicted)
    pictures = [Picture(int(i), f"image{int(i)}") for i in images[:shown]]
    caption = f"{len(images)} images of {names[true]} predicted {names[predicted]}"
    shown_pictures = dict(zip([p.thumb for p in pictures], analysis.images([p.index for p in pictures]))) if pictures else {}
    return ErrorGrid(owner, true, predicted, caption, pictures, max(0, len(images) - shown)), thumbnails(owner, shown_pictures)


def diagnosis_view(
    analysis: Analysis, diagnosis: Diagnosis, image: int, shown: int, top_k: int, title: str, owner: str
) -> tuple[DiagnosisView, Thumbnails]:
    """The ``shown`` best units of ``diagnosis`` with their figures on error image ``image``
    (-1: the whole confusion, each unit on the error it pushes most) and their top images."""
    errors = diagnosis.errors.tolist()
    if image != -1 and image not in errors:
        raise ValueError(f"image {image} is not one of the {len(errors)} errors diagnosed")
    per_image, evidence = diagnosis.per_image, diagnosis.evidence
    contributions, spread = diagnosis.contributions, diagnosis.spread
    rows, wanted = [], set()
    for u, unit in enumerate(diagnosis.units[:shown]):
        row = errors.index(image) if image != -1 else int(np.argmax(per_image[u]))
        patch = diagnosis.where[u][row]
        label = unit.label
        tops = [Picture(int(i), f"image{int(i)}") for i in unit.top_images[:top_k]]
        rows.append(UnitRow(
            name=unit.name,
            label="" if label is None else f"{label.concept} = {label.value} (AUROC {label.auroc:.2f})",
            neurons=unit.num_neurons,
            evidence=round(float(evidence[u]), 3),
            contribution=round(float(contributions[u]), 3),
            spread=round(float(spread[u]), 3),
            this_image=None if image == -1 else round(float(diagnosis.attribution[u, row]), 3),
            on_errors=round(float(diagnosis.attribution[u].mean()), 3),
            on_reference=round(float(diagnosis.reference_attribution[u].mean()), 3),
            image=Picture(errors[row], f"image{errors[row]}"),
            box=None if patch is None else list(patch.box),
            top_images=tops,
        ))
        wanted.update([errors[row], *(p.index for p in tops)])
    order = sorted(wanted)
    shown_pictures = dict(zip([f"image{i}" for i in order], analysis.images(order))) if order else {}
    height, width = analysis.data.image_shape[-2:]
    view = DiagnosisView(owner, title, image, int(height), int(width), rows, len(diagnosis.units))
    return view, thumbnails(owner, shown_pictures)


def intervention_view(result: Intervention, image: int, owner: str) -> InterventionView:
    """All the switched-off units together (the last candidate), each alone, and the cost;
    ``image`` (-1: none) is the chosen error image."""
    names, errors = result.class_names, result.errors.tolist()
    together = -1
    fixed = result.now_predicted[together] == result.true
    return InterventionView(
        owner=owner,
        units=result.names[:-1] if len(result.names) > 1 else list(result.names),
        mode=result.mode,
        errors=len(errors),
        fixed=int(fixed.sum()),
        fix_rate=round(float(result.fix_rate[together]), 4),
        alone=[CandidateFix(n, round(float(f), 4)) for n, f in zip(result.names[:-1], result.fix_rate[:-1])],
        image_now="" if image == -1 else names[int(result.now_predicted[together, errors.index(image)])],
        other_accuracy_change=round(float(result.other_accuracy_change[together]), 4),
        right_before_change=round(float(result.right_before_change[together]), 4),
        classes=[ClassCost(n, rounded(v)) for n, v in zip(names, result.other_class_accuracy_change[together])],
    )
