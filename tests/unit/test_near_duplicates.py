"""The duplicates stage of the main job: each pair of near-duplicate functions reported once,
type stubs left out by default."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.vectors import MemoryVectorStore
from application.builtin_rules import BUILTIN_RULES, NEAR_DUPLICATE
from application.indexing.progress import silent
from application.indexing.reading import Parsed
from application.indexing.vectors import code_units, duplicate_metrics, near_duplicates
from application.similarity import index_code_units
from domain.analysis import AnalysisResult
from domain.files import FileIndex
from domain.ids import JobId, RuleId, new_id
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.rules import EffectiveRule, ProjectRuleConfig, effective_rules
from domain.values import FileMetadata, FunctionSignature

ORGANIZATION = Organization(name="Acme", slug="acme")
PROJECT = Project(
    organization_id=ORGANIZATION.id,
    name="Orders",
    slug="orders",
    repository_url="https://git.example.com/orders.git",
)
REPOSITORY = Repository(
    project_id=PROJECT.id,
    local_path="/srv/orders",
    remote_url="https://git.example.com/orders.git",
    default_branch="main",
)

NORMALIZE = '''def normalize_record(record):
    """A record with trimmed keys and no empty values."""
    cleaned = {}
    for key, value in record.items():
        if value in ("", None):
            continue
        cleaned[key.strip().lower()] = value
    return cleaned
'''
STUB = """def fetch(
    url: str,
    *,
    timeout: float = ...,
    retries: int = ...,
) -> bytes: ...
"""


def source_file(path: str, text: str, *, name: str) -> Parsed:
    """``text`` as the analysed file ``path``, one function ``name`` spanning it."""
    lines = text.count("\n")
    function = FunctionSignature(name=name, line_start=1, line_end=lines, nloc=lines)
    file = FileIndex(
        repository_id=REPOSITORY.id,
        relative_path=path,
        absolute_path=f"{REPOSITORY.local_path}/{path}",
        language="python",
        size_bytes=len(text),
        line_count=lines,
        file_hash=hashlib.sha256(text.encode()).hexdigest(),
        last_modified=dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
        metadata=FileMetadata(functions=(function,)),
    )
    return Parsed(file=file, text=text)


def rules(**override: Any) -> dict[RuleId, EffectiveRule]:
    configs = [
        ProjectRuleConfig(project_id=PROJECT.id, rule_id=NEAR_DUPLICATE, config_override=override)
    ]
    return {r.rule_id: r for r in effective_rules(list(BUILTIN_RULES), configs)}


async def duplicates(
    stored: list[Parsed],
    analysed: list[Parsed],
    *,
    held: tuple[AnalysisResult, ...] = (),
    **override: Any,
) -> tuple[list[AnalysisResult], dict[str, float], JobId]:
    """The results of the stage over ``analysed`` (with ``stored`` embedded too, as
    files analysed earlier), and the duplicate_functions metric of each analysed file."""
    store = VectorCodeIndex(MemoryVectorStore())
    everything = code_units(
        ORGANIZATION, PROJECT, REPOSITORY, [p.file for p in stored + analysed],
        {p.file.id: p.text for p in stored + analysed if p.text is not None},
    )  # fmt: skip
    await index_code_units(HashingEmbedder(), store, everything)
    units = [u for u in everything if u.file_id in {p.file.id for p in analysed}]
    job_id = JobId(new_id())
    effective = rules(**override)
    found = await near_duplicates(store, units, analysed, effective, job_id, silent, held=held)
    metrics = duplicate_metrics([p.file for p in analysed], found, job_id, effective)
    paths = {p.file.id: p.file.relative_path for p in analysed}
    return found, {paths[m.file_id]: m.value for m in metrics}, job_id


def where(results: list[AnalysisResult]) -> list[tuple[str, str]]:
    pairs = []
    for r in results:
        assert r.location is not None
        pairs.append((r.location.file_path, str(r.metadata["duplicate_of"])))
    return pairs


async def test_a_pair_found_in_one_analysis_is_reported_once_on_its_later_function() -> None:
    """Two copies analysed together give one result, on the copy whose path sorts last,
    naming the other; only that file counts a duplicate function."""
    first = source_file("orders/cleanup_a.py", NORMALIZE, name="normalize_record")
    second = source_file("orders/cleanup_b.py", NORMALIZE, name="normalize_record")

    found, metrics, _ = await duplicates([], [second, first])

    assert where(found) == [("orders/cleanup_b.py", "orders/cleanup_a.py:1")]
    assert metrics == {"orders/cleanup_a.py": 0.0, "orders/cleanup_b.py": 1.0}


async def test_a_pair_with_a_file_analysed_earlier_is_reported_on_the_analysed_one() -> None:
    """When only one copy is analysed, the pair is reported on it, whichever path sorts
    last, unless the other copy's held analysis reports the pair already."""
    first = source_file("orders/cleanup_a.py", NORMALIZE, name="normalize_record")
    second = source_file("orders/cleanup_b.py", NORMALIZE, name="normalize_record")

    found, _, _ = await duplicates([second], [first])
    assert where(found) == [("orders/cleanup_a.py", "orders/cleanup_b.py:1")]

    [earlier] = (await duplicates([first], [second]))[0]
    again, metrics, _ = await duplicates([second], [first], held=(earlier,))
    assert again == []
    assert metrics == {"orders/cleanup_a.py": 0.0}


async def test_type_stubs_are_left_out_of_duplication_unless_configured() -> None:
    """Identical signatures of two .pyi stubs are no duplicate and the stubs get no
    duplicate_functions metric; a project that sets ``exclude`` to nothing gets them."""
    stubs = [
        source_file("client/http.pyi", STUB, name="fetch"),
        source_file("client/ftp.pyi", STUB, name="fetch"),
    ]

    found, metrics, _ = await duplicates([], stubs)
    assert (found, metrics) == ([], {})

    included, metrics, _ = await duplicates([], stubs, exclude=[])
    assert where(included) == [("client/http.pyi", "client/ftp.pyi:1")]
    assert metrics == {"client/ftp.pyi": 0.0, "client/http.pyi": 1.0}


async def test_a_function_whose_only_twin_is_excluded_has_no_duplicate() -> None:
    """A stub is never the other half of a pair: a module whose only near-identical
    function lies in a .pyi file is reported by no result."""
    module = source_file("client/http.py", STUB, name="fetch")
    stub = source_file("client/http.pyi", STUB, name="fetch")

    found, metrics, _ = await duplicates([stub], [module])

    assert found == []
    assert metrics == {"client/http.py": 0.0}


async def test_twins_are_found_past_any_number_of_excluded_lookalikes() -> None:
    """Two modules with the same function are a pair even when stubs of that very code
    outnumber them among the closest hits."""
    stubs = [source_file(f"client/stub{n}.pyi", STUB, name="fetch") for n in range(6)]
    first = source_file("client/http.py", STUB, name="fetch")
    second = source_file("client/ftp.py", STUB, name="fetch")

    found, metrics, _ = await duplicates(stubs, [first, second])

    assert where(found) == [("client/http.py", "client/ftp.py:1")]
    assert metrics == {"client/ftp.py": 0.0, "client/http.py": 1.0}
