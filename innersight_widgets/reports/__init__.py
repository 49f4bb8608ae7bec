"""Self-contained HTML reports of analysis results, drawn with bokeh.

Each report is one file with bokeh's resources inline and images as PNG data URIs: it
opens from disk in a browser with no network and no kernel, keeps hover tooltips,
zoom and pan, and (for critical neurons) an FDR slider recomputed in the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..comparison import CircuitComparison, CommunityComparison
from ..innersightnet import CommunityReport
from ..neucept import CriticalNeurons
from ..neurflow import Circuit
from ._page import output_path
from .circuit import circuit_html
from .communities import communities_html
from .comparison import circuit_comparison_html, comparison_html
from .critical import critical_html

__all__ = [
    "circuit_comparison_html", "circuit_html", "communities_html", "comparison_html", "critical_html", "output_path",
    "write",
]


def write(result: Any, path: str | Path, **options: Any) -> Path:
    """The page of ``result``, by its kind: what every result's ``to_html`` calls.

    Parameters
    ----------
    result : Circuit, CriticalNeurons or CommunityReport
        What to draw.
    path : str or Path
        The HTML file to write.
    **options
        The page's own options (see :func:`communities_html`).

    Returns
    -------
    Path
        The file written.
    """
    pages = {
        Circuit: circuit_html, CriticalNeurons: critical_html, CommunityReport: communities_html,
        CommunityComparison: comparison_html, CircuitComparison: circuit_comparison_html,
    }
    for kind, page in pages.items():
        if isinstance(result, kind):
            return page(result, path, **options)
    raise TypeError(f"no HTML page for a {type(result).__name__}; pages exist for {', '.join(k.__name__ for k in pages)}")
