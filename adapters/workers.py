"""The fork server that worker processes start from.

The main job analyses files and embeds functions in worker processes of multiprocessing's
``forkserver`` context: each worker is forked from one server process, a fresh
interpreter that multiprocessing starts with the first pool. :func:`start_fork_server`
starts that server at once, with the modules the workers need imported in it, so that it
loads them on a core of its own while the job gets ready (on a first index, while it
reads the repository); the workers forked from it then start with those modules loaded
instead of importing them each.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from collections.abc import Sequence

__all__ = ["start_fork_server"]


def start_fork_server(modules: Sequence[str]) -> None:
    """Start the ``forkserver`` context's server now, importing ``modules`` (a module it
    cannot import is left to the workers, which then fail as they would have). Once the
    server runs (started earlier in this process), this does nothing: its modules stay as
    they were. The server stops when this process ends."""
    if any(not isinstance(name, str) or not name for name in modules):
        raise ValueError(f"modules must be non-empty module names, got {list(modules)!r}")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(modules))
    multiprocessing.forkserver.ensure_running()
