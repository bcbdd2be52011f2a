"""What the Qdrant stores share about payloads: the key reserved for the length of COSINE
vectors. Imports no Qdrant library."""

from __future__ import annotations

__all__ = ["NORM_KEY"]

NORM_KEY = "_codeant_norm"
"""Payload key keeping the length of a COSINE point's vector, which Qdrant stores
normalized, so that retrieve and scroll give back the vector as it was upserted. Payloads
may not use it."""
