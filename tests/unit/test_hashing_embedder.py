"""HashingEmbedder: deterministic unit vectors of a fixed dimension that rank near-duplicate
code above unrelated code."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import os
import struct
import subprocess
import sys
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.embedders import hashing
from adapters.embedders.hashing import BATCH_FROM, PARALLEL_FROM, HashingEmbedder
from ports.errors import ValidationError
from ports.vectors import Embedder

ROOT = Path(__file__).resolve().parents[2]

AVERAGE = """
def compute_average(values, skip_none=True):
    total = 0
    count = 0
    for value in values:
        if value is None and skip_none:
            continue
        total += value
        count += 1
    return total / count if count else 0.0
"""

# The same function with its variables renamed and its layout changed.
AVERAGE_RENAMED = """
def compute_average(items, ignore_missing=True):
    acc = 0
    n = 0
    for item in items:
        if item is None and ignore_missing: continue
        acc += item
        n += 1
    return acc / n if n else 0.0
"""

UNRELATED = [
    """
class HttpClient:
    def __init__(self, base_url, timeout=10):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout

    def get_json(self, path, **params):
        url = f"{self.base_url}/{path}"
        response = self.session.get(url, params=params, timeout=self.timeout)
        response.raise_for_status()
        return response.json()
""",
    """
def read_config(path):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if "name" not in data:
        raise ValueError("config needs a name")
    return Config(**data)
""",
    """
def send_welcome(user, smtp):
    message = EmailMessage()
    message["To"] = user.email
    message["Subject"] = "Welcome!"
    smtp.send_message(message)
""",
]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def test_same_text_gives_the_same_vector_in_another_process() -> None:
    """A vector does not depend on the process: another interpreter, with another hash
    seed, computes exactly the same components."""
    script = (
        "import asyncio, json, sys\n"
        "from adapters.embedders.hashing import HashingEmbedder\n"
        "[vector] = asyncio.run(HashingEmbedder(64).embed([sys.argv[1]]))\n"
        "print(json.dumps(list(vector)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", script, AVERAGE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    [here] = asyncio.run(HashingEmbedder(64).embed([AVERAGE]))

    assert tuple(json.loads(completed.stdout)) == here


# The vectors "hashing-v1" gives these texts, recorded: every vector already stored under
# that model name must stay comparable with the vectors new code gets.
RECORDED_TEXTS = [
    "def parseHTTPResponse2(self, raw):\n    if not raw:\n        return None\n"
    '    return raw.split(b"\\r\\n")\n',
    "x = x + 1",
    "",
    "for (i = 0; i < n; i++) { total += a[i] * 2; }",
    "a " * 300,  # a feature counted more than a few hundred times
]
RECORDED = {
    8: "385a53ba5302ab6343e1ea8d64c44d3434ab457826bf9648cd6e7c26d20f1636",
    384: "e6ce38638cba20cddef69b5ace273cc4f7ceaeec2136b8d9d21351cad4c93b01",
}


@pytest.mark.parametrize("dimension", sorted(RECORDED))
async def test_vectors_are_the_ones_the_model_name_stands_for(dimension: int) -> None:
    """The components as computed, to the last bit, are those recorded for "hashing-v1";
    the vectors given are their 32-bit floats."""
    computed = [HashingEmbedder(dimension)._vector(text) for text in RECORDED_TEXTS]

    packed = b"".join(struct.pack(f"<{dimension}d", *vector) for vector in computed)
    assert hashlib.sha256(packed).hexdigest() == RECORDED[dimension]
    vectors = await HashingEmbedder(dimension).embed(RECORDED_TEXTS)
    assert [v.to_bytes() for v in vectors] == [array("f", c).tobytes() for c in computed]


async def test_embedding_twice_gives_identical_vectors() -> None:
    """The same text embedded again, alone or in a batch, gives the same vector."""
    embedder = HashingEmbedder()

    [alone] = await embedder.embed([AVERAGE])
    batch = await embedder.embed([UNRELATED[0], AVERAGE, AVERAGE])

    assert batch[1] == alone
    assert batch[2] == alone


async def test_a_large_batch_in_worker_processes_gives_the_same_vectors() -> None:
    """With workers, a batch large enough is embedded in worker processes: the same
    vectors, in the same order, as in the calling process."""
    texts = [
        f"{AVERAGE}\n# variant {i}\nreturn_{i % 37} = total_{i} * {i}" for i in range(PARALLEL_FROM)
    ]

    here = await HashingEmbedder(64).embed(texts)
    there = await HashingEmbedder(64, workers=2).embed(texts)

    assert there == here


async def test_a_call_cancelled_while_workers_embed_leaves_no_chunk_behind() -> None:
    """Cancelled while its chunks are embedded (some unpacked already, the rest not
    begun or running), the call raises CancelledError, no chunk is left with an error
    nobody reads, and the next call gives the vectors as before."""
    texts = [f"{AVERAGE * 40}\nvalue_{i} = other_{i % 11} + {i}" for i in range(4000)]
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    embedder = HashingEmbedder(64, workers=2)

    call = asyncio.ensure_future(embedder.embed(texts))
    await asyncio.sleep(0.2)  # seconds of work in all: far from done
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    again = await embedder.embed(texts[:PARALLEL_FROM])

    assert again == await HashingEmbedder(64).embed(texts[:PARALLEL_FROM])
    assert unhandled == []


# Pieces of code-like text: identifiers (keywords, cases, non-ASCII letters and digits),
# numbers, every operator and other symbols, and white space of several kinds.
PIECES = [
    "if", "Return", "self", "None", "parseHTTPResponse2", "snake_case_name", "_", "x", "ÆØÅ",
    "naïve", "变量", "Σσς", "x²", "١٢٣", "\U0001d518\U0001d52b", "ǅ", "0", "42", "0x1F", "1.5e3",
    "2..3", "===", "!==", "**=", "//=", ">>=", "<<=", "...", "->", "=>", "::", ":=", "==", "!=",
    "<=", ">=", "&&", "||", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<",
    ">>", "**", "//", "+", "-", "*", "/", "=", "<", ">", "!", "&", "|", "^", ".", ":", "(", ")",
    "[", "]", "{", "}", ",", ";", "'", '"', "#", "@", "\\", "😀", "\x00",
    " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "",
]  # fmt: skip
CODE_LIKE = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
TEXTS = st.one_of(CODE_LIKE, ANY_TEXT, CODE_LIKE.map(lambda text: text * 40))

# Texts the batches must get right: no token, no feature, operators alone, non-ASCII
# identifiers, a feature counted more than 256 times (its scale computed, not looked up),
# and one whose features cancel out in 8 (and 16) buckets.
EDGE_TEXTS = [
    "", "   ", "\n\t\u3000", "1", "1 2 3", "+++", "=== -> ...", "naïve = 'ü'", "变量名 = 值",
    "a " * 300, "( " * 256, "x" + " +" * 1000, "& 1 **",
]  # fmt: skip


def one_by_one(dimension: int, texts: list[str], typecode: str = "d") -> bytes:
    """The vectors of ``texts``, each embedded alone, their components as computed (or,
    with ``typecode`` "f", as ``_embed_chunk`` packs them)."""
    embedder = HashingEmbedder(dimension)
    return array(typecode, itertools.chain.from_iterable(map(embedder._vector, texts))).tobytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, max_size=12), st.sampled_from([8, 16, 100, 384, 1000]))
@example(EDGE_TEXTS, 8)
@example(EDGE_TEXTS, 16)
@example(EDGE_TEXTS, 384)
@example(["& 1 **"], 8)
def test_a_batch_gets_the_vectors_of_its_texts_embedded_alone(
    texts: list[str], dimension: int
) -> None:
    """Embedded as a batch (as workers and larger calls embed), every text gets, to the
    last bit, the vector it gets alone, whatever the batch holds around it."""
    assert hashing._embed_batch(dimension, texts).tobytes() == one_by_one(dimension, texts)
    assert hashing._embed_chunk(dimension, texts) == one_by_one(dimension, texts, "f")


def test_batches_split_into_runs_get_the_same_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch embedded a few texts at a time, with its numbering of tokens and features
    renewed again and again, gets the same vectors."""
    texts = [f"{AVERAGE}\nvalue_{i} = other_{i % 7} * {i}" for i in range(40)] + EDGE_TEXTS
    monkeypatch.setattr(hashing, "_BATCH_SIZE", 600)
    monkeypatch.setattr(hashing, "_BATCH_CELLS", 64 * 5)
    monkeypatch.setattr(hashing, "_CACHED", 50)

    assert hashing._embed_batch(64, texts).tobytes() == one_by_one(64, texts)


async def test_a_batch_in_the_calling_process_gets_the_same_vectors() -> None:
    """From :data:`BATCH_FROM` texts on, a call embeds them as one batch: the same vectors
    as one by one."""
    texts = [AVERAGE, AVERAGE_RENAMED, *UNRELATED, *EDGE_TEXTS]
    assert len(texts) >= BATCH_FROM
    embedder = HashingEmbedder(32)

    vectors = await embedder.embed(texts)

    assert vectors == [embedder._vector(text) for text in texts]
    assert b"".join(v.to_bytes() for v in vectors) == one_by_one(32, texts, "f")


def test_a_text_whose_features_cancel_out_gets_the_fixed_vector() -> None:
    """Where a text's features cancel out in every bucket, its vector is that of a text
    without tokens, never a zero vector (alone and in a batch alike)."""
    embedder = HashingEmbedder(8)

    assert embedder._vector("& 1 **") == embedder._vector("")
    assert hashing._embed_chunk(8, ["& 1 **"]) == hashing._embed_chunk(8, [""])


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXTS, st.text(max_size=200)))
@example("trailing space \t\n ")
@example(" " * 1000)
def test_tokens_found_with_their_spaces_are_the_tokens(text: str) -> None:
    """The pattern that skips white space with each token finds the same tokens."""
    tokens = ["".join(groups) for groups in hashing._TOKEN_RE.findall(text)]
    assert hashing._SPACED_TOKEN_RE.findall(text.rstrip()) == tokens


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_workers_must_be_a_positive_integer(workers: Any) -> None:
    with pytest.raises(ValueError, match="workers"):
        HashingEmbedder(workers=workers)


@pytest.mark.parametrize("dimension", [8, 384, 8192])
async def test_vectors_have_the_dimension_and_unit_length(dimension: int) -> None:
    """Every vector has ``dimension`` finite float components and Euclidean norm 1."""
    embedder = HashingEmbedder(dimension)

    vectors = await embedder.embed([AVERAGE, *UNRELATED, "x", "+"])

    assert embedder.dimension == dimension
    for vector in vectors:
        assert len(vector) == dimension
        assert all(type(x) is float and math.isfinite(x) for x in vector)
        assert norm(vector) == pytest.approx(1.0)


async def test_near_duplicate_scores_clearly_above_unrelated_code() -> None:
    """A renamed and reformatted copy of a function is closer to it than any unrelated
    function, by a clear margin."""
    embedder = HashingEmbedder()
    original, duplicate, *others = await embedder.embed([AVERAGE, AVERAGE_RENAMED, *UNRELATED])

    duplicate_score = cosine(original, duplicate)
    best_unrelated = max(cosine(original, other) for other in others)

    assert duplicate_score > best_unrelated + 0.15


async def test_whitespace_alone_does_not_change_the_vector() -> None:
    """Code that differs only in spaces, indentation and line breaks embeds identically."""
    embedder = HashingEmbedder()
    squeezed = "def f(a,b):\n  return a+b"
    spread = "def   f( a , b ) :\n\n        return a + b\n"

    first, second = await embedder.embed([squeezed, spread])

    assert first == second


async def test_identifiers_are_split_into_words() -> None:
    """camelCase and snake_case spellings of the same name embed alike."""
    embedder = HashingEmbedder()
    camel, snake, other = await embedder.embed(
        ["parseHttpResponse", "parse_http_response", "renderImageThumbnail"]
    )

    assert cosine(camel, snake) > cosine(camel, other) + 0.3


async def test_text_without_tokens_gets_one_fixed_unit_vector() -> None:
    """Empty and blank texts all get the same unit vector, never a zero vector."""
    embedder = HashingEmbedder(32)

    empty, blank, newline = await embedder.embed(["", "   ", "\n\t\n"])

    assert empty == blank == newline
    assert norm(empty) == pytest.approx(1.0)


async def test_embed_of_nothing_is_an_empty_list() -> None:
    """Embedding no texts returns no vectors."""
    assert await HashingEmbedder().embed([]) == []


async def test_non_string_texts_are_refused() -> None:
    """A batch holding a non-string, or a bare string instead of a batch, is refused."""
    embedder = HashingEmbedder()

    with pytest.raises(ValidationError, match=r"texts\[1\]"):
        await embedder.embed(["ok", cast(Any, 42)])
    with pytest.raises(ValidationError, match="not a string"):
        await embedder.embed("def f(): pass")


async def test_a_text_that_is_not_valid_unicode_is_refused() -> None:
    """A lone surrogate (which a JSON escape such as \\ud800 can carry) is named as bad
    input, in the calling process and in worker processes alike."""
    with pytest.raises(ValidationError, match=r"texts\[1\].*lone surrogate"):
        await HashingEmbedder().embed(["ok = 1", "x = '\ud800'"])
    texts = ["ok = 1"] * PARALLEL_FROM + ["y = '\udcff'"]
    with pytest.raises(ValidationError, match=rf"texts\[{PARALLEL_FROM}\]"):
        await HashingEmbedder(workers=2).embed(texts)
    assert await HashingEmbedder().embed(["naïve = 'ü'"])  # valid Unicode is fine


@pytest.mark.parametrize("dimension", [0, 7, 8193, True, 384.0, "384"])
def test_dimension_out_of_range_is_refused(dimension: Any) -> None:
    """A dimension that is not an integer from 8 to 8192 raises ValueError."""
    with pytest.raises(ValueError, match="dimension"):
        HashingEmbedder(dimension)


@pytest.mark.parametrize("name", ["", "  "])
def test_blank_model_name_is_refused(name: str) -> None:
    """The model name identifies the embedding space, so it cannot be blank."""
    with pytest.raises(ValueError, match="model_name"):
        HashingEmbedder(model_name=name)


def test_embedder_reports_its_model_and_dimension() -> None:
    """The port's properties expose the configured model name and dimension."""
    embedder: Embedder = HashingEmbedder(128, model_name="hashing-test")

    assert (embedder.model_name, embedder.dimension) == ("hashing-test", 128)
