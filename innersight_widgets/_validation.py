"""Declared parameter constraints: each public function and widget states its bounds once,
checks its arguments against them, and a widget reads its sliders' bounds from the same
declaration. One message format for every bad value: "<name> must be <what> (<meaning>),
got <value>".

Declare with :func:`validate_params` on the function, or call :func:`check` for one value::

    @validate_params({"k": Interval(int, 1, meaning="top images wanted"), "mode": Options("zero", "mean")})
    def top(self, k: int = 16, mode: str = "zero") -> ...

    top.constraints["k"].low  # 1: what a widget's slider starts at
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Constraint", "Interval", "Options", "check", "validate_params"]


class _Accepting:
    """What every constraint answers besides :meth:`convert`."""

    def convert(self, value: object) -> Any:  # pragma: no cover - each constraint defines it
        raise NotImplementedError

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is accepted: for a check whose bound is known only at the call
        (a neuron index, a class index) and whose message says more than :func:`check`'s."""
        try:
            self.convert(value)
        except _Refused:
            return False
        return True


@dataclass(frozen=True)
class Interval(_Accepting):
    """A number between bounds: integers (``bool`` never counts as one) or real numbers.

    Parameters
    ----------
    kind : {int, float}
        ``int`` accepts integers only; ``float`` accepts any finite real number.
    low, high : number, optional
        The bounds; None: unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds are allowed values (integers are always closed).
    meaning : str, optional
        What the value is, said in the message.
    none : bool
        Whether None is accepted (its meaning then belongs in ``meaning``).
    unit : str, optional
        Said after "a number of" (e.g. "seconds").
    wrong_type : type of Exception
        Raised for a value of the wrong type; a value out of bounds always raises ValueError.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    meaning: str | None = None
    none: bool = False
    unit: str | None = None
    wrong_type: type[Exception] = ValueError

    def describe(self) -> str:
        """What the value must be, e.g. "a positive integer" or "a number in (0, 1]"."""
        if self.kind is int:
            if self.high is None:
                return {1: "a positive integer", 0: "a non-negative integer"}.get(
                    self.low, "an integer" if self.low is None else f"an integer >= {self.low}"
                )
            return f"an integer in {self.low}..{self.high}" if self.low is not None else f"an integer <= {self.high}"
        what = f"a number of {self.unit}" if self.unit else "a number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{what} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{what} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{what} {'<=' if right else '<'} {self.high}"
        return f"a finite {what[2:]}"

    def convert(self, value: object) -> Any:
        """``value`` as an int or float within the bounds; raises :class:`_Refused` otherwise."""
        if value is None and self.none:
            return None
        if isinstance(value, bool) or not isinstance(value, Integral if self.kind is int else Real):
            raise _Refused(self.wrong_type)
        number = int(value) if self.kind is int else float(value)
        if not math.isfinite(number):
            raise _Refused(ValueError)
        left, right = self.kind is int or self.closed in ("both", "left"), self.kind is int or self.closed in ("both", "right")
        if self.low is not None and (number < self.low or (number == self.low and not left)):
            raise _Refused(ValueError)
        if self.high is not None and (number > self.high or (number == self.high and not right)):
            raise _Refused(ValueError)
        return number


@dataclass(frozen=True, init=False)
class Options(_Accepting):
    """One of a few values (strings, usually).

    Parameters
    ----------
    *values
        The accepted values, in the order messages and drop-downs show them.
    meaning : str, optional
        What the value chooses, said in the message.
    wrong_type : type of Exception
        Raised for a value that is not one of them.
    """

    values: tuple[Any, ...]
    meaning: str | None
    wrong_type: type[Exception]

    def __init__(self, *values: Any, meaning: str | None = None, wrong_type: type[Exception] = ValueError) -> None:
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "meaning", meaning)
        object.__setattr__(self, "wrong_type", wrong_type)

    def describe(self) -> str:
        """``'a' or 'b'``, or ``one of 'a', 'b', 'c'``."""
        shown = [repr(v) for v in self.values]
        return " or ".join(shown) if len(shown) == 2 else "one of " + ", ".join(shown)

    def convert(self, value: object) -> Any:
        """``value`` itself when it is one of the options; raises :class:`_Refused` otherwise
        (a boolean is never taken for 0 or 1)."""
        if isinstance(value, (bool, np.bool_)) or value not in self.values:
            raise _Refused(self.wrong_type)
        return value


Constraint = Interval | Options


class _Refused(Exception):
    """A value a constraint does not accept, with the exception type to raise for it."""

    def __init__(self, kind: type[Exception]) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


def check(name: str, value: object, constraint: Constraint) -> Any:
    """``value`` checked against ``constraint`` and converted (an int stays an int, a real
    number becomes a float), or an error that says what ``name`` must be and what it got.

    Parameters
    ----------
    name : str
        The argument's name, as the caller wrote it.
    value : object
        What was given.
    constraint : Interval or Options
        What is accepted.

    Returns
    -------
    object
        The accepted value.

    Raises
    ------
    ValueError or TypeError
        ``constraint.wrong_type`` for a value of the wrong type, ValueError out of bounds.
    """
    try:
        return constraint.convert(value)
    except _Refused as refused:
        meaning = f" ({constraint.meaning})" if constraint.meaning else ""
        raise refused.kind(f"{name} must be {constraint.describe()}{meaning}, got {value!r}") from None


def validate_params(constraints: Mapping[str, Constraint]) -> Callable[[F], F]:
    """Declare a function's constraints once: its arguments are checked (and converted) on
    every call, and ``function.constraints`` holds the declaration for others to read.

    Parameters
    ----------
    constraints : mapping of str to Interval or Options
        Parameter name -> what it accepts; every name must be a parameter of the function.

    Returns
    -------
    callable
        The decorator.
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameter(s) {', '.join(sorted(unknown))}")

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return function(*args, **kwargs)  # a call that does not fit: Python's own message
            for name, constraint in constraints.items():
                if name in bound.arguments:
                    bound.arguments[name] = check(name, bound.arguments[name], constraint)
            return function(*bound.args, **bound.kwargs)

        checked.constraints = dict(constraints)  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate
