"""Replicas prove they agree: feed digests compared with one peer, drilled down, repaired.

Heads only say how far two replicas reach. Two that hold the same head of a feed can still hold
it differently — a body one of them lacks, an entry one judges void — and then heads-only sync
would never notice (docs/protocol.md §9.2 step 6). For every author whose head is the same on
both sides but whose feed digest is not, the peer's rows of that feed are compared with ours
(``protocol.sync.compare_feeds``), what a fetch can repair is fetched, and what remains is a
*divergence*: kept per author, logged, shown in the peer's status, and withdrawn when a later
pull finds the digests equal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.clock import Clock
from node.federation.client import PeerTransport
from node.federation.port import Replica
from protocol.sync import MAX_FEED_ROWS, FeedDigest, Range, compare_feeds, disagreeing

log = logging.getLogger("hashbank.agreement")

# Per pull: authors drilled into, pages of one feed read, entries fetched per request.
MAX_AUTHORS_PER_PULL = 20
MAX_PAGES = 10
FETCH_BATCH = 100


@dataclass(frozen=True, slots=True)
class Divergence:
    """A feed this replica and one peer hold differently, which no fetch repaired."""

    author: bytes
    first_seq: int
    last_seq: int
    reason: str
    detected_ms: int


class Agreement:
    """What this replica and one peer disagree on, feed by feed."""

    def __init__(self, *, replica: Replica, client: PeerTransport, clock: Clock, peer: str):
        self.replica = replica
        self.client = client
        self.clock = clock
        self.peer = peer
        self.divergent: dict[bytes, Divergence] = {}
        self.repaired = 0
        # Which round last drilled into each disagreeing author: the least recently drilled
        # go first, so authors that stay divergent (or a peer lying about many authors)
        # cannot keep every other author from ever being compared.
        self._round = 0
        self._drilled: dict[bytes, int] = {}

    async def check(self, theirs: Mapping[bytes, FeedDigest], source: str) -> None:
        """Compare feed digests with the peer's (taken with its heads), repair, report."""
        ours = self._ours()
        for author in list(self.divergent):
            peer, mine = theirs.get(author), ours.get(author)
            if peer is not None and mine is not None and peer.digest == mine.digest:
                log.info("agreement restored peer=%s author=%s", self.peer, author.hex())
                del self.divergent[author]
        forked = dict(self.replica.feeds.forked)
        for author in self._this_round(disagreeing(ours, theirs, forked=forked)):
            peer = theirs[author]
            fork = forked.get(author)
            # Of a suspended feed, only what is below its fork seq counts (and can differ).
            last = peer.seq if fork is None else min(peer.seq, fork - 1)
            await self._drill(peer, last, source)

    def _this_round(self, authors: Sequence[bytes]) -> list[bytes]:
        """Up to ``MAX_AUTHORS_PER_PULL`` of ``authors``, the least recently drilled first."""
        self._round += 1
        self._drilled = {a: self._drilled.get(a, 0) for a in authors}  # forget the agreed
        chosen = sorted(authors, key=lambda a: self._drilled[a])[:MAX_AUTHORS_PER_PULL]
        for author in chosen:
            self._drilled[author] = self._round
        return chosen

    def _ours(self) -> dict[bytes, FeedDigest]:
        return {d.author: d for d in self.replica.feed_digests()}

    async def _drill(self, peer: FeedDigest, head: int, source: str) -> None:
        """Compare the peer's rows of one feed with ours up to ``head``, fetch, judge."""
        author, fetch, behind, differ = peer.author, list[int](), list[int](), list[int]()
        policy = self.replica.policy
        first = 1
        for _ in range(MAX_PAGES):
            if first > head:
                break
            last = min(head, first + MAX_FEED_ROWS - 1)
            theirs = await self.client.feed(Range(author, first, last))
            ours = await self.replica.feed_rows(author, first, last)
            diff = compare_feeds(ours, theirs, covered=lambda s: policy.covered(author, s, s))
            fetch += diff.fetch
            behind += diff.behind
            differ += diff.differ
            first = last + 1
        await self._fetch(author, fetch, source)
        mine = self._ours().get(author)
        if (mine is not None and mine.digest == peer.digest) or (behind and not differ):
            # Equal now; or the peer lacks what we hold, which it repairs from us.
            self.divergent.pop(author, None)
            return
        self._diverged(author, differ or fetch, head)

    async def _fetch(self, author: bytes, seqs: Sequence[int], source: str) -> None:
        for start in range(0, len(seqs), FETCH_BATCH):
            ranges = [Range(author, s, s) for s in seqs[start : start + FETCH_BATCH]]
            raws = await self.client.fetch(ranges)
            report = await self.replica.ingest(raws, source=source)
            self.repaired += len(report.stored)

    def _diverged(self, author: bytes, seqs: Sequence[int], head: int) -> None:
        first, last = (min(seqs), max(seqs)) if seqs else (1, head)
        reason = (
            "the peer judges these entries differently"
            if seqs
            else "feed digests differ with the same entries held"
        )
        known = self.divergent.get(author)
        if known is None or (known.first_seq, known.last_seq) != (first, last):
            log.error(
                "divergence peer=%s author=%s seqs=%d-%d: %s",
                self.peer,
                author.hex(),
                first,
                last,
                reason,
            )
        self.divergent[author] = Divergence(
            author, first, last, reason, known.detected_ms if known else self.clock.now_ms()
        )
