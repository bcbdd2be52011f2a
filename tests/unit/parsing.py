"""Files as the main job hands them to its parse stage, for the tests of that stage."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

from application.indexing.reading import ToAnalyse, new_file_id
from domain.enums import FileChange
from domain.ids import RepositoryId
from domain.projects import Repository
from ports.source import TrackedFile

__all__ = ["added_files"]


def added_files(repository: Repository, files: Mapping[str, bytes]) -> list[ToAnalyse]:
    """``files`` (path -> content) as new files of ``repository``, in order."""
    return [
        ToAnalyse(
            tracked=TrackedFile(
                relative_path=path,
                size_bytes=len(content),
                last_modified=dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
            ),
            content=content,
            digest=hashlib.sha256(content).hexdigest(),
            id=new_file_id(RepositoryId(repository.id), path, ()),
            change=FileChange.ADDED,
        )
        for path, content in files.items()
    ]
