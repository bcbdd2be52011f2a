"""A package's names, loaded with their modules when first used.

``domain`` and ``ports`` name what their modules define (``from domain import Project``)
without importing every module when one is imported (``import domain.errors`` loads
only the errors): a command that needs few of them, such as ``codeant --help``, starts
without the rest.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_export"]


def lazy_export(package: str, homes: Mapping[str, tuple[str, ...]], name: str) -> Any:
    """``name`` of ``package``, from the module of ``homes`` (module -> names) that
    defines it, kept in the package once loaded; AttributeError for any other name."""
    for module, names in homes.items():
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{module}"), name)
            setattr(sys.modules[package], name, value)
            return value
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
