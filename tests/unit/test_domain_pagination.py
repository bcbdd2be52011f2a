"""Keyset-pagination requests and cursors: a cursor decodes to what it encoded, for the sort
it was made for only; malformed requests name the bad field."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import assume, given

from domain.errors import ValidationError as DomainValidationError
from ports.errors import ValidationError
from ports.pagination import MAX_PAGE_SIZE, PageRequest, check_sort, decode_cursor, encode_cursor

offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
aware_datetimes = st.datetimes(timezones=offsets)
sort_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.uuids()
    | aware_datetimes
)
last_ids = st.uuids() | st.text(min_size=1, max_size=100)
# The types of sort values a cursor carries.
SortValue = bool | int | float | str | uuid.UUID | dt.datetime | None
sort_names = st.sampled_from(["created_at", "name", "slug", "relative_path", "priority"])


@given(sort_names, st.booleans(), sort_values, last_ids)
def test_a_cursor_decodes_to_what_it_encoded(
    sort: str, descending: bool, value: SortValue, last_id: uuid.UUID | str
) -> None:
    """Decoding a cursor for its own sort gives back the sort, direction, value and id, with
    their types."""
    cursor = encode_cursor(sort, descending, value, last_id)

    decoded = decode_cursor(cursor, sort=sort, descending=descending)

    assert (decoded.sort, decoded.descending) == (sort, descending)
    assert (type(decoded.value), decoded.value) == (type(value), value)
    assert (type(decoded.id), decoded.id) == (type(last_id), last_id)
    if isinstance(value, dt.datetime):
        assert decoded.value.utcoffset() == value.utcoffset()


@given(sort_names, sort_names, st.booleans(), st.booleans(), sort_values, st.uuids())
def test_a_cursor_is_rejected_for_another_sort_or_direction(
    sort: str,
    other_sort: str,
    descending: bool,
    other_descending: bool,
    value: SortValue,
    last_id: uuid.UUID,
) -> None:
    """A cursor used with a sort or direction it was not made for raises ValidationError
    naming the cursor."""
    assume((sort, descending) != (other_sort, other_descending))
    cursor = encode_cursor(sort, descending, value, last_id)

    with pytest.raises(ValidationError) as caught:
        decode_cursor(cursor, sort=other_sort, descending=other_descending)

    assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    "garbage", ["", "not a cursor!", "bm90IGpzb24", "W10", "WzEsMiwzXQ", "eyJhIjoxfQ"]
)
def test_garbage_cursors_are_rejected_naming_the_cursor(garbage: str) -> None:
    """Text that is not base64 JSON of a four-item list is refused as a cursor."""
    with pytest.raises(ValidationError) as caught:
        decode_cursor(garbage, sort="created_at", descending=False)

    assert caught.value.field == "cursor"
    assert isinstance(caught.value, DomainValidationError)


@pytest.mark.parametrize(
    "value", [{"q": "x"}, {"u": "not-a-uuid"}, {"t": "yesterday"}], ids=["tag", "uuid", "time"]
)
def test_a_cursor_with_a_bad_tagged_value_is_rejected(value: dict[str, str]) -> None:
    """A well-formed cursor whose value has an unknown tag, or a tagged value that does not
    parse, is refused naming the cursor."""
    body = json.dumps(["created_at", False, value, "id"]).encode()
    cursor = base64.urlsafe_b64encode(body).decode()

    with pytest.raises(ValidationError) as caught:
        decode_cursor(cursor, sort="created_at", descending=False)

    assert caught.value.field == "cursor"


@given(st.integers(1, MAX_PAGE_SIZE))
def test_limits_from_1_to_the_maximum_are_accepted(limit: int) -> None:
    """Any page size from 1 to MAX_PAGE_SIZE makes a request."""
    assert PageRequest(limit=limit).limit == limit


@given(st.integers().filter(lambda n: not 1 <= n <= MAX_PAGE_SIZE) | st.just(True) | st.just(5.0))
def test_limits_out_of_range_or_not_integers_are_rejected(limit: Any) -> None:
    """A page size outside 1..MAX_PAGE_SIZE, or not an int, is refused naming limit."""
    with pytest.raises(ValidationError) as caught:
        PageRequest(limit=limit)

    assert caught.value.field == "limit"


def test_check_sort_defaults_and_rejects_unknown_fields() -> None:
    """No sort means the default; an offered sort is kept; any other is refused naming
    sort."""
    offered = ("created_at", "name")

    assert check_sort(PageRequest(), offered, "created_at") == "created_at"
    assert check_sort(PageRequest(sort="name"), offered, "created_at") == "name"
    with pytest.raises(ValidationError) as caught:
        check_sort(PageRequest(sort="password_hash"), offered, "created_at")
    assert caught.value.field == "sort"
