"""kill -9 at random moments during bulk publishing and during gossip: nothing acknowledged is
lost, every store stays sound, and the nodes converge. ``make soak`` runs more rounds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import sqlite3
from pathlib import Path

import aiohttp

from node.datadir import DataDir
from tests.nodes import NodeProcess, connect, make_data, wait_until

ROUNDS = int(os.environ.get("HASHBANK_SOAK_ROUNDS", "50"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored_ids(data: DataDir) -> set[str]:
    """The entry ids in a stopped node's store, after checking the store is sound."""
    with sqlite3.connect(data.store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0].hex() for row in db.execute("SELECT id FROM entries")}


async def publish(
    node: NodeProcess, http: aiohttp.ClientSession, rnd: random.Random, acked: set[str]
) -> None:
    """Submit bulk entries until the node dies; remember every acknowledged one."""
    headers = {"Authorization": f"Bearer {node.token}"}
    while True:
        items = [
            {"signal_type": "md5", "value": f"{rnd.getrandbits(128):032x}"}
            for _ in range(rnd.choice((1, 500, 3000)))
        ]
        try:
            async with http.post(
                node.url + "/v1/hashes", json={"items": items}, headers=headers
            ) as response:
                if response.status != 201:
                    return
                acked.add((await response.json())["entry_id"])
        except (aiohttp.ClientError, OSError):
            return


async def test_kill_9_during_bulk_publishing_and_gossip(tmp_path: Path) -> None:
    rnd = random.Random(ROUNDS)
    datas = [make_data(tmp_path / name, sync_interval=1.0) for name in ("source", "sink")]
    ports = [free_port(), free_port()]
    nodes = list(
        await asyncio.gather(
            *(NodeProcess.start(d, port=p) for d, p in zip(datas, ports, strict=True))
        )
    )
    connect(nodes, [(0, 1)])
    acked: set[str] = set()
    kills = 0
    async with aiohttp.ClientSession() as http:
        try:
            for round_ in range(ROUNDS):
                victim = round_ % 2  # the publisher mid-write, or the sink mid-sync
                load = asyncio.create_task(publish(nodes[0], http, rnd, acked))
                await asyncio.sleep(rnd.uniform(0.05, 0.5))
                nodes[victim].kill()
                kills += 1
                if victim == 0:
                    await load
                else:
                    await _stop(load)
                ids = stored_ids(datas[victim])
                if victim == 0:
                    assert acked <= ids, f"round {round_}: acknowledged entries lost"
                nodes[victim] = await NodeProcess.start(datas[victim], port=ports[victim])
            await _stop(load)

            # Entries committed just before a kill may never have been acknowledged, so the
            # nodes may hold more than `acked`; they must hold the same.
            async def converged() -> bool:
                statuses = [await n.status() for n in nodes]
                return len({(s["bank_digest"], s["entries"]) for s in statuses}) == 1

            await wait_until(converged, timeout=60, what="both nodes to converge")
        finally:
            for node in nodes:
                node.terminate()
    assert kills == ROUNDS
    for data in datas:
        assert acked <= stored_ids(data)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
