"""Analysis history end to end: runs over several commits (an edit, a removal, a rename, an
addition) never change an earlier job's rows; a renamed file keeps its identity and its
former path; ``codeant jobs`` lists what ran; a job ends whatever ends its process."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.cli import PROJECT_ROOT, Cli, index
from tests.e2e.sample_repo import ADDED_CONTENT, build_sample_repo

RAW_ROWS = (
    "SELECT r.job_id::text AS job, to_jsonb(r) - 'job_id' AS row FROM analysis_results r"
    " UNION ALL SELECT m.job_id::text, to_jsonb(m) - 'job_id' FROM code_metrics m"
)
FILE_BY_PATH = (
    "SELECT id, analysis_status FROM file_index WHERE relative_path = %(path)s"
    " ORDER BY analysis_status = 'deleted', updated_at DESC"
)
HISTORY = (
    "SELECT h.change, h.relative_path, h.previous_path FROM file_history h"
    " JOIN analysis_jobs j ON j.id = h.job_id WHERE h.file_id = %(file_id)s"
    " ORDER BY j.created_at"
)
JOB_STATUS = "SELECT status, error_message FROM analysis_jobs WHERE id = %(id)s"
RUNNING_JOBS = "SELECT id FROM analysis_jobs WHERE status = 'running'"


def rows_by_job(cli: Cli) -> dict[str, list[Any]]:
    by_job: dict[str, list[Any]] = {}
    for r in cli.rows(RAW_ROWS):
        by_job.setdefault(r["job"], []).append(r["row"])
    return {job: sorted(rows, key=str) for job, rows in by_job.items()}


def test_runs_over_several_commits_never_change_an_earlier_job(cli: Cli, tmp_path: Path) -> None:
    """Index, then over four commits edit a file, remove one, rename one (unchanged) and
    add one: after every run, every earlier job's results and metrics are the same rows;
    the renamed file keeps its id, with its former path in its history; the removed file
    stays, marked deleted."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    summaries = [index(cli, repo)]
    snapshots = [rows_by_job(cli)]
    renamed_id = cli.rows(FILE_BY_PATH, {"path": "orders/routing.py"})[0]["id"]
    removed_id = cli.rows(FILE_BY_PATH, {"path": "web/app.js"})[0]["id"]

    steps: list[Callable[[], object]] = [
        lambda: repo.write("orders/cleanup_a.py", b"def tidy():\n    return None\n"),
        lambda: (repo.root / "web/app.js").unlink(),
        lambda: repo.git("mv", "orders/routing.py", "orders/dispatch.py"),
        lambda: repo.write("orders/extra.py", ADDED_CONTENT.encode()),
    ]
    for number, step in enumerate(steps, start=2):
        step()
        repo.commit_all(f"step {number}", date=f"2024-03-{number + 4:02d}T00:00:00+00:00")
        summaries.append(index(cli, repo))
        now = rows_by_job(cli)
        for earlier in snapshots:
            for job, rows in earlier.items():
                assert now[job] == rows, f"run {number} changed the rows of job {job}"
        snapshots.append(now)

    assert [(s["modified"], s["removed"], s["renamed"], s["added"]) for s in summaries[1:]] == [
        (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1),
    ]  # fmt: skip
    [moved] = cli.rows(FILE_BY_PATH, {"path": "orders/dispatch.py"})
    assert moved["id"] == renamed_id
    assert cli.rows(FILE_BY_PATH, {"path": "orders/routing.py"}) == []
    history = cli.rows(HISTORY, {"file_id": renamed_id})
    assert [(h["change"], h["relative_path"], h["previous_path"]) for h in history] == [
        ("added", "orders/routing.py", None),
        ("renamed", "orders/dispatch.py", "orders/routing.py"),
    ]
    [removed] = cli.rows(FILE_BY_PATH, {"path": "web/app.js"})
    assert (removed["id"], removed["analysis_status"]) == (removed_id, "deleted")


def test_jobs_lists_the_runs_with_what_they_analysed(cli: Cli, tmp_path: Path) -> None:
    """codeant jobs lists every job newest first, with its status, branch, commit and
    whether the working tree had uncommitted changes; filters by status and limit."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    first = index(cli, repo)
    repo.write("orders/cleanup_a.py", b"def tidy():\n    return None\n")
    second = index(cli, repo)
    assert (first["dirty"], second["dirty"]) == (False, True)
    assert first["branch"] == second["branch"] == "main"

    listed = cli.json("jobs")

    assert [j["id"] for j in listed] == [second["job_id"], first["job_id"]]
    assert [(j["status"], j["branch"], j["commit"], j["dirty"]) for j in listed] == [
        ("completed", "main", repo.head(), True),
        ("completed", "main", repo.head(), False),
    ]
    assert set(listed[0]["stages"]) >= {"read", "parse", "rules", "embed", "duplicates"}
    assert [j["id"] for j in cli.json("jobs", "orders-service", "--limit", "1")] == [
        second["job_id"]
    ]
    assert cli.json("jobs", "--status", "failed") == []
    table = cli.run("jobs")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["JOB", "PROJECT", "STATUS"]
    unknown = cli.run("jobs", "no-such-project")
    assert unknown.returncode == 1 and "project not found" in unknown.stderr


LAST_STAGE_PROGRESS = 80
"""The progress the main job's last stage writes as it begins (the duplicates stage);
every stage that writes one runs inside the job, before its results are recorded."""
HOLD_JOB = "SELECT progress FROM analysis_jobs WHERE id = %(id)s FOR UPDATE"
WAITING_FOR = "SELECT count(*) FROM pg_stat_activity WHERE %(pid)s = ANY(pg_blocking_pids(pid))"


def running_jobs(cli: Cli) -> list[dict[str, Any]]:
    try:
        return cli.rows(RUNNING_JOBS)
    except psycopg.errors.UndefinedTable:  # not migrated yet: the run has just begun
        return []


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 300  # a guard, not a timed assertion
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


def _interruptible() -> None:
    """In the command's process, before it starts: Ctrl-C's signal at its default, as in
    a terminal, even where the tests run with it ignored (a shell's background job passes
    that on), so that the command takes it as a user's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def held_run(cli: Cli) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``codeant index`` of this repository, and its job's id, held inside the job for
    the block: the job's row is locked as soon as the job runs, so that the run waits at
    the next stage's progress write, and the block begins once it does wait. Leaving the
    block lets the run go on (an error in it kills the run). However fast the machine or
    busy the test, the run is then inside its job, never recording its results."""
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli.main", "index", str(PROJECT_ROOT), "--json"],
        cwd=cli.workdir, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_interruptible,
    )  # fmt: skip
    try:

        def job_runs() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the run ended before its job ran: {process.communicate()}")
            return bool(running_jobs(cli))

        _wait_for(job_runs, "no job started")
        [job] = cli.rows(RUNNING_JOBS)
        with psycopg.connect(cli.database_url) as holder:
            [(progress,)] = holder.execute(HOLD_JOB, {"id": job["id"]}).fetchall()
            if progress >= LAST_STAGE_PROGRESS:  # it began its last stage meanwhile
                pytest.skip(f"the run was past its stages (progress {progress}) when held")
            pid = {"pid": holder.info.backend_pid}
            _wait_for(lambda: cli.value(WAITING_FOR, pid), "the run never waited for its job")
            yield process, str(job["id"])
    except BaseException:  # the test failed or skipped: nothing is left running
        process.kill()
        process.communicate()
        raise


@pytest.mark.parametrize(
    ("sent", "exit_status", "message"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_run_stopped_by_a_signal_cancels_its_job(
    cli: Cli, sent: signal.Signals, exit_status: int, message: str
) -> None:
    """SIGTERM and Ctrl-C (SIGINT) stop the run with their exit status and one line, and
    its job ends cancelled."""
    with held_run(cli) as (process, job_id):
        process.send_signal(sent)
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == exit_status, stderr
    assert message in stderr and "Traceback" not in stderr
    assert cli.rows(JOB_STATUS, {"id": job_id})[0]["status"] == "cancelled"


def test_a_killed_run_is_failed_by_the_next_command(cli: Cli) -> None:
    """A run killed outright (SIGKILL) leaves its job running, and the next command that
    looks at jobs fails it, saying its process is gone."""
    with held_run(cli) as (process, job_id):
        process.kill()
        process.wait(60)
    assert cli.rows(JOB_STATUS, {"id": job_id})[0]["status"] == "running"

    [listed] = cli.json("jobs")

    assert (listed["id"], listed["status"]) == (job_id, "failed")
    assert listed["error"].startswith("abandoned: its process (")
    assert listed["error"].endswith(") is gone")
