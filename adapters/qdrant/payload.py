"""What the Qdrant stores share about payloads: the keys that get an index and the key
reserved for the length of COSINE vectors. Imports no Qdrant library."""

from __future__ import annotations

__all__ = ["INDEXED_FIELDS", "NORM_KEY"]

INDEXED_FIELDS = (
    "organization_id",
    "project_id",
    "repository_id",
    "file_id",
    "language",
    "kind",
    "symbol",
)
"""Payload keys a new collection gets a keyword index on, for filters."""

NORM_KEY = "_codeant_norm"
"""Payload key keeping the length of a COSINE point's vector, which Qdrant stores
normalized, so that retrieve and scroll give back the vector as it was upserted. Payloads
may not use it."""
