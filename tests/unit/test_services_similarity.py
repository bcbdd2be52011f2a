"""Similarity services: indexing code units as embeddings and searching similar code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.vectors import MemoryVectorStore
from application import (
    CodeUnit,
    VectorCleanup,
    code_hash,
    find_similar_code,
    index_code_units,
    remove_file_units,
)
from application.code_units import normalize_code
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.errors import ValidationError
from domain.events import FileChanged, ProjectDeleted
from domain.ids import FileId, OrganizationId, ProjectId, RepositoryId, new_id
from domain.vectors import Vector

ORG = OrganizationId(new_id())
PROJECT = ProjectId(new_id())
REPO = RepositoryId(new_id())
MATH_FILE = FileId(new_id())
MAIL_FILE = FileId(new_id())

SOURCES = {
    "total_price": """def total_price(items, tax_rate):
    subtotal = 0
    for item in items:
        subtotal += item.price * item.quantity
    return subtotal * (1 + tax_rate)
""",
    "parse_date": """def parse_date(text):
    year, month, day = text.split("-")
    return datetime.date(int(year), int(month), int(day))
""",
    "send_welcome": """def send_welcome(user, smtp):
    message = EmailMessage()
    message["To"] = user.email
    message["Subject"] = "Welcome!"
    smtp.send_message(message)
""",
}

NEAR_DUPLICATE = """def order_total(lines, vat):
    amount = 0
    for line in lines:
        amount += line.price * line.quantity
    return amount * (1 + vat)
"""


class RecordingEmbedder:
    """An embedder that delegates to HashingEmbedder and keeps every text it embedded."""

    def __init__(self) -> None:
        self._inner = HashingEmbedder(dimension=64)
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.texts.extend(texts)
        return await self._inner.embed(texts)


def _unit(
    symbol: str,
    code: str,
    *,
    file_id: FileId = MATH_FILE,
    kind: CodeUnitKind = CodeUnitKind.FUNCTION,
    line: int = 1,
    **fields: Any,
) -> CodeUnit:
    values: dict[str, Any] = {
        "organization_id": ORG,
        "project_id": PROJECT,
        "repository_id": REPO,
        "file_id": file_id,
        "file_path": "shop/orders.py" if file_id == MATH_FILE else "shop/mail.py",
        "kind": kind,
        "language": ProgrammingLanguage.PYTHON,
        "symbol": symbol,
        "line_start": line,
        "line_end": line + code.count("\n"),
        "code": code,
    }
    values.update(fields)
    return CodeUnit(**values)


def _units() -> list[CodeUnit]:
    return [
        _unit("total_price", SOURCES["total_price"], line=1),
        _unit("parse_date", SOURCES["parse_date"], line=10),
        _unit("send_welcome", SOURCES["send_welcome"], file_id=MAIL_FILE),
        _unit(
            "Mailer",
            "class Mailer:\n    pass\n",
            file_id=MAIL_FILE,
            kind=CodeUnitKind.CLASS,
            line=20,
        ),
    ]


@pytest.fixture
def embedder() -> RecordingEmbedder:
    return RecordingEmbedder()


@pytest.fixture
def store() -> MemoryVectorStore:
    return MemoryVectorStore()


@pytest.fixture
def index(store: MemoryVectorStore) -> VectorCodeIndex:
    return VectorCodeIndex(store)


async def test_code_hash_ignores_line_endings_and_trailing_whitespace() -> None:
    """Code differing only in line endings or trailing blanks has one hash; other edits
    change it."""
    base = code_hash("def f():\n    return 1\n")
    assert code_hash("def f():  \r\n    return 1\r\n\r\n") == base
    assert code_hash("def f():\n    return 2\n") != base
    unit = _unit("f", "def f():  \r\n    return 1\r\n\r\n")
    assert unit.normalized_code == "def f():\n    return 1" and unit.code_hash == base


async def test_index_code_units_fills_one_collection_per_kind(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Functions and classes go to their own collections, sized by the embedder."""
    result = await index_code_units(embedder, index, _units())
    assert (result.embedded, result.skipped) == (4, 0)
    collections = {c.name: c for c in await store.collections()}
    assert set(collections) == {"code_function", "code_class"}
    assert collections["code_function"].points == 3
    assert collections["code_function"].dimension == 64


async def test_similar_code_finds_the_near_duplicate_first(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """A renamed copy of total_price finds total_price as the closest function."""
    await index_code_units(embedder, index, _units())
    hits = await find_similar_code(
        embedder, index, NEAR_DUPLICATE, kind=CodeUnitKind.FUNCTION, organization_id=None
    )
    first = hits[0]
    assert first.symbol == "total_price"
    assert first.score > hits[1].score
    assert (first.file_path, first.line_start, first.file_id) == ("shop/orders.py", 1, MATH_FILE)
    assert first.language is ProgrammingLanguage.PYTHON and first.project_id == PROJECT


async def test_similar_code_honours_the_filters(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Hits are limited to the project and language asked for."""
    await index_code_units(embedder, index, _units())
    go = await find_similar_code(
        embedder,
        index,
        NEAR_DUPLICATE,
        kind=CodeUnitKind.FUNCTION,
        language=ProgrammingLanguage.GO,
        organization_id=None,
    )
    other_project = await find_similar_code(
        embedder,
        index,
        NEAR_DUPLICATE,
        kind=CodeUnitKind.FUNCTION,
        project_id=ProjectId(new_id()),
        organization_id=None,
    )
    same_project = await find_similar_code(
        embedder,
        index,
        NEAR_DUPLICATE,
        kind=CodeUnitKind.FUNCTION,
        project_id=PROJECT,
        limit=2,
        organization_id=None,
    )
    assert go == [] and other_project == []
    assert len(same_project) == 2


async def test_reindexing_skips_units_whose_code_did_not_change(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Indexing again embeds only the unit whose code changed, and overwrites its point
    instead of adding one; a change of line endings alone is no change."""
    await index_code_units(embedder, index, _units())
    embedder.texts.clear()
    units = _units()
    units[1] = _unit("parse_date", SOURCES["parse_date"].replace("\n", "\r\n"), line=10)
    units[2] = _unit(
        "send_welcome", SOURCES["send_welcome"] + "    smtp.quit()\n", file_id=MAIL_FILE
    )
    result = await index_code_units(embedder, index, units)
    assert (result.embedded, result.skipped) == (1, 3)
    assert len(embedder.texts) == 1 and "smtp.quit()" in embedder.texts[0]
    assert await store.count("code_function") == 3
    [point] = await store.retrieve("code_function", [units[2].point_id])
    assert point.payload["code_hash"] == code_hash(units[2].code)


async def test_pruning_reindex_keeps_the_files_units_as_given_and_others_as_they_were(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """With ``prune``, the units given are their files' whole content: an unchanged unit
    is skipped, a changed one embedded again, a unit of those files no longer given is
    deleted, and the points of other files stay."""
    await index_code_units(embedder, index, _units())
    embedder.texts.clear()
    renamed = _unit("parse_iso_date", SOURCES["parse_date"], line=12)

    result = await index_code_units(embedder, index, [_units()[0], renamed], prune=True)

    assert (result.embedded, result.skipped) == (1, 1)
    assert embedder.texts == [normalize_code(renamed.code)]
    points = await store.scroll("code_function")
    assert {p.payload["symbol"] for p in points} == {
        "total_price",
        "parse_iso_date",
        "send_welcome",
    }
    assert await store.count("code_class") == 1


async def test_remove_file_units_empties_every_collection_of_that_file(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Removing a file deletes its functions and classes and keeps the other file's."""
    await index_code_units(embedder, index, _units())
    await remove_file_units(index, MAIL_FILE)
    assert await store.count("code_class") == 0
    remaining = await store.scroll("code_function")
    assert {p.payload["symbol"] for p in remaining} == {"total_price", "parse_date"}


async def test_searching_before_anything_is_indexed_finds_nothing(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """A kind with no collection yet gives no hits rather than an error."""
    assert (
        await find_similar_code(
            embedder, index, "x = 1", kind=CodeUnitKind.FILE, organization_id=None
        )
        == []
    )


async def test_a_code_unit_ending_before_it_starts_is_rejected() -> None:
    """``line_end`` before ``line_start`` raises ValidationError on ``line_end``."""
    with pytest.raises(ValidationError) as caught:
        _unit("f", "def f(): pass", line=10, line_end=3)
    assert caught.value.field == "line_end"


async def test_indexing_a_repeated_unit_writes_nothing(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Two units with one identity raise ValidationError on ``units`` before any write."""
    unit = _unit("total_price", SOURCES["total_price"])
    with pytest.raises(ValidationError) as caught:
        await index_code_units(embedder, index, [unit, unit])
    assert caught.value.field == "units"
    assert await store.collections() == []
    assert embedder.texts == []


async def test_find_similar_code_rejects_blank_code_and_unknown_kinds(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """Blank code and a kind that is not a CodeUnitKind raise ValidationError naming them."""
    with pytest.raises(ValidationError) as blank:
        await find_similar_code(
            embedder, index, "  \n", kind=CodeUnitKind.FUNCTION, organization_id=None
        )
    with pytest.raises(ValidationError) as kind:
        await find_similar_code(
            embedder, index, "x = 1", kind=cast(Any, "module"), organization_id=None
        )
    assert (blank.value.field, kind.value.field) == ("code", "kind")


async def test_vector_cleanup_follows_removed_files_and_deleted_projects(
    embedder: RecordingEmbedder, store: MemoryVectorStore, index: VectorCodeIndex
) -> None:
    """The cleanup handler drops a removed file's units, ignores a modified file, and
    drops every unit of a deleted project; running it twice changes nothing more."""
    await index_code_units(embedder, index, _units())
    cleanup = VectorCleanup(index)
    before = await store.count("code_function")

    def changed(change: str) -> FileChanged:
        return FileChanged(
            file_id=MAIL_FILE, repository_id=REPO, project_id=PROJECT,
            relative_path="shop/mail.py", change=change,
        )  # fmt: skip

    await cleanup(changed("modified"))
    assert await store.count("code_function") == before
    await cleanup(changed("removed"))
    await cleanup(changed("removed"))
    assert await store.count("code_class") == 0
    assert await store.count("code_function") == 2
    await cleanup(ProjectDeleted(project_id=PROJECT, organization_id=ORG))
    assert await store.count("code_function") == 0
