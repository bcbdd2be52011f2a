"""A small git repository for the end-to-end tests, built in a temporary directory.

It holds Python (a complex function, a function of seven parameters, TODO and FIXME
markers, and one function copied verbatim into two modules), JavaScript, Go, C, a Markdown
README, a PNG (binary) and a file whose bytes decode in no encoding. Every commit has
fixed dates and author, and a second branch ``feature`` sits beside ``main``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import attrs

__all__ = [
    "ADDED",
    "CLEANUP_B",
    "COMMIT_DATE",
    "DUPLICATED_FUNCTION",
    "EXPECTED_RESULTS",
    "EXPECTED_RESULTS_AFTER_CHANGES",
    "EXPECTED_VIOLATIONS",
    "FILES",
    "LANGUAGES",
    "MODIFIED",
    "REMOVED",
    "SECOND_COMMIT_DATE",
    "SKIPPED",
    "SampleRepo",
    "build_sample_repo",
    "line_of",
    "tracked_files",
]

COMMIT_DATE = "2024-03-04T05:06:07+00:00"
"""Author and committer date of the sample's commits."""

ROUTING = '''\
"""Routing of orders to warehouses."""

WAREHOUSES = {"north": 1, "south": 2, "east": 3, "west": 4}


def route_order(order):
    """Pick the warehouse of an order."""
    # TODO: read the routing table from the configuration
    if order is None:
        return None
    if order.get("express"):
        if order.get("weight", 0) > 30:
            return "freight"
        return "air"
    if order.get("region") == "north":
        return WAREHOUSES["north"]
    elif order.get("region") == "south":
        return WAREHOUSES["south"]
    elif order.get("region") == "east":
        return WAREHOUSES["east"]
    elif order.get("region") == "west":
        return WAREHOUSES["west"]
    for item in order.get("items", []):
        if item.get("fragile") and item.get("large"):
            return "special"
        while item.get("pending"):
            item["pending"] -= 1
    try:
        return order["fallback"]
    except KeyError:
        return "default"


def build_invoice(customer, items, currency, discount, tax_rate, shipping, notes):
    """The invoice of an order."""
    total = sum(item["price"] for item in items)  # FIXME: rounding of half cents
    total = total * (1 - discount) * (1 + tax_rate) + shipping
    return {"customer": customer, "total": total, "currency": currency, "notes": notes}
'''

DUPLICATED_FUNCTION = "normalize_record"
"""The function copied verbatim into ``orders/cleanup_a.py`` and ``orders/cleanup_b.py``."""

_DUPLICATE = '''\
def normalize_record(record):
    """A record with trimmed keys, lower-case strings and no empty values."""
    cleaned = {}
    for key, value in record.items():
        name = key.strip().lower()
        if isinstance(value, str):
            value = value.strip().lower()
        if value in ("", None):
            continue
        cleaned[name] = value
    return cleaned
'''

CLEANUP_A = f'''\
"""Cleaning of imported customer records."""

{_DUPLICATE}

def split_name(full_name):
    """First and last name of a full name."""
    first, _, last = full_name.partition(" ")
    return first, last
'''

CLEANUP_B = f'''\
"""Cleaning of imported supplier records."""

import json


def load(path):
    """The records of a JSON file."""
    with open(path) as handle:
        return json.load(handle)


{_DUPLICATE}'''

APP_JS = """\
// Client side of the order form.
function totalPrice(items) {
  let total = 0;
  for (const item of items) {
    total += item.price * item.quantity;
  }
  return total;
}

function formatPrice(value, currency) {
  return value.toFixed(2) + " " + currency;
}

module.exports = { totalPrice, formatPrice };
"""

MAIN_GO = """\
package main

import "fmt"

// TODO: serve the routing table over HTTP
func main() {
\tfmt.Println(greeting("orders"))
}

func greeting(name string) string {
\tif name == "" {
\t\treturn "hello"
\t}
\treturn "hello " + name
}
"""

CHECKSUM_C = """\
#include <stddef.h>

unsigned int checksum(const unsigned char *data, size_t length) {
    unsigned int sum = 0;
    for (size_t i = 0; i < length; i++) {
        sum = (sum << 1) ^ data[i];
    }
    return sum;
}
"""

README = """\
# Orders

Routing, invoicing and cleaning of orders.

- `orders/`: the Python services
- `web/`: the order form
"""

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)

_CONTROLS = bytes(b for b in range(1, 32) if b not in b"\t\n\r")
UNDECODABLE = (_CONTROLS + b"\xff\xfe\xc3\x28") * 10 + b"\n"
"""Bytes no encoding fits: not UTF-8 (0xFF, 0xFE, a lone 0xC3), and control characters
throughout, which make every single-byte code page read as gibberish; no NUL byte, so it
is not taken for binary either."""

FILES: dict[str, bytes] = {
    "README.md": README.encode(),
    "orders/__init__.py": b"",
    "orders/routing.py": ROUTING.encode(),
    "orders/cleanup_a.py": CLEANUP_A.encode(),
    "orders/cleanup_b.py": CLEANUP_B.encode(),
    "web/app.js": APP_JS.encode(),
    "cmd/server/main.go": MAIN_GO.encode(),
    "native/checksum.c": CHECKSUM_C.encode(),
    "assets/logo.png": PNG,
    "data/legacy.dat": UNDECODABLE,
}
"""The files of the first commit."""

LANGUAGES: dict[str, str] = {
    "README.md": "markdown",
    "orders/__init__.py": "python",
    "orders/routing.py": "python",
    "orders/cleanup_a.py": "python",
    "orders/cleanup_b.py": "python",
    "web/app.js": "javascript",
    "cmd/server/main.go": "go",
    "native/checksum.c": "c",
}
"""The language each text file of the first commit must be recorded with."""

SKIPPED = ("assets/logo.png", "data/legacy.dat")
"""The files the analyser cannot read as text: a binary one and an undecodable one."""


def line_of(content: str, needle: str) -> int:
    """The 1-based number of the only line of ``content`` that contains ``needle``."""
    numbers = [n for n, line in enumerate(content.splitlines(), start=1) if needle in line]
    if len(numbers) != 1:
        raise AssertionError(f"{needle!r} is on lines {numbers}, expected exactly one")
    return numbers[0]


EXPECTED_RESULTS: tuple[tuple[str, str, int], ...] = tuple(
    sorted(
        [
            ("complex-function", "orders/routing.py", line_of(ROUTING, "def route_order(")),
            ("too-many-parameters", "orders/routing.py", line_of(ROUTING, "def build_invoice(")),
            ("todo-marker", "orders/routing.py", line_of(ROUTING, "# TODO")),
            ("todo-marker", "orders/routing.py", line_of(ROUTING, "# FIXME")),
            ("todo-marker", "cmd/server/main.go", line_of(MAIN_GO, "// TODO")),
            ("near-duplicate-function", "orders/cleanup_b.py",
             line_of(CLEANUP_B, f"def {DUPLICATED_FUNCTION}(")),
        ]
    )
)  # fmt: skip
"""(rule id, path, first line) of every result the first index must record."""

EXPECTED_VIOLATIONS = frozenset(
    {
        ("orders/routing.py", "cyclomatic_max"),
        ("orders/routing.py", "max_parameters"),
        ("orders/cleanup_b.py", "duplicate_functions"),
    }
)
"""(path, metric name) of every metric over its limit after the first index."""

# The second commit: one file modified, one added, one removed.
MODIFIED = "web/app.js"
ADDED = "orders/extra.py"
REMOVED = "cmd/server/main.go"
SECOND_COMMIT_DATE = "2024-03-05T08:09:10+00:00"
MODIFIED_CONTENT = APP_JS + "// TODO: take the currency from the locale\n"
ADDED_CONTENT = '''\
"""Hooks for later."""


def on_shipped(order):
    """Called once an order has left the warehouse."""
    # HACK: nothing to notify yet
    return order
'''

EXPECTED_RESULTS_AFTER_CHANGES = tuple(
    sorted(
        [r for r in EXPECTED_RESULTS if r[1] != REMOVED]
        + [
            ("todo-marker", MODIFIED, line_of(MODIFIED_CONTENT, "// TODO")),
            ("todo-marker", ADDED, line_of(ADDED_CONTENT, "# HACK")),
        ]
    )
)
"""(rule id, path, first line) of every result of the job after the second commit."""


@attrs.frozen
class SampleRepo:
    """A sample repository: its work tree, and the environment its git commands run in."""

    root: Path
    env: Mapping[str, str]

    def git(self, *args: str, date: str = COMMIT_DATE) -> str:
        """The standard output of ``git ARGS`` run in the work tree (checked), with
        author and committer dates ``date``."""
        done = subprocess.run(
            ["git", "-c", "user.name=Sample Author", "-c", "user.email=author@example.com",
             *args],
            cwd=self.root, env={**self.env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    def write(self, relative_path: str, content: bytes) -> None:
        """Write ``content`` to the file at ``relative_path`` (directories created)."""
        path = self.root / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def commit_all(self, message: str, *, date: str = COMMIT_DATE) -> str:
        """Stage everything, commit it as of ``date`` and return the commit hash."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message, date=date)
        return self.git("rev-parse", "HEAD").strip()

    def head(self) -> str:
        """The commit hash of HEAD."""
        return self.git("rev-parse", "HEAD").strip()

    def apply_changes(self) -> str:
        """Commit the second change set (:data:`MODIFIED`, :data:`ADDED`, :data:`REMOVED`)
        on ``main``; returns the new HEAD."""
        self.write(MODIFIED, MODIFIED_CONTENT.encode())
        self.write(ADDED, ADDED_CONTENT.encode())
        (self.root / REMOVED).unlink()
        return self.commit_all("Locale TODO, shipping hook, no server", date=SECOND_COMMIT_DATE)

    def tracked(self) -> dict[str, bytes]:
        """:func:`tracked_files` of this repository."""
        return tracked_files(self.root, self.env)


def build_sample_repo(root: Path, home: Path) -> SampleRepo:
    """Create the sample repository in ``root`` (git's global configuration in ``home``):
    one commit of :data:`FILES` on ``main``, and a branch ``feature`` one commit ahead."""
    root.mkdir(parents=True)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "CODEANT_"))
    }
    env |= {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    repo = SampleRepo(root=root.resolve(), env=env)
    repo.git("init", "--quiet", "--initial-branch", "main")
    for relative_path, content in FILES.items():
        repo.write(relative_path, content)
    repo.commit_all("Orders: routing, invoicing, cleaning")
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.write("docs/notes.md", b"# Notes\n\nWork in progress.\n")
    repo.commit_all("Notes")
    repo.git("checkout", "--quiet", "main")
    return repo


def tracked_files(root: Path, env: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """What the git reader indexes of the work tree at ``root``: every path ``git
    ls-files`` lists that is UTF-8 and a file (or symbolic link) of the working tree, with
    its bytes (a link's bytes are its target; submodules and missing files are left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, env=None if env is None else dict(env),
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    files: dict[str, bytes] = {}
    for raw in listed.split(b"\0"):
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not name:
            continue
        path = root / name
        if path.is_symlink():
            files[name] = os.fsencode(os.readlink(path))
        elif path.is_file():
            files[name] = path.read_bytes()
    return files
