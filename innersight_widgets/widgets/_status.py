"""The status line every widget shows: what is computing, what is done, and errors in plain words."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

#: The mark before the words says the state by colour; the words take the notebook's own text
#: colour, so that they read in light and dark themes alike.
_MARKS = {"busy": ("#8c8c8c", "◌"), "idle": ("#2da44e", "●"), "error": ("#e5484d", "▲")}


class StatusLine(w.HTML):
    """An HTML line with ``data-testid`` and ``data-kind`` for tests; text is always escaped.

    A widget's live runner writes it; ``last_error`` keeps the newest exception shown."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self._testid = testid
        self.last_error: BaseException | None = None
        #: Called with (kind, text) on every change: a view that draws the line itself.
        self.listeners: list[Callable[[str, str], None]] = []
        #: What the line says now ("busy", "idle" or "error", and the words).
        self.kind, self.text = "", ""

    def show(self, kind: str, text: str) -> None:
        self.kind, self.text = kind, text
        for listener in self.listeners:
            listener(kind, text)
        self.value = (
            f'<div data-testid="{self._testid}" data-kind="{kind}" style="font-size:13px">'
            f'<span aria-hidden="true" style="color:{_MARKS[kind][0]}">{_MARKS[kind][1]}</span> '
            f'<span{" style=font-weight:600" if kind == "error" else ""}>{html.escape(text)}</span></div>'
        )
