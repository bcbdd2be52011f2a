"""``codeant issues``, ``issue``, ``gate`` and ``housekeeping``, and the ``--history`` mode
of ``codeant report``: tracked issues, their triage, the quality gate of the latest
analysis, a measure over time, and retention.

The commands that read a project resolve it as ``report`` does (its slug, or the only
project there is) in the system scope, then run their services in a unit of work opened
for the project's organization; a triage is recorded under the command's actor
(``CODEANT_ACTOR``, else ``cli:<login name>``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    Command,
    CommandFailed,
    Context,
    UsageError,
    text,
)
from adapters.cli.output import plural, table

if TYPE_CHECKING:
    from application.housekeeping import HousekeepingReport
    from domain.issues import Issue, IssueChange
    from domain.projects import Project
    from domain.quality import GateEvaluation

__all__ = [
    "GATE",
    "HOUSEKEEPING",
    "ISSUE",
    "ISSUES",
    "RESOLUTIONS",
    "SEVERITIES",
    "STATUSES",
    "history_arguments",
    "plot_file",
    "project_named",
    "run_history",
    "shown_branch",
]

# domain.enums IssueStatus, Severity and Resolution, spelled out so that building the
# parser imports no domain code
STATUSES = ("open", "confirmed", "reopened", "resolved", "closed")
SEVERITIES = ("critical", "high", "medium", "low", "info")
RESOLUTIONS = ("fixed", "false-positive", "wont-fix")
DEFAULT_METRIC = "issues"
PAGE = 1000


def issue_id(value: str) -> uuid.UUID:
    """Argument type: an issue id, a UUID as ``codeant issues`` prints it."""
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an issue id as 'codeant issues' prints it, a UUID such as"
            f" 0b6c1f9e-2d4a-4e8b-9a7c-5f3e2d1c0b9a (got {value!r})"
        ) from None


def plot_file(value: str) -> Path:
    """Argument type: a file name ending in .png or .svg."""
    from adapters.cli.chart import FORMATS

    text(value)
    path = Path(value)
    if path.suffix.lower() not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"must be a file name ending in .png or .svg (got {value!r})"
        )
    return path


def _project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "project", nargs="?", type=text, metavar="PROJECT",
        help="project slug (default: the only project there is)",
    )  # fmt: skip
    parser.add_argument(
        "--organization", type=text, metavar="SLUG",
        help="the project's organization (when two organizations have a project of that slug)",
    )  # fmt: skip


def _branch_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--branch", metavar="B",
        help=f"{what} of this branch (default: the branch of the latest analysis;"
        " '' names a detached HEAD)",
    )  # fmt: skip


async def project_named(context: Context, slug: str | None, organization: str | None) -> Project:
    """The project the command names, as ``report`` resolves it: one line when none is
    indexed yet."""
    from application.search import resolve_project
    from ports.errors import NotFoundError

    try:
        return await resolve_project(
            context.container.uow(system=True), slug, organization_slug=organization
        )
    except NotFoundError:
        if slug is not None:
            raise
        where = f" in the organization {organization}" if organization else ""
        raise CommandFailed(
            f"no project has been indexed{where} yet; index one with 'codeant index PATH'"
        ) from None


async def _branch(context: Context, project: Project, branch: str | None) -> str:
    """``branch``, else the branch of the project's latest completed analysis ("" for
    none or a detached HEAD), so that every service of one command reads the same one."""
    from application.quality import branch_of, check_branch

    check_branch(branch)
    async with context.container.uow(organization_id=project.organization_id) as uow:
        return await branch_of(uow, project.id, branch)


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def shown_branch(branch: str) -> str:
    return branch or "(detached HEAD)"


def _short_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# issues ------------------------------------------------------------------------------------


def _issue_row(issue: Issue) -> dict[str, Any]:
    return {
        "id": str(issue.id),
        "project_id": str(issue.project_id),
        "branch": issue.branch,
        "rule": issue.rule_id,
        "severity": str(issue.severity),
        "category": str(issue.category),
        "status": str(issue.status),
        "resolution": None if issue.resolution is None else str(issue.resolution),
        "title": issue.title,
        "description": issue.description,
        "path": issue.path,
        "line": issue.line,
        "line_hash": issue.line_hash,
        "file_id": None if issue.file_id is None else str(issue.file_id),
        "new_code": issue.new_code,
        "first_seen_job_id": None
        if issue.first_seen_job_id is None
        else str(issue.first_seen_job_id),
        "last_seen_job_id": None if issue.last_seen_job_id is None else str(issue.last_seen_job_id),
        "first_seen_at": _when(issue.first_seen_at),
        "last_seen_at": _when(issue.last_seen_at),
        "closed_at": _when(issue.closed_at),
        "updated_at": _when(issue.updated_at),
    }


def _where(issue: Issue) -> str:
    if not issue.path:
        return "-"
    return f"{issue.path}:{issue.line}" if issue.line is not None else issue.path


def _status(issue: Issue) -> str:
    return f"{issue.status} ({issue.resolution})" if issue.resolution else str(issue.status)


def _issues_arguments(parser: argparse.ArgumentParser) -> None:
    _project_arguments(parser)
    _branch_argument(parser, "the issues")
    parser.add_argument(
        "--status", action="append", choices=STATUSES, metavar="S",
        help="only issues of this status, one of " + ", ".join(STATUSES)
        + " (repeat it for several; default: open, confirmed and reopened)",
    )  # fmt: skip
    parser.add_argument(
        "--severity", choices=SEVERITIES, metavar="S",
        help="only issues of this severity or a higher one, one of " + ", ".join(SEVERITIES),
    )  # fmt: skip
    parser.add_argument(
        "--new",
        action="store_true",
        help="only issues on new code (by default: first found after the previous analysis)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


async def _issues(args: argparse.Namespace, context: Context) -> int:
    from application.issues import list_issues
    from domain.enums import IssueStatus, Severity
    from ports.pagination import PageRequest

    c = context.container
    project = await project_named(context, args.project, args.organization)
    branch = await _branch(context, project, args.branch)
    statuses = None if not args.status else [IssueStatus(s) for s in dict.fromkeys(args.status)]
    found: list[Issue] = []
    cursor = None
    while True:
        page = await list_issues(
            c.uow(organization_id=project.organization_id), project.id, branch=branch,
            statuses=statuses, min_severity=Severity(args.severity) if args.severity else None,
            new_code=True if args.new else None, page=PageRequest(limit=PAGE, cursor=cursor),
        )  # fmt: skip
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    if args.json:
        body = {
            "project": project.slug,
            "branch": branch,
            "statuses": [str(s) for s in statuses] if statuses else list(STATUSES[:3]),
            "issues": [_issue_row(i) for i in found],
        }
        print(json.dumps(body))
        return EXIT_OK
    kinds = "/".join(args.status) if args.status else "unresolved"
    print(f"{project.slug} on {shown_branch(branch)}: {plural(len(found), f'{kinds} issue')}")
    if found:
        table(
            [("ISSUE", "SEVERITY", "STATUS", "NEW", "RULE", "WHERE", "TITLE")]
            + [
                (
                    str(i.id),
                    str(i.severity),
                    _status(i),
                    "new" if i.new_code else "-",
                    i.rule_id,
                    _where(i),
                    i.title,
                )
                for i in found
            ]
        )
    return EXIT_OK


ISSUES = Command(
    name="issues",
    help="the tracked issues of a project's branch, most severe first (unresolved ones"
    " unless --status says), each with the id it keeps from one analysis to the next",
    run=_issues,
    add_arguments=_issues_arguments,
)


# issue -------------------------------------------------------------------------------------


def _change_row(change: IssueChange) -> dict[str, Any]:
    return {
        "at": _when(change.at),
        "actor": change.actor,
        "job_id": None if change.job_id is None else str(change.job_id),
        "from_status": None if change.from_status is None else str(change.from_status),
        "to_status": str(change.to_status),
        "from_resolution": None if change.from_resolution is None else str(change.from_resolution),
        "to_resolution": None if change.to_resolution is None else str(change.to_resolution),
        "comment": change.comment,
    }


def _move(change: IssueChange) -> str:
    def state(status: object, resolution: object) -> str:
        return f"{status} ({resolution})" if resolution else str(status)

    after = state(change.to_status, change.to_resolution)
    if change.from_status is None:
        return after
    before = state(change.from_status, change.from_resolution)
    return "comment" if before == after else f"{before} -> {after}"


_HINTS = {
    "confirm": "only an open or reopened issue can be confirmed",
    "resolve": "only an open, confirmed or reopened issue can be resolved",
    "reopen": "only a resolved issue can be reopened; a closed one reopens when an analysis"
    " finds it again",
}


def _issue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=issue_id, metavar="ID", help="the issue's id")
    moves = parser.add_mutually_exclusive_group()
    moves.add_argument(
        "--resolve", choices=RESOLUTIONS, metavar="RESOLUTION",
        help="resolve the issue: fixed, false-positive or wont-fix (a verdict,"
        " false-positive or wont-fix, holds through every later analysis)",
    )  # fmt: skip
    moves.add_argument("--confirm", action="store_true", help="confirm the issue")
    moves.add_argument(
        "--reopen", action="store_true", help="reopen a resolved issue (its verdict withdrawn)"
    )
    parser.add_argument(
        "--comment", type=text, metavar="TEXT",
        help="why (with a move), or a comment alone",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")


async def _issue(args: argparse.Namespace, context: Context) -> int:
    from application.issues import change_issue, issue_detail
    from application.projects import get_project
    from domain.enums import Resolution
    from domain.errors import InvalidTransitionError
    from domain.ids import IssueId

    c = context.container
    id_ = IssueId(args.id)
    detail = await issue_detail(c.uow(system=True), id_)
    project = await get_project(c.uow(system=True), detail.issue.project_id)
    move = "confirm" if args.confirm else "reopen" if args.reopen else None
    if args.resolve:
        move = "resolve"
    changed = move is not None or args.comment is not None
    if changed:
        try:
            detail = await change_issue(
                c.uow(organization_id=project.organization_id), id_, confirm=args.confirm,
                resolve=Resolution(args.resolve) if args.resolve else None, reopen=args.reopen,
                comment=args.comment,
            )  # fmt: skip
        except InvalidTransitionError as exc:
            assert move is not None  # a comment alone moves nothing
            option = f"--{move}" + (f" {args.resolve}" if args.resolve else "")
            raise CommandFailed(
                f"cannot {move} issue {id_} ({option}): it is {exc.current}; {_HINTS[move]}"
            ) from exc
    issue = detail.issue
    if args.json:
        body = {
            "project": project.slug,
            **_issue_row(issue),
            "changelog": [_change_row(ch) for ch in detail.changelog],
        }
        print(json.dumps(body))
        return EXIT_OK
    if changed and detail.changelog:
        print(f"issue {issue.id}: {_move(detail.changelog[-1])}")
    print(f"{issue.id}  [{issue.severity}] {issue.rule_id}  {_status(issue)}")
    print(f"  title      {issue.title}")
    if issue.description:
        print(f"  detail     {issue.description}")
    print(f"  where      {project.slug} on {shown_branch(issue.branch)}: {_where(issue)}")
    print(f"  category   {issue.category}{', on new code' if issue.new_code else ''}")
    print(f"  first seen {_short_time(issue.first_seen_at)} (job {issue.first_seen_job_id})")
    print(f"  last seen  {_short_time(issue.last_seen_at)} (job {issue.last_seen_job_id})")
    if issue.closed_at is not None:
        print(f"  closed     {_short_time(issue.closed_at)}")
    print("\nchangelog")
    table(
        [("TIME", "BY", "CHANGE", "COMMENT")]
        + [(_short_time(ch.at), ch.actor, _move(ch), ch.comment or "") for ch in detail.changelog]
    )
    return EXIT_OK


ISSUE = Command(
    name="issue",
    help="one issue with its changelog; --resolve, --confirm, --reopen or --comment"
    " triages it (recorded under the actor, kept through every later analysis)",
    run=_issue,
    add_arguments=_issue_arguments,
)


# gate --------------------------------------------------------------------------------------


def _gate_body(project: Project, gate: GateEvaluation) -> dict[str, Any]:
    return {
        "project": project.slug,
        "branch": gate.branch,
        "gate": gate.gate_name,
        "status": str(gate.status),
        "passed": gate.passed,
        "job_id": str(gate.job_id),
        "evaluated_at": _when(gate.evaluated_at),
        "conditions": [
            {
                "metric": o.condition.metric,
                "measure": o.condition.measure,
                "on_new_code": o.condition.on_new_code,
                "operator": str(o.condition.operator),
                "threshold": o.condition.threshold,
                "value": o.value,
                "failed": o.failed,
            }
            for o in gate.conditions
        ],
    }


def _gate_arguments(parser: argparse.ArgumentParser) -> None:
    _project_arguments(parser)
    _branch_argument(parser, "the gate")
    parser.add_argument("--json", action="store_true", help="print JSON")


async def _gate(args: argparse.Namespace, context: Context) -> int:
    from adapters.cli.chart import number
    from application.quality import latest_gate

    c = context.container
    project = await project_named(context, args.project, args.organization)
    branch = await _branch(context, project, args.branch)
    gate = await latest_gate(
        c.uow(organization_id=project.organization_id), project.id, branch=branch
    )
    if gate is None:
        where = f" on {shown_branch(branch)}" if branch or args.branch is not None else ""
        raise CommandFailed(
            f"no analysis of {project.slug}{where} has a quality gate yet; index it with"
            " 'codeant index PATH'"
        )
    status = EXIT_OK if gate.passed else EXIT_FAILURE
    if args.json:
        print(json.dumps(_gate_body(project, gate)))
        return status
    print(
        f"{project.slug} on {shown_branch(gate.branch)}: quality gate {gate.gate_name!r}"
        f" {str(gate.status).upper()} (job {gate.job_id}, {_short_time(gate.evaluated_at)})"
    )
    table(
        [("CONDITION", "VALUE", "RESULT")]
        + [
            (
                f"fails if {o.condition}",
                "-" if o.value is None else number(o.value),
                "FAILED" if o.failed else "ok",
            )
            for o in gate.conditions
        ]
    )
    return status


GATE = Command(
    name="gate",
    help="the quality gate of the latest analysis of a project's branch, each condition"
    " with its value; exit 0 if it passed, 1 if it failed (for CI)",
    run=_gate,
    add_arguments=_gate_arguments,
)


# report --history --------------------------------------------------------------------------


def history_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``codeant report --history``."""
    parser.add_argument(
        "--history", action="store_true",
        help="instead of the report: a measure in each analysis kept, oldest first"
        " (a chart on a terminal, the points with --json)",
    )  # fmt: skip
    parser.add_argument(
        "--metric", type=text, metavar="M",
        help=f"with --history: the measure (default: {DEFAULT_METRIC}); issues,"
        " issues_<severity>, confirmed_issues, false_positives, wont_fix, files, lines,"
        " score, or on new code new_issues, new_issues_<severity>, new_files, new_lines",
    )  # fmt: skip
    parser.add_argument(
        "--plot", type=plot_file, metavar="FILE",
        help="with --history: also draw the chart into FILE, a .svg or .png",
    )  # fmt: skip
    _branch_argument(parser, "with --history: the analyses")


async def run_history(args: argparse.Namespace, context: Context) -> int:
    """``codeant report --history``."""
    from adapters.cli.chart import chart, number, sparkline
    from application.quality import measure_history
    from domain.quality import MEASURES, NEW_CODE_MEASURES

    metric = args.metric or DEFAULT_METRIC
    known = {**MEASURES, **NEW_CODE_MEASURES}
    if metric not in known:
        raise UsageError(f"argument --metric: must be one of {', '.join(known)} (got {metric!r})")
    c = context.container
    project = await project_named(context, args.project, args.organization)
    branch = await _branch(context, project, args.branch)
    points = await measure_history(
        c.uow(organization_id=project.organization_id), project.id, metric, branch=branch
    )
    title = f"{project.slug} on {shown_branch(branch)}: {metric}"
    if args.plot is not None:
        if not points:
            raise CommandFailed(
                f"no analysis of {project.slug} on {shown_branch(branch)} has measures yet:"
                " nothing to plot"
            )
        series = [(p.at, p.value) for p in points]
        args.plot.write_bytes(
            chart(series, args.plot.suffix, title=title, description=known[metric])
        )
    if args.json:
        body = {
            "project": project.slug,
            "branch": branch,
            "metric": metric,
            "description": known[metric],
            "points": [
                {"job_id": str(p.job_id), "at": _when(p.at), "value": p.value} for p in points
            ],
            "plot": None if args.plot is None else str(args.plot),
        }
        print(json.dumps(body))
        return EXIT_OK
    if not points:
        print(f"{project.slug}: no analysis on {shown_branch(branch)} has measures yet")
        return EXIT_OK
    values = [p.value for p in points]
    print(
        f"{project.slug}: {metric} on {shown_branch(branch)} over"
        f" {plural(len(points), 'analysis', 'analyses')}, {_short_time(points[0].at)}"
        f" to {_short_time(points[-1].at)} ({known[metric]})"
    )
    print(
        f"  {sparkline(values)}  first {number(values[0])}  last {number(values[-1])}"
        f"  min {number(min(values))}  max {number(max(values))}"
    )
    if args.plot is not None:
        print(f"  chart written to {args.plot}")
    return EXIT_OK


# housekeeping ------------------------------------------------------------------------------


def _housekeeping_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be removed; remove nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _housekeeping_body(report: HousekeepingReport, slugs: dict[Any, str]) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "analyses_deleted": report.analyses_deleted,
        "analyses_kept": report.analyses_kept,
        "issues_deleted": report.issues_deleted,
        "events_deleted": report.events_deleted,
        "projects": [
            {
                "project": slugs.get(d.project_id, str(d.project_id)),
                "project_id": str(d.project_id),
                "deleted": [str(j) for j in d.deleted],
                "kept": d.kept,
                "held": d.held,
            }
            for d in report.per_project
        ],
    }


async def _housekeeping(args: argparse.Namespace, context: Context) -> int:
    from application.housekeeping import housekeeping
    from application.search import all_projects

    c = context.container
    slugs = {
        o.project.id: f"{o.organization.slug}/{o.project.slug}"
        for o in await all_projects(c.uow(system=True))
    }
    report = await housekeeping(c.uow(system=True), c.outbox(), dry_run=args.dry_run)
    body = _housekeeping_body(report, slugs)
    if args.json:
        print(json.dumps(body))
        return EXIT_OK
    verb = "would remove" if report.dry_run else "removed"
    print(
        f"housekeeping{' (dry run)' if report.dry_run else ''}: {verb}"
        f" {plural(report.analyses_deleted, 'analysis', 'analyses')}"
        f" ({report.analyses_kept} kept),"
        f" {plural(report.issues_deleted, 'closed issue')},"
        f" {plural(report.events_deleted, 'delivered outbox event')}"
    )
    if body["projects"]:
        table(
            [("PROJECT", "REMOVED", "KEPT", "HELD")]
            + [
                (p["project"], str(len(p["deleted"])), str(p["kept"]), str(p["held"]))
                for p in body["projects"]
            ]
        )
    for p in body["projects"]:
        for job in p["deleted"]:
            print(f"{verb} analysis {job} of {p['project']}")
    return EXIT_OK


HOUSEKEEPING = Command(
    name="housekeeping",
    help="apply the retention policy: remove the analyses it no longer keeps, issues closed"
    " for 30 days and outbox events delivered 7 days ago (--dry-run: only say what)",
    run=_housekeeping,
    add_arguments=_housekeeping_arguments,
)
