"""The marker of an update argument that was not given: "leave this field as it is".

It is distinct from None, which for optional fields means "clear it".
"""

from __future__ import annotations

import enum
from typing import Final, Literal

__all__ = ["UNCHANGED", "Unchanged"]


class _Marker(enum.Enum):
    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


Unchanged = Literal[_Marker.UNCHANGED]
"""The type of :data:`UNCHANGED`, for annotations such as ``str | Unchanged``."""

UNCHANGED: Final = _Marker.UNCHANGED
