"""What PostgreSQL refuses becomes a port error that says what it is: a value the server
cannot take is a ValidationError, never an outage."""

from __future__ import annotations

import psycopg
import pytest

from adapters.postgres.errors import translated
from domain.errors import ValidationError
from ports.errors import UnavailableError


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        (
            # distinct words past the 1 MB a tsvector holds: ProgramLimitExceeded
            "SELECT to_tsvector('simple', string_agg(md5(i::text), ' '))"
            " FROM generate_series(1, 50000) i",
            "too long",
        ),
        ("SELECT repeat('x', 3000)::varchar(10)::char(2)::int", "invalid input"),
        ("SELECT 2147483647::int + 1", "out of range"),
        ("SELECT '2026-13-45'::date", "out of range"),
    ],
)
async def test_a_value_the_server_refuses_is_a_validation_error(
    postgres_server_url: str, statement: str, says: str
) -> None:
    """Data and size errors of the server are ValidationError with its message."""
    async with await psycopg.AsyncConnection.connect(postgres_server_url) as conn:
        with pytest.raises(ValidationError, match=says) as caught:
            async with translated():
                await conn.execute(statement)
    assert not isinstance(caught.value, UnavailableError)
