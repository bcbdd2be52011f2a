"""Embedders: implementations of :class:`ports.vectors.Embedder`."""

from adapters.embedders.hashing import HashingEmbedder

__all__ = ["HashingEmbedder"]
