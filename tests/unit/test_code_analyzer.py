"""FileAnalyzer: language, encoding, line endings, functions, classes and complexity of one
file's bytes, and never an exception on content."""

from __future__ import annotations

import codecs
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import lizard
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.lexers import find_lexer_class_by_name, find_lexer_class_for_filename, get_all_lexers

from adapters.source import FileAnalyzer
from adapters.source.analyzer import _lizard
from adapters.source.languages import LANGUAGE_BY_ALIAS, _claimants, detect_language
from domain.enums import LineEndingType, ProgrammingLanguage
from domain.values import FunctionSignature
from ports.source import CodeAnalyzer, FileAnalysis

PYTHON = b'''"""A module."""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict, abc as collections_abc
from . import sibling

__all__ = ["Shape", "area", "missing_name"]


class Shape(Base, metaclass=Meta):
    def __init__(self, sides: int, *, name: str = "shape") -> None:
        self.sides = sides

    async def fetch(self, *urls, timeout=10, **options):
        for url in urls:
            if url and timeout:
                yield url


def area(width, height, /, scale=1.0):
    if width < 0 or height < 0:
        raise ValueError("negative")
    elif scale == 0:
        return 0
    return width * height * scale


def short(x): return x if x else None
'''

JAVASCRIPT = b"""function total(items, tax = 0.2, ...rest) {
  let sum = 0;
  for (const item of items) {
    if (item.price > 0 && !item.free) {
      sum += item.price;
    }
  }
  return sum * (1 + tax);
}

const double = (x) => x * 2;
"""

GO = b"""package shop

func (c *Cart) Add(item Item, count int) error {
\tif count <= 0 {
\t\treturn ErrCount
\t}
\tc.items = append(c.items, item)
\treturn nil
}

func main() {}
"""

JAVA = b"""package shop;

public class Cart extends Base {
    public int add(int price, int count) {
        if (price < 0 || count < 0) {
            return -1;
        }
        return price * count;
    }

    public void clear() { }
}
"""

C = b"""#include <stdio.h>

static int clamp(int value, int low, int high) {
    if (value < low) return low;
    if (value > high) return high;
    return value;
}

int main(int argc, char **argv) {
    while (argc-- > 0) {
        printf("%s\\n", argv[argc]);
    }
    return 0;
}
"""

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\n"


@pytest.fixture
def analyzer() -> CodeAnalyzer:
    return FileAnalyzer()


def by_name(analysis: FileAnalysis) -> dict[str, FunctionSignature]:
    return {f.name: f for f in analysis.metadata.functions}


def test_python_functions_have_dotted_names_signatures_and_complexity(
    analyzer: CodeAnalyzer,
) -> None:
    """Python functions are named Class.method, with parameters as written, return type,
    async flag, lines and cyclomatic complexity."""
    analysis = analyzer.analyze("shop/shapes.py", PYTHON)

    assert analysis.language is ProgrammingLanguage.PYTHON
    functions = {f.name: f for f in analysis.metadata.functions}
    assert list(functions) == ["Shape.__init__", "Shape.fetch", "area", "short"]
    init = functions["Shape.__init__"]
    assert init.parameters == ("self", "sides: int", "*", "name: str = 'shape'")
    assert init.return_type == "None"
    assert (init.line_start, init.line_end, init.complexity) == (12, 13, 1)
    fetch = functions["Shape.fetch"]
    assert fetch.is_async
    assert fetch.parameters == ("self", "*urls", "timeout=10", "**options")
    assert fetch.complexity == 4  # for, if, and
    area = functions["area"]
    assert area.parameters == ("width", "height", "/", "scale=1.0")
    assert area.signature == "area(width, height, /, scale=1.0)"
    assert (area.line_start, area.line_end, area.complexity) == (21, 26, 4)
    assert functions["short"].complexity == 2  # a one-line function, counted on the tree
    metrics = analysis.metadata.complexity_metrics
    assert metrics is not None
    assert metrics.function_count == 4
    assert metrics.cyclomatic_total == 11
    assert metrics.cyclomatic_max == 4
    assert metrics.cyclomatic_average == pytest.approx(11 / 4)
    assert metrics.nloc > 0


def test_python_classes_imports_and_exports(analyzer: CodeAnalyzer) -> None:
    """A Python file yields its classes with bases and methods, its imports, and the names
    of __all__ as exports (with the kind of their definition)."""
    metadata = analyzer.analyze("shop/shapes.py", PYTHON).metadata

    (shape,) = metadata.classes
    assert (shape.name, shape.bases, shape.methods) == ("Shape", ("Base",), ("__init__", "fetch"))
    assert (shape.line_start, shape.line_end) == (11, 18)
    assert [(i.module, i.names, i.alias, i.line) for i in metadata.imports] == [
        ("__future__", ("annotations",), None, 2),
        ("os.path", (), "osp", 4),
        ("collections", ("OrderedDict", "abc as collections_abc"), None, 5),
        (".", ("sibling",), None, 6),
    ]
    assert [(e.name, e.kind) for e in metadata.exports] == [
        ("Shape", "class"),
        ("area", "function"),
        ("missing_name", "symbol"),
    ]


def test_python_exports_without_all_are_the_public_top_level_names(
    analyzer: CodeAnalyzer,
) -> None:
    """Without __all__, the exports are the public top-level functions, classes and
    variables, in source order."""
    source = b"LIMIT = 3\n_hidden = 1\n\nclass Job:\n    pass\n\ndef run():\n    pass\n"

    metadata = analyzer.analyze("jobs.py", source).metadata

    assert [(e.name, e.kind, e.line) for e in metadata.exports] == [
        ("LIMIT", "variable", 1),
        ("Job", "class", 4),
        ("run", "function", 7),
    ]


def test_python_that_does_not_parse_keeps_lizard_functions(analyzer: CodeAnalyzer) -> None:
    """Python the parser rejects (Python 2 here) still gets lizard's functions, and no
    classes, imports or exports."""
    source = b"import os\n\ndef greet(name):\n    print 'hello', name\n    return name\n"

    analysis = analyzer.analyze("legacy.py", source)

    assert analysis.metadata.skipped_reason is None
    (greet,) = analysis.metadata.functions
    assert (greet.name, greet.parameters, greet.line_start, greet.line_end) == (
        "greet",
        ("name",),
        3,
        5,
    )
    assert analysis.metadata.classes == ()
    assert analysis.metadata.imports == ()


def test_javascript_functions(analyzer: CodeAnalyzer) -> None:
    """JavaScript functions come with their parameters, lines and complexity."""
    analysis = analyzer.analyze("web/cart.js", JAVASCRIPT)

    assert analysis.language is ProgrammingLanguage.JAVASCRIPT
    total = by_name(analysis)["total"]
    assert total.parameters == ("items", "tax", "rest")  # lizard drops defaults and spread
    assert (total.line_start, total.line_end) == (1, 9)
    assert total.complexity >= 4  # for, if, && (lizard's reading of JavaScript decides)
    assert "double" in by_name(analysis)


def test_go_functions(analyzer: CodeAnalyzer) -> None:
    """Go functions and methods come with their typed parameters and complexity."""
    analysis = analyzer.analyze("shop/cart.go", GO)

    assert analysis.language is ProgrammingLanguage.GO
    functions = by_name(analysis)
    add = functions["Add"]
    assert add.parameters == ("item Item", "count int")
    assert (add.line_start, add.line_end, add.complexity) == (3, 9, 2)
    assert functions["main"].parameters == ()


def test_java_methods_are_qualified_and_give_classes(analyzer: CodeAnalyzer) -> None:
    """Java methods are named Class::method and grouped into classes spanning them."""
    analysis = analyzer.analyze("src/Cart.java", JAVA)

    assert analysis.language is ProgrammingLanguage.JAVA
    add = by_name(analysis)["Cart::add"]
    assert add.parameters == ("int price", "int count")
    assert add.complexity == 3
    (cart,) = analysis.metadata.classes
    assert (cart.name, cart.methods) == ("Cart", ("add", "clear"))
    assert (cart.line_start, cart.line_end) == (4, 11)


def test_c_functions_and_metrics(analyzer: CodeAnalyzer) -> None:
    """C functions have their complexity and the file its totals; C has no classes."""
    analysis = analyzer.analyze("src/main.c", C)

    assert analysis.language is ProgrammingLanguage.C
    functions = by_name(analysis)
    assert functions["clamp"].parameters == ("int value", "int low", "int high")
    assert functions["clamp"].complexity == 3
    assert functions["main"].complexity == 2
    assert analysis.metadata.classes == ()
    metrics = analysis.metadata.complexity_metrics
    assert metrics is not None
    assert (metrics.function_count, metrics.cyclomatic_total, metrics.cyclomatic_max) == (2, 5, 3)


def _lizard_reading(found: Any) -> tuple[object, ...]:
    functions = [
        (
            f.name,
            tuple(f.full_parameters),
            f.start_line,
            f.end_line,
            f.cyclomatic_complexity,
            f.nloc,
        )
        for f in found.function_list
    ]
    return found.nloc, functions


@pytest.mark.parametrize(
    ("path", "source"),
    [
        *((f"project/{p.name}", p.read_text()) for p in sorted(Path(__file__).parent.glob("*.py"))),
        ("web/cart.js", JAVASCRIPT.decode()),
        ("shop/cart.go", GO.decode()),
        ("src/Cart.java", JAVA.decode()),
        ("src/main.c", C.decode()),
    ],
)
def test_lizard_reads_each_file_as_its_own_analysis_does(path: str, source: str) -> None:
    """The analyser runs lizard without its token counter, which it does not use: every
    function, its lines, parameters, complexity and lines of code, and the file's lines
    of code are those of lizard's own analysis (``lizard.analyze_file``)."""
    ours = _lizard(path, source)
    assert ours is not None
    assert _lizard_reading(ours) == _lizard_reading(
        lizard.analyze_file.analyze_source_code(path, source)
    )


def test_utf8_bom_is_reported_and_removed_from_the_text(analyzer: CodeAnalyzer) -> None:
    """A UTF-8 byte order mark gives has_bom, encoding utf-8 and text without the mark."""
    analysis = analyzer.analyze("app.py", codecs.BOM_UTF8 + b"def f():\n    return 1\n")

    assert (analysis.metadata.encoding, analysis.metadata.has_bom) == ("utf-8", True)
    assert analysis.text == "def f():\n    return 1\n"
    assert [f.name for f in analysis.metadata.functions] == ["f"]


def test_utf16_with_bom_is_text_not_binary(analyzer: CodeAnalyzer) -> None:
    """A UTF-16 file (full of NUL bytes) with its byte order mark is decoded as text,
    and its lines are those of the text, not the 0x0A bytes of its encoding ("Ċ" is
    0A 01)."""
    content = codecs.BOM_UTF16_LE + "x = 'hĊllo'\r\ny = 2\r\n".encode("utf-16-le")

    analysis = analyzer.analyze("values.py", content)

    assert (analysis.metadata.encoding, analysis.metadata.has_bom) == ("utf-16-le", True)
    assert analysis.text == "x = 'hĊllo'\r\ny = 2\r\n"
    assert content.count(b"\n") == 3
    assert analysis.line_count == 2
    assert analysis.metadata.skipped_reason is None
    assert analysis.metadata.line_endings is LineEndingType.CRLF


def test_nul_characters_after_a_bom_mean_binary(analyzer: CodeAnalyzer) -> None:
    """Bytes that start like UTF-16 but decode to NUL characters are a binary file."""
    analysis = analyzer.analyze("blob.dat", codecs.BOM_UTF16_LE + b"A\x00" + b"\x00\x00" * 16)

    assert analysis.text is None
    assert analysis.metadata.skipped_reason == "binary file"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a\nb\n", LineEndingType.LF),
        (b"a\r\nb\r\n", LineEndingType.CRLF),
        (b"a\rb\r", LineEndingType.CR),
        (b"a\r\nb\nc\r\n", LineEndingType.MIXED),
        (b"a\rb\n", LineEndingType.MIXED),
        (b"no line break", LineEndingType.NONE),
    ],
)
def test_line_endings(analyzer: CodeAnalyzer, content: bytes, expected: LineEndingType) -> None:
    """Line endings are lf, crlf, cr, mixed, or none without any line break."""
    analysis = analyzer.analyze("notes.txt", content)

    assert analysis.metadata.line_endings is expected
    assert analysis.line_count == content.count(b"\n")


def test_binary_file_has_no_text_and_says_why(analyzer: CodeAnalyzer) -> None:
    """A file with NUL bytes (a PNG) is binary: no text, no language by content, and no
    lines, whatever newline bytes it holds."""
    analysis = analyzer.analyze("logo.png", PNG)

    assert analysis.text is None
    assert analysis.language is None
    assert analysis.metadata.skipped_reason == "binary file"
    assert analysis.metadata.encoding == "binary"
    assert analysis.metadata.functions == ()
    assert PNG.count(b"\n") == 3
    assert analysis.line_count == 0


def test_non_utf8_text_is_decoded_with_the_guessed_encoding(analyzer: CodeAnalyzer) -> None:
    """Latin-1 text (invalid as UTF-8) is decoded with charset-normalizer's guess."""
    content = "Le café est très bon; ça coûte cinq euros à Paris.\n".encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")

    analysis = analyzer.analyze("notes.txt", content)

    assert analysis.metadata.encoding != "utf-8"
    assert analysis.metadata.skipped_reason is None
    assert analysis.text is not None
    assert analysis.text.startswith("Le caf")
    assert analysis.language is ProgrammingLanguage.TEXT


def test_undecodable_file_is_skipped_with_a_reason(analyzer: CodeAnalyzer) -> None:
    """Bytes without NUL that neither UTF-8 nor any guessed encoding reads are skipped as
    undecodable, not raised, and have no lines."""
    content = bytes([0x80, 0x81, 0x8D, 0x8F, 0x90, 0x9D, 0x01, 0x02, 0x03, 0x1B, 0x0A]) * 20
    assert b"\x00" not in content

    analysis = analyzer.analyze("data.txt", content)

    assert analysis.text is None
    assert analysis.metadata.encoding == "unknown"
    assert (analysis.metadata.skipped_reason or "").startswith("undecodable: ")
    assert analysis.line_count == 0


def test_invalid_bytes_after_a_bom_are_undecodable(analyzer: CodeAnalyzer) -> None:
    """A UTF-8 byte order mark followed by invalid UTF-8 is undecodable, naming the mark."""
    analysis = analyzer.analyze("a.txt", codecs.BOM_UTF8 + b"ok \xff\xfe bad")

    assert analysis.text is None
    assert "byte order mark" in (analysis.metadata.skipped_reason or "")


@pytest.mark.parametrize(
    ("path", "content", "expected"),
    [
        ("Makefile", b"all:\n\tcc main.c\n", ProgrammingLanguage.MAKEFILE),
        (
            "docker/Dockerfile",
            b"FROM python:3.11\nRUN pip install .\n",
            ProgrammingLanguage.DOCKERFILE,
        ),
        ("CMakeLists.txt", b"project(x)\n", ProgrammingLanguage.CMAKE),
        ("notes.txt", b"plain words\n", ProgrammingLanguage.TEXT),
        ("LICENSE", b"Permission is hereby granted\n", None),
        ("run.bat", b"@echo off\n", ProgrammingLanguage.OTHER),
        ("include/api.h", b"int f(void);\n", ProgrammingLanguage.C),
    ],
)
def test_language_detection(
    analyzer: CodeAnalyzer, path: str, content: bytes, expected: ProgrammingLanguage | None
) -> None:
    """Files are named by pygments' lexer: by name, without extension too; unmapped
    lexers are OTHER and unrecognised files have no language."""
    assert analyzer.analyze(path, content).language is expected


def test_script_without_extension_is_detected_by_shebang_and_analysed(
    analyzer: CodeAnalyzer,
) -> None:
    """A script without extension is recognised by its shebang line and its functions
    are extracted as its language's."""
    source = b"#!/usr/bin/env python3\ndef main(argv):\n    if argv:\n        return 1\n"

    analysis = analyzer.analyze("bin/tool", source)

    assert analysis.language is ProgrammingLanguage.PYTHON
    (main,) = analysis.metadata.functions
    assert (main.name, main.parameters, main.complexity) == ("main", ("argv",), 2)


def test_empty_file(analyzer: CodeAnalyzer) -> None:
    """An empty file is empty UTF-8 text with no lines, no line break and no functions."""
    analysis = analyzer.analyze("pkg/__init__.py", b"")

    assert analysis.text == ""
    assert analysis.line_count == 0
    assert analysis.metadata.line_endings is LineEndingType.NONE
    assert analysis.metadata.functions == ()
    assert analysis.metadata.skipped_reason is None


def test_file_above_max_bytes_is_decoded_but_not_parsed() -> None:
    """A file larger than max_bytes keeps its text and encoding but gets no functions, and
    says it was too large."""
    analysis = FileAnalyzer(max_bytes=len(C) - 1).analyze("src/main.c", C)

    assert analysis.text == C.decode()
    assert analysis.metadata.functions == ()
    assert analysis.metadata.complexity_metrics is None
    assert analysis.metadata.skipped_reason == f"too large for analysis ({len(C)} bytes)"


def test_overlong_names_and_parameters_are_cut_to_fit() -> None:
    """A parameter longer than the domain's 1000 characters is cut, not refused."""
    source = b"def f(x=" + b'"' + b"a" * 3000 + b'"' + b"):\n    return x\n"

    (function,) = FileAnalyzer().analyze("long.py", source).metadata.functions

    assert len(function.parameters[0]) == 1000


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_max_bytes_must_be_a_positive_integer(bad: object) -> None:
    """The constructor refuses a max_bytes that is not a positive integer, naming it."""
    with pytest.raises(ValueError, match="max_bytes"):
        FileAnalyzer(max_bytes=bad)  # type: ignore[arg-type]


def test_the_lexers_claiming_a_name_are_those_pygments_matches() -> None:
    """The index of pygments' file name patterns finds, for a name made of each pattern
    pygments knows, exactly the lexers whose patterns match it as pygments matches them;
    a name one lexer claims is named as pygments' own search names it."""
    lexers = [(name, patterns) for name, _, patterns, _ in get_all_lexers(plugins=True)]
    names = {"README", "a.b.c", ".py", "x.PY"}
    for _, patterns in lexers:
        for pattern in patterns:
            names.add(pattern.replace("*", "x").replace("?", "q").replace("[", "").replace("]", ""))
    assert len(names) > 500
    for name in sorted(names):
        expected = {
            lexer for lexer, patterns in lexers if any(fnmatchcase(name, p) for p in patterns)
        }
        claimants = _claimants(name)
        assert set(claimants) == expected, name
        if len(claimants) == 1:
            lexer = find_lexer_class_for_filename(f"src/{name}", "x = 1\n")
            assert lexer is not None
            assert detect_language(f"src/{name}", "x = 1\n") is next(
                (LANGUAGE_BY_ALIAS[a] for a in lexer.aliases if a in LANGUAGE_BY_ALIAS),
                ProgrammingLanguage.OTHER,
            ), name


def test_every_mapped_alias_is_a_pygments_lexer_alias() -> None:
    """Each alias of the language mapping names a lexer pygments has."""
    for alias in LANGUAGE_BY_ALIAS:
        assert alias in find_lexer_class_by_name(alias).aliases


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(["a.py", "b.js", "c.go", "d.java", "e.c", "f.rb", "Makefile", "g"]),
    content=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=200).map(lambda s: s.encode("utf-8")),
        st.lists(
            st.sampled_from(
                ["def ", "class ", "(", ")", ":", "{", "}", "\n", "  ", "if", "x", ","]
            ),
            max_size=60,
        ).map(lambda parts: "".join(parts).encode()),
    ),
)
def test_any_content_gives_a_valid_analysis(path: str, content: bytes) -> None:
    """Whatever the bytes, analysis returns valid domain objects (never raises);
    line_count is the number of line feeds of the text, the newline bytes of UTF-8 text,
    and 0 without text."""
    analysis = FileAnalyzer().analyze(path, content)

    if analysis.text is None:
        assert analysis.line_count == 0
    else:
        assert analysis.line_count == analysis.text.count("\n")
        if analysis.metadata.encoding == "utf-8" and not analysis.metadata.has_bom:
            assert analysis.line_count == content.count(b"\n")
    assert (analysis.text is None) == (analysis.metadata.skipped_reason is not None)
