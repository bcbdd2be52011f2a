"""Quality gates and new code end to end, as a user drives them: index the sample
repository, create a gate it fails and assign it, and the next analysis' ``codeant gate``
exits 1; back on the organization's default, the next one exits 0. The new-code period is
set for the project and overridden for a branch, and read back with where it comes from.
Then what these commands refuse, each in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cli.gates import SOURCES
from tests.e2e.cli import Cli, cli_for, index
from tests.e2e.sample_repo import build_sample_repo
from tests.e2e.test_cli_contract import Case, case, check

PROJECT = "orders-service"


def _date(day: int) -> str:
    return f"2024-03-{day:02d}T00:00:00+00:00"


def test_an_assigned_gate_decides_the_next_analysis_and_the_default_comes_back(
    cli: Cli, tmp_path: Path
) -> None:
    """A gate the sample fails (any unresolved issue), assigned to the project, fails
    the next analysis with exit 1; assigned back to the default, a new organization
    default that the sample passes decides the analysis after, with exit 0."""
    repo = build_sample_repo(tmp_path / PROJECT, tmp_path / "git-home")
    index(cli, repo)

    # before any gate of its own, the organization lists the built-in default
    listed = cli.json("gates")
    assert listed["organization"] == "default"
    [builtin] = listed["gates"]
    assert (builtin["name"], builtin["default"], builtin["builtin"]) == ("default", True, True)
    assert [c["measure"] for c in builtin["conditions"]] == [
        "new_issues_critical", "new_issues_high", "issues_critical",
    ]  # fmt: skip

    strict = cli.json(
        "gates", "create", "strict", "--condition", "issues > 0",
        "--condition", "new_issues_critical > 0",
    )  # fmt: skip
    assert (strict["name"], strict["default"], strict["builtin"]) == ("strict", False, False)
    conditions = [
        (c["metric"], c["on_new_code"], c["operator"], c["threshold"]) for c in strict["conditions"]
    ]
    assert conditions == [("issues", False, ">", 0), ("issues_critical", True, ">", 0)]
    table = cli.run("gates")
    assert table.returncode == 0, table
    lines = table.stdout.splitlines()
    assert lines[0] == "default: 1 quality gate"
    assert lines[1].split() == ["GATE", "DEFAULT", "FAILS", "IF"]
    assert lines[2].split()[:2] == ["strict", "-"]
    assert "issues > 0; issues_critical on new code > 0" in lines[2]
    assert lines[3].startswith("default") and "yes (built in)" in lines[3]
    again = cli.run("gates", "create", "strict", "--condition", "issues > 9")
    check(again, case(status=1, says="default already has a quality gate 'strict'"))

    assigned = cli.run("gates", "assign", "strict", PROJECT)
    assert assigned.returncode == 0, assigned
    assert assigned.stdout == f"{PROJECT}: quality gate 'strict', from its next analysis\n"
    unknown = cli.run("gates", "assign", "lenient", PROJECT)
    check(unknown, case(status=1, says="quality gate not found: 'lenient'"))
    assert "'strict'" in unknown.stderr, "the organization's gates are named"

    # the next analysis is evaluated on the assigned gate, and fails it
    repo.write("orders/notes.py", b'"""Notes."""\n')
    repo.commit_all("Notes", date=_date(5))
    failing = index(cli, repo)
    failed = cli.run("gate")
    assert failed.returncode == 1, failed
    assert "quality gate 'strict' FAILED" in failed.stdout.splitlines()[0]
    failed_json = cli.run("gate", "--json")
    assert failed_json.returncode == 1, failed_json
    verdict = json.loads(failed_json.stdout)
    assert (verdict["gate"], verdict["job_id"]) == ("strict", failing["job_id"])
    assert [c["failed"] for c in verdict["conditions"]] == [True, False]

    # an organization default the sample passes; the project goes back to the default
    relaxed = cli.json("gates", "create", "relaxed", "--condition", "issues > 100", "--default")
    assert relaxed["default"] is True
    listed = cli.json("gates")["gates"]
    assert [(g["name"], g["default"]) for g in listed] == [("relaxed", True), ("strict", False)]
    back = cli.run("gates", "assign", "--default", PROJECT)
    assert back.returncode == 0, back
    assert "the organization's default quality gate" in back.stdout
    repo.write("orders/notes.py", b'"""Notes, revised."""\n')
    repo.commit_all("Revised notes", date=_date(6))
    passing = index(cli, repo)
    passed = cli.run("gate")
    assert passed.returncode == 0, passed
    assert "quality gate 'relaxed' PASSED" in passed.stdout.splitlines()[0]
    assert cli.json("gate")["job_id"] == passing["job_id"]


def test_new_code_is_set_for_the_project_and_overridden_for_a_branch(
    cli: Cli, tmp_path: Path
) -> None:
    """The period in effect reads back with where it is set: the default, then the
    project's days:30 on every branch, then a branch's own reference branch on that
    branch only."""
    repo = build_sample_repo(tmp_path / PROJECT, tmp_path / "git-home")
    index(cli, repo)

    shown = cli.json("new-code", PROJECT)
    assert (shown["branch"], shown["period"], shown["source"]) == (
        "main", "previous-analysis", "default",
    )  # fmt: skip
    text = cli.run("new-code", PROJECT)
    assert text.returncode == 0, text
    assert text.stdout == (
        f"{PROJECT} on main: new code is what changed since the branch's previous analysis"
        f" (previous-analysis, {SOURCES['default']})\n"
    )

    done = cli.run("new-code", PROJECT, "days:30")
    assert done.returncode == 0, done
    assert "every branch without a period of its own" in done.stdout
    project = cli.json("new-code", PROJECT)
    assert (project["period"], project["days"], project["source"]) == ("days:30", 30, "project")
    assert cli.json("new-code", PROJECT, "--branch", "feature")["source"] == "project"

    override = cli.json("new-code", PROJECT, "branch:main", "--branch", "feature")
    assert (override["branch"], override["period"]) == ("feature", "branch:main")
    feature = cli.json("new-code", PROJECT, "--branch", "feature")
    assert (feature["branch"], feature["period"], feature["reference_branch"]) == (
        "feature", "branch:main", "main",
    )  # fmt: skip
    assert feature["source"] == "branch"
    main = cli.json("new-code", PROJECT)
    assert (main["branch"], main["period"], main["source"]) == ("main", "days:30", "project")
    shown_feature = cli.run("new-code", PROJECT, "--branch", "feature")
    assert shown_feature.stdout == (
        f"{PROJECT} on feature: new code is what branch main does not have"
        f" (branch:main, {SOURCES['branch']})\n"
    )
    own = cli.run("new-code", PROJECT, "branch:feature", "--branch", "feature")
    check(own, case(status=2, says="cannot be its own reference branch"))
    missing = cli.run("new-code", PROJECT, f"analysis:{'0' * 8}-0000-4000-8000-{'0' * 12}")
    check(missing, case(status=1, says="analysis job not found"))


# ------------------------------------------------------------------ the contract

REFUSED = [
    case("gates", status=1, says="no organization has a project yet; index one with"),
    case("gates", "--organization", "nope", status=1, says="organization not found: nope"),
    case("gates", "frobnicate", status=2, says="invalid choice: 'frobnicate'"),
    case("gates", "create", "g", status=2, says="required: --condition"),
    case(
        "gates",
        "create",
        "g",
        "--condition",
        "bugs > 0",
        status=2,
        says="argument --condition: metric 'bugs' must be one of",
    ),
    case(
        "gates",
        "create",
        "g",
        "--condition",
        "issues > 0",
        "--condition",
        "issues",
        status=2,
        says="argument --condition: must be METRIC OPERATOR THRESHOLD (got 'issues')",
    ),
    case(
        "gates",
        "create",
        "g",
        "--condition",
        "new_score < 50",
        status=2,
        says="metric 'score' has no new-code measure",
    ),
    case("gates", "create", "g", "--condition", "issues > many", status=2, says="threshold"),
    case("gates", "create", "g", "--condition", "issues > 0", status=1, says="no organization"),
    case("gates", "assign", status=2, says="give the gate's NAME (and PROJECT), or --default"),
    case("gates", "assign", "--default", "a", "b", status=2, says="--default takes PROJECT"),
    case("gates", "assign", "strict", "nope", status=1, says="project not found: nope"),
    case("new-code", status=2, says="the following arguments are required: PROJECT"),
    case("new-code", "nope", status=1, says="project not found: nope"),
    case("new-code", "nope", "weekly", status=2, says="argument PERIOD: must be previous-analysis"),
    case("new-code", "nope", "days:0", status=2, says="argument PERIOD: NewCodePeriod.days"),
    case("new-code", "nope", "analysis:42", status=2, says="argument PERIOD"),
]


@pytest.fixture(scope="module")
def scratch_cli(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    """``codeant`` on a scratch database with nothing indexed, for the module."""
    with cli_for(postgres_server_url, tmp_path_factory.mktemp("gates-contract")) as cli:
        cli.run("db", "upgrade")
        yield cli


@pytest.mark.parametrize("expected", REFUSED, ids=lambda c: c.id)
def test_what_the_gate_commands_refuse_is_one_line(expected: Case, scratch_cli: Cli) -> None:
    """A condition or period that does not parse exits 2, and what cannot be found
    exits 1, in one stderr line."""
    check(scratch_cli.run(*expected.argv), expected)
