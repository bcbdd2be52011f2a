"""``python -m tests.perf [--size quick|full] [--rows N] [--vectors N] [--files N]
[--only GROUP ...] [--json PATH] [--database-url URL]``: run the benchmark, print its
table, write its JSON."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
import tempfile
from pathlib import Path

from tests.perf.harness import SIZES, render_table, write_json
from tests.perf.runner import GROUPS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--rows", type=int, help="file rows and results (overrides --size)")
    parser.add_argument("--vectors", type=int, help="vectors indexed (overrides --size)")
    parser.add_argument("--files", type=int, help="files the main job indexes (row 7)")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, default=list(GROUPS), metavar="GROUP",
        help=f"run only these groups of rows: {', '.join(GROUPS)}",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch DB on")
    args = parser.parse_args(argv)
    try:
        sizes = SIZES[args.size].scaled(rows=args.rows, vectors=args.vectors, files=args.files)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING)
    command = "python -m tests.perf " + shlex.join(sys.argv[1:] if argv is None else argv)
    results, document = asyncio.run(
        run(sizes, database_url=args.database_url, command=command.strip(), only=tuple(args.only))
    )
    print(render_table(results))
    path = args.json or Path(tempfile.gettempdir()) / f"codeant-benchmark-{sizes.name}.json"
    write_json(path, document)
    print(f"\nJSON report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
