"""Process liveness on the local machine (implements :class:`ports.runtime.Liveness`).

An owner name is ``host/boot/pid/start``: the host name, the kernel's boot id, the pid and
the process's start time (clock ticks since boot, from ``/proc/<pid>/stat``). A pid alone
is not enough, since pids are reused: a process counts as alive only if a process with
that pid runs and started at that time. An owner of another host cannot be checked here
(None: its job's lease decides); one of this host from an earlier boot is gone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from application.processes import process_start_time

__all__ = ["LocalLiveness"]

_PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "-"


class LocalLiveness:
    """Owner names of this process, and liveness of owners on this machine."""

    def __init__(self) -> None:
        self._host = socket.gethostname()[:128].replace("/", "_") or "localhost"
        self._boot = _boot_id()

    def owner(self) -> str:
        pid = os.getpid()
        return f"{self._host}/{self._boot}/{pid}/{process_start_time(pid) or '-'}"

    def is_alive(self, owner: str) -> bool | None:
        parts = owner.split("/")
        if len(parts) != 4 or not parts[2].isdigit():
            return None  # not one of ours: the lease decides
        host, boot, pid, started = parts
        if host != self._host:
            return None
        if boot != self._boot:
            return False  # this machine restarted since
        return process_start_time(int(pid)) == started
