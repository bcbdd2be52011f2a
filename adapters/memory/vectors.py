"""An in-process implementation of the vector store port: exact (brute-force) search."""

from __future__ import annotations

import copy
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ports.errors import NotFoundError, ValidationError
from ports.vectors import CollectionInfo, Distance, ScoredPoint, VectorFilter, VectorPoint

__all__ = ["MemoryVectorStore"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_SCALARS = (str, int, float)  # bool is an int


@attrs.define
class _Collection:
    dimension: int
    distance: Distance
    points: dict[uuid.UUID, VectorPoint] = attrs.Factory(dict)


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
        self, name: str, *, dimension: int, distance: Distance = Distance.COSINE
    ) -> None:
        _check_name(name)
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
            raise ValidationError(
                "dimension", dimension, "must be a positive integer", entity="VectorStore"
            )
        try:
            distance = Distance(distance)
        except ValueError:
            allowed = ", ".join(d.value for d in Distance)
            raise ValidationError(
                "distance", distance, f"must be one of: {allowed}", entity="VectorStore"
            ) from None
        existing = self._collections.get(name)
        if existing is None:
            self._collections[name] = _Collection(dimension, distance)
        elif (existing.dimension, existing.distance) != (dimension, distance):
            raise ValidationError(
                "collection",
                name,
                f"exists with dimension {existing.dimension} and distance "
                f"{existing.distance.value}, not dimension {dimension} and distance "
                f"{distance.value}",
                entity="VectorStore",
            )

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        target = self._get(collection)
        stored = [_stored_point(point, target.dimension) for point in points]
        for point in stored:
            target.points[point.id] = point

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
        query = _vector(vector, target.dimension)
        _check_limit(limit)
        if score_threshold is not None and (
            not isinstance(score_threshold, int | float)
            or isinstance(score_threshold, bool)
            or not math.isfinite(score_threshold)
        ):
            raise ValidationError(
                "score_threshold", score_threshold, "must be a finite number", entity="VectorStore"
            )
        candidates = self._matching(target, filter)
        if not candidates:
            return []
        scores = _scores(
            target.distance,
            np.array(query, dtype=np.float64),
            np.array([p.vector for p in candidates], dtype=np.float64),
        )
        # Sort keys grow with remoteness: distances as they are, similarities negated.
        direction = 1.0 if target.distance is Distance.EUCLIDEAN else -1.0
        hits = [
            (point, score)
            for point, score in zip(candidates, scores.tolist(), strict=True)
            if score_threshold is None or direction * score <= direction * score_threshold
        ]
        hits.sort(key=lambda hit: (direction * hit[1], hit[0].id))
        return [
            ScoredPoint(id=point.id, score=float(score), payload=_copy_payload(point.payload))
            for point, score in hits[:limit]
        ]

    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        """The stored points of ``ids``, in that order; unknown ids are skipped."""
        target = self._get(collection)
        found: dict[uuid.UUID, VectorPoint] = {}
        for point_id in ids:
            point = target.points.get(_check_id(point_id))
            if point is not None:
                found[point_id] = point
        return [_copy_point(point) for point in found.values()]

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        target = self._get(collection)
        _check_limit(limit)
        matching = sorted(self._matching(target, filter), key=lambda p: p.id)
        return [_copy_point(point) for point in matching[:limit]]

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        target = self._get(collection)
        for point_id in [_check_id(i) for i in ids]:
            target.points.pop(point_id, None)

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        """Delete the points matching ``filter``, which must hold at least one condition."""
        target = self._get(collection)
        if not isinstance(filter, Mapping) or not filter:
            raise ValidationError(
                "filter", filter, "must hold at least one condition", entity="VectorStore"
            )
        for point in self._matching(target, filter):
            del target.points[point.id]

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        return len(self._matching(self._get(collection), filter))

    async def collections(self) -> list[CollectionInfo]:
        """Every collection, by name."""
        return [
            CollectionInfo(name, c.dimension, c.distance, len(c.points))
            for name, c in sorted(self._collections.items())
        ]

    def _get(self, name: str) -> _Collection:
        _check_name(name)
        found = self._collections.get(name)
        if found is None:
            raise NotFoundError("collection", name)
        return found

    def _matching(self, target: _Collection, filter: VectorFilter | None) -> list[VectorPoint]:
        conditions = _conditions(filter)
        return [p for p in target.points.values() if _matches(p.payload, conditions)]


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


def _conditions(filter: VectorFilter | None) -> dict[str, tuple[Any, ...]]:
    """Each condition as the tuple of values it accepts."""
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise ValidationError(
            "filter", filter, "must map payload keys to values", entity="VectorStore"
        )
    conditions: dict[str, tuple[Any, ...]] = {}
    for key, wanted in filter.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(
                "filter", key, "keys must be non-empty strings", entity="VectorStore"
            )
        accepted = tuple(wanted) if isinstance(wanted, list | tuple) else (wanted,)
        for value in accepted:
            if not isinstance(value, _SCALARS):
                raise ValidationError(
                    f"filter[{key!r}]",
                    value,
                    "must be a str, int, float or bool, or a list of them",
                    entity="VectorStore",
                )
        conditions[key] = accepted
    return conditions


def _matches(payload: Mapping[str, Any], conditions: Mapping[str, tuple[Any, ...]]) -> bool:
    for key, accepted in conditions.items():
        if key not in payload:
            return False
        actual = payload[key]
        if not any(_same(actual, value) for value in accepted):
            return False
    return True


def _same(actual: Any, wanted: Any) -> bool:
    """Equality that does not confuse booleans with the numbers 0 and 1."""
    return isinstance(actual, bool) == isinstance(wanted, bool) and bool(actual == wanted)


# --------------------------------------------------------------------------- checks


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            "collection",
            name,
            "must be 1 to 255 letters, digits, '_' or '-'",
            entity="VectorStore",
        )


def _check_limit(limit: Any) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError("limit", limit, "must be a positive integer", entity="VectorStore")


def _check_id(point_id: Any) -> uuid.UUID:
    if not isinstance(point_id, uuid.UUID):
        raise ValidationError("id", point_id, "must be a UUID", entity="VectorStore")
    return point_id


def _vector(values: Any, dimension: int) -> tuple[float, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ValidationError(
            "vector", values, "must be a sequence of numbers", entity="VectorStore"
        )
    if len(values) != dimension:
        raise ValidationError(
            "vector",
            f"{len(values)} components",
            f"must have {dimension} components, the dimension of the collection",
            entity="VectorStore",
        )
    out = []
    for x in values:
        if (
            isinstance(x, bool)
            or not isinstance(x, int | float | np.number)
            or not math.isfinite(x)
        ):
            raise ValidationError(
                "vector", x, "components must be finite numbers", entity="VectorStore"
            )
        out.append(float(x))
    return tuple(out)


def _stored_point(point: Any, dimension: int) -> VectorPoint:
    if not isinstance(point, VectorPoint):
        raise ValidationError(
            "points", point, "must hold VectorPoint objects", entity="VectorStore"
        )
    if not isinstance(point.payload, Mapping):
        raise ValidationError("payload", point.payload, "must be a mapping", entity="VectorStore")
    return VectorPoint(
        id=_check_id(point.id),
        vector=_vector(point.vector, dimension),
        payload=_copy_payload(point.payload),
    )


def _copy_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(payload))


def _copy_point(point: VectorPoint) -> VectorPoint:
    return VectorPoint(id=point.id, vector=point.vector, payload=_copy_payload(point.payload))
