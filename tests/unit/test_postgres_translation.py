"""``translated()``: driver errors raised in its block leave it as port errors, chained to
the driver's; anything else leaves it as it was raised."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import errors as pg

from adapters.postgres.errors import translated
from ports.errors import TransactionAbortedError, UnavailableError


async def test_a_driver_error_leaves_the_block_as_a_port_error_caused_by_it() -> None:
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    with pytest.raises(UnavailableError, match="server closed") as caught:
        async with translated():
            raise lost
    assert caught.value.__cause__ is lost


async def test_the_same_context_serves_nested_and_later_blocks() -> None:
    with pytest.raises(TransactionAbortedError):
        async with translated():
            async with translated():
                raise pg.InFailedSqlTransaction("current transaction is aborted")
    async with translated():
        pass  # a block without an error ends as usual


@pytest.mark.parametrize(
    "raised",
    [KeyError("id"), ValueError("bad"), asyncio.CancelledError(), KeyboardInterrupt()],
    ids=["KeyError", "ValueError", "CancelledError", "KeyboardInterrupt"],
)
async def test_anything_else_leaves_the_block_unchanged(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as caught:
        async with translated():
            raise raised
    assert caught.value is raised
