"""What a clicked unit looks for, in a widget's details panel: its feature visualisation
(``visualise``), computed by the widget's live runner after the details, drawn every
``PARTIAL_EVERY`` steps as it forms, and kept with the analysis so that a second click on
the same neurons shows it at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import traitlets

from .._validation import Interval, check
from ..visualisation import VIEW_SETTINGS, UnitLike, Visualisation, visualise
from ._live import Job, LiveRunner
from ._static import pictures
from .payloads import Record, Thumbnails
from .payloads._records import FeatureImages, feature_images

#: Every widget's ``feature_steps`` argument.
FEATURE_STEPS = Interval(int, 0, meaning="optimisation steps of a clicked unit's feature visualisation; 0: none")
#: Steps between two progress messages in the status line.
SAY_EVERY = 8
#: What a widget's ``feature_options`` may set: ``visualise``'s arguments other than the unit,
#: the images per unit and the steps (the panel's own).
OPTIONS = ("size", "learning_rate", "jitter", "scale", "rotate", "decorrelate", "fft", "decay", "diversity", "mean",
           "std", "seed")


@dataclass(frozen=True)
class FeatureSettings:
    """How a widget's panel visualises a clicked unit: ``steps`` (0: no panel) and the other
    arguments of ``visualise`` (``options``)."""

    steps: int
    options: dict[str, Any] = field(default_factory=dict)


def feature_settings(steps: int, options: Mapping[str, Any] | None) -> FeatureSettings:
    """A widget's ``feature_steps`` and ``feature_options``, checked.

    Parameters
    ----------
    steps : int
        Optimisation steps of a clicked unit's visualisation; 0: no panel.
    options : mapping, optional
        Other arguments of ``visualise`` (``OPTIONS``), e.g. ``{"mean": [...], "std": [...]}``
        for probe images normalised by hand, or ``{"size": 128}`` to make them smaller.

    Returns
    -------
    FeatureSettings
        The two, for :func:`request_features`.

    Raises
    ------
    ValueError
        If ``steps`` is negative or an option is not one ``visualise`` takes here.
    """
    steps = check("feature_steps", steps, FEATURE_STEPS)
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(
            f"feature_options has {', '.join(map(repr, unknown))}, which the feature panel does not take; it takes "
            f"visualise's {', '.join(OPTIONS)} (the images per unit and the steps are the panel's own: feature_steps)"
        )
    return FeatureSettings(steps, options)


class ShowsFeatures(traitlets.HasTraits):
    """The traits of a drawing that shows what a unit looks for: the record and its pictures."""

    feature = Record(FeatureImages).tag(sync=True)
    feature_pictures = Record(Thumbnails).tag(sync=True)


def request_features(
    live: LiveRunner,
    drawing: ShowsFeatures,
    analysis: Any,
    unit: UnitLike,
    name: str,
    owner: str,
    settings: FeatureSettings,
    reference: float | None,
    reference_text: str,
) -> None:
    """Visualise ``unit`` for the details ``owner`` on ``live``'s channel "feature" (a newer
    request there replaces it), showing it on ``drawing`` as it forms.

    Parameters
    ----------
    live : LiveRunner
        The widget's runner; its status line says how far the optimisation is.
    drawing : ShowsFeatures
        The drawing whose ``feature`` and ``feature_pictures`` it sets.
    analysis : Analysis
        The analysis the unit belongs to.
    unit : unit
        What ``visualise`` takes.
    name : str
        The unit as the status line names it ("community 3").
    owner : str
        The details the images belong to (the view draws them under those only).
    settings : FeatureSettings
        The steps (0: nothing is requested, nothing shown) and ``visualise``'s other arguments.
    reference : float or None
        What the probe data reaches on the unit's objective, shown beside the images' scores.
    reference_text : str
        That figure in words.
    """
    steps = settings.steps
    if not steps:
        return

    def show(found: Visualisation | None) -> None:
        record, pictures = feature_images(owner, found, steps, reference, reference_text)
        with drawing.hold_sync():
            drawing.feature = record
            drawing.feature_pictures = pictures

    def compute(job: Job) -> Visualisation:
        def progress(done: int, total: int) -> None:
            if done % SAY_EVERY == 0:
                job.say(f"{name}: visualising what it looks for … step {done} of {total}")

        try:
            return visualise(
                analysis, unit, images=VIEW_SETTINGS["images"], steps=steps, should_stop=job.stale,
                on_progress=progress, on_partial=lambda so_far: job.post(show, so_far), **settings.options,
            )
        except ValueError as error:  # what visualise asks for, said as this widget takes it
            raise ValueError(
                f"{error} (a widget takes visualise's arguments as feature_options={{...}}, e.g. "
                "feature_options={'mean': [...], 'std': [...]}; feature_steps=0 turns the panel off)"
            ) from error

    def clear() -> None:
        with drawing.hold_sync():
            drawing.feature, drawing.feature_pictures = {}, {}

    show(None)
    # the panel shows the images and their scores: the status line keeps the details' outcome
    live.submit(
        "feature", f"{name}: visualising what it looks for …", compute, lambda found: show(found), debounce=False,
        on_error=clear,
    )


def feature_snapshot(drawing: ShowsFeatures, owner: str) -> str:
    """What the panel shows of the unit ``owner`` as static HTML (widgets/_static.py): the
    images with their scores and the reference figure ("" before the first images)."""
    f = drawing.feature
    if not f or f["owner"] != owner or not f["step"]:
        return ""
    reference = "" if f["reference"] is None else f"; {f['reference_text']} {f['reference']:.2f}"
    return pictures(
        drawing.feature_pictures, owner, f["thumbs"], [f"score {v:.2f}" for v in f["scores"]],
        f"What it looks for: {f['unit']} after {f['step']} of {f['steps']} steps{reference}",
    )
