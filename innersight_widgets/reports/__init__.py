"""Self-contained HTML reports of analysis results, drawn with bokeh.

Each report is one file with bokeh's resources inline and images as PNG data URIs: it
opens from disk in a browser with no network and no kernel, keeps hover tooltips,
zoom and pan, and (for critical neurons) an FDR slider recomputed in the page.
"""

from ._page import output_path
from .circuit import circuit_html
from .communities import communities_html
from .critical import critical_html

__all__ = ["circuit_html", "communities_html", "critical_html", "output_path"]
