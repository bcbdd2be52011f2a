"""Qdrant adapters: the vector store on a Qdrant server (``QdrantVectorStore``, through
qdrant-client) or on Qdrant Edge, the engine inside the process (``QdrantEdgeVectorStore``,
for a directory). Each is imported on first use, so using one never loads the other's
library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.qdrant.payload import NORM_KEY

if TYPE_CHECKING:
    from adapters.qdrant.edge import QdrantEdgeVectorStore
    from adapters.qdrant.store import QdrantVectorStore

__all__ = ["NORM_KEY", "QdrantEdgeVectorStore", "QdrantVectorStore"]


def __getattr__(name: str) -> Any:
    if name == "QdrantVectorStore":
        from adapters.qdrant.store import QdrantVectorStore

        return QdrantVectorStore
    if name == "QdrantEdgeVectorStore":
        from adapters.qdrant.edge import QdrantEdgeVectorStore

        return QdrantEdgeVectorStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
