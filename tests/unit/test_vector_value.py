"""domain.vectors.Vector: what it takes, what it refuses and names, and how it compares."""

from __future__ import annotations

import array
import copy
import math
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.vectors import FLOAT32_MAX, Vector

FLOAT32S = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(st.lists(FLOAT32S, min_size=1, max_size=64))
def test_32_bit_floats_are_kept_exactly_from_any_sequence(values: list[float]) -> None:
    """A tuple, a list, a generator, numpy arrays of either width and a standard array of
    the same 32-bit floats make the same vector, whose components read back exactly."""
    made = [
        Vector(values),
        Vector(tuple(values)),
        Vector(x for x in values),
        Vector(np.asarray(values, dtype=np.float32)),
        Vector(np.asarray(values, dtype=np.float64)),
        Vector(array.array("f", values)),
    ]
    assert all(v == made[0] and hash(v) == hash(made[0]) for v in made)
    assert list(made[0]) == values and len(made[0]) == len(values)
    assert made[0] == tuple(values) and tuple(values) == made[0]


@given(st.lists(st.floats(-1e30, 1e30), min_size=1, max_size=16))
def test_doubles_are_rounded_to_the_nearest_32_bit_float(values: list[float]) -> None:
    """Each component becomes the 32-bit float nearest it, as every store keeps it, and
    the vector equals any sequence of numbers that round to the same floats."""
    vector = Vector(values)
    rounded = struct.unpack(f"{len(values)}f", struct.pack(f"{len(values)}f", *values))
    assert tuple(vector) == rounded
    assert vector == values


def test_bytes_round_trip_in_either_byte_order() -> None:
    vector = Vector([1.5, -2.0, 0.1])
    assert Vector.from_bytes(vector.to_bytes()) == vector
    assert Vector.from_big_endian(vector.to_big_endian()) == vector
    assert vector.to_big_endian() == struct.pack(">3f", 1.5, -2.0, 0.1)
    assert Vector.from_bytes(memoryview(vector.to_bytes())) == vector


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ([], ValueError, "at least one component"),
        ((1.0, math.nan), ValueError, "component 1 is nan, not a finite 32-bit float"),
        ((math.inf,), ValueError, "component 0 is inf"),
        ((0.0, 0.0, -1e39), ValueError, "component 2 is -1e[+]39, not a finite 32-bit"),
        ((1.0, 10**400), ValueError, "component 1 is 1000"),
        ((1.0, True), TypeError, "component 1 is True, not a number"),
        ((1.0, "2"), TypeError, "component 1 is '2', not a number"),
        ([None], TypeError, "component 0 is None, not a number"),
        ([1.0, 2j], TypeError, "component 1 is 2j, not a number"),
        ("1.0", TypeError, "must be a sequence of numbers, got str"),
        (b"\x00\x00\x80\x3f", TypeError, "must be a sequence of numbers, got bytes"),
        (3.0, TypeError, "must be a sequence of numbers, got float"),
        (np.asarray([1.0, np.inf], dtype=np.float32), ValueError, "component 1 is inf"),
    ],
)
def test_what_is_no_vector_is_refused_naming_why(
    values: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Vector(values)  # type: ignore[arg-type]


def test_the_largest_32_bit_float_is_a_component_and_a_little_more_rounds_to_it() -> None:
    assert tuple(Vector([FLOAT32_MAX, -FLOAT32_MAX])) == (FLOAT32_MAX, -FLOAT32_MAX)
    assert Vector([FLOAT32_MAX * (1 + 2**-26)])[0] == FLOAT32_MAX


def test_bytes_that_are_no_vector_are_refused() -> None:
    with pytest.raises(ValueError, match="7 bytes are no whole number of 32-bit floats"):
        Vector.from_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="at least one component"):
        Vector.from_bytes(b"")
    with pytest.raises(ValueError, match="component 0 is inf"):
        Vector.from_big_endian(struct.pack(">f", math.inf))


def test_a_vector_is_immutable_and_shared_by_copies() -> None:
    vector = Vector([1.0, 2.0])
    with pytest.raises(AttributeError):
        vector.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        vector[0] = 3.0  # type: ignore[index]
    assert copy.copy(vector) is vector and copy.deepcopy(vector) is vector
    assert Vector(vector) is vector
    assert pickle.loads(pickle.dumps(vector)) == vector


def test_indexing_slicing_and_comparing() -> None:
    vector = Vector([1.0, 2.0, 3.0])
    assert (vector[0], vector[-1], vector[1:]) == (1.0, 3.0, (2.0, 3.0))
    assert vector != (1.0, 2.0) and vector != ("a", "b", "c") and vector != "abc"
    assert vector != Vector([1.0, 2.0, 4.0]) and vector != 1.0
    assert repr(vector) == "Vector([1.0, 2.0, 3.0])"
    assert repr(Vector(range(20))).endswith("... (20 components)])")
