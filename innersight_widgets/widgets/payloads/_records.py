"""What every view's records share: the base class that checks a record's fields against
their type hints, the trait that sends a record, the schema the front-end contract test
reads, and the records every front end reads (:class:`Edge`, :class:`Thumbnails`,
:class:`FeatureImages`).

A record is a frozen dataclass deriving from :class:`Payload`. Its fields may be ``bool``,
``int``, ``float``, ``str``, ``bytes``, ``dict`` (sent as it is), ``None``, another record,
``list[...]`` and ``X | Y`` of these, and ``Annotated[bytes, Packed(...)]`` for an array
packed by the codec (``_codec.py``). Building a record checks every field, down to each
element of a list; a nested record was checked when it was built.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import torch
import traitlets

from ..._png import THUMBNAIL_SIZE
from ...visualisation import Visualisation
from ._codec import Packed, pngs

# The types a field may hold as they are, and what each accepts (an int is a float too).
_PLAIN = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    bytes: lambda v: isinstance(v, bytes),
    dict: lambda v: isinstance(v, dict),
    NoneType: lambda v: v is None,
}


class Payload:
    """The base of the records the widgets send: building one checks each field against its
    type hint, and raises ``TypeError`` (or ``ValueError`` for packed bytes that do not fit
    their layout) naming the record and the path, e.g. ``ConceptBadge.auroc: expected
    float, got str '0.9'``."""

    def __post_init__(self) -> None:
        kind = type(self)
        check_fields(kind, {name: getattr(self, name) for name in field_hints(kind)}, kind.__name__, wire=False)


@cache
def field_hints(kind: type[Payload]) -> dict[str, Any]:
    """The fields of the record ``kind`` and their type hints, in order."""
    hints = get_type_hints(kind, include_extras=True)
    return {f.name: hints[f.name] for f in fields(kind)}


def describe(hint: Any) -> str:
    """A type hint in words, as the schema and the error messages write it."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return f"{describe(args[0])} ({', '.join(m.describe() for m in args[1:])})"
    if origin in (Union, UnionType):
        return " | ".join(describe(a) for a in args)
    if origin is list:
        return f"list[{describe(args[0])}]"
    return "None" if hint is NoneType else hint.__name__


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Payload)


def _layout(hint: Any) -> Packed | None:
    """The layout of a packed field (``Annotated[bytes, Packed(...)]``), else None."""
    if get_origin(hint) is not Annotated:
        return None
    return next((m for m in get_args(hint)[1:] if isinstance(m, Packed)), None)


def _fits_outside(hint: Any, value: Any, wire: bool) -> bool:
    """Whether ``value`` is of the kind ``hint`` names, not looking inside it."""
    origin = get_origin(hint)
    if origin is Annotated:
        return _fits_outside(get_args(hint)[0], value, wire)
    if origin is list:
        return isinstance(value, list)
    if _is_record(hint):
        return isinstance(value, dict if wire else hint)
    return hint in _PLAIN and _PLAIN[hint](value)


def _wrong(where: str, hint: Any, value: Any) -> TypeError:
    return TypeError(f"{where}: expected {describe(hint)}, got {type(value).__name__} {reprlib.repr(value)}")


def check(hint: Any, value: Any, where: str, wire: bool) -> None:
    """Check that ``value`` is a ``hint``, down to each element and nested field.

    Parameters
    ----------
    hint : type hint
        One of the field types a record may declare.
    value : Any
        The value to check.
    where : str
        Its path, e.g. ``"CommunityDetails.concepts[2]"``, which errors start with.
    wire : bool
        Whether records are in the form a trait holds and sends (dicts): else they are
        :class:`Payload` instances, checked when they were built.

    Raises
    ------
    TypeError
        If ``value`` or a part of it is of another type, or a dict's keys are not the
        record's fields.
    ValueError
        If packed bytes do not fit their layout.
    """
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        check(args[0], value, where, wire)
    elif origin in (Union, UnionType):
        fitting = [a for a in args if _fits_outside(a, value, wire)]
        if not fitting:
            raise _wrong(where, hint, value)
        check(fitting[0], value, where, wire)
    elif origin is list:
        if not isinstance(value, list):
            raise _wrong(where, hint, value)
        item = args[0]
        if item in _PLAIN and all(map(_PLAIN[item], value)):
            return
        for i, v in enumerate(value):
            check(item, v, f"{where}[{i}]", wire)
    elif _is_record(hint):
        if not _fits_outside(hint, value, wire):
            raise _wrong(where, hint, value)
        if wire:
            check_fields(hint, value, where, wire)
    elif hint in _PLAIN:
        if not _PLAIN[hint](value):
            raise _wrong(where, hint, value)
    else:
        raise TypeError(f"{where}: a record field cannot be declared as {hint!r}")


def check_fields(kind: type[Payload], values: Mapping[str, Any], where: str, wire: bool) -> None:
    """Check ``values``, field name to value, as the fields of the record ``kind`` (see
    :func:`check`); packed fields must hold whole rows, as many as their ``rows`` says."""
    hints = field_hints(kind)
    if set(values) != set(hints):
        raise TypeError(f"{where}: a {kind.__name__} has the fields {sorted(hints)}, got the keys {sorted(values)}")
    for name, hint in hints.items():
        check(hint, values[name], f"{where}.{name}", wire)
    rows: dict[str, tuple[int, str]] = {}  # a row count's name: how many, and the field that says so
    for name, hint in hints.items():
        layout = _layout(hint)
        if layout is None:
            continue
        try:
            count = layout.count(values[name])
        except ValueError as error:
            raise ValueError(f"{where}.{name}: {error}") from None
        if layout.rows is None:
            continue
        if hints.get(layout.rows) is int:
            rows.setdefault(layout.rows, (values[layout.rows], layout.rows))
        expected, said_by = rows.setdefault(layout.rows, (count, name))
        if count != expected:
            raise ValueError(f"{where}.{name}: {count} rows of {layout.describe()}, but {said_by} says {expected}")


def schema(*kinds: type[Payload]) -> dict[str, dict[str, str]]:
    """The records ``kinds`` and every record nested in them, as the front end reads them.

    Parameters
    ----------
    *kinds : type
        Records (:class:`Payload` dataclasses).

    Returns
    -------
    dict
        Record name to its fields in order, each field's name to its type in words
        (:func:`describe`): ``"ConceptBadge | None"``, ``"list[TopImage]"``, ...

    Raises
    ------
    ValueError
        If two different records share a name.
    """
    seen: dict[str, type[Payload]] = {}
    todo = list(kinds)
    while todo:
        kind = todo.pop(0)
        if seen.get(kind.__name__) is kind:
            continue
        if kind.__name__ in seen:
            raise ValueError(f"two records are named {kind.__name__}: {seen[kind.__name__]} and {kind}")
        seen[kind.__name__] = kind
        hints = list(field_hints(kind).values())
        while hints:
            hint = hints.pop(0)
            todo.extend([hint] if _is_record(hint) else [])
            hints.extend(a for a in get_args(hint) if not isinstance(a, Packed))
    return {name: {field: describe(hint) for field, hint in field_hints(kind).items()} for name, kind in seen.items()}


class Record(traitlets.Dict):
    """A trait holding one record of ``kind``, sent as a dict; ``{}`` means nothing to show.

    A record is taken as it is (it was checked when it was built); a dict is checked as
    the record, nested records as dicts."""

    def __init__(self, kind: type[Payload], **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def validate(self, obj: Any, value: Any) -> dict:
        if isinstance(value, Payload):
            if not isinstance(value, self.kind):
                self.error(obj, value)
            value = asdict(value)
        elif isinstance(value, dict) and value:
            try:
                check_fields(self.kind, value, self.kind.__name__, wire=True)
            except (TypeError, ValueError) as error:
                raise traitlets.TraitError(f"{self.name} takes a {self.kind.__name__} record: {error}") from None
        return super().validate(obj, value)


def rounded(x: Any, digits: int = 4) -> float | None:
    """A finite number as a float rounded for display, or None (JSON has no NaN). A figure
    the status line also prints goes at the digits both show, so that the view's own
    formatting cannot round it a second time to another last digit."""
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


@dataclass(frozen=True)
class Edge(Payload):
    """A link between the nodes ``a`` and ``b`` (their ids), of weight ``w``."""

    a: int | str
    b: int | str
    w: float


@dataclass(frozen=True)
class Thumbnails(Payload):
    """PNG pictures for the details named ``owner``; ``ids[i]`` names ``pngs[i]``.

    The front end shows a picture only under the details it was sent for, never by position
    (``pictures`` in ``js/_prelude.js``)."""

    owner: str
    ids: list[str]
    pngs: list[bytes]


def thumbnails(
    owner: str,
    images: Mapping[str, torch.Tensor],
    boxes: Mapping[str, Sequence[int]] | None = None,
    size: int = THUMBNAIL_SIZE,
) -> Thumbnails:
    """The pictures ``images`` (by the names the details give them) for the details
    ``owner``, each cropped to its box in ``boxes`` if it has one, as PNGs ``size`` wide."""
    return Thumbnails(owner, list(images), pngs(images, boxes, size))


#: Width of a feature visualisation's pictures: drawn larger than top images, as they are
#: read for detail, not scanned.
FEATURE_SIZE = 128


@dataclass(frozen=True)
class FeatureImages(Payload):
    """What a unit looks for (``visualise``), for the details named ``owner``: images
    optimised from noise to raise the unit's objective, drawn as they form. The pictures
    travel as a :class:`Thumbnails` record of the same owner, named by ``thumbs``."""

    owner: str
    unit: str  # the unit in words
    step: int  # steps done (0: optimising has not begun)
    steps: int  # steps asked for
    scores: list[float]  # each image's objective as shown
    thumbs: list[str]
    reference: float | None  # what the probe data reaches on the same objective
    reference_text: str  # that figure in words, e.g. "the best probe image scores"


def feature_images(
    owner: str, visualisation: Visualisation | None, steps: int, reference: float | None, reference_text: str
) -> tuple[FeatureImages, Thumbnails]:
    """The records of a visualisation in progress or finished (None: not begun), for the
    details ``owner``; scores at 2 decimals, as the view prints them."""
    if visualisation is None:
        return FeatureImages(owner, "", 0, steps, [], [], reference, reference_text), Thumbnails(owner, [], [])
    ids = [f"feature{i}" for i in range(len(visualisation.images))]
    pictures = {i: torch.from_numpy(image) for i, image in zip(ids, visualisation.images)}
    record = FeatureImages(
        owner, visualisation.unit, len(visualisation.objective), steps,
        [round(float(v), 2) for v in visualisation.final], ids,
        None if reference is None else round(float(reference), 2), reference_text,
    )
    return record, thumbnails(owner, pictures, size=FEATURE_SIZE)
