"""No bad input gets past a service: every exported service, given a value no argument
may take in any one argument, raises a domain or port error naming it, and writes
nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError, ValidationError
from domain.validation import MAX_INT
from ports.errors import PersistenceError
from tests.bad_input import (
    BAD_VALUES,
    CALLS,
    NOT_SERVICES,
    World,
    corruptible,
    make_world,
    public_services,
)


def _fingerprint(world: World) -> Any:
    return dict(world.db.versions), len(world.db.outbox)


async def _refused(world: World, name: str, argument: str, value: Any) -> BaseException:
    fn, kwargs = CALLS[name](world)
    kwargs[argument] = value
    before = _fingerprint(world)
    try:
        await fn(**kwargs)
    except (DomainError, PersistenceError) as exc:
        assert _fingerprint(world) == before, f"{name}({argument}=...) wrote before failing"
        return exc
    raise AssertionError(f"{name} accepted {argument}={value!r:.80}")


def test_every_service_has_a_call() -> None:
    """The table drives every service the application exports, so none is forgotten."""
    assert set(public_services()) == set(CALLS)
    assert not NOT_SERVICES & set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_service_refuses_each_bad_value_in_each_argument(name: str) -> None:
    """Each argument given each bad value: a ValidationError (or a port error) and
    nothing written; when it is a ValidationError, it names the argument."""
    world = await make_world()
    _, kwargs = CALLS[name](world)
    for argument in corruptible(kwargs):
        for what, value in BAD_VALUES:
            exc = await _refused(world, name, argument, value)
            if isinstance(exc, ValidationError):
                assert exc.field.startswith(argument) or argument in str(exc), (name, what, exc)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_the_valid_call_passes_the_checks(name: str) -> None:
    """The table's own call is not refused for its arguments (so the refusals above are
    about the bad value, not about the call)."""
    world = await make_world()
    fn, kwargs = CALLS[name](world)
    try:
        await fn(**kwargs)
    except ValidationError as exc:
        assert exc.field not in kwargs, exc
    except (DomainError, PersistenceError):
        pass  # a later rule of the service (a missing file, a job already ended)


def _text_with(char: str) -> st.SearchStrategy[str]:
    return st.tuples(st.text(max_size=20), st.text(max_size=20)).map(lambda p: p[0] + char + p[1])


BAD = st.one_of(
    _text_with("\x00"),
    _text_with("\ud800"),
    st.integers(min_value=MAX_INT + 1),
    st.integers(max_value=-MAX_INT - 2),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.datetimes(),  # naive
    st.binary(min_size=1),
    st.dictionaries(st.integers(), st.integers(), min_size=1),  # keys that are not strings
    st.lists(st.builds(object), min_size=1),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_generated_bad_values_never_escape_as_raw_exceptions(data: st.DataObject) -> None:
    """Generated bad values in any argument of any service raise a domain or port error
    (never TypeError, UnicodeEncodeError, RecursionError or a driver error) and write
    nothing."""
    world = await make_world()
    name = data.draw(st.sampled_from(sorted(CALLS)), label="service")
    _, kwargs = CALLS[name](world)
    argument = data.draw(st.sampled_from(corruptible(kwargs)), label="argument")
    value = data.draw(BAD, label="value")
    if isinstance(value, dt.datetime) and argument == "expected_updated_at":
        value = value.replace(tzinfo=None)
    await _refused(world, name, argument, value)
