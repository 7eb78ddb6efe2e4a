"""The sync state machine and its messages, free of I/O.

A pull from a peer goes: fetch the peer's *heads* (author → latest seq and id), compare them
with ours, then request the missing ranges in bounded batches until every author is caught up
or the peer stops making progress. The node drives this over HTTP; the decisions live here.

Every author is compared on every sync, whatever happened before: a peer that lost its state
(restored, wiped) looks "behind" and is offered everything, and nothing is skipped because it
"didn't change last time" — the shortcut that stalled Scuttlebutt's replication.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

from protocol import schema, wire
from protocol.entry import ID_SIZE, MAX_ENTRY_SIZE, Entry
from protocol.errors import InvalidValueError, TooLargeError

MAX_AUTHORS = 100_000
MAX_BATCH_ENTRIES = 1_000
MAX_RANGES = 1_000
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_HOLD_PER_AUTHOR = 1_024
MAX_HOLD_TOTAL = 16_384


@dataclass(frozen=True, slots=True)
class Head:
    """A feed's latest entry as one replica knows it."""

    author: bytes
    seq: int
    entry_id: bytes


@dataclass(frozen=True, slots=True)
class Range:
    """Entries ``first``…``last`` (inclusive) of one author's feed."""

    author: bytes
    first: int
    last: int

    def __len__(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class HeadComparison:
    """What two sets of heads say about who should fetch what."""

    want: tuple[Range, ...]  # the peer is ahead: fetch these from it
    offer: tuple[Range, ...]  # we are ahead: the peer can fetch these from us
    check: tuple[Head, ...]  # the peer is level or behind: its id must equal ours at that seq


def compare_heads(
    ours: Mapping[bytes, Head], theirs: Mapping[bytes, Head], *, blocked: Container[bytes] = ()
) -> HeadComparison:
    """Compare heads; authors in ``blocked`` (forked feeds) are neither fetched nor offered."""
    want, offer, check = [], [], []
    for author in sorted(set(ours) | set(theirs)):
        if author in blocked:
            continue
        mine, peer = ours.get(author), theirs.get(author)
        my_seq = mine.seq if mine else 0
        their_seq = peer.seq if peer else 0
        if their_seq > my_seq:
            want.append(Range(author, my_seq + 1, their_seq))
        elif my_seq > their_seq:
            offer.append(Range(author, their_seq + 1, my_seq))
        if peer is not None and their_seq <= my_seq:
            check.append(peer)
    return HeadComparison(tuple(want), tuple(offer), tuple(check))


@dataclass
class PullSync:
    """One pull from one peer: heads in, bounded range requests out, progress in."""

    ours: Mapping[bytes, Head]
    theirs: Mapping[bytes, Head]
    batch_entries: int = 500
    blocked: Container[bytes] = ()
    _next: dict[bytes, int] = field(init=False, default_factory=dict)
    _last: dict[bytes, int] = field(init=False, default_factory=dict)
    stalled: set[bytes] = field(init=False, default_factory=set)
    comparison: HeadComparison = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.batch_entries <= MAX_BATCH_ENTRIES:
            raise InvalidValueError(f"batch_entries must be 1 to {MAX_BATCH_ENTRIES}")
        self.comparison = compare_heads(self.ours, self.theirs, blocked=self.blocked)
        for r in self.comparison.want:
            self._next[r.author] = r.first
            self._last[r.author] = r.last

    @property
    def done(self) -> bool:
        return not self._next

    def next_request(self, assuming: Iterable[Range] = ()) -> list[Range]:
        """The next batch of ranges to fetch (empty when the pull is complete).

        With ``assuming``, the batch that would follow if those ranges were stored in full:
        a puller fetches it while it stores the current one, and fetches again only if the
        store fell short.
        """
        positions = dict(self._next)
        for r in assuming:
            if r.last >= self._last[r.author]:
                positions.pop(r.author, None)
            else:
                positions[r.author] = r.last + 1
        budget, ranges = self.batch_entries, list[Range]()
        for author, first in positions.items():
            if budget == 0 or len(ranges) == MAX_RANGES:
                break
            last = min(self._last[author], first + budget - 1)
            ranges.append(Range(author, first, last))
            budget -= last - first + 1
        return ranges

    def received(self, request: Iterable[Range], stored_through: Mapping[bytes, int]) -> None:
        """Record how far each requested feed now reaches after storing a batch.

        ``stored_through`` maps author → our head seq after the batch. An author whose range
        made no progress is dropped from this pull (the peer lacks it, or sent invalid entries)
        so one bad feed never stalls the rest.
        """
        for r in request:
            reached = stored_through.get(r.author, r.first - 1)
            if reached >= self._last[r.author]:
                del self._next[r.author]
            elif reached < r.first:
                self.stalled.add(r.author)
                del self._next[r.author]
            else:
                self._next[r.author] = reached + 1


class HoldBack:
    """Entries that arrived ahead of a gap in their feed, held until the gap fills."""

    def __init__(
        self, max_per_author: int = MAX_HOLD_PER_AUTHOR, max_total: int = MAX_HOLD_TOTAL
    ) -> None:
        self._held: dict[bytes, dict[int, Entry]] = {}
        self._total = 0
        self.max_per_author = max_per_author
        self.max_total = max_total

    def __len__(self) -> int:
        return self._total

    def hold(self, entry: Entry) -> bool:
        """Keep ``entry`` for later; False when the bounds are reached (it is dropped)."""
        feed = self._held.setdefault(entry.author, {})
        if entry.seq in feed:
            return True
        if len(feed) >= self.max_per_author or self._total >= self.max_total:
            return False
        feed[entry.seq] = entry
        self._total += 1
        return True

    def release(self, author: bytes, next_seq: int) -> list[Entry]:
        """Remove and return the held entries that continue the feed from ``next_seq``."""
        if author not in self._held:  # the common case, once per entry stored
            return []
        feed = self._held[author]
        out: list[Entry] = []
        while next_seq in feed:
            out.append(feed.pop(next_seq))
            next_seq += 1
        self._total -= len(out)
        self.discard_through(author, next_seq - 1)
        return out

    def discard_through(self, author: bytes, seq: int) -> None:
        """Forget held entries at or below ``seq`` (the feed already reaches past them)."""
        feed = self._held.get(author, {})
        for stale in [s for s in feed if s <= seq]:
            del feed[stale]
            self._total -= 1
        if not feed:
            self._held.pop(author, None)

    def gaps(self, heads: Mapping[bytes, int]) -> list[Range]:
        """The ranges to fetch so held entries can be released, given our head seqs."""
        out = []
        for author, feed in self._held.items():
            start = heads.get(author, 0) + 1
            first_held = min(feed)
            if first_held > start:
                out.append(Range(author, start, first_held - 1))
        return out


# --- messages -------------------------------------------------------------------------------


def encode_heads(heads: Iterable[Head]) -> bytes:
    """Heads message: ``[[author, seq, entry_id], …]`` sorted by author."""
    ordered = sorted(heads, key=lambda h: h.author)
    return wire.encode([[h.author, h.seq, h.entry_id] for h in ordered])


def decode_heads(data: bytes) -> dict[bytes, Head]:
    """Decode a heads message (sorted, unique authors)."""
    rows = schema.seq_of(
        wire.decode(data, max_size=MAX_AUTHORS * 80 + 8, what="heads"), "heads", max_len=MAX_AUTHORS
    )
    heads: dict[bytes, Head] = {}
    previous = b""
    for i, row in enumerate(rows):
        author, seq, entry_id = schema.array(row, 3, f"heads[{i}]")
        schema.fixed_bytes(author, ID_SIZE, f"heads[{i}].author")
        if author <= previous:
            raise InvalidValueError("heads must be sorted by author, without repeats")
        previous = author
        heads[author] = Head(
            author,
            schema.uint(seq, f"heads[{i}].seq", minimum=1),
            schema.fixed_bytes(entry_id, ID_SIZE, f"heads[{i}].entry_id"),
        )
    return heads


def encode_ranges(ranges: Iterable[Range]) -> bytes:
    """Range request message: ``[[author, first, last], …]``."""
    return wire.encode([[r.author, r.first, r.last] for r in ranges])


def decode_ranges(data: bytes, *, max_entries: int = MAX_BATCH_ENTRIES) -> list[Range]:
    """Decode a range request, refusing one that asks for more than ``max_entries``."""
    rows = schema.seq_of(
        wire.decode(data, max_size=MAX_RANGES * 64 + 8, what="range request"),
        "ranges",
        max_len=MAX_RANGES,
    )
    ranges, total = [], 0
    for i, row in enumerate(rows):
        author, first, last = schema.array(row, 3, f"ranges[{i}]")
        schema.fixed_bytes(author, ID_SIZE, f"ranges[{i}].author")
        schema.uint(first, f"ranges[{i}].first", minimum=1)
        schema.uint(last, f"ranges[{i}].last", minimum=first)
        total += last - first + 1
        if total > max_entries:
            raise TooLargeError(f"range request asks for more than {max_entries} entries")
        ranges.append(Range(author, first, last))
    return ranges


def encode_entries(raws: Iterable[bytes]) -> bytes:
    """Entries message: ``[entry, …]``, each entry its exact signed bytes."""
    return wire.encode(list(raws))


def decode_entries(data: bytes, *, max_entries: int = MAX_BATCH_ENTRIES) -> list[bytes]:
    """Decode an entries message into raw entries (each still to be verified)."""
    rows = schema.seq_of(
        wire.decode(data, max_size=MAX_BATCH_BYTES + MAX_ENTRY_SIZE, what="entries"),
        "entries",
        max_len=max_entries,
    )
    return [schema.blob(raw, f"entries[{i}]") for i, raw in enumerate(rows)]
