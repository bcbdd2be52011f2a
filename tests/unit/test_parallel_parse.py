"""The parse stage in worker processes gives what it gives in one process."""

from __future__ import annotations

import inspect
import json
import json.scanner
import os

from adapters.source import FileAnalyzer
from application.indexing.reading import Parsed, ToAnalyse, parse_files
from domain.ids import ProjectId, new_id
from domain.projects import Repository
from tests.unit.parsing import added_files

REPOSITORY = Repository(
    project_id=ProjectId(new_id()),
    local_path="/srv/lib",
    remote_url="https://git.example.com/lib.git",
    default_branch="main",
)


def files() -> list[ToAnalyse]:
    """Real modules of several sizes, a binary file and an empty one."""
    contents = {
        f"lib/{module.__name__}.py": inspect.getsource(module).encode()
        for module in (json, json.decoder, json.encoder, json.scanner, os, inspect)
    }
    contents |= {"assets/blob.bin": bytes(range(256)) * 4, "lib/empty.py": b""}
    return added_files(REPOSITORY, contents)


async def test_files_analysed_in_workers_are_those_analysed_in_one_process() -> None:
    """Two worker processes give every file the same index entry and text, in order, and
    report their progress up to the last file."""
    to_analyse = files()
    seen: list[tuple[int, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append((done, total))

    alone = await parse_files(FileAnalyzer(), "/srv/lib", REPOSITORY, to_analyse, progress)
    seen.clear()
    shared = await parse_files(
        FileAnalyzer(), "/srv/lib", REPOSITORY, to_analyse, progress, workers=2
    )

    def entries(parsed: list[Parsed]) -> list[tuple[object, ...]]:
        return [
            (p.file.id, p.file.relative_path, p.file.language, p.file.line_count,
             p.file.content_hash, p.file.analysis_status, p.file.metadata, p.text)
            for p in parsed
        ]  # fmt: skip

    assert entries(shared) == entries(alone)
    assert any(p.file.metadata.functions for p in alone)
    assert seen[-1] == (len(to_analyse), len(to_analyse))
