"""HashingEmbedder: deterministic unit vectors of a fixed dimension that rank near-duplicate
code above unrelated code."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.embedders.hashing import PARALLEL_FROM, HashingEmbedder
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


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def norm(vector: tuple[float, ...]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def test_same_text_gives_the_same_vector_in_another_process() -> None:
    """A vector does not depend on the process: another interpreter, with another hash
    seed, computes exactly the same components."""
    script = (
        "import asyncio, json, sys\n"
        "from adapters.embedders.hashing import HashingEmbedder\n"
        "[vector] = asyncio.run(HashingEmbedder(64).embed([sys.argv[1]]))\n"
        "print(json.dumps(vector))\n"
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
    """The components, to the last bit, are those recorded for "hashing-v1"."""
    vectors = await HashingEmbedder(dimension).embed(RECORDED_TEXTS)

    packed = b"".join(struct.pack(f"<{dimension}d", *vector) for vector in vectors)
    assert hashlib.sha256(packed).hexdigest() == RECORDED[dimension]


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
