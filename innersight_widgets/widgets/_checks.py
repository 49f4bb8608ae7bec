"""Argument checks shared by the widgets' constructors: one message format for every bad value."""

from __future__ import annotations

import math
from numbers import Integral, Real


def positive_int(name: str, value: object, meaning: str) -> int:
    """``value`` as an int >= 1, or an error that says what ``name`` means and what it got."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer ({meaning}), got {value!r}")
    return int(value)


def seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds >= 0, or an error that says so."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 (0: no waiting), got {value!r}")
    return float(value)
