"""Rows 1a/1b and 2a-2c: point operations through a unit of work beside the driver's own
floor, raw psycopg running the repository's very statement on the same pool and server,
and beside the ORM peer, all measured in interleaved rounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from adapters.postgres._sql import entity_params
from adapters.postgres.files import FILE_JSON, INSERT_FILE, SELECT_FILE_BY_PATH
from adapters.postgres.projects import SELECT_PROJECT, SELECT_PROJECT_BY_SLUG
from domain.files import FileIndex
from domain.ids import RepositoryId
from tests.perf.context import Context
from tests.perf.harness import Contender, Result, Spread, rounds

__all__ = ["point_rows"]

ORM = "SQLAlchemy 2 ORM"
RAW = "raw psycopg, same pool"
RATIO = ("<=", 1.3)


async def _timed(span: range, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in span:
        start = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def _by(call: Callable[[int], Awaitable[object]]) -> Contender:
    async def run(span: range) -> Sequence[float]:
        return await _timed(span, call)

    return run


def _running(
    run: Callable[[str, dict[str, Any]], Awaitable[object]],
    query: str,
    params: Callable[[int], dict[str, Any]],
) -> Callable[[int], Awaitable[object]]:
    """The call of iteration i: ``run`` of ``query`` with ``params(i)``."""
    return lambda i: run(query, params(i))


async def point_rows(
    ctx: Context,
    project_ids: Sequence[Any],
    slugs: Sequence[str],
    organization_id: Any,
    repository_id: RepositoryId,
    paths: Sequence[str],
    inserts: Sequence[FileIndex],
) -> list[Result]:
    """Each point operation three (or four) ways in interleaved rounds: through a unit of
    work (ours), raw psycopg in a transaction on the same pool (the floor a unit of work
    can reach), raw psycopg with autocommit on its own connection (no transaction at
    all), and, for the path lookup and the insert, the ORM peer."""
    pool = await ctx.database.pool()
    count = ctx.sizes.queries
    direct = await psycopg.AsyncConnection.connect(ctx.url, autocommit=True)

    async def raw(query: str, params: dict[str, Any]) -> Any:
        async with pool.connection() as conn:
            return await (await conn.execute(query, params)).fetchone()

    async def bare(query: str, params: dict[str, Any]) -> Any:
        return await (await direct.execute(query, params)).fetchone()

    def project(i: int) -> dict[str, Any]:
        return {"id": project_ids[i % len(project_ids)]}

    def slug(i: int) -> dict[str, Any]:
        return {"organization_id": organization_id, "slug": slugs[i % len(slugs)]}

    def path(i: int) -> dict[str, Any]:
        return {"repository_id": repository_id, "relative_path": paths[i % len(paths)]}

    async def uow_by_id(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.projects.find_by_id(project(i)["id"]) is not None

    async def uow_by_slug(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.projects.find_by_slug(organization_id, slug(i)["slug"]) is not None

    async def uow_by_path(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.files.find_by_path(repository_id, path(i)["relative_path"])

    cases: list[
        tuple[str, str, Callable[[int], Awaitable[object]], str, Callable[[int], dict[str, Any]]]
    ] = [
        ("2a", "project find_by_id", uow_by_id, SELECT_PROJECT, project),
        ("2b", "project find_by_slug", uow_by_slug, SELECT_PROJECT_BY_SLUG, slug),
        ("2c", "file find_by_path", uow_by_path, SELECT_FILE_BY_PATH, path),
    ]
    out: list[Result] = []
    try:
        for row, name, ours, query, params in cases:
            contenders: dict[str, Contender] = {
                "ours": _by(ours),
                "raw": _by(_running(raw, query, params)),
                "autocommit": _by(_running(bare, query, params)),
            }
            if row == "2c" and ctx.peer is not None:
                contenders["orm"] = _orm_paths(ctx.peer, repository_id, paths)
            got = await rounds(contenders, count)
            out += _rows(row, name, got)
        out += await _insert_rows(ctx, inserts, raw)
    finally:
        await direct.close()
    return out


def _orm_paths(peer: Any, repository_id: RepositoryId, paths: Sequence[str]) -> Contender:
    async def run(span: range) -> Sequence[float]:
        chosen = [paths[i % len(paths)] for i in span]
        return await asyncio.to_thread(peer.path_latencies, repository_id, chosen)

    return run


def _rows(row: str, name: str, got: dict[str, tuple[Spread, Spread]]) -> list[Result]:
    (ours50, ours95), (raw50, raw95) = got["ours"], got["raw"]
    auto50 = got["autocommit"][0]
    notes = (
        f"p50 over rounds, ms: ours {ours50}, raw {raw50}, raw autocommit {auto50};"
        f" p95: ours {ours95}, raw {raw95}"
    )
    out = [
        Result(row=row, name=f"{name} p50, a unit of work each", unit="ms",
               ours=ours50.median, peer=raw50.median, peer_name=RAW, target=RATIO,
               on_ratio=True, notes=notes),
    ]  # fmt: skip
    if "orm" in got:
        out.append(Result(
            row=row + "'", name=f"{name} p50, a unit of work (a session) each", unit="ms",
            ours=ours50.median, peer=got["orm"][0].median, peer_name=ORM,
            notes=f"ORM p50 over rounds, ms: {got['orm'][0]}",
        ))  # fmt: skip
    return out


async def _insert_rows(
    ctx: Context,
    files: Sequence[FileIndex],
    raw: Callable[[str, dict[str, Any]], Awaitable[Any]],
) -> list[Result]:
    """1a/1b: one new file row per unit of work (each contender inserts its own rows)."""
    share = len(files) // 3
    ours_rows, raw_rows, orm_rows = files[:share], files[share : 2 * share], files[2 * share :]

    async def ours(i: int) -> None:
        async with ctx.uow() as uow:
            await uow.files.create(ours_rows[i])
            await uow.commit()

    async def driver(i: int) -> None:
        await raw(INSERT_FILE, entity_params(raw_rows[i], json=FILE_JSON))

    contenders: dict[str, Contender] = {"ours": _by(ours), "raw": _by(driver)}
    if ctx.peer is not None:
        peer, repository = ctx.peer, orm_rows[0].repository_id
        contenders["orm"] = lambda span: asyncio.to_thread(
            peer.insert_latencies, [orm_rows[i] for i in span], repository
        )
    got = await rounds(contenders, share)
    (ours50, ours95), (raw50, _) = got["ours"], got["raw"]
    out = [
        Result(row="1a", name="insert one file p50, a unit of work each", unit="ms",
               ours=ours50.median, peer=raw50.median, peer_name=RAW, target=RATIO,
               on_ratio=True,
               notes=f"p50 over rounds, ms: ours {ours50}, raw {raw50}; ours p95 {ours95}"),
    ]  # fmt: skip
    if "orm" in got:
        orm50 = got["orm"][0]
        out.append(Result(
            row="1b", name="insert one file p50, a unit of work (a session) each", unit="ms",
            ours=ours50.median, peer=orm50.median, peer_name=ORM, target=("<", 10.0),
            notes=f"ORM p50 over rounds, ms: {orm50}",
        ))  # fmt: skip
    else:
        out.append(Result(row="1b", name="insert one file p50 vs the ORM", unit="ms",
                          ours=ours50.median, skipped=ctx.peer_missing))  # fmt: skip
    return out
