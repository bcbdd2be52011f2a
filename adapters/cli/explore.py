"""``codeant projects``, ``search``, ``similar`` and ``report``: reading what was indexed."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from adapters.cli import EXIT_OK, Command, CommandFailed, Context, UsageError, text, whole_number
from adapters.cli.issues import history_arguments, run_history
from adapters.cli.output import plural, table

if TYPE_CHECKING:
    from domain.embeddings import SimilarCode

__all__ = ["PROJECTS", "REPORT", "SEARCH", "SIMILAR"]

LIMIT = whole_number(1, 1000)
DEFAULT_DAYS = 30


def _organization_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organization", type=text, metavar="SLUG", help="only this organization")


# projects ----------------------------------------------------------------------------------


def _projects_arguments(parser: argparse.ArgumentParser) -> None:
    _organization_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


async def _projects(args: argparse.Namespace, context: Context) -> int:
    from application.search import all_projects

    overviews = await all_projects(
        context.container.uow(system=True), organization_slug=args.organization
    )
    rows = [
        {
            "organization": o.organization.slug,
            "project": o.project.slug,
            "name": o.project.name,
            "status": str(o.project.status),
            "files": o.files,
            "last_analyzed_at": o.project.last_analyzed_at.isoformat()
            if o.project.last_analyzed_at
            else None,
            "repository_url": o.project.repository_url,
        }
        for o in overviews
    ]
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    table(
        [("PROJECT", "FILES", "LAST ANALYSED", "REPOSITORY")]
        + [
            (
                f"{r['organization']}/{r['project']}",
                str(r["files"]),
                str(r["last_analyzed_at"] or "never")[:19],
                str(r["repository_url"]),
            )
            for r in rows
        ]
    )
    return EXIT_OK


PROJECTS = Command(
    name="projects",
    help="list the indexed projects (read from the database: the cache serves library processes)",
    run=_projects,
    add_arguments=_projects_arguments,
)


# search ------------------------------------------------------------------------------------


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", type=text, help="words to find (all of them)")
    parser.add_argument("--project", type=text, metavar="SLUG", help="only this project")
    _organization_argument(parser)
    parser.add_argument("--limit", type=LIMIT, default=20, metavar="N", help="hits per kind")
    parser.add_argument("--json", action="store_true", help="print JSON")


async def _search(args: argparse.Namespace, context: Context) -> int:
    from application.search import all_projects, resolve_project, search_everything

    c = context.container
    project_id = None
    organization_id = None
    if args.project:
        project = await resolve_project(
            c.uow(system=True), args.project, organization_slug=args.organization
        )
        project_id, organization_id = project.id, project.organization_id
    elif args.organization:
        overview = await all_projects(c.uow(system=True), organization_slug=args.organization)
        organization_id = overview[0].organization.id if overview else None
    scoped = c.uow(organization_id=organization_id) if organization_id else c.uow(system=True)
    hits = await search_everything(
        scoped, args.text, organization_id=organization_id, project_id=project_id,
        limit=args.limit,
    )  # fmt: skip
    files = [
        {"project": p.slug, "path": f.relative_path, "language": f.language, "lines": f.line_count}
        for p, f in hits.files
    ]
    results = [
        {
            "project": p.slug,
            "severity": str(r.severity),
            "rule": r.rule_id,
            "title": r.title,
            "path": r.location.file_path if r.location else None,
            "line": r.location.line_start if r.location else None,
        }
        for p, r in hits.results
    ]
    projects = [{"project": p.slug, "name": p.name} for p in hits.projects]
    if args.json:
        print(json.dumps({"projects": projects, "files": files, "results": results}))
        return EXIT_OK
    counts = [plural(len(projects), "project"), plural(len(files), "file")]
    print(", ".join([*counts, plural(len(results), "result")]))
    for p in projects:
        print(f"project  {p['project']}  {p['name']}")
    for f in files:
        print(f"file     {f['project']}  {f['path']}")
    for r in results:
        print(f"result   {r['project']}  {r['path']}:{r['line']}  [{r['severity']}] {r['title']}")
    return EXIT_OK


SEARCH = Command(
    name="search",
    help="full-text search over projects, file paths and symbols, and analysis results",
    run=_search,
    add_arguments=_search_arguments,
)


# similar -----------------------------------------------------------------------------------


def _similar_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        type=text,
        metavar="FILE[:FUNCTION]",
        help="an indexed file, optionally one function",
    )
    parser.add_argument("--limit", type=LIMIT, default=10, metavar="N", help="hits (default 10)")
    parser.add_argument(
        "--project",
        type=text,
        metavar="SLUG",
        help="search this project (of the file's organization, or of --organization)"
        " instead of the file's own",
    )
    parser.add_argument(
        "--organization",
        type=text,
        metavar="SLUG",
        help="search every project of this organization",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="search every project of every organization",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _split_target(target: str) -> tuple[str, str | None]:
    """The absolute path and the function of ``FILE[:FUNCTION]``."""
    path, sep, function = target.rpartition(":")
    if sep and path and function and not os.path.exists(target):
        return os.path.abspath(path), function
    return os.path.abspath(target), None


async def _similar(args: argparse.Namespace, context: Context) -> int:
    from application.search import similar_to_file
    from domain.errors import ValidationError

    c = context.container
    path, function = _split_target(args.target)
    if args.all and (args.project or args.organization):
        raise UsageError("--all cannot go with --project or --organization")
    try:
        found = await similar_to_file(
            c.uow(system=True), c.source_reader(), c.embedder(), c.code_index(), path,
            function=function, limit=args.limit, project_slug=args.project,
            organization_slug=args.organization, everywhere=args.all,
        )  # fmt: skip
    except ValidationError as exc:
        if exc.field not in ("file", "function"):
            raise
        # FILE[:FUNCTION] names nothing to compare: a bad argument
        raise UsageError(str(exc)) from exc

    def slug(hit: SimilarCode) -> str:
        project = found.project_of(hit)
        return project.slug if project is not None else str(hit.project_id)

    hits = [
        {
            "score": round(h.score, 4),
            "project": slug(h),
            "path": h.file_path,
            "symbol": h.symbol,
            "lines": [h.line_start, h.line_end],
            "language": h.language,
        }
        for h in found.hits
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "project": found.project.slug,
                    "query": args.target,
                    "scope": str(found.scope),
                    "hits": hits,
                }
            )
        )
        return EXIT_OK
    table(
        [("SCORE", "FUNCTION", "PROJECT", "WHERE")]
        + [
            (f"{h.score:.3f}", h.symbol, slug(h), f"{h.file_path}:{h.line_start}-{h.line_end}")
            for h in found.hits
        ]
    )
    return EXIT_OK


SIMILAR = Command(
    name="similar",
    help="the indexed functions most similar to a file or one of its functions",
    run=_similar,
    add_arguments=_similar_arguments,
)


# report ------------------------------------------------------------------------------------


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", type=text, metavar="PROJECT", help="project slug")
    _organization_argument(parser)
    parser.add_argument(
        "--days",
        type=LIMIT,
        metavar="N",
        help="issues of the last N days (30)",
    )
    parser.add_argument(
        "--all-jobs", action="store_true",
        help="sum the issues of every completed job in the window, not only the latest"
        " (an issue that several jobs report, carried over or found again, counts once"
        " per job)",
    )  # fmt: skip
    history_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _history_options(args: argparse.Namespace) -> None:
    """Refuse the options of one mode given to the other (exit 2)."""
    if args.history:
        given = [o for o, v in (("--days", args.days), ("--all-jobs", args.all_jobs)) if v]
        if given:
            raise UsageError(f"{given[0]} does not go with --history")
        return
    for option, value in (("--metric", args.metric), ("--plot", args.plot)):
        if value is not None:
            raise UsageError(f"{option} goes with --history")
    if args.branch is not None:
        raise UsageError("--branch goes with --history (the report is of the latest analysis)")


async def _report(args: argparse.Namespace, context: Context) -> int:
    from application.reports import project_report
    from application.search import resolve_project
    from domain.enums import MetricType
    from ports.errors import NotFoundError

    _history_options(args)
    if args.history:
        return await run_history(args, context)
    if args.days is None:
        args.days = DEFAULT_DAYS
    c = context.container
    try:
        project = await resolve_project(
            c.uow(system=True), args.project, organization_slug=args.organization
        )
    except NotFoundError:
        if args.project is not None:
            raise
        where = f" in the organization {args.organization}" if args.organization else ""
        raise CommandFailed(
            f"no project has been indexed{where} yet; index one with 'codeant index PATH'"
        ) from None
    report = await project_report(
        c.uow(organization_id=project.organization_id),
        project.id,
        days=args.days,
        latest_only=not args.all_jobs,
    )
    body: dict[str, Any] = {
        "project": project.slug,
        "last_analyzed_at": project.last_analyzed_at.isoformat()
        if project.last_analyzed_at
        else None,
        "days": args.days,
        "issues": {
            # "all_jobs": a sum over the jobs of the window, an issue once per job
            "scope": "all_jobs" if args.all_jobs else "latest_job",
            "total": report.summary.total,
            "by_severity": {str(k): v for k, v in report.summary.by_severity().items()},
            "by_category": {str(k): v for k, v in report.summary.by_category().items()},
            "rows": [
                {
                    "severity": str(r.severity),
                    "category": str(r.category),
                    "count": r.count,
                    "avg_confidence": round(r.avg_confidence, 2),
                }
                for r in report.summary.rows
            ],
        },
        "hotspots": [
            {"path": h.relative_path, "issues": h.issues, "worst": str(h.worst_severity)}
            for h in report.hotspots
        ],
        "metrics": {
            str(kind): [
                {
                    "name": m.metric_name,
                    "files": m.count,
                    "avg": round(m.avg, 2),
                    "max": m.max,
                    "violations": m.violations,
                }
                for m in aggregation.metrics
            ]
            for kind, aggregation in report.aggregations.items()
            if aggregation.metrics
        },
    }
    if args.json:
        print(json.dumps(body))
        return EXIT_OK
    days = plural(args.days, "day")
    if args.all_jobs:
        print(
            f"{project.slug}: {plural(report.summary.total, 'issue')} summed over every"
            f" completed job of the last {days} (an issue reported by several jobs, carried"
            " over or found again, counts once per job)"
        )
    else:
        print(
            f"{project.slug}: {plural(report.summary.total, 'issue')} in the latest"
            f" analysis (last {days})"
        )
    table(
        [("SEVERITY", "CATEGORY", "COUNT", "CONFIDENCE")]
        + [
            (r["severity"], r["category"], str(r["count"]), f"{r['avg_confidence']:.2f}")
            for r in body["issues"]["rows"]
        ]
    )
    if report.hotspots:
        print("\nhotspots")
        table(
            [("ISSUES", "WORST", "FILE")]
            + [(str(h["issues"]), h["worst"], h["path"]) for h in body["hotspots"]]
        )
    print("\nmetrics")
    table(
        [("TYPE", "METRIC", "FILES", "AVG", "MAX", "OVER LIMIT")]
        + [
            (
                kind,
                m["name"],
                str(m["files"]),
                f"{m['avg']:.2f}",
                f"{m['max']:g}",
                str(m["violations"]),
            )
            for kind in (str(t) for t in MetricType)
            for m in body["metrics"].get(kind, [])
        ]
    )
    return EXIT_OK


REPORT = Command(
    name="report",
    help="issues by severity and category, hotspot files and metric aggregations (read "
    "from the database: the cache serves library processes); --history: a measure over time",
    run=_report,
    add_arguments=_report_arguments,
)
