"""A deterministic code embedder built on feature hashing: no model, no download.

The text is split into code tokens (identifiers, numbers, operators and punctuation).
Each token yields features:

- an identifier that is a keyword of a common language stays whole (``if``, ``return``);
  any other is split at underscores, case changes and digits into lower-case sub-words
  (``parseHTTPResponse2`` -> ``parse``, ``http``, ``response``, ``2``), each a feature,
  plus the character trigrams of the whole lower-cased identifier;
- operators and punctuation are features of their own;
- every pair of consecutive tokens, with identifiers and numbers reduced to placeholders,
  is a feature: the shape of the code, which survives renaming and reformatting.

A feature's weight is that of its family times ``1 + ln(count)``; it is added, with a
sign, to one of ``dimension`` buckets, both chosen by a BLAKE2b hash of the feature (never
Python's salted ``hash()``), so a text gets the same vector in every process. Vectors are
L2-normalized, so the dot product of two is their cosine similarity. A text without any
token (empty or blank) gets one fixed unit vector, the same for all such texts.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import operator
import re
import struct
from array import array
from collections import Counter
from collections.abc import Sequence

from adapters.embedders._texts import check_texts
from application.processes import worker_pool

__all__ = ["MAX_DIMENSION", "MIN_DIMENSION", "PARALLEL_FROM", "HashingEmbedder"]

MIN_DIMENSION = 8
MAX_DIMENSION = 8192

_TOKEN_RE = re.compile(
    r"""
      (?P<ident>[^\W\d]\w*)
    | (?P<number>\d[\w.]*)
    | (?P<op>===|!==|\*\*=|//=|>>=|<<=|\.\.\.|->|=>|::|:=|==|!=|<=|>=|&&|\|\||\+\+|--
        |\+=|-=|\*=|/=|%=|&=|\|=|\^=|<<|>>|\*\*|//|[^\w\s])
    """,
    re.VERBOSE,
)
_SUBWORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\W\d_A-Za-z]+")

_KEYWORDS = frozenset(
    """
    abstract and as assert async await bool boolean break case catch chan char class const
    continue def default defer del do double elif else enum except export extends false
    final finally float fn for foreach from func function global go goto if impl implements
    import in instanceof int interface is lambda let long loop map match mod mut new nil
    none nonlocal not null or package pass private protected pub public raise range return
    self short static string struct super switch this throw throws trait true try type
    typeof use var void where while with yield
    """.split()  # noqa: SIM905 (a word list reads better than one word a line)
)

# Weights of the feature families.
_SUBWORD = 1.0
_KEYWORD = 0.5
_OPERATOR = 0.25
_TRIGRAM = 0.25
_BIGRAM = 1.0

_EMPTY_FEATURE = "empty:"
_FAMILY_WEIGHTS = {
    "w": _SUBWORD,
    "k": _KEYWORD,
    "o": _OPERATOR,
    "c": _TRIGRAM,
    "b": _BIGRAM,
    "e": 1.0,
}
"""The weight of each family, by the first letter of its features."""


class HashingEmbedder:
    """Implements :class:`ports.vectors.Embedder` by feature hashing (see the module
    docstring). ``model_name`` names the embedding space (it is stored beside indexed
    vectors, so changing the algorithm means changing the name). With ``workers`` above
    one, a batch of :data:`PARALLEL_FROM` texts or more is embedded in as many worker
    processes (the vectors are the same). Raises ValueError if ``dimension`` is outside
    [8, 8192], ``model_name`` is blank or ``workers`` is not a positive integer."""

    def __init__(
        self, dimension: int = 384, *, model_name: str = "hashing-v1", workers: int = 1
    ) -> None:
        if (
            not isinstance(dimension, int)
            or isinstance(dimension, bool)
            or not MIN_DIMENSION <= dimension <= MAX_DIMENSION
        ):
            raise ValueError(
                f"dimension must be an integer from {MIN_DIMENSION} to {MAX_DIMENSION}, "
                f"got {dimension!r}"
            )
        if not isinstance(model_name, str) or not model_name.strip():
            raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self._dimension = dimension
        self._model_name = model_name
        self._workers = workers
        self._slots: dict[str, tuple[int, float]] = {}

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model_name

    async def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """One unit vector per text, in order. ValidationError if ``texts`` is a string
        itself or holds anything but strings."""
        check_texts(texts)
        if self._workers > 1 and len(texts) >= PARALLEL_FROM:
            return await self._embed_in_processes(texts)
        return [self._vector(text) for text in texts]

    def __repr__(self) -> str:
        return (
            f"HashingEmbedder(dimension={self._dimension}, model_name={self._model_name!r},"
            f" workers={self._workers})"
        )

    async def _embed_in_processes(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """The vectors of ``texts``, in chunks of similar sizes, in worker processes (the
        event loop stays free meanwhile, and unpacks each chunk's vectors as the later
        chunks are embedded); a cancelled or failed call cancels the chunks not begun."""
        bounds = _chunk_bounds(texts, self._workers * _CHUNKS_PER_WORKER)
        loop = asyncio.get_running_loop()
        executor = worker_pool(min(self._workers, len(bounds)))
        vector = struct.Struct(f"{self._dimension}d")  # as array("d") packed them
        vectors: list[tuple[float, ...]] = []
        chunks: list[asyncio.Future[bytes]] = []
        try:
            for start, end in bounds:
                chunks.append(
                    loop.run_in_executor(
                        executor, _embed_chunk, self._dimension, list(texts[start:end])
                    )
                )
            for chunk in chunks:  # each unpacked while the later ones are embedded
                vectors += vector.iter_unpack(await chunk)
        finally:
            for chunk in chunks:
                if not chunk.done():
                    chunk.cancel()
                elif not chunk.cancelled():
                    chunk.exception()  # one failed: the first failure is the call's
            executor.shutdown(wait=False, cancel_futures=True)
        return vectors

    def _vector(self, text: str) -> tuple[float, ...]:
        counts = Counter(_features(text)) or Counter([_EMPTY_FEATURE])
        buckets = [0.0] * self._dimension
        slots = self._slots
        for feature, count in counts.items():
            slot = slots.get(feature)
            if slot is None:
                if len(slots) >= _CACHED:
                    slots.clear()
                slot = slots[feature] = _slot(feature, self._dimension)
            index, weight = slot
            buckets[index] += weight * (_LOG1[count] if count < _LOGGED else 1.0 + math.log(count))
        norm = math.sqrt(sum(map(operator.mul, buckets, buckets)))
        if norm == 0.0:  # every feature cancelled out: fall back to the fixed vector
            return self._vector("")
        return tuple(map(norm.__rtruediv__, buckets))


def _features(text: str) -> list[str]:
    """Every feature of ``text``, as often as it occurs, in the order first met (the
    tokens' own, then the pairs of token shapes)."""
    features: list[str] = []
    shapes: list[str] = []
    for ident, number, op in _TOKEN_RE.findall(text):
        if ident:
            found, shape = _IDENTIFIERS.get(ident) or _identifier(ident)
            features += found
            shapes.append(shape)
        elif number:
            shapes.append("<num>")
        else:
            features.append("o:" + op)
            shapes.append(op)
    features += ["b:" + a + " " + b for a, b in itertools.pairwise(shapes)]
    return features


def _identifier(token: str) -> tuple[tuple[str, ...], str]:
    """The features of an identifier and its shape (kept in a bounded cache)."""
    lower = token.lower()
    if lower in _KEYWORDS:
        entry: tuple[tuple[str, ...], str] = (("k:" + lower,), lower)
    else:
        words = ["w:" + word.lower() for word in _SUBWORD_RE.findall(token)]
        padded = f"^{lower}$"
        trigrams = ["c:" + padded[i : i + 3] for i in range(len(padded) - 2)]
        entry = ((*words, *trigrams), "<id>")
    if len(_IDENTIFIERS) >= _CACHED:
        _IDENTIFIERS.clear()
    _IDENTIFIERS[token] = entry
    return entry


def _slot(feature: str, dimension: int) -> tuple[int, float]:
    """The bucket of ``feature`` and its family's weight with the feature's sign."""
    code = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
    weight = _FAMILY_WEIGHTS[feature[0]]
    return (code >> 1) % dimension, weight if code & 1 else -weight


def _chunk_bounds(texts: Sequence[str], count: int) -> list[tuple[int, int]]:
    """``(start, end)`` of about ``count`` runs of ``texts`` of similar total length."""
    target = max(1, sum(map(len, texts)) // count)
    bounds: list[tuple[int, int]] = []
    start = size = 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if size >= target:
            bounds.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts):
        bounds.append((start, len(texts)))
    return bounds


_IN_WORKER: dict[int, HashingEmbedder] = {}
"""The embedder of each dimension a worker process has served (its caches kept)."""


def _embed_chunk(dimension: int, texts: list[str]) -> bytes:
    """In a worker process: the vectors of ``texts``, their components packed as doubles."""
    embedder = _IN_WORKER.get(dimension) or _IN_WORKER.setdefault(
        dimension, HashingEmbedder(dimension)
    )
    return array("d", itertools.chain.from_iterable(map(embedder._vector, texts))).tobytes()


PARALLEL_FROM = 512
"""The fewest texts an embedder with workers embeds in worker processes."""
_CHUNKS_PER_WORKER = 8
"""Chunks per worker: the more, the less a worker waits for the last one at the end."""
_CACHED = 1 << 17
"""The most identifiers, and features per embedder, whose analysis is kept for reuse."""
_IDENTIFIERS: dict[str, tuple[tuple[str, ...], str]] = {}
_LOGGED = 256
_LOG1 = [0.0] + [1.0 + math.log(n) for n in range(1, _LOGGED)]
"""``1 + ln(count)`` for the small counts."""
