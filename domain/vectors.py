"""Vectors: the fixed sequences of 32-bit floats that code is embedded as, and that every
vector store keeps.

A :class:`Vector` holds its components in one compact array (4 bytes each, against 24 for
a Python float in a tuple) and is checked once, when made: it passes from an embedder to
an entity, a store and an in-process search without being converted or checked again.
"""

from __future__ import annotations

import array
import math
import numbers
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, SupportsIndex, overload

__all__ = ["FLOAT32_MAX", "Vector"]

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite 32-bit float."""
_PLAIN = frozenset({float, int})
_LITTLE = sys.byteorder == "little"


class Vector(Sequence[float]):
    """An immutable, non-empty vector of finite 32-bit floats.

    ``Vector(values)`` takes any sequence of real numbers (booleans are no numbers here),
    each rounded to the nearest 32-bit float; :meth:`from_bytes` takes the components'
    bytes as :meth:`to_bytes` gives them. A vector is equal to another sequence of the
    same 32-bit values (``Vector([0.1]) == (0.1,)``), and its components read back as
    Python floats. Raises TypeError for what is no sequence of numbers (naming the first
    component that is none) and ValueError for an empty one or a component that is not
    finite once rounded (beyond ±3.4e38, infinite or NaN), naming it."""

    __slots__ = ("_values",)
    _values: array.array[float]

    def __new__(cls, values: Iterable[Any]) -> Vector:
        if type(values) is Vector:
            return values
        if isinstance(values, str | bytes | bytearray | memoryview) or not isinstance(
            values, Iterable
        ):
            raise TypeError(f"must be a sequence of numbers, got {type(values).__name__}")
        if type(values) is tuple or type(values) is list:
            items: Sequence[Any] = values
        else:
            packed = _packed_floats(values)  # an array of floats: numpy's, the standard one
            if packed is not None:
                return cls._checked(packed, packed)
            items = list(values)
        if not set(map(type, items)) <= _PLAIN:  # what an embedder or a caller usually gives
            for index, x in enumerate(items):
                if isinstance(x, bool) or not isinstance(x, numbers.Real):
                    raise TypeError(f"component {index} is {x!r}, not a number")
            items = [float(x) for x in items]
        try:
            values_ = array.array("f", items)
        except OverflowError:  # an int beyond what a float holds
            values_ = array.array("f", [_float_or_inf(x) for x in items])
        return cls._checked(values_, items)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Vector:
        """The vector whose components' bytes (32-bit floats, this machine's byte order)
        are ``data``, as :meth:`to_bytes` gives them."""
        values = cls._array(data)
        return cls._checked(values, values)

    @classmethod
    def from_big_endian(cls, data: bytes | bytearray | memoryview) -> Vector:
        """The vector whose components are ``data`` as big-endian 32-bit floats."""
        values = cls._array(data)
        if _LITTLE:
            values.byteswap()
        return cls._checked(values, values)

    @staticmethod
    def _array(data: bytes | bytearray | memoryview) -> array.array[float]:
        values = array.array("f")
        try:
            values.frombytes(data)
        except ValueError:
            raise ValueError(f"{len(data)} bytes are no whole number of 32-bit floats") from None
        return values

    @classmethod
    def _checked(cls, values: array.array[float], given: Sequence[Any]) -> Vector:
        if not values:
            raise ValueError("must hold at least one component")
        if not math.isfinite(sum(values)):  # a sum of 32-bit floats never overflows a float
            index = next(i for i, x in enumerate(values) if not math.isfinite(x))
            raise ValueError(
                f"component {index} is {given[index]!r}, not a finite 32-bit float"
                f" (within ±{FLOAT32_MAX:.7g})"
            )
        vector = object.__new__(cls)
        vector._values = values
        return vector

    def to_bytes(self) -> bytes:
        """The components as 32-bit floats, in this machine's byte order."""
        return self._values.tobytes()

    def to_big_endian(self) -> bytes:
        """The components as big-endian 32-bit floats."""
        if not _LITTLE:
            return self._values.tobytes()
        swapped = array.array("f", self._values)
        swapped.byteswap()
        return swapped.tobytes()

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: SupportsIndex) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[float, ...]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> float | tuple[float, ...]:
        if isinstance(index, slice):
            return tuple(self._values[index])
        return self._values[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if type(other) is Vector:
            return self._values == other._values
        if isinstance(other, str | bytes) or not isinstance(other, Sequence):
            return NotImplemented
        try:
            return self._values == Vector(other)._values
        except (TypeError, ValueError):
            return False

    def __hash__(self) -> int:
        return hash(self._values.tobytes())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Vector.from_bytes, (self._values.tobytes(),))

    def __copy__(self) -> Vector:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Vector:
        return self

    def __repr__(self) -> str:
        shown = ", ".join(repr(x) for x in self._values[:8])
        more = f", ... ({len(self._values)} components)" if len(self._values) > 8 else ""
        return f"Vector([{shown}{more}])"


def _float_or_inf(x: Any) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _packed_floats(values: Any) -> array.array[float] | None:
    """The components of a one-dimensional buffer of 32- or 64-bit floats as 32-bit
    floats (None for anything else)."""
    try:
        view = memoryview(values)
    except TypeError:
        return None
    if view.ndim != 1 or view.format not in ("f", "d"):
        return None
    if view.format == "f":
        return array.array("f", view.tobytes())
    return array.array("f", view.tolist())
