"""How the index command runs its process: its worker processes start from a fork server
that has already imported what they use (adapters.workers.start_fork_server), and the
garbage collector leaves the job's long-lived objects alone (long_lived_objects)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.cli.index import long_lived_objects
from adapters.workers import start_fork_server
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
