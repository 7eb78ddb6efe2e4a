"""Several real node processes on loopback replicating by signed gossip."""

from __future__ import annotations

import asyncio
import base64
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.builders import Author, pdq_item
from tests.nodes import NodeProcess, connect, start_nodes, wait_until

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
async def five(tmp_path: Path) -> AsyncIterator[list[NodeProcess]]:
    nodes = await start_nodes(tmp_path, 5)
    yield nodes
    for node in nodes:
        node.terminate()


async def matches(node: NodeProcess, value: str = PDQ) -> int:
    doc = {"queries": [{"signal_type": "pdq", "value": value}]}
    response = await node.call("POST", "/v1/match", doc)
    return len(response.body["results"][0]["matches"])


async def converged(nodes: list[NodeProcess]) -> bool:
    digests = {(await n.status())["bank_digest"] for n in nodes}
    return len(digests) == 1


async def submit(node: NodeProcess, value: str = PDQ) -> str:
    doc = {"items": [{"signal_type": "pdq", "value": value, "labels": ["ncii"]}]}
    response = await node.call("POST", "/v1/hashes", doc)
    assert response.status == 201, response.body
    return str(response.body["entry_id"])


async def add_then_revoke_reaches_everyone(nodes: list[NodeProcess]) -> None:
    entry_id = await submit(nodes[0])

    async def everyone_matches() -> bool:
        return all([await matches(n) == 1 for n in nodes])

    await wait_until(everyone_matches, what="the add at every node")
    assert await converged(nodes)
    revoke = await nodes[0].call("POST", "/v1/revocations", {"entry_id": entry_id})
    assert revoke.status == 201

    async def nobody_matches() -> bool:
        return all([await matches(n) == 0 for n in nodes])

    await wait_until(nobody_matches, what="the revocation at every node")
    await wait_until(lambda: converged(nodes), what="equal bank digests")


async def test_five_nodes_in_a_line(five: list[NodeProcess]) -> None:
    connect(five, [(0, 1), (1, 2), (2, 3), (3, 4)])
    await add_then_revoke_reaches_everyone(five)
    # Relayed, not re-signed: the far end holds the author's own entry.
    far = (await five[4].call("GET", "/v1/changes")).body["changes"]
    assert {c["author"] for c in far} == {five[0].org}


async def test_five_nodes_in_a_ring(five: list[NodeProcess]) -> None:
    connect(five, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)])
    await add_then_revoke_reaches_everyone(five[2:] + five[:2])


TOTAL = 5000


async def entries_in(node: NodeProcess) -> int:
    """Entries in a stopped node's store (and the store must be sound)."""
    with sqlite3.connect(node.data.store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


async def test_a_killed_node_catches_up_after_restart(tmp_path: Path) -> None:
    source, sink = await start_nodes(tmp_path, 2)
    try:
        author = Author(11)
        raws = [base64.b64encode(author.add(pdq_item(i)).raw).decode() for i in range(TOTAL)]
        for start in range(0, TOTAL, 1000):
            doc = {"entries": raws[start : start + 1000]}
            assert (await source.call("POST", "/v1/entries", doc)).body["stored"] == 1000
        connect([source, sink], [(0, 1)])

        async def some_arrived() -> bool:
            return int((await sink.status())["entries"]) > 0

        await wait_until(some_arrived, what="the first entries at the sink")
        sink.kill()
        stored = await entries_in(sink)
        assert 0 < stored < TOTAL, "the kill should land mid-sync"
        sink = await NodeProcess.start(sink.data)

        async def caught_up() -> bool:
            return int((await sink.status())["entries"]) == TOTAL

        await wait_until(caught_up, what="the restarted sink to catch up")
        assert await converged([source, sink])
    finally:
        source.terminate()
        sink.terminate()


async def test_a_partition_heals(tmp_path: Path) -> None:
    a, b, c = await start_nodes(tmp_path, 3)
    try:
        connect([a, b, c], [(0, 1), (1, 2)])
        b.terminate()
        await submit(a)
        await submit(c, "5a" * 32)
        await asyncio.sleep(0.5)
        assert await matches(c) == 0
        b = await NodeProcess.start(b.data)
        connect([a, b, c], [(0, 1), (1, 2)])  # b has a new port: tell its neighbours

        async def healed() -> bool:
            return await matches(c) == 1 and await matches(a, "5a" * 32) == 1

        await wait_until(healed, what="the partition to heal")
        await wait_until(lambda: converged([a, b, c]), what="equal bank digests")
    finally:
        for node in (a, b, c):
            node.terminate()


async def test_a_fork_is_detected_by_every_node(tmp_path: Path) -> None:
    nodes = await start_nodes(tmp_path, 3)
    try:
        connect(nodes, [(0, 1), (1, 2)])
        author = Author(12)
        honest = author.add()
        author.entries.clear()
        rival = author.add()
        for node, entry in ((nodes[0], honest), (nodes[2], rival)):
            doc = {"entries": [base64.b64encode(entry.raw).decode()]}
            await node.call("POST", "/v1/entries", doc)

        async def everyone_knows() -> bool:
            return all([len((await n.status())["forks"]) == 1 for n in nodes])

        await wait_until(everyone_knows, what="the fork at every node")
        forks = (await nodes[1].call("GET", "/v1/forks")).body["forks"]
        assert forks[0]["author"] == author.org.hex()
        later = author.add()
        doc = {"entries": [base64.b64encode(later.raw).decode()]}
        result = (await nodes[1].call("POST", "/v1/entries", doc)).body
        assert result["rejected"] == {"forked_author": 1}
    finally:
        for node in nodes:
            node.terminate()


async def test_a_node_restored_from_a_backup_does_not_fork_its_own_feed(tmp_path: Path) -> None:
    a, b = await start_nodes(tmp_path, 2)
    try:
        connect([a, b], [(0, 1)])
        await submit(a, "01" * 32)
        a.terminate()
        backup = tmp_path / "backup"
        shutil.copytree(a.data.root, backup)
        a = await NodeProcess.start(a.data)
        connect([a, b], [(0, 1)])
        await submit(a, "02" * 32)  # seq 2, which the backup does not have

        async def b_has_two() -> bool:
            return int((await b.status())["entries"]) == 2

        await wait_until(b_has_two, what="seq 2 at the peer")
        a.terminate()
        shutil.rmtree(a.data.root)
        shutil.copytree(backup, a.data.root)  # the disaster: back to seq 1
        a = await NodeProcess.start(a.data)
        connect([a, b], [(0, 1)])
        await submit(a, "03" * 32)  # must wait for the peer and continue at seq 3
        await wait_until(lambda: converged([a, b]), what="equal digests after the restore")
        status = await b.status()
        assert status["forks"] == []
        assert status["entries"] == 3
    finally:
        a.terminate()
        b.terminate()
