"""Real code to benchmark with: the Python sources of the standard library and of the
installed packages (files for the file index, functions for the embeddings)."""

from __future__ import annotations

import ast
import os
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import attrs

__all__ = ["SourceFile", "functions", "source_files"]

_SKIPPED_DIRS = frozenset({"site-packages", "__pycache__", "test", "tests", "idlelib"})
_DOCSTRING_RE = re.compile(r'^\s*(?:#[^\n]*\n\s*)*[rRbBuU]?("""|\'\'\')\s*([^\n]*)', re.S)


@attrs.frozen
class SourceFile:
    relative_path: str
    path: Path
    size_bytes: int


def _roots() -> list[tuple[str, Path]]:
    paths = sysconfig.get_paths()
    roots = [("stdlib", Path(paths["stdlib"])), ("site-packages", Path(paths["purelib"]))]
    return [(label, root) for label, root in roots if root.is_dir()]


def _walk(root: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory) / name


def source_files() -> Iterator[SourceFile]:
    """Every ``.py`` file of the standard library, then of site-packages (tests skipped),
    in a fixed order."""
    for label, root in _roots():
        for path in _walk(root):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            yield SourceFile(f"{label}/{path.relative_to(root).as_posix()}", path, size)


def description(file: SourceFile) -> str | None:
    """The first line of the module docstring of ``file``, if it has one."""
    try:
        with file.path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    match = _DOCSTRING_RE.match(head)
    return (match.group(2).strip().rstrip("\"'") or None) if match else None


def functions(count: int) -> list[str]:
    """The source text of ``count`` distinct functions (fewer if the machine has fewer),
    in file order."""
    seen: set[str] = set()
    out: list[str] = []
    for file in source_files():
        try:
            text = file.path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        lines = text.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if source not in seen:
                    seen.add(source)
                    out.append(source)
                    if len(out) >= count:
                        return out
    return out
