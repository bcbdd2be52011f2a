"""Worker processes that end with the process that started them.

A job's worker processes (the analysis, the embedding) are forked from multiprocessing's
fork server, not from the job's process: when that process is killed, nothing tells its
workers, which then wait for ever to hand back a result nobody reads (and keep the fork
server alive). Each worker therefore watches the process that started it, by its pid and
start time (pids are reused), and exits once it is gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = [
    "WATCH_SECONDS",
    "parent_process",
    "process_start_time",
    "worker_pool",
    "worker_started",
]

WATCH_SECONDS = 1.0
"""How often a worker looks for the process that started it."""

_PROC = Path("/proc")


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot; None if there is no
    such process. Without /proc (not Linux) it is "-" for every running process."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "-" if _pid_exists(pid) else None
    # the command name (2nd field) may hold spaces and parentheses: split after its end
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]  # field 22 of the whole line


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parent_process() -> tuple[int, str | None]:
    """This process, as :func:`worker_started` takes it: its pid and start time."""
    pid = os.getpid()
    return pid, process_start_time(pid)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes forked from multiprocessing's fork server (see
    ``adapters.workers``), each started by :func:`worker_started` for this process:
    Ctrl-C left to this process, and gone soon after it."""
    import multiprocessing  # with the first pool, not with every command that loads this
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=worker_started,
        initargs=parent_process(),
    )


def worker_started(parent: int, started: str | None) -> None:
    """A process pool's initializer (with :func:`parent_process` of the process that
    makes the pool as its arguments): the worker leaves Ctrl-C to that process, which
    cancels the work, and exits as soon as that process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_watch, args=(parent, started), name="watch-parent", daemon=True
    ).start()


def _watch(parent: int, started: str | None) -> None:
    while process_start_time(parent) == started:
        time.sleep(WATCH_SECONDS)
    os._exit(1)
