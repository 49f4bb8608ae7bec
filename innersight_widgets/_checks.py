"""Argument checks shared by the core, the data loaders and the widgets: one message format
for every bad value ("<name> must be ..., got <value>")."""

from __future__ import annotations

import math
from numbers import Integral, Real


def positive_int(name: str, value: object, meaning: str | None = None, *, wrong_type: type[Exception] = ValueError) -> int:
    """``value`` as an int >= 1, or an error that says what ``name`` means and what it got.

    ``wrong_type`` is raised for a value that is not an integer at all (``bool`` included);
    a non-positive integer always raises ``ValueError``.
    """
    said = f"{name} must be a positive integer{f' ({meaning})' if meaning else ''}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise wrong_type(said)
    if value < 1:
        raise ValueError(said)
    return int(value)


def seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds >= 0, or an error that says so."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 (0: no waiting), got {value!r}")
    return float(value)
