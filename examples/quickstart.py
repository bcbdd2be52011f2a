"""The persistence layer from Python, end to end, on the in-memory backend.

An organization, a project, a repository with its branch, the repository's files, and
one analysis job enqueued, started and completed with its issues; then the project's
issues summary. Run it with the project installed (``pip install -e .``):
``python examples/quickstart.py``. With ``Settings()`` instead of
``Settings(backend="memory")``, the same code runs on PostgreSQL (the embedded server,
or the one ``database_url`` names).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

from adapters.config import Settings
from adapters.container import Container, build_container, running
from application import (
    BranchSpec,
    FileSnapshot,
    complete_analysis,
    create_project,
    enqueue_analysis,
    issues_summary,
    register_organization,
    register_repository,
    start_analysis,
)
from domain.analysis import AnalysisResult
from domain.files import FileIndex
from domain.ids import RuleId
from domain.values import SourceLocation
from ports.unit_of_work import UnitOfWork

SOURCES = {
    "billing/invoices.py": b"def total(lines):\n    return sum(line.amount for line in lines)\n",
    "billing/taxes.py": b"RATE = 0.2\n\n\ndef tax(amount):\n    return amount * RATE\n",
}
COMMIT = "3f5e1c9a0b7d4e2f8a6c1b3d5e7f9a0b2c4d6e8f"


async def main() -> None:
    async with running(build_container(Settings(backend="memory"))) as container:
        await quickstart(container)


async def quickstart(container: Container) -> None:
    # a new organization is cross-organization work: the system scope; everything after it
    # runs in units that see this organization's rows alone
    organization = await register_organization(container.uow(system=True), name="Acme", slug="acme")

    def acme() -> UnitOfWork:
        unit: UnitOfWork = container.uow(organization_id=organization.id)
        return unit

    project = await create_project(
        acme(),
        organization.id,
        name="Billing API",
        slug="billing-api",
        repository_url="https://git.example.com/acme/billing-api.git",
    )
    repository = await register_repository(
        acme(),
        project.id,
        local_path="/srv/checkouts/billing-api",
        remote_url="https://git.example.com/acme/billing-api.git",
        default_branch="main",
        current_commit=COMMIT,
        branches=[BranchSpec(name="main", commit_hash=COMMIT, is_default=True)],
    )
    print(f"project {organization.slug}/{project.slug}, repository {repository.remote_url}")

    now = dt.datetime.now(dt.UTC)
    files = [
        FileIndex(
            repository_id=repository.id,
            relative_path=path,
            absolute_path=f"{repository.local_path}/{path}",
            language="python",
            size_bytes=len(content),
            line_count=content.count(b"\n"),
            file_hash=hashlib.sha256(content).hexdigest(),
            last_modified=now,
        )
        for path, content in SOURCES.items()
    ]
    by_path = {f.relative_path: f for f in files}

    job = await enqueue_analysis(acme(), project.id, branch="main", commit_hash=COMMIT)
    await start_analysis(acme(), job.id, owner="quickstart")
    issues = [
        AnalysisResult(
            job_id=job.id,
            file_id=by_path["billing/taxes.py"].id,
            rule_id=RuleId("missing-docstring"),
            severity="info",
            category="documentation",
            title="tax has no docstring",
            description="A public function should say what it does.",
            location=SourceLocation(file_path="billing/taxes.py", line_start=4, line_end=5),
        ),
        AnalysisResult(
            job_id=job.id,
            file_id=by_path["billing/taxes.py"].id,
            rule_id=RuleId("magic-number"),
            severity="low",
            category="maintainability",
            title="RATE is a bare number",
            description="A tax rate belongs in configuration.",
            location=SourceLocation(file_path="billing/taxes.py", line_start=1, line_end=1),
            confidence=0.8,
        ),
    ]
    done = await complete_analysis(
        acme(),
        job.id,
        snapshot=FileSnapshot(repository.id, files),
        analysed=[f.id for f in files],
        results=issues,
    )
    print(f"job {done.id} {done.status}: {len(files)} files, {len(issues)} issues")

    summary = await issues_summary(acme(), project.id, days=30)
    print(f"{summary.total} issues in the last 30 days")
    for row in summary.rows:
        print(f"  {row.severity:<6} {row.category:<16} {row.count}")


if __name__ == "__main__":
    asyncio.run(main())
