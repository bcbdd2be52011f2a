"""What the commands print: counted nouns, aligned tables, one-line messages."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["one_line", "plural", "table"]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and the noun that agrees with it: ``1 file``, ``2 files``, ``0 files``
    (``plural_noun`` for the irregular ones: ``plural(n, "entry", "entries")``)."""
    many = plural_noun if plural_noun is not None else noun + "s"
    return f"{count} {noun if count == 1 else many}"


def table(rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (the first one the header) in columns two spaces apart; nothing when
    there are no rows. The header prints even when no row follows."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[-1] = 0  # the last column is not padded
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def one_line(message: str) -> str:
    """``message`` on one line: its non-blank lines, stripped, joined with ``; `` (libpq,
    for one, adds a hint on a line of its own)."""
    parts = [line.strip() for line in message.splitlines() if line.strip()]
    return "; ".join(parts)
