"""Gossip: push new entries to every peer at once, pull from each peer periodically.

Each peer has its own ``PeerLink``. Entries learned from one peer are relayed to all the
others unchanged, so members that are not peers still reach each other; receivers verify
every signature themselves. The peer list is the operator's config file, re-read when it
changes, so ``hashbank peers add`` reaches a running node within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from node.clock import SYSTEM, Clock
from node.config import PeerConfig, load_config
from node.datadir import DataDir
from node.federation.client import PeerTransport
from node.federation.errors import PeerError
from node.federation.peer_link import PeerLink, PeerStatus
from node.federation.port import Replica
from node.federation.staleness import HeadWatch, Sighting
from node.replica.events import CharterAdopted, EntriesStored, Event, ForkRecorded
from protocol.errors import ProtocolError
from protocol.identity import PublicKey

log = logging.getLogger("hashbank.gossip")
CONFIG_POLL_S = 1.0
Transports = Callable[[PeerConfig], PeerTransport]


class PeerSource(Protocol):
    """Where the peer list comes from: ``changed()`` is None until it differs from last time."""

    def current(self) -> Sequence[PeerConfig]: ...

    def changed(self) -> Sequence[PeerConfig] | None: ...


class ConfigPeers:
    """The ``[[peers]]`` of a data directory's config file, noticed when the file changes."""

    def __init__(self, data: DataDir, peers: Sequence[PeerConfig]) -> None:
        self.data = data
        self._peers = tuple(peers)
        self._mtime = self._stamp()

    def _stamp(self) -> float:
        try:
            return self.data.config.stat().st_mtime
        except OSError:
            return 0.0

    def current(self) -> Sequence[PeerConfig]:
        return self._peers

    def changed(self) -> Sequence[PeerConfig] | None:
        mtime = self._stamp()
        if mtime == self._mtime:
            return None
        self._mtime = mtime
        try:
            self._peers = load_config(self.data).peers
        except Exception as exc:  # a half-edited file must not stop the node
            log.warning("config reload failed: %s", exc)
            return None
        return self._peers


@dataclass(frozen=True, slots=True)
class FederationStatus:
    """Every peer link, and what the peers have announced about every feed."""

    peers: tuple[PeerStatus, ...]
    sightings: dict[bytes, Sighting]


class Gossip:
    """All of a node's peer links, kept in step with its peer list."""

    def __init__(
        self,
        replica: Replica,
        peers: PeerSource,
        transports: Transports,
        *,
        interval_s: float,
        clock: Clock = SYSTEM,
    ) -> None:
        self.replica = replica
        self.peers = peers
        self.transports = transports
        self.interval_s = interval_s
        self.clock = clock
        self.watch = HeadWatch()
        self.links: dict[str, PeerLink] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._reconcile(self.peers.current())
        self._unsubscribe = self.replica.subscribe(self._on_event)
        self._watch_task = asyncio.create_task(self._watch_peers(), name="watch config")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._watch_task:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()

    def accepts(self, key: PublicKey) -> bool:
        """Whether to serve a request signed by ``key``.

        Under a charter: any current member's current key (membership is the gate, so a
        member's rotated key is accepted without editing peer lists). Without one: the keys of
        the configured peers.
        """
        member = self.replica.accepts_peer(key)
        return str(key) in self.links if member is None else member

    def want_sync(self, peer: str) -> None:
        """Pull from ``peer`` now (a push left a gap, or the peer says it has more)."""
        if link := self.links.get(peer):
            link.sync_now.set()

    def status(self) -> FederationStatus:
        return FederationStatus(
            tuple(link.status() for link in self.links.values()), dict(self.watch.best)
        )

    # --- relaying --------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, EntriesStored):
            raws = [e.raw for e in event.entries]
            for link in self._others(event.source):
                link.enqueue(raws)
        elif isinstance(event, ForkRecorded):
            data = event.proof.encode()
            for link in self._others(event.source):
                self._spawn(_relay(link, "fork", link.client.push_forks, [data]))
        elif isinstance(event, CharterAdopted):
            data = event.charter.encode()
            for link in self._others(event.source):
                self._spawn(_relay(link, "charter", link.client.push_charters, [data]))

    def _others(self, source: str | None) -> list[PeerLink]:
        return [link for key, link in self.links.items() if key != source]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- the peer list ---------------------------------------------------------------------

    async def _watch_peers(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            peers = self.peers.changed()
            if peers is not None:
                await self._reconcile(peers)

    async def _reconcile(self, peers: Sequence[PeerConfig]) -> None:
        wanted: dict[str, PeerConfig] = {}
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
            if current is not None and current.url == peer.url:
                continue
            if current is not None:
                await current.stop()
            self.links[key] = link = self._link(peer)
            link.start()
            log.info("peer added url=%s node_id=%s", peer.url, key)

    def _link(self, peer: PeerConfig) -> PeerLink:
        return PeerLink(
            url=peer.url,
            node_id=PublicKey.from_text(peer.node_id),
            replica=self.replica,
            transport=self.transports(peer),
            watch=self.watch,
            clock=self.clock,
            interval_s=self.interval_s,
        )


async def _relay(
    link: PeerLink,
    what: str,
    send: Callable[[list[bytes]], Coroutine[Any, Any, None]],
    data: list[bytes],
) -> None:
    try:
        await send(data)
    except PeerError as exc:
        log.warning("%s relay failed peer=%s error=%r", what, link.url, exc)
