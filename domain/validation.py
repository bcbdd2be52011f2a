"""attrs validators that raise :class:`~domain.errors.ValidationError` naming the field."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection
from typing import Any

import attrs

from domain.errors import ValidationError

__all__ = [
    "aware_datetime",
    "boolean",
    "confidence",
    "email",
    "enum_member",
    "fail",
    "finite_number",
    "hex_digest",
    "int_range",
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
    """A string, not blank unless ``allow_empty``, at most ``max_length`` characters."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            fail(instance, attribute, value, "must be a string")
        if not allow_empty and not value.strip():
            fail(instance, attribute, value, "must not be empty")
        if max_length is not None and len(value) > max_length:
            fail(instance, attribute, value, f"must be at most {max_length} characters")
        if "\x00" in value:
            fail(instance, attribute, value, "must not contain NUL characters")

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
    """An int (not a bool) within ``[low, high]``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            fail(instance, attribute, value, "must be an integer")
        if low is not None and value < low:
            fail(instance, attribute, value, f"must be at least {low}")
        if high is not None and value > high:
            fail(instance, attribute, value, f"must be at most {high}")

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
    """A timezone-aware :class:`datetime.datetime`."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, dt.datetime):
            fail(instance, attribute, value, "must be a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            fail(instance, attribute, value, "must be timezone-aware")

    return check


def enum_member(enum_cls: type[Any]) -> Validator:
    """A member of ``enum_cls`` (the converters turn strings into members first)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, enum_cls):
            allowed = ", ".join(str(m.value) for m in enum_cls)
            fail(instance, attribute, value, f"must be one of: {allowed}")

    return check


def non_empty_collection() -> Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Collection[Any]) -> None:
        if len(value) == 0:
            fail(instance, attribute, value, "must not be empty")

    return check
