"""A widget as one anywidget, for front ends that take an anywidget but not ipywidgets
(marimo): its drawing then shows the status line itself, and what else it can draw of the
controls (the explorer: its method's slider)."""

from __future__ import annotations

import anywidget
import traitlets

from ._status import StatusLine


class Drawing(anywidget.AnyWidget):
    """An anywidget view that can stand alone: when ``standalone`` is set it draws the
    status line (``status_kind``, ``status_text``) above itself (js/_prelude.js)."""

    standalone = traitlets.Bool(False).tag(sync=True)
    status_kind = traitlets.Unicode("").tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)


class StandsAlone:
    """Mixin for a widget made of ipywidgets controls, a :class:`StatusLine` ``status`` and
    one :class:`Drawing`, named by ``drawing_name``."""

    drawing_name = "drawing"

    def standalone(self) -> Drawing:
        """The widget as one anywidget, e.g. ``mo.ui.anywidget(widget.standalone())`` in
        marimo: the drawing, live (its clicks work as in the full widget), with the status
        line drawn inside it. Controls it does not draw keep their values; set them on this
        widget from Python.

        Returns
        -------
        Drawing
            The widget's drawing, now standing alone.
        """
        drawing: Drawing = getattr(self, self.drawing_name)
        status: StatusLine = self.status  # type: ignore[attr-defined]
        if not drawing.standalone:
            status.listeners.append(lambda kind, text: _mirror(drawing, kind, text))
            _mirror(drawing, status.kind, status.text)
            drawing.standalone = True
        return drawing


def _mirror(drawing: Drawing, kind: str, text: str) -> None:
    with drawing.hold_sync():
        drawing.status_kind, drawing.status_text = kind, text
