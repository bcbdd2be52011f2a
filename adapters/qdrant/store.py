"""The vector store port on a Qdrant server, through qdrant-client's ``AsyncQdrantClient``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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

__all__ = ["NORM_KEY", "QdrantVectorStore"]

log = logging.getLogger(__name__)

UPSERT_BATCH = 256
SCROLL_PAGE = 1000

_DISTANCES = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLIDEAN: models.Distance.EUCLID,
}
_PORT_DISTANCES = {theirs: ours for ours, theirs in _DISTANCES.items()}

Schema = tuple[int, Distance]


class QdrantVectorStore:
    """Implements :class:`ports.vectors.VectorStore` on a Qdrant server (``url``, with an
    optional ``api_key``; ``timeout`` in seconds per request) or in qdrant-client's local
    mode (``path``: a directory of its own, or ``":memory:"``), one of the two. Local mode
    is a brute-force scan in Python, kept as a peer for comparisons; the configuration never
    chooses it (``CODEANT_QDRANT_PATH`` is Qdrant Edge, :mod:`adapters.qdrant.edge`).

    Collections hold one unnamed dense vector; a keyword payload index on each key
    ``ensure_collection`` is given (local mode has no indexes and needs none). Point ids are the
    UUIDs of the points. Scores are Qdrant's: cosine similarity, dot product, Euclidean
    distance; the threshold and the order of ties are applied here, as the port states
    them (Qdrant's own threshold is strict and its ties unordered). COSINE vectors are
    kept with their length under the reserved payload key :data:`NORM_KEY` (which
    payloads may not use), as Qdrant stores them normalized. A payload key holding a list
    matches a filter value that the list contains (Qdrant's rule; the in-memory store
    needs the value itself).

    The dimension and distance of each collection are remembered after first use (they
    cannot change while a collection exists); a collection dropped and recreated by
    another process with other settings needs a new store. Collections of the server that
    do not have one unnamed vector of a distance of the port are left out of
    :meth:`collections` and refused by the other operations.

    Errors: an unknown collection raises NotFoundError, a request Qdrant refuses
    ValidationError, an unreachable or failing server UnavailableError naming it. The
    client connects on first use; :meth:`aclose` releases it. Local mode works in the
    caller's thread and holds its directory locked while open: it is meant for one
    process, in development and tests. Raises ValueError on a bad configuration.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | Path | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("give exactly one of url (a Qdrant server) or path (local mode)")
        if url is not None and (
            not isinstance(url, str)
            or urlsplit(url).scheme not in ("http", "https")
            or not urlsplit(url).hostname
        ):
            raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
        if api_key is not None and url is None:
            raise ValueError("api_key is for a server url, not for local mode")
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout <= 3600
        ):
            raise ValueError(f"timeout must be a number of seconds in (0, 3600], got {timeout!r}")
        self._url = url
        self._path = None if path is None else str(path)
        self._api_key = api_key
        self._timeout = timeout
        self._client: AsyncQdrantClient | None = None
        self._schemas: dict[str, Schema] = {}
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The server URL, or the local storage."""
        if self._url is not None:
            return self._url
        return "in-process memory" if self._path == ":memory:" else f"local storage {self._path}"

    @property
    def local(self) -> bool:
        return self._url is None

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
        existing = self._schemas.get(name)
        if existing is None:
            client = await self._connect()
            async with self._translated(name):
                if not await client.collection_exists(name):
                    await self._create(client, name, wanted)
                info = await client.get_collection(name)
                existing = self._schemas[name] = _schema_of(name, info)
                await self._index(client, name, keys, info.payload_schema or {})
        if existing != wanted:
            raise mismatch_error(name, existing, wanted)

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        dimension, distance = await self._schema(collection)
        structs = [_struct(point, distance) for point in check_points(points, dimension)]
        client = await self._connect()
        async with self._translated(collection):
            for start in range(0, len(structs), UPSERT_BATCH):
                await client.upsert(
                    collection, points=structs[start : start + UPSERT_BATCH], wait=True
                )

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
        client = await self._connect()

        async def fetch(size: int) -> list[ScoredPoint]:
            response = await client.query_points(
                collection,
                query=query,
                query_filter=_filter(checked),
                limit=size,
                with_payload=True,
            )
            return [
                ScoredPoint(
                    id=uuid.UUID(str(hit.id)),
                    score=float(hit.score),
                    payload=_payload_out(hit.payload),
                )
                for hit in response.points
            ]

        async with self._translated(collection):
            return await top_hits(fetch, distance, limit=limit, threshold=threshold)

    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        _, distance = await self._schema(collection)
        wanted = unique_ids(ids)
        if not wanted:
            return []
        client = await self._connect()
        async with self._translated(collection):
            records = await client.retrieve(
                collection, [str(i) for i in wanted], with_payload=True, with_vectors=True
            )
        return ordered_by_request((_point_out(r, distance) for r in records), wanted)

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        _, distance = await self._schema(collection)
        check_limit(limit)
        checked = conditions(filter)
        if matches_nothing(checked):
            return []
        client = await self._connect()
        points: list[VectorPoint] = []
        offset: Any = None
        async with self._translated(collection):
            while len(points) < limit:
                records, offset = await client.scroll(
                    collection,
                    scroll_filter=_filter(checked),
                    limit=min(SCROLL_PAGE, limit - len(points)),
                    offset=offset,
                    with_payload=True,
                    with_vectors=True,
                )
                points.extend(_point_out(record, distance) for record in records)
                if offset is None:
                    break
        return points

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        await self._schema(collection)
        wanted = unique_ids(ids)
        if not wanted:
            return
        client = await self._connect()
        async with self._translated(collection):
            await client.delete(
                collection,
                points_selector=models.PointIdsList(points=[str(i) for i in wanted]),
                wait=True,
            )

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        await self._schema(collection)
        checked = delete_conditions(filter)
        if matches_nothing(checked):
            return
        client = await self._connect()
        async with self._translated(collection):
            await client.delete(
                collection,
                points_selector=models.FilterSelector(filter=models.Filter(must=_must(checked))),
                wait=True,
            )

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        await self._schema(collection)
        checked = conditions(filter)
        if matches_nothing(checked):
            return 0
        client = await self._connect()
        async with self._translated(collection):
            result = await client.count(collection, count_filter=_filter(checked), exact=True)
        return int(result.count)

    async def collections(self) -> list[CollectionInfo]:
        """Every collection of the port's shape, by name, with its exact point count."""
        client = await self._connect()
        async with self._translated(None):
            names = sorted(c.name for c in (await client.get_collections()).collections)
        infos = []
        for name in names:
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
        client = await self._connect()
        self._schemas.pop(name, None)
        async with self._translated(name):
            if not await client.collection_exists(name):
                return False
            await client.delete_collection(name)
        return True

    async def snapshot(self) -> list[tuple[str, str, int]]:
        """Have the server snapshot every collection; ``(collection, snapshot name, size
        in bytes)`` for each. Local mode keeps no snapshots: UnavailableError there (its
        directory can be copied instead, or the store rebuilt from the index)."""
        if self._url is None:
            raise UnavailableError(
                f"Qdrant {self.where} runs in local mode, which takes no snapshots: copy its"
                " directory, or rebuild it with 'codeant vectors rebuild'"
            )
        client = await self._connect()
        taken = []
        for info in await self.collections():
            async with self._translated(info.name):
                described = await client.create_snapshot(collection_name=info.name, wait=True)
            if described is None:
                raise UnavailableError(f"Qdrant {self.where} took no snapshot of {info.name}")
            taken.append((info.name, described.name, int(described.size)))
        return taken

    async def aclose(self) -> None:
        """Close the client (a later call connects again)."""
        client, self._client = self._client, None
        self._schemas.clear()
        if client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"QdrantVectorStore({self.where})"

    # ----------------------------------------------------------------------- internals

    async def _connect(self) -> AsyncQdrantClient:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = (
                        AsyncQdrantClient(
                            url=self._url,
                            api_key=self._api_key,
                            timeout=math.ceil(self._timeout),
                            check_compatibility=False,
                        )
                        if self._url is not None
                        else AsyncQdrantClient(path=self._path)
                        if self._path != ":memory:"
                        else AsyncQdrantClient(location=":memory:")
                    )
                except (RuntimeError, OSError) as exc:  # local storage locked or unreadable
                    raise UnavailableError(f"cannot open Qdrant {self.where}: {exc}") from exc
        return self._client

    async def _schema(self, name: str) -> Schema:
        """The dimension and distance of collection ``name``; NotFoundError if missing."""
        check_name(name)
        known = self._schemas.get(name)
        if known is not None:
            return known
        client = await self._connect()
        async with self._translated(name):
            info = await client.get_collection(name)
        schema = _schema_of(name, info)
        self._schemas[name] = schema
        return schema

    async def _create(self, client: AsyncQdrantClient, name: str, schema: Schema) -> None:
        dimension, distance = schema
        try:
            await client.create_collection(
                name,
                vectors_config=models.VectorParams(size=dimension, distance=_DISTANCES[distance]),
            )
        except (UnexpectedResponse, ValueError) as exc:
            if _already_exists(exc):  # another process created it meanwhile
                return
            raise

    async def _index(
        self, client: AsyncQdrantClient, name: str, keys: Sequence[str], schema: Mapping[str, Any]
    ) -> None:
        """A keyword index on each of ``keys`` that collection ``name`` lacks (``schema``:
        its payload indexes); local mode has no indexes and needs none."""
        if self.local:
            return
        for key in keys:
            if key not in schema:
                await client.create_payload_index(
                    name, key, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                )

    @contextlib.asynccontextmanager
    async def _translated(self, collection: str | None) -> AsyncIterator[None]:
        """Re-raise client errors of the block as port errors (forgetting the schema of a
        collection found missing)."""
        try:
            yield
        except PersistenceError:
            raise
        except UnexpectedResponse as exc:
            if exc.status_code == 404 and collection is not None:
                self._schemas.pop(collection, None)
                raise NotFoundError("collection", collection) from exc
            detail = _detail(exc)
            if exc.status_code in (400, 409, 422):
                raise ValidationError(
                    "request", collection or "", f"refused by Qdrant: {detail}", entity="Qdrant"
                ) from exc
            raise UnavailableError(
                f"Qdrant at {self.where} answered {exc.status_code}: {detail}"
            ) from exc
        except (ResponseHandlingException, httpx.HTTPError, OSError) as exc:
            raise UnavailableError(f"Qdrant at {self.where} is unreachable: {exc}") from exc
        except ValueError as exc:  # local mode reports problems as ValueError
            if "not found" in str(exc) and collection is not None:
                self._schemas.pop(collection, None)
                raise NotFoundError("collection", collection) from exc
            raise ValidationError(
                "request", collection or "", f"refused by Qdrant: {exc}", entity="Qdrant"
            ) from exc
        except RuntimeError as exc:  # local mode: the client was closed
            raise UnavailableError(f"Qdrant {self.where}: {exc}") from exc


# --------------------------------------------------------------------------- conversions


def _schema_of(name: str, info: models.CollectionInfo) -> Schema:
    params = info.config.params.vectors
    distance = None
    if isinstance(params, models.VectorParams):
        distance = _PORT_DISTANCES.get(params.distance)
    if not isinstance(params, models.VectorParams) or distance is None:
        raise ValidationError(
            "collection",
            name,
            "is not a collection of one unnamed vector with cosine, dot or euclidean distance",
            entity="Qdrant",
        )
    return params.size, distance


def _struct(point: VectorPoint, distance: Distance) -> models.PointStruct:
    payload = dict(point.payload)
    if NORM_KEY in payload:
        raise ValidationError(
            "payload", NORM_KEY, "is a key reserved by the Qdrant store", entity="VectorStore"
        )
    if distance is Distance.COSINE:
        payload[NORM_KEY] = math.sqrt(math.fsum(x * x for x in point.vector))
    return models.PointStruct(id=str(point.id), vector=list(point.vector), payload=payload)


def _payload_out(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (payload or {}).items() if k != NORM_KEY}


def _point_out(record: models.Record, distance: Distance) -> VectorPoint:
    stored = record.vector
    if not isinstance(stored, list) or not all(isinstance(x, int | float) for x in stored):
        raise ValidationError(
            "vector", type(stored).__name__, "is not one dense vector", entity="Qdrant"
        )
    vector = [float(x) for x in cast(list[float], stored)]
    if distance is Distance.COSINE:  # back to the length it was upserted with
        length = math.sqrt(math.fsum(x * x for x in vector))
        norm = float((record.payload or {}).get(NORM_KEY, length))
        vector = [x * norm / length for x in vector] if length > 0 else vector
    return VectorPoint(
        id=uuid.UUID(str(record.id)), vector=Vector(vector), payload=_payload_out(record.payload)
    )


def _filter(checked: Conditions) -> models.Filter | None:
    return models.Filter(must=_must(checked)) if checked else None


def _must(checked: Conditions) -> list[models.Condition]:
    return [_condition(key, accepted) for key, accepted in checked.items()]


def _condition(key: str, accepted: tuple[Any, ...]) -> models.Condition:
    """Any of ``accepted`` (never empty): strings in one MatchAny, other values each."""
    strings = [value for value in accepted if isinstance(value, str)]
    options: list[models.Condition] = [_equal(key, v) for v in accepted if not isinstance(v, str)]
    if len(strings) == 1:
        options.append(_equal(key, strings[0]))
    elif strings:
        options.append(models.FieldCondition(key=key, match=models.MatchAny(any=strings)))
    return options[0] if len(options) == 1 else models.Filter(should=options)


def _equal(key: str, value: Any) -> models.FieldCondition:
    """Strings and booleans match as they are; numbers by value (3 matches 3.0)."""
    if isinstance(value, str | bool):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


def _already_exists(exc: Exception) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 409
    return "already exists" in str(exc)


def _detail(exc: UnexpectedResponse) -> str:
    """The error message of a Qdrant answer, else its raw content."""
    try:
        return str(json.loads(exc.content)["status"]["error"])
    except (ValueError, KeyError, TypeError):
        return exc.content.decode("utf-8", "replace")[:200] or str(exc.reason_phrase)
