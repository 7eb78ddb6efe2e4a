"""``Gossip`` with fake transports, a fake replica and a fake peer list: relaying, reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from node.config import PeerConfig
from node.federation.gossip import Gossip
from node.replica.events import CharterAdopted, EntriesStored, ForkRecorded
from protocol.feed import ForkProof
from protocol.identity import SigningKey
from tests.builders import Author, pdq_item
from tests.charters import genesis, member
from tests.node.federation.fakes import FakeClock, FakePeers, FakeReplica, FakeTransport
from tests.nodes import wait_until

OURS = SigningKey(b"\x30" * 32)
KEYS = [SigningKey(bytes([0x31 + i]) * 32) for i in range(4)]


def peer(i: int, url: str | None = None) -> PeerConfig:
    return PeerConfig(url or f"http://peer{i}.invalid", str(KEYS[i].public_key))


class Transports:
    """Makes a fake transport per link, remembering each by the link's URL."""

    def __init__(self) -> None:
        self.made: dict[str, FakeTransport] = {}

    def __call__(self, config: PeerConfig) -> FakeTransport:
        self.made[config.url] = transport = FakeTransport()
        return transport


@dataclass
class Rig:
    """A started ``Gossip`` over three peers, and the fakes around it."""

    gossip: Gossip
    replica: FakeReplica
    peers: FakePeers
    transports: Transports


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    replica, peers, transports = (
        FakeReplica(OURS),
        FakePeers([peer(0), peer(1), peer(2)]),
        Transports(),
    )
    g = Gossip(replica, peers, transports, interval_s=3600, clock=FakeClock())
    await g.start()
    yield Rig(g, replica, peers, transports)
    await g.stop()


def key(i: int) -> str:
    return str(KEYS[i].public_key)


async def settle() -> None:
    """Let the relay tasks spawned by an event run (each is one call to a fake)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_fork_is_relayed_to_every_link_but_its_source(rig: Rig) -> None:
    replica, transports = rig.replica, rig.transports
    author = Author(51)
    first = author.add(pdq_item(1))
    rival = Author(51)
    proof = ForkProof.of(first, rival.add(pdq_item(2)))
    replica.events.emit(ForkRecorded(proof, source=key(1)))
    await settle()
    sent = {url: t.forks_pushed for url, t in transports.made.items()}
    assert sent == {
        "http://peer0.invalid": [[proof.encode()]],
        "http://peer1.invalid": [],
        "http://peer2.invalid": [[proof.encode()]],
    }


async def test_a_charter_is_relayed_to_every_link_but_its_source(rig: Rig) -> None:
    replica, transports = rig.replica, rig.transports
    charter = genesis([member(OURS, "Us", "publisher", "steward")], OURS)
    replica.events.emit(CharterAdopted(charter, source=key(2)))
    await settle()
    sent = {url: t.charters_pushed for url, t in transports.made.items()}
    assert sent == {
        "http://peer0.invalid": [[charter.encode()]],
        "http://peer1.invalid": [[charter.encode()]],
        "http://peer2.invalid": [],
    }
    # Ours (no source): to everyone.
    replica.events.emit(CharterAdopted(charter, source=None))
    await settle()
    assert [len(t.charters_pushed) for t in transports.made.values()] == [2, 2, 1]


async def test_stored_entries_are_pushed_to_every_link_but_their_source(rig: Rig) -> None:
    g, replica, transports = rig.gossip, rig.replica, rig.transports
    author = Author(52)
    entries = [author.add(pdq_item(n)) for n in range(3)]
    replica.events.emit(EntriesStored(entries, source=key(0)))
    others = [transports.made["http://peer1.invalid"], transports.made["http://peer2.invalid"]]

    async def pushed() -> bool:
        return all(t.pushed == [e.raw for e in entries] for t in others)

    await wait_until(pushed, what="the entries pushed to the other two links")
    assert not g.links[key(0)].queue
    assert transports.made["http://peer0.invalid"].pushes == []


async def test_a_config_reload_adds_removes_and_replaces_links(rig: Rig) -> None:
    g, peers, transports = rig.gossip, rig.peers, rig.transports
    assert set(g.links) == {key(0), key(1), key(2)}
    before = dict(g.links)
    # peer 0 goes, peer 3 comes, peer 1 moves to a new URL, peer 2 stays as it was.
    peers.change_to([peer(1, "http://peer1-moved.invalid"), peer(2), peer(3)])

    async def reloaded() -> bool:
        return set(g.links) == {key(1), key(2), key(3)}

    await wait_until(reloaded, what="the reloaded peer list")  # polled about once a second
    assert g.links[key(1)].url == "http://peer1-moved.invalid"
    assert g.links[key(1)] is not before[key(1)]
    assert g.links[key(2)] is before[key(2)]
    assert "http://peer3.invalid" in transports.made
    for gone in (before[key(0)], before[key(1)]):  # stopped: their loops no longer run
        assert all(task.done() for task in gone._tasks)
    assert g.accepts(KEYS[3].public_key)  # no charter: the configured peers are accepted
    assert not g.accepts(KEYS[0].public_key)


async def test_a_malformed_node_id_in_the_peer_list_is_skipped(rig: Rig) -> None:
    g, peers = rig.gossip, rig.peers
    peers.change_to([peer(0), PeerConfig("http://bad.invalid", "not-a-key")])

    async def reloaded() -> bool:
        return set(g.links) == {key(0)}

    await wait_until(reloaded, what="the reloaded peer list without the malformed peer")
