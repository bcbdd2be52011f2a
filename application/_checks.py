"""Argument checks for inputs that no domain object validates on construction."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from domain.errors import ValidationError

__all__ = ["instance_of", "int_in_range", "member_of", "non_blank"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)


def instance_of(field: str, value: Any, expected: type[T], *, entity: str | None = None) -> T:
    """``value`` if it is an instance of ``expected``, else a ValidationError on ``field``."""
    if not isinstance(value, expected):
        raise ValidationError(field, value, f"must be a {expected.__name__}", entity=entity)
    return value


def int_in_range(field: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``, else a ValidationError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be an integer")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValidationError(field, value, f"must be {bounds}")
    return value


def non_blank(field: str, value: Any) -> str:
    """``value`` if it is a string with a non-space character, else a ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "must be a non-empty string")
    return value


def member_of(field: str, value: Any, enum_cls: type[E]) -> E:
    """The member of ``enum_cls`` that ``value`` is or names, else a ValidationError."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise ValidationError(field, value, f"must be one of: {allowed}") from None
