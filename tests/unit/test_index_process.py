"""How the index command runs its processes: its worker processes start from a fork
server that has already imported what they use (adapters.workers.start_fork_server) and
end with the process that started them (application.processes), and the garbage collector
leaves the job's long-lived objects alone (long_lived_objects)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from adapters.cli.index import long_lived_objects
from adapters.workers import start_fork_server
from application.processes import parent_process, process_start_time
from tests.e2e.cli import PROJECT_ROOT

# A fresh process each time: the fork server is one per process, started once.
_SCRIPT = """
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor


def loaded():
    return "colorsys" in sys.modules  # a module nothing here imports


if __name__ == "__main__":
    if sys.argv[1] == "preload":
        from adapters.workers import start_fork_server

        start_fork_server(["colorsys"])
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        print(pool.submit(loaded).result(), "colorsys" in sys.modules)
"""


def _worker_sees(tmp_path: Path, mode: str) -> str:
    script = tmp_path / "workers.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script), mode], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_workers_start_with_the_modules_the_server_imported(tmp_path: Path) -> None:
    """A worker forked after start_fork_server finds the module loaded without importing
    it; the calling process does not import it; without the call, the worker does not
    have it either."""
    assert _worker_sees(tmp_path, "preload") == "True False"
    assert _worker_sees(tmp_path, "plain") == "False False"


@pytest.mark.parametrize("modules", [[""], [None], ["json", 3]])
def test_module_names_must_be_names(modules: list[object]) -> None:
    with pytest.raises(ValueError, match="module names"):
        start_fork_server(modules)  # type: ignore[arg-type]


def test_the_job_runs_with_few_collections_and_the_settings_come_back() -> None:
    """Inside the block what was loaded is frozen (never walked again) and young objects
    are collected every 20,000 allocations; after it, even after an error, the
    thresholds and the frozen objects are as they were."""
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), long_lived_objects():
        assert gc.get_threshold() == (20_000, 20, 20)
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the job failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


_ORPHANED = """
import os
import time

from application.processes import worker_pool


def pid():
    return os.getpid()


if __name__ == "__main__":
    pool = worker_pool(2)  # as the analysis and the embedding make theirs
    first, second = pool.submit(pid), pool.submit(time.sleep, 0.5)
    pids = {first.result(), pool.submit(pid).result()}
    second.result()
    for _ in range(4):
        pool.submit(time.sleep, 600)  # work the workers are busy with when this dies
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(600)
"""


def _running(pid: int) -> bool:
    return process_start_time(pid) is not None and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    """Killed (SIGKILL) while its workers are busy, the job's process leaves none of them
    behind: each sees it gone and exits, within seconds rather than when its work ends."""
    script = tmp_path / "orphaned.py"
    script.write_text(textwrap.dedent(_ORPHANED))
    job = subprocess.Popen(
        [sys.executable, str(script)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert job.stdout is not None
        workers = [int(pid) for pid in job.stdout.readline().split()]
        assert workers and all(_running(pid) for pid in workers)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    deadline = time.monotonic() + 60  # a guard for a busy machine; they go in about 1 s
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)


def test_a_process_is_known_by_its_pid_and_start_time() -> None:
    """The start time of a running process is stable; a process that has ended has none
    (which is how a worker sees that the process that started it is gone)."""
    pid, started = parent_process()
    assert pid == os.getpid() and started is not None
    assert process_start_time(pid) == started
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert process_start_time(ended.pid) is None
