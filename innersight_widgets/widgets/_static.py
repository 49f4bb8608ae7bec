"""What a saved notebook shows where a widget was, when no kernel draws it.

A widget's output holds a view of a live model. GitHub, nbviewer, nbconvert's HTML, VS Code
(which saves no widget state) and a notebook reopened without its kernel cannot draw it.
So a widget displayed in a notebook puts two things there:

- in its own output, beside the live view, a card (``text/html``): what the widget is,
  what it was opened on, and how to see it live;
- under it, a snapshot of what the view shows (``text/html``, its own output with a
  display id): the status line and the widget's tables, pictures and figures, built from
  the same records the live view draws. It is rewritten each time a computation ends, so
  that the notebook, when saved, holds the state it was saved in. A live view hides it
  (js/_prelude.js, ``ownChrome``), so that nothing is shown twice.
"""

from __future__ import annotations

import base64
import html
import importlib
import re
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

HINT = (
    "This is a live view: it needs a running Python kernel (JupyterLab, Notebook 7, VS Code, "
    "Colab). Run the notebook to use it; for a page that needs no kernel, write the result "
    "with <code>to_html(path)</code>."
)

#: The snapshot's look: the notebook's own text colour, lines and swatches that read on light
#: and dark pages alike.
_STYLE = "border:1px dashed #888;border-radius:6px;padding:8px 10px;max-width:760px;font-size:13px"
_CELL = "padding:1px 8px;border-bottom:1px solid rgba(128,128,128,0.35);text-align:left"


class StaticFallback:
    """Mixin for an ipywidgets widget with a :class:`~._standalone.Drawing` (named by
    ``drawing_name``, see :class:`~._standalone.StandsAlone`) and a
    :class:`~._status.StatusLine` ``status``: its display carries the card, and in IPython
    the snapshot under it, kept current.

    A widget provides ``snapshot_parts()``: the HTML fragments of what its view shows now,
    built with :func:`table`, :func:`pictures` and :func:`line` from its drawing's records.
    """

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is not None:
            bundle["text/html"] = self.static_html()
        return bundle

    def _ipython_display_(self) -> None:
        """Display the widget, then its snapshot as a second output that each finished
        computation rewrites (``update_display``)."""
        from IPython.display import display, update_display

        enable_colab_widgets()
        drawing = getattr(self, self.drawing_name)  # type: ignore[attr-defined]
        drawing.snapshot_key = drawing.model_id
        display(self._repr_mimebundle_(), raw=True)
        key = f"innersight-{uuid.uuid4().hex}"
        display({"text/html": self.snapshot_html()}, raw=True, display_id=key)
        if not getattr(self, "_snapshot_keys", None):
            self._snapshot_keys: list[str] = []

            def rewrite(kind: str, _text: str) -> None:
                if kind != "busy":
                    page = {"text/html": self.snapshot_html()}
                    for shown in self._snapshot_keys:
                        update_display(page, raw=True, display_id=shown)

            self.status.listeners.append(rewrite)  # type: ignore[attr-defined]
        self._snapshot_keys.append(key)

    def static_html(self) -> str:
        """The card: the widget's name and purpose, what it was opened on, and the hint.

        Returns
        -------
        str
            An HTML fragment; every text from data is escaped.
        """
        purpose = (type(self).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        purpose = purpose.replace(":class:", "").replace("`", "")
        purpose = re.sub(rf"^{type(self).__name__}\([^)]*\):\s*", "", purpose)  # "Name(an): what it does"
        analysis = getattr(self, "analysis", None)
        opened = ""
        if analysis is not None:
            model = type(analysis.model).__name__
            opened = (f"<div>on {html.escape(model)} over {len(analysis.data)} probe images, "
                      f"layers {html.escape(', '.join(analysis.layers))}</div>")
        return (
            f'<div data-innersight-static="1" style="{_STYLE};max-width:640px">'
            f"<div><b>{html.escape(type(self).__name__)}</b>: {html.escape(purpose)}</div>"
            f"{opened}<div style=\"opacity:0.85;margin-top:4px\">{HINT}</div></div>"
        )

    def snapshot_html(self) -> str:
        """What the view shows now, as static HTML: the status line and ``snapshot_parts``.

        Returns
        -------
        str
            An HTML fragment marked ``data-innersight-snapshot`` with the drawing's model id
            (the live view hides it); every text from data is escaped.
        """
        drawing = getattr(self, self.drawing_name)  # type: ignore[attr-defined]
        status = self.status  # type: ignore[attr-defined]
        parts = "".join(self.snapshot_parts())  # type: ignore[attr-defined]
        return (
            f'<div data-innersight-snapshot="{html.escape(drawing.model_id)}" style="{_STYLE}">'
            f"<div style=\"opacity:0.8\">{html.escape(type(self).__name__)} as last computed "
            "(a snapshot: run the notebook for the live view)</div>"
            f"{line(status.text, bold=status.kind == 'error')}{parts}</div>"
        )


def enable_colab_widgets() -> bool:
    """In Colab, turn on its custom widget manager (once per kernel), without which Colab
    draws only its built-in widgets and leaves an anywidget view empty.

    Returns
    -------
    bool
        Whether this kernel runs in Colab (``google.colab`` imported).
    """
    colab = sys.modules.get("google.colab")
    if colab is None:
        return False
    if not _COLAB_ENABLED:
        importlib.import_module("google.colab.output").enable_custom_widget_manager()
        _COLAB_ENABLED.append(True)
    return True


_COLAB_ENABLED: list[bool] = []


def line(text: str, bold: bool = False, muted: bool = False) -> str:
    """One escaped line of text ("" for no text)."""
    if not text:
        return ""
    style = "font-weight:600;" if bold else ("opacity:0.8;" if muted else "")
    return f'<div style="{style}margin:3px 0">{html.escape(text)}</div>'


def table(caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], swatches: Sequence[str] | None = None) -> str:
    """A table under a caption; cells are escaped, floats shown as given (format them first).

    Parameters
    ----------
    caption : str
        What the table is.
    header : sequence of str
        The column names.
    rows : iterable of sequences
        The cells, one sequence per row.
    swatches : sequence of str, optional
        A CSS colour per row, drawn as a square before the first cell (a community's fill).

    Returns
    -------
    str
        An HTML fragment.
    """
    rows = list(rows)
    if not rows:
        return line(caption, bold=True)
    head = "".join(f'<th style="{_CELL}">{html.escape(str(h))}</th>' for h in header)
    body = []
    for i, cells in enumerate(rows):
        tds = [html.escape("" if c is None else str(c)) for c in cells]
        if swatches is not None:
            colour = html.escape(swatches[i])
            tds[0] = (f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
                      f'background:{colour};margin-right:5px"></span>{tds[0]}')
        body.append("<tr>" + "".join(f'<td style="{_CELL}">{td}</td>' for td in tds) + "</tr>")
    return (f'<div style="margin-top:8px;font-weight:600">{html.escape(caption)}</div>'
            f'<table style="border-collapse:collapse;font-size:12px"><tr>{head}</tr>{"".join(body)}</table>')


def pictures(thumbnails: dict, owner: str, ids: Sequence[str], captions: Sequence[str], caption: str) -> str:
    """The pictures ``ids`` of a Thumbnails record as inline PNGs, each with its caption;
    only those sent for ``owner`` (pictures of an older selection are never shown).

    Returns
    -------
    str
        An HTML fragment ("" when none of the pictures is there).
    """
    if not thumbnails or thumbnails.get("owner") != owner:
        return ""
    png = dict(zip(thumbnails["ids"], thumbnails["pngs"]))
    figures = [
        f'<figure style="margin:0;width:76px;text-align:center;font-size:11px">'
        f'<img alt="{html.escape(text)}" style="width:72px;height:72px;image-rendering:pixelated" '
        f'src="data:image/png;base64,{base64.b64encode(png[i]).decode()}"><br>{html.escape(text)}</figure>'
        for i, text in zip(ids, captions) if i in png
    ]
    if not figures:
        return ""
    return (f'<div style="margin-top:8px;font-weight:600">{html.escape(caption)}</div>'
            f'<div style="display:flex;flex-wrap:wrap;gap:6px">{"".join(figures)}</div>')


def number(value: float | None, digits: int = 3) -> str:
    """A figure as the views print it: ``digits`` decimals, an en dash for none."""
    return "–" if value is None else f"{value:.{digits}f}"
