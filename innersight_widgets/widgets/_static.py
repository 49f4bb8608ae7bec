"""What a saved notebook shows where a widget was, when no kernel draws it.

A widget's output holds a view of a live model. GitHub, nbviewer, nbconvert's HTML and a
notebook reopened without its widget state cannot draw it, and show nothing there. Each
widget's output therefore also carries an HTML card, which those renderers show instead:
what the widget is, what it was opened on, and how to see it.
"""

from __future__ import annotations

import html
from typing import Any

HINT = (
    "This is a live view: it needs a running Python kernel (JupyterLab, Notebook 7, VS Code, "
    "Colab). Run the notebook to use it; for a page that needs no kernel, write the result "
    "with <code>to_html(path)</code>."
)


class StaticFallback:
    """Mixin for an ipywidgets widget: its display adds ``text/html``, a card that front
    ends without the widget's state show, and that live front ends leave for the view."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is not None:
            bundle["text/html"] = self.static_html()
        return bundle

    def static_html(self) -> str:
        """The card: the widget's name and purpose, what it was opened on, and the hint.

        Returns
        -------
        str
            An HTML fragment; every text from data is escaped.
        """
        purpose = (type(self).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        purpose = purpose.replace(":class:", "").replace("`", "")
        analysis = getattr(self, "analysis", None)
        opened = ""
        if analysis is not None:
            model = type(analysis.model).__name__
            opened = (f"<div>on {html.escape(model)} over {len(analysis.data)} probe images, "
                      f"layers {html.escape(', '.join(analysis.layers))}</div>")
        return (
            '<div data-innersight-static="1" style="border:1px dashed #888;border-radius:6px;padding:8px 10px;'
            'max-width:640px;font-size:13px">'
            f"<div><b>{html.escape(type(self).__name__)}</b>: {html.escape(purpose)}</div>"
            f"{opened}<div style=\"opacity:0.85;margin-top:4px\">{HINT}</div></div>"
        )
