"""The test vectors printed in docs/protocol.md are what this implementation produces."""

from __future__ import annotations

from pathlib import Path

from protocol.charter import check_genesis, decode_charter
from protocol.entry import decode_entry
from protocol.feed import SelfCertifying, decode_fork_proof
from protocol.httpsig import ReplayCache, verify_request
from protocol.vectors import REQUEST_METHOD, REQUEST_PATH, build, render

SPEC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_spec_carries_exactly_the_generated_vectors() -> None:
    text = SPEC.read_text()
    block = text.split("<!-- vectors:begin -->\n", 1)[1].split("<!-- vectors:end -->", 1)[0]
    assert block == render()


def test_the_vector_bytes_never_change() -> None:
    # Other implementations test against these: a change here is a wire-format change.
    v = build()
    assert v.add.id.hex() == "ee94ecfd295a366768ced71201472969f2c19eff727924bcf48e4ebbf89de103"
    assert v.revoke.id.hex() == "2e1348cf881d552d469b2912b9b7f5b450d2d6bd1019a05b0482f06ca31f1a79"
    assert v.feedback.id.hex() == (
        "2d5b82c59c4e09666f25ef8902fa47ddaece1954ef33203258763033b1793454"
    )
    assert v.digest_after_add.hex() == (
        "9e15b0e1774aa2d7d99873a1a23b7d1ae9f1386194a488745f9e0d50e4c99157"
    )
    assert v.digest_after_revoke.hex() == (
        "6723af408f2679a9247dc12e7b684d6f87f8bd52542066d6da3cf7087dc4bd80"
    )
    assert v.charter.id.hex() == "e8490da7e97898e384c71afa133a8c8bdf56bb3b027ec07c736fc03b82bab7c1"


def test_vector_entries_decode_and_chain() -> None:
    v = build()
    add, revoke, feedback = (decode_entry(e.raw) for e in (v.add, v.revoke, v.feedback))
    assert revoke.header.prev == add.id
    assert feedback.header.prev == revoke.id
    proof = decode_fork_proof(v.fork.encode(), SelfCertifying())
    assert feedback.id in {proof.first.id, proof.second.id}
    check_genesis(decode_charter(v.charter.encode()))


def test_vector_request_verifies_for_its_recipient() -> None:
    v = build()
    signed = verify_request(
        recipient=v.request.recipient.public_key,
        method=REQUEST_METHOD,
        path=REQUEST_PATH,
        headers=v.request.headers,
        body=v.request.body,
        now=v.request.created,
        replay=ReplayCache(window_seconds=60),
        accept_key=lambda key: key == v.key.public_key,
    )
    assert signed.key == v.key.public_key
