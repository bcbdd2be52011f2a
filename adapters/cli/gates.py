"""``codeant gates`` and ``new-code``: an organization's quality gates (list, create,
assign to a project) and what a project's or a branch's new code is measured from.

They resolve PROJECT and ``--organization`` as ``codeant gate`` does (a project by its
slug, in the system scope), and run their services in a unit of work opened for the
organization, so that each change is audited under the command's actor
(``CODEANT_ACTOR``, else ``cli:<login name>``). A condition or a period that does not
parse is a bad command line (exit 2); a gate, project or analysis that is not there, a
failure (exit 1).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters.cli import EXIT_OK, Command, CommandFailed, Context, UsageError, text
from adapters.cli.issues import project_named, shown_branch
from adapters.cli.output import plural, table

if TYPE_CHECKING:
    from application.quality import NewCodeSetting
    from domain.organizations import Organization
    from domain.quality import GateCondition, NewCodePeriod, QualityGate

__all__ = ["GATES", "NEW_CODE", "SOURCES"]

SOURCES = {
    "branch": "set on the branch",
    "project": "set on the project",
    "default": "the default: nothing is set",
}
"""Where the new-code period in effect comes from (application.quality.NewCodeSetting)."""


def _organization_option(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--organization", type=text, metavar="SLUG", default=default,
        help="the organization (default: the only one there is)",
    )  # fmt: skip


def _json_option(parser: argparse.ArgumentParser, default: Any = False) -> None:
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")


async def _organization(context: Context, slug: str | None) -> Organization:
    """The organization the command names, else the only one: one line when none is
    there yet."""
    from application.search import resolve_organization
    from ports.errors import NotFoundError

    try:
        return await resolve_organization(context.container.uow(system=True), slug)
    except NotFoundError:
        if slug is not None:
            raise
        raise CommandFailed(
            "no organization has a project yet; index one with 'codeant index PATH'"
        ) from None


def _conditions(texts: Sequence[str]) -> list[GateCondition]:
    """Each ``--condition`` parsed; the first that does not parse is a usage error."""
    from domain.errors import ValidationError
    from domain.quality import GateCondition

    parsed = []
    for one in texts:
        try:
            parsed.append(GateCondition.parse(one))
        except ValidationError as exc:
            what = "" if exc.field == "condition" else f"{exc.field} {exc.value!r} "
            raise UsageError(f"argument --condition: {what}{exc.reason} (got {one!r})") from None
    return parsed


def _condition_row(condition: GateCondition) -> dict[str, Any]:
    return {
        "metric": condition.metric,
        "measure": condition.measure,
        "on_new_code": condition.on_new_code,
        "operator": str(condition.operator),
        "threshold": condition.threshold,
        "text": str(condition),
    }


def _gate_row(gate: QualityGate | None, organization: Organization) -> dict[str, Any]:
    """A gate of the organization, or the built-in default (``gate`` None)."""
    from domain.quality import DEFAULT_CONDITIONS, DEFAULT_GATE_NAME

    if gate is None:
        return {
            "id": None,
            "organization": organization.slug,
            "name": DEFAULT_GATE_NAME,
            "default": True,
            "builtin": True,
            "conditions": [_condition_row(c) for c in DEFAULT_CONDITIONS],
        }
    return {
        "id": str(gate.id),
        "organization": organization.slug,
        "name": gate.name,
        "default": gate.is_default,
        "builtin": False,
        "conditions": [_condition_row(c) for c in gate.conditions],
    }


def _default_column(row: dict[str, Any]) -> str:
    if row["builtin"]:
        return "yes (built in)"
    return "yes" if row["default"] else "-"


def _print_gates(rows: Sequence[dict[str, Any]]) -> None:
    table(
        [("GATE", "DEFAULT", "FAILS IF")]
        + [
            (r["name"], _default_column(r), "; ".join(c["text"] for c in r["conditions"]))
            for r in rows
        ]
    )


# gates -------------------------------------------------------------------------------------


def _gates_arguments(parser: argparse.ArgumentParser) -> None:
    _organization_option(parser)
    _json_option(parser)
    # the actions' options leave what the parent parsed alone unless they are given
    actions = parser.add_subparsers(dest="gates_action", metavar="[ACTION]")
    create = actions.add_parser(
        "create",
        help="create a gate of the organization from its conditions",
        description="create a gate of the organization; it fails when one of its conditions holds",
    )
    create.add_argument("name", type=text, metavar="NAME", help="the gate's name")
    create.add_argument(
        "--condition", action="append", required=True, metavar="CONDITION",
        help="'METRIC OPERATOR THRESHOLD' (operators > >= < <= == !=), such as"
        " 'issues_critical > 0'; a metric starting with new_ is measured on new code;"
        " repeat it for several",
    )  # fmt: skip
    create.add_argument(
        "--default", action="store_true",
        help="make it the organization's default (the gate of every project none is"
        " assigned to), in place of the previous default",
    )  # fmt: skip
    _organization_option(create, argparse.SUPPRESS)
    _json_option(create, argparse.SUPPRESS)
    assign = actions.add_parser(
        "assign",
        help="assign a gate to a project, or --default: back to the organization's default",
        description="assign a gate of the project's organization to the project (from its"
        " next analysis on); --default: back to the organization's default gate",
    )
    assign.add_argument("name", nargs="?", type=text, metavar="NAME", help="the gate's name")
    assign.add_argument(
        "project", nargs="?", type=text, metavar="PROJECT",
        help="project slug (default: the only project there is)",
    )  # fmt: skip
    assign.add_argument(
        "--default", action="store_true",
        help="no gate of its own: the organization's default applies (give PROJECT alone)",
    )  # fmt: skip
    _organization_option(assign, argparse.SUPPRESS)


async def _gates(args: argparse.Namespace, context: Context) -> int:
    if args.gates_action == "create":
        return await _create(args, context)
    if args.gates_action == "assign":
        return await _assign(args, context)
    from application.quality import list_quality_gates

    organization = await _organization(context, args.organization)
    gates = await list_quality_gates(
        context.container.uow(organization_id=organization.id), organization.id
    )
    rows = [_gate_row(g, organization) for g in gates]
    if not any(g.is_default for g in gates):
        rows.append(_gate_row(None, organization))
    if args.json:
        print(json.dumps({"organization": organization.slug, "gates": rows}))
        return EXIT_OK
    print(f"{organization.slug}: {plural(len(gates), 'quality gate')}")
    _print_gates(rows)
    return EXIT_OK


async def _create(args: argparse.Namespace, context: Context) -> int:
    from application.quality import create_quality_gate
    from ports.errors import DuplicateError

    conditions = _conditions(args.condition)
    organization = await _organization(context, args.organization)
    try:
        gate = await create_quality_gate(
            context.container.uow(organization_id=organization.id), organization.id,
            args.name, conditions, is_default=args.default,
        )  # fmt: skip
    except DuplicateError:
        raise CommandFailed(
            f"{organization.slug} already has a quality gate {args.name!r}"
        ) from None
    row = _gate_row(gate, organization)
    if args.json:
        print(json.dumps(row))
        return EXIT_OK
    default = ", the organization's default" if gate.is_default else ""
    print(f"{organization.slug}: created quality gate {gate.name!r}{default}")
    _print_gates([row])
    return EXIT_OK


async def _assign(args: argparse.Namespace, context: Context) -> int:
    from application.quality import assign_quality_gate, list_quality_gates

    if args.default:
        if args.project is not None:
            raise UsageError(
                "--default takes PROJECT alone: it assigns no gate, the organization's"
                " default applies"
            )
        slug = args.name
    elif args.name is None:
        raise UsageError("give the gate's NAME (and PROJECT), or --default")
    else:
        slug = args.project
    c = context.container
    project = await project_named(context, slug, args.organization)
    uow = c.uow(organization_id=project.organization_id)
    if args.default:
        await assign_quality_gate(uow, project.id, None)
        print(f"{project.slug}: the organization's default quality gate, from its next analysis")
        return EXIT_OK
    gates = await list_quality_gates(
        c.uow(organization_id=project.organization_id), project.organization_id
    )
    named = [g for g in gates if g.name == args.name]
    if not named:
        known = ", ".join(repr(g.name) for g in gates) or "none yet"
        raise CommandFailed(
            f"quality gate not found: {args.name!r} (the gates of {project.slug}'s"
            f" organization: {known}; 'codeant gates create' makes one)"
        )
    await assign_quality_gate(uow, project.id, named[0].id)
    print(f"{project.slug}: quality gate {args.name!r}, from its next analysis")
    return EXIT_OK


GATES = Command(
    name="gates",
    help="the organization's quality gates (the built-in default when it has none of its"
    " own); 'gates create NAME --condition C' makes one, 'gates assign NAME PROJECT'"
    " assigns it (--default: back to the organization's default)",
    run=_gates,
    add_arguments=_gates_arguments,
)


# new-code ----------------------------------------------------------------------------------


def _new_code_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=text, metavar="PROJECT", help="project slug")
    parser.add_argument(
        "period", nargs="?", type=text, metavar="PERIOD",
        help="set it: previous-analysis, days:N, branch:NAME (what that branch does not"
        " have) or analysis:JOB-ID; for the project, or for the branch with --branch",
    )  # fmt: skip
    parser.add_argument(
        "--branch", metavar="B",
        help="the branch (default: shown, the branch of the latest analysis; set, the"
        " project's period, which every branch without its own follows; '' names a"
        " detached HEAD)",
    )  # fmt: skip
    parser.add_argument(
        "--organization", type=text, metavar="SLUG",
        help="the project's organization (when two organizations have a project of that slug)",
    )  # fmt: skip
    _json_option(parser)


def _meaning(period: NewCodePeriod) -> str:
    from domain.enums import NewCodeKind

    if period.kind is NewCodeKind.DAYS:
        return f"what changed in the last {plural(period.days or 0, 'day')}"
    if period.kind is NewCodeKind.REFERENCE_BRANCH:
        return f"what branch {period.reference_branch} does not have"
    if period.kind is NewCodeKind.ANALYSIS:
        return f"what changed since analysis {period.job_id}"
    return "what changed since the branch's previous analysis"


def _period_row(period: NewCodePeriod) -> dict[str, Any]:
    return {
        "period": str(period),
        "kind": str(period.kind),
        "days": period.days,
        "reference_branch": period.reference_branch,
        "job_id": None if period.job_id is None else str(period.job_id),
    }


def _parse_period(value: str) -> NewCodePeriod:
    from domain.errors import ValidationError
    from domain.quality import NewCodePeriod

    try:
        return NewCodePeriod.parse(value)
    except ValidationError as exc:
        got = "" if "(got " in exc.reason else f" (got {value!r})"
        raise UsageError(f"argument PERIOD: {exc.reason}{got}") from None


async def _new_code(args: argparse.Namespace, context: Context) -> int:
    from application.quality import check_branch, new_code_setting, set_new_code_period
    from domain.errors import ValidationError

    period = None if args.period is None else _parse_period(args.period)
    check_branch(args.branch)
    c = context.container
    project = await project_named(context, args.project, args.organization)
    uow = c.uow(organization_id=project.organization_id)
    if period is None:
        setting: NewCodeSetting = await new_code_setting(uow, project.id, branch=args.branch)
        if args.json:
            body = {"project": project.slug, "branch": setting.branch, "source": setting.source}
            print(json.dumps(body | _period_row(setting.period)))
            return EXIT_OK
        print(
            f"{project.slug} on {shown_branch(setting.branch)}: new code is"
            f" {_meaning(setting.period)} ({setting.period}, {SOURCES[setting.source]})"
        )
        return EXIT_OK
    try:
        await set_new_code_period(uow, project.id, period, branch=args.branch)
    except ValidationError as exc:
        raise UsageError(f"argument PERIOD: {exc.reason} (got {args.period!r})") from None
    source = "project" if args.branch is None else "branch"
    if args.json:
        body = {"project": project.slug, "branch": args.branch, "source": source}
        print(json.dumps(body | _period_row(period)))
        return EXIT_OK
    where = (
        "every branch without a period of its own"
        if args.branch is None
        else f"branch {shown_branch(args.branch)}"
    )
    print(
        f"{project.slug}: new code of {where} is {_meaning(period)} ({period}),"
        " from the next analysis"
    )
    return EXIT_OK


NEW_CODE = Command(
    name="new-code",
    help="what new code is measured from on a project's branch, and where that is set"
    " (the branch, the project or the default); with PERIOD, set it for the project, or"
    " for one branch with --branch",
    run=_new_code,
    add_arguments=_new_code_arguments,
)
