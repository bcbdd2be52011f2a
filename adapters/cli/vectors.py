"""``codeant vectors``: the vector store's collections, rebuilding it from PostgreSQL,
snapshots (Qdrant server) and index builds (Qdrant Edge)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from adapters.cli import EXIT_OK, Command, CommandFailed, Context, UsageError, text
from adapters.cli.output import plural, table

__all__ = ["VECTORS"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="vectors_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="collections with their dimension and points")
    status.add_argument("--json", action="store_true", help="print JSON")
    rebuild = actions.add_parser(
        "rebuild",
        help="embed every indexed function again from the repositories' working trees",
    )
    rebuild.add_argument("--project", type=text, metavar="SLUG", help="only this project")
    rebuild.add_argument("--json", action="store_true", help="print the counts as JSON")
    actions.add_parser("snapshot", help="Qdrant server: snapshot every collection")
    optimize = actions.add_parser(
        "optimize",
        help="Qdrant Edge: build the HNSW index of every collection (or of one), in a child"
        " process",
    )
    optimize.add_argument("--collection", metavar="NAME", help="only this collection")
    optimize.add_argument("--json", action="store_true", help="print the builds as JSON")


_NO_SNAPSHOTS = {
    "pgvector": "pgvector's collections are backed up with the database ('codeant backup')",
    "memory": "the in-process store keeps nothing to snapshot",
    "qdrant": "a local Qdrant directory is copied as it is",
}


def _check_snapshots(context: Context) -> None:
    """Snapshots are taken by a Qdrant server: UsageError for any other vector store."""
    settings = context.settings
    if settings.vector_backend == "qdrant" and settings.qdrant_url:
        return
    reason = _NO_SNAPSHOTS.get(settings.vector_backend, "")
    raise UsageError(
        f"snapshots are taken by a Qdrant server (CODEANT_QDRANT_URL); {reason}, and any"
        " store can be rebuilt from the index ('codeant vectors rebuild')"
    )


async def _run(args: argparse.Namespace, context: Context) -> int:
    c = context.container
    if args.vectors_action == "status":
        collections = await c.vector_store().collections()
        rows = [
            {"name": i.name, "dimension": i.dimension, "distance": str(i.distance),
             "points": i.points}
            for i in collections
        ]  # fmt: skip
        if args.json:
            print(json.dumps({"backend": context.settings.vector_backend, "collections": rows}))
            return EXIT_OK
        table(
            [("COLLECTION", "DIMENSION", "DISTANCE", "POINTS")]
            + [(i.name, str(i.dimension), str(i.distance), str(i.points)) for i in collections]
        )
        shown = plural(len(rows), "collection")
        print(f"backend: {context.settings.vector_backend}, {shown}")
        return EXIT_OK
    if args.vectors_action == "optimize":
        return await _optimize(c.vector_store(), args, context)
    if args.vectors_action == "snapshot":
        _check_snapshots(context)
        take = getattr(c.vector_store(), "snapshot", None)
        if take is None:  # a Qdrant store always has it: its adapter changed
            raise CommandFailed("this Qdrant vector store offers no snapshots")
        for collection, name, size in await take():
            print(f"{collection}: {name} ({size} bytes)")
        return EXIT_OK
    from adapters.cli.progress import ProgressBar
    from application.indexing import rebuild_vectors
    from application.search import all_projects
    from ports.errors import NotFoundError

    if args.project is not None:
        projects = await all_projects(c.uow(system=True))
        if not any(o.project.slug == args.project for o in projects):
            raise NotFoundError("project", args.project)
    store = c.vector_store()
    bar = ProgressBar(enabled=False if args.json else None)
    try:
        report = await rebuild_vectors(
            c.uow(system=True), c.source_reader(), c.embedder(), c.code_index(),
            project_slug=args.project, progress=bar,
        )  # fmt: skip
    finally:
        bar.close()
    values: dict[str, Any] = {
        "projects": report.projects,
        "files": report.files,
        "units": report.units,
        "embedded": report.embedded,
        "unreadable": report.unreadable,
    }
    build = getattr(store, "optimize", None)
    if build is not None:  # Qdrant Edge: the index is built once, after loading
        values["indexed"] = sum(r.indexed for r in await build())
    if args.json:
        print(json.dumps(values))
    else:
        print(
            f"{plural(report.units, 'function')} of {plural(report.files, 'file')} in"
            f" {plural(report.projects, 'project')}: {report.embedded} embedded again,"
            f" {plural(report.unreadable, 'file')} unreadable"
            + (
                f"; {plural(values['indexed'], 'vector')} in HNSW indexes"
                if "indexed" in values
                else ""
            )
        )
    return EXIT_OK


async def _optimize(store: Any, args: argparse.Namespace, context: Context) -> int:
    build = getattr(store, "optimize", None)
    if build is None:
        print(
            f"codeant vectors: the {context.settings.vector_backend} store keeps its index"
            " up to date itself: nothing to build",
            file=sys.stderr,
        )
        return EXIT_OK
    import attrs

    reports = await build(args.collection)
    if args.json:
        print(json.dumps([attrs.asdict(r) for r in reports]))
        return EXIT_OK
    table(
        [("COLLECTION", "POINTS", "INDEXED", "BEFORE", "SEGMENTS", "SECONDS")]
        + [
            (
                r.collection,
                str(r.points),
                str(r.indexed),
                str(r.indexed_before),
                str(r.segments),
                f"{r.seconds:.1f}",
            )
            for r in reports
        ]
    )
    print(f"built the HNSW indexes of {plural(len(reports), 'collection')}")
    return EXIT_OK


VECTORS = Command(
    name="vectors",
    help="inspect the vector store (status), rebuild it from the relational index,"
    " snapshot it (Qdrant server) or build its HNSW indexes (Qdrant Edge: optimize)",
    run=_run,
    add_arguments=_arguments,
)
