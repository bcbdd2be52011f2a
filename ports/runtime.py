"""Who runs a job, and whether the process that ran one is still alive."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Liveness"]


class Liveness(Protocol):
    """Names this process as the owner of the jobs it runs, and tells whether the owner
    of a job is still alive. Owner names are opaque strings of at most 255 characters
    that identify one process (a pid alone is not enough: pids are reused)."""

    def owner(self) -> str:
        """The owner name of this process."""
        ...

    def is_alive(self, owner: str) -> bool | None:
        """True if the process ``owner`` names still runs, False if it is known to be gone,
        None if that cannot be told here (a process on another machine: its lease
        decides)."""
        ...
