"""A file's programming language, as pygments detects it, named by the domain's enum.

Detection is pygments': by file name (``*.py``, ``Makefile``, ``Dockerfile``...); when
several lexers claim a name (``*.h``, ``*.pl``), pygments' content analysis of a sample
picks one if it finds evidence (``use strict;`` makes ``*.pl`` Perl, not Prolog), else the
lexers' priority does (a ``*.h`` file is C unless it reads as Objective-C). A file whose
name no lexer claims is guessed from its first line only when that line is
a shebang (``#!/usr/bin/env python3``), which is cheap. The lexer is then named by the
:class:`~domain.enums.ProgrammingLanguage` its aliases map to: a language pygments knows
but the enum does not name is ``OTHER``, pygments' plain-text lexer is ``TEXT``, and a
file nothing recognises has no language (None).
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
from typing import Any

from pygments.lexers import (
    find_lexer_class,
    find_lexer_class_for_filename,
    get_all_lexers,
    guess_lexer,
)
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from domain.enums import ProgrammingLanguage

__all__ = ["LANGUAGE_BY_ALIAS", "detect_language"]

_L = ProgrammingLanguage

LANGUAGE_BY_ALIAS: dict[str, ProgrammingLanguage] = {
    "python": _L.PYTHON,
    "python2": _L.PYTHON,
    "javascript": _L.JAVASCRIPT,
    "jsx": _L.JAVASCRIPT,
    "typescript": _L.TYPESCRIPT,
    "tsx": _L.TYPESCRIPT,
    "java": _L.JAVA,
    "kotlin": _L.KOTLIN,
    "scala": _L.SCALA,
    "groovy": _L.GROOVY,
    "c": _L.C,
    "cpp": _L.CPP,
    "csharp": _L.CSHARP,
    "objective-c": _L.OBJECTIVE_C,
    "objective-c++": _L.OBJECTIVE_C,
    "swift": _L.SWIFT,
    "go": _L.GO,
    "rust": _L.RUST,
    "ruby": _L.RUBY,
    "php": _L.PHP,
    "perl": _L.PERL,
    "lua": _L.LUA,
    "splus": _L.R,
    "julia": _L.JULIA,
    "dart": _L.DART,
    "elixir": _L.ELIXIR,
    "erlang": _L.ERLANG,
    "haskell": _L.HASKELL,
    "ocaml": _L.OCAML,
    "fsharp": _L.FSHARP,
    "clojure": _L.CLOJURE,
    "zig": _L.ZIG,
    "fortran": _L.FORTRAN,
    "fortranfixed": _L.FORTRAN,
    "solidity": _L.SOLIDITY,
    "bash": _L.SHELL,
    "tcsh": _L.SHELL,
    "fish": _L.SHELL,
    "powershell": _L.POWERSHELL,
    "sql": _L.SQL,
    "tsql": _L.SQL,
    "mysql": _L.SQL,
    "postgresql": _L.SQL,
    "plpgsql": _L.SQL,
    "html": _L.HTML,
    "css": _L.CSS,
    "scss": _L.SCSS,
    "vue": _L.VUE,
    "markdown": _L.MARKDOWN,
    "restructuredtext": _L.RESTRUCTUREDTEXT,
    "json": _L.JSON,
    "yaml": _L.YAML,
    "toml": _L.TOML,
    "xml": _L.XML,
    "ini": _L.INI,
    "docker": _L.DOCKERFILE,
    "make": _L.MAKEFILE,
    "cmake": _L.CMAKE,
    "protobuf": _L.PROTOBUF,
    "graphql": _L.GRAPHQL,
    "terraform": _L.TERRAFORM,
    "text": _L.TEXT,
}
"""The domain language of each pygments lexer alias that names one of the enum's."""

_SAMPLE_CHARS = 16_384
"""How much of the content pygments sees to choose among lexers claiming one file name."""


def detect_language(relative_path: str, text: str | None) -> ProgrammingLanguage | None:
    """The language of the file at ``relative_path`` whose decoded content is ``text``
    (None for a binary or undecodable file: then the name alone decides)."""
    sample = text[:_SAMPLE_CHARS] if text else None
    claimants = _claimants(posixpath.basename(relative_path))
    lexer: Any = None
    if len(claimants) == 1:
        lexer = find_lexer_class(claimants[0])
    elif claimants:
        lexer = find_lexer_class_for_filename(relative_path)
        by_content = find_lexer_class_for_filename(relative_path, sample) if sample else None
        if by_content not in (None, lexer) and by_content.analyse_text(sample) > 0:
            lexer = by_content
    elif sample is not None and _is_script_without_extension(relative_path, sample):
        lexer = _guess_from_shebang(sample)
    if lexer is None:
        return None
    return next(
        (LANGUAGE_BY_ALIAS[alias] for alias in lexer.aliases if alias in LANGUAGE_BY_ALIAS),
        ProgrammingLanguage.OTHER,
    )


def _claimants(name: str) -> list[str]:
    """The names of the lexers whose file name patterns match the file name ``name``
    (pygments' own matching, through an index of the patterns: the content of a file
    only matters where several lexers claim its name)."""
    exact, suffixes, others = _patterns()
    found = list(exact.get(name, ()))
    for i, char in enumerate(name):
        if char == ".":
            found += suffixes.get(name[i:], ())
    found += [lexer for pattern, lexer in others if pattern.match(name)]
    return list(dict.fromkeys(found))


@functools.cache
def _patterns() -> tuple[
    dict[str, list[str]], dict[str, list[str]], list[tuple[re.Pattern[str], str]]
]:
    """pygments' file name patterns, by kind: whole names, ``*.suffix`` by suffix (the
    dot included), and the rest compiled as pygments compiles them."""
    exact: dict[str, list[str]] = {}
    suffixes: dict[str, list[str]] = {}
    others: list[tuple[re.Pattern[str], str]] = []
    for lexer, _aliases, patterns, _mimetypes in get_all_lexers(plugins=True):
        for pattern in patterns:
            if not any(c in pattern for c in "*?["):
                exact.setdefault(pattern, []).append(lexer)
            elif pattern.startswith("*.") and not any(c in pattern[1:] for c in "*?["):
                suffixes.setdefault(pattern[1:], []).append(lexer)
            else:
                others.append((re.compile(fnmatch.translate(pattern)), lexer))
    return exact, suffixes, others


def _is_script_without_extension(relative_path: str, sample: str) -> bool:
    return "." not in posixpath.basename(relative_path) and sample.startswith("#!")


def _guess_from_shebang(sample: str) -> Any:
    """The lexer that claims the shebang line, or None. pygments falls back to its plain
    text lexer when no lexer claims it: that means nothing was recognised."""
    try:
        lexer = guess_lexer(sample.partition("\n")[0] + "\n")
    except ClassNotFound:
        return None
    return None if isinstance(lexer, TextLexer) else type(lexer)
