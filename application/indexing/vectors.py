"""The functions of the analysed files in the code index: their code units, their
embeddings, and the near-duplicates found through them."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from application.builtin_rules import NEAR_DUPLICATE, duplicate_result
from application.code_units import CodeUnit
from application.indexing.progress import Progress, every
from application.indexing.reading import Parsed
from application.similarity import (
    IndexResult,
    PreparedWrite,
    prepare_code_units,
    write_prepared,
)
from domain.analysis import AnalysisResult, CodeMetric
from domain.embeddings import CodeEmbedding, SimilarCode
from domain.enums import CodeUnitKind, MetricType
from domain.files import FileIndex
from domain.ids import EmbeddingId, FileId, JobId, ProjectId, RuleId
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.rules import EffectiveRule
from ports.code_index import CodeIndex
from ports.vectors import Embedder, NearestNeighbours

__all__ = [
    "cancelled",
    "code_units",
    "duplicate_metrics",
    "embed",
    "excluded_paths",
    "near_duplicates",
    "write_and_find_duplicates",
]

_MAX_HITS = 1000
"""The most hits one search for a function's twin asks for."""


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
    code_index: CodeIndex,
    units: Sequence[CodeUnit],
    analysed: Sequence[FileIndex],
) -> list[PreparedWrite]:
    """Embed the units of the analysed files that are new or changed, ready to be written
    with :func:`write_and_find_duplicates` (their files' other stored units to go then),
    and remove the units of analysed files that have none left. (Those of removed files
    go once the removal is recorded: see :class:`~application.similarity.VectorCleanup`.)"""
    with_units = {u.file_id for u in units}
    await code_index.remove_files([f.id for f in analysed if f.id not in with_units])
    return await prepare_code_units(embedder, code_index, units)


async def write_and_find_duplicates(
    code_index: CodeIndex,
    prepared: Sequence[PreparedWrite],
    units: Sequence[CodeUnit],
    parsed: Sequence[Parsed],
    rules: Mapping[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
    *,
    held: Sequence[AnalysisResult] = (),
    neighbours: NearestNeighbours | None = None,
) -> tuple[asyncio.Future[IndexResult], list[AnalysisResult]]:
    """Write ``prepared`` and find the near-duplicates of ``units``
    (:func:`near_duplicates`). With ``neighbours``, the project's functions as they will
    be once written are known before the write (those stored, read first, with what the
    run writes over them), so the pass over them runs while the store loads, and the
    write is returned still running when the pass ends first: the caller awaits it
    before the run counts as done (its error is the run's), or cancels it. Without,
    each search of the store follows the write. A failed pass cancels the write."""
    rule = rules.get(NEAR_DUPLICATE)
    if neighbours is None or rule is None or not rule.enabled or not units:
        writing = asyncio.ensure_future(write_prepared(code_index, prepared))
        await writing
        return writing, await near_duplicates(
            code_index, units, parsed, rules, job_id, report, held=held
        )
    functions = {e.id: e for e in await _project_functions(code_index, units)}
    for write in prepared:
        if write.kind is CodeUnitKind.FUNCTION:
            for embedding_id in write.gone:
                functions.pop(embedding_id, None)
            functions.update((e.id, e) for e in write.embeddings)
    writing = asyncio.ensure_future(write_prepared(code_index, prepared))
    try:
        duplicates = await near_duplicates(
            code_index, units, parsed, rules, job_id, report,
            held=held, neighbours=neighbours, project_functions=list(functions.values()),
        )  # fmt: skip
    except BaseException:
        await cancelled(writing)
        raise
    return writing, duplicates


async def cancelled(work: asyncio.Future[Any]) -> None:
    """Cancel ``work`` (a write, an embedding) if it is still running and wait for it to
    stop, whatever it raises. An error of work already done stays for its result to
    raise, but is no longer reported as never read."""
    if work.done():
        if not work.cancelled():
            work.exception()
        return
    work.cancel()
    with contextlib.suppress(BaseException):
        await work


def excluded_paths(rule: EffectiveRule | None) -> Callable[[str], bool]:
    """Whether a path is left out of duplication by the rule's ``exclude`` patterns (glob
    patterns over the whole relative path, ``*`` crossing directories; ``*.pyi`` by
    default, so type stubs, whose signatures repeat one another, are never duplicates)."""
    if rule is None:
        return lambda path: False
    value = rule.config.get("exclude", ())
    if isinstance(value, str):
        value = [value]
    patterns = [p for p in value if isinstance(p, str)] if isinstance(value, list | tuple) else []

    @functools.cache  # a file's functions share its path: matched once
    def excluded(path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, p) for p in patterns)

    return excluded


async def near_duplicates(
    code_index: CodeIndex,
    units: Sequence[CodeUnit],
    parsed: Sequence[Parsed],
    rules: Mapping[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
    held: Sequence[AnalysisResult] = (),
    neighbours: NearestNeighbours | None = None,
    project_functions: Sequence[CodeEmbedding] | None = None,
) -> list[AnalysisResult]:
    """One result per pair of functions whose stored embeddings lie within the rule's
    similarity, for each function of an analysed file and the closest other function of
    the project (ties to the lowest point id). A pair is reported once: on the later
    function (by path, then line) when both files are analysed now, else on the analysed
    one, unless ``held`` (the results the project's latest completed analysis holds)
    already reports it on the other. Files the rule's ``exclude`` patterns match take no
    part.

    With ``neighbours``, the project's stored embeddings (``project_functions`` when the
    caller has them: the functions of the units' projects) are compared all with all in
    process (exact); without, each function is one search of the code index."""
    rule = rules.get(NEAR_DUPLICATE)
    if rule is None or not rule.enabled or not units:
        return []
    min_similarity = float(rule.config.get("min_similarity", 0.9))
    min_nloc = int(rule.config.get("min_nloc", 4))
    excluded = excluded_paths(rule)
    functions = {
        (p.file.id, fn.name, fn.line_start): (p.file, fn)
        for p in parsed
        for fn in p.file.metadata.functions
    }
    analysed = {p.file.id for p in parsed}
    # (holder path, holder line, other path, other symbol) of each pair reported already
    reported = {
        (r.location.file_path, r.location.line_start,
         str(r.metadata.get("duplicate_of", "")).rpartition(":")[0], r.metadata.get("symbol"))
        for r in held
        if r.rule_id == NEAR_DUPLICATE and r.location is not None and r.file_id not in analysed
    }  # fmt: skip
    candidates = sorted(
        (
            u for u in units
            if (found := functions.get((u.file_id, u.symbol, u.line_start))) is not None
            and found[1].nloc >= min_nloc and rule.rule.applies_to(found[0].language)
            and not excluded(u.file_path)
        ),
        key=lambda u: (u.file_path, u.line_start, u.symbol),
        reverse=True,  # the later function of a pair reports it
    )  # fmt: skip
    if neighbours is not None:
        if project_functions is None:
            project_functions = await _project_functions(code_index, candidates)
        closest = await _closest_in_process(
            project_functions, candidates, min_similarity, excluded, neighbours
        )
    else:
        closest = await _closest_by_search(code_index, candidates, min_similarity, excluded)
    paired: set[frozenset[EmbeddingId]] = set()
    results = []
    for done, (unit, other) in enumerate(zip(candidates, closest, strict=True), start=1):
        if other is not None:
            pair = frozenset((unit.point_id, other.embedding_id))
            other_path, other_line = other.file_path, other.line_start
            if (
                pair not in paired
                and (other_path, other_line, unit.file_path, unit.symbol) not in reported
            ):
                paired.add(pair)
                file, fn = functions[(unit.file_id, unit.symbol, unit.line_start)]
                results.append(
                    duplicate_result(
                        job_id,
                        file.id,
                        file.relative_path,
                        fn,
                        other_path,
                        other.symbol,
                        other_line,
                        other.score,
                        rule,
                    )
                )
        every(report, "duplicates", done, len(candidates), step=100)
    return results


async def _closest_by_search(
    code_index: CodeIndex,
    candidates: Sequence[CodeUnit],
    min_similarity: float,
    excluded: Callable[[str], bool],
) -> list[SimilarCode | None]:
    """The closest other function of each candidate, one search of the index each."""
    stored = await code_index.get(CodeUnitKind.FUNCTION, [u.point_id for u in candidates])
    by_id = {e.id: e for e in stored}
    found: list[SimilarCode | None] = []
    for unit in candidates:
        embedding = by_id.get(unit.point_id)
        other = None
        if embedding is not None:
            other = await _closest_other(code_index, embedding, min_similarity, excluded)
        found.append(other)
    return found


async def _project_functions(
    code_index: CodeIndex, units: Sequence[CodeUnit]
) -> list[CodeEmbedding]:
    """Every stored function of the units' projects."""
    functions: list[CodeEmbedding] = []
    for project_id in sorted({u.project_id for u in units}):
        functions += await code_index.of_project(CodeUnitKind.FUNCTION, project_id)
    return functions


async def _closest_in_process(
    project_functions: Sequence[CodeEmbedding],
    candidates: Sequence[CodeUnit],
    min_similarity: float,
    excluded: Callable[[str], bool],
    neighbours: NearestNeighbours,
) -> list[SimilarCode | None]:
    """The closest other function of each candidate among ``project_functions``,
    compared in process (exact search)."""
    functions = sorted(project_functions, key=lambda e: e.id)  # ties go to the lowest id
    index_of = {e.id: i for i, e in enumerate(functions)}
    asked = [u for u in candidates if u.point_id in index_of]
    eligible = [not excluded(e.file_path) for e in functions]
    by_project: dict[ProjectId, list[CodeUnit]] = {}
    for unit in asked:
        by_project.setdefault(unit.project_id, []).append(unit)
    answers: dict[EmbeddingId, SimilarCode] = {}
    for project_id, units in by_project.items():
        allowed = [
            e and f.project_id == project_id for e, f in zip(eligible, functions, strict=True)
        ]
        found = await asyncio.to_thread(
            neighbours.closest,
            [f.vector for f in functions],
            [index_of[u.point_id] for u in units],
            allowed,
            min_similarity,
        )
        for unit, hit in zip(units, found, strict=True):
            if hit is not None:
                answers[unit.point_id] = functions[hit[0]].hit(hit[1])
    return [answers.get(u.point_id) for u in candidates]


async def _closest_other(
    code_index: CodeIndex,
    embedding: CodeEmbedding,
    min_similarity: float,
    excluded: Callable[[str], bool],
) -> SimilarCode | None:
    """The function of the embedding's project closest to it within ``min_similarity``,
    but itself and those of excluded files."""
    limit = 2
    while True:  # widen the search past excluded functions, up to the index's limit
        hits = await code_index.similar(
            CodeUnitKind.FUNCTION, embedding.vector, limit=limit,
            organization_id=embedding.organization_id, project_id=embedding.project_id,
            min_score=min_similarity,
        )  # fmt: skip
        for hit in hits:
            if hit.embedding_id != embedding.id and not excluded(hit.file_path):
                return hit
        if len(hits) < limit or limit == _MAX_HITS:
            return None
        limit = min(limit * 4, _MAX_HITS)


def duplicate_metrics(
    analysed: Sequence[FileIndex],
    duplicates: Sequence[AnalysisResult],
    job_id: JobId,
    rules: Mapping[RuleId, EffectiveRule],
) -> list[CodeMetric]:
    """The ``duplicate_functions`` metric of each analysed file that has functions and
    that the near-duplicate rule does not exclude: the pairs reported on the file."""
    excluded = excluded_paths(rules.get(NEAR_DUPLICATE))
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
        if file.metadata.functions and not excluded(file.relative_path)
    ]
