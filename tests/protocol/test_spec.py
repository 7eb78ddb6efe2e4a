"""docs/protocol.md and the code say the same thing: error codes, request-signature rules.

The spec is what a second implementation is written from, so where it names a value the code
uses, these tests read both and compare.
"""

from __future__ import annotations

import re
from pathlib import Path

from protocol import httpsig
from protocol.errors import ProtocolError

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "protocol.md").read_text()
NODE_SIDE = "—"


def section(title: str) -> str:
    """The text of the section whose heading is ``title``, up to the next heading."""
    start = SPEC.index(f"\n{title}\n")
    rest = SPEC[start + len(title) + 2 :]
    following = re.search(r"^#{2,3} ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def code_table() -> dict[str, str]:
    """``code -> status`` from the table of §6.2."""
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}|—) \|", section("### 6.2 Error codes"), re.M)
    codes = dict(rows)
    assert len(codes) == len(rows), "a code is listed twice"
    return codes


def protocol_errors() -> list[type[ProtocolError]]:
    found, pending = [], [ProtocolError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def node_side_codes() -> set[str]:
    """Rejection codes the node counts without an exception: ``rejected["..."] += n``."""
    found: set[str] = set()
    for path in (ROOT / "node").rglob("*.py"):
        found.update(re.findall(r'rejected\["([a-z_]+)"\]', path.read_text()))
    return found


def test_every_protocol_error_code_is_listed_with_its_status() -> None:
    table = code_table()
    for cls in protocol_errors():
        assert cls.code in table, f"{cls.__name__} ({cls.code}) is not in §6.2"
        assert table[cls.code] == str(cls.status_hint), cls.code


def test_every_node_side_rejection_code_is_listed() -> None:
    table = code_table()
    node_side = node_side_codes()
    assert "forked_author" in node_side
    assert node_side == {code for code, status in table.items() if status == NODE_SIDE}


def test_the_spec_lists_no_code_the_code_does_not_use() -> None:
    known = {cls.code for cls in protocol_errors()} | node_side_codes()
    assert set(code_table()) == known


def test_the_request_signature_rules_are_the_ones_enforced() -> None:
    rules = section("### 9.5 Request signatures")
    covered = " ".join(f'"{name}"' for name in httpsig.COVERED_COMPONENTS)
    assert f"hb=({covered})" in rules
    assert f"`{httpsig.NONCE_PATTERN}`" in rules
    assert httpsig.HEADER_RECIPIENT + ":" in rules
    for param in httpsig.REQUIRED_PARAMS:
        assert f"`{param}`" in rules
    assert f"`now − {httpsig.DEFAULT_MAX_AGE} ≤ created ≤ now + {httpsig.MAX_CLOCK_SKEW}`" in rules
    assert f"{httpsig.MAX_HEADER_LENGTH:,} characters" in rules
    assert f"{httpsig.MAX_PATH_LENGTH:,}" in rules
