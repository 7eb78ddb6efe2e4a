"""The replica's composition root: one node's store, index, feeds, charter and workers.

``Node`` builds the pieces and wires them together; each job lives in its own module
(``publish``, ``ingest``, ``charters``, ``lookup``, ``status``). The other packages reach the
replica through the few methods here, never through its parts' parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import numpy as np

from node import __version__
from node.clock import SYSTEM, Clock
from node.config import Config, load_config
from node.datadir import DataDir, load_case_secret, load_key
from node.limits import RateLimiter
from node.matching.matcher import Matcher
from node.replica.cases import Cases, CaseSeal, PinGuard
from node.replica.charters import CharterKeeper, CharterReport
from node.replica.decoder import Decoder
from node.replica.drafts import CharterDrafts
from node.replica.events import Events, ItemsChanged, Listener
from node.replica.feeds import Feeds
from node.replica.forks import load_fork_seqs
from node.replica.imports import Imports
from node.replica.ingest import Ingester, IngestReport
from node.replica.junk import NeverPublish
from node.replica.keys import KeyRing
from node.replica.lookup import Lookup
from node.replica.publish import Publisher
from node.replica.status import (
    MAX_LISTED,
    FeedStatus,
    ForkStatus,
    IncompleteStatus,
    ReplicaStatus,
    charter_status,
    member_names,
)
from node.store import ForkRecord, Store, StoredEntry, Transaction
from protocol.feed import ForkProof, KeyPolicy
from protocol.identity import OrgId, PublicKey, SigningKey, org_id_for
from protocol.signals import PDQ
from protocol.sync import FeedDigest, FeedRow

log = logging.getLogger("hashbank.node")
# Case-number-and-PIN attempts one client may make in a window, whatever the case numbers.
PIN_TRIES = 20
PIN_WINDOW_S = 600.0


class Node:
    """One hashbank node, bound to its data directory and store."""

    def __init__(
        self,
        data: DataDir,
        config: Config,
        keys: KeyRing,
        store: Store,
        case_secret: bytes,
        clock: Clock = SYSTEM,
    ) -> None:
        self.data = data
        self.config = config
        self.org = (
            OrgId(bytes.fromhex(config.org_id))
            if config.org_id
            else org_id_for(keys.current.public_key)
        )
        self.keys = keys
        self.store = store
        self.clock = clock
        self.started = clock.monotonic()
        self.index_origin = ""  # "loaded" (a saved index matched the store) or "built"
        self.events = Events()
        self.matcher = Matcher()
        self.decoder = Decoder(config.decode_workers)
        self.feeds = Feeds({}, {})
        # Set once a peer has shown us our own feed's head (or there are no peers): a node
        # restored from a backup must not sign a second entry at a seq it already used.
        self.own_head_confirmed = asyncio.Event()
        if not config.peers or not config.confirm_own_head:
            self.own_head_confirmed.set()
        feeds, matcher, events = self.feeds, self.matcher, self.events
        self.charters = CharterKeeper(
            org=self.org, store=store, feeds=feeds, matcher=matcher, keys=keys, events=events,
            clock=clock,
        )  # fmt: skip
        self.never_publish = NeverPublish(data.never_publish)
        self.publisher = Publisher(
            org=self.org, subscriber=config.role == "subscriber", keys=keys, store=store,
            feeds=feeds, charters=self.charters, matcher=matcher, events=events, clock=clock,
            own_head_confirmed=self.own_head_confirmed, never_publish=self.never_publish,
        )  # fmt: skip
        self.ingester = Ingester(
            store=store, feeds=feeds, charters=self.charters, matcher=matcher,
            decoder=self.decoder, events=events, clock=clock,
        )  # fmt: skip
        self.lookup = Lookup(store, matcher)
        self.cases = Cases(
            store=store, publisher=self.publisher, seal=CaseSeal(case_secret), clock=clock,
            org=self.org,
        )  # fmt: skip
        self.pins = PinGuard(store, clock, RateLimiter(PIN_TRIES / PIN_WINDOW_S, PIN_TRIES))
        self.imports = Imports(clock)
        self.drafts = CharterDrafts(data.charter_drafts, clock)

    @classmethod
    async def open(cls, data: DataDir, *, check: bool = True, clock: Clock = SYSTEM) -> Node:
        """Open the node in ``data``: configuration, key, store, and in-memory state."""
        data.require()
        config = load_config(data)
        keys = KeyRing(data, load_key(data))
        store = await Store.open(data.store, create=True, check=check)
        try:
            node = cls(data, config, keys, store, load_case_secret(data), clock)
        except BaseException:
            await store.close()
            raise
        try:
            await node._load()
        except BaseException:
            await store.close()
            raise
        return node

    async def _load(self) -> None:
        await self.charters.load()
        self.feeds.heads = await self.store.heads()
        stored = {f.author: f.proof for f in await self.store.forks()}
        self.feeds.forked = load_fork_seqs(stored, self.charters.policy)
        await self.expire()
        started = self.clock.monotonic()
        self.index_origin = await self.matcher.load(
            self._index_marker(), self.data.root / "pdq-index", self._index_rows
        )
        took = self.clock.monotonic() - started
        log.info("pdq index %s items=%d s=%.2f", self.index_origin, len(self.matcher.pdq), took)

    async def close(self) -> None:
        """Save the PDQ index (so the next start loads instead of rebuilding), close the store."""
        try:
            await self.matcher.save(self._index_marker(), self.data.root / "pdq-index")
        except OSError as exc:
            log.warning("could not save the PDQ index: %s", exc)
        await self.decoder.close()
        await self.store.close()

    def _index_marker(self) -> str:
        return f"{self.store.digest.value().hex()}:{self.store.next_item_id}"

    async def _index_rows(self) -> tuple[np.ndarray, np.ndarray]:
        return await self.store.active_values(PDQ)

    # --- what the other packages use ---------------------------------------------------------

    @property
    def key(self) -> SigningKey:
        """The key this node signs with now (read at every use: rotation takes effect at once)."""
        return self.keys.current

    @property
    def policy(self) -> KeyPolicy:
        return self.charters.policy

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.events.subscribe(listener)

    async def ingest(
        self, raws: Sequence[bytes], *, source: str, wait_index: bool = True
    ) -> IngestReport:
        return await self.ingester.ingest(raws, source=source, wait_index=wait_index)

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool:
        return await self.ingester.record_fork(proof, source)

    async def offer_charters(self, raws: Sequence[bytes], source: str | None) -> CharterReport:
        return await self.charters.offer(raws, source)

    def charters_since(self, number: int) -> list[bytes]:
        return self.charters.since(number)

    @property
    def charter_number(self) -> int | None:
        """Our latest charter version's number (None before the operator adopts one)."""
        latest = self.charters.latest
        return None if latest is None else latest.number

    def accepts_peer(self, key: PublicKey) -> bool | None:
        """Under a charter, whether ``key`` is a current member's current key; else None."""
        policy = self.charters.charter_policy
        return None if policy is None else policy.member_of_key(key.raw) is not None

    def names(self) -> dict[bytes, str]:
        """Organisation names by org id, from the charter (and our own)."""
        return member_names(self.charters.chain, self.org, self.config.name)

    def is_own_key(self, key: PublicKey) -> bool:
        """Whether ``key`` is any key of this organisation's in the charter (a peer that has
        not learned of our key rotation yet still addresses us by the old one)."""
        chain = self.charters.chain
        member = chain.last_listing(self.org) if chain is not None else None
        return member is not None and any(k.key == key.raw for k in member.keys)

    async def entry(self, entry_id: bytes) -> StoredEntry | None:
        return await self.store.entry_by_id(entry_id)

    async def entry_at(self, author: bytes, seq: int) -> StoredEntry | None:
        return await self.store.entry_at(author, seq)

    async def entry_range(self, author: bytes, first: int, last: int) -> list[bytes]:
        return await self.store.entry_range(author, first, last)

    async def forks(self) -> list[ForkRecord]:
        return await self.store.forks()

    def feed_digests(self) -> list[FeedDigest]:
        """Every head with its author's feed digest, taken at one moment."""
        return [
            FeedDigest(a, h.seq, h.entry_id, self.store.feed_digest(a))
            for a, h in self.feeds.heads.items()
        ]

    async def feed_rows(self, author: bytes, first: int, last: int) -> list[FeedRow]:
        return await self.store.feed_rows(author, first, last)

    async def incomplete_entries(self, limit: int) -> list[StoredEntry]:
        """Entries held without a body that is still wanted, to ask peers for."""
        return await self.store.incomplete_entries(limit)

    def expire_held(self) -> int:
        """Drop entries held ahead of a gap for too long; returns how many."""
        return self.feeds.holdback.expire(self.clock.monotonic())

    async def expire(self) -> int:
        """Deactivate expired items (the change feed records them); returns how many."""

        async def work(txn: Transaction) -> list[int]:
            return [it.item_id for it in await txn.expire(self.clock.now_ms())]

        gone = await self.store.transaction(work)
        if gone:
            await self.matcher.apply_soon([], [], gone)
            self.events.emit(ItemsChanged(len(gone)))
        return len(gone)

    async def status(self) -> ReplicaStatus:
        chain = self.charters.chain
        names = self.names()
        advanced = await self.store.head_times()
        return ReplicaStatus(
            node_id=str(self.key.public_key),
            org_id=self.org,
            name=self.config.name,
            role=self.config.role,
            version=__version__,
            uptime_s=round(self.clock.monotonic() - self.started, 1),
            bank_digest=self.store.digest.value(),
            counts=await self.store.counts(),
            pdq_indexed=len(self.matcher.pdq),
            forks=tuple(ForkStatus(a, s) for a, s in sorted(self.feeds.forked.items())),
            rejected=dict(self.ingester.rejections),
            charter=charter_status(chain, self.org),
            held=len(self.feeds.holdback),
            held_bytes=self.feeds.holdback.size,
            incomplete=await self.store.incomplete_count(),
            incomplete_entries=tuple(
                IncompleteStatus(r.author, r.seq, r.id)
                for r in await self.store.incomplete_entries(MAX_LISTED)
            ),
            feeds=tuple(
                FeedStatus(a, names.get(a), h.seq, advanced.get(a))
                for a, h in sorted(self.feeds.heads.items())
            ),
            names=names,
        )
