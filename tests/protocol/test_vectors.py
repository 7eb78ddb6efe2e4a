"""The test vectors printed in docs/protocol.md are what this implementation produces."""

from __future__ import annotations

from pathlib import Path

from protocol.charter import check_genesis, decode_charter
from protocol.entry import decode_entry
from protocol.feed import SelfCertifying, decode_fork_proof
from protocol.vectors import build, render

SPEC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_spec_carries_exactly_the_generated_vectors() -> None:
    text = SPEC.read_text()
    block = text.split("<!-- vectors:begin -->\n", 1)[1].split("<!-- vectors:end -->", 1)[0]
    assert block == render()


def test_vector_entries_decode_and_chain() -> None:
    v = build()
    add, revoke, feedback = (decode_entry(e.raw) for e in (v.add, v.revoke, v.feedback))
    assert revoke.header.prev == add.id
    assert feedback.header.prev == revoke.id
    proof = decode_fork_proof(v.fork.encode(), SelfCertifying())
    assert feedback.id in {proof.first.id, proof.second.id}
    check_genesis(decode_charter(v.charter.encode()))
