"""Contract of the CodeIndex port: :class:`~adapters.code_index.VectorCodeIndex` over every
vector store of :data:`~tests.contract.test_vector_store_contract.VECTOR_STORES`.

Each test works in collections of a prefix of its own (``contract_<random>``), which the
server-backed factories drop afterwards.
"""

from __future__ import annotations

import inspect
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
import pytest

from adapters.code_index import VectorCodeIndex
from domain.embeddings import CodeEmbedding
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId, RepositoryId, new_id
from ports.code_index import CodeIndex
from ports.errors import NotFoundError, ValidationError
from ports.vectors import VectorPoint, VectorStore
from tests.contract.test_vector_store_contract import (
    VECTOR_STORES,
    pgvector_database_url,
    qdrant_server_url,
)

__all__ = ["pgvector_database_url", "qdrant_server_url"]  # the stores' session fixtures

DIMENSION = 4
FUNCTION, CLASS = CodeUnitKind.FUNCTION, CodeUnitKind.CLASS
ACME, GLOBEX = OrganizationId(new_id()), OrganizationId(new_id())
BILLING, SHOP, RIVAL = ProjectId(new_id()), ProjectId(new_id()), ProjectId(new_id())
ORGANIZATION_OF = {BILLING: ACME, SHOP: ACME, RIVAL: GLOBEX}
REPOSITORY = RepositoryId(new_id())
MODEL = "hashing-v1"


@pytest.fixture(params=list(VECTOR_STORES))
async def indexed(request: pytest.FixtureRequest) -> AsyncIterator[tuple[CodeIndex, VectorStore]]:
    """A code index of a prefix of this test over the selected store, and the store."""
    factory = VECTOR_STORES[request.param]
    takes_request = bool(inspect.signature(factory).parameters)
    async with factory(request) if takes_request else factory() as store:
        yield VectorCodeIndex(store, prefix=f"contract_{uuid.uuid4().hex[:12]}"), store


@pytest.fixture
def index(indexed: tuple[CodeIndex, VectorStore]) -> CodeIndex:
    return indexed[0]


def embedding(
    vector: Sequence[float],
    *,
    project: ProjectId = BILLING,
    file: FileId | None = None,
    kind: CodeUnitKind = FUNCTION,
    symbol: str = "f",
    line: int = 1,
    language: ProgrammingLanguage | None = ProgrammingLanguage.PYTHON,
) -> CodeEmbedding:
    return CodeEmbedding(
        organization_id=ORGANIZATION_OF[project],
        project_id=project,
        repository_id=REPOSITORY,
        file_id=file or FileId(new_id()),
        file_path=f"src/{symbol}.py",
        kind=kind,
        language=language,
        symbol=symbol,
        line_start=line,
        line_end=line + 2,
        code_hash="a" * 64,
        code_snippet=f"def {symbol}(): ...",
        model=MODEL,
        vector=tuple(float(x) for x in vector),
    )


def axis(i: int, tilt: float = 0.0) -> tuple[float, ...]:
    """Along axis ``i``, tilted towards the next one by ``tilt``."""
    vector = [0.0] * DIMENSION
    vector[i % DIMENSION] = 1.0
    vector[(i + 1) % DIMENSION] = tilt
    return tuple(vector)


def same(found: CodeEmbedding, written: CodeEmbedding) -> bool:
    """Equal but for vector components, which may come back as 32-bit floats."""
    close = all(
        math.isclose(a, b, rel_tol=1e-6) for a, b in zip(found.vector, written.vector, strict=True)
    )
    return close and found == attrs.evolve(written, vector=found.vector)


async def ready(index: CodeIndex, *embeddings: CodeEmbedding) -> None:
    for kind in {e.kind for e in embeddings} | {FUNCTION}:
        await index.prepare(kind, dimension=DIMENSION)
    await index.write(embeddings)


async def test_embeddings_come_back_as_written(index: CodeIndex) -> None:
    """``get`` gives the written embeddings in the order asked, each id once, missing ids
    skipped; writing one again under its id replaces it."""
    first, second = embedding(axis(0, 0.3), symbol="a"), embedding(axis(1), symbol="b", line=9)
    await ready(index, first, second)
    missing = EmbeddingId(new_id())
    found = await index.get(FUNCTION, [second.id, missing, first.id, second.id])
    assert [e.id for e in found] == [second.id, first.id]
    assert same(found[0], second) and same(found[1], first)

    moved = attrs.evolve(first, line_start=5, line_end=6)
    await index.write([moved])
    [again] = await index.get(FUNCTION, [first.id])
    assert (again.line_start, again.line_end) == (5, 6)


async def test_embeddings_of_files_and_of_a_project(index: CodeIndex) -> None:
    """``of_files`` and ``of_project`` give exactly the embeddings of their files or
    project, of the kind asked, by id."""
    one, two = FileId(new_id()), FileId(new_id())
    written = [
        embedding(axis(0), file=one, symbol="a"),
        embedding(axis(1), file=one, symbol="b"),
        embedding(axis(2), file=two, symbol="c"),
        embedding(axis(3), project=SHOP, symbol="d"),
        embedding(axis(0), file=one, kind=CLASS, symbol="A"),
    ]
    await ready(index, *written)

    of_one = await index.of_files(FUNCTION, [one])
    assert [e.symbol for e in of_one] == [e.symbol for e in sorted(written[:2], key=lambda e: e.id)]
    both = await index.of_files(FUNCTION, [two, one, one])
    assert {e.symbol for e in both} == {"a", "b", "c"}
    assert [e.id for e in both] == sorted(e.id for e in both)
    assert {e.symbol for e in await index.of_project(FUNCTION, BILLING)} == {"a", "b", "c"}
    assert [e.symbol for e in await index.of_project(CLASS, BILLING)] == ["A"]
    assert await index.of_project(FUNCTION, RIVAL) == []
    assert await index.of_files(FUNCTION, []) == []


async def test_a_kind_never_prepared_reads_and_searches_as_empty(index: CodeIndex) -> None:
    """Reading or searching a kind never prepared gives nothing; writing to it raises
    NotFoundError; removing from it does nothing."""
    assert await index.get(CodeUnitKind.FILE, [EmbeddingId(new_id())]) == []
    assert await index.of_project(CodeUnitKind.FILE, BILLING) == []
    assert await index.similar(CodeUnitKind.FILE, axis(0), limit=3, organization_id=None) == []
    await index.remove(CodeUnitKind.FILE, [EmbeddingId(new_id())])
    await index.remove_project(BILLING)
    with pytest.raises(NotFoundError):
        await index.write([embedding(axis(0), kind=CodeUnitKind.FILE)])


async def test_a_space_keeps_its_dimension(index: CodeIndex) -> None:
    """Preparing a kind again with another dimension raises ValidationError naming both;
    an embedding of another dimension is refused and nothing of its batch is written."""
    await ready(index, embedding(axis(0)))
    with pytest.raises(ValidationError) as other:
        await index.prepare(FUNCTION, dimension=DIMENSION + 1)
    assert str(DIMENSION) in str(other.value) and str(DIMENSION + 1) in str(other.value)
    good, bad = embedding(axis(1), symbol="good"), embedding((1.0, 0.0), symbol="bad")
    with pytest.raises(ValidationError):
        await index.write([good, bad])
    assert await index.get(FUNCTION, [good.id, bad.id]) == []


async def test_similar_is_closest_first_within_the_scope_asked(index: CodeIndex) -> None:
    """Hits come closest first, as SimilarCode of the stored units, within the
    organization, project and language asked, and at least ``min_score`` similar."""
    near = embedding(axis(0, 0.1), symbol="near")
    far = embedding(axis(0, 2.0), symbol="far")
    shop = embedding(axis(0, 0.05), project=SHOP, symbol="shop")
    rival = embedding(axis(0), project=RIVAL, symbol="rival")
    go = embedding(axis(0, 0.2), symbol="go", language=ProgrammingLanguage.GO)
    await ready(index, near, far, shop, rival, go)
    query = axis(0)

    everyone = await index.similar(FUNCTION, query, limit=10, organization_id=None)
    assert [h.symbol for h in everyone] == ["rival", "shop", "near", "go", "far"]
    acme = await index.similar(FUNCTION, query, limit=10, organization_id=ACME)
    assert [h.symbol for h in acme] == ["shop", "near", "go", "far"]
    billing = await index.similar(
        FUNCTION, query, limit=2, organization_id=ACME, project_id=BILLING
    )
    assert [h.symbol for h in billing] == ["near", "go"]
    python = await index.similar(
        FUNCTION, query, limit=10, organization_id=ACME, language=ProgrammingLanguage.PYTHON
    )
    assert [h.symbol for h in python] == ["shop", "near", "far"]
    close = await index.similar(FUNCTION, query, limit=10, organization_id=ACME, min_score=0.9)
    assert [h.symbol for h in close] == ["shop", "near", "go"]

    hit = billing[0]
    assert (hit.embedding_id, hit.file_id, hit.project_id) == (near.id, near.file_id, BILLING)
    assert (hit.file_path, hit.line_start, hit.line_end) == ("src/near.py", 1, 3)
    assert hit.kind is FUNCTION and hit.language is ProgrammingLanguage.PYTHON
    assert math.isclose(hit.score, 1 / math.hypot(1.0, 0.1), rel_tol=1e-5)
    # another organization's project, asked within this one's scope, gives nothing
    assert (
        await index.similar(FUNCTION, query, limit=5, organization_id=ACME, project_id=RIVAL) == []
    )


async def test_removing_by_id_by_file_and_by_project(index: CodeIndex) -> None:
    """``remove`` deletes the ids of its kind; ``remove_files`` and ``remove_project``
    delete every kind's embeddings of the files or project, and no other."""
    file = FileId(new_id())
    a, b = embedding(axis(0), file=file, symbol="a"), embedding(axis(1), symbol="b")
    klass = embedding(axis(2), file=file, kind=CLASS, symbol="K")
    shop = embedding(axis(3), project=SHOP, symbol="s")
    await ready(index, a, b, klass, shop)

    await index.remove(CLASS, [a.id])  # of another kind: nothing
    assert len(await index.get(FUNCTION, [a.id])) == 1
    await index.remove_files([])  # nothing
    assert len(await index.get(FUNCTION, [a.id])) == 1
    with pytest.raises(ValidationError):
        await index.remove_files(["not a file id"])  # type: ignore[list-item]
    await index.remove_files([file, FileId(new_id())])
    assert await index.get(FUNCTION, [a.id]) == [] and await index.get(CLASS, [klass.id]) == []
    assert len(await index.get(FUNCTION, [b.id])) == 1
    await index.remove_project(BILLING)
    assert await index.of_project(FUNCTION, BILLING) == []
    assert [e.symbol for e in await index.of_project(FUNCTION, SHOP)] == ["s"]
    await index.remove(FUNCTION, [shop.id, EmbeddingId(new_id())])
    assert await index.of_project(FUNCTION, SHOP) == []


async def test_a_point_the_index_did_not_write_is_named(
    indexed: tuple[VectorCodeIndex, VectorStore],
) -> None:
    """A point of the collection whose payload is not a code unit's embedding raises
    ValidationError naming the point and the keys it lacks, rather than a KeyError."""
    index, store = indexed
    await ready(index, embedding(axis(0)))
    foreign = VectorPoint(uuid.uuid4(), axis(1), {"project_id": str(BILLING)})
    await store.upsert(index.collection(FUNCTION), [foreign])
    with pytest.raises(ValidationError) as caught:
        await index.of_project(FUNCTION, BILLING)
    assert str(foreign.id) in str(caught.value) and "file_path" in str(caught.value)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda i: i.similar(FUNCTION, axis(0), limit=0, organization_id=None), "limit"),
        (lambda i: i.similar(FUNCTION, axis(0), limit=1, organization_id="a"), "organization_id"),
        (lambda i: i.similar(FUNCTION, axis(0), limit=1, organization_id=None, min_score=2),
         "min_score"),
        (lambda i: i.of_project(FUNCTION, "billing"), "project_id"),
        (lambda i: i.get("module", []), "kind"),
        (lambda i: i.write([object()]), "embeddings"),
    ],
)  # fmt: skip
async def test_bad_arguments_are_named(index: CodeIndex, call: Any, field: str) -> None:
    """Arguments of the wrong type or out of range raise ValidationError naming them."""
    await ready(index, embedding(axis(0)))
    with pytest.raises(ValidationError) as caught:
        await call(index)
    assert caught.value.field == field
    assert len(await index.of_project(FUNCTION, BILLING)) == 1
