"""``codeant index PATH``: the main job."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from adapters.cli import EXIT_OK, EXIT_TERMINATED, Command, Context, UsageError, text
from adapters.cli.index_hints import IndexHints
from adapters.cli.output import plural

if TYPE_CHECKING:
    from application.indexing import IndexReport

__all__ = ["INDEX", "WORKER_MODULES", "long_lived_objects"]

WORKER_MODULES = (
    "application.indexing.reading",
    "adapters.source.analyzer",
    "lizard",
    "lizard_languages",
    "adapters.embedders.hashing",
    "numpy",  # for the embedding workers (the embedder imports it with its first batch)
)
"""The modules the index job's worker processes use: imported once, in their fork server
(with the command line's modules, see :func:`_worker_modules`)."""


def project_name(value: str) -> str:
    """Argument type: a project name with a letter or digit to make its slug of."""
    from application.indexing import slugify
    from domain.errors import ValidationError

    try:
        slugify(text(value))
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{exc.reason} (got {value!r})") from exc
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=text, help="a git repository (its working tree)")
    parser.add_argument(
        "--project", type=project_name, metavar="NAME",
        help="project name, with a letter or digit (default: the directory's name; one"
        " that another repository's project holds is refused)",
    )  # fmt: skip
    parser.add_argument(
        "--organization", type=text, metavar="SLUG", default="default",
        help="organization slug, created if missing (default: default)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def summary(report: IndexReport) -> dict[str, object]:
    return {
        "organization": report.organization_slug,
        "project": report.project_slug,
        "commit": report.commit,
        "branch": report.branch,
        "dirty": report.dirty,
        "files": report.files,
        "lines": report.lines,
        "added": report.added,
        "modified": report.modified,
        "renamed": report.renamed,
        "restored": report.restored,
        "removed": report.removed,
        "unchanged": report.unchanged,
        "skipped": report.skipped,
        "analyzed": report.analyzed,
        "results": report.results,
        "metrics": report.metrics,
        "embedded": report.embedded,
        "embeddings_skipped": report.embeddings_skipped,
        "job_id": str(report.job_id) if report.job_id else None,
        "job_status": str(report.job_status) if report.job_status else None,
        "issues_new": report.issues_new,
        "issues_reopened": report.issues_reopened,
        "issues_closed": report.issues_closed,
        "gate": report.gate,
        "up_to_date": report.up_to_date,
        "seconds": round(report.seconds, 3),
        "stages": {name: round(seconds, 3) for name, seconds in report.stages.items()},
    }


@contextlib.contextmanager
def long_lived_objects() -> Iterator[None]:
    """For the block, Python's cyclic garbage collector leaves alone what the process
    has loaded so far and collects young objects every 20,000 allocations instead of
    700, older ones rarely. The job builds hundreds of thousands of objects that live
    until it ends (entities, vectors, results): with the default thresholds the collector
    walked them again and again, about 0.3 s of a first index of 450 files, each pause
    holding the lock that every thread of the process needs. The settings are restored
    after the block."""
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen:
            gc.unfreeze()


def _worker_modules() -> list[str]:
    """:data:`WORKER_MODULES` and the command line's modules this process has loaded:
    each worker runs the process's main module again (as ``__mp_main__``), which imports
    them. The main module itself is left out when it runs as a module (``python -m
    adapters.cli.main``): loaded under its own name in the server, every worker's run of
    it would print runpy's warning that it is already imported."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    running = spec.name if spec is not None else None
    loaded = sorted(
        n
        for n in sys.modules
        if (n == "adapters.cli" or n.startswith("adapters.cli.")) and n != running
    )
    return [*WORKER_MODULES, *loaded]


def _start_workers() -> None:
    """Start the fork server of the job's workers, their modules imported in it, while
    the job gets ready to analyse: as the command starts, or once the run knows it
    analyses (see :mod:`adapters.cli.index_hints`); it does nothing once started."""
    from adapters.workers import start_fork_server

    start_fork_server(_worker_modules())


def _where(report: IndexReport) -> str:
    """Which state of the repository was indexed: commit, branch, uncommitted changes."""
    where = f"at {report.commit}" if report.commit else "(no commit)"
    where += f" on {report.branch}" if report.branch else " (detached HEAD)"
    return where + (" with uncommitted changes" if report.dirty else "")


def _hints(args: argparse.Namespace, context: Context) -> IndexHints | None:
    """The run's hint (:mod:`adapters.cli.index_hints`); None with the memory backend,
    whose every run begins with nothing stored."""
    settings = context.settings
    if settings.backend == "memory":
        return None
    database = settings.database_url or f"embedded {os.path.realpath(settings.data_dir)}"
    scope = [database, args.organization, args.project or ""]
    return IndexHints(settings.data_dir, scope, args.path)


async def _run(args: argparse.Namespace, context: Context) -> int:
    workers = os.cpu_count() or 1
    hints = _hints(args, context)
    if workers > 1 and (hints is None or not hints.unchanged()):
        _start_workers()  # while the rest loads: the run will likely analyse

    from adapters.cli.progress import ProgressBar
    from application.indexing import DIRECTORY_NAME, index_repository
    from application.relay import OutboxRelay
    from domain.errors import ProjectTakenError, ValidationError

    c = context.container
    bar = ProgressBar(enabled=None if not args.json else False)
    # SIGTERM cancels the run as Ctrl-C does, so that its job ends cancelled
    task = asyncio.current_task()
    assert task is not None
    terminated = asyncio.Event()
    loop = asyncio.get_running_loop()

    def terminate() -> None:
        terminated.set()
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        with long_lived_objects():
            report = await index_repository(
                c.uow(system=True),
                c.source_reader(),
                c.code_analyzer(),
                c.embedder(),
                c.code_index(),
                args.path,
                organization_slug=args.organization,
                project_name=args.project,
                progress=bar,
                liveness=c.liveness(),
                neighbours=c.nearest_neighbours(),
                workers=workers,
                on_analysis=_start_workers if workers > 1 else None,
            )
        if hints is not None:
            hints.remember()
    except ProjectTakenError as exc:
        raise UsageError(
            f"project {exc.project} already holds another repository ({exc.holder}):"
            " name this one with --project NAME"
        ) from exc
    except ValidationError as exc:
        if exc.field != DIRECTORY_NAME:
            raise
        raise UsageError(
            f"the repository's directory name {exc.value!r} has no letter or digit to make"
            " a project slug of: name the project with --project"
        ) from exc
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise
        task.uncancel()
        print("codeant: terminated; the job was cancelled", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        bar.close()
    # handlers ran after each commit: mark those events delivered, then retry what failed
    await c.commit_hook().acknowledge()
    await OutboxRelay(c.outbox(), c.dispatcher(), ready=c.cache_breaker().ready).drain()
    values = summary(report)
    if args.json:
        print(json.dumps(values))
        return EXIT_OK
    if report.up_to_date:
        print(
            f"{report.organization_slug}/{report.project_slug} {_where(report)}: up to date"
            f" ({plural(report.files, 'file')}, {plural(report.lines, 'line')})"
            f" in {report.seconds:.2f} s"
        )
        return EXIT_OK
    print(f"{report.organization_slug}/{report.project_slug} {_where(report)}")
    moved = f" {report.renamed} renamed," if report.renamed else ""
    moved += f" {report.restored} restored," if report.restored else ""
    print(
        f"  files     {report.files} ({report.added} added, {report.modified} modified,{moved}"
        f" {report.removed} removed, {report.unchanged} unchanged; {report.skipped} not parsed)"
    )
    print(f"  lines     {report.lines}")
    print(
        f"  analysed  {plural(report.analyzed, 'file')}: {plural(report.results, 'issue')},"
        f" {plural(report.metrics, 'metric')}"
    )
    print(
        f"  embedded  {plural(report.embedded, 'function')} ({report.embeddings_skipped} unchanged)"
    )
    if report.gate is not None:
        print(
            f"  issues    {report.issues_new} new, {report.issues_reopened} reopened,"
            f" {report.issues_closed} closed; quality gate {report.gate}"
        )
    print(f"  job       {report.job_id} {report.job_status} in {report.seconds:.2f} s")
    sys.stdout.flush()
    return EXIT_OK


INDEX = Command(
    name="index",
    help="index a git repository: files, analysis, metrics and embeddings (incremental)",
    run=_run,
    add_arguments=_arguments,
)
