"""The one vocabulary of input checks: functions that check a value and name the field
(``check_text``, ``check_int``, ...), for services and adapters, and the attrs validators
built on them, for entities. Each raises :class:`~domain.errors.ValidationError`.

Limits every text and JSON value obeys, whatever the field:

- ``MAX_TEXT``: characters in one string argument (a field may set a lower one);
- ``MAX_JSON_BYTES``: the size of a JSON document (settings, metadata, configuration) as
  UTF-8 JSON text; ``MAX_JSON_DEPTH``: its nesting of objects and arrays;
- strings hold no NUL character and no lone surrogate (neither can be stored);
- integers fit PostgreSQL's ``bigint``; numbers are finite; datetimes carry a timezone.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Collection
from typing import Any, NoReturn, TypeVar

import attrs

from domain.errors import ValidationError

__all__ = [
    "MAX_INT",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_TEXT",
    "aware_datetime",
    "boolean",
    "check_aware",
    "check_instance",
    "check_int",
    "check_json",
    "check_member",
    "check_number",
    "check_text",
    "confidence",
    "email",
    "enum_member",
    "fail",
    "finite_number",
    "hex_digest",
    "int_range",
    "json_document",
    "non_empty_collection",
    "optional",
    "semver",
    "slug",
    "text",
    "username",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
USERNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
HEX_RE = re.compile(r"^[0-9a-f]+$")

MAX_TEXT = 100_000
MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 32
MAX_INT = 2**63 - 1

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


def _reject(field: str, value: Any, reason: str, entity: str | None) -> NoReturn:
    raise ValidationError(field, value, reason, entity=entity)


def _storable(field: str, value: str, entity: str | None) -> None:
    if "\x00" in value:
        _reject(field, value, "must not contain NUL characters", entity)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _reject(field, value, "must be valid Unicode (it holds a lone surrogate)", entity)


def check_text(
    field: str,
    value: Any,
    *,
    max_length: int = MAX_TEXT,
    allow_empty: bool = False,
    entity: str | None = None,
) -> str:
    """``value`` if it is a storable string (no NUL, no lone surrogate), not blank unless
    ``allow_empty``, of at most ``max_length`` characters."""
    if not isinstance(value, str):
        _reject(field, value, "must be a string", entity)
    if not allow_empty and not value.strip():
        _reject(field, value, "must not be empty", entity)
    if len(value) > max_length:
        _reject(field, value, f"must be at most {max_length} characters", entity)
    _storable(field, value, entity)
    return value


def check_int(
    field: str,
    value: Any,
    low: int | None = None,
    high: int | None = None,
    *,
    entity: str | None = None,
) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]`` (and a ``bigint``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        _reject(field, value, "must be an integer", entity)
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            _reject(field, value, f"must be from {low} to {high}", entity)
        if low is not None:
            _reject(field, value, f"must be at least {low}", entity)
        _reject(field, value, f"must be at most {high}", entity)
    if not -MAX_INT - 1 <= value <= MAX_INT:
        _reject(field, value, "must fit in 64 bits", entity)
    return value


def check_number(
    field: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    above: float | None = None,
    entity: str | None = None,
) -> float:
    """``value`` if it is a finite int or float (not a bool) in ``[low, high]`` and
    above ``above``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        _reject(field, value, "must be a number", entity)
    if not math.isfinite(value):
        _reject(field, value, "must be finite", entity)
    if above is not None and not value > above:
        _reject(field, value, f"must be above {above:g}", entity)
    if low is not None and value < low:
        _reject(field, value, f"must be at least {low:g}", entity)
    if high is not None and value > high:
        _reject(field, value, f"must be at most {high:g}", entity)
    return value


def check_instance(field: str, value: Any, expected: type[T], *, entity: str | None = None) -> T:
    """``value`` if it is an instance of ``expected``."""
    if not isinstance(value, expected):
        _reject(field, value, f"must be a {expected.__name__}", entity)
    return value


def check_member(field: str, value: Any, enum_cls: type[E], *, entity: str | None = None) -> E:
    """The member of ``enum_cls`` that ``value`` is or names."""
    if isinstance(value, enum_cls):
        return value
    for member in enum_cls:
        if type(value) is type(member.value) and value == member.value:
            return member
    allowed = ", ".join(str(m.value) for m in enum_cls)
    _reject(field, value, f"must be one of: {allowed}", entity)


def check_aware(field: str, value: Any, *, entity: str | None = None) -> dt.datetime:
    """``value`` if it is a timezone-aware datetime."""
    if not isinstance(value, dt.datetime):
        _reject(field, value, "must be a datetime", entity)
    if value.tzinfo is None or value.utcoffset() is None:
        _reject(field, value, "must be timezone-aware", entity)
    return value


def check_json(
    field: str,
    value: Any,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    entity: str | None = None,
) -> Any:
    """``value`` if it is a JSON document (dicts with string keys, lists, strings, finite
    numbers, booleans, None) of at most ``max_depth`` levels and ``max_bytes`` as JSON
    text. Walked without recursion, so no nesting can exhaust the stack."""
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                _reject(field, "...", f"must nest at most {max_depth} levels", entity)
            size += 2
            children = item.values() if isinstance(item, dict) else item
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        _reject(field, key, "must have string keys", entity)
                    _storable(field, key, entity)
                    size += len(key) + 4
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            _storable(field, item, entity)
            size += len(item) + 2
        elif item is None or isinstance(item, bool):
            size += 5
        elif isinstance(item, int | float):
            if isinstance(item, float) and not math.isfinite(item):
                _reject(field, item, "must hold finite numbers only", entity)
            size += 20
        else:
            _reject(field, item, f"must be JSON (a {type(item).__name__} is not)", entity)
        if size > max_bytes:
            _reject(field, "...", f"must be at most {max_bytes:,} bytes as JSON", entity)
    return value


def fail(instance: Any, attribute: attrs.Attribute[Any], value: Any, reason: str) -> None:
    """Raise the domain error for ``attribute`` of ``instance``."""
    raise ValidationError(attribute.name, value, reason, entity=type(instance).__name__)


def optional(validator: Validator) -> Validator:
    """Run ``validator`` unless the value is None."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return check


def text(*, max_length: int | None = None, allow_empty: bool = False) -> Validator:
    """A storable string, not blank unless ``allow_empty``, at most ``max_length``
    characters (:func:`check_text`)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_text(
            attribute.name,
            value,
            max_length=MAX_TEXT if max_length is None else max_length,
            allow_empty=allow_empty,
            entity=type(instance).__name__,
        )

    return check


def _pattern(regex: re.Pattern[str], what: str, max_length: int) -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            fail(instance, attribute, value, "must be a string")
        if len(value) > max_length:
            fail(instance, attribute, value, f"must be at most {max_length} characters")
        if not regex.match(value):
            fail(instance, attribute, value, f"must be {what}")

    return check


def slug(max_length: int = 100) -> Validator:
    """Lower-case letters and digits in groups joined by single hyphens."""
    return _pattern(
        SLUG_RE, "a slug: lower-case letters and digits joined by single hyphens", max_length
    )


def email() -> Validator:
    """An e-mail address of the usual ``local@domain.tld`` shape."""
    return _pattern(EMAIL_RE, "an e-mail address like name@example.com", 320)


def username() -> Validator:
    """Letters, digits, '.', '_' and '-', starting and ending with a letter or digit."""
    return _pattern(
        USERNAME_RE,
        "letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
        50,
    )


def semver() -> Validator:
    """A semantic version such as ``1.0.0`` or ``2.1.0-rc.1``."""
    return _pattern(SEMVER_RE, "a semantic version like 1.2.3", 20)


def hex_digest(length: int) -> Validator:
    """Exactly ``length`` lower-case hexadecimal digits (40 for a git commit, 64 for SHA-256)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or len(value) != length or not HEX_RE.match(value):
            fail(instance, attribute, value, f"must be {length} lower-case hexadecimal digits")

    return check


def boolean() -> Validator:
    """True or False (not 0, 1 or a string)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, bool):
            fail(instance, attribute, value, "must be true or false")

    return check


def int_range(low: int | None = None, high: int | None = None) -> Validator:
    """An int (not a bool) within ``[low, high]`` (:func:`check_int`)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_int(attribute.name, value, low, high, entity=type(instance).__name__)

    return check


def finite_number(*, max_abs: float | None = None, decimals: int | None = None) -> Validator:
    """A finite int or float, below ``max_abs`` in magnitude, with at most ``decimals``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            fail(instance, attribute, value, "must be a number")
        if not math.isfinite(value):
            fail(instance, attribute, value, "must be finite")
        if max_abs is not None and abs(value) >= max_abs:
            fail(instance, attribute, value, f"must be less than {max_abs:g} in magnitude")
        if decimals is not None and not _has_at_most_decimals(value, decimals):
            fail(instance, attribute, value, f"must have at most {decimals} decimal places")

    return check


def _has_at_most_decimals(value: float, decimals: int) -> bool:
    scaled = float(value) * 10**decimals
    if not math.isfinite(scaled):
        return False
    return bool(abs(scaled - round(scaled)) <= 1e-6 * max(1.0, abs(scaled)))


def confidence() -> Validator:
    """A number in ``[0, 1]`` with at most two decimals (``DECIMAL(3,2)``)."""
    number = finite_number(decimals=2)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        number(instance, attribute, value)
        if not 0 <= value <= 1:
            fail(instance, attribute, value, "must be between 0 and 1")

    return check


def aware_datetime() -> Validator:
    """A timezone-aware :class:`datetime.datetime` (:func:`check_aware`)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_aware(attribute.name, value, entity=type(instance).__name__)

    return check


def enum_member(enum_cls: type[Any]) -> Validator:
    """A member of ``enum_cls`` (the converters turn strings into members first)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, enum_cls):
            allowed = ", ".join(str(m.value) for m in enum_cls)
            fail(instance, attribute, value, f"must be one of: {allowed}")

    return check


def json_document() -> Validator:
    """A JSON document within the limits (:func:`check_json`)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_json(attribute.name, value, entity=type(instance).__name__)

    return check


def non_empty_collection() -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Collection[Any]) -> None:
        if len(value) == 0:
            fail(instance, attribute, value, "must not be empty")

    return check
