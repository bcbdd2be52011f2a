"""``codeant jobs``: the analysis jobs, newest first."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from adapters.cli import EXIT_OK, Command, Context, whole_number
from adapters.cli.output import one_line

if TYPE_CHECKING:
    from application.jobs import JobOverview

# the statuses a job can have (domain.enums.JobStatus), spelled out so that building the
# parser imports no domain code
STATUSES = ("pending", "running", "completed", "failed", "cancelled")

__all__ = ["JOBS"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", metavar="PROJECT", help="only this project")
    parser.add_argument("--organization", metavar="SLUG", help="only this organization")
    parser.add_argument(
        "--status",
        choices=STATUSES,
        help="only the jobs with this status",
    )
    parser.add_argument(
        "--limit",
        type=whole_number(1, 1000),
        default=20,
        metavar="N",
        help="at most N jobs (default: 20)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _row(overview: JobOverview) -> dict[str, Any]:
    job = overview.job

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    duration = job.duration
    return {
        "id": str(job.id),
        "organization": overview.organization.slug,
        "project": overview.project.slug,
        "type": job.job_type,
        "status": str(job.status),
        "progress": job.progress,
        "branch": job.branch,
        "commit": job.commit_hash,
        "dirty": job.dirty,
        "created_at": when(job.created_at),
        "started_at": when(job.started_at),
        "completed_at": when(job.completed_at),
        "seconds": round(duration.total_seconds(), 3) if duration is not None else None,
        "stages": job.metadata.get("stages", {}),
        "owner": job.owner,
        "heartbeat_at": when(job.heartbeat_at),
        "error": job.error_message,
    }


def _table(rows: list[dict[str, Any]]) -> None:
    lines = [("JOB", "PROJECT", "STATUS", "BRANCH", "COMMIT", "STARTED", "SECONDS", "ERROR")]
    for r in rows:
        status = r["status"] if r["status"] != "running" else f"running {r['progress']}%"
        commit = (r["commit"] or "-")[:12] + ("+" if r["dirty"] else "")
        lines.append(
            (
                r["id"][:8],
                f"{r['organization']}/{r['project']}",
                status,
                r["branch"] or "-",
                commit,
                (r["started_at"] or r["created_at"])[:19],
                "-" if r["seconds"] is None else f"{r['seconds']:.2f}",
                one_line(r["error"] or "")[:80],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


async def _run(args: argparse.Namespace, context: Context) -> int:
    from application.jobs import recent_jobs
    from domain.enums import JobStatus

    c = context.container
    overviews = await recent_jobs(
        c.uow(system=True),
        project_slug=args.project,
        organization_slug=args.organization,
        status=JobStatus(args.status) if args.status else None,
        limit=args.limit,
        owner_alive=c.liveness().is_alive,
    )
    rows = [_row(o) for o in overviews]
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    if not rows:
        print("no jobs")
        return EXIT_OK
    _table(rows)
    return EXIT_OK


JOBS = Command(
    name="jobs",
    help="list analysis jobs, newest first: status, progress, branch, commit, timings, errors"
    " (jobs whose process is gone are marked failed first)",
    run=_run,
    add_arguments=_arguments,
)
