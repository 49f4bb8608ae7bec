"""The one door from a result up to ``innersight_widgets.reports``, the only package that
imports bokeh: it is imported when a page is written, never with the engine or a method."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_html(result: Any, path: str | Path, **options: Any) -> Path:
    """Write ``result`` (a circuit, critical neurons or a communities report) as a
    self-contained HTML page.

    Parameters
    ----------
    result : Circuit, CriticalNeurons or CommunityReport
        What to draw.
    path : str or Path
        The HTML file to write.
    **options
        The report's own options (e.g. ``top_images`` for a communities report).

    Returns
    -------
    Path
        The file written.
    """
    from .. import reports  # the lazy door: reports sit above every method

    return reports.write(result, path, **options)
