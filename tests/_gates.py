"""Hold a widget's worker inside a call until the test lets it go, to test what the widget
shows when the user acts during a computation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def gated(
    monkeypatch: Any, target: Any, name: str, when: Callable[..., bool] | None = None
) -> tuple[threading.Event, threading.Event]:
    """Replace ``target.name`` by a version whose first call (the first for which
    ``when(*args, **kwargs)`` holds, if given) blocks until the test sets ``release``.

    Returns
    -------
    started, release : threading.Event
        ``started`` is set once the blocked call is under way; set ``release`` to let it go.
    """
    started, release = threading.Event(), threading.Event()
    original = getattr(target, name)

    def blocked(*args: Any, **kwargs: Any) -> Any:
        if not started.is_set() and (when is None or when(*args, **kwargs)):
            started.set()
            assert release.wait(30), "the test never released the worker"
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, blocked)
    return started, release
