"""What every report shares: the page, written with bokeh's resources inline."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column
from bokeh.models import CustomJS, Div, LayoutDOM
from bokeh.resources import INLINE


def write_page(path: str | Path, title: str, parts: Sequence[LayoutDOM], on_load: CustomJS | None = None) -> Path:
    """Write ``parts`` one under the other as a standalone HTML page that needs no network.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder must exist).
    title : str
        The page's title and heading (plain text; escaped here).
    parts : sequence of bokeh LayoutDOM
        The plots, widgets and texts of the page, top to bottom.
    on_load : CustomJS, optional
        Run once the page is drawn (e.g. to fill in what a control's callback writes).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the folder of ``path`` does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write the report to {path}: the folder {path.parent} does not exist")
    heading = Div(text=f"<h1>{html.escape(title)}</h1>")
    document = Document()
    document.add_root(column(heading, *parts))
    if on_load is not None:
        document.js_on_event(DocumentReady, on_load)
    page = file_html(document, INLINE, title)
    path.write_text(page, encoding="utf-8")
    return path

