"""``codeant vectors``: the vector store's collections, rebuilding it from PostgreSQL,
snapshots (Qdrant server) and index builds (Qdrant Edge)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import attrs

from adapters.cli import EXIT_FAILURE, EXIT_OK, Command, Context
from adapters.cli.progress import ProgressBar
from application.indexing import rebuild_vectors

__all__ = ["VECTORS"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="vectors_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="collections with their dimension and points")
    status.add_argument("--json", action="store_true", help="print JSON")
    rebuild = actions.add_parser(
        "rebuild",
        help="embed every indexed function again from the repositories' working trees",
    )
    rebuild.add_argument("--project", metavar="SLUG", help="only this project")
    rebuild.add_argument("--json", action="store_true", help="print the counts as JSON")
    actions.add_parser("snapshot", help="Qdrant server: snapshot every collection")
    optimize = actions.add_parser(
        "optimize",
        help="Qdrant Edge: build the HNSW index of every collection (or of one), in a child"
        " process",
    )
    optimize.add_argument("--collection", metavar="NAME", help="only this collection")
    optimize.add_argument("--json", action="store_true", help="print the builds as JSON")


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
        else:
            for r in rows:
                print(f"{r['name']:<24} {r['dimension']:>5}  {r['distance']:<9} {r['points']}")
            print(f"backend: {context.settings.vector_backend}, {len(rows)} collections")
        return EXIT_OK
    if args.vectors_action == "optimize":
        return await _optimize(c.vector_store(), args, context)
    if args.vectors_action == "snapshot":
        store = c.vector_store()
        take = getattr(store, "snapshot", None)
        if take is None:
            print(
                f"codeant vectors: the {context.settings.vector_backend} store takes no"
                " snapshots: it is backed up with the database, or rebuilt from the index",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        for collection, name, size in await take():
            print(f"{collection}: {name} ({size} bytes)")
        return EXIT_OK
    store = c.vector_store()
    bar = ProgressBar(enabled=False if args.json else None)
    try:
        report = await rebuild_vectors(
            c.uow, c.source_reader(), c.embedder(), store,
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
            f"{report.units} functions of {report.files} files in {report.projects} projects:"
            f" {report.embedded} embedded again, {report.unreadable} files unreadable"
            + (f"; {values['indexed']} vectors in HNSW indexes" if "indexed" in values else "")
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
    reports = await build(args.collection)
    if args.json:
        print(json.dumps([attrs.asdict(r) for r in reports]))
        return EXIT_OK
    for r in reports:
        print(
            f"{r.collection:<24} {r.points:>9} points  {r.indexed:>9} indexed"
            f" (was {r.indexed_before})  {r.segments} segments  {r.seconds:.1f} s"
        )
    print(f"{len(reports)} collections")
    return EXIT_OK


VECTORS = Command(
    name="vectors",
    help="inspect the vector store (status), rebuild it from the relational index,"
    " snapshot it (Qdrant server) or build its HNSW indexes (Qdrant Edge: optimize)",
    run=_run,
    add_arguments=_arguments,
)
