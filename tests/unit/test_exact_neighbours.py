"""Near-duplicates in one pass over the project's vectors (ExactNeighbours) give the
answers one search of the store per function gives."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Sequence
from typing import Any, cast

import attrs
import pytest

from adapters import exact_neighbours
from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.exact_neighbours import ExactNeighbours
from adapters.memory.vectors import MemoryVectorStore
from application.indexing.progress import silent
from application.indexing.reading import Parsed
from application.indexing.vectors import (
    code_units,
    embed,
    near_duplicates,
    write_and_find_duplicates,
)
from application.similarity import index_code_units
from domain.analysis import AnalysisResult
from domain.enums import CodeUnitKind
from domain.ids import JobId, new_id
from domain.values import FileMetadata, FunctionSignature
from domain.vectors import Vector
from ports.errors import UnavailableError
from ports.vectors import VectorPoint
from tests.unit.test_near_duplicates import (
    NORMALIZE,
    ORGANIZATION,
    PROJECT,
    REPOSITORY,
    STUB,
    rules,
    source_file,
)


def test_the_closest_eligible_other_vector_is_found_ties_to_the_lowest_index() -> None:
    """Each query gets its most similar other eligible vector within the threshold; equal
    vectors tie and the lowest index wins; a zero vector is 0 similar to any."""
    vectors = [(1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 0.0), (0.6, 0.8), (0.0, 0.0)]
    finder = ExactNeighbours()

    found = finder.closest(vectors, [0, 2, 1, 4, 5], [True] * 6, 0.5)

    assert found[0] == (2, 1.0)  # 2 and 3 tie: the lowest index
    assert found[1] == (0, 1.0)
    # an approximate similarity in a tuple is typed as an object: an Approx is no float
    assert found[2] == cast(object, (4, pytest.approx(0.8)))
    assert found[3] == cast(object, (1, pytest.approx(0.8)))
    assert found[4] is None  # the zero vector
    assert finder.closest(vectors, [0], [True, True, False, False, True, True], 0.5) == [
        cast(object, (4, pytest.approx(0.6)))
    ]
    assert finder.closest(vectors, [0], [True, True, False, False, True, True], 0.7) == [None]
    assert finder.closest(vectors, [], [True] * 6, 0.5) == []


def _brute_force(
    vectors: list[tuple[float, ...]],
    queries: list[int],
    eligible: list[bool],
    min_similarity: float,
) -> list[tuple[int, float] | None]:
    """What the port asks, one float64 comparison at a time."""
    import numpy as np

    unit = [np.asarray(v) / (np.linalg.norm(v) or 1.0) for v in vectors]
    found: list[tuple[int, float] | None] = []
    for q in queries:
        others = [i for i in range(len(vectors)) if eligible[i] and i != q]
        scores = {i: float(unit[q] @ unit[i]) for i in others}
        high = max(scores.values(), default=-2.0)
        if high < min_similarity:
            found.append(None)
        else:
            found.append((min(i for i, s in scores.items() if s >= high - 1e-12), min(1.0, high)))
    return found


@pytest.mark.parametrize("as_vectors", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_blocks_of_every_shape_give_the_one_at_a_time_answers(
    seed: int, as_vectors: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With blocks far smaller than the vectors (pairs of queries within a block, across
    blocks, against vectors no query asks, and queries that are not eligible themselves),
    and unit vectors made a few rows at a time, the answers are those of comparing each
    query with every other vector in float64: exact copies, scaled copies and near copies
    found, ties to the lowest index; for tuples of floats and for Vectors (32-bit)."""
    import numpy as np

    monkeypatch.setattr(exact_neighbours, "_BLOCK_ROWS", 7)
    monkeypatch.setattr(exact_neighbours, "_BLOCK_CELLS", 7 * 90)
    monkeypatch.setattr(exact_neighbours, "_SLICE_ROWS", 5)
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(120, 12))
    vectors = [tuple(float(x) for x in row) for row in base]
    for _ in range(40):  # copies: exact, scaled, slightly moved
        source = vectors[int(rng.integers(len(vectors)))]
        factor = float(rng.choice([1.0, 2.5]))
        noise = rng.normal(scale=float(rng.choice([0.0, 0.01, 0.05])), size=12)
        vectors.append(tuple(factor * x + float(n) for x, n in zip(source, noise, strict=True)))
    vectors += [(0.0,) * 12] * 2
    order = rng.permutation(len(vectors))
    vectors = [vectors[i] for i in order]
    if as_vectors:  # rounded to 32-bit floats: what the brute force compares too
        vectors = [tuple(Vector(v)) for v in vectors]
    eligible = [bool(flag) for flag in rng.random(len(vectors)) < 0.85]
    queries = [int(q) for q in rng.choice(len(vectors), size=110, replace=True)]

    for min_similarity in (0.95, 0.5, 0.0):
        expected = _brute_force(vectors, queries, eligible, min_similarity)
        given = [Vector(v) for v in vectors] if as_vectors else vectors
        found = ExactNeighbours().closest(given, queries, eligible, min_similarity)
        assert [f and f[0] for f in found] == [e and e[0] for e in expected]
        assert [f and round(f[1], 9) for f in found] == [e and round(e[1], 9) for e in expected]
        assert sum(f is not None for f in found) > 10  # not vacuous


def _stdlib_functions(limit: int) -> list[Parsed]:
    """Real functions (each its own file), with repeats so that some pairs are exact."""
    text = inspect.getsource(json.decoder) + inspect.getsource(json.encoder)
    lines = text.splitlines()
    parsed: list[Parsed] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.end_lineno:
            code = "\n".join(lines[node.lineno - 1 : node.end_lineno]) + "\n"
            parsed.append(source_file(f"lib/f{len(parsed):03}.py", code, name=node.name))
    parsed = parsed[:limit]
    parsed += [source_file(f"lib/copy{n}.py", NORMALIZE, name="normalize_record") for n in range(4)]
    parsed += [source_file(f"lib/stub{n}.pyi", STUB, name="fetch") for n in range(3)]
    parsed += [source_file(f"lib/fetch{n}.py", STUB, name="fetch") for n in range(2)]
    return parsed


@pytest.mark.parametrize("min_similarity", [0.5, 0.9])
async def test_one_pass_finds_what_a_search_per_function_finds(min_similarity: float) -> None:
    """Over real functions, analysed in two steps, the exact pass reports the same pairs,
    with the same similarity, as a search of the store per function."""
    everything = _stdlib_functions(60)
    now = everything[1::2]  # the others as files analysed earlier
    store = VectorCodeIndex(MemoryVectorStore())
    units = code_units(
        ORGANIZATION, PROJECT, REPOSITORY, [p.file for p in everything],
        {p.file.id: p.text for p in everything if p.text is not None},
    )  # fmt: skip
    await index_code_units(HashingEmbedder(), store, units)
    analysed = [u for u in units if u.file_id in {p.file.id for p in now}]
    effective = rules(min_similarity=min_similarity, min_nloc=1)
    job = JobId(new_id())

    searched = await near_duplicates(store, analysed, now, effective, job, silent)
    one_pass = await near_duplicates(
        store, analysed, now, effective, job, silent, neighbours=ExactNeighbours()
    )

    def seen(results: list[AnalysisResult]) -> list[tuple[str, Any, str, str, float]]:
        rows = []
        for r in results:
            assert r.location is not None
            rows.append((r.location.file_path, r.metadata["duplicate_of"], r.title,
                         r.description, r.confidence))  # fmt: skip
        return rows

    assert seen(one_pass) == seen(searched)
    # not vacuous: the copies are found (how many pairs depends on which of identical
    # twins wins a tie, by point id, which the files' random ids decide)
    assert len(searched) >= 3


async def test_pairs_found_while_writing_are_those_found_after_writing() -> None:
    """The pass that runs while the store loads (over the stored functions read first,
    with what the run writes over them) reports what a pass over the store once written
    reports: a function gone from an analysed file takes no part, and a new copy of an
    earlier function is its twin."""
    everything = _stdlib_functions(40)
    now = everything[15:]
    texts = {p.file.id: p.text for p in everything if p.text is not None}
    store, reference = VectorCodeIndex(MemoryVectorStore()), VectorCodeIndex(MemoryVectorStore())
    first = code_units(ORGANIZATION, PROJECT, REPOSITORY, [p.file for p in everything], texts)
    for target in (store, reference):
        await index_code_units(HashingEmbedder(), target, first)
    # the run: a file analysed now, one of the copies of normalize_record, loses that
    # function and holds instead a copy of a function of a file analysed earlier
    [index] = [i for i, p in enumerate(now) if p.file.relative_path == "lib/copy0.py"]
    text = everything[0].text
    assert text is not None
    lines = text.count("\n")
    again = FunctionSignature(name="again", line_start=1, line_end=lines, nloc=lines)
    changed = attrs.evolve(now[index].file, metadata=FileMetadata(functions=(again,)))
    now[index] = Parsed(file=changed, text=text)
    texts[changed.id] = text
    units = code_units(ORGANIZATION, PROJECT, REPOSITORY, [p.file for p in now], texts)
    effective = rules(min_similarity=0.9, min_nloc=1)
    job = JobId(new_id())

    prepared = await embed(HashingEmbedder(), store, units, [p.file for p in now])
    writing, overlapped = await write_and_find_duplicates(
        store, prepared, units, now, effective, job, silent, neighbours=ExactNeighbours()
    )
    written = await writing
    await index_code_units(HashingEmbedder(), reference, units, prune=True)
    afterwards = await near_duplicates(
        reference, units, now, effective, job, silent, neighbours=ExactNeighbours()
    )

    def seen(results: list[AnalysisResult]) -> list[tuple[str, Any, float]]:
        return [(r.title, r.metadata["duplicate_of"], r.confidence) for r in results]

    assert seen(overlapped) == seen(afterwards)
    assert any(r.title.startswith("again ") for r in overlapped)
    assert sum(r.title.startswith("normalize_record ") for r in overlapped) == 2  # 3 copies
    assert written.embedded == 1
    assert [e.id for e in await store.of_project(CodeUnitKind.FUNCTION, PROJECT.id)] == [
        e.id for e in await reference.of_project(CodeUnitKind.FUNCTION, PROJECT.id)
    ]


class _FailingUpserts(MemoryVectorStore):
    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        raise UnavailableError("vector store unavailable")


async def test_a_write_that_fails_while_pairs_are_found_fails_when_awaited() -> None:
    """The pass ends with its pairs and gives the write back still running; its error
    comes when the caller awaits it (the run's completion does, before it commits)."""
    parsed = _stdlib_functions(5)
    texts = {p.file.id: p.text for p in parsed if p.text is not None}
    units = code_units(ORGANIZATION, PROJECT, REPOSITORY, [p.file for p in parsed], texts)
    store = VectorCodeIndex(_FailingUpserts())
    prepared = await embed(HashingEmbedder(), store, units, [p.file for p in parsed])

    writing, found = await write_and_find_duplicates(
        store, prepared, units, parsed, rules(min_nloc=1), JobId(new_id()), silent,
        neighbours=ExactNeighbours(),
    )  # fmt: skip
    assert found  # the stdlib sample holds copies
    with pytest.raises(UnavailableError):
        await writing
