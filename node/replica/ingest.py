"""Entries from elsewhere (a peer, an import): check, place in their feeds, store.

All validity decisions are the protocol's (``protocol.entry``, ``protocol.feed``); this module
sequences them against the store: a copy with its body completes an incomplete one, a fork
that counts suspends its author's feed (``node.replica.forks``) in the transaction that finds
it, and held entries wait as bytes. Large batches are pipelined in chunks: while one chunk is
placed and written inside the store's transaction door, the next ones are checked by
``node.replica.decoder`` (in a worker process when one is configured).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from node.clock import Clock
from node.matching.matcher import Matcher
from node.replica import forks
from node.replica.charters import CharterKeeper
from node.replica.conform import Rederived, rederive
from node.replica.decoder import Checked, Decoder
from node.replica.events import EntriesStored, Events, ForkRecorded
from node.replica.feeds import Feeds
from node.store import Store, Transaction
from protocol.entry import Entry, decode_entry
from protocol.errors import ForkError, ProtocolError
from protocol.feed import FeedHead, ForkProof, KeyPolicy, Placement, Standing, place, repeat
from protocol.hazmat import unchecked_entry

log = logging.getLogger("hashbank.ingest")
# Entries verified (and then written) per step of a pipelined ingest: small enough for the
# two stages to overlap, large enough that a commit's fsync is shared by many entries.
CHUNK_ENTRIES = 500
CHUNK_BYTES = 1024 * 1024
# Chunks being checked (by the decode worker) while the one before them is written.
DECODE_AHEAD = 2
MAX_ERRORS = 10


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What became of a batch of incoming entries."""

    stored: Sequence[Entry]
    duplicates: int
    held: int
    rejected: Mapping[str, int]
    forks: Sequence[ForkProof]
    errors: Sequence[str]
    # Per author, the furthest seq among the entries that verified (stored, already held,
    # completing, or held ahead of a gap): how far the sender has shown the feed reaches.
    reached: Mapping[bytes, int] = field(default_factory=dict)


@dataclass
class _Tally:
    """An ingest's running counts, frozen into an ``IngestReport`` at the end."""

    duplicates: int = 0
    held: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    forks: list[ForkProof] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reached: dict[bytes, int] = field(default_factory=dict)

    def reach(self, entry: Entry) -> None:
        if entry.seq > self.reached.get(entry.author, 0):
            self.reached[entry.author] = entry.seq

    def reject(self, exc: ProtocolError) -> None:
        self.rejected[exc.code] += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(exc.message)


Checks = tuple[list[Entry], dict[bytes, int]]
# Refusals kept for the operator's view (the counts by reason are kept whole).
RECENT_REJECTIONS = 200


@dataclass(frozen=True, slots=True)
class Rejection:
    """Entries of one ingest refused for one reason: when, why, from where, one example."""

    at_ms: int
    reason: str
    count: int
    source: str
    example: str


def chunks(raws: Sequence[bytes]) -> list[Sequence[bytes]]:
    """``raws`` cut into pipeline chunks of bounded count and size."""
    out: list[Sequence[bytes]] = []
    start, size = 0, 0
    for i, raw in enumerate(raws):
        if i > start and (i - start >= CHUNK_ENTRIES or size + len(raw) > CHUNK_BYTES):
            out.append(raws[start:i])
            start, size = i, 0
        size += len(raw)
    if start < len(raws):
        out.append(raws[start:])
    return out


class Ingester:
    """Validates and stores other authors' entries; never raises for bad entries."""

    def __init__(
        self,
        *,
        store: Store,
        feeds: Feeds,
        charters: CharterKeeper,
        matcher: Matcher,
        decoder: Decoder,
        events: Events,
        clock: Clock,
    ) -> None:
        self.store = store
        self.feeds = feeds
        self.charters = charters
        self.matcher = matcher
        self.decoder = decoder
        self.events = events
        self.clock = clock
        self.rejections: collections.Counter[str] = collections.Counter()
        self.recent: collections.deque[Rejection] = collections.deque(maxlen=RECENT_REJECTIONS)

    async def ingest(
        self, raws: Sequence[bytes], *, source: str, wait_index: bool = True
    ) -> IngestReport:
        """Check, place and store ``raws``.

        With ``wait_index`` False (gossip), stored entries become matchable a moment after
        this returns, as the index catches up on its own thread.
        """
        tally, accepted, parts = _Tally(), list[Entry](), chunks(raws)
        pending = collections.deque(self._check_soon(c, tally) for c in parts[:DECODE_AHEAD])
        try:
            for k in range(len(parts)):
                decoded, sums = await pending.popleft()
                if k + DECODE_AHEAD < len(parts):
                    pending.append(self._check_soon(parts[k + DECODE_AHEAD], tally))
                accepted += await self._store_chunk(decoded, sums, tally, wait_index, source)
        finally:
            for check in pending:  # this ingest was cancelled or failed: stop checking ahead
                check.cancel()
        self._finish(tally, accepted, source)
        return IngestReport(
            accepted,
            tally.duplicates,
            tally.held,
            dict(tally.rejected),
            tally.forks,
            tally.errors,
            dict(tally.reached),
        )

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool:
        """Keep a (verified) fork proof, suspending the author's feed if it counts; True if it
        is new here (and worth passing on)."""
        applied: list[asyncio.Future[None]] = []

        async def work(txn: Transaction) -> bool:
            forked = dict(self.feeds.forked)
            moved: dict[bytes, int | None] = {}
            fresh = await self._keep_fork(txn, proof, forked, moved)
            await self._suspend(txn, moved, applied)
            return fresh

        fresh = await self.store.transaction(work)
        for future in applied:
            await future
        if fresh:
            self._announce_fork(proof, source)
        return fresh

    # --- checking --------------------------------------------------------------------------

    def _check_soon(self, raws: Sequence[bytes], tally: _Tally) -> asyncio.Future[Checks]:
        async def work() -> Checks:
            entries: list[Entry] = []
            sums: dict[bytes, int] = {}
            for outcome in await self.decoder.check(raws, self.clock.now_ms()):
                if not isinstance(outcome, Checked):
                    tally.reject(outcome)
                    continue
                try:
                    self.charters.policy.authorize(outcome.entry.header)
                except ProtocolError as exc:
                    tally.reject(exc)
                    continue
                entries.append(outcome.entry)
                if outcome.digest_sum is not None:
                    sums[outcome.entry.id] = outcome.digest_sum
            return entries, sums

        return asyncio.ensure_future(work())

    # --- placing and storing ---------------------------------------------------------------

    async def _store_chunk(
        self,
        entries: list[Entry],
        sums: dict[bytes, int],
        tally: _Tally,
        wait_index: bool,
        source: str,
    ) -> list[Entry]:
        applied: list[asyncio.Future[None]] = []
        fresh_forks: list[ForkProof] = []

        async def work(txn: Transaction) -> list[Entry]:
            policy = self.charters.policy
            placer = _Placer(txn, self.feeds, tally, policy, self.clock.monotonic())
            placed = await placer.place_all(entries)
            forked, moved = dict(self.feeds.forked), dict[bytes, int | None]()
            for proof in tally.forks[forks_before:]:
                if await self._keep_fork(txn, proof, forked, moved):
                    fresh_forks.append(proof)
            if placed:
                await self._write(txn, placed, sums, forked, wait_index, applied)
            await self._suspend(txn, moved, applied)
            return placed

        forks_before = len(tally.forks)
        placed = await self.store.transaction(work)
        for proof in fresh_forks:
            self._announce_fork(proof, source)
        if applied and wait_index:
            for future in applied:
                await future
        return placed

    async def _write(
        self,
        txn: Transaction,
        placed: list[Entry],
        sums: dict[bytes, int],
        forked: dict[bytes, int],
        urgent: bool,
        applied: list[asyncio.Future[None]],
    ) -> None:
        policy = self.charters.policy
        covered = {e.id for e in placed if policy.covered(e.author, e.seq, e.seq)}
        suspended = {e.id for e in placed if e.seq >= forked.get(e.author, e.seq + 1)}
        plan = await self.feeds.write(
            txn,
            placed,
            self.clock.now_ms(),
            void=covered | suspended,
            erasable=covered,
            digest_sums=sums,
        )
        txn.on_commit(lambda: self.feeds.committed(placed))
        txn.on_commit(
            lambda: applied.append(
                self.matcher.apply_soon(
                    plan.pdq_ids, plan.pdq_values, plan.deactivate, urgent=urgent
                )
            )
        )

    async def _keep_fork(
        self,
        txn: Transaction,
        proof: ForkProof,
        forked: dict[bytes, int],
        moved: dict[bytes, int | None],
    ) -> bool:
        """Keep ``proof`` if it beats the one kept; note a moved fork seq in ``moved``."""
        author = proof.author
        kept = await forks.keep(
            txn, proof, self.charters.policy, forked.get(author), self.clock.now_ms()
        )
        if kept.changed:
            moved[author] = kept.fork_seq
            if kept.fork_seq is None:
                forked.pop(author, None)
            else:
                forked[author] = kept.fork_seq
        return kept.fresh

    async def _suspend(
        self,
        txn: Transaction,
        moved: dict[bytes, int | None],
        applied: list[asyncio.Future[None]],
    ) -> None:
        """Re-derive the feeds whose fork seq moved: suspended from it on, or no longer."""
        for author, seq in moved.items():
            done = await rederive(txn, author, self.charters.policy, self.clock.now_ms(), seq)
            txn.on_commit(functools.partial(self._suspended, author, seq, done, applied))

    def _suspended(
        self, author: bytes, seq: int | None, done: Rederived, applied: list[asyncio.Future[None]]
    ) -> None:
        self.feeds.set_fork(author, seq)
        if done.head is not None:
            self.feeds.heads[author] = done.head
        applied.append(self.matcher.apply_soon(done.pdq_ids, done.pdq_values, done.removed))
        if seq is not None:
            log.error("feed suspended author=%s from_seq=%d", author.hex(), seq)

    def _announce_fork(self, proof: ForkProof, source: str | None) -> None:
        log.error("fork author=%s seq=%d source=%s", proof.author.hex(), proof.seq, source)
        self.events.emit(ForkRecorded(proof, source))

    def _finish(self, tally: _Tally, accepted: list[Entry], source: str) -> None:
        self.rejections.update(tally.rejected)
        if tally.rejected:
            log.warning("rejected entries source=%s %s", source, dict(tally.rejected))
            example = tally.errors[0] if len(tally.rejected) == 1 and tally.errors else ""
            now = self.clock.now_ms()
            for reason, n in sorted(tally.rejected.items()):
                self.recent.append(Rejection(now, reason, n, source, example[:300]))
        if accepted:
            self.events.emit(EntriesStored(accepted, source))


class _Placer:
    """Places one chunk's entries in their feeds, inside the transaction that stores them."""

    def __init__(
        self, txn: Transaction, feeds: Feeds, tally: _Tally, policy: KeyPolicy, now_s: float
    ) -> None:
        self.txn = txn
        self.feeds = feeds
        self.tally = tally
        self.policy = policy
        self.now_s = now_s
        self.heads = dict(feeds.heads)
        # Entries placed in this chunk are not in the store yet; a later entry of the chunk
        # at the same author and seq (a repeat, or a fork) is judged against them.
        self.batch: dict[tuple[bytes, int], Entry] = {}
        # A copy with its body that arrived in the chunk after a body-less one it placed.
        self.swaps: dict[bytes, Entry] = {}
        self.forked = dict(feeds.forked)

    async def place_all(self, entries: list[Entry]) -> list[Entry]:
        accepted: list[Entry] = []
        for entry in sorted(entries, key=lambda e: (e.author, e.seq)):
            accepted += await self._place_one(entry)
        return [self.swaps.get(e.id, e) for e in accepted]

    async def _place_one(self, entry: Entry) -> list[Entry]:
        """Place one entry; returns it and any held successors it releases."""
        try:
            placement = await self._placement(entry)
        except ForkError as exc:
            if isinstance(exc.proof, ForkProof):
                self._fork(exc.proof)
            return []
        except ProtocolError as exc:
            self.tally.rejected[exc.code] += 1
            return []
        if placement is Placement.SUSPENDED:
            self.tally.rejected["forked_author"] += 1
            return []
        if placement is Placement.DUPLICATE:
            self.tally.duplicates += 1
            self.tally.reach(entry)
            return []
        if placement is Placement.COMPLETES:
            self.tally.reach(entry)
            return await self._complete(entry)
        if placement is Placement.AHEAD:
            return self._hold(entry)
        self.tally.reach(entry)
        self.heads[entry.author] = FeedHead.of(entry)
        self.batch[(entry.author, entry.seq)] = entry
        out = [entry]
        for raw in self.feeds.holdback.release(entry.author, entry.seq + 1):
            out += await self._place_released(raw)
        return out

    def _hold(self, entry: Entry) -> list[Entry]:
        """Keep an entry that is ahead of a gap in its feed, if the hold-back has room."""
        head = self.heads.get(entry.author)
        held = self.feeds.holdback.hold(
            entry.author, entry.seq, entry.raw, head_seq=head.seq if head else 0, now=self.now_s
        )
        if held:
            self.tally.held += 1
            self.tally.reach(entry)
        return []

    async def _place_released(self, raw: bytes) -> list[Entry]:
        # Held entries were checked when they arrived; the charter may have moved since.
        successor = unchecked_entry(raw)
        try:
            self.policy.authorize(successor.header)
        except ProtocolError as exc:
            self.tally.rejected[exc.code] += 1
            return []
        return await self._place_one(successor)

    async def _complete(self, entry: Entry) -> list[Entry]:
        """A copy with the body our incomplete copy lacked: it takes that copy's place."""
        key = (entry.author, entry.seq)
        if key in self.batch:  # the incomplete copy came earlier in this very chunk
            self.swaps[self.batch[key].id] = entry
            self.batch[key] = entry
            return []
        if await self.txn.drop_incomplete(entry.id):
            return [entry]
        self.tally.duplicates += 1
        return []

    def _fork(self, proof: ForkProof) -> None:
        standing = proof.standing(self.policy)
        if standing is Standing.RETIRED:
            self.tally.rejected["retired_fork"] += 1  # an old key speaks for no fork
            return
        self.tally.forks.append(proof)
        if standing is Standing.COUNTS:
            seq = min(proof.seq, self.forked.get(proof.author, proof.seq))
            self.forked[proof.author] = seq

    async def _placement(self, entry: Entry) -> Placement:
        head = self.heads.get(entry.author)
        fork_seq = self.forked.get(entry.author)
        stored, incomplete = None, False
        if head is not None and entry.seq <= head.seq:
            row = await self.txn.entry_at(entry.author, entry.seq)
            if row is not None and row.id == entry.id:
                if fork_seq is not None and entry.seq >= fork_seq:
                    return Placement.DUPLICATE  # held, suspended: nothing to complete
                return repeat(entry, stored_incomplete=row.incomplete)
            if row is not None:
                stored = decode_entry(row.raw)
            else:
                stored = self.batch.get((entry.author, entry.seq))
                incomplete = stored is not None and stored.body is None
        return place(
            entry,
            head,
            stored,
            stored_incomplete=incomplete,
            fork_seq=fork_seq,
            takedowns=self.policy,
        )
