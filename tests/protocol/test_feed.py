from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.body import AddBody
from protocol.entry import Entry, sign_entry
from protocol.errors import (
    BrokenChainError,
    ForkError,
    InvalidValueError,
    ProtocolError,
    TimestampError,
    UnauthorizedError,
)
from protocol.feed import (
    MAX_CLOCK_SKEW_MS,
    FeedHead,
    ForkProof,
    Placement,
    SelfCertifying,
    check_timestamp,
    decode_fork_proof,
    place,
)
from tests.builders import BASE_TS, Author, pdq_item


def forked_pair(author: Author, seq: int = 2) -> tuple[Entry, Entry]:
    for _ in range(seq - 1):
        author.add()
    base = list(author.entries)
    a = author.add(pdq_item(100))
    author.entries = base
    b = author.add(pdq_item(200))
    return a, b


def test_a_feed_is_placed_entry_by_entry() -> None:
    author = Author(1)
    e1, e2, e3 = author.add(), author.add(), author.add()
    assert place(e1, None, None) is Placement.NEXT
    assert place(e2, FeedHead.of(e1), None) is Placement.NEXT
    assert place(e3, FeedHead.of(e1), None) is Placement.AHEAD
    assert place(e2, None, None) is Placement.AHEAD
    assert place(e2, FeedHead.of(e3), e2) is Placement.DUPLICATE


def test_wrong_prev_breaks_the_chain() -> None:
    author = Author(1)
    e1 = author.add()
    other = Author(1)
    other.clock += 5
    other.add(pdq_item(9))
    stranger_second = other.add()
    with pytest.raises(BrokenChainError, match="names prev"):
        place(stranger_second, FeedHead.of(e1), None)


def test_timestamps_may_not_go_backwards_or_far_into_the_future() -> None:
    author = Author(1)
    e1 = author.add()
    author.clock = BASE_TS - 10_000
    e2 = author.add()
    with pytest.raises(TimestampError, match="before its predecessor"):
        place(e2, FeedHead.of(e1), None)
    now = e1.header.timestamp_ms - MAX_CLOCK_SKEW_MS - 1
    with pytest.raises(TimestampError, match="ahead of now"):
        check_timestamp(e1, now)
    check_timestamp(e1, now + 1)


def test_self_certifying_policy_accepts_only_the_org_key() -> None:
    author, thief = Author(1), Author(2)
    policy = SelfCertifying()
    policy.authorize(author.add().header)
    forged = sign_entry(
        thief.key,
        author=author.org,
        seq=2,
        prev=author.entries[-1].id,
        timestamp_ms=BASE_TS + 10_000,
        body=AddBody((pdq_item(5),)),
    )
    with pytest.raises(UnauthorizedError, match="does not belong"):
        policy.authorize(forged.header)


@given(st.integers(1, 5))
def test_forks_are_detected_and_their_proofs_verify_for_anyone(seq: int) -> None:
    a, b = forked_pair(Author(seq), seq)
    with pytest.raises(ForkError) as caught:
        place(b, None, a)
    proof = caught.value.proof
    assert isinstance(proof, ForkProof)
    decoded = decode_fork_proof(proof.encode(), SelfCertifying())
    assert decoded.author == Author(seq).org
    assert decoded.seq == seq
    assert {decoded.first.id, decoded.second.id} == {a.id, b.id}
    assert decoded.first.erased
    assert decoded.second.erased


def test_a_fork_proof_of_one_entry_twice_is_refused() -> None:
    author = Author(1)
    entry = author.add()
    with pytest.raises(InvalidValueError):
        ForkProof.of(entry, entry)


def test_a_fork_proof_with_a_forged_half_is_refused() -> None:
    author, thief = Author(1), Author(2)
    real = author.add()
    forged = sign_entry(
        thief.key,
        author=author.org,
        seq=1,
        prev=None,
        timestamp_ms=BASE_TS,
        body=AddBody((pdq_item(7),)),
    )
    proof = ForkProof.of(real, forged)
    with pytest.raises(UnauthorizedError):
        decode_fork_proof(proof.encode(), SelfCertifying())


def test_a_tampered_fork_proof_is_refused() -> None:
    a, b = forked_pair(Author(3))
    data = bytearray(ForkProof.of(a, b).encode())
    data[len(data) // 2] ^= 0x01
    with pytest.raises(ProtocolError):
        decode_fork_proof(bytes(data), SelfCertifying())
