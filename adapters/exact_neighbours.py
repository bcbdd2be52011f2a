"""Exact nearest neighbours in process, with numpy: implements
:class:`ports.vectors.NearestNeighbours`.

The similarities of a block of query vectors to every vector are one float32 matrix
product (blocks sized to keep the product near 64 MiB); each query's best candidates
(within a margin of the float32 best, which covers float32's rounding) are then scored
again in float64, where similarities within 1e-12 of one another count as equal (equal
vectors, whatever rounding the product kernel adds), so ties go to the lowest index as the
port says. Similarities are capped at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy itself loads with the first search, not with the adapters
    import numpy as np

__all__ = ["ExactNeighbours"]

_BLOCK_CELLS = 1 << 24
"""Query rows times vectors per block of the similarity matrix (64 MiB of float32)."""
_MARGIN = 1e-4
"""How far below the float32 best a candidate is scored again in float64."""
_TIE = 1e-12
"""float64 similarities this close are the same similarity (equal vectors)."""


class ExactNeighbours:
    """Implements :class:`ports.vectors.NearestNeighbours` by blockwise matrix products
    (see the module docstring)."""

    def closest(
        self,
        vectors: Sequence[Sequence[float]],
        queries: Sequence[int],
        eligible: Sequence[bool],
        min_similarity: float,
    ) -> list[tuple[int, float] | None]:
        if not queries:
            return []
        import numpy as np

        exact = np.asarray(vectors, dtype=np.float64)
        if exact.ndim != 2 or len(eligible) != len(exact):
            raise ValueError("vectors must be one sequence of equal-length vectors per flag")
        norms = np.linalg.norm(exact, axis=1)
        unit = np.divide(exact, norms[:, None], out=np.zeros_like(exact), where=norms[:, None] > 0)
        fast = unit.astype(np.float32)
        allowed = np.asarray(eligible, dtype=bool)
        wanted = np.asarray(queries, dtype=np.int64)
        found: list[tuple[int, float] | None] = []
        block = max(1, _BLOCK_CELLS // max(1, len(fast)))
        for start in range(0, len(wanted), block):
            rows = wanted[start : start + block]
            scores = fast[rows] @ fast.T
            scores[:, ~allowed] = -np.inf
            scores[np.arange(len(rows)), rows] = -np.inf
            best = scores.max(axis=1)
            for row, query, top in zip(scores, rows, best, strict=True):
                found.append(self._best(unit, row, int(query), float(top), min_similarity))
        return found

    @staticmethod
    def _best(
        unit: np.ndarray, row: np.ndarray, query: int, top: float, min_similarity: float
    ) -> tuple[int, float] | None:
        import numpy as np

        if not np.isfinite(top) or top < min_similarity - _MARGIN:
            return None
        candidates = np.flatnonzero(row >= top - _MARGIN)
        target = unit[query]
        scores = unit[candidates] @ target
        high = float(scores.max())
        if high < min_similarity:
            return None
        index = int(candidates[np.flatnonzero(scores >= high - _TIE)[0]])
        return index, min(1.0, high)
