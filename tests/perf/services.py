"""Rows 5 and 6 through the application services: cache-aside reads under a Zipf
workload, and a thousand concurrent mixed operations with pool utilisation."""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import numpy as np

from adapters.postgres.pool import pool_stats
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.redis.cache import RedisCache
from adapters.serialization import JsonCodec
from application.caching import CachedQueries
from application.projects import create_project, get_project
from application.retry import with_retry
from domain.ids import ProjectId
from tests.perf.context import Context
from tests.perf.harness import Result, percentiles

__all__ = ["cache_rows", "concurrency_rows"]

ZIPF_S = 1.1
HOT_PROJECTS = 20
SAMPLE_EVERY = 0.005  # seconds between pool samples


def zipf_sequence(items: int, count: int, *, s: float = ZIPF_S, seed: int = 13) -> list[int]:
    """``count`` draws of item indexes, item k (0-based) with probability ~ 1/(k+1)^s."""
    weights = 1.0 / np.arange(1, items + 1) ** s
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(items, size=count, p=weights / weights.sum())]


async def cache_rows(ctx: Context, project_ids: list[ProjectId]) -> list[Result]:
    if ctx.redis_url is None:
        return [Result(row="5", name="cache hit ratio (Zipf reads)", unit="ratio", ours=None,
                       skipped=ctx.redis_missing)]  # fmt: skip
    sequence = zipf_sequence(len(project_ids), ctx.sizes.cache_reads)
    cache = RedisCache(ctx.redis_url, key_prefix=f"perf-{time.time_ns()}:")
    try:
        # CachedQueries passes the scope (system=True) when it makes a unit: ctx.uow takes none
        queries = CachedQueries(
            cache, JsonCodec(), functools.partial(PostgresUnitOfWork, ctx.database)
        )
        cached = []
        for index in sequence:
            start = time.perf_counter()
            await queries.project(project_ids[index])
            cached.append((time.perf_counter() - start) * 1000.0)
    finally:
        await cache.aclose()
    uncached = []
    for index in sequence[: max(1, len(sequence) // 10)]:
        start = time.perf_counter()
        await get_project(ctx.uow(), project_ids[index])
        uncached.append((time.perf_counter() - start) * 1000.0)
    stats = queries.stats
    ctx.details["cache_stats"] = stats.as_dict()
    hit_p50, _ = percentiles(cached)
    store_p50, _ = percentiles(uncached)
    return [
        Result(row="5a", name=f"cache hit ratio, Zipf(s={ZIPF_S}) over {len(project_ids)} "
               f"projects, {len(sequence):,} reads", unit="ratio", ours=stats.hit_ratio,
               target=(">", 0.85), notes=f"errors {stats.errors}, loads {stats.loads}"),
        Result(row="5b", name="project read p50, CachedQueries (Redis)", unit="ms",
               ours=hit_p50, peer=store_p50, peer_name="uncached (get_project)"),
    ]  # fmt: skip


@attrs.define
class _Outcome:
    done: int = 0
    increments: int = 0
    errors: collections.Counter[str] = attrs.Factory(collections.Counter)


async def _operations(
    ctx: Context, project_ids: list[ProjectId], count: int, *, rate: float | None,
    organization_id: Any, tag: str,
) -> tuple[_Outcome, float, list[dict[str, Any]]]:  # fmt: skip
    """Run ``count`` mixed operations, all at once (``rate`` None) or arriving at
    ``rate`` per second; returns the outcome, the seconds taken and pool samples."""
    outcome = _Outcome()
    hot = project_ids[:HOT_PROJECTS]
    pool = await ctx.database.pool()
    samples: list[dict[str, Any]] = []
    running = True

    async def sample() -> None:
        while running:
            samples.append(pool_stats(pool))
            await asyncio.sleep(SAMPLE_EVERY)

    async def increment(project_id: ProjectId) -> None:
        async def once() -> None:
            async with ctx.uow() as uow:
                project = await uow.projects.find_by_id(project_id)
                assert project is not None
                counter = str(int(project.description or "0") + 1)
                await uow.projects.update(attrs.evolve(project, description=counter))
                await uow.commit()

        await with_retry(once, attempts=10)
        outcome.increments += 1

    def operation(i: int) -> Callable[[], Awaitable[Any]]:
        kind = i % 10
        if kind < 2:
            return lambda: create_project(
                ctx.uow(), organization_id, name=f"Load {tag} {i}", slug=f"load-{tag}-{i}",
                repository_url="https://git.example.test/load.git",
            )  # fmt: skip
        if kind < 5:
            return lambda: increment(hot[i % len(hot)])
        return lambda: get_project(ctx.uow(), project_ids[(i * 7) % len(project_ids)])

    async def run(i: int) -> None:
        if rate is not None:
            await asyncio.sleep(i / rate)
        try:
            await operation(i)()
            outcome.done += 1
        except Exception as exc:  # counted and reported, never hidden
            outcome.errors[type(exc).__name__] += 1

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    running = False
    await sampler
    return outcome, elapsed, samples


async def _counters(ctx: Context, project_ids: list[ProjectId]) -> int:
    total = 0
    async with ctx.uow() as uow:
        for project_id in project_ids[:HOT_PROJECTS]:
            project = await uow.projects.find_by_id(project_id)
            assert project is not None
            total += int(project.description or "0")
    return total


async def concurrency_rows(ctx: Context, project_ids: list[ProjectId]) -> list[Result]:
    count = ctx.sizes.operations
    organization_id = ctx.details["organization_id"]
    before = await _counters(ctx, project_ids)
    burst, burst_s, burst_samples = await _operations(
        ctx, project_ids, count, rate=None, organization_id=organization_id, tag="burst"
    )
    throughput = count / burst_s
    paced_rate = throughput / 2
    paced, paced_s, paced_samples = await _operations(
        ctx, project_ids, count, rate=paced_rate, organization_id=organization_id, tag="paced"
    )
    lost = before + burst.increments + paced.increments - await _counters(ctx, project_ids)

    def utilisation(samples: list[dict[str, Any]]) -> tuple[float, float, int]:
        values = [s["utilisation_pct"] for s in samples] or [0.0]
        return float(np.mean(values)), float(max(values)), max(s["waiting"] for s in samples)

    b_mean, b_max, b_wait = utilisation(burst_samples)
    p_mean, p_max, p_wait = utilisation(paced_samples)
    errors = burst.errors + paced.errors
    ctx.details["concurrency"] = {
        "operations_per_phase": count, "mix": "20% create, 30% increment (with_retry), 50% read",
        "burst": {"seconds": burst_s, "ops_per_s": throughput, "errors": dict(burst.errors),
                  "pool_mean_pct": b_mean, "pool_max_pct": b_max, "max_waiting": b_wait},
        "paced": {"seconds": paced_s, "rate_per_s": paced_rate, "errors": dict(paced.errors),
                  "pool_mean_pct": p_mean, "pool_max_pct": p_max, "max_waiting": p_wait},
        "lost_updates": lost,
    }  # fmt: skip
    pool_size = (await ctx.database.pool()).max_size
    return [
        Result(row="6a", name=f"{count:,} concurrent mixed operations, all at once",
               unit="ops/s", ours=throughput,
               notes=f"pool of {pool_size}: mean {b_mean:.0f}%, max {b_max:.0f}%, up to "
               f"{b_wait} waiting (a burst saturates any pool)"),
        Result(row="6b", name=f"pool utilisation, {count:,} ops at half that rate (mean)",
               unit="%", ours=p_mean, target=("<", 80.0), notes=f"max {p_max:.0f}%"),
        Result(row="6c", name="errors (both phases)", unit="count",
               ours=float(sum(errors.values())), target=("<=", 0.0),
               notes=", ".join(f"{k}: {v}" for k, v in errors.items())),
        Result(row="6d", name="lost updates (counter increments)", unit="count",
               ours=float(lost), target=("<=", 0.0)),
    ]  # fmt: skip
