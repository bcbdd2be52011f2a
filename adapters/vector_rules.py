"""The rules of :class:`ports.vectors.VectorStore` that every adapter applies alike: checks
of requests (names, dimensions, limits, vectors, points, filters) and the ranking of hits
(closest first, ties by id, the score threshold inclusive).

The checks raise :class:`ports.errors.ValidationError` naming the field and the value, so a
bad request fails the same way, before anything is written, whatever the store.
"""

from __future__ import annotations

import copy
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Sized
from typing import Any

from domain.vectors import Vector
from ports.errors import ValidationError
from ports.vectors import Distance, ScoredPoint, VectorFilter, VectorPoint

__all__ = [
    "TIE_WINDOW",
    "Conditions",
    "check_dimension",
    "check_distance",
    "check_id",
    "check_indexed",
    "check_limit",
    "check_name",
    "check_points",
    "check_threshold",
    "check_vector",
    "conditions",
    "copy_payload",
    "delete_conditions",
    "matches_nothing",
    "mismatch_error",
    "ordered_by_request",
    "rank",
    "top_hits",
    "unique_ids",
    "within",
]

_ENTITY = "VectorStore"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
"""Collection names and filter keys (which every store can then use verbatim)."""
_SCALARS = (str, int, float)  # bool is an int

TIE_WINDOW = 16
"""Extra hits :func:`top_hits` asks an index for beyond the limit, to see whether points
tied with the last one kept were left out."""

Conditions = dict[str, tuple[Any, ...]]
"""A checked filter: each payload key with the values it accepts (any of them)."""


# --------------------------------------------------------------------------- requests


def check_name(name: Any) -> str:
    """A collection name: 1 to 255 letters, digits, ``_`` or ``-``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            "collection", name, "must be 1 to 255 letters, digits, '_' or '-'", entity=_ENTITY
        )
    return name


def check_indexed(indexed: Any) -> tuple[str, ...]:
    """The payload keys a collection indexes: a sequence of 1 to 255 letters, digits,
    ``_`` or ``-`` each (the rule of filter keys), without repeats."""
    if isinstance(indexed, str) or not isinstance(indexed, Sequence):
        raise ValidationError(
            "indexed", indexed, "must be a sequence of payload keys", entity=_ENTITY
        )
    return tuple(dict.fromkeys(_check_key("indexed", key) for key in indexed))


def _check_key(field: str, key: Any) -> str:
    """A payload key, as filters and indexes name them."""
    if not isinstance(key, str) or not _NAME_RE.match(key):
        raise ValidationError(
            field, key, "keys must be 1 to 255 letters, digits, '_' or '-'", entity=_ENTITY
        )
    return key


def check_dimension(dimension: Any) -> int:
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
        raise ValidationError("dimension", dimension, "must be a positive integer", entity=_ENTITY)
    return dimension


def check_distance(distance: Any) -> Distance:
    try:
        return Distance(distance)
    except ValueError:
        allowed = ", ".join(d.value for d in Distance)
        raise ValidationError(
            "distance", distance, f"must be one of: {allowed}", entity=_ENTITY
        ) from None


def mismatch_error(
    name: str, existing: tuple[int, Distance], wanted: tuple[int, Distance]
) -> ValidationError:
    """The error of ensuring collection ``name`` with other settings than it has."""
    return ValidationError(
        "collection",
        name,
        f"exists with dimension {existing[0]} and distance {existing[1].value}, not "
        f"dimension {wanted[0]} and distance {wanted[1].value}",
        entity=_ENTITY,
    )


def check_limit(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError("limit", limit, "must be a positive integer", entity=_ENTITY)
    return limit


def check_threshold(threshold: Any) -> float | None:
    if threshold is None:
        return None
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not math.isfinite(threshold)
    ):
        raise ValidationError(
            "score_threshold", threshold, "must be a finite number", entity=_ENTITY
        )
    return float(threshold)


def check_id(point_id: Any) -> uuid.UUID:
    if not isinstance(point_id, uuid.UUID):
        raise ValidationError("id", point_id, "must be a UUID", entity=_ENTITY)
    return point_id


def unique_ids(ids: Iterable[Any]) -> list[uuid.UUID]:
    """``ids`` checked, each once, in their first order."""
    return list(dict.fromkeys(check_id(point_id) for point_id in ids))


_PLAIN_VALUES = frozenset({str, int, float, type(None)})
"""Payload values that need no copy (immutable)."""


def check_vector(values: Any, dimension: int) -> Vector:
    """``values`` as a :class:`~domain.vectors.Vector` of ``dimension`` components (a
    Vector as it is)."""
    try:
        vector = Vector(values)
    except (TypeError, ValueError) as exc:
        raise ValidationError("vector", _shown(values), str(exc), entity=_ENTITY) from None
    if len(vector) != dimension:
        raise ValidationError(
            "vector",
            f"{len(vector)} component" + ("" if len(vector) == 1 else "s"),
            f"must have {dimension} components, the dimension of the collection",
            entity=_ENTITY,
        )
    return vector


def _shown(values: Any) -> Any:
    """A vector's value as an error shows it: its type alone when it is long."""
    if isinstance(values, Sized) and len(values) > 8:
        return f"{type(values).__name__} of {len(values)} components"
    return values


def check_points(points: Any, dimension: int) -> list[VectorPoint]:
    """Checked copies of ``points`` (vectors as floats, payloads deep-copied); an id given
    twice keeps its last point, as if upserted one after the other."""
    if isinstance(points, VectorPoint) or not isinstance(points, Sequence):
        raise ValidationError(
            "points", points, "must be a sequence of VectorPoint objects", entity=_ENTITY
        )
    checked: dict[uuid.UUID, VectorPoint] = {}
    for point in points:
        if not isinstance(point, VectorPoint):
            raise ValidationError("points", point, "must hold VectorPoint objects", entity=_ENTITY)
        if not isinstance(point.payload, Mapping):
            raise ValidationError("payload", point.payload, "must be a mapping", entity=_ENTITY)
        point_id = check_id(point.id)
        checked.pop(point_id, None)
        checked[point_id] = VectorPoint(
            id=point_id,
            vector=check_vector(point.vector, dimension),
            payload=copy_payload(point.payload),
        )
    return list(checked.values())


def copy_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``payload`` (its immutable values shared)."""
    return {
        key: value if type(value) in _PLAIN_VALUES else copy.deepcopy(value)
        for key, value in payload.items()
    }


# --------------------------------------------------------------------------- filters


def conditions(filter: VectorFilter | None) -> Conditions:
    """Each condition of ``filter`` as the tuple of values it accepts."""
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise ValidationError("filter", filter, "must map payload keys to values", entity=_ENTITY)
    checked: Conditions = {}
    for key, wanted in filter.items():
        _check_key("filter", key)
        accepted = tuple(wanted) if isinstance(wanted, list | tuple) else (wanted,)
        for value in accepted:
            if not isinstance(value, _SCALARS) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise ValidationError(
                    f"filter[{key!r}]",
                    value,
                    "must be a str, int, finite float or bool, or a list of them",
                    entity=_ENTITY,
                )
        checked[key] = accepted
    return checked


def delete_conditions(filter: Any) -> Conditions:
    """The conditions of a filter that deletes: it must hold at least one."""
    if not isinstance(filter, Mapping) or not filter:
        raise ValidationError("filter", filter, "must hold at least one condition", entity=_ENTITY)
    return conditions(filter)


def matches_nothing(checked: Conditions) -> bool:
    """Whether a condition accepts no value (an empty any-of list)."""
    return any(not accepted for accepted in checked.values())


# --------------------------------------------------------------------------- ranking


def rank(hits: Iterable[ScoredPoint], distance: Distance) -> list[ScoredPoint]:
    """``hits`` closest first (highest similarity, or lowest distance), ties by id."""
    sign = 1.0 if distance is Distance.EUCLIDEAN else -1.0
    return sorted(hits, key=lambda hit: (sign * hit.score, hit.id))


def within(
    hits: Iterable[ScoredPoint], distance: Distance, threshold: float | None
) -> list[ScoredPoint]:
    """The ``hits`` at least as close as ``threshold`` (a minimum similarity, or a maximum
    Euclidean distance), in their order; all of them without a threshold."""
    if threshold is None:
        return list(hits)
    if distance is Distance.EUCLIDEAN:
        return [hit for hit in hits if hit.score <= threshold]
    return [hit for hit in hits if hit.score >= threshold]


async def top_hits(
    fetch: Callable[[int], Awaitable[list[ScoredPoint]]],
    distance: Distance,
    *,
    limit: int,
    threshold: float | None,
) -> list[ScoredPoint]:
    """The ``limit`` closest hits at least as close as ``threshold``, ranked, from an index
    that answers ``fetch(n)`` with its ``n`` closest hits in any order of equal scores.

    It asks for :data:`TIE_WINDOW` more than ``limit``; when every extra hit ties with the
    last one kept, points tied with it may have been left out, so it asks again for four
    times as many, until the ties end or the collection does. The threshold only cuts the
    ranked list, so it is applied here, inclusively, rather than by the index."""
    size = limit + TIE_WINDOW
    while True:
        ranked = rank(await fetch(size), distance)
        if len(ranked) < size or ranked[limit - 1].score != ranked[-1].score:
            break
        size *= 4
    return within(ranked[:limit], distance, threshold)


def ordered_by_request(found: Iterable[VectorPoint], ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
    """The points of ``found`` in the order of ``ids`` (ids not found are skipped)."""
    by_id = {point.id: point for point in found}
    return [by_id[point_id] for point_id in ids if point_id in by_id]
