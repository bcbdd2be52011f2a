"""The vector store and embedder ports."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from domain.vectors import Vector

__all__ = [
    "CollectionInfo",
    "Distance",
    "Embedder",
    "NearestNeighbours",
    "ScoredPoint",
    "VectorFilter",
    "VectorPoint",
    "VectorStore",
]


class Distance(enum.StrEnum):
    COSINE = "cosine"
    DOT = "dot"
    EUCLIDEAN = "euclidean"


@attrs.frozen
class VectorPoint:
    """A point to store, or as stored: a store takes any sequence of numbers as its
    vector (checked and made a :class:`~domain.vectors.Vector`) and gives back Vectors."""

    id: uuid.UUID
    vector: Sequence[float]
    payload: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ScoredPoint:
    id: uuid.UUID
    score: float
    payload: Mapping[str, Any]


@attrs.frozen
class CollectionInfo:
    name: str
    dimension: int
    distance: Distance
    points: int


VectorFilter = Mapping[str, Any]
"""Payload conditions, all of which must hold: ``{"language": "python"}`` matches equal
values, ``{"language": ["python", "go"]}`` any of the listed ones. Keys name top-level
payload keys of 1 to 255 letters, digits, ``_`` or ``-``; values are a str, int, finite
float or bool, or a list of them (anything else raises ValidationError). An empty list
matches nothing; a point whose payload lacks the key never matches; numbers match by value
(``1`` matches ``1.0``), and booleans never match numbers."""


class VectorStore(Protocol):
    """Named collections of fixed-dimension vectors with payloads.

    Scores: cosine similarity for COSINE, the dot product for DOT (higher is closer), the
    Euclidean distance for EUCLIDEAN (lower is closer); ``score_threshold`` keeps hits at
    least that close (a minimum similarity, or a maximum distance, inclusive). Search
    results are ordered closest first, ties by id. Collection names are 1 to 255 letters,
    digits, ``_`` or ``-``. Operations on a missing collection raise
    :class:`~ports.errors.NotFoundError`; a vector of the wrong dimension, a bad name,
    limit or filter (see :data:`VectorFilter`) raise :class:`~ports.errors.ValidationError`
    before anything is written; an unreachable server :class:`~ports.errors.UnavailableError`.
    Payloads are copied: changing one after upserting it, or one that was read, changes
    nothing stored.
    """

    async def ensure_collection(
        self,
        name: str,
        *,
        dimension: int,
        distance: Distance = Distance.COSINE,
        indexed: Sequence[str] = (),
    ) -> None:
        """Create the collection if missing. If it exists with another dimension or
        distance, raise ValidationError naming both. ``indexed`` names the payload keys
        that filters use with string values (keys as in :data:`VectorFilter`): a store
        that indexes payload keys gives each of them an index, an existing collection
        gaining those it lacks; any other store checks them and goes on."""
        ...

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...
    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: VectorFilter | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredPoint]: ...
    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        """The stored points of ``ids`` (vectors included), in the order of ``ids``; ids
        not stored are skipped, and an id asked for twice comes once."""
        ...

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        """Points matching ``filter`` (vectors included), at most ``limit``, by id."""
        ...

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        """Delete the points of ``ids``; ids not stored are ignored."""
        ...

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        """Delete the points matching ``filter``; an empty filter (which would delete
        everything) raises ValidationError."""
        ...

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        """How many points match ``filter`` (all of them without one), exactly."""
        ...

    async def collections(self) -> list[CollectionInfo]:
        """Every collection with its dimension, distance and point count, by name."""
        ...

    async def drop_collection(self, name: str) -> bool:
        """Delete collection ``name`` and its points; whether it existed."""
        ...


class Embedder(Protocol):
    """Turns code into vectors of a fixed ``dimension``, deterministically."""

    @property
    def dimension(self) -> int: ...
    @property
    def model_name(self) -> str: ...
    async def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class NearestNeighbours(Protocol):
    """Exact nearest neighbours by cosine similarity among one set of vectors, all
    compared with all in one pass (no index, no round trip per vector)."""

    def closest(
        self,
        vectors: Sequence[Sequence[float]],
        queries: Sequence[int],
        eligible: Sequence[bool],
        min_similarity: float,
    ) -> list[tuple[int, float] | None]:
        """For each index of ``queries`` (into ``vectors``), the index of the most similar
        other vector whose ``eligible`` flag is set, with its cosine similarity, when that
        is at least ``min_similarity`` (a zero vector is 0 similar to any); else None.
        Ties go to the lowest index. Equal vectors are exactly as similar as one another."""
        ...
