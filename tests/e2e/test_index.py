"""``codeant index`` end to end: a real git repository, the CLI as a subprocess, a real
PostgreSQL database checked with raw SQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.e2e.cli import Cli, Indexed, cli_for, index
from tests.e2e.sample_repo import (
    ADDED,
    CLEANUP_A,
    CLEANUP_B,
    COMMIT_DATE,
    DUPLICATED_FUNCTION,
    EXPECTED_RESULTS,
    EXPECTED_RESULTS_AFTER_CHANGES,
    EXPECTED_VIOLATIONS,
    LANGUAGES,
    MODIFIED,
    REMOVED,
    SECOND_COMMIT_DATE,
    SKIPPED,
    SampleRepo,
    build_sample_repo,
    line_of,
    tracked_files,
)

ORGANIZATIONS = "SELECT slug, name FROM organizations ORDER BY slug"
PROJECTS = "SELECT id, slug, name, repository_url, default_branch, last_analyzed_at FROM projects"
REPOSITORIES = (
    "SELECT id, project_id, local_path, default_branch, current_commit, file_count, sync_status"
    " FROM repositories"
)
BRANCHES = "SELECT name, commit_hash, is_default, last_commit_at FROM repository_branches"
FILES = (
    "SELECT id, relative_path, language, size_bytes, line_count, file_hash, last_modified,"
    " analysis_status, metadata->>'skipped_reason' AS skipped_reason, updated_at"
    " FROM file_index WHERE analysis_status <> 'deleted' ORDER BY relative_path"
)
JOBS = "SELECT id, status, job_type, progress, error_message FROM analysis_jobs ORDER BY created_at"
# What a job holds: per file, the rows of the latest completed analysis of it up to the
# job (its path as of that analysis), unless that analysis saw the file removed.
HELD = """
WITH target AS (SELECT project_id, created_at FROM analysis_jobs WHERE id = %(job_id)s),
latest AS (
    SELECT DISTINCT ON (h.file_id) h.file_id, h.job_id, h.change, h.relative_path
    FROM file_history h JOIN analysis_jobs j ON j.id = h.job_id JOIN target t
        ON j.project_id = t.project_id AND j.created_at <= t.created_at
    WHERE j.status = 'completed'
    ORDER BY h.file_id, j.created_at DESC
)
"""
JOB_RESULTS = HELD + (
    "SELECT r.rule_id, l.relative_path, r.line_start FROM latest l"
    " JOIN analysis_results r ON r.job_id = l.job_id AND r.file_id = l.file_id"
    " WHERE l.change <> 'deleted' ORDER BY r.rule_id, l.relative_path, r.line_start"
)
JOB_METRICS = HELD + (
    "SELECT l.relative_path, m.metric_type, m.metric_name, m.value, m.is_violation"
    " FROM latest l JOIN code_metrics m ON m.job_id = l.job_id AND m.file_id = l.file_id"
    " WHERE l.change <> 'deleted' ORDER BY l.relative_path, m.metric_type, m.metric_name"
)
RAW_ROWS_OF_JOB = (
    "SELECT 'result' AS kind, to_jsonb(r) AS row FROM analysis_results r"
    " WHERE r.job_id = %(job_id)s"
    " UNION ALL SELECT 'metric', to_jsonb(m) FROM code_metrics m WHERE m.job_id = %(job_id)s"
    " ORDER BY 1, 2"
)
FILES_WRITTEN_BY_JOB = (
    "SELECT DISTINCT f.relative_path FROM file_index f WHERE f.id IN ("
    " SELECT file_id FROM analysis_results WHERE job_id = %(job_id)s"
    " UNION SELECT file_id FROM code_metrics WHERE job_id = %(job_id)s)"
    " ORDER BY 1"
)
RESULTS_WITHOUT_FILE = "SELECT count(*) AS n FROM analysis_results WHERE file_id IS NULL"
OUTBOX = (
    "SELECT count(*) AS total, count(*) FILTER (WHERE delivered_at IS NULL) AS pending,"
    " array_agg(DISTINCT event_type) AS types FROM outbox_events"
)
RULES = "SELECT id, updated_at FROM rules ORDER BY id"
RULE_CHANGED_EVENTS = "SELECT count(*) AS n FROM outbox_events WHERE event_type = 'RuleChanged'"
FILE_STATUS = "SELECT analysis_status FROM file_index WHERE id = %(file_id)s"
PGVECTOR_POINTS_OF_FILE = (
    "SELECT count(*) AS n FROM codeant_vectors.vectors_code_function"
    " WHERE payload->>'file_id' = %(file_id)s"
)
PROJECTS_TABLE = "SELECT to_regclass('public.projects') IS NOT NULL AS present"
PROJECT_COUNT = "SELECT count(*) AS n FROM projects"
FILE_COUNT = "SELECT count(*) AS n FROM file_index"
FUNCTION_COUNT = (
    "SELECT sum(jsonb_array_length(metadata->'functions')) AS n FROM file_index"
    " WHERE jsonb_typeof(metadata->'functions') = 'array'"
)


def is_text(content: bytes) -> bool:
    """Whether ``content`` is text: no NUL byte in its first 8 KiB, and UTF-8 (the only
    encoding of the text files these tests index)."""
    if b"\0" in content[:8192]:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def lines_of(files: dict[str, bytes]) -> int:
    """The newline bytes of the text files among ``files``, what ``wc -l`` would add up
    over them; binary and undecodable files have no lines."""
    return sum(content.count(b"\n") for content in files.values() if is_text(content))


def results_of(cli: Cli, job_id: Any) -> list[tuple[str, str, int]]:
    """The (rule id, path, first line) of each result of the job, sorted."""
    return [
        (r["rule_id"], r["relative_path"], r["line_start"])
        for r in cli.rows(JOB_RESULTS, {"job_id": job_id})
    ]


def metrics_of(cli: Cli, job_id: Any) -> dict[str, list[tuple[str, Any]]]:
    """The (name, value) of each metric of the job, by file path."""
    by_path: dict[str, list[tuple[str, Any]]] = {}
    for m in cli.rows(JOB_METRICS, {"job_id": job_id}):
        by_path.setdefault(m["relative_path"], []).append((m["metric_name"], m["value"]))
    return {path: sorted(metrics) for path, metrics in by_path.items()}


def utc(text: str) -> dt.datetime:
    """The ISO 8601 time ``text`` as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


# ------------------------------------------------------------------------ the first run


def test_first_run_counts_every_tracked_file(indexed: Indexed) -> None:
    """The summary counts every file git tracks, the newlines of the text files (none of
    the newline bytes of the binary and the undecodable file), the two that cannot be
    read as text, all as added, and every function embedded, in one completed job at
    HEAD."""
    tracked = indexed.repo.tracked()
    summary = indexed.summary
    assert summary["files"] == len(tracked) == 10
    assert summary["lines"] == lines_of(tracked)
    assert all(tracked[path].count(b"\n") for path in SKIPPED)
    assert summary["lines"] == sum(tracked[p].count(b"\n") for p in tracked if p not in SKIPPED)
    assert summary["added"] == len(tracked)
    assert (summary["modified"], summary["removed"], summary["unchanged"]) == (0, 0, 0)
    assert summary["skipped"] == len(SKIPPED)
    assert summary["analyzed"] == len(tracked)
    assert summary["commit"] == indexed.repo.head()
    assert summary["job_status"] == "completed"
    assert summary["up_to_date"] is False
    assert summary["embedded"] == indexed.cli.value(FUNCTION_COUNT) == 11
    assert (summary["organization"], summary["project"]) == ("default", "orders-service")


def test_first_run_records_organization_project_repository_and_branches(
    indexed: Indexed,
) -> None:
    """One organization ``default``, one project, one repository at HEAD with every file
    counted, and both branches with their commits, ``main`` the default."""
    cli, repo = indexed.cli, indexed.repo
    assert cli.rows(ORGANIZATIONS) == [{"slug": "default", "name": "default"}]
    [project] = cli.rows(PROJECTS)
    assert (project["slug"], project["name"]) == ("orders-service", "orders-service")
    assert project["repository_url"] == f"file://{repo.root}"
    assert project["default_branch"] == "main"
    assert project["last_analyzed_at"] is not None
    [repository] = cli.rows(REPOSITORIES)
    assert repository["project_id"] == project["id"]
    assert repository["local_path"] == str(repo.root)
    assert repository["default_branch"] == "main"
    assert repository["current_commit"] == repo.head()
    assert repository["file_count"] == indexed.summary["files"]
    assert repository["sync_status"] == "synced"
    branches = {b["name"]: b for b in cli.rows(BRANCHES)}
    assert set(branches) == {"main", "feature"}
    assert branches["main"]["is_default"] is True
    assert branches["feature"]["is_default"] is False
    for name, branch in branches.items():
        assert branch["commit_hash"] == repo.git("rev-parse", name).strip()
        assert branch["last_commit_at"] == utc(COMMIT_DATE)


def test_first_run_indexes_each_file_with_its_language_and_hash(indexed: Indexed) -> None:
    """Every tracked file has a row with its language, size, newline count, SHA-256 and
    last commit time; the binary and the undecodable file are skipped with a reason."""
    tracked = indexed.repo.tracked()
    rows = {row["relative_path"]: row for row in indexed.cli.rows(FILES)}
    assert set(rows) == set(tracked)
    for path, content in tracked.items():
        row = rows[path]
        assert row["language"] == LANGUAGES.get(path), path
        assert row["size_bytes"] == len(content), path
        assert row["line_count"] == (content.count(b"\n") if is_text(content) else 0), path
        assert row["file_hash"] == hashlib.sha256(content).hexdigest(), path
        assert row["last_modified"] == utc(COMMIT_DATE), path
        expected_status = "skipped" if path in SKIPPED else "analyzed"
        assert row["analysis_status"] == expected_status, path
    assert rows["assets/logo.png"]["skipped_reason"] == "binary file"
    assert rows["data/legacy.dat"]["skipped_reason"].startswith("undecodable: ")
    assert all(rows[path]["skipped_reason"] is None for path in set(rows) - set(SKIPPED))


def test_first_run_completes_one_job_with_the_expected_results(indexed: Indexed) -> None:
    """One completed index job holds exactly the expected issues: the complex function,
    the seven parameters, the TODO and FIXME lines, and the duplicated function, once,
    on its later copy."""
    cli = indexed.cli
    [job] = cli.rows(JOBS)
    assert str(job["id"]) == indexed.summary["job_id"]
    assert (job["status"], job["job_type"], job["progress"]) == ("completed", "index", 100)
    assert job["error_message"] is None
    assert results_of(cli, job["id"]) == list(EXPECTED_RESULTS)
    assert indexed.summary["results"] == len(EXPECTED_RESULTS)
    assert cli.value(RESULTS_WITHOUT_FILE) == 0


def test_first_run_records_metrics_with_their_violations(indexed: Indexed) -> None:
    """Each text file with a language has its metrics (its line count among them), none
    for the skipped files, and exactly the expected metrics are over their limits."""
    cli = indexed.cli
    [job] = cli.rows(JOBS)
    metrics = cli.rows(JOB_METRICS, {"job_id": job["id"]})
    assert len(metrics) == indexed.summary["metrics"]
    violations = {(m["relative_path"], m["metric_name"]) for m in metrics if m["is_violation"]}
    assert violations == EXPECTED_VIOLATIONS
    lines = {m["relative_path"]: m["value"] for m in metrics if m["metric_name"] == "lines"}
    tracked = indexed.repo.tracked()
    assert lines == {path: tracked[path].count(b"\n") for path in LANGUAGES}
    assert not {m["relative_path"] for m in metrics} & set(SKIPPED)


def test_first_run_delivers_every_outbox_event(indexed: Indexed) -> None:
    """The index command drains the outbox: every event it recorded is delivered."""
    outbox = indexed.cli.rows(OUTBOX)[0]
    assert outbox["total"] > 0
    assert outbox["pending"] == 0
    assert {"ProjectCreated", "AnalysisCompleted"} <= set(outbox["types"])


# ------------------------------------------------------------------------ unchanged


def test_unchanged_repository_is_up_to_date_and_writes_no_file_or_job(
    indexed: Indexed,
) -> None:
    """A second run on the unchanged repository reports it up to date, embeds nothing,
    starts no job and leaves every file row, result and metric as it was."""
    cli = indexed.cli
    files_before = cli.rows(FILES)
    [job] = cli.rows(JOBS)
    results_before = results_of(cli, job["id"])
    metrics_before = cli.rows(JOB_METRICS, {"job_id": job["id"]})
    summary = index(cli, indexed.repo)
    assert summary["up_to_date"] is True
    assert summary["job_id"] is None
    assert (summary["added"], summary["modified"], summary["removed"]) == (0, 0, 0)
    assert summary["unchanged"] == summary["files"] == indexed.summary["files"]
    assert summary["lines"] == indexed.summary["lines"]
    assert (summary["analyzed"], summary["embedded"], summary["results"]) == (0, 0, 0)
    assert cli.rows(JOBS) == [job]
    assert cli.rows(FILES) == files_before
    assert results_of(cli, job["id"]) == results_before
    assert cli.rows(JOB_METRICS, {"job_id": job["id"]}) == metrics_before
    assert cli.rows(OUTBOX)[0]["pending"] == 0


def test_unchanged_repository_rewrites_no_rule(indexed: Indexed) -> None:
    """A run on the unchanged repository leaves the built-in rules untouched and records
    no event at all (no RuleChanged, no sync, no snapshot)."""
    cli = indexed.cli
    rules_before = cli.rows(RULES)
    events_before = cli.value(RULE_CHANGED_EVENTS)
    outbox_before = cli.rows(OUTBOX)[0]["total"]
    assert index(cli, indexed.repo)["up_to_date"] is True
    assert cli.value(RULE_CHANGED_EVENTS) == events_before
    assert cli.rows(RULES) == rules_before
    assert cli.rows(OUTBOX)[0]["total"] == outbox_before


# ------------------------------------------------------------------------ incremental


@attrs.frozen(kw_only=True)
class Reindexed:
    """The sample indexed, then changed by a second commit and indexed again."""

    cli: Cli
    repo: SampleRepo
    first: dict[str, Any]
    second: dict[str, Any]
    head: str
    files_before: dict[str, dict[str, Any]]
    removed_id: Any
    tracked: dict[str, bytes]
    first_rows: list[dict[str, Any]]


@pytest.fixture(scope="module")
def reindexed(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reindexed]:
    """The sample repository indexed before and after :meth:`SampleRepo.apply_changes`."""
    directory = tmp_path_factory.mktemp("reindexed")
    repo = build_sample_repo(directory / "orders-service", directory / "git-home")
    with cli_for(postgres_server_url, directory / "cli") as cli:
        first = index(cli, repo)
        files_before = {r["relative_path"]: r for r in cli.rows(FILES)}
        first_rows = cli.rows(RAW_ROWS_OF_JOB, {"job_id": first["job_id"]})
        head = repo.apply_changes()
        yield Reindexed(
            cli=cli,
            repo=repo,
            first=first,
            second=index(cli, repo),
            head=head,
            files_before=files_before,
            removed_id=files_before[REMOVED]["id"],
            tracked=repo.tracked(),
            first_rows=first_rows,
        )


def test_changed_repository_counts_one_file_added_modified_and_removed(
    reindexed: Reindexed,
) -> None:
    """After a commit that modifies, adds and removes one file each, the next run counts
    exactly those, records the new file index and commit, and leaves the rows of the
    unchanged files untouched."""
    cli, summary, tracked = reindexed.cli, reindexed.second, reindexed.tracked
    assert (summary["added"], summary["modified"], summary["removed"]) == (1, 1, 1)
    assert summary["unchanged"] == len(tracked) - 2
    assert summary["files"] == len(tracked) == reindexed.first["files"]
    assert summary["lines"] == lines_of(tracked)
    assert summary["analyzed"] == 2
    assert (summary["commit"], summary["job_status"]) == (reindexed.head, "completed")
    after = {r["relative_path"]: r for r in cli.rows(FILES)}
    assert set(after) == set(tracked)
    assert after[MODIFIED]["file_hash"] == hashlib.sha256(tracked[MODIFIED]).hexdigest()
    assert after[ADDED]["last_modified"] == utc(SECOND_COMMIT_DATE)
    for path in set(after) - {MODIFIED, ADDED}:
        assert after[path] == reindexed.files_before[path], path
    [repository] = cli.rows(REPOSITORIES)
    assert repository["current_commit"] == reindexed.head
    assert repository["file_count"] == len(tracked)
    assert cli.rows(OUTBOX)[0]["pending"] == 0


def test_changed_repository_keeps_the_removed_file_and_its_past(reindexed: Reindexed) -> None:
    """The removed file stays, marked deleted: the first job keeps its results and
    metrics, the second holds none of them, and (with pgvector) its function embeddings
    are gone."""
    cli = reindexed.cli
    assert cli.value(FILE_STATUS, {"file_id": reindexed.removed_id}) == "deleted"
    first_job, second_job = (r["id"] for r in cli.rows(JOBS))
    assert any(r[1] == REMOVED for r in results_of(cli, first_job))
    assert REMOVED in metrics_of(cli, first_job)
    assert not any(r[1] == REMOVED for r in results_of(cli, second_job))
    assert REMOVED not in metrics_of(cli, second_job)
    assert cli.value(RESULTS_WITHOUT_FILE) == 0
    if cli.vector_backend == "pgvector":
        assert cli.value(PGVECTOR_POINTS_OF_FILE, {"file_id": str(reindexed.removed_id)}) == 0


def test_changed_repository_leaves_the_first_job_as_it_was(reindexed: Reindexed) -> None:
    """The second run writes rows only for the files it analysed and changes no row of
    the first job."""
    cli = reindexed.cli
    first_job, second_job = (str(r["id"]) for r in cli.rows(JOBS))
    assert cli.rows(RAW_ROWS_OF_JOB, {"job_id": first_job}) == reindexed.first_rows
    written = [r["relative_path"] for r in cli.rows(FILES_WRITTEN_BY_JOB, {"job_id": second_job})]
    assert written == sorted([ADDED, MODIFIED])


def test_changed_repository_job_holds_the_unchanged_files_analysis(reindexed: Reindexed) -> None:
    """The new job holds the results of the changed files and, as the previous job found
    them, the same results and metrics of every unchanged file."""
    cli = reindexed.cli
    old_job, new_job = cli.rows(JOBS)
    assert str(new_job["id"]) == reindexed.second["job_id"]
    assert new_job["status"] == "completed"
    new_results = results_of(cli, new_job["id"])
    assert new_results == list(EXPECTED_RESULTS_AFTER_CHANGES)
    old_results = results_of(cli, old_job["id"])
    old_metrics = metrics_of(cli, old_job["id"])
    new_metrics = metrics_of(cli, new_job["id"])
    for path in set(reindexed.tracked) - {MODIFIED, ADDED}:
        assert [r for r in new_results if r[1] == path] == [r for r in old_results if r[1] == path]
        assert new_metrics.get(path) == old_metrics.get(path), path
    assert sum(r[1] == "orders/routing.py" and r[0] == "todo-marker" for r in new_results) == 2


STUB = b"""def fetch(
    url: str,
    *,
    timeout: float = ...,
    retries: int = ...,
) -> bytes: ...
"""
NEAR_DUPLICATES = (
    "SELECT f.relative_path, r.metadata->>'duplicate_of' AS duplicate_of"
    " FROM analysis_results r JOIN file_index f ON f.id = r.file_id"
    " WHERE r.rule_id = 'near-duplicate-function' AND r.job_id = %(job_id)s"
)


def test_each_near_duplicate_pair_is_reported_once_and_stubs_never(
    cli: Cli, tmp_path: Path
) -> None:
    """The duplicated function is one issue, on its later copy, and stays one as either
    copy changes; two .pyi stubs of the same signature are no duplicates and get no
    duplicate metric."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    repo.write("client/http.pyi", STUB)
    repo.write("client/ftp.pyi", STUB)
    repo.commit_all("Stubs")
    a_line = line_of(CLEANUP_A, f"def {DUPLICATED_FUNCTION}(")
    b_line = line_of(CLEANUP_B, f"def {DUPLICATED_FUNCTION}(")
    pair = ("orders/cleanup_b.py", f"orders/cleanup_a.py:{a_line}")

    first = index(cli, repo)
    held = [
        (r[0], r[1]) for r in results_of(cli, first["job_id"]) if r[0] == "near-duplicate-function"
    ]
    assert held == [("near-duplicate-function", "orders/cleanup_b.py")]
    assert [tuple(r.values()) for r in cli.rows(NEAR_DUPLICATES, {"job_id": first["job_id"]})] == [
        pair
    ]
    metrics = metrics_of(cli, first["job_id"])
    assert ("duplicate_functions", 1) in metrics["orders/cleanup_b.py"]
    assert ("duplicate_functions", 0) in metrics["orders/cleanup_a.py"]
    for stub in ("client/http.pyi", "client/ftp.pyi"):
        assert "duplicate_functions" not in dict(metrics[stub]), stub

    for changed, content in (
        ("orders/cleanup_b.py", CLEANUP_B),
        ("orders/cleanup_a.py", CLEANUP_A),
    ):
        repo.write(changed, (content + "\n\ndef later():\n    return 1\n").encode())
        repo.commit_all(f"Change {changed}")
        job_id = index(cli, repo)["job_id"]
        duplicates = [r for r in results_of(cli, job_id) if r[0] == "near-duplicate-function"]
        assert [r[1] for r in duplicates] == ["orders/cleanup_b.py"], changed
    assert b_line == duplicates[0][2]


# ------------------------------------------------------------------------ refusals


def test_index_refuses_a_directory_that_is_not_a_git_repository(cli: Cli, tmp_path: Path) -> None:
    """Indexing a plain directory exits 1 with one error line naming it, and records no
    project."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not under version control\n")

    done = cli.run("index", str(plain), "--json")

    assert done.returncode == 1, done
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"codeant: error: root: is not a git repository (got '{plain}')"
    ]
    if cli.value(PROJECTS_TABLE):
        assert cli.value(PROJECT_COUNT) == 0


# ------------------------------------------------------------------------ this repository


def _own_work_tree() -> Path | None:
    """The top level of the git work tree holding these tests, or None outside one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=Path(__file__).parent, capture_output=True, text=True, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def test_index_of_this_repository_counts_its_files_and_lines(
    postgres_server_url: str, tmp_path: Path
) -> None:
    """Indexing the repository these tests belong to counts every file git tracks that
    the working tree holds, and the newlines of the text files among them."""
    root = _own_work_tree()
    if root is None:
        pytest.skip("the tests do not run from a git work tree")
    before = tracked_files(root)
    with cli_for(postgres_server_url, tmp_path / "cli") as cli:
        summary = cli.json("index", str(root))
        print(f"codeant index {root}: {summary['files']} files in {summary['seconds']} s")
        after = tracked_files(root)
        if after != before:
            pytest.skip("the working tree changed while it was being indexed")
        assert summary["files"] == len(before)
        assert summary["lines"] == lines_of(before)
        assert summary["added"] == len(before)
        assert summary["job_status"] == "completed"
        assert cli.value(FILE_COUNT) == len(before)
