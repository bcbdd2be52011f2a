"""The runnable examples under examples/: each runs as a program of its own, as a reader
would run it, and prints what it says it does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

EXPECTED: dict[str, list[str]] = {
    "quickstart.py": [
        r"project acme/billing-api, repository https://git\.example\.com/acme/billing-api\.git",
        r"job [0-9a-f-]{36} completed: 2 files, 2 issues",
        r"2 issues in the last 30 days",
        r"  low    maintainability  1",
        r"  info   documentation    1",
    ],
}
"""The lines each example prints, as patterns, in order."""


def test_every_example_has_its_expected_output() -> None:
    """A new example is checked too: each one under examples/ has its lines here."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_runs_and_prints_what_it_does(name: str, tmp_path: Path) -> None:
    """The example exits 0, prints its lines and nothing on stderr, run from elsewhere
    with the project importable (as an installed package is)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CODEANT_")}
    env |= {"PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    shown = f"stdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.returncode == 0, shown
    assert done.stderr == "", shown
    lines = done.stdout.splitlines()
    assert len(lines) == len(EXPECTED[name]), shown
    for line, pattern in zip(lines, EXPECTED[name], strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} !~ {pattern!r}\n{shown}"
