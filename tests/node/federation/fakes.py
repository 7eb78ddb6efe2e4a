"""Plain fakes for unit tests of one federation class: a transport, a replica, a peer list.

Each stands in for one collaborator through the Protocol the class declares
(``PeerTransport``, ``Replica``, ``PeerSource``); the class under test is the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.config import PeerConfig
from node.federation.errors import PeerError
from node.replica.charters import CharterReport
from node.replica.events import Events, Listener
from node.replica.feeds import Feeds
from node.replica.ingest import IngestReport
from node.store import ForkRecord, StoredEntry
from protocol.bank import BankDigest
from protocol.entry import Entry, decode_entry
from protocol.feed import ForkProof, KeyPolicy, SelfCertifying
from protocol.identity import PublicKey, SigningKey
from protocol.sync import EntryState, FeedDigest, FeedRow, Head, Range

EMPTY = BankDigest().value()  # the feed digest of a feed without standing items


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now_ms: int = 1_760_000_000_000) -> None:
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.ms / 1000


@dataclass
class FakeTransport:
    """One peer as a link sees it: answers from memory, records what it was sent.

    ``fail_pushes`` makes that many pushes fail; ``on_push`` runs at the first push, once.
    """

    entries: Sequence[Entry] = ()  # the peer's entries, one author's feed in order
    fail_pushes: int = 0
    on_push: Callable[[list[bytes]], None] | None = None
    pushes: list[list[bytes]] = field(default_factory=list)
    failed_pushes: list[list[bytes]] = field(default_factory=list)
    fetches: list[list[Range]] = field(default_factory=list)
    charters_pushed: list[list[bytes]] = field(default_factory=list)
    forks_pushed: list[list[bytes]] = field(default_factory=list)
    notifies: int = 0
    pushed_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def heads(self) -> dict[bytes, Head]:
        if not self.entries:
            return {}
        last = self.entries[-1]
        return {last.author: Head(last.author, last.seq, last.id)}

    async def digests(self) -> dict[bytes, FeedDigest]:
        # Feed digests as a replica with no items would give them (FakeReplica's too).
        return {a: FeedDigest(a, h.seq, h.entry_id, EMPTY) for a, h in (await self.heads()).items()}

    async def feed(self, request: Range) -> list[FeedRow]:
        by_seq = {e.seq: e for e in self.entries}
        return [
            FeedRow(s, by_seq[s].id, EntryState.HELD, 0)
            for s in range(request.first, request.last + 1)
            if s in by_seq
        ]

    async def fetch(self, ranges: list[Range]) -> list[bytes]:
        self.fetches.append(list(ranges))
        by_seq = {e.seq: e for e in self.entries}
        return [by_seq[s].raw for r in ranges for s in range(r.first, r.last + 1) if s in by_seq]

    async def push(self, raws: list[bytes]) -> None:
        if self.on_push is not None:
            hook, self.on_push = self.on_push, None
            hook(raws)
        if self.fail_pushes:
            self.fail_pushes -= 1
            self.failed_pushes.append(list(raws))
            raise PeerError("POST /v1/peer/push: cannot connect")
        self.pushes.append(list(raws))
        self.pushed_event.set()

    async def forks(self) -> list[bytes]:
        return []

    async def charters(self, after: int) -> list[bytes]:
        return []

    async def push_charters(self, charters: list[bytes]) -> None:
        self.charters_pushed.append(list(charters))

    async def push_forks(self, proofs: list[bytes]) -> None:
        self.forks_pushed.append(list(proofs))

    async def notify(self) -> None:
        self.notifies += 1

    @property
    def pushed(self) -> list[bytes]:
        """Everything pushed successfully, in order."""
        return [raw for batch in self.pushes for raw in batch]


class FakeReplica:
    """The replica as federation sees it (``node.federation.port.Replica``), in memory.

    ``ingest`` places entries that continue a feed and, with ``stores`` False, stores nothing
    (as when every entry a peer sends is invalid).
    """

    def __init__(self, key: SigningKey, *, stores: bool = True) -> None:
        self.feeds = Feeds({}, {})
        self.own_head_confirmed = asyncio.Event()
        self.events = Events()
        self.stores = stores
        self.ingested: list[list[bytes]] = []
        self.forks_recorded: list[ForkProof] = []
        self._key = key
        self._policy = SelfCertifying()

    @property
    def key(self) -> SigningKey:
        return self._key

    @property
    def policy(self) -> KeyPolicy:
        return self._policy

    @property
    def charter_number(self) -> int | None:
        return None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.events.subscribe(listener)

    def accepts_peer(self, key: PublicKey) -> bool | None:
        return None

    def is_own_key(self, key: PublicKey) -> bool:
        return key == self._key.public_key

    def charters_since(self, number: int) -> list[bytes]:
        return []

    async def ingest(
        self, raws: Sequence[bytes], *, source: str, wait_index: bool = True
    ) -> IngestReport:
        self.ingested.append(list(raws))
        stored = []
        for raw in raws if self.stores else ():
            entry = decode_entry(raw)
            if entry.seq == self.feeds.seq(entry.author) + 1:
                self.feeds.committed([entry])
                stored.append(entry)
        rejected = {} if self.stores else {"bad_signature": len(raws)}
        reached: dict[bytes, int] = {}
        for entry in stored:
            reached[entry.author] = max(entry.seq, reached.get(entry.author, 0))
        return IngestReport(stored, 0, 0, rejected, (), (), reached)

    async def record_fork(self, proof: ForkProof, source: str | None = None) -> bool:
        self.forks_recorded.append(proof)
        return True

    async def offer_charters(self, raws: Sequence[bytes], source: str | None) -> CharterReport:
        return CharterReport()

    async def entry_at(self, author: bytes, seq: int) -> StoredEntry | None:
        return None

    async def entry_range(self, author: bytes, first: int, last: int) -> list[bytes]:
        return []

    async def forks(self) -> list[ForkRecord]:
        return []

    def feed_digests(self) -> list[FeedDigest]:
        return [FeedDigest(a, h.seq, h.entry_id, EMPTY) for a, h in self.feeds.heads.items()]

    async def feed_rows(self, author: bytes, first: int, last: int) -> list[FeedRow]:
        return []

    async def incomplete_entries(self, limit: int) -> list[StoredEntry]:
        return []


class FakePeers:
    """A peer list that changes when the test says so (``node.federation.gossip.PeerSource``)."""

    def __init__(self, peers: Sequence[PeerConfig]) -> None:
        self.peers = tuple(peers)
        self._next: tuple[PeerConfig, ...] | None = None

    def current(self) -> Sequence[PeerConfig]:
        return self.peers

    def changed(self) -> Sequence[PeerConfig] | None:
        if self._next is None:
            return None
        self.peers, self._next = self._next, None
        return self.peers

    def change_to(self, peers: Sequence[PeerConfig]) -> None:
        self._next = tuple(peers)
