"""The manifest written beside each backup, and the per-table figures it records."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import attrs
import psycopg
from psycopg import sql

from adapters.serialization import converter

__all__ = ["MANIFEST_SUFFIX", "Manifest", "table_figures", "write_private"]

MANIFEST_SUFFIX = ".manifest.json"

_TABLES = (
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
)
# rows ordered by their text form: the same rows give the same checksum after a restore
_FIGURES = (
    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
)


@attrs.frozen(kw_only=True)
class Manifest:
    """What a backup holds: its file, when it was made, its size and sha256 (of the file as
    stored, encrypted or not), the server's version, the schema's migration version, and
    for every table of the schema its row count and a checksum of its content."""

    file: str
    created_at: dt.datetime
    size: int
    sha256: str
    server_version: int
    schema_version: int
    encrypted: bool
    row_counts: dict[str, int]
    checksums: dict[str, str]

    @property
    def name(self) -> str:
        """The backup's name: its file name without the extension(s)."""
        return self.file.split(".", 1)[0]

    def to_json(self) -> str:
        return json.dumps(converter.unstructure(self), indent=2, sort_keys=True)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return converter.structure(data, cls)


def table_figures(conn: psycopg.Connection[Any]) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts and content checksums of every table of the ``public`` schema."""
    counts: dict[str, int] = {}
    sums: dict[str, str] = {}
    for (table,) in conn.execute(_TABLES).fetchall():
        row = conn.execute(sql.SQL(_FIGURES).format(sql.Identifier(table))).fetchone()
        assert row is not None
        counts[table], sums[table] = int(row[0]), str(row[1])
    return counts, sums


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
