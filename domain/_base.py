"""Building blocks shared by the entity modules: the clock and entity identity."""

from __future__ import annotations

import datetime as dt
import uuid

__all__ = ["Entity", "utc_now"]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class Entity:
    """Entities compare and hash by type and identifier, not by their current state."""

    __slots__ = ()
    id: uuid.UUID | str

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.id == other.id)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))
