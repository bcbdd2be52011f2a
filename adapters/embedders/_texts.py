"""The input check every embedder applies."""

from __future__ import annotations

from collections.abc import Sequence

from ports.errors import ValidationError

__all__ = ["check_texts"]


def check_texts(texts: Sequence[str]) -> None:
    """ValidationError if ``texts`` is a string itself or holds anything but strings, or
    a string that is not valid Unicode (a lone surrogate, as a JSON escape can carry)."""
    if isinstance(texts, str):
        raise ValidationError("texts", texts, "must be a sequence of strings, not a string")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValidationError(f"texts[{index}]", text, "must be a string")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(
                    f"texts[{index}]", text, "must be valid Unicode (it holds a lone surrogate)"
                ) from None
