"""The built-in rules and metrics over files as the analyser reads them: a metric over its
limit and the issue of the same rule go together."""

from __future__ import annotations

import asyncio

from adapters.source import FileAnalyzer
from application.builtin_rules import BUILTIN_RULES, LARGE_FILE
from application.indexing.evaluation import evaluate
from application.indexing.progress import silent
from application.indexing.reading import parse_files
from domain.ids import JobId, ProjectId, RuleId, new_id
from domain.projects import Repository
from domain.rules import effective_rules
from tests.unit.parsing import added_files

REPOSITORY = Repository(
    project_id=ProjectId(new_id()),
    local_path="/srv/orders",
    remote_url="https://git.example.com/orders.git",
    default_branch="main",
)
MAX_BYTES = 20_000
LONG = "x = 1\n" * 1500  # 1500 lines, above large-file's 1000, in 9000 bytes
HUGE = "x = 1\n" * 4000  # 24000 bytes: too large to parse


def analysed(
    files: dict[str, bytes],
) -> tuple[dict[str, list[RuleId]], dict[str, dict[str, float]]]:
    """The rule ids of the issues and the metrics (name -> value) of each file, analysed
    as the main job does with an analyser that parses up to MAX_BYTES."""
    to_analyse = added_files(REPOSITORY, files)
    parsed = asyncio.run(parse_files(FileAnalyzer(max_bytes=MAX_BYTES), "/srv/orders",
                                     REPOSITORY, to_analyse, silent))  # fmt: skip
    rules = {r.rule_id: r for r in effective_rules(list(BUILTIN_RULES), [])}
    results, metrics = evaluate(parsed, rules, JobId(new_id()), silent)
    path_of = {p.file.id: p.file.relative_path for p in parsed}
    issues: dict[str, list[RuleId]] = {path: [] for path in files}
    for r in results:
        assert r.file_id is not None
        issues[path_of[r.file_id]].append(r.rule_id)
    values: dict[str, dict[str, float]] = {path: {} for path in files}
    violations = set()
    for m in metrics:
        values[path_of[m.file_id]][m.metric_name] = m.value
        if m.metric_name == "lines" and m.is_violation:
            violations.add(path_of[m.file_id])
    assert violations == {path for path, found in issues.items() if LARGE_FILE in found}
    return issues, values


def test_a_file_too_large_to_parse_has_its_lines_metric_beside_its_large_file_issue() -> None:
    """A file skipped as too large to parse gets the large-file issue and the lines
    metric over the same limit, and no metric that needs parsing."""
    issues, metrics = analysed({"gen/huge.py": HUGE.encode(), "gen/long.py": LONG.encode()})

    assert issues["gen/huge.py"] == [LARGE_FILE]
    assert metrics["gen/huge.py"] == {"lines": 4000.0}
    assert issues["gen/long.py"] == [LARGE_FILE]
    assert metrics["gen/long.py"]["lines"] == 1500.0
    assert "function_count" in metrics["gen/long.py"]


def test_a_file_without_text_has_no_metrics_and_no_issue() -> None:
    """A binary file, whatever newline bytes it holds, has neither a lines metric nor a
    large-file issue."""
    blob = b"\x00\x01" + b"\n" * 3000

    issues, metrics = analysed({"assets/blob.bin": blob})

    assert (issues, metrics) == ({"assets/blob.bin": []}, {"assets/blob.bin": {}})
