from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InvalidValueError, MalformedError, TooLargeError
from protocol.sync import (
    Head,
    HoldBack,
    PullSync,
    Range,
    compare_heads,
    decode_entries,
    decode_heads,
    decode_ranges,
    encode_entries,
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


def test_blocked_authors_are_neither_fetched_nor_offered() -> None:
    comparison = compare_heads(heads(a=5), heads(a=9, b=1), blocked={A})
    assert comparison.want == (Range(B, 1, 1),)


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


def test_hold_back_releases_contiguous_entries_and_reports_gaps() -> None:
    author = Author(1)
    entries = [author.add() for _ in range(6)]
    held = HoldBack()
    for e in entries[3:]:
        assert held.hold(e)
    assert held.gaps({author.org: 1}) == [Range(author.org, 2, 3)]
    assert held.release(author.org, 2) == []
    assert held.release(author.org, 4) == entries[3:]
    assert len(held) == 0


def test_hold_back_is_bounded() -> None:
    author = Author(1)
    held = HoldBack(max_per_author=2, max_total=10)
    entries = [author.add() for _ in range(4)]
    assert [held.hold(e) for e in entries[1:]] == [True, True, False]
    held.discard_through(author.org, 2)
    assert len(held) == 1


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
