"""An interrupted ``codeant index`` loses nothing and claims nothing: whatever stage a run is
killed at (SIGKILL) or fails at (the vector store or the database down), the next run fails
the interrupted job, analyses what no completed job covered, and leaves the same files,
results, metrics and embeddings as a run that was never interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from adapters.config import Settings
from adapters.container import Container, build_container, running
from domain.analysis import AnalysisJob
from domain.enums import JobStatus
from ports.errors import UnavailableError
from ports.pagination import PageRequest
from tests.e2e.sample_repo import SampleRepo, build_sample_repo
from tests.faults.indexing import STAGES, State, failing_at, index_with, state_of
from tests.servers import scratch_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("first", "incremental")
"""A first run interrupted, or the run after a commit that modifies, adds and removes."""
WAIT = 180  # seconds a run may take to reach its stage: a guard, not a timed assertion


def has_pgvector(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return bool(row and row[0])


def environment(url: str, directory: Path) -> dict[str, str]:
    """The settings of a run: the database, its own data directory and vector store."""
    config = directory / "empty.toml"
    config.write_text("")
    env = {
        "CODEANT_DATABASE_URL": url,
        "CODEANT_DATA_DIR": str(directory / "data"),
        "CODEANT_CONFIG": str(config),
    }
    if not has_pgvector(url):
        env |= {"CODEANT_VECTOR_BACKEND": "qdrant", "CODEANT_QDRANT_PATH": str(directory / "q")}
    return env


@asynccontextmanager
async def opened(env: dict[str, str]) -> AsyncIterator[Container]:
    async with running(build_container(Settings.from_env(env))) as container:
        yield container


def sample(directory: Path) -> SampleRepo:
    return build_sample_repo(directory / "orders-service", directory / "git-home")


@pytest.fixture(scope="module")
def server(postgres_server_url: str) -> str:
    return postgres_server_url


@pytest.fixture(scope="module")
def references(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, State]]:
    """The state of an uninterrupted first run, and of an uninterrupted second run after
    the change set."""
    import asyncio

    directory = tmp_path_factory.mktemp("reference")
    repo = sample(directory)
    states: dict[str, State] = {}

    async def build(url: str) -> None:
        async with opened(environment(url, directory)) as container:
            await index_with(container, repo.root)
            states["first"] = await state_of(container)
            repo.apply_changes()
            await index_with(container, repo.root)
            states["incremental"] = await state_of(container)

    with scratch_database(server, prefix="codeant_reference") as url:
        asyncio.run(build(url))
        yield states


@pytest.fixture
def database(server: str) -> Iterator[str]:
    with scratch_database(server, prefix="codeant_interrupted") as url:
        yield url


async def jobs(container: Container) -> list[AnalysisJob]:
    uow = container.uow(system=True)
    async with uow:
        [organization] = (await uow.organizations.list(PageRequest())).items
        [project] = (await uow.projects.list_by_organization(organization.id, PageRequest())).items
        page = await uow.analysis.list_jobs(project.id, PageRequest(limit=100))
    return list(page.items)


def kill_at(stage: str, repo: SampleRepo, env: dict[str, str], directory: Path) -> None:
    """Run the main job in a process of its own until it reaches ``stage``, then SIGKILL it."""
    marker = directory / f"reached-{stage}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.indexing", stage, str(repo.root), str(marker)],
        cwd=PROJECT_ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CODEANT_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + WAIT
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"the run ended before the stage {stage}: {process.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run did not reach the stage {stage}")
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(30)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", STAGES)
async def test_a_run_killed_at_any_stage_is_made_good_by_the_next(
    stage: str, scenario: str, database: str, references: dict[str, State], tmp_path: Path
) -> None:
    """SIGKILL at the stage: the killed job stays running, nothing of its analysis is
    recorded; the next run fails it (its process is gone) and ends in the state of an
    uninterrupted run."""
    repo = sample(tmp_path)
    env = environment(database, tmp_path)
    async with opened(env) as container:
        if scenario == "incremental":
            await index_with(container, repo.root)
            repo.apply_changes()
        before = await jobs(container) if scenario == "incremental" else []

    kill_at(stage, repo, env, tmp_path)

    async with opened(env) as container:
        killed = [j for j in await jobs(container) if j.id not in {b.id for b in before}]
        # reading comes before the job begins: nothing at all is recorded then
        assert [j.status for j in killed] == ([] if stage == "read" else [JobStatus.RUNNING])
        assert [j.status for j in await jobs(container) if j not in killed] == [
            JobStatus.COMPLETED
        ] * len(before)

        report = await index_with(container, repo.root)

        assert report.job_status is JobStatus.COMPLETED
        after = {j.id: j for j in await jobs(container)}
        for job in killed:
            assert after[job.id].status is JobStatus.FAILED
            message = after[job.id].error_message
            assert message is not None
            assert message.startswith("abandoned: its process (")
        assert await state_of(container) == references[scenario]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", ["embed", "duplicates", "record"])
async def test_a_run_failing_at_a_stage_fails_its_job_and_loses_nothing(
    stage: str, scenario: str, database: str, references: dict[str, State], tmp_path: Path
) -> None:
    """The vector store (embedding, near-duplicates) or the database (completing) down:
    the run raises, its job is failed with the error, and the next run ends in the state
    of an uninterrupted run."""
    repo = sample(tmp_path)
    async with opened(environment(database, tmp_path)) as container:
        if scenario == "incremental":
            await index_with(container, repo.root)
            repo.apply_changes()
        outage = UnavailableError(f"server down at {stage}")

        with pytest.raises(UnavailableError, match="server down"):
            await index_with(container, repo.root, failing_at(stage, outage))

        [failed] = [j for j in await jobs(container) if j.status is JobStatus.FAILED]
        assert failed.error_message == f"UnavailableError: server down at {stage}"
        assert not any(j.status is JobStatus.RUNNING for j in await jobs(container))
        await index_with(container, repo.root)
        assert await state_of(container) == references[scenario]
