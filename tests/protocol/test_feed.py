from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import wire
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
    Standing,
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
    for half in wire.decode(proof.encode(), max_size=10**6):
        assert wire.decode(half, max_size=10**6)[2] is None  # headers only: no bodies


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


class Takedowns:
    """Takedowns of one range, for any author (a ``Coverage``)."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last

    def covered(self, author: bytes, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last


def test_a_suspended_feed_takes_nothing_at_or_above_its_fork_seq() -> None:
    author = Author(1)
    e1, e2, e3 = author.add(), author.add(), author.add()
    assert place(e3, FeedHead.of(e2), None, fork_seq=3) is Placement.SUSPENDED
    # A copy of what the node holds there is a duplicate; it completes nothing.
    assert place(e3, FeedHead.of(e3), e3, fork_seq=3) is Placement.DUPLICATE
    stripped = e3.without_body()
    assert place(e3, FeedHead.of(e3), stripped, stored_incomplete=True, fork_seq=3) is (
        Placement.DUPLICATE
    )
    assert place(e2, FeedHead.of(e1), None, fork_seq=3) is Placement.NEXT


def test_a_copy_with_its_body_completes_an_incomplete_one_and_never_the_reverse() -> None:
    author = Author(1)
    e1 = author.add()
    stripped = e1.without_body()
    head = FeedHead.of(e1)
    assert place(e1, head, stripped, stored_incomplete=True) is Placement.COMPLETES
    assert place(e1, head, stripped, stored_incomplete=False) is Placement.DUPLICATE  # erased
    assert place(stripped, head, e1) is Placement.DUPLICATE


def test_a_feed_goes_on_past_taken_down_seqs_without_them() -> None:
    author = Author(1)
    e1, e2 = author.add(), author.add()
    base = list(author.entries)
    thief = author.add(pdq_item(66))  # seq 3, on the thief's branch
    author.entries = base
    honest3, honest4, e5 = author.add(), author.add(), author.add()
    takedowns = Takedowns(3, 4)
    # Whatever a node holds at the taken-down seq 3, seq 4 follows it unchecked …
    assert place(honest4, FeedHead.of(thief), None, takedowns=takedowns) is Placement.NEXT
    with pytest.raises(BrokenChainError):
        place(honest4, FeedHead.of(thief), None)
    # … and seq 5 follows seq 2 directly: the taken-down seqs need not be held.
    assert place(e5, FeedHead.of(e2), None, takedowns=takedowns) is Placement.NEXT
    assert place(e5, FeedHead.of(e2), None) is Placement.AHEAD
    assert place(honest4, FeedHead.of(e2), None, takedowns=takedowns) is Placement.AHEAD
    # A seq the feed skipped is ignored when it turns up.
    assert place(honest3, FeedHead.of(e5), None, takedowns=takedowns) is Placement.DUPLICATE
    assert e1.seq == 1


def test_a_fork_of_two_revokes_is_proven_by_their_headers() -> None:
    author = Author(4)
    add = author.add()
    base = list(author.entries)
    honest = author.revoke(add)
    author.entries = base
    rival = author.revoke(add, (0,))
    proof = ForkProof.of(honest, rival)
    decoded = decode_fork_proof(proof.encode(), SelfCertifying())
    assert decoded.seq == 2
    assert decoded.standing(SelfCertifying()) is Standing.COUNTS
    with_body = wire.encode([honest.raw, rival.raw])
    with pytest.raises(InvalidValueError):
        decode_fork_proof(with_body, SelfCertifying())
    swapped = wire.encode([proof.second.envelope(), proof.first.envelope()])
    with pytest.raises(InvalidValueError, match="lower id first"):
        decode_fork_proof(swapped, SelfCertifying())


def _nothing_proven(case: str) -> list[Entry]:
    a, _ = forked_pair(Author(5))
    if case == "one header twice":
        return [a, a]
    if case == "two authors":
        return [a, forked_pair(Author(6))[0]]
    later = Author(5)
    later.add()
    later.add()
    return [a, later.add()]  # seq 3 of the same author


@pytest.mark.parametrize("case", ["one header twice", "two authors", "two seqs"])
def test_proofs_that_prove_nothing_are_refused_on_decoding(case: str) -> None:
    """A hostile peer's hand-made proof: one header twice, or two headers that do not share an
    author and a seq, however validly each is signed."""
    halves = sorted((e.signed_header() for e in _nothing_proven(case)), key=lambda h: h.id)
    data = wire.encode([h.envelope() for h in halves])
    with pytest.raises(InvalidValueError, match="two different entries"):
        decode_fork_proof(data, SelfCertifying())
