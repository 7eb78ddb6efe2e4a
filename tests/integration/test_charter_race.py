"""Signed evidence that arrives from a peer while a large ingest is under way.

Before the store had one transaction door, a charter version offered by a peer while the node
was importing a bulk of entries tried to begin its own transaction on the connection the
import held, failed with ``sqlite3.OperationalError: cannot start a transaction within a
transaction``, and left the node believing version 2 in memory while its database kept
version 1: the next restart silently went back to the old charter, and the feeds the new
version judged differently were never brought in line. A fork proof arriving the same way
was lost the same way, so a restarted node accepted the forked author again.

These tests guard that: a real node (in-process, real SQLite, real signatures, real HTTP)
imports a few thousand entries through ``POST /v1/entries`` while a peer pushes a charter
version (``POST /v1/peer/charters``) or a fork proof (``POST /v1/peer/forks``), the ingest
held at a known point so the overlap happens on every run (``Gate``):

- ``inside`` its store transaction (the collision above): the evidence must queue at the
  store's one door, not fail, and be written once the ingest's transaction has committed;
- ``between`` two of its transactions: the evidence must be committed before the ingest goes
  on.

Either way the charter version must be conformed into the feeds it affects (entries stored
before it and after it alike), both must be relayed to the node's other peer, and both must
still be there after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from node.datadir import load_key
from node.federation.client import MSGPACK
from node.replica.decoder import Decoder, Outcome
from node.replica.node import Node
from protocol import wire
from protocol.charter import Charter, Takedown
from protocol.entry import Entry
from protocol.feed import ForkProof
from protocol.httpsig import sign_request
from protocol.identity import SigningKey
from tests.builders import Author, pdq_item, pdq_value
from tests.charters import genesis, member, successor
from tests.nodes import RunningNode, make_data, wait_until

ENTRIES = 4000
PER_REQUEST = 1000  # the most POST /v1/entries takes at once
HOLD_AT = 1501  # the ingest waits before the chunk that starts at this seq (chunks of 500)
TAKEDOWN = (1400, 1600)  # spans entries stored before the new version and after it
WHERE = ("between", "inside")  # where the ingest is held (see Gate)
Push = Callable[[], Awaitable[None]]


class HeldDecoder:
    """The node's decoder, made to wait before checking the chunk that starts with ``raw``."""

    def __init__(
        self, inner: Decoder, raw: bytes, reached: asyncio.Event, release: asyncio.Event
    ) -> None:
        self.inner = inner
        self.raw = raw
        self.reached = reached
        self.release = release

    async def check(self, raws: Sequence[bytes], now_ms: int) -> list[Outcome]:
        if raws and raws[0] == self.raw:
            self.reached.set()
            await self.release.wait()
        return await self.inner.check(raws, now_ms)

    async def close(self) -> None:
        await self.inner.close()


class Gate:
    """Holds the node's ingest at the chunk that starts at seq ``HOLD_AT`` (raw ``raw``).

    ``between``: before the chunk is checked, with the chunk before it committed, so the
    ingest sits between two of its transactions. ``inside``: within the chunk's own store
    transaction (begun, nothing written yet), the moment that used to collide. Either way
    the store is the real one; ``queued`` lists which writers reached its door meanwhile.
    """

    def __init__(self, node: Node, where: str, raw: bytes) -> None:
        self.node = node
        self.where = where
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.queued: list[str] = []
        self._store_transaction = node.store.transaction
        node.store.transaction = self._transaction  # type: ignore[method-assign]
        if where == "between":
            held = HeldDecoder(node.decoder, raw, self.reached, self.release)
            node.ingester.decoder = held  # type: ignore[assignment]
        else:
            self._feeds_write = node.feeds.write
            node.feeds.write = self._write  # type: ignore[method-assign]

    async def _transaction(self, work: Any) -> Any:
        if self.reached.is_set():
            self.queued.append(work.__qualname__)
        return await self._store_transaction(work)

    async def _write(self, txn: Any, entries: Sequence[Entry], now_ms: int, **kw: Any) -> Any:
        if entries and entries[0].seq == HOLD_AT:
            self.reached.set()
            await self.release.wait()
        return await self._feeds_write(txn, entries, now_ms, **kw)


@dataclass
class Network:
    """Node ``n`` (the one under test) peered with node ``q``; ``p`` is a third member's key."""

    n: RunningNode
    q: RunningNode
    p: SigningKey
    publisher: Author  # imported in bulk into n
    forker: Author  # a member whose feed forks
    v1: Charter

    async def stop(self) -> None:
        for node in (self.n, self.q):
            await node.stop()


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[Network]:
    q_data = make_data(tmp_path / "q", name="Q")
    n_data = make_data(tmp_path / "n", name="N")
    q = await RunningNode.start(q_data)
    q_id = str(load_key(q_data).public_key)
    write_config(
        n_data,
        replace(load_config(n_data), peers=(PeerConfig(q.url, q_id),), confirm_own_head=False),
    )
    p, publisher, forker = SigningKey(b"\x71" * 32), Author(301), Author(302)
    n_key = load_key(n_data)
    v1 = genesis(
        [
            member(n_key, "N", "publisher", "steward"),
            member(load_key(q_data), "Q", "publisher", "steward"),
            member(p, "P", "publisher", "steward"),
            member(publisher.key, "Bulk publisher"),
            member(forker.key, "Forking publisher"),
        ],
        n_key,
    )
    await adopt(q, v1)  # before n starts, so that q accepts n's first pull
    n = await RunningNode.start(n_data)
    net = Network(n, q, p, publisher, forker, v1)
    await adopt(n, v1)
    for seq in range(1, ENTRIES + 1):
        publisher.add(pdq_item(seq))
    yield net
    await net.stop()


async def adopt(node: RunningNode, charter: Charter) -> None:
    doc = {"charter": base64.b64encode(charter.encode()).decode()}
    response = await node.post("/v1/charter", doc)
    assert response.status == 200, response.body


async def peer_post(node: RunningNode, key: SigningKey, path: str, value: Any) -> Any:
    """A signed ``POST /v1/peer/…`` from ``key``; returns the decoded answer."""
    body = wire.encode(value)
    headers = sign_request(
        key,
        recipient=node.node.key.public_key,
        method="POST",
        path=path,
        body=body,
        now=int(time.time()),
    )
    headers["Content-Type"] = MSGPACK
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.url + path, data=body, headers=headers) as response,
    ):
        data = await response.read()
        assert response.status == 200, data
        return wire.decode(data, max_size=1 << 20)


async def import_entries(node: RunningNode, entries: Sequence[Entry]) -> dict[str, Any]:
    doc = {"entries": [base64.b64encode(e.raw).decode() for e in entries]}
    response = await node.post("/v1/entries", doc)
    assert response.status == 200, response.body
    return dict(response.body)


async def import_all(net: Network, where: str, writer: str, push: Push) -> None:
    """Import the publisher's feed in requests of 1,000, with ``push`` sent while one is held.

    ``writer`` names the transaction the pushed evidence makes (its work's qualified name
    starts so): held inside the ingest's transaction, the test waits until that writer is
    queued at the store's door before letting the ingest go on.
    """
    entries = net.publisher.entries
    gate = Gate(net.n.node, where, entries[HOLD_AT - 1].raw)
    for first in range(0, ENTRIES, PER_REQUEST):
        batch = entries[first : first + PER_REQUEST]
        if not first < HOLD_AT <= first + PER_REQUEST:
            report = await import_entries(net.n, batch)
        else:
            task = asyncio.create_task(import_entries(net.n, batch))
            try:
                pushed = await hold(net.n, gate, task, writer, push)
            finally:
                gate.release.set()
                report = await task
            await pushed
        assert (report["stored"], report["rejected"], report["forks"]) == (len(batch), {}, 0)


async def hold(
    node: RunningNode, gate: Gate, task: asyncio.Task[Any], writer: str, push: Push
) -> asyncio.Task[None]:
    """Wait until the ingest is held, send the evidence, return once it is where it must be."""
    await asyncio.wait_for(gate.reached.wait(), 60)
    committed = HOLD_AT - 1  # the chunks before the held one are stored; the held one is not

    async def settled() -> bool:
        return node.node.store.counters.entry_count == committed

    await wait_until(settled, what="the chunks before the hold to be stored")
    pushed = asyncio.create_task(push())
    if gate.where == "between":
        await pushed  # done while the ingest waits, its evidence committed (push checks)
    else:

        async def queued() -> bool:
            return pushed.done() or any(q.startswith(writer) for q in gate.queued)

        await wait_until(queued, what=f"the pushed evidence ({writer}) to wait at the door")
        if pushed.done():
            await pushed  # its own failure first (e.g. a 500 from a nested transaction)
            pytest.fail("the evidence was written while the ingest's transaction was open")
    assert node.node.store.counters.entry_count == committed, "the ingest moved while held"
    assert not task.done()
    return pushed


async def status(node: RunningNode) -> dict[str, Any]:
    response = await node.get("/v1/status")
    assert response.status == 200
    return dict(response.body)


async def matches(node: RunningNode, seq: int) -> int:
    doc = {"queries": [{"signal_type": "pdq", "value": pdq_value(seq).hex()}]}
    response = await node.post("/v1/match", doc)
    assert response.status == 200, response.body
    return len(response.body["results"][0]["matches"])


async def assert_conformed(node: RunningNode) -> None:
    """The takedown voids its range, whether stored before the new version or after it."""
    low, high = TAKEDOWN
    doc = await status(node)
    assert doc["charter"]["version"] == 2
    assert doc["active_hashes"]["pdq"] == ENTRIES - (high - low + 1)
    assert doc["entries"] == ENTRIES
    for seq, expected in ((low - 1, 1), (low, 0), (HOLD_AT - 1, 0), (HOLD_AT, 0), (high, 0)):
        assert await matches(node, seq) == expected, seq
    assert await matches(node, high + 1) == 1


@pytest.mark.parametrize("where", WHERE)
async def test_a_charter_version_pushed_during_an_ingest_is_stored_conformed_and_relayed(
    network: Network, where: str
) -> None:
    net = network
    low, high = TAKEDOWN
    v2 = successor(net.v1, net.p, takedowns=[Takedown(net.publisher.org, low, high)])

    async def push_charter() -> None:
        assert await peer_post(net.n, net.p, "/v1/peer/charters", [v2.encode()]) == 1
        # Committed (the read connection sees committed data only) and in memory alike.
        assert len(await net.n.node.store.charters()) == 2
        assert net.n.node.charter_number == 2

    await import_all(net, where, "CharterKeeper.", push_charter)
    await assert_conformed(net.n)
    before = (await status(net.n))["bank_digest"]

    # Relayed to the other peer, which reaches the same bank from the same entries.
    async def q_caught_up() -> bool:
        doc = await status(net.q)
        return bool(doc["charter"]["version"] == 2 and doc["bank_digest"] == before)

    await wait_until(q_caught_up, timeout=120, what="Q to hold version 2 and the same bank")
    await assert_conformed(net.q)

    net.n = await net.n.restart()  # on disk, not only in memory
    assert await net.n.node.store.charters() == [net.v1.encode(), v2.encode()]
    await assert_conformed(net.n)
    assert (await status(net.n))["bank_digest"] == before


@pytest.mark.parametrize("where", WHERE)
async def test_a_fork_proof_pushed_during_an_ingest_is_stored_and_blocks_the_author(
    network: Network, where: str
) -> None:
    net = network
    first = net.forker.add(pdq_item(90_001))
    second = net.forker.add(pdq_item(90_002))
    rival = Author(302)  # the same organisation's key, signing another seq 2
    rival.entries = [first]
    proof = ForkProof.of(second, rival.add(pdq_item(90_003)))

    async def push_fork() -> None:
        assert await peer_post(net.n, net.p, "/v1/peer/forks", [proof.encode()]) == 1
        assert [f.author for f in await net.n.node.store.forks()] == [net.forker.org]
        assert net.forker.org in net.n.node.feeds.forked

    await import_all(net, where, "Ingester.record_fork", push_fork)
    forks = (await status(net.n))["forks"]
    assert forks == [{"author": net.forker.org.hex(), "seq": 2}]

    async def q_has_it() -> bool:
        response = await net.q.get("/v1/forks")
        return [f["author"] for f in response.body["forks"]] == [net.forker.org.hex()]

    await wait_until(q_has_it, what="the fork proof to be relayed to Q")

    net.n = await net.n.restart()
    assert (await status(net.n))["forks"] == forks
    report = await import_entries(net.n, [first, second])
    # The proof suspends the feed from its seq (2) on; seq 1 is below the fork and is stored
    # (docs/protocol.md §6.1), the forked seq 2 is refused.
    assert report["stored"] == 1
    assert report["rejected"] == {"forked_author": 1}
    assert (await status(net.n))["entries"] == ENTRIES + 1
