"""What every report shares: the page written with bokeh's resources inline, images as PNG
data URIs, and a gallery that shows the images of the glyph clicked."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import torch
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, CustomJS, Div, LayoutDOM
from bokeh.resources import INLINE

from .._png import to_png

# Thumbnails in a report: small, since every one travels inside the page.
THUMBNAIL_SIZE = 48


def write_page(
    path: str | Path, title: str, parts: Sequence[LayoutDOM], on_load: CustomJS | None = None
) -> Path:
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
    path = output_path(path)
    heading = Div(text=f"<h1>{html.escape(title)}</h1>")
    document = Document()
    document.add_root(column(heading, *parts))
    if on_load is not None:
        document.js_on_event(DocumentReady, on_load)
    page = file_html(document, INLINE, title)
    path.write_text(page, encoding="utf-8")
    return path


def output_path(path: str | Path) -> Path:
    """``path`` as a Path, once its folder is known to exist: checked before any long work.

    Parameters
    ----------
    path : str or Path
        Where a report is to be written.

    Returns
    -------
    Path
        The same path.

    Raises
    ------
    ValueError
        If the folder of ``path`` does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write the report to {path}: the folder {path.parent} does not exist")
    return path


def png_data_uri(image: torch.Tensor, box: tuple[int, int, int, int] | None = None) -> str:
    """A C x H x W image in [0, 1] (or the ``box`` crop of it) as a small PNG ``data:`` URI.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W pixels.
    box : tuple of int, optional
        (top, left, bottom, right) crop, bottom and right exclusive.

    Returns
    -------
    str
        ``data:image/png;base64,...``, at most ``THUMBNAIL_SIZE`` pixels wide.
    """
    return "data:image/png;base64," + base64.b64encode(to_png(image, box, THUMBNAIL_SIZE)).decode("ascii")


def image_strip(uris: Sequence[str], caption: str) -> str:
    """HTML of a row of images under a caption (the caption is escaped here).

    Parameters
    ----------
    uris : sequence of str
        The images' ``data:`` URIs.
    caption : str
        Plain text shown above them.

    Returns
    -------
    str
        A ``<div>`` of ``<img>`` elements, or the caption and "no images" when there are none.
    """
    images = "".join(
        f'<img src="{uri}" data-testid="report-image" style="margin:1px;image-rendering:pixelated" '
        f'width="{THUMBNAIL_SIZE}" height="{THUMBNAIL_SIZE}">'
        for uri in uris
    )
    return f"<p><b>{html.escape(caption)}</b></p><div>{images or 'no images'}</div>"


def gallery(source: ColumnDataSource, column_name: str, hint: str) -> Div:
    """A text that shows, when a glyph of ``source`` is clicked, that row's ``column_name`` HTML.

    Parameters
    ----------
    source : ColumnDataSource
        The clickable glyphs' data; ``column_name`` holds one HTML string per row (from
        :func:`image_strip`).
    column_name : str
        The column shown.
    hint : str
        Plain text shown before anything is clicked.

    Returns
    -------
    Div
        The text, to place in the page.
    """
    div = Div(text=f"<p>{html.escape(hint)}</p>", width=900, name="gallery")
    show = CustomJS(
        args={"source": source, "div": div, "column": column_name, "hint": div.text},
        code="""
        const picked = source.selected.indices;
        div.text = picked.length ? picked.map((i) => source.data[column][i]).join("") : hint;
        """,
    )
    source.selected.js_on_change("indices", show)
    return div
