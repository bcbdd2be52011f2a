"""The project slug the main job makes of a name."""

from __future__ import annotations

import pytest

from application.indexing import slugify
from domain.errors import ValidationError


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Orders Service", "orders-service"),
        ("orders_service.v2", "orders-service-v2"),
        ("--Café--", "caf"),
        ("x" * 150, "x" * 100),
    ],
)
def test_a_slug_keeps_the_letters_and_digits_of_the_name(name, slug):
    """A slug is the name's lower-case ASCII letters and digits, runs joined by one
    hyphen, at most 100 characters."""
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["!!!", "---", "日本語", " _ "])
def test_a_name_without_a_letter_or_digit_has_no_slug(name):
    """A name without an ASCII letter or digit is refused, naming the field, instead of
    becoming a made-up slug shared by every such name."""
    with pytest.raises(ValidationError) as caught:
        slugify(name, field="project_name")
    assert caught.value.field == "project_name"
    assert caught.value.value == name
