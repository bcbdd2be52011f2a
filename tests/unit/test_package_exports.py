"""``domain`` and ``ports`` name what their modules define, each loaded when first used:
importing one module (``domain.errors``) does not import the rest."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["domain", "ports"])
def test_every_exported_name_is_its_modules_own(package: str) -> None:
    """``__all__`` and the modules the package loads names from list the same names, and
    each name is the object its module defines."""
    loaded = importlib.import_module(package)
    homes = loaded._HOMES
    assert sorted(n for names in homes.values() for n in names) == sorted(loaded.__all__)
    for module, names in homes.items():
        defining = importlib.import_module(f"{package}.{module}")
        for name in names:
            assert getattr(loaded, name) is getattr(defining, name), (package, name)


@pytest.mark.parametrize("package", ["domain", "ports"])
def test_a_name_the_package_does_not_export_is_an_attribute_error(package: str) -> None:
    loaded = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'Nope'"):
        loaded.Nope  # noqa: B018 (the lookup is the test)


def test_importing_the_error_modules_loads_no_entity_or_repository_module() -> None:
    """What a command imports to report errors (``domain.errors``, ``ports.errors``) comes
    without the entities and repositories, which load only once a name of them is used."""
    script = (
        "import sys, domain.errors, ports.errors\n"
        "print(sorted(m for m in sys.modules if m in {'domain.analysis', 'domain.files',"
        " 'ports.repositories', 'ports.vectors'}))\n"
        "from domain import FileIndex\n"
        "print('domain.files' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
