"""The peer: the same file rows through SQLAlchemy 2's ORM (the stack of the sibling
seeds), on a table of its own (``peer_orm.file_index``, a copy of ours with every index).
Imported only when SQLAlchemy is installed."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from adapters.serialization import unstructure
from domain.files import FileIndex

__all__ = ["OrmPeer"]

CREATE_PEER_TABLE = (
    "CREATE SCHEMA IF NOT EXISTS peer_orm;"
    " CREATE TABLE peer_orm.file_index (LIKE public.file_index INCLUDING ALL)"
)


class _Base(DeclarativeBase):
    pass


class PeerFile(_Base):
    __tablename__ = "file_index"
    __table_args__ = {"schema": "peer_orm"}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    repository_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    relative_path: Mapped[str] = mapped_column(Text)
    absolute_path: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(Integer)
    file_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    last_modified: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    analysis_status: Mapped[str] = mapped_column(String(20))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    organization_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


def _peer_file(file: FileIndex, repository_id: uuid.UUID, organization_id: uuid.UUID) -> PeerFile:
    return PeerFile(
        id=uuid.uuid4(),
        repository_id=repository_id,
        organization_id=organization_id,
        relative_path=file.relative_path,
        absolute_path=file.absolute_path,
        language=None if file.language is None else file.language.value,
        size_bytes=file.size_bytes,
        line_count=file.line_count,
        file_hash=file.file_hash,
        content_hash=file.content_hash,
        last_modified=file.last_modified,
        analysis_status=file.analysis_status.value,
        metadata_=unstructure(file.metadata),
        created_at=file.created_at,
        updated_at=file.updated_at,
    )


class OrmPeer:
    """Synchronous SQLAlchemy 2 ORM sessions on ``url`` (call from a worker thread)."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(url), pool_size=5
        )
        self._url = url
        self._organizations: dict[uuid.UUID, uuid.UUID] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(CREATE_PEER_TABLE)

    def _organization(self, repository_id: uuid.UUID) -> uuid.UUID:
        """The organization of the repository (the peer writes the same row as ours)."""
        if repository_id not in self._organizations:
            with psycopg.connect(self._url) as conn:
                row = conn.execute(
                    "SELECT organization_id FROM repositories WHERE id = %s", (repository_id,)
                ).fetchone()
            if row is None:
                raise RuntimeError(f"no repository {repository_id}")
            self._organizations[repository_id] = row[0]
        return self._organizations[repository_id]

    def insert_latencies(self, files: Sequence[FileIndex], repository_id: uuid.UUID) -> list[float]:
        """Milliseconds of each insert of one row in its own session and commit."""
        out = []
        organization = self._organization(repository_id)
        for file in files:
            start = time.perf_counter()
            with Session(self._engine) as session:
                session.add(_peer_file(file, repository_id, organization))
                session.commit()
            out.append((time.perf_counter() - start) * 1000.0)
        return out

    def bulk_ingest(self, files: Sequence[FileIndex], repository_id: uuid.UUID) -> float:
        """Seconds to add_all the rows and commit them in one session."""
        organization = self._organization(repository_id)
        start = time.perf_counter()
        with Session(self._engine) as session:
            session.add_all([_peer_file(f, repository_id, organization) for f in files])
            session.commit()
        return time.perf_counter() - start

    def path_latencies(self, repository_id: uuid.UUID, paths: Sequence[str]) -> list[float]:
        """Milliseconds of each lookup of one row by (repository, path), a session each."""
        out = []
        for path in paths:
            start = time.perf_counter()
            with Session(self._engine) as session:
                found = session.scalars(
                    select(PeerFile).where(
                        PeerFile.repository_id == repository_id, PeerFile.relative_path == path
                    )
                ).one_or_none()
            out.append((time.perf_counter() - start) * 1000.0)
            if found is None:
                raise RuntimeError(f"peer lost the row of {path!r}")
        return out

    def close(self) -> None:
        self._engine.dispose()
