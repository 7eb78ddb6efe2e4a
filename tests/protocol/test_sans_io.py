"""protocol/ must stay free of I/O: it is testable with plain data, like h11."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FORBIDDEN = {"aiohttp", "aiosqlite", "sqlite3", "asyncio", "socket", "requests", "httpx", "node"}
PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(PROTOCOL.rglob("*.py")), ids=lambda p: p.name)
def test_protocol_module_imports_no_io(path: Path) -> None:
    assert not imported_modules(path) & FORBIDDEN


def test_only_identity_calls_into_pynacl() -> None:
    # One module owns every signature primitive, so a context prefix cannot be forgotten.
    users = {p.name for p in PROTOCOL.rglob("*.py") if "nacl" in imported_modules(p)}
    assert users == {"identity.py"}
