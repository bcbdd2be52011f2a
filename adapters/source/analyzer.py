"""Analysis of one file's bytes: encoding, line endings, language, functions and classes.

Implements :class:`ports.source.CodeAnalyzer`. What it reports:

- ``line_count``: the line feeds of the decoded text (for UTF-8, what ``wc -l`` counts);
  0 for a binary or undecodable file, which has no text and so no lines.
- Encoding: a UTF-8, UTF-16 or UTF-32 byte order mark decides (``has_bom``, encoding
  ``utf-8``, ``utf-16-le``...); a file with a NUL byte in its first 8 KiB (a NUL character
  in its first 8 Ki characters after such a mark) is binary; otherwise UTF-8 if the bytes
  decode as UTF-8, else charset-normalizer's best guess (a Python codec name such as
  ``cp1252``). A binary file gets encoding ``binary``, a file no encoding fits ``unknown``;
  neither has text, and ``metadata.skipped_reason`` says ``binary file`` or
  ``undecodable: ...``.
- Line endings: of the decoded text (of the raw bytes when there is none): ``lf``,
  ``crlf``, ``cr``, ``mixed``, or ``none`` when there is no line break at all.
- Language: see :mod:`adapters.source.languages`.
- Functions, with their cyclomatic complexity and lines of code, from lizard, for the
  languages lizard reads (C and C++, Java, C#, JavaScript, TypeScript, Python, Go, Rust,
  Ruby, PHP, Kotlin, Swift, Scala, Lua, ...). A file lizard reads by its language but not
  by its name (a ``Gemfile``, a script without extension) is read as its language. Names
  are lizard's (``Class::method`` where lizard qualifies them), parameters as written with
  whitespace collapsed.
- Python files also go through the standard ``ast`` module: functions get their dotted
  names (``Class.method``), parameters as written (with annotations and defaults, and the
  ``/`` and ``*`` markers), return annotation and ``async``; lizard still gives their
  complexity, and for the few it does not report (one-line functions) the complexity is
  counted on the syntax tree the same way (one plus each branch, loop, handler, boolean
  operator and comprehension condition). Classes come with their bases and method names,
  imports with their names (``name as alias`` for a renamed one), exports are ``__all__``
  or, without it, the module's public top-level functions, classes and variables. A file
  the parser rejects keeps lizard's functions and has no classes, imports or exports.
- Classes of other languages: where lizard qualifies methods by their class (Java, C#,
  PHP), one class per qualifier, its methods, and the lines from its first method's to its
  last one's (lizard does not report the declaration itself); none for other languages
  (a C++ qualifier may be a namespace).
- ``complexity_metrics`` (lizard's lines of code of the file, the functions' count and
  complexity total, average and maximum) for every file whose functions were extracted.
- A file larger than ``max_bytes`` is decoded but not parsed: skipped_reason
  ``too large for analysis (N bytes)``.

Names and parameters longer than 1000 characters are cut to fit the domain's limits.
Nothing here raises on file content: a parser that fails on a file leaves that part of the
analysis empty (logged at debug level).
"""

from __future__ import annotations

import ast
import codecs
import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from adapters.source.languages import detect_language
from domain.enums import LineEndingType, ProgrammingLanguage
from domain.values import (
    ClassSignature,
    ComplexityMetrics,
    ExportDeclaration,
    FileMetadata,
    FunctionSignature,
    ImportDeclaration,
)
from ports.source import FileAnalysis

__all__ = ["DEFAULT_MAX_BYTES", "FileAnalyzer"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2_000_000
"""Files larger than this (2 MB) are not parsed for functions and classes."""

_BINARY_PROBE = 8192
_MAX_NAME = 1000

_BOMS = (  # the UTF-32 marks first: UTF-32-LE's begins with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_LIZARD_EXTENSION = {
    ProgrammingLanguage.PYTHON: "py",
    ProgrammingLanguage.JAVASCRIPT: "js",
    ProgrammingLanguage.TYPESCRIPT: "ts",
    ProgrammingLanguage.JAVA: "java",
    ProgrammingLanguage.KOTLIN: "kt",
    ProgrammingLanguage.SCALA: "scala",
    ProgrammingLanguage.C: "c",
    ProgrammingLanguage.CPP: "cpp",
    ProgrammingLanguage.CSHARP: "cs",
    ProgrammingLanguage.OBJECTIVE_C: "m",
    ProgrammingLanguage.SWIFT: "swift",
    ProgrammingLanguage.GO: "go",
    ProgrammingLanguage.RUST: "rs",
    ProgrammingLanguage.RUBY: "rb",
    ProgrammingLanguage.PHP: "php",
    ProgrammingLanguage.PERL: "pl",
    ProgrammingLanguage.LUA: "lua",
    ProgrammingLanguage.R: "r",
    ProgrammingLanguage.ERLANG: "erl",
    ProgrammingLanguage.ZIG: "zig",
    ProgrammingLanguage.FORTRAN: "f90",
    ProgrammingLanguage.SOLIDITY: "sol",
    ProgrammingLanguage.VUE: "vue",
    ProgrammingLanguage.SQL: "sql",
}
"""The extension lizard reads each language by, for files whose own name it does not know."""

_CLASS_QUALIFIED = frozenset(
    {ProgrammingLanguage.JAVA, ProgrammingLanguage.CSHARP, ProgrammingLanguage.PHP}
)
"""Languages whose lizard function names are ``Class::method``."""


class FileAnalyzer:
    """Implements :class:`ports.source.CodeAnalyzer` (see the module docstring). Files of
    more than ``max_bytes`` bytes are not parsed; raises ValueError unless ``max_bytes``
    is a positive integer."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive integer (got {max_bytes!r})")
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def analyze(self, relative_path: str, content: bytes) -> FileAnalysis:
        """What ``content``, the bytes of the file at ``relative_path``, holds."""
        decoded = _decode(content)
        text = decoded.text
        language = detect_language(relative_path, text)
        metadata = FileMetadata(
            encoding=decoded.encoding,
            has_bom=decoded.has_bom,
            line_endings=_line_endings(text if text is not None else content.decode("latin-1")),
            skipped_reason=decoded.problem,
        )
        if text is not None:
            if len(content) > self._max_bytes:
                reason = f"too large for analysis ({len(content)} bytes)"
                metadata = attrs.evolve(metadata, skipped_reason=reason)
            else:
                metadata = _with_structure(metadata, relative_path, language, text)
        return FileAnalysis(
            language=language,
            line_count=text.count("\n") if text is not None else 0,
            text=text,
            metadata=metadata,
        )


# --------------------------------------------------------------------------- encoding


@attrs.frozen
class _Decoded:
    text: str | None
    encoding: str
    has_bom: bool = False
    problem: str | None = None


def _decode(content: bytes) -> _Decoded:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            try:
                text = content[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                return _undecodable(f"not valid {encoding} after its byte order mark ({exc})")
            if "\x00" in text[:_BINARY_PROBE]:
                return _BINARY
            return _Decoded(text, encoding, has_bom=True)
    if b"\x00" in content[:_BINARY_PROBE]:
        return _BINARY
    try:
        return _Decoded(content.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # imported when a file needs it, like lizard

    guess = from_bytes(content).best()
    if guess is None:
        return _undecodable("neither UTF-8 nor any encoding charset-normalizer recognises")
    return _Decoded(str(guess), guess.encoding)


_BINARY = _Decoded(None, "binary", problem="binary file")


def _undecodable(why: str) -> _Decoded:
    return _Decoded(None, "unknown", problem=f"undecodable: {why}")


def _line_endings(text: str) -> LineEndingType:
    crlf = text.count("\r\n")
    kinds = [
        kind
        for kind, count in (
            (LineEndingType.CRLF, crlf),
            (LineEndingType.LF, text.count("\n") - crlf),
            (LineEndingType.CR, text.count("\r") - crlf),
        )
        if count
    ]
    if not kinds:
        return LineEndingType.NONE
    return kinds[0] if len(kinds) == 1 else LineEndingType.MIXED


# --------------------------------------------------------------------------- structure


def _with_structure(
    metadata: FileMetadata,
    relative_path: str,
    language: ProgrammingLanguage | None,
    text: str,
) -> FileMetadata:
    """``metadata`` with the functions, classes, imports, exports and metrics of ``text``."""
    reader_path = _lizard_path(relative_path, language)
    if reader_path is None:
        return metadata
    measured = _lizard(reader_path, text)
    found = list(measured.function_list) if measured is not None else []
    python = _python_structure(text, found) if language is ProgrammingLanguage.PYTHON else None
    if python is not None:
        functions, classes, imports, exports = python
        metadata = attrs.evolve(metadata, classes=classes, imports=imports, exports=exports)
    else:
        functions = [f for f in map(_lizard_function, found) if f is not None]
        if language in _CLASS_QUALIFIED:
            metadata = attrs.evolve(metadata, classes=_qualified_classes(functions))
    if measured is not None:
        nloc = measured.nloc
    else:
        nloc = sum(1 for line in text.splitlines() if line.strip())
    return attrs.evolve(metadata, functions=functions, complexity_metrics=_metrics(nloc, functions))


def _lizard_path(relative_path: str, language: ProgrammingLanguage | None) -> str | None:
    """The name lizard should read the file as, or None if it reads no such file."""
    # lizard is imported when a file is analysed, not by every command that loads the
    # adapters (an unchanged rerun analyses nothing)
    from lizard_languages import get_reader_for

    if get_reader_for(relative_path) is not None:
        return relative_path
    extension = _LIZARD_EXTENSION.get(language) if language is not None else None
    return None if extension is None else f"{relative_path}.{extension}"


@functools.cache
def _lizard_analyzer() -> Any:
    """lizard's analysis with the token processors of ``lizard.analyze_file`` but its
    token counter: what is used here (functions, their lines, parameters, complexity and
    lines of code, the file's lines of code) is the same, in about 5 % less time."""
    import lizard

    processors = [lizard.preprocessing, lizard.comment_counter, lizard.line_counter]
    return lizard.FileAnalyzer([*processors, lizard.condition_counter])


def _lizard(reader_path: str, text: str) -> Any:
    try:
        return _lizard_analyzer().analyze_source_code(reader_path, text)
    except Exception as exc:  # lizard's readers are heuristic: any file may trip one
        log.debug("lizard could not read %s: %r", reader_path, exc)
        return None


def _lizard_function(found: Any) -> FunctionSignature | None:
    name = _clip(found.name)
    if not name:
        return None
    start = max(1, int(found.start_line))
    return FunctionSignature(
        name=name,
        parameters=_parameters(found.full_parameters),
        line_start=start,
        line_end=max(start, int(found.end_line)),
        complexity=max(0, int(found.cyclomatic_complexity)),
        nloc=max(0, int(found.nloc)),
    )


def _parameters(raw: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in map(_clip, raw) if p)


def _clip(raw: str) -> str:
    """``raw`` with whitespace runs (and NULs) collapsed to one space, cut to fit."""
    text = " ".join(raw.replace("\x00", " ").split())
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 1] + "…"


def _qualified_classes(functions: Sequence[FunctionSignature]) -> list[ClassSignature]:
    members: dict[str, list[FunctionSignature]] = {}
    for function in functions:
        owner, _, method = function.name.rpartition("::")
        if owner and method:
            members.setdefault(owner, []).append(function)
    return [
        ClassSignature(
            name=owner,
            methods=[m.name.rpartition("::")[2] for m in methods],
            line_start=min(m.line_start for m in methods),
            line_end=max(m.line_end for m in methods),
        )
        for owner, methods in members.items()
    ]


def _metrics(nloc: int, functions: Sequence[FunctionSignature]) -> ComplexityMetrics:
    complexities = [f.complexity for f in functions]
    total = sum(complexities)
    return ComplexityMetrics(
        nloc=nloc,
        function_count=len(functions),
        cyclomatic_total=total,
        cyclomatic_average=total / len(functions) if functions else 0.0,
        cyclomatic_max=max(complexities, default=0),
    )


# --------------------------------------------------------------------------- python

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_BRANCHES = (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.match_case)


_PythonStructure = tuple[
    list[FunctionSignature], list[ClassSignature], list[ImportDeclaration], list[ExportDeclaration]
]


def _python_structure(text: str, measured: Sequence[Any]) -> _PythonStructure | None:
    """The functions, classes, imports and exports of Python ``text``, or None if it
    does not parse (or nests too deeply to walk)."""
    try:
        module = ast.parse(text)
        definitions: list[tuple[str, _FunctionNode | ast.ClassDef]] = []
        imports: list[ast.Import | ast.ImportFrom] = []
        _statements(module.body, "", definitions, imports)
        return (
            _python_functions(definitions, measured),
            _python_classes(definitions),
            _python_imports(imports),
            _python_exports(module),
        )
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        log.debug("not parseable as Python: %r", exc)
        return None


_BLOCKS = ("body", "handlers", "orelse", "finalbody", "cases")
"""The fields of a statement that hold statements (``handlers`` and ``cases`` through
their own ``body``), in source order."""


def _statements(
    body: Sequence[ast.stmt],
    prefix: str,
    definitions: list[tuple[str, _FunctionNode | ast.ClassDef]],
    imports: list[ast.Import | ast.ImportFrom],
) -> None:
    """Every function and class of ``body`` and the statements nested in it, in source
    order with its dotted name, into ``definitions``, and every import into ``imports``.
    Only statements are visited: no definition or import lies inside an expression."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            definitions.append((name, node))
            _statements(node.body, f"{name}.", definitions, imports)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        else:
            for field in _BLOCKS:
                for child in getattr(node, field, ()):
                    if isinstance(child, ast.stmt):
                        _statements((child,), prefix, definitions, imports)
                    else:  # an except handler or a match case
                        _statements(child.body, prefix, definitions, imports)


def _python_functions(
    definitions: Sequence[tuple[str, _FunctionNode | ast.ClassDef]], measured: Sequence[Any]
) -> list[FunctionSignature]:
    """The module's functions, with lizard's complexity for those it measured."""
    by_line = {int(f.start_line): f for f in measured}
    functions = []
    for name, node in definitions:
        if isinstance(node, ast.ClassDef):
            continue
        lizard_found = by_line.get(node.lineno)
        line_end = max(node.lineno, node.end_lineno or node.lineno)
        if lizard_found is not None:
            complexity, nloc = int(lizard_found.cyclomatic_complexity), int(lizard_found.nloc)
        else:
            complexity, nloc = _python_complexity(node), line_end - node.lineno + 1
        functions.append(
            FunctionSignature(
                name=_clip(name),
                parameters=_parameters(_python_parameters(node.args)),
                return_type=_clip(ast.unparse(node.returns)) if node.returns else None,
                line_start=node.lineno,
                line_end=line_end,
                complexity=complexity,
                nloc=nloc,
                is_async=isinstance(node, ast.AsyncFunctionDef),
            )
        )
    return functions


def _python_parameters(args: ast.arguments) -> list[str]:
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    written = [_parameter(arg, default) for arg, default in zip(positional, defaults, strict=True)]
    if args.posonlyargs:
        written.insert(len(args.posonlyargs), "/")
    if args.vararg is not None:
        written.append("*" + _parameter(args.vararg, None))
    elif args.kwonlyargs:
        written.append("*")
    written += [
        _parameter(arg, default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        written.append("**" + _parameter(args.kwarg, None))
    return written


def _parameter(arg: ast.arg, default: ast.expr | None) -> str:
    written = arg.arg
    if arg.annotation is not None:
        written += f": {ast.unparse(arg.annotation)}"
    if default is not None:
        written += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
    return written


def _python_complexity(function: _FunctionNode) -> int:
    """One plus the branches, loops, handlers, boolean operators and comprehension
    conditions of ``function``'s own code (nested functions and classes count apart)."""
    decisions = 0
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, _BRANCHES):
            decisions += 1
        elif isinstance(node, ast.BoolOp):
            decisions += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            decisions += 1 + len(node.ifs)
        pending.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES))
    return 1 + decisions


def _python_classes(
    definitions: Sequence[tuple[str, _FunctionNode | ast.ClassDef]],
) -> list[ClassSignature]:
    return [
        ClassSignature(
            name=_clip(name),
            bases=[b for b in (_clip(ast.unparse(base)) for base in node.bases) if b],
            methods=[
                child.name
                for child in node.body
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            ],
            line_start=node.lineno,
            line_end=max(node.lineno, node.end_lineno or node.lineno),
        )
        for name, node in definitions
        if isinstance(node, ast.ClassDef)
    ]


def _python_imports(nodes: Sequence[ast.Import | ast.ImportFrom]) -> list[ImportDeclaration]:
    imports = []
    for node in nodes:
        if isinstance(node, ast.Import):
            imports += [
                ImportDeclaration(module=_clip(alias.name), alias=alias.asname, line=node.lineno)
                for alias in node.names
            ]
        else:
            imports.append(
                ImportDeclaration(
                    module=_clip("." * node.level + (node.module or "")),
                    names=[
                        _clip(f"{a.name} as {a.asname}" if a.asname else a.name) for a in node.names
                    ],
                    line=node.lineno,
                )
            )
    return sorted(imports, key=lambda i: i.line or 0)


def _python_exports(module: ast.Module) -> list[ExportDeclaration]:
    """``__all__``'s names if the module sets it, else its public top-level names."""
    defined: dict[str, tuple[str, int]] = {}
    listed: list[tuple[str, int]] | None = None
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.setdefault(node.name, ("function", node.lineno))
        elif isinstance(node, ast.ClassDef):
            defined.setdefault(node.name, ("class", node.lineno))
        for target, value in _assignments(node):
            if target == "__all__":
                listed = (listed or []) + [(name, node.lineno) for name in _string_items(value)]
            else:
                defined.setdefault(target, ("variable", node.lineno))
    if listed is None:
        listed = [(name, line) for name, (_, line) in defined.items() if not name.startswith("_")]
    exports: dict[str, ExportDeclaration] = {}
    for name, line in listed:
        kind, defined_at = defined.get(name, ("symbol", line))
        if _clip(name) and name not in exports:
            exports[name] = ExportDeclaration(name=_clip(name), kind=kind, line=defined_at)
    return list(exports.values())


def _assignments(node: ast.stmt) -> Iterator[tuple[str, ast.expr | None]]:
    """The names a top-level assignment statement binds, with the value assigned."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target.id, node.value
    elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
        yield node.target.id, node.value


def _string_items(value: ast.expr | None) -> list[str]:
    if not isinstance(value, ast.List | ast.Tuple):
        return []
    return [
        item.value
        for item in value.elts
        if isinstance(item, ast.Constant) and isinstance(item.value, str)
    ]
