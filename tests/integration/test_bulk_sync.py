"""A bulk sync between node processes, checked by the sink's decode worker."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.builders import Author, pdq_item
from tests.nodes import ROOT, NodeProcess, make_data, start_nodes, wait_until

ENTRIES, ITEMS = 30, 1000


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def publish_bank(node: NodeProcess) -> int:
    """Bulk adds, one partly revoked and one wholly revoked; returns the active PDQ count."""
    author = Author(21)
    for e in range(ENTRIES):
        author.add(*(pdq_item(e * ITEMS + i) for i in range(ITEMS)))
    author.revoke(author.entries[3], (0, 5, 7))
    author.revoke(author.entries[4])
    raws = [base64.b64encode(e.raw).decode() for e in author.entries]
    response = await node.call("POST", "/v1/entries", {"entries": raws})
    assert response.body["stored"] == len(raws)
    return ENTRIES * ITEMS - 3 - ITEMS


async def start_in_own_group(root: Path) -> tuple[subprocess.Popen[str], NodeProcess]:
    """A sink node leading its own process group, with its stderr kept, as a terminal runs it."""
    data = make_data(root / "sink", name="Sink")
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", "--data", str(data.root), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    found = re.search(r"listening on (http://\S+)", line)
    assert found, line
    return proc, NodeProcess(data, proc, found.group(1))


async def test_a_bulk_sync_is_checked_by_a_worker_that_stops_with_the_node(
    tmp_path: Path,
) -> None:
    (source,) = await start_nodes(tmp_path, 1)
    proc, sink = await start_in_own_group(tmp_path)
    try:
        active = await publish_bank(source)
        source.set_peers([sink])
        sink.set_peers([source])

        async def synced() -> bool:
            status = await sink.status()
            theirs = await source.status()
            return bool(
                status["bank_digest"] == theirs["bank_digest"]
                and status["active_hashes"].get("pdq") == active
                and status["pdq_indexed"] == active
            )

        await wait_until(synced, what="the sink to hold and index the whole bank")
        workers = children(proc.pid)
        assert len(workers) == 1, "a bulk sync starts one decode worker"
        # Ctrl-C in a terminal signals the node and its worker alike.
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0
        assert "Traceback" not in stderr
        assert not alive(workers[0])
    finally:
        source.terminate()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
