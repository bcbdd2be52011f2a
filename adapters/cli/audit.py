"""``codeant audit``: who changed what and when; ``codeant audit verify``: is it intact."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from adapters.cli import EXIT_FAILURE, EXIT_OK, Command, CommandFailed, Context, whole_number

if TYPE_CHECKING:
    from domain.audit import AuditEntry, ChainCheck
    from ports.unit_of_work import UnitOfWork

__all__ = ["AUDIT"]


def moment(text: str) -> dt.datetime:
    """Argument type: an ISO 8601 date or time; without an offset it is UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO 8601 date or time, such as 2026-01-31 or 2026-01-31T12:00"
            f" (got {text!r})"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("verify",),
        help="verify: check every organization's chain of entries instead of listing them",
    )
    parser.add_argument("--organization", metavar="SLUG", help="only this organization")
    parser.add_argument(
        "--entity", metavar="TABLE", help="only changes of this table, such as projects"
    )
    parser.add_argument("--id", metavar="ID", help="only changes of the row with this id")
    parser.add_argument(
        "--since",
        type=moment,
        metavar="TIME",
        help="only changes at or after this ISO 8601 date or time (UTC unless it says)",
    )
    parser.add_argument(
        "--limit",
        type=whole_number(1, 10_000),
        default=50,
        metavar="N",
        help="at most N entries, newest first (default: 50)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "organization_id": None if entry.organization_id is None else str(entry.organization_id),
        "sequence": entry.sequence,
        "occurred_at": entry.occurred_at.isoformat(),
        "actor": entry.actor,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "action": str(entry.action),
        "before": entry.before,
        "after": entry.after,
        "hash": entry.hash,
    }


def _changes(entry: AuditEntry) -> str:
    if entry.after is not None and set(entry.after) == {"rows"}:
        return f"{entry.after['rows']} rows"
    fields = entry.before if entry.after is None else entry.after
    return ", ".join(sorted(fields or ()))


def _check(check: ChainCheck) -> dict[str, Any]:
    return {
        "organization_id": None if check.organization_id is None else str(check.organization_id),
        "intact": check.intact,
        "entries": check.entries,
        "first_sequence": check.first_sequence,
        "last_sequence": check.last_sequence,
        "head_hash": check.head_hash,
        "problem": check.problem,
    }


async def _organization_id(uow: UnitOfWork, slug: str | None) -> Any:
    if slug is None:
        return None
    async with uow:
        organization = await uow.organizations.find_by_slug(slug)
    if organization is None:
        raise CommandFailed(f"no organization {slug!r}")
    return organization.id


async def _run(args: argparse.Namespace, context: Context) -> int:
    from application.audit import audit_entries, verify_audit_trail

    c = context.container
    organization_id = await _organization_id(c.uow(system=True), args.organization)
    scoped = c.uow(organization_id=organization_id) if organization_id else c.uow(system=True)
    if args.action == "verify":
        checks = await verify_audit_trail(scoped, organization_id)
        return _report(checks, as_json=args.json)
    entries = await audit_entries(
        scoped,
        organization_id,
        entity=args.entity,
        entity_id=args.id,
        since=args.since,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([_entry(e) for e in entries]))
        return EXIT_OK
    if not entries:
        print("no audit entries")
        return EXIT_OK
    lines = [("TIME", "ACTOR", "ACTION", "ENTITY", "ID", "CHANGED")]
    for e in entries:
        time = e.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append((time, e.actor, str(e.action), e.entity, e.entity_id, _changes(e)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def _report(checks: list[ChainCheck], *, as_json: bool) -> int:
    broken = [c for c in checks if not c.intact]
    if as_json:
        print(json.dumps({"intact": not broken, "chains": [_check(c) for c in checks]}))
        return EXIT_FAILURE if broken else EXIT_OK
    if not checks:
        print("no audit entries to verify")
        return EXIT_OK
    for check in checks:
        name = "(no organization)" if check.organization_id is None else check.organization_id
        span = f"{check.entries} entr{'y' if check.entries == 1 else 'ies'}"
        verdict = "intact" if check.intact else f"BROKEN: {check.problem}"
        print(f"{name}: {span}, head {check.head_hash[:16] or '-'}: {verdict}")
    if broken:
        chains = "chain is" if len(broken) == 1 else "chains are"
        raise CommandFailed(f"{len(broken)} audit {chains} broken")
    return EXIT_OK


AUDIT = Command(
    name="audit",
    help="show who changed what and when (newest first); 'audit verify' checks that the"
    " trail is complete and unchanged (exit 1 if not)",
    run=_run,
    add_arguments=_arguments,
)
