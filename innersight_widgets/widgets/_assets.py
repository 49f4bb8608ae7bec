"""Where the front-end modules and notebooks are: inside the package (wheel) or the checkout (editable)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def asset(relative: str) -> Path:
    """``static/<name>`` for files under ``js/`` in a wheel, else the checkout's own file.

    The wheel build copies ``js/`` into ``innersight_widgets/static/`` and ``notebooks/``
    into ``innersight_widgets/notebooks/``; an editable install reads the sources in place.
    """
    top, _, rest = relative.partition("/")
    packaged = _PACKAGE / ("static" if top == "js" else top) / rest
    if packaged.exists():
        return packaged
    checkout = _PACKAGE.parent / relative
    if checkout.exists():
        return checkout
    raise FileNotFoundError(
        f"{relative} is missing from this installation (looked in {packaged} and {checkout}); "
        "reinstall innersight_widgets"
    )


def esm(relative: str) -> str:
    """A view's front-end module with the shared prelude (``js/_prelude.js``) in front of it.

    anywidget evaluates ``_esm`` as one module's text, so a relative ``import`` of a shared
    file cannot resolve; prepending keeps one copy of the helpers for every view.
    """
    return asset("js/_prelude.js").read_text(encoding="utf-8") + "\n" + asset(relative).read_text(encoding="utf-8")
