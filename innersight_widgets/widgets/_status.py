"""The status line every widget shows: what is computing, what is done, and errors in plain words."""

from __future__ import annotations

import html

import ipywidgets as w

_COLOURS = {"busy": "#555", "idle": "#1a7f37", "error": "#b42318"}


class StatusLine(w.HTML):
    """An HTML line with ``data-testid`` and ``data-kind`` for tests; text is always escaped.

    A widget's live runner writes it; ``last_error`` keeps the newest exception shown."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self._testid = testid
        self.last_error: BaseException | None = None

    def show(self, kind: str, text: str) -> None:
        self.value = (
            f'<div data-testid="{self._testid}" data-kind="{kind}" style="color:{_COLOURS[kind]};font-size:13px">'
            f"{html.escape(text)}</div>"
        )
