"""Exact nearest neighbours in process, with numpy: implements
:class:`ports.vectors.NearestNeighbours`.

Only the eligible vectors can be found, so they alone are compared: the eligible queries
first, then the other eligible vectors. Similarity is symmetric, so each pair of eligible
queries is computed once: a block of their rows is multiplied by the vectors from the
block on (one float32 matrix product, sized to stay near 64 MiB), the product's rows give
the block's best candidates and its columns those of the queries after it. A query that
is not eligible itself is compared with every eligible vector. Wherever a row (or column)
reaches the threshold, the candidates within a margin of its best in that block (which
covers float32's rounding) are kept; once every block is done, those within the margin
of the query's best overall are scored again in float64, where similarities within 1e-12
of one another count as equal (equal vectors, whatever rounding the product kernel adds),
so ties go to the lowest index as the port says. Similarities are capped at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from domain.vectors import Vector

if TYPE_CHECKING:  # numpy itself loads with the first search, not with the adapters
    import numpy as np

__all__ = ["ExactNeighbours", "matrix_of"]

_BLOCK_CELLS = 1 << 24
"""Rows times columns of one block of the similarity matrix (64 MiB of float32)."""
_BLOCK_ROWS = 1024
"""The most query rows of a block: the pairs within a block are computed both ways, so
smaller blocks waste less of the symmetry, larger ones make fewer, larger products."""
_MARGIN = 1e-4
"""How far below the float32 best a candidate is scored again in float64."""
_TIE = 1e-12
"""float64 similarities this close are the same similarity (equal vectors)."""


def matrix_of(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """``vectors`` as one float64 matrix, a row each: Vectors of one length from their
    bytes at once, anything else as numpy reads it."""
    import numpy as np

    rows = [v for v in vectors if type(v) is Vector]
    if rows and len(rows) == len(vectors) and len({len(v) for v in rows}) == 1:
        flat = np.frombuffer(b"".join(v.to_bytes() for v in rows), dtype=np.float32)
        return flat.reshape(len(rows), len(rows[0])).astype(np.float64)
    return np.asarray(vectors, dtype=np.float64)


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

        exact = matrix_of(vectors)
        if exact.ndim != 2 or len(eligible) != len(exact):
            raise ValueError("vectors must be one sequence of equal-length vectors per flag")
        norms = np.linalg.norm(exact, axis=1)
        unit = np.divide(exact, norms[:, None], out=np.zeros_like(exact), where=norms[:, None] > 0)
        allowed = np.asarray(eligible, dtype=bool)
        wanted = np.asarray(queries, dtype=np.int64)
        asked = np.unique(wanted)
        both = asked[allowed[asked]]  # eligible queries: compared with one another once
        alone = asked[~allowed[asked]]
        targets = np.concatenate([both, np.setdiff1d(np.flatnonzero(allowed), both)])
        found = _Pass(unit, targets, both, alone, min_similarity).answers()
        return [found.get(q) for q in wanted.tolist()]


class _Pass:
    """One call's pass (see the module docstring). Its slots are the queries: the
    eligible ones (``both``, the first rows of the eligible vectors), then the others
    (``alone``)."""

    def __init__(
        self,
        unit: np.ndarray,
        targets: np.ndarray,
        both: np.ndarray,
        alone: np.ndarray,
        min_similarity: float,
    ) -> None:
        import numpy as np

        self._np = np
        self.unit = unit
        self.targets = targets  # the eligible vectors' indexes, the queries' first
        self.fast = unit[targets].astype(np.float32)
        self.slots = np.concatenate([both, alone])  # each slot's query
        self.top = np.full(len(self.slots), -np.inf, dtype=np.float32)
        self.min_similarity = min_similarity
        self.hot = min_similarity - _MARGIN  # a best below it finds nothing
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # slot, target, score
        self._symmetric(len(both))
        self._rectangular(unit[alone].astype(np.float32), len(both))

    def _symmetric(self, count: int) -> None:
        """The eligible queries (the first ``count`` rows) against every row from theirs
        on, each pair once: a block's columns of later queries are their rows."""
        np = self._np
        step = max(1, min(_BLOCK_ROWS, _BLOCK_CELLS // max(1, len(self.fast))))
        for start in range(0, count, step):
            end = min(start + step, count)
            scores = self.fast[start:end] @ self.fast[start:].T
            inner = np.arange(end - start)
            scores[inner, inner] = -np.inf  # a vector is no neighbour of itself
            self._fold(scores, start, start)
            if end < count:
                self._fold(scores[:, end - start : count - start].T, end, start)

    def _rectangular(self, rows: np.ndarray, first_slot: int) -> None:
        """``rows``, queries that are not eligible themselves, against every eligible row."""
        step = max(1, _BLOCK_CELLS // max(1, len(self.fast)))
        for start in range(0, len(rows), step):
            self._fold(rows[start : start + step] @ self.fast.T, first_slot + start, 0)

    def _fold(self, scores: np.ndarray, first_slot: int, first_column: int) -> None:
        """Take in one block: row ``i`` of ``scores`` is slot ``first_slot + i`` against the
        eligible rows from ``first_column`` on."""
        np = self._np
        if scores.size == 0:
            return
        best = scores.max(axis=1)
        slots = slice(first_slot, first_slot + len(best))
        np.maximum(self.top[slots], best, out=self.top[slots])
        hot = np.flatnonzero(best >= self.hot)
        if len(hot):
            block = scores[hot]
            row, column = np.nonzero(block >= (best[hot] - _MARGIN)[:, None])
            self.kept.append((hot[row] + first_slot, column + first_column, block[row, column]))

    def answers(self) -> dict[int, tuple[int, float]]:
        """Each query's answer, when it has one: its candidates within the margin of its
        float32 best, scored again in float64."""
        np = self._np
        if not self.kept:
            return {}
        slots, columns, scores = (np.concatenate(part) for part in zip(*self.kept, strict=True))
        near = scores >= self.top[slots] - _MARGIN
        slots, targets = slots[near], self.targets[columns[near]]
        order = np.lexsort((targets, slots))  # by slot, then index: ties to the lowest
        slots, targets = slots[order], targets[order]
        bounds = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1], True])
        found: dict[int, tuple[int, float]] = {}
        for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            query = int(self.slots[slots[start]])
            candidates = targets[start:end]
            exact = self.unit[candidates] @ self.unit[query]
            high = float(exact.max())
            if high >= self.min_similarity:
                index = int(candidates[np.flatnonzero(exact >= high - _TIE)[0]])
                found[query] = (index, min(1.0, high))
        return found
