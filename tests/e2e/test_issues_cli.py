"""Tracked issues end to end: index the sample repository, triage an issue, edit the
repository (lines inserted above the issues, a file renamed) and index again; the issues
keep their ids and the verdict stands; ``codeant gate`` passes, then fails once the
project asks for a minimum score, with its exit status; ``report --history`` grows a point
per analysis and draws it as SVG and PNG; ``housekeeping --dry-run`` says what it would
remove and removes nothing. Then the command line's contract of these commands."""

from __future__ import annotations

import json
import struct
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.issues import RESOLUTIONS, SEVERITIES, STATUSES
from domain.enums import IssueStatus, Resolution, Severity
from domain.quality import MEASURES
from tests.e2e.cli import Cli, cli_for, index
from tests.e2e.sample_repo import EXPECTED_RESULTS, build_sample_repo
from tests.e2e.test_cli_contract import Case, case, check

SVG = "{http://www.w3.org/2000/svg}"
INSERTED = "# Routing rules of the northern warehouses.\n# Reviewed every quarter.\n\n"
"""Lines inserted at the top of orders/routing.py: every issue of the file moves down."""
MOVED = INSERTED.count("\n")
LATER_TODO = (
    b'"""Returns."""\n\n\ndef refund(order):\n    # TODO: partial refunds\n    return order\n'
)
PROJECT_SETTINGS = "SELECT settings FROM projects WHERE slug = 'orders-service'"
SET_MIN_SCORE = (
    "UPDATE projects SET settings = settings || jsonb_build_object("
    "'quality_gate_min_score', %(score)s::float) WHERE slug = 'orders-service' RETURNING slug"
)


def by_key(issues: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(i["rule"], i["path"], i["line"]): i for i in issues}


def the_issue(
    issues: list[dict[str, Any]], rule: str, path: str, title: str | None = None
) -> dict[str, Any]:
    """The only issue of ``rule`` in ``path`` (with that title, if given)."""
    [found] = [
        i for i in issues if i["rule"] == rule and i["path"] == path and title in (None, i["title"])
    ]
    return found


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a PNG file, each checked against its CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_an_issue_keeps_its_id_and_verdict_through_edits_gates_and_history(
    cli: Cli, tmp_path: Path
) -> None:
    """A realistic session: the issues of the first analysis, one resolved as a false
    positive (an illegal move refused in one line), the repository edited and indexed
    again twice; ids, verdict, gate, history, charts and housekeeping as a user sees
    them."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    summaries = [index(cli, repo)]

    # the first analysis: one open issue per result, none on new code
    first = cli.json("issues")
    assert (first["project"], first["branch"]) == ("orders-service", "main")
    assert sorted(by_key(first["issues"])) == sorted(EXPECTED_RESULTS)
    assert {(i["status"], i["resolution"], i["new_code"]) for i in first["issues"]} == {
        ("open", None, False)
    }
    severities = [Severity(i["severity"]).rank for i in first["issues"]]
    assert severities == sorted(severities), "the most severe first"
    table = cli.run("issues")
    assert table.returncode == 0, table
    lines = table.stdout.splitlines()
    assert lines[0] == f"orders-service on main: {len(EXPECTED_RESULTS)} unresolved issues"
    assert lines[1].split() == ["ISSUE", "SEVERITY", "STATUS", "NEW", "RULE", "WHERE", "TITLE"]
    assert len(lines) == 2 + len(EXPECTED_RESULTS)
    todo = the_issue(first["issues"], "todo-marker", "orders/routing.py", "TODO marker")
    complex_ = the_issue(first["issues"], "complex-function", "orders/routing.py")
    duplicate = the_issue(first["issues"], "near-duplicate-function", "orders/cleanup_b.py")
    medium = cli.json("issues", "--severity", "medium")["issues"]
    assert {i["id"] for i in medium} == {complex_["id"], duplicate["id"]}

    # triage: a false positive, with a comment; then a move the lifecycle does not have
    resolved = cli.json(
        "issue", todo["id"], "--resolve", "false-positive", "--comment", "a reminder, not a bug"
    )
    assert (resolved["id"], resolved["status"], resolved["resolution"]) == (
        todo["id"], "resolved", "false-positive",
    )  # fmt: skip
    last = resolved["changelog"][-1]
    assert (last["from_status"], last["to_status"], last["to_resolution"]) == (
        "open", "resolved", "false-positive",
    )  # fmt: skip
    assert last["comment"] == "a reminder, not a bug"
    assert last["actor"].startswith("cli:") and last["job_id"] is None
    refused = cli.run("issue", todo["id"], "--confirm")
    check(refused, case("issue", todo["id"], "--confirm", status=1, says="cannot confirm issue"))
    assert "it is resolved" in refused.stderr
    unresolved = cli.json("issues")["issues"]
    assert todo["id"] not in {i["id"] for i in unresolved}

    # edit: lines inserted above routing.py's issues, cleanup_b.py renamed; index again
    routing = repo.root / "orders/routing.py"
    routing.write_text(INSERTED + routing.read_text())
    repo.git("mv", "orders/cleanup_b.py", "orders/suppliers.py")
    repo.commit_all("Routing notes; cleanup_b is the suppliers' cleanup", date=_date(5))
    summaries.append(index(cli, repo))
    assert (summaries[-1]["modified"], summaries[-1]["renamed"]) == (1, 1)

    after = cli.json("issues", "--status", "open", "--status", "resolved")["issues"]
    ids = {i["id"]: i for i in after}
    assert set(ids) == {i["id"] for i in first["issues"]}, "no issue new, none lost"
    assert ids[complex_["id"]]["line"] == complex_["line"] + MOVED
    assert ids[duplicate["id"]]["path"] == "orders/suppliers.py"
    kept = ids[todo["id"]]
    assert (kept["status"], kept["resolution"], kept["line"]) == (
        "resolved", "false-positive", todo["line"] + MOVED,
    )  # fmt: skip
    on_new_code_after_edit = sorted(i["id"] for i in after if i["new_code"])
    detail = cli.json("issue", todo["id"])
    assert [c["to_status"] for c in detail["changelog"]] == ["open", "resolved"]
    assert detail["last_seen_job_id"] == summaries[-1]["job_id"]
    shown = cli.run("issue", todo["id"])
    assert shown.returncode == 0, shown
    assert shown.stdout.splitlines()[0] == (
        f"{todo['id']}  [info] todo-marker  resolved (false-positive)"
    )
    assert "a reminder, not a bug" in shown.stdout

    # the gate: the default one passes (no critical or high issue)
    gate = cli.json("gate")
    assert (gate["gate"], gate["status"], gate["passed"]) == ("default", "passed", True)
    assert gate["job_id"] == summaries[-1]["job_id"]
    assert [(c["measure"], c["operator"], c["threshold"]) for c in gate["conditions"]] == [
        ("new_issues_critical", ">", 0), ("new_issues_high", ">", 0), ("issues_critical", ">", 0),
    ]  # fmt: skip
    passed = cli.run("gate")
    assert passed.returncode == 0, passed
    assert "PASSED" in passed.stdout.splitlines()[0]

    # the project asks for a score of 90 (it stays below): the next analysis fails its gate
    cli.rows(SET_MIN_SCORE, {"score": 90})
    repo.write("orders/refunds.py", LATER_TODO)
    repo.commit_all("Refunds", date=_date(6))
    summaries.append(index(cli, repo))
    on_new_code = cli.json("issues", "--new")["issues"]
    failed = cli.run("gate", "--json")
    assert failed.returncode == 1, failed
    verdict = json.loads(failed.stdout)
    assert (verdict["status"], verdict["passed"]) == ("failed", False)
    [score] = [c for c in verdict["conditions"] if c["failed"]]
    assert (score["metric"], score["operator"], score["threshold"]) == ("score", "<", 90)
    assert score["value"] < 90
    text = cli.run("gate")
    assert text.returncode == 1 and "FAILED" in text.stdout, text
    assert any(
        line.split()[-1] == "FAILED" and "score < 90" in line for line in text.stdout.splitlines()
    ), text.stdout

    # history: a point per analysis, in order
    jobs = [s["job_id"] for s in summaries]
    history = cli.json("report", "--history")
    assert (history["metric"], history["branch"]) == ("issues", "main")
    assert [p["job_id"] for p in history["points"]] == jobs
    unresolved_count = len(EXPECTED_RESULTS)
    assert [p["value"] for p in history["points"]] == [
        unresolved_count, unresolved_count - 1, unresolved_count,
    ]  # fmt: skip
    false_positives = cli.json("report", "--history", "--metric", "false_positives")
    assert [p["value"] for p in false_positives["points"]] == [0, 1, 1]
    chart = cli.run("report", "--history")
    assert chart.returncode == 0, chart
    head, spark = chart.stdout.splitlines()[:2]
    assert head.startswith("orders-service: issues on main over 3 analyses"), head
    assert set(spark.split()[0]) <= set("▁▂▃▄▅▆▇█") and len(spark.split()[0]) == 3

    svg_file, png_file = tmp_path / "issues.svg", tmp_path / "issues.png"
    drawn = cli.json("report", "--history", "--plot", str(svg_file))
    assert drawn["plot"] == str(svg_file)
    root = ET.parse(svg_file).getroot()
    assert root.tag == f"{SVG}svg"
    [series] = [e for e in root.iter(f"{SVG}polyline") if e.get("class") == "series"]
    assert len(series.get("points", "").split()) == 3
    points = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "point"]
    assert [float(p.get("data-value", "nan")) for p in points] == [6, 5, 6]
    assert cli.run("report", "--history", "--plot", str(png_file)).returncode == 0
    chunks = png_chunks(png_file.read_bytes())
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (720, 360, 8, 2)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + 3 * width)
    assert bytes((31, 111, 235)) in pixels, "the series is drawn"
    texts = dict(body.split(b"\0", 1) for kind, body in chunks if kind == b"tEXt")
    assert texts[b"Title"] == b"orders-service on main: issues"

    # housekeeping: every analysis is recent, so the dry run removes nothing, nor a run
    dry = cli.json("housekeeping", "--dry-run")
    assert dry["dry_run"] is True
    assert (dry["analyses_deleted"], dry["analyses_kept"]) == (0, 3)
    assert [(p["project"], p["deleted"], p["kept"]) for p in dry["projects"]] == [
        ("default/orders-service", [], 3)
    ]
    said = cli.run("housekeeping", "--dry-run")
    assert said.returncode == 0, said
    assert said.stdout.startswith("housekeeping (dry run): would remove 0 analyses (3 kept)")
    assert cli.value("SELECT count(*) AS n FROM analysis_jobs") == 3
    assert cli.value("SELECT count(*) AS n FROM issues") == len(EXPECTED_RESULTS) + 1

    # new code (checked last, so that the rest shows whatever it finds): an edit that only
    # moved issues adds none on new code; the file added after it has the only one
    assert on_new_code_after_edit == [], "moved issues are not new code"
    assert [(i["rule"], i["path"]) for i in on_new_code] == [("todo-marker", "orders/refunds.py")]


def _date(day: int) -> str:
    return f"2024-03-{day:02d}T00:00:00+00:00"


# ------------------------------------------------------------------ the contract

UNKNOWN = str(uuid.UUID(int=7))
REFUSED = [
    case("issues", status=1, says="no project has been indexed yet; index one with"),
    case("issues", "nope", status=1, says="project not found: nope"),
    case("gate", status=1, says="no project has been indexed yet"),
    case("report", "--history", status=1, says="no project has been indexed yet"),
    case("issue", UNKNOWN, status=1, says=f"issue not found: {UNKNOWN}"),
    case("issue", "42", status=2, says="argument ID: must be an issue id"),
    case("issue", UNKNOWN, "--confirm", "--reopen", status=2, says="not allowed with argument"),
    case("issue", UNKNOWN, "--resolve", "done", status=2, says="invalid choice: 'done'"),
    case("issue", UNKNOWN, "--comment", " ", status=2, says="argument --comment: must not be"),
    case("issues", "--status", "fixed", status=2, says="invalid choice: 'fixed'"),
    case("issues", "--severity", "severe", status=2, says="invalid choice: 'severe'"),
    case("report", "--history", "--plot", "chart.jpg", status=2, says="must be a file name"),
    case("report", "--history", "--metric", "bugs", status=2, says="argument --metric: must be"),
    case("report", "--metric", "issues", status=2, says="--metric goes with --history"),
    case("report", "--plot", "a.svg", status=2, says="--plot goes with --history"),
    case("report", "--history", "--days", "3", status=2, says="--days does not go with --history"),
    case("housekeeping", "--keep", "1", status=2, says="unrecognized arguments: --keep"),
]


@pytest.mark.parametrize("expected", REFUSED, ids=lambda c: c.id)
def test_what_the_issue_commands_refuse_is_one_line(expected: Case, scratch_cli: Cli) -> None:
    """A bad command line exits 2 and what cannot be found exits 1, in one stderr line."""
    check(scratch_cli.run(*expected.argv), expected)


@pytest.fixture(scope="module")
def scratch_cli(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    """``codeant`` on a scratch database with nothing indexed, for the module."""
    with cli_for(postgres_server_url, tmp_path_factory.mktemp("issues-contract")) as cli:
        cli.run("db", "upgrade")
        yield cli


def test_housekeeping_of_an_empty_database_removes_nothing(scratch_cli: Cli) -> None:
    """With nothing indexed, housekeeping has nothing to remove, and says so."""
    done = scratch_cli.run("housekeeping", "--dry-run")
    assert done.returncode == 0, done
    assert done.stdout.startswith("housekeeping (dry run): would remove 0 analyses (0 kept)")


def test_the_options_offer_every_status_severity_resolution_and_measure() -> None:
    """The choices spelled out for the parser are the domain's, and the history's
    default metric is a measure."""
    assert tuple(IssueStatus) == STATUSES
    assert tuple(Severity) == SEVERITIES
    assert tuple(Resolution) == RESOLUTIONS
    assert "issues" in MEASURES
