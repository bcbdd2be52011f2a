"""The vector store port on Qdrant Edge (``qdrant-edge-py``): Qdrant's own engine inside the
process, with real segments, HNSW indexes, payload indexes and a write-ahead log, in a
directory of its own.

Layout of the directory: ``collections/<name>/`` holds one engine shard per collection, and
``codeant-edge.lock`` is held (``flock``) by the one store that has the directory open.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import numpy as np
import qdrant_edge as qe

from adapters.qdrant.edge_optimize import EXIT_IN_USE, clear_temp_segments, in_use
from adapters.qdrant.payload import NORM_KEY
from adapters.vector_rules import (
    Conditions,
    check_dimension,
    check_distance,
    check_indexed,
    check_limit,
    check_name,
    check_points,
    check_threshold,
    check_vector,
    conditions,
    delete_conditions,
    matches_nothing,
    mismatch_error,
    ordered_by_request,
    top_hits,
    unique_ids,
)
from domain.vectors import Vector
from ports.errors import NotFoundError, PersistenceError, UnavailableError, ValidationError
from ports.vectors import CollectionInfo, Distance, ScoredPoint, VectorFilter, VectorPoint

__all__ = ["DEFAULT_HNSW_EF", "DEFAULT_IDLE_RELEASE", "OptimizeReport", "QdrantEdgeVectorStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

ENGINE = "Qdrant Edge"
COLLECTIONS = "collections"
LOCK_FILE = "codeant-edge.lock"
CONFIG_FILE = "edge_config.json"
WRITE_BATCH = 1000
"""Points per engine update (one WAL record each); a write call converts all of its points
before it writes any."""
SCROLL_PAGE = 1000
FLUSH_POINTS = 20_000
"""Points written to a collection after which the store flushes its segments, which lets
the engine trim its WAL (so that opening after a crash replays at most about this many).
A flush costs about as much for one point as for thousands (50 ms at 100k points), so it
is not done after every write."""
DEFAULT_HNSW_EF = 128
"""Candidates an HNSW search keeps (at least the hits it is asked for)."""
DEFAULT_IDLE_RELEASE = 5.0
"""Seconds without a call after which a store releases its directory."""
LOCK_POLL = 0.05

_DISTANCES = {
    Distance.COSINE: qe.Distance.Cosine,
    Distance.DOT: qe.Distance.Dot,
    Distance.EUCLIDEAN: qe.Distance.Euclid,
}
_CONFIG_DISTANCES = {"Cosine": Distance.COSINE, "Dot": Distance.DOT, "Euclid": Distance.EUCLIDEAN}
_INT_RANGE = (-(2**63), 2**64 - 1)  # what the engine stores as an integer


@attrs.frozen
class OptimizeReport:
    """The index build of one collection: its points, how many of their vectors the HNSW
    index held before and after, its segments, and the wall time of the build."""

    collection: str
    points: int
    indexed_before: int
    indexed: int
    segments: int
    seconds: float


class _InUseError(UnavailableError):
    """Another opener holds the directory or collection (its lock or its WAL)."""


@attrs.define
class _Shard:
    engine: qe.EdgeShard
    dimension: int
    distance: Distance
    directory: Path
    keywords: frozenset[str]
    """Payload keys with a keyword index."""
    unflushed: int = 0

    def written(self, points: int) -> None:
        """Count ``points`` written (to the WAL); flush after FLUSH_POINTS of them."""
        self.unflushed += points
        if self.unflushed >= FLUSH_POINTS:
            self.flush()

    def flush(self) -> None:
        self.engine.flush()
        self.unflushed = 0


class QdrantEdgeVectorStore:
    """Implements :class:`ports.vectors.VectorStore` with Qdrant Edge in directory ``path``.

    Each collection is an engine shard of one unnamed dense vector, with a keyword payload
    index on each key ``ensure_collection`` names (an existing one gains those it lacks
    when ensured). Searches use the HNSW index only when every condition of the filter is on a key
    with a keyword index, with string values: the engine loses recall silently
    when it filters an HNSW search on a key without an index, so any other filter searches
    exactly. Numbers match by value, booleans only booleans (the engine, given ``True``,
    would match the integer 1). COSINE vectors are kept with their length under the
    reserved payload key :data:`~adapters.qdrant.payload.NORM_KEY` (payloads may not use
    it), as the engine stores them normalized. Payload values must be JSON values (str,
    int, finite float, bool, None, lists and objects with string keys); tuples become
    lists. A payload key holding a list matches a filter value that the list contains.

    Durability: every write goes to the engine's WAL before the call returns, so a process
    killed afterwards (even by SIGKILL) finds it again when the collection is next opened,
    which replays the WAL. The engine flushes nothing by itself: the store flushes a
    collection's segments (to disk, trimming its WAL) after every :data:`FLUSH_POINTS`
    points written to it, before an index build, on :meth:`flush` and on :meth:`aclose`.

    One process at a time: opening the directory takes an exclusive lock on its
    ``codeant-edge.lock``, waiting up to ``lock_wait`` seconds for another holder; a second
    store, in this process or another, then gets UnavailableError naming the directory and
    the process holding it. A collection held by any other opener of the engine (its WAL
    locked) is refused alike. A store that has had no call for ``idle_release`` seconds
    flushes, closes and releases the directory (its next call opens it again), so that
    processes taking turns, such as a long-running relay and the command line, can share
    it; ``None`` keeps it until :meth:`aclose`. Opening a collection removes what an
    interrupted index build left behind.

    Engine calls run on one worker thread of the store, in order. They hold the GIL, so the
    event loop waits while each runs: milliseconds for a search or a batch of writes, up to
    a second to open a large collection. The HNSW build takes minutes at 100k points, so it
    never runs in this process: :meth:`optimize` runs it in a child process while the
    collection waits closed. Until a collection is optimized, its points sit in plain
    segments that searches scan exactly. ``hnsw_ef`` is the candidates an HNSW search keeps;
    ``indexing_threshold_kb`` the size of vectors above which a segment of a new collection
    gets an HNSW index when optimized (default: the engine's, 10,000 KB).

    Errors: an unknown collection raises NotFoundError; bad input ValidationError before
    anything is written; a directory in use, unreadable or damaged UnavailableError. The
    directory opens on first use and :meth:`aclose` releases it (a later call opens it
    again). Raises ValueError on a bad configuration.
    """

    def __init__(
        self,
        *,
        path: str | Path,
        hnsw_ef: int = DEFAULT_HNSW_EF,
        indexing_threshold_kb: int | None = None,
        lock_wait: float = 0.0,
        idle_release: float | None = DEFAULT_IDLE_RELEASE,
    ) -> None:
        if isinstance(path, str) and (not path or path == ":memory:"):
            raise ValueError(f"path must name a directory, got {path!r}")
        if not isinstance(path, str | Path):
            raise ValueError(f"path must be a directory path, got {path!r}")
        if not isinstance(hnsw_ef, int) or isinstance(hnsw_ef, bool) or not 1 <= hnsw_ef <= 10_000:
            raise ValueError(f"hnsw_ef must be an integer from 1 to 10000, got {hnsw_ef!r}")
        if indexing_threshold_kb is not None and (
            not isinstance(indexing_threshold_kb, int)
            or isinstance(indexing_threshold_kb, bool)
            or indexing_threshold_kb < 1
        ):
            raise ValueError(
                f"indexing_threshold_kb must be a positive integer, got {indexing_threshold_kb!r}"
            )
        for name, seconds in (("lock_wait", lock_wait), ("idle_release", idle_release)):
            if seconds is None and name == "idle_release":
                continue
            if (
                not isinstance(seconds, int | float)
                or isinstance(seconds, bool)
                or not 0 <= seconds <= 3600
            ):
                raise ValueError(
                    f"{name} must be a number of seconds from 0 to 3600, got {seconds!r}"
                )
        self._root = Path(path)
        self._indexing_threshold_kb = indexing_threshold_kb
        self._lock_wait = float(lock_wait)
        self._idle_release = None if idle_release is None else float(idle_release)
        self._collections = self._root / COLLECTIONS
        self._hnsw_ef = hnsw_ef
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        # touched only on the worker thread
        self._shards: dict[str, _Shard] = {}
        # touched only on the event loop: collections closed for an index build, calls in
        # flight, and the release of the directory once idle
        self._busy: dict[str, asyncio.Event] = {}
        self._in_flight = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._releasing: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        return f"{ENGINE} storage {self._root}"

    @property
    def path(self) -> Path:
        return self._root

    # ----------------------------------------------------------------------- the port

    async def ensure_collection(
        self,
        name: str,
        *,
        dimension: int,
        distance: Distance = Distance.COSINE,
        indexed: Sequence[str] = (),
    ) -> None:
        check_name(name)
        keys = check_indexed(indexed)
        wanted = (check_dimension(dimension), check_distance(distance))
        await self._idle(name)
        shard = await self._call(self._ensure, name, wanted, keys)
        existing = (shard.dimension, shard.distance)
        if existing != wanted:
            raise mismatch_error(name, existing, wanted)

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        dimension, distance = await self._schema(collection)
        checked = check_points(points, dimension)
        payloads = [_payload_in(point, distance) for point in checked]
        if not checked:
            return

        def write(shard: _Shard) -> None:
            structs = [
                qe.Point(point.id, list(point.vector), payload)
                for point, payload in zip(checked, payloads, strict=True)
            ]
            for start in range(0, len(structs), WRITE_BATCH):
                batch = structs[start : start + WRITE_BATCH]
                shard.engine.update(qe.UpdateOperation.upsert_points(batch))
            shard.written(len(structs))

        await self._on(collection, write)

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: VectorFilter | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredPoint]:
        dimension, distance = await self._schema(collection)
        query = list(check_vector(vector, dimension))
        check_limit(limit)
        threshold = check_threshold(score_threshold)
        checked = conditions(filter)
        if matches_nothing(checked):
            return []
        engine_filter = _filter(checked)

        def fetch_from(shard: _Shard, size: int) -> list[ScoredPoint]:
            exact = not _indexed(checked, shard.keywords)
            request = qe.QueryRequest(
                limit=size,
                query=qe.Query.Nearest(query),
                filter=engine_filter,
                with_payload=True,
                params=qe.SearchParams(hnsw_ef=max(self._hnsw_ef, size), exact=exact),
            )
            return [
                ScoredPoint(id=_uuid(hit.id), score=float(hit.score), payload=_payload_out(hit))
                for hit in shard.engine.query(request)
            ]

        async def fetch(size: int) -> list[ScoredPoint]:
            return await self._on(collection, lambda shard: fetch_from(shard, size))

        return await top_hits(fetch, distance, limit=limit, threshold=threshold)

    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        _, distance = await self._schema(collection)
        wanted = unique_ids(ids)
        if not wanted:
            return []

        def read(shard: _Shard) -> list[VectorPoint]:
            records = shard.engine.retrieve(
                cast(list[Any], wanted), with_payload=True, with_vector=True
            )
            return [_point_out(record, distance) for record in records]

        return ordered_by_request(await self._on(collection, read), wanted)

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        _, distance = await self._schema(collection)
        check_limit(limit)
        checked = conditions(filter)
        if matches_nothing(checked):
            return []
        engine_filter = _filter(checked)

        def read(shard: _Shard) -> list[VectorPoint]:
            points: list[VectorPoint] = []
            offset: Any = None
            while len(points) < limit:
                records, offset = shard.engine.scroll(
                    qe.ScrollRequest(
                        offset=offset,
                        limit=min(SCROLL_PAGE, limit - len(points)),
                        filter=engine_filter,
                        with_payload=True,
                        with_vector=True,
                    )
                )
                points.extend(_point_out(record, distance) for record in records)
                if offset is None:
                    break
            return points

        return await self._on(collection, read)

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        await self._schema(collection)
        wanted = unique_ids(ids)
        if not wanted:
            return

        def write(shard: _Shard) -> None:
            shard.engine.update(qe.UpdateOperation.delete_points(cast(list[Any], wanted)))
            shard.written(len(wanted))

        await self._on(collection, write)

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        await self._schema(collection)
        checked = delete_conditions(filter)
        if matches_nothing(checked):
            return
        engine_filter = qe.Filter(must=_must(checked))

        def write(shard: _Shard) -> None:
            shard.engine.update(qe.UpdateOperation.delete_points_by_filter(engine_filter))
            shard.written(1)

        await self._on(collection, write)

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        await self._schema(collection)
        checked = conditions(filter)
        if matches_nothing(checked):
            return 0
        request = qe.CountRequest(exact=True, filter=_filter(checked))
        return await self._on(collection, lambda shard: int(shard.engine.count(request)))

    async def collections(self) -> list[CollectionInfo]:
        """Every collection of the directory, by name, with its exact point count."""
        infos = []
        for name in await self._call(self._names):
            try:
                dimension, distance = await self._schema(name)
                points = await self.count(name)
            except (NotFoundError, ValidationError) as exc:  # dropped meanwhile, or foreign
                log.debug("collection %s left out: %s", name, exc)
                continue
            infos.append(CollectionInfo(name, dimension, distance, points))
        return infos

    async def drop_collection(self, name: str) -> bool:
        check_name(name)
        await self._idle(name)
        return await self._call(self._drop, name)

    # ----------------------------------------------------------------------- beyond the port

    async def optimize(self, collection: str | None = None) -> list[OptimizeReport]:
        """Build the HNSW index of ``collection`` (of every collection when none is named),
        each in a child process, one after the other; what each build did.

        While a collection's index is built it is closed here, and operations on it wait for
        the build to end (those on other collections go on). The event loop stays free. If
        the call is cancelled, the child is killed and the collection reopened as it was.
        A collection below the engine's indexing threshold (about 10 MB of vectors) keeps
        its plain segment, which searches scan exactly."""
        names = (
            [check_name(collection)]
            if collection is not None
            else [info.name for info in await self.collections()]
        )
        return [await self._optimize(name) for name in names]

    async def snapshot(self) -> list[tuple[str, str, int]]:
        """Qdrant Edge takes no snapshots: UnavailableError saying how to save the data."""
        raise UnavailableError(
            f"{self.where} takes no snapshots: copy its directory while no process has it"
            " open, or rebuild it with 'codeant vectors rebuild'"
        )

    async def health_details(self) -> dict[str, Any]:
        """The directory, and how many vectors of every collection its HNSW index holds."""
        indexed = 0
        for name in await self._call(self._names):
            try:
                info = await self._on(name, lambda shard: shard.engine.info())
            except NotFoundError:
                continue
            indexed += info.indexed_vectors_count
        return {"storage": str(self._root), "indexed_vectors": indexed}

    async def flush(self) -> None:
        """Flush every open collection's segments to disk now. Writes are safe from a killed
        process once their call returned (they are in the WAL); a flush writes them into
        the segments on disk, so that they need no operating-system cache to survive, and
        shortens the WAL the next open replays."""
        if self._worker is None:
            return
        await self._call(self._flush_all)

    async def aclose(self) -> None:
        """Flush and close every collection and release the directory (a later call opens
        it again). Waits for index builds in progress."""
        while self._busy:
            await next(iter(self._busy.values())).wait()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._releasing is not None:
            await self._releasing
            self._releasing = None
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(worker, self._close_all)
        finally:
            worker.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"QdrantEdgeVectorStore({self._root})"

    # ----------------------------------------------------------------------- the loop side

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the worker thread, after opening the directory."""
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="qdrant-edge"
            )
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        try:
            return await loop.run_in_executor(self._worker, self._guarded, function, args)
        finally:
            self._in_flight -= 1
            self._arm_idle_release(loop)

    def _arm_idle_release(self, loop: asyncio.AbstractEventLoop) -> None:
        """(Re)start the countdown after which an idle store releases the directory."""
        if self._idle_release is None:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = loop.call_later(self._idle_release, self._on_idle, loop)

    def _on_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle_timer = None
        worker = self._worker
        if worker is None:
            return
        if self._in_flight or self._busy:
            self._arm_idle_release(loop)
            return
        self._releasing = loop.create_task(self._release_idle(worker))

    async def _release_idle(self, worker: concurrent.futures.ThreadPoolExecutor) -> None:
        """Flush, close and unlock, so that another process may open the directory (the
        next call here opens it again)."""
        try:
            await asyncio.get_running_loop().run_in_executor(worker, self._close_all)
        except (PersistenceError, RuntimeError) as exc:  # closed meanwhile, or a failed flush
            log.warning("%s was not released cleanly when idle: %s", self.where, exc)

    async def _idle(self, name: str) -> None:
        """Wait until no index build holds collection ``name`` closed."""
        while (busy := self._busy.get(name)) is not None:
            await busy.wait()

    async def _on(self, name: str, function: Callable[[_Shard], T]) -> T:
        """``function(shard)`` on the worker thread, with collection ``name`` open."""
        await self._idle(name)
        return await self._call(self._with_shard, name, function)

    async def _schema(self, name: str) -> tuple[int, Distance]:
        check_name(name)
        shard = await self._on(name, lambda shard: shard)
        return shard.dimension, shard.distance

    async def _optimize(self, name: str) -> OptimizeReport:
        await self._schema(name)
        await self._idle(name)
        done = asyncio.Event()
        self._busy[name] = done
        try:
            directory = await self._call(self._release, name)
            try:
                figures = await _build_index(directory, name)
            finally:
                await self._call(self._with_shard, name, lambda shard: shard)
        finally:
            del self._busy[name]
            done.set()
        return OptimizeReport(
            collection=name,
            points=int(figures["points"]),
            indexed_before=int(figures["indexed_before"]),
            indexed=int(figures["indexed"]),
            segments=int(figures["segments"]),
            seconds=float(figures["seconds"]),
        )

    # ----------------------------------------------------------------------- the worker side

    def _guarded(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Open the directory if need be, then ``function(*args)``, with engine errors
        translated into port errors."""
        try:
            self._open()
            return function(*args)
        except PersistenceError:
            raise
        except Exception as exc:  # the engine raises plain Exceptions with a message
            raise self._translated(exc) from exc

    def _translated(self, exc: Exception) -> PersistenceError:
        if in_use(exc):
            return _InUseError(
                f"{self.where}: a collection is open in another process ({exc}); only one"
                " process may open it at a time"
            )
        if isinstance(exc, OSError):
            return UnavailableError(f"{self.where} cannot be used: {exc}")
        return UnavailableError(f"{self.where} failed: {exc}")

    def _open(self) -> None:
        if self._lock_fd is not None:
            return
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UnavailableError(f"cannot create {self.where}: {exc}") from exc
        if (self._root / "meta.json").is_file() and (self._root / "collection").is_dir():
            raise UnavailableError(
                f"{self._root} holds qdrant-client local-mode data, which {ENGINE} does not"
                " read: use a new directory and fill it with 'codeant vectors rebuild'"
            )
        fd = os.open(self._root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd
        try:
            self._collections.mkdir(exist_ok=True)
            for leftover in self._collections.iterdir():
                if leftover.name.startswith("."):  # a creation or a drop cut short
                    log.warning("removing %s, left by an interrupted operation", leftover)
                    _remove(leftover)
        except BaseException:
            self._unlock()
            raise

    def _lock(self, fd: int) -> None:
        """Take the directory's lock, waiting up to ``lock_wait`` seconds for its holder."""
        deadline = time.monotonic() + self._lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(LOCK_POLL)
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        waited = f" (waited {self._lock_wait:g} s)" if self._lock_wait else ""
        raise _InUseError(
            f"{self.where} is open in another process (pid {holder}){waited}: only one process"
            " may open it at a time; stop that process or use another directory"
        )

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # releases the flock

    def _flush_all(self) -> None:
        for shard in list(self._shards.values()):
            shard.flush()

    def _close_all(self) -> None:
        try:
            errors = []
            for name in list(self._shards):
                shard = self._shards.pop(name)
                try:
                    shard.flush()
                    shard.engine.close()
                except Exception as exc:
                    errors.append(f"{name}: {exc}")
            if errors:
                raise UnavailableError(f"{self.where} did not close cleanly: {'; '.join(errors)}")
        finally:
            self._unlock()

    def _names(self) -> list[str]:
        names = []
        for entry in self._collections.iterdir():
            try:
                check_name(entry.name)
            except ValidationError:
                continue
            if (entry / CONFIG_FILE).is_file():
                names.append(entry.name)
        return sorted(names)

    def _with_shard(self, name: str, function: Callable[[_Shard], T]) -> T:
        shard = self._shards.get(name)
        if shard is None:
            shard = self._load(name)
        return function(shard)

    def _load(self, name: str) -> _Shard:
        directory = self._collections / name
        if not (directory / CONFIG_FILE).is_file():
            raise NotFoundError("collection", name)
        dimension, distance = _read_schema(directory, name)
        try:
            engine = qe.EdgeShard.load(str(directory))
        except Exception as exc:
            if in_use(exc):
                raise _InUseError(
                    f"{ENGINE} collection {name} at {directory} is open in another process:"
                    " only one process may open it at a time"
                ) from exc
            raise UnavailableError(
                f"{ENGINE} cannot open collection {name} at {directory}: {exc}"
            ) from exc
        try:
            clear_temp_segments(directory)
            keywords = _keyword_indexes(engine)
        except BaseException:
            engine.close()
            raise
        shard = _Shard(engine, dimension, distance, directory, keywords)
        self._shards[name] = shard
        return shard

    def _ensure(self, name: str, schema: tuple[int, Distance], keys: Sequence[str]) -> _Shard:
        shard = self._shards.get(name)
        if shard is None and (self._collections / name / CONFIG_FILE).is_file():
            shard = self._load(name)
        if shard is not None:
            if not set(keys) <= shard.keywords:
                shard.keywords = _index_fields(shard.engine, keys)
            return shard
        # built aside and renamed into place, so a crash leaves no collection half-made
        staging = self._collections / f".new-{uuid.uuid4().hex}"
        dimension, distance = schema
        optimizers = (
            None
            if self._indexing_threshold_kb is None
            else qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb)
        )
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dimension, distance=_DISTANCES[distance]),
            optimizers=optimizers,
        )
        try:
            engine = qe.EdgeShard.create(str(staging), config)
            try:
                _index_fields(engine, keys)
            finally:
                engine.close()
            os.rename(staging, self._collections / name)
            _fsync_directory(self._collections)
        except BaseException:
            _remove(staging)
            raise
        return self._load(name)

    def _release(self, name: str) -> Path:
        """Flush and close collection ``name`` (for a build in another process)."""
        shard = self._shards.pop(name, None)
        if shard is None:
            shard = self._load(name)
            self._shards.pop(name)
        shard.flush()
        shard.engine.close()
        return shard.directory

    def _drop(self, name: str) -> bool:
        directory = self._collections / name
        shard = self._shards.pop(name, None)
        if shard is None:
            if not (directory / CONFIG_FILE).is_file():
                return False
            try:  # takes its WAL lock: refuses a collection another process has open
                shard = self._load(name)
                self._shards.pop(name)
            except _InUseError:
                raise
            except (UnavailableError, ValidationError) as exc:
                log.warning("dropping collection %s, which does not open: %s", name, exc)
        if shard is not None:
            shard.engine.close()
        doomed = self._collections / f".drop-{uuid.uuid4().hex}"
        os.rename(directory, doomed)
        _fsync_directory(self._collections)
        _remove(doomed)
        return True


# --------------------------------------------------------------------------- the index build


async def _build_index(directory: Path, name: str) -> dict[str, Any]:
    """Run the index build of ``directory`` in a child process; its figures."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.qdrant.edge_optimize",
        str(directory),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    except BaseException:  # cancelled: the build stops, the collection reopens as it was
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if process.returncode == EXIT_IN_USE:
        raise _InUseError(
            f"{ENGINE} collection {name} at {directory} is open in another process: only one"
            " process may open it at a time"
        )
    if process.returncode != 0:
        raise UnavailableError(
            f"{ENGINE} could not build the index of collection {name} at {directory}"
            f" (exit status {process.returncode}): {reason[0]}"
        )
    try:
        figures = json.loads(out)
    except ValueError as exc:
        raise UnavailableError(
            f"{ENGINE} index build of collection {name} answered {out[:200]!r}"
        ) from exc
    return cast(dict[str, Any], figures)


# --------------------------------------------------------------------------- helpers


def _index_fields(engine: qe.EdgeShard, keys: Sequence[str]) -> frozenset[str]:
    """Give ``engine`` a keyword index on every key of ``keys`` it lacks; the keys with a
    keyword index then."""
    missing = [key for key in keys if key not in engine.info().payload_schema]
    for key in missing:
        engine.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
    if missing:
        engine.flush()
    return _keyword_indexes(engine)


def _keyword_indexes(engine: qe.EdgeShard) -> frozenset[str]:
    """The payload keys that have a keyword index in ``engine``."""
    return frozenset(
        key
        for key, schema in engine.info().payload_schema.items()
        if schema.data_type == qe.PayloadSchemaType.Keyword
    )


def _read_schema(directory: Path, name: str) -> tuple[int, Distance]:
    """The dimension and distance the engine keeps in the collection's configuration."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        vectors = config["vectors"]
        if set(vectors) != {""} or config.get("sparse_vectors"):
            raise ValueError("not one unnamed dense vector")
        size, distance = vectors[""]["size"], _CONFIG_DISTANCES[vectors[""]["distance"]]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"bad size {size!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            "collection",
            name,
            f"is not a collection of one unnamed vector with cosine, dot or euclidean"
            f" distance ({exc})",
            entity=ENGINE,
        ) from exc
    return size, distance


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _uuid(point_id: Any) -> uuid.UUID:
    return point_id if isinstance(point_id, uuid.UUID) else uuid.UUID(str(point_id))


# --------------------------------------------------------------------------- payloads


def _payload_in(point: VectorPoint, distance: Distance) -> dict[str, Any]:
    """The payload the engine stores for ``point``: its values checked as JSON (tuples
    become lists), with the vector's length for COSINE."""
    if NORM_KEY in point.payload:
        raise ValidationError(
            "payload", NORM_KEY, f"is a key reserved by the {ENGINE} store", entity="VectorStore"
        )
    for key in point.payload:
        if not isinstance(key, str):
            raise ValidationError("payload", key, "keys must be strings", entity="VectorStore")
    payload = {key: _json_value(value, key) for key, value in point.payload.items()}
    if distance is Distance.COSINE:
        payload[NORM_KEY] = math.hypot(*point.vector)
    return payload


def _json_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise ValidationError(
                f"payload[{where!r}]", value, "integers must fit in 64 bits", entity="VectorStore"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"payload[{where!r}]", value, "numbers must be finite", entity="VectorStore"
            )
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"payload[{where!r}]", key, "object keys must be strings", entity="VectorStore"
                )
            out[key] = _json_value(item, f"{where}.{key}")
        return out
    raise ValidationError(
        f"payload[{where!r}]",
        type(value).__name__,
        "must be a str, int, finite float, bool, None, list or object of them",
        entity="VectorStore",
    )


def _payload_out(record: qe.ScoredPoint | qe.Record) -> dict[str, Any]:
    return {k: v for k, v in (record.payload or {}).items() if k != NORM_KEY}


def _point_out(record: qe.Record, distance: Distance) -> VectorPoint:
    stored = record.vector
    # the engine gives one dense vector as a list of floats (named vectors as a dict,
    # multi-vectors as a list of lists)
    if not isinstance(stored, list) or not all(type(x) is float for x in stored[:1]):
        raise ValidationError(
            "vector", type(stored).__name__, "is not one dense vector", entity=ENGINE
        )
    vector = cast(list[float], stored)
    if distance is Distance.COSINE:  # back to the length it was upserted with
        length = math.hypot(*vector)
        norm = float((record.payload or {}).get(NORM_KEY, length))
        if length > 0 and norm != length:
            scale = norm / length
            vector = [x * scale for x in vector]
    return VectorPoint(id=_uuid(record.id), vector=Vector(vector), payload=_payload_out(record))


# --------------------------------------------------------------------------- filters


def _indexed(checked: Conditions, keywords: frozenset[str]) -> bool:
    """Whether every condition can use a payload index (a keyword index on a string)."""
    return all(
        key in keywords and all(isinstance(value, str) for value in accepted)
        for key, accepted in checked.items()
    )


def _filter(checked: Conditions) -> qe.Filter | None:
    return qe.Filter(must=_must(checked)) if checked else None


def _must(checked: Conditions) -> list[Any]:
    return [_condition(key, accepted) for key, accepted in checked.items()]


def _condition(key: str, accepted: Iterable[Any]) -> Any:
    """Any of ``accepted`` (never empty): strings in one MatchAny, other values each."""
    values = list(accepted)
    strings = [value for value in values if isinstance(value, str)]
    options: list[Any] = [_equal(key, v) for v in values if not isinstance(v, str)]
    if len(strings) == 1:
        options.append(_equal(key, strings[0]))
    elif strings:
        options.append(qe.FieldCondition(key=key, match=qe.MatchAny(strings)))
    return options[0] if len(options) == 1 else qe.Filter(should=options)


def _equal(key: str, value: Any) -> qe.FieldCondition:
    """Strings match as they are, numbers by value (3 matches 3.0), booleans only
    booleans. The engine reads a Python bool as the integer it also is (``True`` would
    match 1 and never ``True``); a numpy bool is no int, so it reaches the engine as a
    boolean."""
    if isinstance(value, bool):
        return qe.FieldCondition(key=key, match=qe.MatchValue(cast(Any, np.bool_(value))))
    if isinstance(value, str):
        return qe.FieldCondition(key=key, match=qe.MatchValue(value))
    return qe.FieldCondition(key=key, range=qe.RangeFloat(gte=value, lte=value))
