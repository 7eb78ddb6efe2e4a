"""One peer's link: its send queue, pull loop, backoff and counters, field by field.

A slow, dead or hostile peer only ever delays its own link (the per-destination queue of
Synapse's federation sender). Pushes make propagation fast; pulls (anti-entropy) repair
whatever pushes missed and compare every feed every time — its head and its feed digest — so
a peer that lost its state is simply resynced from the start, a body one side lacks is
fetched, and a feed the two hold differently is reported (``node.federation.agreement``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from node.clock import Clock
from node.federation.agreement import Agreement, Divergence
from node.federation.backoff import Backoff
from node.federation.client import PeerTransport
from node.federation.errors import PeerError
from node.federation.port import Replica
from node.federation.staleness import HeadWatch
from node.stats import SLOW_BUCKETS, Timings
from protocol.errors import ProtocolError
from protocol.feed import decode_fork_proof
from protocol.identity import PublicKey
from protocol.sync import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ENTRIES,
    FeedDigest,
    Head,
    PullSync,
    Range,
)

log = logging.getLogger("hashbank.gossip")

MAX_QUEUE = 10_000
PUSH_BATCH = 200
# Under the receiver's request limit (limits.max_body_bytes, at least 5 MiB) even for one
# entry of the largest size (4 MiB): aiohttp applies the root app's limit to peer routes too.
PUSH_BATCH_BYTES = 4 * 1024 * 1024
# Incomplete entries asked for per pull (docs/protocol.md §9.2 step 5), and per request.
MAX_BODIES = 1_000
BODY_BATCH = 100
Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One peer link as the operator sees it."""

    url: str
    node_id: str
    behind_on: tuple[bytes, ...]
    queue: int
    failures: int
    last_ok_ms: int | None
    last_error: str | None
    stats: Mapping[str, int]
    divergences: tuple[Divergence, ...] = ()


class PeerLink:
    """One peer: its send queue, pull loop, backoff and counters."""

    def __init__(
        self,
        *,
        url: str,
        node_id: PublicKey,
        replica: Replica,
        transport: PeerTransport,
        watch: HeadWatch,
        clock: Clock,
        interval_s: float,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.replica = replica
        self.client = transport
        self.watch = watch
        self.clock = clock
        self.interval_s = interval_s
        self.queue: collections.deque[bytes] = collections.deque()
        self.backoff = Backoff()
        self.wake = asyncio.Event()
        self.sync_now = asyncio.Event()
        self.overflowed = False
        self.stats: collections.Counter[str] = collections.Counter()
        self.last_ok_ms = 0
        self.last_error = ""
        self.retry_at_ms = 0  # when a backing-off link tries again (0: not backing off)
        self.agreement = Agreement(replica=replica, client=transport, clock=clock, peer=url)
        self.sync_timings = Timings(SLOW_BUCKETS)  # completed pulls, for /metrics
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def key(self) -> str:
        return str(self.node_id)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_loop(), name=f"push {self.url}"),
            asyncio.create_task(self._pull_loop(), name=f"pull {self.url}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def enqueue(self, raws: Sequence[bytes]) -> None:
        """Queue entries for pushing; past the bound, fall back to the peer's next pull."""
        if len(self.queue) + len(raws) > MAX_QUEUE:
            self.queue.clear()
            self.overflowed = True
            self.stats["queue_overflows"] += 1
        else:
            self.queue.extend(raws)
        self.wake.set()

    # --- push ------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue or self.overflowed:
                await self._attempt("push", self._send_once)

    async def _send_once(self) -> None:
        if self.overflowed:
            # We dropped entries for this peer: ask it to pull from us instead.
            self.overflowed = False
            await self.client.notify()
            return
        batch: list[bytes] = []
        size = 0
        while self.queue and len(batch) < PUSH_BATCH:
            if batch and size + len(self.queue[0]) > PUSH_BATCH_BYTES:
                break
            raw = self.queue.popleft()
            batch.append(raw)
            size += len(raw)
        try:
            await self.client.push(batch)
        except PeerError:
            self.queue.extendleft(reversed(batch))
            raise
        self.stats["pushed"] += len(batch)

    # --- pull ------------------------------------------------------------------------------

    async def _pull_loop(self) -> None:
        while True:
            if not await self._attempt("sync", self.sync):
                continue
            self.sync_now.clear()
            wait = self.interval_s * random.uniform(0.8, 1.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sync_now.wait(), wait)

    async def sync(self) -> None:
        """One anti-entropy pull from this peer."""
        started = time.perf_counter()
        replica = self.replica
        await self._pull_charters()
        await self._pull_forks()  # first, so that both sides judge the same forks
        digests = await self.client.digests()
        theirs = {a: d.head for a, d in digests.items()}
        self.watch.saw(self.url, {a: h.seq for a, h in theirs.items()}, self.clock.now_ms())
        ours = {a: Head(a, h.seq, h.entry_id) for a, h in replica.feeds.heads.items()}
        pull = PullSync(
            ours, theirs, batch_entries=MAX_BATCH_ENTRIES, forked=dict(replica.feeds.forked)
        )
        shown = await self._check(pull.comparison.check)
        stored = await self._pull_ranges(pull, shown)
        self.watch.shown(self.url, shown, self.clock.now_ms())
        completed = await self._pull_bodies(digests)
        replica.own_head_confirmed.set()  # this peer has shown us how far our own feed reaches
        await self.agreement.check(digests, self.key)
        if pull.comparison.offer:
            await self.client.notify()
        self.sync_timings.observe(time.perf_counter() - started)
        log.info(
            "sync peer=%s stored=%d completed=%d behind=%d ahead=%d stalled=%d diverged=%d ms=%.0f",
            self.url,
            stored,
            completed,
            len(pull.comparison.want),
            len(pull.comparison.offer),
            len(pull.stalled),
            len(self.agreement.divergent),
            (time.perf_counter() - started) * 1000,
        )

    async def _pull_bodies(self, theirs: Mapping[bytes, FeedDigest]) -> int:
        """Ask the peer for the bodies of our incomplete entries (where it may hold them)."""
        wanted = [
            Range(row.author, row.seq, row.seq)
            for row in await self.replica.incomplete_entries(MAX_BODIES)
            if row.author in theirs and theirs[row.author].seq >= row.seq
        ]
        completed = 0
        for start in range(0, len(wanted), BODY_BATCH):
            raws = await self.client.fetch(wanted[start : start + BODY_BATCH])
            report = await self.replica.ingest(raws, source=self.key)
            completed += len(report.stored)
        self.stats["bodies_completed"] += completed
        return completed

    async def _pull_ranges(self, pull: PullSync, shown: dict[bytes, int]) -> int:
        """Fetch and store ranges, fetching the next batch while the current one is stored;
        ``shown`` gets how far the peer's entries that verified reach, by author."""
        replica, stored = self.replica, 0
        request = pull.next_request()
        fetching = asyncio.ensure_future(self.client.fetch(request)) if request else None
        try:
            while fetching is not None:
                raws = await fetching
                _fit_batch(pull, raws)
                guess = pull.next_request(assuming=request)
                fetching = asyncio.ensure_future(self.client.fetch(guess)) if guess else None
                report = await replica.ingest(raws, source=self.key, wait_index=False)
                self._count(report.rejected)
                for author, seq in report.reached.items():
                    shown[author] = max(seq, shown.get(author, 0))
                stored += len(report.stored)
                pull.received(request, {r.author: replica.feeds.seq(r.author) for r in request})
                request = pull.next_request()
                if request != guess:  # the store fell short: the prefetch asked for the wrong thing
                    if fetching is not None:
                        fetching.cancel()
                    fetching = (
                        asyncio.ensure_future(self.client.fetch(request)) if request else None
                    )
        finally:
            if fetching is not None:
                fetching.cancel()
        return stored

    async def _check(self, heads: Sequence[Head]) -> dict[bytes, int]:
        """Where the peer is level or behind, its entry id must be ours at that seq; returns
        the heads that are (verified by our own copy: how far the peer has shown a feed)."""
        replica = self.replica
        suspects, shown = [], {}
        for head in heads:
            mine = replica.feeds.heads.get(head.author)
            if mine is not None and mine.seq == head.seq:
                # Level with us, the usual case on every sync: our head is in memory.
                held: bytes | None = mine.entry_id
            else:
                row = await replica.entry_at(head.author, head.seq)
                held = None if row is None else row.id
            if held is None:
                continue  # nothing of ours at that seq to judge it by
            if held == head.entry_id:
                shown[head.author] = head.seq
            else:
                suspects.append(Range(head.author, head.seq, head.seq))
        for start in range(0, len(suspects), 100):
            raws = await self.client.fetch(suspects[start : start + 100])
            await replica.ingest(raws, source=self.key)  # a conflicting entry yields a fork proof
        return shown

    async def _pull_charters(self) -> None:
        number = self.replica.charter_number
        if number is None:
            return
        raws = await self.client.charters(number)
        if raws:
            report = await self.replica.offer_charters(raws, source=self.key)
            self._count(report.rejected)

    async def _pull_forks(self) -> None:
        for data in await self.client.forks():
            try:
                proof = decode_fork_proof(data, self.replica.policy)
            except ProtocolError:
                self.stats["invalid_fork_proofs"] += 1
                continue
            await self.replica.record_fork(proof, source=self.key)

    # --- bookkeeping -----------------------------------------------------------------------

    async def _attempt(self, what: str, step: Step) -> bool:
        """Run one push or pull step; on failure record it and back off. True on success."""
        try:
            await step()
        except PeerError as exc:
            await self._failed(what, exc.message, exc)
            return False
        except ProtocolError as exc:
            await self._failed(what, f"the peer sent invalid data ({exc.code})", exc)
            return False
        except Exception as exc:  # a bug must not silence this peer for good
            log.exception("%s loop error peer=%s", what, self.url)
            await self._failed(what, f"internal error ({type(exc).__name__})", exc)
            return False
        self.backoff.success()
        self.retry_at_ms = 0
        self.last_ok_ms = self.clock.now_ms()
        return True

    def _count(self, rejected: Mapping[str, int]) -> None:
        for code, n in rejected.items():
            self.stats[f"rejected_{code}"] += n

    async def _failed(self, what: str, reason: str, exc: Exception) -> None:
        delay = self.backoff.failure()
        self.last_error = reason[:300]
        self.retry_at_ms = self.clock.now_ms() + round(delay * 1000)
        self.stats[f"{what}_failures"] += 1
        log.warning("%s failed peer=%s retry_in=%.1fs error=%r", what, self.url, delay, exc)
        await asyncio.sleep(delay)

    def lag(self) -> tuple[int, int]:
        """Entries the peer last announced beyond ours, and ours beyond what it announced."""
        theirs = self.watch.announced.get(self.url, {})
        ours = {author: head.seq for author, head in self.replica.feeds.heads.items()}
        lag = sum(max(0, seq - ours.get(author, 0)) for author, seq in theirs.items())
        behind = sum(max(0, seq - theirs.get(author, 0)) for author, seq in ours.items())
        return lag, behind

    def status(self) -> PeerStatus:
        heads = {a: h.seq for a, h in self.replica.feeds.heads.items()}
        return PeerStatus(
            url=self.url,
            node_id=self.key,
            behind_on=tuple(self.watch.lagging(self.url, heads)),
            queue=len(self.queue),
            failures=self.backoff.failures,
            last_ok_ms=self.last_ok_ms or None,
            last_error=self.last_error or None,
            stats=dict(self.stats),
            divergences=tuple(self.agreement.divergent.values()),
        )


def _fit_batch(pull: PullSync, raws: Sequence[bytes]) -> None:
    """Ask for as many entries as fit in one answer, so that the prefetched guess is right.

    A peer stops an answer at ``MAX_BATCH_BYTES``; asking for more than fits makes every
    prefetch wrong (the store "falls short") and every batch fetched twice.
    """
    if raws:
        average = sum(map(len, raws)) / len(raws)
        fits = int(MAX_BATCH_BYTES * 0.8 / average)
        pull.batch_entries = max(1, min(MAX_BATCH_ENTRIES, fits))
