"""What a unit looks for, in a report: its feature visualisation (``visualise``, with the
views' settings, so that a page reuses what the widgets computed for the same analysis) as
HTML under the unit's top images or crops."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any

from ..visualisation import VIEW_SETTINGS, UnitLike, visualise

#: Width of a feature visualisation's pictures in a page, as in the widgets' panels.
FEATURE_SIZE = 112


def feature_strip(
    analysis: Any, unit: UnitLike, reference: float | None, reference_text: str, options: Mapping[str, Any] | None = None
) -> str:
    """The images that maximise ``unit``'s objective, each with its score, under a caption
    that says they are optimised, not probe images, and what the probe data reaches.

    Parameters
    ----------
    analysis : Analysis
        The analysis the unit belongs to.
    unit : unit
        What ``visualise`` takes.
    reference : float or None
        What the probe data reaches on the unit's objective.
    reference_text : str
        That figure in words ("the best probe image scores").
    options : mapping, optional
        ``visualise``'s other arguments (``mean`` and ``std`` for probe images normalised by
        hand, ``size``, ...): the page's ``feature_options``.

    Returns
    -------
    str
        A ``<div>`` with the caption and the images (text escaped).
    """
    found = visualise(analysis, unit, **VIEW_SETTINGS, **dict(options or {}))
    figures = "".join(
        f'<figure style="display:inline-block;margin:2px;text-align:center;font-size:11px">'
        f'<img src="data:image/png;base64,{base64.b64encode(found.to_png(i, FEATURE_SIZE)).decode()}" '
        f'data-testid="report-feature" alt="optimised image {i + 1} for {html.escape(found.unit)}" '
        f'style="image-rendering:pixelated" width="{FEATURE_SIZE}" height="{FEATURE_SIZE}">'
        f"<figcaption>score {score:.2f}</figcaption></figure>"
        for i, score in enumerate(found.final)
    )
    against = "" if reference is None else f"; {reference_text} {reference:.2f}"
    caption = (f"What it looks for: images optimised from noise to raise the score of {found.unit} "
               f"({found.settings['steps']} steps), not images of the data{against}")
    return f'<div class="report-feature"><p><b>{html.escape(caption)}</b></p><div>{figures}</div></div>'
