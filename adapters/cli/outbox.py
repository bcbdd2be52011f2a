"""``codeant outbox``: the state of the transactional outbox, and its relay."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING

from adapters.cli import EXIT_OK, Command, Context, seconds, whole_number
from adapters.cli.output import one_line

if TYPE_CHECKING:
    from application.relay import OutboxRelay, RelayResult

__all__ = ["OUTBOX"]

log = logging.getLogger("codeant.outbox")


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="outbox_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="messages waiting, failing and delivered")
    status.add_argument("--json", action="store_true", help="print JSON")
    relay = actions.add_parser(
        "relay",
        help="deliver waiting events to their handlers (cache, vector store)",
        description="Deliver waiting events to their handlers (cache, vector store). Library "
        "processes relay in the background of running(container) already; where "
        "CODEANT_OUTBOX_RELAY is off, run 'codeant outbox relay --follow' in one process.",
    )
    relay.add_argument(
        "--follow", action="store_true", help="keep relaying until interrupted (Ctrl-C)"
    )
    relay.add_argument(
        "--interval", type=seconds, default=1.0, metavar="SECONDS",
        help="with --follow, how often to look for new events (default: 1)",
    )  # fmt: skip
    relay.add_argument(
        "--batch-size", type=whole_number(1), default=100, metavar="N",
        help="messages per batch (default: 100)",
    )  # fmt: skip
    relay.add_argument(
        "--max-attempts", type=whole_number(1), default=10, metavar="N",
        help="handler errors after which a message is left aside; a server that does not "
        "answer only postpones it (default: 10)",
    )  # fmt: skip
    relay.add_argument("--json", action="store_true", help="print the counts as JSON")


async def _run(args: argparse.Namespace, context: Context) -> int:
    from application.relay import OutboxRelay

    container = context.container
    outbox = container.outbox()
    if args.outbox_action == "status":
        stats = await outbox.stats()
        values = {
            "pending": stats.pending,
            "failing": stats.failing,
            "delivered": stats.delivered,
            "max_attempts": stats.max_attempts,
            "oldest_pending_at": stats.oldest_pending_at.isoformat()
            if stats.oldest_pending_at
            else None,
        }
        if args.json:
            print(json.dumps(values))
        else:
            for name, value in values.items():
                print(f"{name:<18} {'-' if value is None else value}")
        return EXIT_OK
    relay = OutboxRelay(
        outbox,
        container.dispatcher(),
        batch_size=args.batch_size,
        max_attempts=args.max_attempts,
        ready=container.cache_breaker().ready,
    )
    if args.follow:
        total = await _follow(relay, args.interval)
    else:
        total = await relay.drain()
    counts = {"delivered": total.delivered, "failed": total.failed, "postponed": total.postponed}
    if args.json:
        print(json.dumps(counts))
    else:
        print(", ".join(f"{name} {count}" for name, count in counts.items()))
    return EXIT_OK


async def _follow(relay: OutboxRelay, interval: float) -> RelayResult:
    """Relay until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    print("relaying outbox events; Ctrl-C to stop", file=sys.stderr, flush=True)
    return await relay_until(stop, relay, interval)


async def relay_until(stop: asyncio.Event, relay: OutboxRelay, interval: float) -> RelayResult:
    """Drain the outbox every ``interval`` seconds until ``stop`` is set. An outage does
    not end it: it says so once, keeps trying, and says when the outbox is back."""
    from application.relay import RelayResult
    from ports.errors import UnavailableError

    total = RelayResult()
    down = False
    while not stop.is_set():
        try:
            total += await relay.drain()
        except UnavailableError as exc:
            if not down:
                log.warning("%s; retrying every %g s", one_line(str(exc)), interval)
            down = True
        else:
            if down:
                log.warning("the outbox is reachable again; relaying")
            down = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return total


OUTBOX = Command(
    name="outbox",
    help="inspect the outbox (status) or deliver its events (relay)",
    run=_run,
    add_arguments=_arguments,
)
