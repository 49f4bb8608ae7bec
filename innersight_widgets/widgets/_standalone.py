"""A widget as one anywidget, for front ends that take an anywidget but not ipywidgets
(marimo): its drawing then draws the status line and the widget's controls itself.

The controls stay the widget's ipywidgets: the drawing is sent a description of each
(``Drawing.controls``), redrawn whenever one changes, and what the reader does to a drawn
control comes back as ``Drawing.control_input`` and is applied to the ipywidget, whose own
observers then do what they do in the full widget. One set of controls, two ways to show it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from ._status import StatusLine

#: The traits of a control that its description reads: a change to any redraws it.
_WATCHED = ["value", "index", "options", "min", "max", "step", "description", "disabled", "tooltip"]


class Drawing(anywidget.AnyWidget):
    """An anywidget view that can stand alone: when ``standalone`` is set it draws the
    status line (``status_kind``, ``status_text``) and the described ``controls`` above
    itself (js/_prelude.js, ``ownChrome``)."""

    standalone = traitlets.Bool(False).tag(sync=True)
    status_kind = traitlets.Unicode("").tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    #: One description per control (:func:`describe_control`), in the widget's layout order.
    controls = traitlets.List([]).tag(sync=True)
    #: What the reader did to a drawn control: ``{"index", "value", "n"}`` (``n`` tells two
    #: clicks on one button apart).
    control_input = traitlets.Dict({}).tag(sync=True)
    #: The ``data-innersight-snapshot`` mark of this widget's static snapshots in the
    #: notebook (widgets/_static.py), which the live view hides.
    snapshot_key = traitlets.Unicode("").tag(sync=True)


class StandsAlone:
    """Mixin for a widget made of ipywidgets controls, a :class:`StatusLine` ``status``, a
    live runner ``_live`` and one :class:`Drawing`, named by ``drawing_name``."""

    drawing_name = "drawing"

    def standalone(self) -> Drawing:
        """The widget as one anywidget, e.g. ``mo.ui.anywidget(widget.standalone())`` in
        marimo: the drawing, live, with the status line and every control drawn inside it.
        A drawn control and the widget's ipywidget are one control: moving either moves
        both.

        Returns
        -------
        Drawing
            The widget's drawing, now standing alone.
        """
        drawing: Drawing = getattr(self, self.drawing_name)
        if drawing.standalone:
            return drawing
        status: StatusLine = self.status  # type: ignore[attr-defined]
        status.listeners.append(lambda kind, text: _mirror(drawing, kind, text))
        _mirror(drawing, status.kind, status.text)
        controls = list(controls_of(self))  # type: ignore[arg-type]

        def redraw(_change: dict | None = None) -> None:
            drawing.controls = [describe_control(control) for control in controls]

        for control in controls:
            control.observe(redraw, names=[name for name in _WATCHED if control.has_trait(name)])
            control.layout.observe(redraw, names="display")
        redraw()
        drawing.observe(lambda change: self._apply_input(controls, change["new"], redraw), names="control_input")
        drawing.standalone = True
        return drawing

    def _apply_input(self, controls: list[w.Widget], event: dict, redraw: Callable[[], None]) -> None:
        """Apply a drawn control's input to its ipywidget; a refused value is said in the
        status line, and the drawing is sent the control's state again either way (the
        browser may show a value the control did not take)."""
        if not event:
            return
        control = controls[event["index"]]
        try:
            set_control(control, event.get("value"))
        except Exception as exc:  # noqa: BLE001 - shown to the reader, not lost in the kernel log
            self._live.announce("error", f"{control.description}: {type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
        redraw()
        getattr(self, self.drawing_name).send_state("controls")


def controls_of(widget: w.Box) -> Iterator[w.Widget]:
    """The ipywidgets controls inside ``widget``, in layout order, leaving out the status
    line and the drawing (which stand alone by themselves)."""
    for child in widget.children:
        if isinstance(child, w.Box):
            yield from controls_of(child)
        elif not isinstance(child, (Drawing, StatusLine)):
            yield child


def _labels(options: Any) -> list[str]:
    return [str(option[0]) if isinstance(option, tuple) else str(option) for option in options]


def describe_control(control: w.Widget) -> dict[str, Any]:
    """What the drawing needs to draw ``control``: its kind, label and state.

    Parameters
    ----------
    control : ipywidgets.Widget
        A Button, ToggleButton, IntSlider, FloatSlider, BoundedIntText, Dropdown,
        ToggleButtons or SelectMultiple.

    Returns
    -------
    dict
        ``kind`` ("button", "toggle", "range", "number", "choice" or "multi"), ``label``,
        ``disabled``, ``hidden``, ``tooltip``, and the kind's state: ``value`` (toggle,
        range, number; range and number also ``min``, ``max``, ``step``, and range
        ``decimals``), or ``options`` and ``index`` (choice: one index or -1; multi: a list).
    """
    spec: dict[str, Any] = {
        "label": control.description,
        "disabled": bool(control.disabled),
        "hidden": control.layout.display == "none",
        "tooltip": getattr(control, "tooltip", None) or "",
    }
    if isinstance(control, w.Button):
        return {**spec, "kind": "button"}
    if isinstance(control, w.ToggleButton):
        return {**spec, "kind": "toggle", "value": bool(control.value)}
    if isinstance(control, (w.IntSlider, w.FloatSlider, w.BoundedIntText)):
        integer = isinstance(control, (w.IntSlider, w.BoundedIntText))
        step = control.step if control.has_trait("step") and control.step else 1
        decimals = 0 if integer else max(0, -math.floor(math.log10(step)))
        kind = "number" if isinstance(control, w.BoundedIntText) else "range"
        return {**spec, "kind": kind, "value": control.value, "min": control.min, "max": control.max,
                "step": step, "decimals": decimals}
    if isinstance(control, w.SelectMultiple):
        return {**spec, "kind": "multi", "options": _labels(control.options), "index": list(control.index)}
    if isinstance(control, (w.Dropdown, w.ToggleButtons)):
        index = control.index
        return {**spec, "kind": "choice", "options": _labels(control.options), "index": -1 if index is None else index}
    raise TypeError(
        f"standalone() cannot draw a {type(control).__name__} ({control.description!r}); "
        "describe_control knows buttons, toggles, sliders, number fields and choices: add its kind there"
    )


def set_control(control: w.Widget, value: Any) -> None:
    """Do to ``control`` what the reader did to its drawing: click a button, or set the
    value (a choice by index), through the control's own validation."""
    if isinstance(control, w.Button):
        control.click()
    elif isinstance(control, (w.Dropdown, w.ToggleButtons, w.SelectMultiple)):
        control.index = tuple(int(i) for i in value) if isinstance(control, w.SelectMultiple) else int(value)
    else:
        control.value = value


def _mirror(drawing: Drawing, kind: str, text: str) -> None:
    with drawing.hold_sync():
        drawing.status_kind, drawing.status_text = kind, text
