from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.entry import Entry
from protocol.errors import InvalidValueError, MalformedError, TooLargeError
from protocol.sync import (
    EntryState,
    FeedDigest,
    FeedRow,
    Head,
    HoldBack,
    PullSync,
    Range,
    compare_feeds,
    compare_heads,
    decode_digests,
    decode_entries,
    decode_feed,
    decode_feed_request,
    decode_heads,
    decode_ranges,
    disagreeing,
    encode_digests,
    encode_entries,
    encode_feed,
    encode_feed_request,
    encode_heads,
    encode_ranges,
)
from tests.builders import Author


def heads(**seqs: int) -> dict[bytes, Head]:
    return {
        name.encode().ljust(32, b"_"): Head(
            name.encode().ljust(32, b"_"), s, (s % 256).to_bytes(1, "big") * 32
        )
        for name, s in seqs.items()
    }


A, B, C = (n.encode().ljust(32, b"_") for n in "abc")


def test_compare_heads_wants_offers_and_checks() -> None:
    ours, theirs = heads(a=5, b=2), heads(a=3, b=7, c=1)
    comparison = compare_heads(ours, theirs)
    assert comparison.want == (Range(B, 3, 7), Range(C, 1, 1))
    assert comparison.offer == (Range(A, 4, 5),)
    assert comparison.check == (theirs[A],)


def test_a_peer_that_lost_its_state_is_offered_everything() -> None:
    comparison = compare_heads(heads(a=5, b=9), {})
    assert comparison.offer == (Range(A, 1, 5), Range(B, 1, 9))
    assert comparison.want == ()


def test_a_forked_feed_is_compared_below_its_fork_seq_only() -> None:
    # Forked at seq 7: seqs 6 and below are still fetched and offered, nothing from 7 on.
    comparison = compare_heads(heads(a=5, c=9), heads(a=9, b=1, c=3), forked={A: 7, C: 7})
    assert comparison.want == (Range(A, 6, 6), Range(B, 1, 1))
    assert comparison.offer == (Range(C, 4, 6),)
    assert [h.author for h in comparison.check] == [C]  # c's peer head (3) is below the fork
    assert compare_heads(heads(a=5), heads(a=9), forked={A: 1}).want == ()


def test_pull_sync_requests_bounded_batches_until_done() -> None:
    sync = PullSync(heads(a=0 + 1), heads(a=1200, b=10), batch_entries=500)
    seen = []
    progress = {A: 1, B: 0}
    while not sync.done:
        request = sync.next_request()
        assert sum(len(r) for r in request) <= 500
        seen.extend(request)
        for r in request:
            progress[r.author] = r.last
        sync.received(request, dict(progress))
    assert progress == {A: 1200, B: 10}
    assert not sync.stalled


def test_a_feed_that_makes_no_progress_is_dropped_without_stalling_the_rest() -> None:
    sync = PullSync({}, heads(a=10, b=10), batch_entries=100)
    request = sync.next_request()
    sync.received(request, {B: 10})  # the peer sent nothing usable for a
    assert sync.done
    assert sync.stalled == {A}


def test_partial_progress_resumes_where_it_stopped() -> None:
    sync = PullSync({}, heads(a=10), batch_entries=100)
    sync.received(sync.next_request(), {A: 4})
    assert sync.next_request() == [Range(A, 5, 10)]


def test_batch_size_is_bounded() -> None:
    with pytest.raises(InvalidValueError):
        PullSync({}, {}, batch_entries=10_000)


def hold(held: HoldBack, entry: Entry, head: int = 0, now: float = 0.0) -> bool:
    return held.hold(entry.author, entry.seq, entry.raw, head_seq=head, now=now)


def test_hold_back_releases_contiguous_entries_and_reports_gaps() -> None:
    author = Author(1)
    entries = [author.add() for _ in range(6)]
    held = HoldBack()
    for e in entries[3:]:
        assert hold(held, e, head=1)
    assert held.gaps({author.org: 1}) == [Range(author.org, 2, 3)]
    assert held.release(author.org, 2) == []
    assert held.release(author.org, 4) == [e.raw for e in entries[3:]]
    assert len(held) == 0
    assert held.size == 0


def test_hold_back_is_bounded() -> None:
    author = Author(1)
    held = HoldBack(max_per_author=2, max_total=10)
    entries = [author.add() for _ in range(4)]
    assert [hold(held, e) for e in entries[1:]] == [True, True, False]
    held.discard_through(author.org, 2)
    assert len(held) == 1


def test_hold_back_holds_only_a_window_past_the_head() -> None:
    author = Author(1)
    far = author.add()
    held = HoldBack(window=10)
    assert not held.hold(author.org, 12, far.raw, head_seq=1, now=0.0)
    assert held.hold(author.org, 11, far.raw, head_seq=1, now=0.0)


def test_hold_back_is_bounded_in_bytes_per_author_and_in_all() -> None:
    raw = b"x" * 1000
    held = HoldBack(max_bytes_per_author=2500, max_bytes=4000)
    assert [held.hold(A, s, raw, head_seq=0, now=0.0) for s in (2, 3, 4)] == [True, True, False]
    assert held.size == 2000
    assert held.hold(B, 2, raw, head_seq=0, now=0.0)
    assert held.hold(B, 3, raw, head_seq=0, now=0.0)
    assert held.size == 4000


def test_a_flooding_author_cannot_push_out_an_author_holding_less() -> None:
    held = HoldBack(max_bytes=10_000)
    honest = [held.hold(A, s, b"h" * 100, head_seq=0, now=0.0) for s in (2, 3)]
    flood = [held.hold(B, s, b"f" * 1000, head_seq=0, now=0.0) for s in range(2, 40)]
    assert honest == [True, True]
    assert flood.count(True) == 9  # what fits beside the honest author's 200 bytes
    # A third author, holding nothing, takes room from the largest holder, not from A.
    assert held.hold(C, 2, b"c" * 1000, head_seq=0, now=0.0)
    assert held.release(A, 2) == [b"h" * 100, b"h" * 100]
    assert len(held.release(B, 2)) == 8  # B lost its furthest-ahead entry
    # The largest holder keeps what it has against a newcomer that would hold as much.
    full = HoldBack(max_bytes=2000)
    assert full.hold(A, 2, b"a" * 1000, head_seq=0, now=0.0)
    assert full.hold(A, 3, b"a" * 1000, head_seq=0, now=0.0)
    assert full.hold(B, 2, b"b" * 1000, head_seq=0, now=0.0)  # A holds 2000 > B's 1000
    assert not full.hold(B, 3, b"b" * 1000, head_seq=0, now=0.0)  # A's 1000 ≤ B's 2000


def test_held_entries_expire() -> None:
    held = HoldBack(max_age=60.0)
    held.hold(A, 2, b"x", head_seq=0, now=100.0)
    held.hold(A, 3, b"y", head_seq=0, now=150.0)
    assert held.expire(170.0) == 1
    assert held.release(A, 3) == [b"y"]


@given(
    st.lists(
        st.tuples(st.binary(min_size=32, max_size=32), st.integers(1, 2**40)),
        unique_by=lambda t: t[0],
    )
)
def test_heads_message_round_trips(rows: list[tuple[bytes, int]]) -> None:
    hs = [Head(a, s, bytes(32)) for a, s in rows]
    assert decode_heads(encode_heads(hs)) == {h.author: h for h in hs}


def test_unsorted_heads_are_refused() -> None:
    data = encode_heads([])
    assert decode_heads(data) == {}
    from protocol import wire

    rows = [[B, 1, bytes(32)], [A, 1, bytes(32)]]
    with pytest.raises(InvalidValueError, match="sorted"):
        decode_heads(wire.encode(rows))


def test_range_requests_round_trip_and_are_bounded() -> None:
    ranges = [Range(A, 1, 10), Range(B, 3, 3)]
    assert decode_ranges(encode_ranges(ranges)) == ranges
    with pytest.raises(TooLargeError):
        decode_ranges(encode_ranges([Range(A, 1, 5000)]))
    with pytest.raises(InvalidValueError):
        decode_ranges(encode_ranges([Range(A, 5, 1)]))


def test_entries_message_round_trips() -> None:
    author = Author(1)
    raws = [author.add().raw for _ in range(3)]
    assert decode_entries(encode_entries(raws)) == raws
    with pytest.raises(MalformedError):
        decode_entries(b"\x91\x01")


def digest_row(author: bytes, seq: int, digest: int) -> FeedDigest:
    return FeedDigest(author, seq, bytes([seq % 256]) * 32, bytes([digest]) * 32)


def test_authors_with_equal_heads_and_different_digests_disagree() -> None:
    ours = {r.author: r for r in (digest_row(A, 3, 1), digest_row(B, 3, 1), digest_row(C, 2, 1))}
    theirs = {r.author: r for r in (digest_row(A, 3, 1), digest_row(B, 3, 2), digest_row(C, 3, 2))}
    assert disagreeing(ours, theirs) == [B]  # c differs too, but its heads do: sync handles it
    # A feed suspended at seq 3 is compared below it, whatever its heads: c qualifies now.
    assert disagreeing(ours, theirs, forked={C: 3}) == [B, C]
    assert disagreeing(ours, theirs, forked={C: 4}) == [B]  # c's seq 2 is below seq 3


def test_digests_and_feeds_round_trip_and_are_bounded() -> None:
    rows = [digest_row(B, 3, 1), digest_row(A, 9, 2)]
    decoded = decode_digests(encode_digests(rows))
    assert list(decoded) == [A, B]
    assert decoded[B] == rows[0]
    request = Range(A, 5, 10_004)
    assert decode_feed_request(encode_feed_request(request)) == request
    with pytest.raises(TooLargeError):
        decode_feed_request(encode_feed_request(Range(A, 5, 10_005)))
    feed = [
        FeedRow(1, b"\x01" * 32, EntryState.HELD, 3),
        FeedRow(4, b"\x04" * 32, EntryState.INCOMPLETE, 0),
    ]
    assert decode_feed(encode_feed(feed)) == feed
    with pytest.raises(InvalidValueError, match="ascending"):
        decode_feed(encode_feed(feed[::-1]))


def test_comparing_feeds_finds_what_to_fetch_and_what_no_fetch_repairs() -> None:
    def row(seq: int, tag: int, state: EntryState = EntryState.HELD, standing: int = 1) -> FeedRow:
        return FeedRow(seq, bytes([tag]) * 32, state, standing)

    ours = [row(1, 1), row(2, 2, EntryState.INCOMPLETE, 0), row(3, 3), row(5, 5), row(6, 6)]
    theirs = [row(1, 1), row(2, 2), row(3, 9), row(4, 4), row(5, 5, standing=0), row(6, 6)]
    theirs.append(row(7, 7))
    ours.append(row(8, 8))
    diff = compare_feeds(ours, theirs, covered=lambda seq: seq == 7)
    assert diff.fetch == (2, 3, 4)  # completes ours, a rival (fork), one we lack
    assert diff.differ == (5,)  # same entry, same state, judged differently
    assert diff.behind == (8,)  # one the peer lacks
    # The peer's incomplete copy is its own repair to make, not a divergence of ours.
    peer_lacks = compare_feeds([row(1, 1)], [row(1, 1, EntryState.INCOMPLETE, 0)], covered=bool)
    assert (peer_lacks.fetch, peer_lacks.behind, peer_lacks.differ) == ((), (1,), ())
