"""Entries from elsewhere (a peer, an import): check, place in their feeds, store.

All validity decisions are the protocol's (``protocol.entry``, ``protocol.feed``); this module
sequences them against the store. Large batches are pipelined in chunks: while one chunk is
placed and written inside the store's transaction door, the next ones are checked by
``node.replica.decoder`` (in a worker process when one is configured).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from node.clock import Clock
from node.matching.matcher import Matcher
from node.replica.charters import CharterKeeper
from node.replica.decoder import Checked, Decoder
from node.replica.events import EntriesStored, Events, ForkRecorded
from node.replica.feeds import Feeds
from node.store import Store, Transaction
from protocol.entry import Entry, decode_entry
from protocol.errors import ForkError, ProtocolError
from protocol.feed import FeedHead, ForkProof, Placement, place

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


@dataclass
class _Tally:
    """An ingest's running counts, frozen into an ``IngestReport`` at the end."""

    duplicates: int = 0
    held: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    forks: list[ForkProof] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def reject(self, exc: ProtocolError) -> None:
        self.rejected[exc.code] += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(exc.message)


Checks = tuple[list[Entry], dict[bytes, int]]


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
            accepted, tally.duplicates, tally.held, dict(tally.rejected), tally.forks, tally.errors
        )

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool:
        """Store a (verified) fork proof and stop accepting the author; True if it is new."""

        async def work(txn: Transaction) -> bool:
            return await self._add_fork(txn, proof)

        fresh = await self.store.transaction(work)
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
            placed = await _Placer(txn, self.feeds, tally).place_all(entries)
            for proof in tally.forks[forks_before:]:
                if await self._add_fork(txn, proof):
                    fresh_forks.append(proof)
            if not placed:
                return placed
            policy = self.charters.charter_policy
            void = {e.id for e in placed if policy and policy.is_void(e.header)}
            plan = await self.feeds.write(
                txn, placed, self.clock.now_ms(), void=void, digest_sums=sums
            )
            txn.on_commit(lambda: self.feeds.committed(placed))
            txn.on_commit(
                lambda: applied.append(
                    self.matcher.apply_soon(
                        plan.pdq_ids, plan.pdq_values, plan.deactivate, urgent=wait_index
                    )
                )
            )
            return placed

        forks_before = len(tally.forks)
        placed = await self.store.transaction(work)
        for proof in fresh_forks:
            self._announce_fork(proof, source)
        if applied and wait_index:
            await applied[0]
        return placed

    async def _add_fork(self, txn: Transaction, proof: ForkProof) -> bool:
        fresh = await txn.add_fork(proof.author, proof.seq, proof.encode(), self.clock.now_ms())
        txn.on_commit(lambda: self._forked(proof))
        return fresh

    def _forked(self, proof: ForkProof) -> None:
        self.feeds.forked.setdefault(proof.author, proof.seq)

    def _announce_fork(self, proof: ForkProof, source: str | None) -> None:
        log.error("fork author=%s seq=%d source=%s", proof.author.hex(), proof.seq, source)
        self.events.emit(ForkRecorded(proof, source))

    def _finish(self, tally: _Tally, accepted: list[Entry], source: str) -> None:
        self.rejections.update(tally.rejected)
        if tally.rejected:
            log.warning("rejected entries source=%s %s", source, dict(tally.rejected))
        if accepted:
            self.events.emit(EntriesStored(accepted, source))


class _Placer:
    """Places one chunk's entries in their feeds, inside the transaction that stores them."""

    def __init__(self, txn: Transaction, feeds: Feeds, tally: _Tally) -> None:
        self.txn = txn
        self.feeds = feeds
        self.tally = tally
        self.heads = dict(feeds.heads)
        # Entries placed in this chunk are not in the store yet; a later entry of the chunk
        # at the same author and seq (a repeat, or a fork) is judged against them.
        self.batch: dict[tuple[bytes, int], Entry] = {}
        self.forked = set(feeds.forked)

    async def place_all(self, entries: list[Entry]) -> list[Entry]:
        accepted: list[Entry] = []
        for entry in sorted(entries, key=lambda e: (e.author, e.seq)):
            accepted += await self._place_one(entry)
        return accepted

    async def _place_one(self, entry: Entry) -> list[Entry]:
        """Place one entry; returns it and any held successors it releases."""
        if entry.author in self.forked:
            self.tally.rejected["forked_author"] += 1
            return []
        try:
            placement = await self._placement(entry)
        except ForkError as exc:
            if isinstance(exc.proof, ForkProof):
                self.tally.forks.append(exc.proof)
                self.forked.add(entry.author)
            return []
        except ProtocolError as exc:
            self.tally.rejected[exc.code] += 1
            return []
        if placement is Placement.DUPLICATE:
            self.tally.duplicates += 1
            return []
        if placement is Placement.AHEAD:
            self.tally.held += int(self.feeds.holdback.hold(entry))
            return []
        self.heads[entry.author] = FeedHead.of(entry)
        self.batch[(entry.author, entry.seq)] = entry
        out = [entry]
        for successor in self.feeds.holdback.release(entry.author, entry.seq + 1):
            out += await self._place_one(successor)
        return out

    async def _placement(self, entry: Entry) -> Placement:
        head = self.heads.get(entry.author)
        stored = None
        if head is not None and entry.seq <= head.seq:
            row = await self.txn.entry_at(entry.author, entry.seq)
            if row is not None and row.id == entry.id:
                return Placement.DUPLICATE
            stored = (
                decode_entry(row.raw)
                if row is not None
                else self.batch.get((entry.author, entry.seq))
            )
        return place(entry, head, stored)
