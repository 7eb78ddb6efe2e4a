"""What federation needs from the local replica (``node.replica.node.Node`` provides it).

Gossip, peer links and the peer endpoints see the replica only through this, so their unit
tests pass a plain fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from node.replica.charters import CharterReport
from node.replica.events import Listener
from node.replica.feeds import Feeds
from node.replica.ingest import IngestReport
from node.store import ForkRecord, StoredEntry
from protocol.feed import ForkProof, KeyPolicy
from protocol.identity import PublicKey, SigningKey
from protocol.sync import FeedDigest, FeedRow


class Replica(Protocol):
    """The local replica, as federation sees it."""

    feeds: Feeds
    own_head_confirmed: asyncio.Event

    @property
    def key(self) -> SigningKey: ...

    @property
    def policy(self) -> KeyPolicy: ...

    @property
    def charter_number(self) -> int | None: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def accepts_peer(self, key: PublicKey) -> bool | None: ...

    def is_own_key(self, key: PublicKey) -> bool: ...

    def charters_since(self, number: int) -> list[bytes]: ...

    async def ingest(
        self, raws: Sequence[bytes], *, source: str, wait_index: bool = True
    ) -> IngestReport: ...

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool: ...

    async def offer_charters(self, raws: Sequence[bytes], source: str | None) -> CharterReport: ...

    async def entry_at(self, author: bytes, seq: int) -> StoredEntry | None: ...

    async def entry_range(self, author: bytes, first: int, last: int) -> list[bytes]: ...

    async def forks(self) -> list[ForkRecord]: ...

    def feed_digests(self) -> list[FeedDigest]: ...

    async def feed_rows(self, author: bytes, first: int, last: int) -> list[FeedRow]: ...

    async def incomplete_entries(self, limit: int) -> list[StoredEntry]: ...
