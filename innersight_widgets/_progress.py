"""Progress bars for long work: a text bar on a terminal, an HTML bar in a notebook.

A text bar in a notebook writes to the cell's stderr; cleared when the work ends, it leaves
an empty stderr box above the cell's result. In a kernel, the bar is a display that is
updated in place and emptied at the end instead, so nothing is left. Work run off the
kernel's main thread (a widget's worker, which reports in its own status line) shows none:
its output would land in whichever cell ran last.
"""

from __future__ import annotations

import html
import io
import sys
import threading
from typing import Any

from tqdm.std import tqdm

__all__ = ["bar"]


def bar(*, total: int, desc: str, unit: str, disable: bool, initial: int = 0) -> tqdm:
    """A progress bar that disappears when closed.

    Parameters
    ----------
    total : int
        Units of work.
    desc : str
        What is being done, shown before the bar.
    unit : str
        The unit counted ("img", "row").
    disable : bool
        Show nothing.
    initial : int
        Units already done (a resumed pass).

    Returns
    -------
    tqdm
        Use as a context manager; ``update(k)`` as work is done.
    """
    options: dict[str, Any] = {"total": total, "initial": initial, "desc": desc, "unit": unit, "leave": False}
    where = _kernel()
    if disable or where == "worker":
        return tqdm(disable=True, **options)
    if where == "main":
        return _NotebookBar(file=io.StringIO(), **options)
    return tqdm(**options)


def _kernel() -> str | None:
    """"main" on a Jupyter kernel's main thread, "worker" on another of its threads, else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if getattr(shell, "kernel", None) is None:
        return None
    return "main" if threading.current_thread() is threading.main_thread() else "worker"


class _NotebookBar(tqdm):
    """A tqdm that draws itself as one display updated in place and emptied when it ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handle: Any = None
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        from IPython.display import display

        if msg == "":  # closing: empty the display (nothing to do if none was shown)
            bundle = {"text/plain": "", "text/html": ""}
            if self._handle is not None:
                self._handle.update(bundle, raw=True)
            return True
        state = self.format_dict
        text = self.format_meter(**state)
        share = state["n"] / state["total"] if state["total"] else 0.0
        bundle = {
            "text/plain": text,
            "text/html": (
                f'<div style="font-size:12px;white-space:pre"><progress value="{min(share, 1.0):.3f}" max="1" '
                f'style="width:12em;vertical-align:middle"></progress> {html.escape(text)}</div>'
            ),
        }
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
        return True
