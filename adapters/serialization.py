"""Conversion of domain objects to JSON-compatible data and back, shared by every adapter.

One cattrs converter turns entities, value objects, read models and domain events into
plain data (dicts, lists, str, int, float, bool, None) and builds them again:

- UUIDs (and the ``NewType`` ids over them) become strings; datetimes ISO-8601 strings
  with their UTC offset (a naive datetime is refused both ways); enums their values;
  tuples lists; dicts keyed by an enum (``ProjectMetadata.languages``) get the enum values
  as keys.
- Structuring runs the entities' own constructors, so every domain invariant is checked.
  Missing keys take the field's default (``{}`` is the default settings); unknown keys,
  such as the derived ``is_violation`` of a metric, are ignored. Scalars are not coerced:
  a string where a number belongs is an error, not a conversion. Native values as a
  database driver returns them (``uuid.UUID``, ``datetime``, ``Decimal``) are accepted too.
- Bad data raises :class:`domain.errors.ValidationError` naming the path to the first bad
  value from the root (``entity`` is the requested type), never a half-built object.
- A value typed as the base :class:`~domain.events.DomainEvent` (the outbox message's
  ``event``) is written as the envelope ``{"type": name, "data": fields}`` so the concrete
  event comes back.

Free-form dict fields (``metadata``, ``config``, ...) are stored as given, so they must
hold JSON-compatible values to round-trip exactly.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.dispatch import StructureHook
from cattrs.errors import (
    AttributeValidationNote,
    CattrsError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)

from domain.errors import ValidationError
from domain.events import EVENT_TYPES, DomainEvent
from domain.vectors import Vector

__all__ = [
    "JsonCodec",
    "converter",
    "dumps",
    "event_from_dict",
    "event_to_dict",
    "loads",
    "structure",
    "unstructure",
]

T = TypeVar("T")

converter = cattrs.Converter(unstruct_collection_overrides={tuple: list})
"""The converter every adapter uses; configured once, at import."""


# --------------------------------------------------------------------------- public API


def unstructure(obj: Any) -> Any:
    """``obj`` as JSON-compatible data."""
    return converter.unstructure(obj)


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from ``data``; raises ValidationError naming the first bad path."""
    try:
        return converter.structure(data, cls)
    except (CattrsError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise _as_validation_error(exc, data, cls) from exc


def dumps(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON."""
    text = json.dumps(unstructure(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def loads(data: bytes | str, cls: type[T]) -> T:
    """Build a ``cls`` from JSON made by :func:`dumps`; ValidationError if it is not JSON
    or does not describe a valid ``cls``."""
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(_name(cls), data, f"is not valid JSON ({exc})") from exc
    return structure(parsed, cls)


class JsonCodec:
    """Implements :class:`ports.cache.Codec` with :func:`dumps` and :func:`loads`."""

    def dumps(self, obj: Any) -> bytes:
        return dumps(obj)

    def loads(self, data: bytes, cls: type[T]) -> T:
        return loads(data, cls)


def event_to_dict(event: DomainEvent) -> dict[str, Any]:
    """The envelope ``{"type": event.name, "data": fields}`` of a domain event."""
    return {"type": event.name, "data": converter.unstructure(event)}


def event_from_dict(data: Mapping[str, Any]) -> DomainEvent:
    """The event of an envelope made by :func:`event_to_dict`; ValidationError (a
    ValueError) if the type is unknown or the data invalid."""
    return structure(data, DomainEvent)


# --------------------------------------------------------------------------- hooks


def _unstructure_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} must be timezone-aware")
    return value.isoformat()


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO-8601 date-time") from None
    if not isinstance(value, dt.datetime):
        raise TypeError("must be an ISO-8601 date-time string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset")
    return value


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise TypeError("must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError("must be a UUID") from None


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _structure_int(value: Any, _: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("must be an integer")
    return value


def _structure_float(value: Any, _: Any) -> float:
    if not isinstance(value, int | float | decimal.Decimal) or isinstance(value, bool):
        raise TypeError("must be a number")
    return float(value)


def _structure_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in cls)
        raise ValueError(f"must be one of: {allowed}") from None


def _structure_vector(value: Any, _: Any) -> Vector:
    """A vector comes from a list of numbers."""
    if isinstance(value, str | bytes | Mapping):
        raise TypeError("must be a list of numbers")
    return Vector(value)


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(type_: Any, conv: cattrs.Converter) -> StructureHook:
    """Tuples come from lists; a string or a mapping is refused rather than iterated."""
    build = homogenous_tuple_structure_factory(type_, conv)

    def hook(value: Any, cl: Any) -> Any:
        if isinstance(value, str | bytes | Mapping):
            raise TypeError("must be a list")
        return build(value, cl)

    return hook


def _attrs_hook(cls: Any) -> StructureHook:
    """Attrs classes come from mappings; anything else is refused before any field is read."""
    build = converter.gen_structure_attrs_fromdict(cls)

    def hook(value: Any, cl: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError("must be an object (a mapping of field names to values)")
        return build(value, cl)

    return hook


def _structure_event(data: Any, _: Any) -> DomainEvent:
    if not isinstance(data, Mapping):
        raise TypeError('must be an object {"type": ..., "data": ...}')
    name = data.get("type")
    event_cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if event_cls is None:
        known = ", ".join(EVENT_TYPES)
        raise ValidationError("type", name, f"is not a known event type (known: {known})")
    if "data" not in data:
        raise ValidationError("data", None, "is required")
    try:
        return converter.structure(data["data"], event_cls)
    except Exception as exc:
        exc.add_note(AttributeValidationNote("Structuring event data", "data", event_cls))
        raise ClassValidationError(f"While structuring {name}", [exc], event_cls) from None


converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_unstructure_hook(dt.datetime, _unstructure_datetime)
converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bool, _structure_bool)
converter.register_unstructure_hook(Vector, list)
converter.register_structure_hook(Vector, _structure_vector)
# StrEnum before str: its members are strings too, and str's hooks would take them.
for _enum_base in (enum.StrEnum, enum.Enum):
    converter.register_unstructure_hook(_enum_base, _enum_value)
    converter.register_structure_hook(_enum_base, _structure_enum)
converter.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_hook)
converter.register_structure_hook_factory(attrs.has, _attrs_hook)
converter.register_unstructure_hook_func(lambda t: t is DomainEvent, event_to_dict)
converter.register_structure_hook_func(lambda t: t is DomainEvent, _structure_event)


# --------------------------------------------------------------------------- errors

_MISSING = object()


def _as_validation_error(exc: Exception, data: Any, cls: Any) -> ValidationError:
    problems = list(_problems(exc, (), data))
    path, value, reason = problems[0]
    if len(problems) > 1:
        others = ", ".join(_dotted(p) for p, _, _ in problems[1:])
        reason += f" (also invalid: {others})"
    if not path:
        return ValidationError(_name(cls), value, reason)
    return ValidationError(_dotted(path), value, reason, entity=_name(cls))


def _problems(
    exc: BaseException, path: tuple[str | int, ...], data: Any
) -> Iterator[tuple[tuple[str | int, ...], Any, str]]:
    """Each leaf error of a cattrs error group: its path, the value there, the reason."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        noted, plain = exc.group_exceptions()
        for inner, note in noted:
            if isinstance(note, AttributeValidationNote):
                yield from _problems(inner, (*path, note.name), _child(data, note.name))
            elif _is_key_note(note):  # the mapping key itself is bad
                yield from _problems(inner, (*path, note.index), note.index)
            else:
                yield from _problems(inner, (*path, note.index), _child(data, note.index))
        for inner in plain:
            yield from _problems(inner, path, data)
    elif isinstance(exc, ValidationError):
        yield (*path, *exc.field.split(".")), exc.value, exc.reason
    elif data is _MISSING:
        yield path, None, "is required"
    else:
        yield path, data, str(exc) or type(exc).__name__


def _is_key_note(note: IterableValidationNote) -> bool:
    # cattrs tells a bad mapping key from a bad value only in the note's text.
    return str(note).startswith("Structuring mapping key")


def _child(data: Any, step: str | int) -> Any:
    if isinstance(data, Mapping):
        return data.get(step, _MISSING)
    if isinstance(step, int) and isinstance(data, list | tuple) and -len(data) <= step < len(data):
        return data[step]
    return _MISSING


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _name(cls: Any) -> str:
    return str(getattr(cls, "__name__", cls))
