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

The pass runs once per index job, in a process that has not held such arrays before, so
it keeps what it allocates small: the vectors stay 32-bit until a candidate is scored
again (no 64-bit copy of them all), the unit vectors are made a slice at a time, and every
block's product is written into one buffer. Fresh memory costs a page fault per page the
first time it is touched: made anew for each block, the products took about 0.25 s more of
a 10,702-function pass than the products themselves.
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
_SLICE_ROWS = 2048
"""Rows of the unit vectors made at a time (6 MiB in float64 at 384 dimensions)."""
_MARGIN = 1e-4
"""How far below the float32 best a candidate is scored again in float64."""
_TIE = 1e-12
"""float64 similarities this close are the same similarity (equal vectors)."""


def matrix_of(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """``vectors`` as one float64 matrix, a row each (see :func:`_rows`)."""
    import numpy as np

    return np.asarray(_rows(vectors), dtype=np.float64)


def _rows(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """``vectors`` as one matrix, a row each, exactly: Vectors of one length from their
    bytes at once, as the 32-bit floats they are; anything else as numpy reads it, in
    float64."""
    import numpy as np

    rows = [v for v in vectors if type(v) is Vector]
    if rows and len(rows) == len(vectors) and len({len(v) for v in rows}) == 1:
        flat = np.frombuffer(b"".join(v.to_bytes() for v in rows), dtype=np.float32)
        return flat.reshape(len(rows), len(rows[0]))
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

        unit = _Unit(_rows(vectors))
        if unit.raw.ndim != 2 or len(eligible) != len(unit.raw):
            raise ValueError("vectors must be one sequence of equal-length vectors per flag")
        allowed = np.asarray(eligible, dtype=bool)
        wanted = np.asarray(queries, dtype=np.int64)
        asked = np.unique(wanted)
        both = asked[allowed[asked]]  # eligible queries: compared with one another once
        alone = asked[~allowed[asked]]
        targets = np.concatenate([both, np.setdiff1d(np.flatnonzero(allowed), both)])
        found = _Pass(unit, targets, both, alone, min_similarity).answers()
        return [found.get(q) for q in wanted.tolist()]


class _Unit:
    """The vectors ``raw`` (a row each) as unit vectors in float64, made for the rows
    asked, a slice at a time (a zero vector stays zero)."""

    def __init__(self, raw: np.ndarray) -> None:
        import numpy as np

        self._np = np
        self.raw = raw
        self.norms = np.empty(len(raw))
        for start in range(0, len(raw), _SLICE_ROWS):
            rows = raw[start : start + _SLICE_ROWS].astype(np.float64)
            self.norms[start : start + _SLICE_ROWS] = np.linalg.norm(rows, axis=1)

    def rows(self, indexes: np.ndarray) -> np.ndarray:
        """The unit vectors of the rows ``indexes``, in float64."""
        numpy = self._np
        exact = self.raw[indexes].astype(numpy.float64)
        norms = self.norms[indexes][:, None]
        unit: np.ndarray = numpy.divide(exact, norms, out=numpy.zeros_like(exact), where=norms > 0)
        return unit

    def float32(self, indexes: np.ndarray) -> np.ndarray:
        """:meth:`rows` rounded to 32-bit floats, made a slice at a time."""
        numpy = self._np
        out: np.ndarray = numpy.empty((len(indexes), self.raw.shape[1]), dtype=numpy.float32)
        for start in range(0, len(indexes), _SLICE_ROWS):
            out[start : start + _SLICE_ROWS] = self.rows(indexes[start : start + _SLICE_ROWS])
        return out


class _Pass:
    """One call's pass (see the module docstring). Its slots are the queries: the
    eligible ones (``both``, the first rows of the eligible vectors), then the others
    (``alone``)."""

    def __init__(
        self,
        unit: _Unit,
        targets: np.ndarray,
        both: np.ndarray,
        alone: np.ndarray,
        min_similarity: float,
    ) -> None:
        import numpy as np

        self._np = np
        self.unit = unit
        self.targets = targets  # the eligible vectors' indexes, the queries' first
        self.fast = unit.float32(targets)
        self.slots = np.concatenate([both, alone])  # each slot's query
        self.top = np.full(len(self.slots), -np.inf, dtype=np.float32)
        self.min_similarity = min_similarity
        self.hot = min_similarity - _MARGIN  # a best below it finds nothing
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # slot, target, score
        self._symmetric(len(both))
        self._rectangular(unit.float32(alone), len(both))

    def _symmetric(self, count: int) -> None:
        """The eligible queries (the first ``count`` rows) against every row from theirs
        on, each pair once: a block's columns of later queries are their rows."""
        np = self._np
        step = max(1, min(_BLOCK_ROWS, _BLOCK_CELLS // max(1, len(self.fast))))
        products = self._buffer(min(step, count) * len(self.fast))
        for start in range(0, count, step):
            end = min(start + step, count)
            scores = self._product(products, self.fast[start:end], self.fast[start:])
            inner = np.arange(end - start)
            scores[inner, inner] = -np.inf  # a vector is no neighbour of itself
            self._fold(scores, start, start)
            if end < count:
                self._fold(scores[:, end - start : count - start].T, end, start)

    def _rectangular(self, rows: np.ndarray, first_slot: int) -> None:
        """``rows``, queries that are not eligible themselves, against every eligible row."""
        step = max(1, _BLOCK_CELLS // max(1, len(self.fast)))
        products = self._buffer(min(step, len(rows)) * len(self.fast))
        for start in range(0, len(rows), step):
            scores = self._product(products, rows[start : start + step], self.fast)
            self._fold(scores, first_slot + start, 0)

    def _buffer(self, cells: int) -> np.ndarray:
        """Room for the products of every block of one kind, written in turn (a block's
        candidates are copied out of it before the next is made)."""
        return self._np.empty(cells, dtype=self._np.float32)

    def _product(self, products: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """``rows @ columns.T``, written into the start of ``products`` (see :meth:`_buffer`)."""
        scores: np.ndarray = products[: len(rows) * len(columns)].reshape(len(rows), len(columns))
        self._np.matmul(rows, columns.T, out=scores)
        return scores

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
            exact = self.unit.rows(candidates) @ self.unit.rows(np.array([query]))[0]
            high = float(exact.max())
            if high >= self.min_similarity:
                index = int(candidates[np.flatnonzero(exact >= high - _TIE)[0]])
                found[query] = (index, min(1.0, high))
        return found
