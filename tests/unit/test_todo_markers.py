"""The todo-marker rule's search: only the lines where a marker's text occurs are matched,
with the same answers as matching every line."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from application.builtin_rules import _markers

MARKERS = ["TODO", "FIXME", "XX", "XXX", "é"]
PIECES = [
    *MARKERS, "TODOS", "_TODO", "xTODO", "TODO_", "a", "é", " ", "#", "1",
    "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028",
]  # fmt: skip


def every_line(text: str, markers: list[str]) -> list[tuple[int, str, str]]:
    """The first marker of each line, every line matched."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(m) for m in markers) + r")\b")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = pattern.search(line)
        if match:
            found.append((number, match.group(1), line))
    return found


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.sampled_from(MARKERS), min_size=1, max_size=4, unique=True),
)
def test_only_the_lines_holding_a_marker_are_matched_with_the_same_answers(
    text: str, markers: list[str]
) -> None:
    assert _markers(text, markers) == every_line(text, markers)


def test_a_marker_holding_a_line_break_is_matched_line_by_line() -> None:
    """A marker no line can hold is found nowhere, as matching each line finds it."""
    text = "a TODO\nb\nFIX\nME"
    assert _markers(text, ["FIX\nME", "TODO"]) == [(1, "TODO", "a TODO")]


def test_no_marker_configured_finds_nothing() -> None:
    assert _markers("TODO", []) == []
    assert _markers("TODO", None) == []
    assert _markers("TODO", [3, ""]) == []
