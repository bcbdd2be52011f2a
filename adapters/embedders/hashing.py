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

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from adapters.embedders._texts import check_texts

__all__ = ["MAX_DIMENSION", "MIN_DIMENSION", "HashingEmbedder"]

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


class HashingEmbedder:
    """Implements :class:`ports.vectors.Embedder` by feature hashing (see the module
    docstring). ``model_name`` names the embedding space (it is stored beside indexed
    vectors, so changing the algorithm means changing the name). Raises ValueError if
    ``dimension`` is outside [8, 8192] or ``model_name`` is blank."""

    def __init__(self, dimension: int = 384, *, model_name: str = "hashing-v1") -> None:
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
        self._dimension = dimension
        self._model_name = model_name

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
        return [self._vector(text) for text in texts]

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimension={self._dimension}, model_name={self._model_name!r})"

    def _vector(self, text: str) -> tuple[float, ...]:
        weights = _features(text) or {_EMPTY_FEATURE: 1.0}
        buckets = [0.0] * self._dimension
        for feature, weight in weights.items():
            code = _hash64(feature)
            sign = 1.0 if code & 1 else -1.0
            buckets[(code >> 1) % self._dimension] += sign * weight
        norm = math.sqrt(sum(x * x for x in buckets))
        if norm == 0.0:  # every feature cancelled out: fall back to the fixed vector
            return self._vector("")
        return tuple(x / norm for x in buckets)


def _features(text: str) -> dict[str, float]:
    """Weighted features of ``text``: family weight times ``1 + ln(count)``."""
    counts: Counter[tuple[str, float]] = Counter()
    shapes: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "ident" and token.lower() in _KEYWORDS:
            keyword = token.lower()
            counts["k:" + keyword, _KEYWORD] += 1
            shapes.append(keyword)
        elif kind == "ident":
            counts.update(("w:" + word, _SUBWORD) for word in _subwords(token))
            counts.update(("c:" + tri, _TRIGRAM) for tri in _trigrams(token.lower()))
            shapes.append("<id>")
        elif kind == "number":
            shapes.append("<num>")
        else:
            counts["o:" + token, _OPERATOR] += 1
            shapes.append(token)
    counts.update(("b:" + a + " " + b, _BIGRAM) for a, b in itertools.pairwise(shapes))
    return {
        feature: family_weight * (1.0 + math.log(count))
        for (feature, family_weight), count in counts.items()
    }


def _subwords(identifier: str) -> Iterable[str]:
    return (word.lower() for word in _SUBWORD_RE.findall(identifier))


def _trigrams(word: str) -> Iterable[str]:
    padded = f"^{word}$"
    return (padded[i : i + 3] for i in range(len(padded) - 2))


@lru_cache(maxsize=1 << 16)
def _hash64(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
