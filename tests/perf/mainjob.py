"""Row 7: the main job. ``codeant index`` of a repository of real Python files (the first
files of the standard library, committed to a fresh git repository), run as its users run
it (a new process, on a fresh database of the run's server whose schema ``codeant db
upgrade`` made first, as a first install does: its seconds are reported apart), against
lizard alone over the same files (``python -m lizard``, a new process too): the ratio of
the two wall times, measured in interleaved rounds, and the seconds of each stage of the
job. Then the fixed
overhead a user meets on every command: ``codeant --help``, and ``codeant index`` run
again on the unchanged repository, both whole processes, beside the interpreter's own
start.

Each command runs with the bytecode cache on, as in an installed project (an environment
with ``PYTHONDONTWRITEBYTECODE`` would compile every module of the command on every run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.perf import corpus
from tests.perf.context import Context
from tests.perf.harness import Result, Spread

__all__ = ["build_repository", "main_job_rows"]

TARGET_RATIO = 2.0
"""The issue's floor: the main job within twice the time lizard alone takes."""
HELP_TARGET = 0.3
"""Seconds ``codeant --help`` may take, process start included."""
RERUN_TARGET = 1.0
"""Seconds an unchanged rerun of ``codeant index`` may take, process start included."""
COMMIT_DATE = "2024-03-04T05:06:07+00:00"
_TIMEOUT = 1800  # seconds: a guard against a hung command, not a timed assertion


def build_repository(root: Path, files: int) -> tuple[int, int]:
    """A git repository at ``root`` of the first ``files`` Python files of the standard
    library (tests left out), committed once; returns the files and their bytes."""
    root.mkdir(parents=True)
    count = size = 0
    for source in corpus.source_files():
        if count >= files:
            break
        if not source.relative_path.startswith("stdlib/"):
            continue
        target = root / source.relative_path.removeprefix("stdlib/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.path, target)
        count += 1
        size += source.size_bytes
    env = {
        **os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE,
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    git = ["git", "-c", "user.name=Benchmark", "-c", "user.email=bench@example.com"]
    for args in (["init", "--quiet", "--initial-branch", "main"], ["add", "--all"],
                 ["commit", "--quiet", "--message", "corpus"]):  # fmt: skip
        subprocess.run([*git, *args], cwd=root, env=env, check=True, capture_output=True)
    return count, size


def _timed_run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of ``python ARGV`` (a new process) and what it printed; RuntimeError
    when it fails."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=_TIMEOUT, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds, done.stdout


def _with_bytecode(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _index_once(
    server_url: str, repo: Path, work: Path
) -> tuple[float, float, dict[str, Any], float, dict[str, Any]]:
    """Wall seconds of ``codeant db upgrade`` on a fresh database (the schema made once,
    as on a first install), then of ``codeant index REPO --json`` (the repository's first
    index) and its summary, then the same for the rerun on the unchanged repository."""
    from tests.e2e.cli import cli_for

    index = ["-m", "adapters.cli.main", "index", str(repo), "--json"]
    with cli_for(server_url, work) as cli:
        env = _with_bytecode(cli.env)
        migrated, _ = _timed_run(["-m", "adapters.cli.main", "db", "upgrade"], cli.workdir, env)
        seconds, printed = _timed_run(index, cli.workdir, env)
        again, printed_again = _timed_run(index, cli.workdir, env)
    return migrated, seconds, json.loads(printed), again, json.loads(printed_again)


def _fixed_once() -> tuple[float, float]:
    """Wall seconds of ``codeant --help`` and of the interpreter starting and stopping."""
    from tests.e2e.cli import PROJECT_ROOT

    env = _with_bytecode(dict(os.environ))
    help_s, _ = _timed_run(["-m", "adapters.cli.main", "--help"], PROJECT_ROOT, env)
    bare_s, _ = _timed_run(["-c", "pass"], PROJECT_ROOT, env)
    return help_s, bare_s


def _lizard_once(repo: Path) -> float:
    """Wall seconds of ``python -m lizard REPO`` (its report discarded)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lizard", str(repo)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        timeout=_TIMEOUT, check=False,
    )  # fmt: skip
    return time.perf_counter() - started


async def main_job_rows(ctx: Context) -> list[Result]:
    """Row 7a: ``codeant index`` (first run) against lizard alone, and 7b: the share of
    the job's own seconds each stage took (in the notes and the JSON's details)."""
    sizes = ctx.sizes
    name = "first codeant index vs lizard alone, same files"
    if not ctx.server_url:
        return [Result(row="7a", name=name, unit="s", ours=None, skipped="no server URL")]
    with tempfile.TemporaryDirectory(prefix="codeant-mainjob-") as scratch:
        repo = Path(scratch) / "corpus"
        files, size = build_repository(repo, sizes.main_files)
        ours: list[float] = []
        lizard: list[float] = []
        reported: list[float] = []
        reruns: list[float] = []
        migrations: list[float] = []
        helps: list[float] = []
        bare: list[float] = []
        stages: dict[str, list[float]] = {}
        summary: dict[str, Any] = {}
        for r in range(sizes.main_rounds):  # interleaved, the order alternating
            order = ["ours", "lizard"] if r % 2 == 0 else ["lizard", "ours"]
            for who in order:
                if who == "lizard":
                    lizard.append(_lizard_once(repo))
                    continue
                migrated, seconds, summary, again, rerun = _index_once(
                    ctx.server_url, repo, Path(scratch) / f"r{r}"
                )
                migrations.append(migrated)
                if rerun["analyzed"] != 0 or rerun["unchanged"] != files:
                    raise RuntimeError(f"the rerun of an unchanged repository did work: {rerun}")
                ours.append(seconds)
                reruns.append(again)
                reported.append(float(summary["seconds"]))
                for stage, value in summary["stages"].items():
                    stages.setdefault(stage, []).append(float(value))
            help_s, bare_s = _fixed_once()
            helps.append(help_s)
            bare.append(bare_s)
    ours_spread, lizard_spread = Spread.of(ours), Spread.of(lizard)
    stage_spreads = {stage: Spread.of(values) for stage, values in stages.items()}
    ctx.details["main_job"] = {
        "files": files, "bytes": size, "lines": summary.get("lines"),
        "functions": summary.get("embedded"), "results": summary.get("results"),
        "rounds": sizes.main_rounds, "codeant_s": ours, "lizard_s": lizard,
        "job_seconds": reported, "stages_s": stages,
        "ratios": [o / p for o, p in zip(ours, lizard, strict=True)],
        "rerun_s": reruns, "help_s": helps, "interpreter_s": bare, "migrate_s": migrations,
    }  # fmt: skip
    bare_spread = Spread.of(bare)
    stage_text = ", ".join(f"{stage} {spread}" for stage, spread in stage_spreads.items())
    return [
        Result(
            row="7a", name=f"{name} ({files} files), median wall", unit="s",
            ours=ours_spread.median, peer=lizard_spread.median, peer_name="lizard alone",
            target=("<=", TARGET_RATIO), on_ratio=True,
            notes=(
                f"{files} files, {summary.get('lines')} lines, {summary.get('embedded')}"
                f" functions; rounds: {sizes.main_rounds}, codeant {ours_spread} s, lizard"
                f" {lizard_spread} s; each on a database migrated beforehand by codeant db"
                f" upgrade ({Spread.of(migrations)} s, not counted)"
            ),
        ),
        Result(
            row="7b", name="first codeant index, the job's own seconds (median)", unit="s",
            ours=Spread.of(reported).median, notes=f"stages (median, range): {stage_text}",
        ),
        Result(
            row="7c", name="codeant --help, whole process (median wall)", unit="s",
            ours=Spread.of(helps).median, target=("<", HELP_TARGET),
            notes=f"codeant --help {Spread.of(helps)} s; the interpreter alone {bare_spread} s",
        ),
        Result(
            row="7d", name="codeant index again, nothing changed, whole process (median wall)",
            unit="s", ours=Spread.of(reruns).median, target=("<", RERUN_TARGET),
            notes=(
                f"{files} files; rerun {Spread.of(reruns)} s; the interpreter alone"
                f" {bare_spread} s"
            ),
        ),
    ]  # fmt: skip
