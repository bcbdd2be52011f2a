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

A batch of texts (a worker process's, or one of :data:`BATCH_FROM` texts or more) is embedded
at once, with numpy: the tokens and features met are numbered, the features of the whole
batch counted in arrays, and each text's terms summed and normalized in exactly the order
and the arithmetic of a text embedded alone, so a vector is the same to the last bit
whichever way it was computed. Components are computed as 64-bit floats (those define
"hashing-v1") and given as a :class:`~domain.vectors.Vector` of their 32-bit roundings,
what every store keeps.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import math
import operator
import re
import threading
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters.embedders._texts import check_texts
from application.processes import worker_pool
from domain.vectors import Vector

if TYPE_CHECKING:  # numpy itself loads with the first batch, not with this module
    import numpy as np
    import numpy.typing as npt

__all__ = ["BATCH_FROM", "MAX_DIMENSION", "MIN_DIMENSION", "PARALLEL_FROM", "HashingEmbedder"]

MIN_DIMENSION = 8
MAX_DIMENSION = 8192

_IDENT = r"[^\W\d]\w*"
_NUMBER = r"\d[\w.]*"
_OP = r"""===|!==|\*\*=|//=|>>=|<<=|\.\.\.|->|=>|::|:=|==|!=|<=|>=|&&|\|\||\+\+|--
    |\+=|-=|\*=|/=|%=|&=|\|=|\^=|<<|>>|\*\*|//|[^\w\s]"""
_TOKEN_RE = re.compile(f"(?P<ident>{_IDENT}) | (?P<number>{_NUMBER}) | (?P<op>{_OP})", re.VERBOSE)
_SPACED_TOKEN_RE = re.compile(rf"\s* ({_IDENT} | {_NUMBER} | {_OP})", re.VERBOSE)
"""A token of ``_TOKEN_RE`` and the white space before it. Every character but white space
begins a token, so in a text without trailing white space ``findall`` gives the tokens of
``_TOKEN_RE``, as strings, and skips the spaces between them at once."""
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

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One unit vector per text, in order. ValidationError if ``texts`` is a string
        itself or holds anything but strings."""
        check_texts(texts)
        if self._workers > 1 and len(texts) >= PARALLEL_FROM:
            return await self._embed_in_processes(texts)
        if len(texts) >= BATCH_FROM:
            return _vectors(_packed(_embed_batch(self._dimension, texts)), self._dimension)
        return [Vector(self._vector(text)) for text in texts]

    def __repr__(self) -> str:
        return (
            f"HashingEmbedder(dimension={self._dimension}, model_name={self._model_name!r},"
            f" workers={self._workers})"
        )

    async def _embed_in_processes(self, texts: Sequence[str]) -> list[Vector]:
        """The vectors of ``texts``, in chunks of similar sizes, in worker processes (the
        event loop stays free meanwhile, and unpacks each chunk's vectors as the later
        chunks are embedded); a cancelled or failed call cancels the chunks not begun."""
        bounds = _chunk_bounds(texts, self._workers * _CHUNKS_PER_WORKER)
        loop = asyncio.get_running_loop()
        executor = worker_pool(min(self._workers, len(bounds)))
        vectors: list[Vector] = []
        chunks: list[asyncio.Future[bytes]] = []
        try:
            for start, end in bounds:
                chunks.append(
                    loop.run_in_executor(
                        executor, _embed_chunk, self._dimension, list(texts[start:end])
                    )
                )
            for chunk in chunks:  # each unpacked while the later ones are embedded
                vectors += _vectors(await chunk, self._dimension)
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
        # a sequential sum, as a batch's is (sum() of floats compensates from Python 3.12 on)
        norm = math.sqrt(functools.reduce(operator.add, map(operator.mul, buckets, buckets)))
        if norm == 0.0:  # every feature cancelled out: fall back to the fixed vector
            return self._vector("")
        return tuple(map(norm.__rtruediv__, buckets))


def _features(text: str) -> list[str]:
    """Every feature of ``text``, as often as it occurs, in the order first met (the
    tokens' own, then the pairs of token shapes)."""
    features: list[str] = []
    shapes: list[str] = []
    for token in _SPACED_TOKEN_RE.findall(text.rstrip()):
        found, shape = _TOKENS.get(token) or _token(token)
        features += found
        shapes.append(shape)
    features += ["b:" + a + " " + b for a, b in itertools.pairwise(shapes)]
    return features


def _token(token: str) -> tuple[tuple[str, ...], str]:
    """The features of a token and its shape (kept in a bounded cache)."""
    entry = _token_features(token)
    if len(_TOKENS) >= _CACHED:
        _TOKENS.clear()
    _TOKENS[token] = entry
    return entry


def _token_features(token: str) -> tuple[tuple[str, ...], str]:
    """The features of a token of ``_TOKEN_RE`` and its shape."""
    match = _TOKEN_RE.match(token)
    assert match is not None  # a token is one on its own too
    ident, number, op = match.groups()
    if number:
        return (), "<num>"
    if op:
        return ("o:" + op,), op
    lower = ident.lower()
    if lower in _KEYWORDS:
        return ("k:" + lower,), lower
    words = ["w:" + word.lower() for word in _SUBWORD_RE.findall(ident)]
    padded = f"^{lower}$"
    trigrams = ["c:" + padded[i : i + 3] for i in range(len(padded) - 2)]
    return (*words, *trigrams), "<id>"


def _slot(feature: str, dimension: int) -> tuple[int, float]:
    """The bucket of ``feature`` and its family's weight with the feature's sign."""
    code = _code(feature)
    weight = _FAMILY_WEIGHTS[feature[0]]
    return (code >> 1) % dimension, weight if code & 1 else -weight


def _code(feature: str) -> int:
    """The hash of ``feature`` that :func:`_slot` takes its bucket and sign from."""
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")


def _chunk_bounds(texts: Sequence[str], count: int) -> list[tuple[int, int]]:
    """``(start, end)`` of about ``count`` runs of ``texts`` of similar total length."""
    return _runs(texts, max(1, sum(map(len, texts)) // count))


def _runs(texts: Sequence[str], size: int, most: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of ``texts`` that each reach a total length of ``size``
    (a text counting one more than its length) or hold ``most`` texts, but the last."""
    bounds: list[tuple[int, int]] = []
    start = total = 0
    for i, text in enumerate(texts):
        total += len(text) + 1
        if total >= size or i + 1 - start == most:
            bounds.append((start, i + 1))
            start, total = i + 1, 0
    if start < len(texts):
        bounds.append((start, len(texts)))
    return bounds


def _embed_chunk(dimension: int, texts: list[str]) -> bytes:
    """In a worker process: the vectors of ``texts``, packed (see :func:`_packed`)."""
    return _packed(_embed_batch(dimension, texts))


def _packed(vectors: npt.NDArray[np.float64]) -> bytes:
    """Vectors, a row each, as their components' 32-bit floats one after the other."""
    import numpy as np

    return vectors.astype(np.float32).tobytes()


def _vectors(data: bytes, dimension: int) -> list[Vector]:
    """The vectors :func:`_packed` packed into ``data``."""
    view, width = memoryview(data), 4 * dimension
    return [Vector.from_bytes(view[start : start + width]) for start in range(0, len(data), width)]


def _embed_batch(dimension: int, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """The vectors of ``texts``, a row each: those :meth:`HashingEmbedder._vector` gives, to
    the last bit, computed a run of about :data:`_BATCH_SIZE` characters (and at most
    :data:`_BATCH_CELLS` components) at a time."""
    import numpy as np

    vectors = np.empty((len(texts), dimension))
    with _VOCABULARY_LOCK:
        for start, end in _runs(texts, _BATCH_SIZE, max(1, _BATCH_CELLS // dimension)):
            vectors[start:end] = _vocabulary().vectors(dimension, texts[start:end])
    return vectors


def _vocabulary() -> _Vocabulary:
    """The vocabulary of this process's batches: a new one once it holds :data:`_CACHED`
    tokens or features."""
    vocabulary = _VOCABULARY[0]
    if len(vocabulary) >= _CACHED or len(vocabulary.features) >= _CACHED:
        vocabulary = _VOCABULARY[0] = _Vocabulary()
    return vocabulary


class _Vocabulary(dict[str, int]):
    """The tokens that batches of texts have met, numbered in the order met (a token not
    met yet is analysed when looked up), with their features, and the features' shapes'
    pairs numbered likewise; what a batch needs of each is kept in arrays."""

    def __init__(self) -> None:
        super().__init__()
        self.token_starts = array("q")  # where a token's features begin in token_features
        self.token_counts = array("q")  # how many features a token has (with repeats)
        self.token_features = array("q")
        self.token_shapes = array("q")
        self.shapes: dict[str, int] = {}
        self.shape_names: list[str] = []  # by number
        self.pairs: dict[tuple[int, int], int] = {}  # the feature of a pair of shapes
        self.features: dict[str, int] = {}
        self.codes = array("Q")  # a feature's hash (see _code)
        self.weights = array("d")  # a feature's family weight

    def __missing__(self, token: str) -> int:
        found, shape = _token_features(token)
        features = list(map(self._feature, found))
        shape_number = self._shape(shape)
        number = self[token] = len(self.token_starts)
        self.token_starts.append(len(self.token_features))
        self.token_counts.append(len(features))
        self.token_features.extend(features)
        self.token_shapes.append(shape_number)
        return number

    def _shape(self, shape: str) -> int:
        """The number of a token's shape."""
        number = self.shapes.get(shape)
        if number is None:
            number = self.shapes[shape] = len(self.shape_names)
            self.shape_names.append(shape)
        return number

    def _feature(self, feature: str) -> int:
        """The number of ``feature``."""
        number = self.features.get(feature)
        if number is None:
            code = _code(feature)  # first: a feature that cannot be hashed is not numbered
            number = self.features[feature] = len(self.codes)
            self.codes.append(code)
            self.weights.append(_FAMILY_WEIGHTS[feature[0]])
        return number

    def _pair(self, first: int, second: int) -> int:
        """The number of the feature of a pair of consecutive shapes."""
        number = self.pairs.get((first, second))
        if number is None:
            feature = "b:" + self.shape_names[first] + " " + self.shape_names[second]
            number = self.pairs[first, second] = self._feature(feature)
        return number

    def vectors(self, dimension: int, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """The vectors of ``texts``, a row each. The features of all the texts, and
        then the pairs of shapes, are counted by text in arrays, each in the order
        first met in its text: the order in which :meth:`HashingEmbedder._vector` adds
        a text's terms to its buckets, one after the other as here."""
        import numpy as np

        number = self.__getitem__
        findall = _SPACED_TOKEN_RE.findall
        numbers: list[int] = []
        ends: list[int] = []
        for text in texts:
            numbers += map(number, findall(text.rstrip()))
            ends.append(len(numbers))
        tokens = np.array(numbers, dtype=np.int64)
        text_of = np.repeat(np.arange(len(texts)), np.diff(ends, prepend=0))  # by token

        # every feature of every token, in order, and the text of each
        counts = _taken(self.token_counts, tokens)
        ends_of = np.cumsum(counts)
        offsets = np.repeat(_taken(self.token_starts, tokens) - (ends_of - counts), counts)
        features = _taken(self.token_features, offsets + np.arange(len(offsets)))
        found = _first_counts(np.repeat(text_of, counts), features, len(self.codes))

        # every pair of consecutive tokens of a text, by their shapes' numbers
        shapes = _taken(self.token_shapes, tokens)
        firsts = np.flatnonzero(text_of[1:] == text_of[:-1])
        kinds = len(self.shape_names)
        pairs = shapes[firsts] * kinds + shapes[firsts + 1]
        paired = _first_counts(text_of[firsts], pairs, kinds * kinds)
        met, inverse = np.unique(paired[1], return_inverse=True)
        before, after = np.divmod(met, kinds)
        shape_pairs = list(zip(before.tolist(), after.tolist(), strict=True))
        pair_features = list(map(self.pairs.get, shape_pairs))
        if None in pair_features:
            pair_features = [self._pair(*pair) for pair in shape_pairs]

        # each text's terms, its features' then its pairs', added to its buckets in that
        # order (bincount adds its weights one after the other, as given)
        texts_at = np.concatenate((found[0], paired[0]))
        features = np.concatenate((found[1], np.array(pair_features, dtype=np.int64)[inverse]))
        codes = _taken(self.codes, features)
        weights = _taken(self.weights, features)
        signed = np.where(codes & np.uint64(1), weights, -weights)
        buckets = ((codes >> np.uint64(1)) % np.uint64(dimension)).astype(np.int64)
        terms = signed * _scales(np.concatenate((found[2], paired[2])))
        sums = np.bincount(
            texts_at * dimension + buckets, terms, minlength=len(texts) * dimension
        ).reshape(len(texts), dimension)

        # the norm: the squares summed one after the other, as _vector sums them
        norms = np.sqrt(np.cumsum(sums * sums, axis=1)[:, -1])
        cancelled = norms == 0.0  # no feature, or every feature cancelled out
        norms[cancelled] = 1.0
        vectors = sums / norms[:, None]
        if cancelled.any():
            vectors[cancelled] = HashingEmbedder(dimension)._vector("")
        return vectors


def _first_counts(
    texts_of: npt.NDArray[np.int64], keys: npt.NDArray[np.int64], kinds: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct ``(text, key)`` pairs of ``texts_of`` and ``keys`` (keys below
    ``kinds``) in the order first met: their texts, keys and how many times each
    occurs."""
    import numpy as np

    combined = texts_of * kinds + keys
    order = np.argsort(combined, kind="stable")  # the equal ones in the order met
    starts = np.flatnonzero(np.diff(combined[order], prepend=-1))
    counts = np.zeros(len(combined), dtype=np.int64)
    counts[order[starts]] = np.diff(starts, append=len(combined))  # at each first
    firsts = np.flatnonzero(counts)
    return texts_of[firsts], keys[firsts], counts[firsts]


def _taken(table: array[Any], indexes: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """The items of ``table`` at ``indexes`` (read in place: numpy's view of the table is
    gone before the table grows again)."""
    import numpy as np

    return np.frombuffer(table, dtype=table.typecode)[indexes]


def _scales(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``1 + ln(count)`` of each of ``counts``, as :meth:`HashingEmbedder._vector` has it."""
    import numpy as np

    scales = np.array(_LOG1)[np.minimum(counts, _LOGGED - 1)]
    large = np.flatnonzero(counts >= _LOGGED)
    if len(large):
        scales[large] = [1.0 + math.log(count) for count in counts[large].tolist()]
    return scales


PARALLEL_FROM = 512
"""The fewest texts an embedder with workers embeds in worker processes."""
BATCH_FROM = 4
"""The fewest texts embedded as a batch (see :func:`_embed_batch`) in the calling process:
fewer are embedded one by one, sparing numpy's fixed costs (and, in a process with no
vector yet, its import)."""
_CHUNKS_PER_WORKER = 8
"""Chunks per worker: the more, the less a worker waits for the last one at the end."""
_CACHED = 1 << 17
"""The most tokens, and features per embedder or of the batches, whose analysis is kept for
reuse."""
_TOKENS: dict[str, tuple[tuple[str, ...], str]] = {}
_LOGGED = 256
_LOG1 = [0.0] + [1.0 + math.log(n) for n in range(1, _LOGGED)]
"""``1 + ln(count)`` for the small counts."""
_BATCH_SIZE = 1 << 18
"""The characters of a batch's run of texts embedded at once: the arrays stay small."""
_BATCH_CELLS = 1 << 20
"""The most components of the vectors of a run: many short texts make no large arrays."""
_VOCABULARY = [_Vocabulary()]
"""The vocabulary of this process's batches (see :func:`_vocabulary`)."""
_VOCABULARY_LOCK = threading.Lock()
"""Held by a batch while it numbers and reads (threads may embed at once)."""
