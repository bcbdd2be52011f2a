"""Backups of the PostgreSQL database: logical dumps with manifests (create, list, verify,
restore, prune) and point-in-time recovery from a base backup and a WAL archive."""

from adapters.backup.dumps import BackupStore, VerifyReport
from adapters.backup.manifest import Manifest
from adapters.backup.pitr import (
    ArchivedCluster,
    base_backup,
    enable_archiving,
    restore_to_time,
    switch_wal,
)
from adapters.backup.tools import BackupError

__all__ = [
    "ArchivedCluster",
    "BackupError",
    "BackupStore",
    "Manifest",
    "VerifyReport",
    "base_backup",
    "enable_archiving",
    "restore_to_time",
    "switch_wal",
]
