"""The functions of the analysed files in the vector store: their code units, their
embeddings, and the near-duplicates found through them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from application.builtin_rules import NEAR_DUPLICATE, duplicate_result
from application.code_units import CodeUnit, collection_name
from application.indexing.progress import Progress, every
from application.indexing.reading import Parsed
from application.similarity import IndexResult, index_code_units, remove_file_units
from domain.analysis import AnalysisResult, CodeMetric
from domain.enums import CodeUnitKind, MetricType
from domain.files import FileIndex
from domain.ids import FileId, JobId, RuleId
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.rules import EffectiveRule
from ports.vectors import Embedder, VectorStore

__all__ = ["code_units", "duplicate_metrics", "embed", "near_duplicates"]


def code_units(
    organization: Organization,
    project: Project,
    repository: Repository,
    files: Sequence[FileIndex],
    texts: Mapping[FileId, str],
) -> list[CodeUnit]:
    """The functions of ``files`` (those with a text) as code units."""
    units: dict[object, CodeUnit] = {}
    for file in files:
        text = texts.get(file.id)
        if text is None:
            continue
        lines = text.splitlines()
        for fn in file.metadata.functions:
            code = "\n".join(lines[fn.line_start - 1 : fn.line_end])
            if not code.strip():
                continue
            unit = CodeUnit(
                organization_id=organization.id,
                project_id=project.id,
                repository_id=repository.id,
                file_id=file.id,
                file_path=file.relative_path,
                kind=CodeUnitKind.FUNCTION,
                language=file.language,
                symbol=fn.name,
                line_start=fn.line_start,
                line_end=fn.line_end,
                code=code,
            )
            units.setdefault(unit.point_id, unit)
    return list(units.values())


async def embed(
    embedder: Embedder,
    store: VectorStore,
    units: Sequence[CodeUnit],
    analysed: Sequence[FileIndex],
    report: Progress,
) -> IndexResult:
    """Write the units of the analysed files (whose other stored units go), and remove the
    units of analysed files that have none left. (Those of removed files go once the
    removal is recorded: see :class:`~application.similarity.VectorCleanup`.)"""
    with_units = {u.file_id for u in units}
    for file in analysed:
        if file.id not in with_units:
            await remove_file_units(store, file.id)
    report("embedding", 0, len(units))
    result = await index_code_units(embedder, store, units, prune=True)
    report("embedding", len(units), len(units))
    return result


async def near_duplicates(
    store: VectorStore,
    units: Sequence[CodeUnit],
    parsed: Sequence[Parsed],
    rules: Mapping[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
) -> list[AnalysisResult]:
    """One result per function of an analysed file whose stored embedding lies within the
    rule's similarity of another function of the project."""
    rule = rules.get(NEAR_DUPLICATE)
    if rule is None or not rule.enabled or not units:
        return []
    min_similarity = float(rule.config.get("min_similarity", 0.9))
    min_nloc = int(rule.config.get("min_nloc", 4))
    functions = {
        (p.file.id, fn.name, fn.line_start): (p.file, fn)
        for p in parsed
        for fn in p.file.metadata.functions
    }
    collection = collection_name("code", CodeUnitKind.FUNCTION)
    candidates = [
        u for u in units
        if (found := functions.get((u.file_id, u.symbol, u.line_start))) is not None
        and found[1].nloc >= min_nloc and rule.rule.applies_to(found[0].language)
    ]  # fmt: skip
    points = {p.id: p for p in await store.retrieve(collection, [u.point_id for u in candidates])}
    results = []
    for done, unit in enumerate(candidates, start=1):
        point = points.get(unit.point_id)
        if point is not None:
            hits = await store.search(
                collection,
                point.vector,
                limit=2,
                filter={"project_id": str(unit.project_id)},
                score_threshold=min_similarity,
            )
            other = next((h for h in hits if h.id != unit.point_id), None)
            if other is not None:
                file, fn = functions[(unit.file_id, unit.symbol, unit.line_start)]
                results.append(
                    duplicate_result(
                        job_id,
                        file.id,
                        file.relative_path,
                        fn,
                        str(other.payload.get("file_path")),
                        str(other.payload.get("symbol")),
                        int(other.payload.get("line_start", 1)),
                        other.score,
                        rule,
                    )
                )
        every(report, "duplicates", done, len(candidates), step=100)
    return results


def duplicate_metrics(
    analysed: Sequence[FileIndex], duplicates: Sequence[AnalysisResult], job_id: JobId
) -> list[CodeMetric]:
    """The ``duplicate_functions`` metric of each analysed file that has functions."""
    per_file: dict[FileId, int] = {}
    for result in duplicates:
        if result.file_id is not None:
            per_file[result.file_id] = per_file.get(result.file_id, 0) + 1
    return [
        CodeMetric(
            file_id=file.id,
            job_id=job_id,
            metric_type=MetricType.DUPLICATION,
            metric_name="duplicate_functions",
            value=float(per_file.get(file.id, 0)),
            threshold_max=0.0,
        )
        for file in analysed
        if file.metadata.functions
    ]
