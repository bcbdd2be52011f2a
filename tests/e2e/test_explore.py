"""``codeant search``, ``similar``, ``report`` and ``projects`` end to end, on the sample
repository indexed once by the CLI; what they print is compared with raw SQL."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.cli import Cli, Indexed, index
from tests.e2e.sample_repo import CLEANUP_B, DUPLICATED_FUNCTION, build_sample_repo, line_of

LATEST_JOB = (
    "SELECT id FROM analysis_jobs WHERE status = 'completed'"
    " ORDER BY created_at DESC, id DESC LIMIT 1"
)
RESULTS = (
    "SELECT r.rule_id, r.severity, r.category, r.title, f.relative_path, r.line_start"
    " FROM analysis_results r JOIN file_index f ON f.id = r.file_id"
    " WHERE r.job_id = %(job_id)s"
)
METRICS = (
    "SELECT metric_type, metric_name, count(*) AS files, max(value) AS max,"
    " avg(value) AS avg, count(*) FILTER (WHERE is_violation) AS violations"
    " FROM code_metrics WHERE job_id = %(job_id)s GROUP BY metric_type, metric_name"
)
PROJECT = "SELECT slug, name, last_analyzed_at, repository_url FROM projects"
FILE_COUNT = "SELECT count(*) AS n FROM file_index"


@pytest.fixture(scope="module")
def results(indexed: Indexed) -> list[dict[str, object]]:
    """The results of the sample's index job, read with raw SQL."""
    job_id = indexed.cli.value(LATEST_JOB)
    return indexed.cli.rows(RESULTS, {"job_id": job_id})


def test_search_finds_a_file_by_one_of_its_functions(indexed: Indexed) -> None:
    """Searching a function's name finds the file that defines it, with its language and
    line count."""
    found = indexed.cli.json("search", "route_order")
    routing = indexed.repo.tracked()["orders/routing.py"]
    assert {
        "project": "orders-service",
        "path": "orders/routing.py",
        "language": "python",
        "lines": routing.count(b"\n"),
    } in found["files"]
    both = indexed.cli.json("search", DUPLICATED_FUNCTION, "--project", "orders-service")
    assert {f["path"] for f in both["files"]} == {"orders/cleanup_a.py", "orders/cleanup_b.py"}


def test_search_finds_a_file_by_its_name_or_its_path(indexed: Indexed) -> None:
    """A file's name, its whole path or a part of it finds the file; its name or path
    puts it first."""
    for text in ("routing.py", "orders/routing.py", "orders/routing", "routing"):
        found = indexed.cli.json("search", text)
        assert "orders/routing.py" in [f["path"] for f in found["files"]], text
    for text in ("routing.py", "orders/routing.py"):
        assert indexed.cli.json("search", text)["files"][0]["path"] == "orders/routing.py"
    assert indexed.cli.json("search", "routing.rs")["files"] == []


def test_search_finds_a_result_by_a_word_of_its_title(
    indexed: Indexed, results: list[dict[str, object]]
) -> None:
    """Searching a word of a stored result's title finds that result, at its file and
    line, and no result without the word."""
    [complex_result] = [r for r in results if r["rule_id"] == "complex-function"]
    assert "cyclomatic" in str(complex_result["title"])
    found = indexed.cli.json("search", "cyclomatic")
    assert found["results"] == [
        {
            "project": "orders-service",
            "severity": complex_result["severity"],
            "rule": "complex-function",
            "title": complex_result["title"],
            "path": complex_result["relative_path"],
            "line": complex_result["line_start"],
        }
    ]
    fixme = indexed.cli.json("search", "FIXME")
    assert [(r["rule"], r["title"], r["path"]) for r in fixme["results"]] == [
        ("todo-marker", "FIXME marker", "orders/routing.py")
    ]


def test_similar_puts_the_other_copy_of_a_duplicated_function_first(indexed: Indexed) -> None:
    """The functions most similar to one copy of the duplicated function start with the
    other copy, scored at least 0.9, and never include the function asked about."""
    target = f"{indexed.repo.root / 'orders' / 'cleanup_a.py'}:{DUPLICATED_FUNCTION}"
    found = indexed.cli.json("similar", target, "--limit", "5")
    assert found["project"] == "orders-service"
    best = found["hits"][0]
    assert (best["path"], best["symbol"], best["language"]) == (
        "orders/cleanup_b.py",
        DUPLICATED_FUNCTION,
        "python",
    )
    assert best["lines"][0] == line_of(CLEANUP_B, f"def {DUPLICATED_FUNCTION}(")
    assert best["score"] >= 0.9
    assert 1 <= len(found["hits"]) <= 5
    assert all(
        (h["path"], h["symbol"]) != ("orders/cleanup_a.py", DUPLICATED_FUNCTION)
        for h in found["hits"]
    )
    scores = [h["score"] for h in found["hits"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("assets/logo.png", "file: is a binary file: it has no code to compare"),
        ("data/legacy.dat", "file: cannot be read as text (undecodable: "),
        ("orders/__init__.py", "file: is empty: it has no code to compare"),
    ],
)
def test_similar_to_a_file_without_code_is_one_line_and_exit_2(
    indexed: Indexed, path: str, says: str
) -> None:
    """similar on an indexed file that has no code to compare (binary, undecodable,
    empty) says so in one line naming it, exit 2, and prints nothing."""
    done = indexed.cli.run("similar", str(indexed.repo.root / path))
    assert done.returncode == 2, done
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"codeant similar: error: {says}"), line
    assert repr(path) in line


def test_similar_to_a_file_too_large_to_parse_is_refused(cli: Cli, tmp_path: Path) -> None:
    """A file indexed but too large to parse (over 2 MB) is refused in one line, exit 2,
    rather than embedded whole; a file of the same repository is compared as usual."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    repo.write("gen/table.py", b"VALUES = [\n" + b"    1,\n" * 400_000 + b"]\n")
    repo.commit_all("A generated table")
    index(cli, repo)

    done = cli.run("similar", str(repo.root / "gen" / "table.py"))
    assert done.returncode == 2, done
    [line] = done.stderr.splitlines()
    assert line.startswith(
        "codeant similar: error: file: is too large for analysis (2800013 bytes): it was not"
        " parsed, so it has no code to compare"
    ), line
    assert cli.json("similar", str(repo.root / "orders" / "cleanup_a.py"))["hits"]


def test_report_matches_the_stored_results_and_metrics(
    indexed: Indexed, results: list[dict[str, object]]
) -> None:
    """The report's issues by severity and by category, its hotspots and its metric
    aggregations agree with the results and metrics stored for the job."""
    cli = indexed.cli
    report = cli.json("report", "orders-service")
    assert report["project"] == "orders-service"
    issues = report["issues"]
    assert issues["total"] == len(results)
    assert issues["by_severity"] == dict(Counter(str(r["severity"]) for r in results))
    assert issues["by_category"] == dict(Counter(str(r["category"]) for r in results))
    assert sum(row["count"] for row in issues["rows"]) == len(results)

    per_file = Counter(str(r["relative_path"]) for r in results)
    assert {h["path"]: h["issues"] for h in report["hotspots"]} == dict(per_file)
    counts = [h["issues"] for h in report["hotspots"]]
    assert counts == sorted(counts, reverse=True)
    assert report["hotspots"][0] == {"path": "orders/routing.py", "issues": 4, "worst": "medium"}

    stored = cli.rows(METRICS, {"job_id": cli.value(LATEST_JOB)})
    shown = {(kind, m["name"]): m for kind, metrics in report["metrics"].items() for m in metrics}
    assert set(shown) == {(s["metric_type"], s["metric_name"]) for s in stored}
    for s in stored:
        m = shown[(s["metric_type"], s["metric_name"])]
        assert m["files"] == s["files"], s
        assert m["violations"] == s["violations"], s
        assert Decimal(str(m["max"])) == s["max"], s
        assert m["avg"] == pytest.approx(float(s["avg"]), abs=0.01), s
    assert shown[("complexity", "cyclomatic_max")]["violations"] == 1


def test_projects_lists_the_indexed_project_with_its_file_count(indexed: Indexed) -> None:
    """``projects`` lists the one indexed project with its file count and last analysis,
    as stored."""
    cli = indexed.cli
    [project] = cli.rows(PROJECT)
    listed = cli.json("projects")
    assert listed == [
        {
            "organization": "default",
            "project": project["slug"],
            "name": project["name"],
            "status": "active",
            "files": cli.value(FILE_COUNT),
            "last_analyzed_at": project["last_analyzed_at"].isoformat(),
            "repository_url": f"file://{indexed.repo.root}",
        }
    ]
    assert listed[0]["files"] == indexed.summary["files"]


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def test_search_text_counts_agree_with_their_nouns(indexed: Indexed) -> None:
    """The text output of search opens with its counts, each noun agreeing with its
    number (one file is "1 file"), and lists one line per hit."""
    cli = indexed.cli
    found = cli.json("search", "route_order")
    done = cli.run("search", "route_order")
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[0] == ", ".join(
        [
            _counted(len(found["projects"]), "project"),
            _counted(len(found["files"]), "file"),
            _counted(len(found["results"]), "result"),
        ]
    )
    assert len(lines) == 1 + sum(len(found[kind]) for kind in ("projects", "files", "results"))
    assert any(line.split() == ["file", "orders-service", "orders/routing.py"] for line in lines)


def test_report_says_what_it_counts(indexed: Indexed) -> None:
    """The report says whether it counts the latest analysis or sums every job of the
    window, where an issue counts once per job; its JSON names the same scope."""
    cli = indexed.cli
    latest = cli.run("report", "orders-service")
    total = cli.json("report", "orders-service")["issues"]["total"]
    assert latest.stdout.splitlines()[0] == (
        f"orders-service: {_counted(total, 'issue')} in the latest analysis (last 30 days)"
    )
    summed = cli.run("report", "orders-service", "--all-jobs", "--days", "1")
    body = cli.json("report", "orders-service", "--all-jobs", "--days", "1")
    assert body["issues"]["scope"] == "all_jobs"
    assert body["days"] == 1
    assert summed.stdout.splitlines()[0] == (
        f"orders-service: {_counted(body['issues']['total'], 'issue')} summed over every"
        " completed job of the last 1 day (an issue reported by several jobs, carried over"
        " or found again, counts once per job)"
    )


def test_vectors_status_is_a_table_with_a_header(indexed: Indexed) -> None:
    """vectors status prints a header, one row per collection with its points, and the
    backend with the number of collections."""
    cli = indexed.cli
    body = cli.json("vectors", "status")
    done = cli.run("vectors", "status")
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["COLLECTION", "DIMENSION", "DISTANCE", "POINTS"]
    rows = [line.split() for line in lines[1:-1]]
    assert rows == [
        [c["name"], str(c["dimension"]), c["distance"], str(c["points"])]
        for c in body["collections"]
    ]
    count = len(body["collections"])
    assert lines[-1] == f"backend: {body['backend']}, {_counted(count, 'collection')}"


def test_similar_searches_the_files_project_unless_told_otherwise(cli: Cli, tmp_path: Path) -> None:
    """Two copies of the sample repository are two projects. By default the hits come
    from the file's own project; ``--project`` searches another, where the same function
    at the same path and line is a hit like any other; ``--all`` searches both; each hit
    names its project."""
    first = build_sample_repo(tmp_path / "orders-service", tmp_path / "home")
    second = build_sample_repo(tmp_path / "orders-copy", tmp_path / "home")
    index(cli, first)
    index(cli, second)
    target = f"{first.root / 'orders' / 'cleanup_a.py'}:{DUPLICATED_FUNCTION}"

    own = cli.json("similar", target, "--limit", "50")
    assert own["scope"] == "project"
    assert own["hits"] and {h["project"] for h in own["hits"]} == {"orders-service"}

    other = cli.json("similar", target, "--project", "orders-copy", "--limit", "5")
    assert {h["project"] for h in other["hits"]} == {"orders-copy"}
    assert len(other["hits"]) == 5
    # both of its copies of the function, the one at the file's own path and line too
    assert {(h["path"], h["symbol"]) for h in other["hits"][:2]} == {
        ("orders/cleanup_a.py", DUPLICATED_FUNCTION),
        ("orders/cleanup_b.py", DUPLICATED_FUNCTION),
    }

    everywhere = cli.json("similar", target, "--all", "--limit", "50")
    assert everywhere["scope"] == "all"
    assert {h["project"] for h in everywhere["hits"]} == {"orders-service", "orders-copy"}
    # the other project's copy at the same path and line is not the function asked about
    assert ("orders-copy", "orders/cleanup_a.py", DUPLICATED_FUNCTION) in {
        (h["project"], h["path"], h["symbol"]) for h in everywhere["hits"]
    }
    assert ("orders-service", "orders/cleanup_a.py", DUPLICATED_FUNCTION) not in {
        (h["project"], h["path"], h["symbol"]) for h in everywhere["hits"]
    }

    done = cli.run("similar", target, "--all", "--project", "orders-copy")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "codeant similar: error: --all cannot go with --project or --organization"
        " (see 'codeant similar --help')"
    ]
