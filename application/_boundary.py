"""The boundary of every service: each argument is checked against its annotation when the
service is called, before it runs and so before any I/O, with the checks of
:mod:`domain.validation`. A wrong type, a string that cannot be stored, an integer beyond
64 bits, a naive datetime, a value that is not JSON, or JSON nested or sized beyond the
limits is a :class:`~domain.errors.ValidationError` naming the argument; an enum argument
may be given as its value and arrives as the member."""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import functools
import inspect
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from domain.errors import ValidationError
from domain.validation import (
    check_aware,
    check_instance,
    check_int,
    check_json,
    check_member,
    check_number,
    check_text,
)

__all__ = ["service"]

P = ParamSpec("P")
R = TypeVar("R")
Check = Callable[[str, Any], Any]


def _anything(field: str, value: Any) -> Any:
    return value


def _boolean(field: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValidationError(field, value, "must be true or false")
    return value


def _text(field: str, value: Any) -> Any:
    return check_text(field, value, allow_empty=True)


def _number(field: str, value: Any) -> Any:
    return check_number(field, value)


def _integer(field: str, value: Any) -> Any:
    return check_int(field, value)


def _moment(field: str, value: Any) -> Any:
    return check_aware(field, value)


def _json(field: str, value: Any) -> Any:
    return check_json(field, check_instance(field, value, dict))


def _uuid(field: str, value: Any) -> Any:
    if not isinstance(value, uuid.UUID):
        raise ValidationError(field, value, "must be a UUID")
    return value


def _callable(field: str, value: Any) -> Any:
    if not callable(value):
        raise ValidationError(field, value, "must be callable")
    return value


def _one_of(checks: list[Check], allowed: tuple[type, ...]) -> Check:
    """A check for ``X | Y | ...``: a value of one of ``allowed`` (None) passes as it is,
    anything else goes to the first check that accepts it."""

    def check(field: str, value: Any) -> Any:
        if isinstance(value, allowed):
            return value
        error: ValidationError | None = None
        for one in checks:
            try:
                return one(field, value)
            except ValidationError as exc:
                error = error or exc
        assert error is not None
        raise error

    return check


def _literal(values: tuple[Any, ...]) -> Check:
    def check(field: str, value: Any) -> Any:
        if not any(value is v for v in values):
            raise ValidationError(field, value, f"must be one of: {', '.join(map(repr, values))}")
        return value

    return check


def _sequence_of(item: Check) -> Check:
    def check(field: str, value: Any) -> Any:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise ValidationError(field, value, "must be a list")
        for i, element in enumerate(value):
            item(f"{field}[{i}]", element)
        return value

    return check


def _instance(cls: type) -> Check:
    def check(field: str, value: Any) -> Any:
        return check_instance(field, value, cls)

    return check


def _member(cls: type[enum.Enum]) -> Check:
    def check(field: str, value: Any) -> Any:
        return check_member(field, value, cls)

    return check


_PLAIN: dict[Any, Check] = {
    Any: _anything,
    bool: _boolean,
    str: _text,
    int: _integer,
    float: _number,
    dt.datetime: _moment,
    uuid.UUID: _uuid,
    dict: _json,
}


def _check_for(hint: Any) -> Check:
    """The check of an argument annotated ``hint``."""
    if hint in _PLAIN:
        return _PLAIN[hint]
    supertype = getattr(hint, "__supertype__", None)  # NewType ids
    if supertype is not None:
        return _check_for(supertype)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        passing = tuple(a for a in args if a is type(None))
        return _one_of([_check_for(a) for a in args if a not in passing], passing)
    if origin is typing.Literal:
        return _literal(args)
    if origin in (dict, collections.abc.Mapping):
        return _json
    if origin in (list, tuple, collections.abc.Sequence):
        return _sequence_of(_check_for(args[0]) if args else _anything)
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return _callable
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return _member(hint)
        if getattr(hint, "_is_protocol", False):
            return _anything  # a port: its adapter is checked by its own contract
        return _instance(hint)
    return _anything


def service(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Check every argument of the service ``fn`` against its annotation before it runs."""
    signature = inspect.signature(fn)
    checks: dict[str, Check] = {}

    def resolve() -> dict[str, Check]:
        if not checks:
            hints = typing.get_type_hints(fn)
            for name in signature.parameters:
                checks[name] = _check_for(hints.get(name, Any))
        return checks

    @functools.wraps(fn)
    async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError("arguments", "", str(exc), entity=fn.__name__) from None
        for name, check in resolve().items():
            if name in bound.arguments:
                bound.arguments[name] = check(name, bound.arguments[name])
        return await fn(*bound.args, **bound.kwargs)

    return checked
