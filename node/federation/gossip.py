"""Gossip: push new entries to every peer at once, pull from each peer periodically.

Each peer has its own ``PeerLink`` — a bounded send queue, a pull loop and its own backoff —
so a slow, dead or hostile peer only ever delays itself (the per-destination queue of
Synapse's federation sender). Entries learned from one peer are relayed to all the others
unchanged, so members that are not peers still reach each other; receivers verify every
signature themselves. Pushes make propagation fast; pulls (anti-entropy) repair whatever
pushes missed, and compare every feed every time, so a peer that lost its state is simply
resynced from the start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiohttp

from node.clock import now_ms
from node.config import PeerConfig, load_config
from node.federation.backoff import Backoff
from node.federation.client import PeerClient, PeerError
from node.replica.node import Node
from protocol.charter import Charter
from protocol.entry import Entry
from protocol.errors import ProtocolError
from protocol.feed import ForkProof, decode_fork_proof
from protocol.identity import PublicKey
from protocol.sync import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, Head, PullSync, Range

log = logging.getLogger("hashbank.gossip")

MAX_QUEUE = 10_000
PUSH_BATCH = 200
# Under the receiver's request limit (limits.max_body_bytes, at least 5 MiB) even for one
# entry of the largest size (4 MiB): aiohttp applies the root app's limit to peer routes too.
PUSH_BATCH_BYTES = 4 * 1024 * 1024
CONFIG_POLL_S = 1.0


class PeerLink:
    """One peer: its send queue, pull loop, backoff and counters."""

    def __init__(self, gossip: Gossip, peer: PeerConfig) -> None:
        self.gossip = gossip
        self.peer = peer
        self.node_id = PublicKey.from_text(peer.node_id)
        assert gossip.session is not None, "links are made only by a started Gossip"
        node = gossip.node
        self.client = PeerClient(gossip.session, lambda: node.key, peer.url, self.node_id)
        self.queue: collections.deque[bytes] = collections.deque()
        self.backoff = Backoff()
        self.wake = asyncio.Event()
        self.sync_now = asyncio.Event()
        self.overflowed = False
        self.stats: collections.Counter[str] = collections.Counter()
        self.last_ok_ms = 0
        self.last_error = ""
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def key(self) -> str:
        return str(self.node_id)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_loop(), name=f"push {self.peer.url}"),
            asyncio.create_task(self._pull_loop(), name=f"pull {self.peer.url}"),
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
                try:
                    await self._send_once()
                    self._succeeded()
                except (PeerError, ProtocolError) as exc:
                    await self._failed("push", exc)
                except Exception as exc:  # a bug must not silence this peer for good
                    log.exception("push loop error peer=%s", self.peer.url)
                    await self._failed("push", exc)

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
        interval = self.gossip.node.config.sync_interval_s
        while True:
            try:
                await self.sync()
                self._succeeded()
            except (PeerError, ProtocolError) as exc:
                await self._failed("sync", exc)
                continue
            except Exception as exc:  # a bug must not silence this peer for good
                log.exception("sync loop error peer=%s", self.peer.url)
                await self._failed("sync", exc)
                continue
            self.sync_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sync_now.wait(), interval * random.uniform(0.8, 1.2))

    async def sync(self) -> int:
        """One anti-entropy pull from this peer; returns how many entries were stored."""
        started = time.perf_counter()
        node = self.gossip.node
        await self._pull_charters()
        theirs = await self.client.heads()
        node.watch.saw(self.peer.url, {a: h.seq for a, h in theirs.items()}, now_ms())
        ours = {a: Head(a, h.seq, h.entry_id) for a, h in node.heads.items()}
        pull = PullSync(ours, theirs, batch_entries=MAX_BATCH_ENTRIES, blocked=set(node.forked))
        await self._check(pull.comparison.check)
        stored = await self._pull_ranges(pull)
        await self._pull_forks()
        node.own_head_confirmed.set()  # this peer has shown us how far our own feed reaches
        if pull.comparison.offer:
            await self.client.notify()
        log.info(
            "sync peer=%s stored=%d behind=%d ahead=%d stalled=%d ms=%.0f",
            self.peer.url,
            stored,
            len(pull.comparison.want),
            len(pull.comparison.offer),
            len(pull.stalled),
            (time.perf_counter() - started) * 1000,
        )
        return stored

    async def _pull_ranges(self, pull: PullSync) -> int:
        """Fetch and store ranges, fetching the next batch while the current one is stored."""
        node, stored = self.gossip.node, 0
        request = pull.next_request()
        fetching = asyncio.ensure_future(self.client.fetch(request)) if request else None
        try:
            while fetching is not None:
                raws = await fetching
                _fit_batch(pull, raws)
                guess = pull.next_request(assuming=request)
                fetching = asyncio.ensure_future(self.client.fetch(guess)) if guess else None
                report = await node.ingest(raws, source=self.key, wait_index=False)
                self._count(report.rejected)
                stored += len(report.stored)
                pull.received(request, {r.author: self._seq(r.author) for r in request})
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

    def _seq(self, author: bytes) -> int:
        head = self.gossip.node.heads.get(author)
        return head.seq if head else 0

    async def _check(self, heads: Sequence[Head]) -> None:
        """Where the peer is level or behind, its entry id must be ours at that seq."""
        node = self.gossip.node
        suspects = []
        for head in heads:
            ours = node.heads.get(head.author)
            if ours is not None and ours.seq == head.seq:
                # Level with us, the usual case on every sync: our head is in memory.
                same = ours.entry_id == head.entry_id
            else:
                row = await node.store.entry_at(head.author, head.seq)
                same = row is None or row.id == head.entry_id
            if not same:
                suspects.append(Range(head.author, head.seq, head.seq))
        for start in range(0, len(suspects), 100):
            raws = await self.client.fetch(suspects[start : start + 100])
            await node.ingest(raws, source=self.key)  # a conflicting entry yields a fork proof

    async def _pull_charters(self) -> None:
        keeper = self.gossip.node.charters
        if keeper.latest is None:
            return
        raws = await self.client.charters(keeper.latest.number)
        if raws:
            report = await keeper.offer(raws, source=self.key)
            self._count(report.rejected)

    async def _pull_forks(self) -> None:
        node = self.gossip.node
        for data in await self.client.forks():
            try:
                proof = decode_fork_proof(data, node.policy)
            except ProtocolError:
                self.stats["invalid_fork_proofs"] += 1
                continue
            await node.record_fork(proof, source=self.key)

    # --- bookkeeping -----------------------------------------------------------------------

    def _count(self, rejected: collections.Counter[str]) -> None:
        for code, n in rejected.items():
            self.stats[f"rejected_{code}"] += n

    def _succeeded(self) -> None:
        self.backoff.success()
        self.last_ok_ms = int(time.time() * 1000)

    async def _failed(self, what: str, exc: Exception) -> None:
        delay = self.backoff.failure()
        self.last_error = str(exc)[:300]
        self.stats[f"{what}_failures"] += 1
        log.warning("%s failed peer=%s retry_in=%.1fs error=%r", what, self.peer.url, delay, exc)
        await asyncio.sleep(delay)

    def status(self) -> dict[str, Any]:
        node = self.gossip.node
        lagging = node.watch.lagging(self.peer.url, {a: h.seq for a, h in node.heads.items()})
        return {
            "url": self.peer.url,
            "node_id": self.key,
            "behind_on": [a.hex() for a in lagging],
            "queue": len(self.queue),
            "failures": self.backoff.failures,
            "last_ok_ms": self.last_ok_ms or None,
            "last_error": self.last_error or None,
            "stats": dict(self.stats),
        }


def _fit_batch(pull: PullSync, raws: Sequence[bytes]) -> None:
    """Ask for as many entries as fit in one answer, so that the prefetched guess is right.

    A peer stops an answer at ``MAX_BATCH_BYTES``; asking for more than fits makes every
    prefetch wrong (the store "falls short") and every batch fetched twice.
    """
    if raws:
        average = sum(map(len, raws)) / len(raws)
        fits = int(MAX_BATCH_BYTES * 0.8 / average)
        pull.batch_entries = max(1, min(MAX_BATCH_ENTRIES, fits))


def _subscribe(listeners: list[Any], listener: Any) -> Callable[[], None]:
    listeners.append(listener)
    return lambda: listeners.remove(listener)


class Gossip:
    """All of a node's peer links, kept in step with the peers in its config file."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.session: aiohttp.ClientSession | None = None
        self.links: dict[str, PeerLink] = {}
        self._watch: asyncio.Task[None] | None = None
        self._config_mtime = 0.0
        self._unsubscribe: list[Any] = []
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        await self._reconcile(self.node.config.peers)
        self._config_mtime = self._mtime()
        self._unsubscribe = [
            self.node.subscribe(self._on_entries),
            self.node.subscribe_forks(self._on_fork),
            _subscribe(self.node.charters.listeners, self._on_charter),
        ]
        self._watch = asyncio.create_task(self._watch_config(), name="watch config")

    async def stop(self) -> None:
        for undo in self._unsubscribe:
            undo()
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
        if self.session is not None:
            await self.session.close()

    def accepts(self, key: PublicKey) -> bool:
        """Whether to serve a request signed by ``key``.

        Under a charter: any current member's current key (membership is the gate, so a
        member's rotated key is accepted without editing peer lists). Without one: the keys of
        the configured peers.
        """
        policy = self.node.charters.policy
        if policy is not None:
            return policy.member_of_key(key.raw) is not None
        return str(key) in self.links

    def want_sync(self, peer: str) -> None:
        """Pull from ``peer`` now (a push left a gap, or the peer says it has more)."""
        if link := self.links.get(peer):
            link.sync_now.set()

    def _on_entries(self, entries: Sequence[Entry], source: str | None) -> None:
        raws = [e.raw for e in entries]
        for key, link in self.links.items():
            if key != source:
                link.enqueue(raws)

    def _on_fork(self, proof: ForkProof, source: str | None) -> None:
        data = proof.encode()
        for key, link in self.links.items():
            if key != source:
                self._spawn(self._push_fork(link, data))

    def _on_charter(self, charter: Charter, source: str | None) -> None:
        data = charter.encode()
        for key, link in self.links.items():
            if key != source:
                self._spawn(self._push_charter(link, data))

    async def _push_charter(self, link: PeerLink, data: bytes) -> None:
        try:
            await link.client.push_charters([data])
        except PeerError as exc:
            log.warning("charter relay failed peer=%s error=%r", link.peer.url, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _push_fork(self, link: PeerLink, data: bytes) -> None:
        try:
            await link.client.push_forks([data])
        except PeerError as exc:
            log.warning("fork relay failed peer=%s error=%r", link.peer.url, exc)

    # --- configuration ---------------------------------------------------------------------

    def _mtime(self) -> float:
        try:
            return self.node.data.config.stat().st_mtime
        except OSError:
            return 0.0

    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            mtime = self._mtime()
            if mtime == self._config_mtime:
                continue
            self._config_mtime = mtime
            try:
                config = load_config(self.node.data)
            except Exception as exc:  # a half-edited file must not stop the node
                log.warning("config reload failed: %s", exc)
                continue
            await self._reconcile(config.peers)

    async def _reconcile(self, peers: Sequence[PeerConfig]) -> None:
        wanted = {}
        for peer in peers:
            try:
                wanted[str(PublicKey.from_text(peer.node_id))] = peer
            except ProtocolError:
                log.warning("ignoring peer with a malformed node id url=%s", peer.url)
        for key in set(self.links) - set(wanted):
            await self.links.pop(key).stop()
            log.info("peer removed node_id=%s", key)
        for key, peer in wanted.items():
            current = self.links.get(key)
            if current is not None and current.peer == peer:
                continue
            if current is not None:
                await current.stop()
            link = PeerLink(self, peer)
            self.links[key] = link
            link.start()
            log.info("peer added url=%s node_id=%s", peer.url, key)

    def status(self) -> list[dict[str, Any]]:
        return [link.status() for link in self.links.values()]
