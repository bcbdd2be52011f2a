"""The built-in static rules and the code metrics of a file.

Each rule is a :class:`~domain.rules.Rule` whose ``implementation`` holds its thresholds;
a project's rule configuration can disable it, change its severity or override its
thresholds (see :func:`~application.rules.effective_rule_set`). Evaluating a file yields
its analysis results (issues) and code metrics, with the same thresholds.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from domain.analysis import AnalysisResult, CodeMetric
from domain.enums import Category, MetricType, ProgrammingLanguage, RuleType, Severity
from domain.files import FileIndex
from domain.ids import FileId, JobId, RuleId
from domain.rules import EffectiveRule, Rule
from domain.values import FunctionSignature, SourceLocation

__all__ = [
    "BUILTIN_RULES",
    "COMPLEX_FUNCTION",
    "LARGE_FILE",
    "LONG_FUNCTION",
    "NEAR_DUPLICATE",
    "TODO_MARKER",
    "TOO_MANY_PARAMETERS",
    "FileEvaluation",
    "duplicate_result",
    "evaluate_file",
]

COMPLEX_FUNCTION = RuleId("complex-function")
LONG_FUNCTION = RuleId("long-function")
TOO_MANY_PARAMETERS = RuleId("too-many-parameters")
LARGE_FILE = RuleId("large-file")
TODO_MARKER = RuleId("todo-marker")
NEAR_DUPLICATE = RuleId("near-duplicate-function")

# languages whose functions the analyser extracts
CODE_LANGUAGES = (
    ProgrammingLanguage.C, ProgrammingLanguage.CPP, ProgrammingLanguage.CSHARP,
    ProgrammingLanguage.GO, ProgrammingLanguage.JAVA, ProgrammingLanguage.JAVASCRIPT,
    ProgrammingLanguage.KOTLIN, ProgrammingLanguage.LUA, ProgrammingLanguage.OBJECTIVE_C,
    ProgrammingLanguage.PHP, ProgrammingLanguage.PYTHON, ProgrammingLanguage.RUBY,
    ProgrammingLanguage.RUST, ProgrammingLanguage.SCALA, ProgrammingLanguage.SWIFT,
    ProgrammingLanguage.TYPESCRIPT, ProgrammingLanguage.FORTRAN, ProgrammingLanguage.SOLIDITY,
    ProgrammingLanguage.ERLANG, ProgrammingLanguage.ZIG, ProgrammingLanguage.PERL,
)  # fmt: skip
ALL_LANGUAGES = tuple(ProgrammingLanguage)


def _rule(
    id: RuleId,
    name: str,
    description: str,
    category: Category,
    severity: Severity,
    languages: tuple[ProgrammingLanguage, ...],
    implementation: dict[str, Any],
) -> Rule:
    return Rule(
        id=id,
        name=name,
        description=description,
        category=category,
        severity=severity,
        languages=languages,
        rule_type=RuleType.STATIC,
        implementation=implementation,
        is_builtin=True,
    )


BUILTIN_RULES: tuple[Rule, ...] = (
    _rule(
        COMPLEX_FUNCTION, "Complex function",
        "A function whose cyclomatic complexity exceeds the limit is hard to test and to change.",
        Category.COMPLEXITY, Severity.MEDIUM, CODE_LANGUAGES, {"max_complexity": 10},
    ),
    _rule(
        LONG_FUNCTION, "Long function",
        "A function with more lines of code than the limit does too much to read at once.",
        Category.MAINTAINABILITY, Severity.LOW, CODE_LANGUAGES, {"max_nloc": 50},
    ),
    _rule(
        TOO_MANY_PARAMETERS, "Too many parameters",
        "A function taking more parameters than the limit is hard to call correctly.",
        Category.MAINTAINABILITY, Severity.LOW, CODE_LANGUAGES, {"max_parameters": 5},
    ),
    _rule(
        LARGE_FILE, "Large file",
        "A file with more lines than the limit is hard to navigate; split it by concern.",
        Category.MAINTAINABILITY, Severity.INFO, ALL_LANGUAGES, {"max_lines": 1000},
    ),
    _rule(
        TODO_MARKER, "TODO or FIXME marker",
        "A TODO, FIXME, XXX or HACK marker records work left undone.",
        Category.DOCUMENTATION, Severity.INFO, ALL_LANGUAGES,
        {"markers": ["TODO", "FIXME", "XXX", "HACK"]},
    ),
    _rule(
        NEAR_DUPLICATE, "Near-duplicate function",
        "Two functions whose code embeddings are nearly identical duplicate logic that"
        " should live in one place.",
        Category.DUPLICATION, Severity.MEDIUM, CODE_LANGUAGES,
        {"min_similarity": 0.9, "min_nloc": 4, "exclude": ["*.pyi"]},
    ),
)  # fmt: skip


@attrs.frozen(kw_only=True)
class FileEvaluation:
    results: tuple[AnalysisResult, ...]
    metrics: tuple[CodeMetric, ...]


def _applies(rules: Mapping[RuleId, EffectiveRule], rule_id: RuleId, file: FileIndex) -> bool:
    rule = rules.get(rule_id)
    return rule is not None and rule.enabled and rule.rule.applies_to(file.language)


def _limit(
    rules: Mapping[RuleId, EffectiveRule], rule_id: RuleId, key: str, file: FileIndex
) -> float | None:
    """The threshold ``key`` of a rule that is on and applies to the file's language; None
    otherwise (or when the configuration lacks a number there)."""
    if not _applies(rules, rule_id, file):
        return None
    value = rules[rule_id].config.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluate_file(
    file: FileIndex,
    text: str | None,
    rules: Mapping[RuleId, EffectiveRule],
    job_id: JobId,
) -> FileEvaluation:
    """The results and metrics of one file under the project's effective ``rules``."""
    results: list[AnalysisResult] = []
    meta = file.metadata

    def result(rule_id: RuleId, title: str, description: str, suggestion: str,
               line_start: int, line_end: int, confidence: float = 1.0,
               extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        rule = rules[rule_id]
        results.append(
            AnalysisResult(
                job_id=job_id,
                file_id=file.id,
                rule_id=rule_id,
                severity=rule.severity,
                category=rule.rule.category,
                title=title[:500],
                description=description[:2000],
                location=SourceLocation(
                    file_path=file.relative_path, line_start=line_start, line_end=line_end
                ),
                suggestion=suggestion,
                confidence=confidence,
                metadata=extra or {},
            )
        )

    max_complexity = _limit(rules, COMPLEX_FUNCTION, "max_complexity", file)
    max_nloc = _limit(rules, LONG_FUNCTION, "max_nloc", file)
    max_parameters = _limit(rules, TOO_MANY_PARAMETERS, "max_parameters", file)
    max_lines = _limit(rules, LARGE_FILE, "max_lines", file)
    for fn in meta.functions:
        if max_complexity is not None and fn.complexity > max_complexity:
            result(
                COMPLEX_FUNCTION, f"{fn.name} has cyclomatic complexity {fn.complexity}",
                f"{fn.name} has cyclomatic complexity {fn.complexity}, above the limit"
                f" of {max_complexity:g}.",
                "Extract branches into smaller functions or replace conditionals with"
                " lookups.", fn.line_start, fn.line_end,
                extra={"complexity": fn.complexity},
            )  # fmt: skip
        if max_nloc is not None and fn.nloc > max_nloc:
            result(
                LONG_FUNCTION, f"{fn.name} has {fn.nloc} lines of code",
                f"{fn.name} has {fn.nloc} lines of code, above the limit of {max_nloc:g}.",
                "Split it into functions that each do one thing.",
                fn.line_start, fn.line_end, extra={"nloc": fn.nloc},
            )  # fmt: skip
        if max_parameters is not None and len(fn.parameters) > max_parameters:
            result(
                TOO_MANY_PARAMETERS, f"{fn.name} takes {len(fn.parameters)} parameters",
                f"{fn.name} takes {len(fn.parameters)} parameters, above the limit of"
                f" {max_parameters:g}.",
                "Group related parameters into an object.", fn.line_start, fn.line_end,
                extra={"parameters": len(fn.parameters)},
            )  # fmt: skip
    if max_lines is not None and file.line_count > max_lines:
        result(
            LARGE_FILE, f"{file.relative_path} has {file.line_count} lines",
            f"The file has {file.line_count} lines, above the limit of {max_lines:g}.",
            "Split it into modules by concern.", 1, max(1, file.line_count),
        )  # fmt: skip
    if text is not None and _applies(rules, TODO_MARKER, file):
        for line_no, marker, line in _markers(text, rules[TODO_MARKER].config.get("markers")):
            result(
                TODO_MARKER, f"{marker} marker",
                f"Line {line_no} carries a {marker} marker: {line.strip()[:300]}",
                "Do the work or track it in the issue tracker, then remove the marker.",
                line_no, line_no, confidence=0.9, extra={"marker": marker},
            )  # fmt: skip
    return FileEvaluation(
        results=tuple(results),
        metrics=tuple(
            _metrics(file, text is not None, job_id, max_complexity, max_parameters, max_lines)
        ),
    )


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""The characters str.splitlines ends a line at."""


def _markers(text: str, configured: Any) -> list[tuple[int, str, str]]:
    """The first marker of each line that holds one, with the line's number (as
    ``str.splitlines`` counts them) and the line. Only the lines where a marker's text
    occurs are matched against the markers' pattern (most files hold none)."""
    markers = [m for m in configured or () if isinstance(m, str) and m]
    if not markers:
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(m) for m in markers) + r")\b")
    if any(_LINE_BREAKS.intersection(m) for m in markers):  # a marker across lines
        return _markers_by_line(text.splitlines(), pattern)
    occurrences = [at for m in markers for at in _occurrences(text, m)]
    if not occurrences:
        return []
    lines = text.splitlines(keepends=True)
    ends = list(itertools.accumulate(map(len, lines)))
    numbers = sorted({bisect.bisect_right(ends, at) + 1 for at in occurrences})
    return _markers_by_line(
        [lines[n - 1].splitlines()[0] for n in numbers], pattern, numbers=numbers
    )


def _occurrences(text: str, part: str) -> Iterator[int]:
    """Where ``part`` starts in ``text``, each place."""
    at = text.find(part)
    while at != -1:
        yield at
        at = text.find(part, at + 1)


def _markers_by_line(
    lines: Sequence[str], pattern: re.Pattern[str], *, numbers: Sequence[int] | None = None
) -> list[tuple[int, str, str]]:
    """The first match of ``pattern`` in each of ``lines`` that has one, with the line's
    number (``numbers``, else counted from 1) and the line."""
    found = []
    for number, line in zip(numbers or range(1, len(lines) + 1), lines, strict=True):
        match = pattern.search(line)
        if match:
            found.append((number, match.group(1), line))
    return found


def _metrics(
    file: FileIndex,
    has_text: bool,
    job_id: JobId,
    max_complexity: float | None,
    max_parameters: float | None,
    max_lines: float | None,
) -> list[CodeMetric]:
    """The metrics of a text file with a language: its ``lines`` always (a file too large
    to parse has them too, so that the metric agrees with its ``large-file`` issue), the
    others only when it was parsed."""
    meta = file.metadata
    if file.language is None or not has_text:
        return []

    def metric(kind: MetricType, name: str, value: float, maximum: float | None) -> CodeMetric:
        return CodeMetric(
            file_id=file.id, job_id=job_id, metric_type=kind, metric_name=name,
            value=round(float(value), 4), threshold_max=maximum,
        )  # fmt: skip

    lines = metric(MetricType.SIZE, "lines", min(file.line_count, 999_999), max_lines)
    if meta.skipped_reason is not None:
        return [lines]
    functions: tuple[FunctionSignature, ...] = meta.functions
    complexities = [f.complexity for f in functions]
    out = [
        lines,
        metric(MetricType.SIZE, "lines_of_code",
               min(meta.complexity_metrics.nloc if meta.complexity_metrics else 0, 999_999),
               None),
        metric(MetricType.COMPLEXITY, "function_count", len(functions), None),
    ]  # fmt: skip
    if functions:
        out += [
            metric(MetricType.COMPLEXITY, "cyclomatic_average",
                   sum(complexities) / len(complexities), max_complexity),
            metric(MetricType.COMPLEXITY, "cyclomatic_max", max(complexities), max_complexity),
            metric(MetricType.MAINTAINABILITY, "max_parameters",
                   max(len(f.parameters) for f in functions), max_parameters),
        ]  # fmt: skip
    return out


def duplicate_result(
    job_id: JobId,
    file_id: FileId,
    file_path: str,
    function: FunctionSignature,
    other_path: str,
    other_symbol: str,
    other_line: int,
    similarity: float,
    rule: EffectiveRule,
) -> AnalysisResult:
    """The result of a function found nearly identical to another one."""
    return AnalysisResult(
        job_id=job_id,
        file_id=file_id,
        rule_id=rule.rule_id,
        severity=rule.severity,
        category=rule.rule.category,
        title=f"{function.name} nearly duplicates {other_symbol}"[:500],
        description=(
            f"{function.name} is {similarity:.0%} similar to {other_symbol} in"
            f" {other_path}:{other_line}."
        )[:2000],
        location=SourceLocation(
            file_path=file_path, line_start=function.line_start, line_end=function.line_end
        ),
        suggestion="Keep one implementation and call it from both places.",
        confidence=max(0.0, min(1.0, round(similarity, 2))),
        metadata={"duplicate_of": f"{other_path}:{other_line}", "symbol": other_symbol},
    )
