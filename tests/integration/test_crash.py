"""kill -9 right after an acknowledged write loses nothing, and the store stays sound."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp

from node.datadir import read_secret
from tests.nodes import NodeProcess, make_data

ROUNDS = 20


async def test_acknowledged_entries_survive_kill_9(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    token = read_secret(data.token)
    acknowledged: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(ROUNDS):
            node = await NodeProcess.start(data)
            doc = {"items": [{"signal_type": "md5", "value": f"{n:032x}"}]}
            async with http.post(f"{node.url}/v1/hashes", json=doc) as response:
                assert response.status == 201
                acknowledged.append((await response.json())["entry_id"])
            node.kill()

    with sqlite3.connect(data.store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0].hex() for row in db.execute("SELECT id FROM entries")}
        seqs = [row[0] for row in db.execute("SELECT seq FROM entries ORDER BY seq")]
    assert set(acknowledged) <= stored
    assert seqs == list(range(1, ROUNDS + 1))

    node = await NodeProcess.start(data)
    try:
        status = await node.status()
        assert status["entries"] == ROUNDS
        assert status["active_hashes"] == {"md5": ROUNDS}
    finally:
        assert node.terminate() == 0
