"""An in-process implementation of the vector store port: exact (brute-force) search."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from adapters.exact_neighbours import matrix_of
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
    copy_payload,
    delete_conditions,
    mismatch_error,
    rank,
    unique_ids,
    within,
)
from ports.errors import NotFoundError
from ports.vectors import CollectionInfo, Distance, ScoredPoint, VectorFilter, VectorPoint

__all__ = ["MemoryVectorStore"]


@attrs.define
class _Collection:
    dimension: int
    distance: Distance
    points: dict[uuid.UUID, VectorPoint] = attrs.Factory(dict)
    # the points in a fixed order and their vectors as one matrix, rebuilt after a change
    _order: list[VectorPoint] | None = None
    _matrix: npt.NDArray[np.float64] | None = None

    def changed(self) -> None:
        self._order = self._matrix = None

    def arrays(self) -> tuple[list[VectorPoint], npt.NDArray[np.float64]]:
        if self._order is None or self._matrix is None:
            self._order = list(self.points.values())
            self._matrix = matrix_of([p.vector for p in self._order]).reshape(
                len(self._order), self.dimension
            )
        return self._order, self._matrix


class MemoryVectorStore:
    """Implements :class:`ports.vectors.VectorStore` with exact search over every point.

    Collection names are 1 to 255 letters, digits, ``_`` or ``-``. Filters map payload keys
    to a str, int, float or bool (equal values match) or a list of them (any listed value
    matches; an empty list matches nothing); a point whose payload lacks the key never
    matches. Points are copied on the way in and out, so callers never share the stored
    payloads. For COSINE, a zero vector scores 0 against everything.
    """

    def __init__(self) -> None:
        self._collections: dict[str, _Collection] = {}

    async def ensure_collection(
        self,
        name: str,
        *,
        dimension: int,
        distance: Distance = Distance.COSINE,
        indexed: Sequence[str] = (),
    ) -> None:
        check_name(name)
        check_indexed(indexed)  # no payload indexes: every filter is a scan
        wanted = (check_dimension(dimension), check_distance(distance))
        existing = self._collections.get(name)
        if existing is None:
            self._collections[name] = _Collection(*wanted)
        elif (existing.dimension, existing.distance) != wanted:
            raise mismatch_error(name, (existing.dimension, existing.distance), wanted)

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        target = self._get(collection)
        for point in check_points(points, target.dimension):
            target.points[point.id] = point
        target.changed()

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: VectorFilter | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredPoint]:
        target = self._get(collection)
        query = check_vector(vector, target.dimension)
        check_limit(limit)
        threshold = check_threshold(score_threshold)
        checked = conditions(filter)
        order, matrix = target.arrays()
        if checked:
            keep = [i for i, p in enumerate(order) if _matches(p.payload, checked)]
            order, matrix = [order[i] for i in keep], matrix[keep]
        if not order:
            return []
        scores = _scores(target.distance, matrix_of([query])[0], matrix)
        # closeness: higher is closer; keep the best ``limit`` and everything tied with them
        closeness = -scores if target.distance is Distance.EUCLIDEAN else scores
        if len(order) > limit:
            kth = np.partition(closeness, len(order) - limit)[len(order) - limit]
            chosen = np.nonzero(closeness >= kth)[0]
        else:
            chosen = np.arange(len(order))
        hits = rank(
            (
                ScoredPoint(id=order[i].id, score=float(scores[i]), payload=order[i].payload)
                for i in chosen.tolist()
            ),
            target.distance,
        )
        return [
            ScoredPoint(id=hit.id, score=hit.score, payload=copy_payload(hit.payload))
            for hit in within(hits, target.distance, threshold)[:limit]
        ]

    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        """The stored points of ``ids``, in that order; unknown ids are skipped."""
        target = self._get(collection)
        return [_copy_point(target.points[i]) for i in unique_ids(ids) if i in target.points]

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        target = self._get(collection)
        check_limit(limit)
        matching = sorted(self._matching(target, filter), key=lambda p: p.id)
        return [_copy_point(point) for point in matching[:limit]]

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        target = self._get(collection)
        for point_id in unique_ids(ids):
            target.points.pop(point_id, None)
        target.changed()

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        """Delete the points matching ``filter``, which must hold at least one condition."""
        target = self._get(collection)
        checked = delete_conditions(filter)
        for point in [p for p in target.points.values() if _matches(p.payload, checked)]:
            del target.points[point.id]
        target.changed()

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        return len(self._matching(self._get(collection), filter))

    async def collections(self) -> list[CollectionInfo]:
        """Every collection, by name."""
        return [
            CollectionInfo(name, c.dimension, c.distance, len(c.points))
            for name, c in sorted(self._collections.items())
        ]

    async def drop_collection(self, name: str) -> bool:
        """Delete collection ``name`` and its points; whether it existed."""
        return self._collections.pop(check_name(name), None) is not None

    def _get(self, name: str) -> _Collection:
        found = self._collections.get(check_name(name))
        if found is None:
            raise NotFoundError("collection", name)
        return found

    def _matching(self, target: _Collection, filter: VectorFilter | None) -> list[VectorPoint]:
        checked = conditions(filter)
        return [p for p in target.points.values() if _matches(p.payload, checked)]


# --------------------------------------------------------------------------- scoring


def _scores(
    distance: Distance, query: npt.NDArray[np.float64], matrix: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    if distance is Distance.EUCLIDEAN:
        result: npt.NDArray[np.float64] = np.linalg.norm(matrix - query, axis=1)
        return result
    dots: npt.NDArray[np.float64] = matrix @ query
    if distance is Distance.DOT:
        return dots
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine: npt.NDArray[np.float64] = np.where(norms > 0, dots / norms, 0.0)
    return cosine


# --------------------------------------------------------------------------- filters


def _matches(payload: Any, checked: Conditions) -> bool:
    for key, accepted in checked.items():
        if key not in payload:
            return False
        actual = payload[key]
        if not any(_same(actual, value) for value in accepted):
            return False
    return True


def _same(actual: Any, wanted: Any) -> bool:
    """Equality that does not confuse booleans with the numbers 0 and 1."""
    return isinstance(actual, bool) == isinstance(wanted, bool) and bool(actual == wanted)


def _copy_point(point: VectorPoint) -> VectorPoint:
    return VectorPoint(id=point.id, vector=point.vector, payload=copy_payload(point.payload))
