"""A ``redis-server`` process a test owns: started on a free loopback port, stopped,
killed and started again on the same port, optionally persisting to a directory of its
own (so that a restart brings back what was saved)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisProcess", "free_port", "own_redis_process"]

EPHEMERAL = ("--save", "", "--appendonly", "no")
"""Nothing persisted: a restarted server starts empty."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` on a fixed loopback port. With ``data_dir`` it writes its
    snapshot there (only when told: ``SAVE``), and loads it when started again."""

    def __init__(self, binary: str, *, data_dir: Path | None = None) -> None:
        self.binary = binary
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options: tuple[str, ...] = EPHEMERAL
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            options = ("--dir", str(self.data_dir), "--dbfilename", "dump.rdb", *EPHEMERAL)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop the server (SIGTERM); without persistence its data is gone."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def kill(self) -> None:
        """Kill the server (SIGKILL), as a crash: what it did not save is lost."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
            self.process = None


@contextlib.contextmanager
def own_redis_process(data_dir: Path | None = None) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess`, stopped at the end if still running; skips the
    test when ``redis-server`` is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: these tests start and stop their own")
    server = RedisProcess(binary, data_dir=data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
