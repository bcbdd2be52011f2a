"""Charts of a measure over time, drawn without a plotting library: a line of block
characters for a terminal (:func:`sparkline`), an SVG document (:func:`svg`) and a PNG
image (:func:`png`, rasterised here and encoded with zlib).

A series is a sequence of ``(moment, value)`` pairs, oldest first. The SVG and the PNG
draw the same chart: the values as a line with a marker at each point, placed by time
(evenly when every point has the same time), a value axis from 0 (or the lowest value,
when one is negative) to the highest value, and the first and last dates under it.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import attrs

__all__ = [
    "FORMATS",
    "Series",
    "chart",
    "number",
    "png",
    "sparkline",
    "svg",
]

Series = Sequence[tuple[dt.datetime, float]]

FORMATS = (".png", ".svg")
"""The file name endings a chart can be written as."""

BLOCKS = "▁▂▃▄▅▆▇█"
WIDTH = 720
HEIGHT = 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 80, 24, 36, 48
_GRID_LINES = 4

_BACKGROUND = (255, 255, 255)
_GRID = (225, 228, 232)
_AXIS = (88, 96, 105)
_LINE = (31, 111, 235)
_TEXT = (36, 41, 47)


def number(value: float) -> str:
    """A measure's value as people write it: ``12``, ``87.5``, ``0.125``."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def sparkline(values: Sequence[float], *, width: int = 60) -> str:
    """``values`` as one line of block characters, the lowest ``▁`` and the highest
    ``█`` (every one ``▄`` when they are all equal); more than ``width`` values are
    sampled evenly, the first and the last always kept."""
    if not values:
        return ""
    if len(values) > width:
        step = (len(values) - 1) / (width - 1)
        values = [values[round(n * step)] for n in range(width)]
    low, high = min(values), max(values)
    if high == low:
        return BLOCKS[3] * len(values)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / (high - low) * top)] for v in values)


# ---------------------------------------------------------------------------- layout


@attrs.frozen
class _Layout:
    """Where a series is drawn: each point in pixels, and the value axis' ticks."""

    points: tuple[tuple[float, float], ...]
    ticks: tuple[tuple[float, str], ...]  # (y in pixels, label)
    first_label: str
    last_label: str


def _date_label(moment: dt.datetime, *, with_time: bool) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _layout(series: Series, width: int, height: int) -> _Layout:
    left, right = _LEFT, width - _RIGHT
    top, bottom = _TOP, height - _BOTTOM
    values = [v for _, v in series]
    low = min(0.0, min(values))
    high = max(values)
    if high <= low:
        high = low + 1
    times = [t.timestamp() for t, _ in series]
    start, end = times[0], times[-1]
    span = end - start
    points = []
    for n, (moment, value) in enumerate(zip(times, values, strict=True)):
        if len(series) == 1:
            fraction = 0.5
        elif span > 0:
            fraction = (moment - start) / span
        else:
            fraction = n / (len(series) - 1)
        x = left + fraction * (right - left)
        y = bottom - (value - low) / (high - low) * (bottom - top)
        points.append((x, y))
    ticks = tuple(
        (
            bottom - k / _GRID_LINES * (bottom - top),
            number(_round(low + k / _GRID_LINES * (high - low))),
        )
        for k in range(_GRID_LINES + 1)
    )
    first, last = series[0][0], series[-1][0]
    same_day = first.astimezone(dt.UTC).date() == last.astimezone(dt.UTC).date()
    return _Layout(
        points=tuple(points),
        ticks=ticks,
        first_label=_date_label(first, with_time=same_day),
        last_label=_date_label(last, with_time=same_day),
    )


def _round(value: float) -> float:
    return round(value, 2)


def chart(series: Series, path_suffix: str, *, title: str, description: str = "") -> bytes:
    """The chart of ``series`` in the format the suffix names (``.png`` or ``.svg``),
    headed by ``title``; ``description`` (what the values count) goes with it as text."""
    if not series:
        raise ValueError("a chart needs at least one point")
    if path_suffix.lower() == ".svg":
        return svg(series, title=title, description=description).encode("utf-8")
    if path_suffix.lower() == ".png":
        return png(series, title=title, description=description)
    raise ValueError(f"no chart format for {path_suffix!r}: use one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------- SVG


def svg(
    series: Series, *, title: str, description: str = "", width: int = WIDTH, height: int = HEIGHT
) -> str:
    """The chart of ``series`` as an SVG document."""
    layout = _layout(series, width, height)
    left, right, bottom = _LEFT, width - _RIGHT, height - _BOTTOM

    def colour(rgb: tuple[int, int, int]) -> str:
        return "#{:02x}{:02x}{:02x}".format(*rgb)

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(description)}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{colour(_BACKGROUND)}"/>',
        f'<text x="{left}" y="{_TOP - 14}" font-size="14" fill="{colour(_TEXT)}">'
        f"{escape(title)}</text>",
    ]
    for y, label in layout.ticks:
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"'
            f' stroke="{colour(_GRID)}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end"'
            f' fill="{colour(_TEXT)}">{escape(label)}</text>'
        )
    out.append(
        f'<polyline points="{left},{_TOP} {left},{bottom} {right},{bottom}" fill="none"'
        f' stroke="{colour(_AXIS)}" stroke-width="1"/>'
    )
    out.append(
        f'<text x="{left}" y="{bottom + 20}" fill="{colour(_TEXT)}">'
        f"{escape(layout.first_label)}</text>"
    )
    out.append(
        f'<text x="{right}" y="{bottom + 20}" text-anchor="end" fill="{colour(_TEXT)}">'
        f"{escape(layout.last_label)}</text>"
    )
    coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in layout.points)
    out.append(
        f'<polyline class="series" points="{coordinates}" fill="none"'
        f' stroke="{colour(_LINE)}" stroke-width="2" stroke-linejoin="round"/>'
    )
    for (x, y), (moment, value) in zip(layout.points, series, strict=True):
        label = f"{moment.astimezone(dt.UTC).isoformat()}: {number(value)}"
        out.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour(_LINE)}"'
            f" data-value={quoteattr(number(value))}><title>{escape(label)}</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- PNG

# a 3x5 pixel font for the labels: digits, capitals (small letters are drawn as
# capitals) and what dates, numbers and titles need
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    ":": ("000", "010", "000", "010", "000"),
    "+": ("000", "010", "111", "010", "000"),
    "A": ("010", "101", "111", "101", "101"),
    "B": ("110", "101", "110", "101", "110"),
    "C": ("011", "100", "100", "100", "011"),
    "D": ("110", "101", "101", "101", "110"),
    "E": ("111", "100", "110", "100", "111"),
    "F": ("111", "100", "110", "100", "100"),
    "G": ("011", "100", "101", "101", "011"),
    "H": ("101", "101", "111", "101", "101"),
    "I": ("111", "010", "010", "010", "111"),
    "J": ("001", "001", "001", "101", "010"),
    "K": ("101", "101", "110", "101", "101"),
    "L": ("100", "100", "100", "100", "111"),
    "M": ("101", "111", "111", "101", "101"),
    "N": ("110", "101", "101", "101", "101"),
    "O": ("010", "101", "101", "101", "010"),
    "P": ("110", "101", "110", "100", "100"),
    "Q": ("010", "101", "101", "110", "011"),
    "R": ("110", "101", "110", "101", "101"),
    "S": ("011", "100", "010", "001", "110"),
    "T": ("111", "010", "010", "010", "010"),
    "U": ("101", "101", "101", "101", "111"),
    "V": ("101", "101", "101", "101", "010"),
    "W": ("101", "101", "111", "111", "101"),
    "X": ("101", "101", "010", "101", "101"),
    "Y": ("101", "101", "010", "010", "010"),
    "Z": ("111", "001", "010", "100", "111"),
    "_": ("000", "000", "000", "000", "111"),
    "/": ("001", "001", "010", "100", "100"),
    "(": ("010", "100", "100", "100", "010"),
    ")": ("010", "001", "001", "001", "010"),
    ",": ("000", "000", "000", "010", "100"),
    "'": ("010", "010", "000", "000", "000"),
}
_SCALE = 2  # pixels per font pixel


class _Canvas:
    """An RGB image in memory."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(_BACKGROUND) * (width * height))

    def dot(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = (y * self.width + x) * 3
            self.pixels[at : at + 3] = bytes(rgb)

    def fill(self, x0: int, y0: int, x1: int, y1: int, rgb: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(self.height, y1 + 1)):
            for x in range(max(0, x0), min(self.width, x1 + 1)):
                self.dot(x, y, rgb)

    def line(
        self, a: tuple[float, float], b: tuple[float, float], rgb: tuple[int, int, int], *,
        thickness: int = 1,
    ) -> None:  # fmt: skip
        """A straight line (Bresenham), ``thickness`` pixels wide."""
        x0, y0 = round(a[0]), round(a[1])
        x1, y1 = round(b[0]), round(b[1])
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        half = thickness // 2
        while True:
            self.fill(
                x0 - half, y0 - half, x0 - half + thickness - 1, y0 - half + thickness - 1, rgb
            )
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += sx
            if doubled <= dx:
                error += dx
                y0 += sy

    def disc(self, centre: tuple[float, float], radius: int, rgb: tuple[int, int, int]) -> None:
        cx, cy = round(centre[0]), round(centre[1])
        for y in range(-radius, radius + 1):
            for x in range(-radius, radius + 1):
                if x * x + y * y <= radius * radius + radius:
                    self.dot(cx + x, cy + y, rgb)

    def text(self, x: int, y: int, label: str, rgb: tuple[int, int, int]) -> None:
        """``label`` with its top left corner at (x, y); unknown characters are blanks."""
        for char in label:
            for row, bits in enumerate(_GLYPHS.get(char.upper(), ("000",) * 5)):
                for column, bit in enumerate(bits):
                    if bit == "1":
                        self.fill(
                            x + column * _SCALE, y + row * _SCALE,
                            x + column * _SCALE + _SCALE - 1, y + row * _SCALE + _SCALE - 1, rgb,
                        )  # fmt: skip
            x += 4 * _SCALE

    @staticmethod
    def text_width(label: str) -> int:
        return len(label) * 4 * _SCALE - _SCALE

    def encode(self, texts: dict[str, str]) -> bytes:
        """The image as a PNG file: 8-bit RGB, no filter, with ``texts`` as tEXt chunks."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        chunks = [_chunk(b"IHDR", header)]
        for key, value in texts.items():
            chunks.append(
                _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
            )
        chunks += [_chunk(b"IDAT", zlib.compress(raw, 9)), _chunk(b"IEND", b"")]
        return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(
    series: Series, *, title: str, description: str = "", width: int = WIDTH, height: int = HEIGHT
) -> bytes:
    """The chart of ``series`` as a PNG image (the title drawn, and in its ``Title`` text
    chunk with ``description`` in its ``Description`` one)."""
    layout = _layout(series, width, height)
    left, right, bottom = _LEFT, width - _RIGHT, height - _BOTTOM
    canvas = _Canvas(width, height)
    glyph_height = 5 * _SCALE
    room = (right - left) // (4 * _SCALE)
    shown = title if len(title) <= room else title[: room - 3] + "..."
    canvas.text(left, _TOP - 12 - glyph_height, shown, _TEXT)
    for y, label in layout.ticks:
        canvas.line((left, y), (right, y), _GRID)
        canvas.text(left - 8 - canvas.text_width(label), round(y) - glyph_height // 2, label, _TEXT)
    canvas.line((left, _TOP), (left, bottom), _AXIS)
    canvas.line((left, bottom), (right, bottom), _AXIS)
    canvas.text(left, bottom + 12, layout.first_label, _TEXT)
    canvas.text(right - canvas.text_width(layout.last_label), bottom + 12, layout.last_label, _TEXT)
    for a, b in zip(layout.points, layout.points[1:], strict=False):
        canvas.line(a, b, _LINE, thickness=2)
    for point in layout.points:
        canvas.disc(point, 3, _LINE)
    return canvas.encode({"Title": title, "Description": description, "Software": "codeant"})
