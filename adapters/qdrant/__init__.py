"""Qdrant adapters: the vector store on a Qdrant server or in qdrant-client's local mode."""

from adapters.qdrant.store import INDEXED_FIELDS, NORM_KEY, QdrantVectorStore

__all__ = ["INDEXED_FIELDS", "NORM_KEY", "QdrantVectorStore"]
