"""The sync state machine and its messages, free of I/O.

A pull from a peer goes: fetch the peer's *heads* (author → latest seq and id), compare them
with ours, then request the missing ranges in bounded batches until every author is caught up
or the peer stops making progress. The node drives this over HTTP; the decisions live here.

Every author is compared on every sync, whatever happened before: a peer that lost its state
(restored, wiped) looks "behind" and is offered everything, and nothing is skipped because it
"didn't change last time" — the shortcut that stalled Scuttlebutt's replication. Heads alone
cannot show two replicas that hold the same feed differently (a body one lacks); each head
therefore comes with the author's feed digest, and authors whose heads agree but whose
digests do not are compared entry by entry (``compare_feeds``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from protocol import schema, wire
from protocol.entry import ID_SIZE, MAX_ENTRY_SIZE
from protocol.errors import InvalidValueError, TooLargeError

MAX_AUTHORS = 100_000
MAX_BATCH_ENTRIES = 1_000
MAX_RANGES = 1_000
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_FEED_ROWS = 10_000
MAX_HOLD_PER_AUTHOR = 1_024
MAX_HOLD_TOTAL = 16_384
MAX_HOLD_BYTES_PER_AUTHOR = 8 * 1024 * 1024
MAX_HOLD_BYTES = 64 * 1024 * 1024
HOLD_WINDOW = 1_000
HOLD_SECONDS = 600.0


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
    ours: Mapping[bytes, Head], theirs: Mapping[bytes, Head], *, forked: Mapping[bytes, int] = {}
) -> HeadComparison:
    """Compare heads; a feed suspended at its fork seq (``forked``) is compared below it only."""
    want, offer, check = [], [], []
    for author in sorted(set(ours) | set(theirs)):
        mine, peer = ours.get(author), theirs.get(author)
        ceiling = forked.get(author)
        limit = ceiling - 1 if ceiling is not None else None
        my_seq = _capped(mine.seq if mine else 0, limit)
        their_seq = _capped(peer.seq if peer else 0, limit)
        if their_seq > my_seq:
            want.append(Range(author, my_seq + 1, their_seq))
        elif my_seq > their_seq:
            offer.append(Range(author, their_seq + 1, my_seq))
        if peer is not None and peer.seq <= my_seq:
            check.append(peer)
    return HeadComparison(tuple(want), tuple(offer), tuple(check))


def _capped(seq: int, limit: int | None) -> int:
    return seq if limit is None else min(seq, limit)


@dataclass
class PullSync:
    """One pull from one peer: heads in, bounded range requests out, progress in."""

    ours: Mapping[bytes, Head]
    theirs: Mapping[bytes, Head]
    batch_entries: int = 500
    forked: Mapping[bytes, int] = field(default_factory=dict)
    _next: dict[bytes, int] = field(init=False, default_factory=dict)
    _last: dict[bytes, int] = field(init=False, default_factory=dict)
    stalled: set[bytes] = field(init=False, default_factory=set)
    comparison: HeadComparison = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.batch_entries <= MAX_BATCH_ENTRIES:
            raise InvalidValueError(f"batch_entries must be 1 to {MAX_BATCH_ENTRIES}")
        self.comparison = compare_heads(self.ours, self.theirs, forked=self.forked)
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


@dataclass(slots=True)
class _Held:
    raw: bytes
    since: float


class HoldBack:
    """Entries that arrived ahead of a gap in their feed, held (as bytes) until the gap fills.

    Bounded by count and bytes, per author and in all, to a window past the author's head
    and a time (docs/protocol.md §9.6). When the bounds in all are reached, the author
    holding the most gives way, and only to an author that would still hold less; so no
    author can push out the held entries of one that holds less than it.
    """

    def __init__(
        self,
        max_per_author: int = MAX_HOLD_PER_AUTHOR,
        max_total: int = MAX_HOLD_TOTAL,
        *,
        max_bytes_per_author: int = MAX_HOLD_BYTES_PER_AUTHOR,
        max_bytes: int = MAX_HOLD_BYTES,
        window: int = HOLD_WINDOW,
        max_age: float = HOLD_SECONDS,
    ) -> None:
        self._held: dict[bytes, dict[int, _Held]] = {}
        self._bytes: dict[bytes, int] = {}
        self._total = 0
        self._total_bytes = 0
        self.max_per_author = max_per_author
        self.max_total = max_total
        self.max_bytes_per_author = max_bytes_per_author
        self.max_bytes = max_bytes
        self.window = window
        self.max_age = max_age

    def __len__(self) -> int:
        return self._total

    @property
    def size(self) -> int:
        """The held entries' bytes, in all."""
        return self._total_bytes

    def hold(self, author: bytes, seq: int, raw: bytes, *, head_seq: int, now: float) -> bool:
        """Keep an entry's bytes for later; False when it is dropped instead.

        ``head_seq`` is our head of ``author`` (0: none), ``now`` a monotonic time in seconds.
        """
        feed = self._held.get(author, {})
        if seq in feed:
            return True
        size = len(raw)
        mine = self._bytes.get(author, 0)
        if (
            seq > head_seq + self.window
            or len(feed) >= self.max_per_author
            or mine + size > self.max_bytes_per_author
            or not self._make_room(author, size)
        ):
            return False
        self._held.setdefault(author, {})[seq] = _Held(raw, now)
        self._bytes[author] = mine + size
        self._total += 1
        self._total_bytes += size
        return True

    def _make_room(self, author: bytes, size: int) -> bool:
        """Evict the largest holder's furthest entries until ``size`` more bytes fit."""
        while self._total + 1 > self.max_total or self._total_bytes + size > self.max_bytes:
            victim = max(self._bytes, key=self._bytes.__getitem__, default=None)
            if victim is None or victim == author:
                return False
            if self._bytes[victim] <= self._bytes.get(author, 0) + size:
                return False  # it holds no more than the newcomer would: it keeps its own
            feed = self._held[victim]
            self._drop(victim, max(feed))
        return True

    def _drop(self, author: bytes, seq: int) -> None:
        held = self._held[author].pop(seq)
        self._total -= 1
        self._total_bytes -= len(held.raw)
        self._bytes[author] -= len(held.raw)
        if not self._held[author]:
            del self._held[author]
            del self._bytes[author]

    def release(self, author: bytes, next_seq: int) -> list[bytes]:
        """Remove and return the held entries that continue the feed from ``next_seq``."""
        if author not in self._held:  # the common case, once per entry stored
            return []
        out: list[bytes] = []
        while author in self._held and next_seq in self._held[author]:
            out.append(self._held[author][next_seq].raw)
            self._drop(author, next_seq)
            next_seq += 1
        self.discard_through(author, next_seq - 1)
        return out

    def discard_through(self, author: bytes, seq: int) -> None:
        """Forget held entries at or below ``seq`` (the feed already reaches past them)."""
        for stale in [s for s in self._held.get(author, {}) if s <= seq]:
            self._drop(author, stale)

    def expire(self, now: float) -> int:
        """Drop entries held longer than ``max_age`` seconds; returns how many."""
        old = [
            (author, seq)
            for author, feed in self._held.items()
            for seq, held in feed.items()
            if now - held.since > self.max_age
        ]
        for author, seq in old:
            self._drop(author, seq)
        return len(old)

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


# --- agreement: feed digests and feeds, seq by seq ------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedDigest:
    """A head with its author's feed digest (docs/protocol.md §7), taken at the same moment."""

    author: bytes
    seq: int
    entry_id: bytes
    digest: bytes

    @property
    def head(self) -> Head:
        return Head(self.author, self.seq, self.entry_id)


class EntryState(enum.IntEnum):
    """How a replica holds an entry (docs/protocol.md §4.3)."""

    HELD = 0  # with its body
    ERASED = 1  # without it, on an authority
    INCOMPLETE = 2  # without it, and the body is still wanted


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One entry of a feed as one replica holds it; ``standing``: its items that count."""

    seq: int
    entry_id: bytes
    state: EntryState
    standing: int


@dataclass(frozen=True, slots=True)
class FeedDiff:
    """What comparing two replicas' rows of one feed found."""

    fetch: tuple[int, ...]  # seqs to fetch from the peer: missing, rival, or completing ours
    behind: tuple[int, ...]  # seqs the peer lacks (or lacks the body of): its repair to make
    differ: tuple[int, ...]  # seqs both hold alike but judge differently: no fetch repairs them


def disagreeing(
    ours: Mapping[bytes, FeedDigest],
    theirs: Mapping[bytes, FeedDigest],
    *,
    forked: Mapping[bytes, int] = {},
) -> list[bytes]:
    """Authors whose feeds should be alike on both sides but whose feed digests are not.

    That is, whose head is the same on both sides — or, for a feed suspended at its fork seq
    (``forked``), which both sides hold up to the seq before it: what is suspended counts for
    nothing, so the digests cover the same entries (an earlier fork shows up here).
    """
    out = []
    for author, peer in sorted(theirs.items()):
        mine = ours.get(author)
        if mine is None or mine.digest == peer.digest:
            continue
        fork = forked.get(author)
        if mine.head == peer.head or (fork is not None and min(mine.seq, peer.seq) >= fork - 1):
            out.append(author)
    return out


def compare_feeds(
    ours: Sequence[FeedRow], theirs: Sequence[FeedRow], *, covered: Callable[[int], bool]
) -> FeedDiff:
    """Compare our rows of one feed with the peer's (the same seq range), seq by seq.

    ``covered(seq)`` says whether a takedown covers a seq: those need not be held.
    """
    mine = {r.seq: r for r in ours}
    peers = {r.seq: r for r in theirs}
    fetch, behind, differ = list[int](), list[int](), list[int]()
    for seq in sorted(mine.keys() | peers.keys()):
        row, peer = mine.get(seq), peers.get(seq)
        if row is None or peer is None:
            if not covered(seq):
                (fetch if row is None else behind).append(seq)
        elif row.entry_id != peer.entry_id:
            fetch.append(seq)  # with ours, a fork proof
        elif row.state is EntryState.INCOMPLETE and peer.state is EntryState.HELD:
            fetch.append(seq)
        elif peer.state is EntryState.INCOMPLETE and row.state is EntryState.HELD:
            behind.append(seq)
        elif row.standing != peer.standing:
            differ.append(seq)
    return FeedDiff(tuple(fetch), tuple(behind), tuple(differ))


def encode_digests(rows: Iterable[FeedDigest]) -> bytes:
    """Digests message: ``[[author, seq, entry_id, feed_digest], …]`` sorted by author."""
    ordered = sorted(rows, key=lambda r: r.author)
    return wire.encode([[r.author, r.seq, r.entry_id, r.digest] for r in ordered])


def decode_digests(data: bytes) -> dict[bytes, FeedDigest]:
    """Decode a digests message (sorted, unique authors)."""
    rows = schema.seq_of(
        wire.decode(data, max_size=MAX_AUTHORS * 112 + 8, what="digests"),
        "digests",
        max_len=MAX_AUTHORS,
    )
    out: dict[bytes, FeedDigest] = {}
    previous = b""
    for i, row in enumerate(rows):
        author, seq, entry_id, digest = schema.array(row, 4, f"digests[{i}]")
        schema.fixed_bytes(author, ID_SIZE, f"digests[{i}].author")
        if author <= previous:
            raise InvalidValueError("digests must be sorted by author, without repeats")
        previous = author
        out[author] = FeedDigest(
            author,
            schema.uint(seq, f"digests[{i}].seq", minimum=1),
            schema.fixed_bytes(entry_id, ID_SIZE, f"digests[{i}].entry_id"),
            schema.fixed_bytes(digest, 32, f"digests[{i}].feed_digest"),
        )
    return out


def encode_feed_request(r: Range) -> bytes:
    """Feed request: ``[author, first, last]``, at most ``MAX_FEED_ROWS`` seqs."""
    return wire.encode([r.author, r.first, r.last])


def decode_feed_request(data: bytes) -> Range:
    author, first, last = schema.array(
        wire.decode(data, max_size=64, what="feed request"), 3, "feed request"
    )
    schema.fixed_bytes(author, ID_SIZE, "author")
    schema.uint(first, "first", minimum=1)
    schema.uint(last, "last", minimum=first)
    if last - first >= MAX_FEED_ROWS:
        raise TooLargeError(f"a feed request covers at most {MAX_FEED_ROWS} seqs")
    return Range(author, first, last)


def encode_feed(rows: Iterable[FeedRow]) -> bytes:
    """Feed message: ``[[seq, entry_id, state, standing], …]`` by ascending seq."""
    return wire.encode([[r.seq, r.entry_id, int(r.state), r.standing] for r in rows])


def decode_feed(data: bytes) -> list[FeedRow]:
    rows = schema.seq_of(
        wire.decode(data, max_size=MAX_FEED_ROWS * 56 + 8, what="feed"),
        "feed",
        max_len=MAX_FEED_ROWS,
    )
    out: list[FeedRow] = []
    for i, row in enumerate(rows):
        seq, entry_id, state, standing = schema.array(row, 4, f"feed[{i}]")
        schema.uint(seq, f"feed[{i}].seq", minimum=1)
        if out and seq <= out[-1].seq:
            raise InvalidValueError("feed rows must be in ascending seq, without repeats")
        try:
            entry_state = EntryState(schema.uint(state, f"feed[{i}].state"))
        except ValueError:
            raise InvalidValueError(f"unknown entry state {state}", field="state") from None
        out.append(
            FeedRow(
                seq,
                schema.fixed_bytes(entry_id, ID_SIZE, f"feed[{i}].entry_id"),
                entry_state,
                schema.uint(standing, f"feed[{i}].standing"),
            )
        )
    return out
