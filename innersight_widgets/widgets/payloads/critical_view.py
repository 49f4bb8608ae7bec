"""The records ``js/critical_view.js`` reads: NeuCEPT's selection and the mechanisms it
reveals (CriticalNeuronsView)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis import Analysis
from ...data import Concept
from ...neucept import CriticalNeurons, Mechanisms
from ._records import Payload, Thumbnails, rounded, thumbnails


@dataclass(frozen=True)
class CriticalNeuron(Payload):
    neuron: int
    w: float
    frequency: float


@dataclass(frozen=True)
class CriticalSelection(Payload):
    layer: str
    class_name: str
    fdr: float
    threshold: float | None
    neurons: list[CriticalNeuron]
    set_aside: int
    no_power_runs: int


@dataclass(frozen=True)
class MechanismImage(Payload):
    index: int
    thumb: str


@dataclass(frozen=True)
class Mechanism(Payload):
    size: int
    images: list[MechanismImage]  # the members closest to the mechanism's centre
    dominant: str  # e.g. "mostly 6: 62% of its 48 images, 7 of the 8 shown" ("" without a sub-label)


@dataclass(frozen=True)
class MechanismsView(Payload):
    owner: str
    k: int
    mechanisms: list[Mechanism]
    report: dict | None  # MechanismReport.to_dict() for the chosen sub-label
    ablation: dict | None  # ablation_comparison()


def critical_selection(critical: CriticalNeurons) -> CriticalSelection:
    """The neurons selected at ``critical.fdr``, strongest W first, with how often runs chose them."""
    selected = critical.selected
    frequency = critical.frequency
    return CriticalSelection(
        layer=critical.layer,
        class_name=critical.class_name,
        fdr=float(critical.fdr),
        threshold=rounded(critical.threshold),
        neurons=[
            CriticalNeuron(int(j), round(float(critical.w[0, j]), 4), round(float(frequency[j]), 2))
            for j in selected[np.argsort(-critical.w[0, selected])]
        ],
        set_aside=int(critical.set_aside.sum()),
        no_power_runs=int(critical.no_power_runs),
    )


def mechanism_views(
    analysis: Analysis, found: Mechanisms, images_shown: int, truth: Concept | None, owner: str
) -> tuple[list[Mechanism], Thumbnails]:
    """Each mechanism with its ``images_shown`` most typical members (probe images of ``analysis``)
    and, given a sub-label concept ``truth``, its dominant value over all members and among
    the ones shown."""
    typical = [found.typical(m, images_shown) for m in range(found.k)]
    wanted = np.unique(np.concatenate(typical)) if typical else np.zeros(0, dtype=int)
    pictures = dict(zip(wanted.tolist(), analysis.images(wanted))) if wanted.size else {}
    out, shown_pictures = [], {}
    for m, shown in enumerate(typical):
        members = found.members(m)
        dominant = ""
        if truth is not None:
            values, names = truth.values, truth.names
            counts = np.bincount(values[members], minlength=len(names))
            top = int(counts.argmax())
            in_shown = int(np.sum(values[shown] == top))
            dominant = (
                f"mostly {names[top]}: {counts[top] / members.size:.0%} of its {members.size} images, "
                f"{in_shown} of the {shown.size} shown"
            )
        refs = [MechanismImage(int(i), f"image{int(i)}") for i in shown]
        shown_pictures.update({r.thumb: pictures[r.index] for r in refs})
        out.append(Mechanism(int(members.size), refs, dominant))
    return out, thumbnails(owner, shown_pictures)
