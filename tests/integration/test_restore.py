"""``hashbank export`` → ``hashbank import`` into a fresh node restores the bank bit for bit.

Real nodes in child processes: a network whose history has a key rotation and a takedown.
The export carries the charter history, and the import applies it before any entry, so the
rotated key's entries are accepted and the taken-down ones stay void.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.builders import Author, pdq_item, pdq_value
from tests.integration.test_charter import (
    charter_version,
    hashbank,
    members_file,
    stewards_decide,
    submit,
)
from tests.integration.test_integrity import import_entries
from tests.nodes import NodeProcess, connect, make_data, run_cli, start_nodes, wait_until


async def active_set(node: NodeProcess) -> set[tuple[str, str, str, int, str]]:
    """Every active item: (type, value, entry id, index, author)."""
    out: set[tuple[str, str, str, int, str]] = set()
    after = "0"
    while True:
        page = (await node.call("GET", f"/v1/hashes?after={after}&limit=1000")).body
        out |= {
            (h["signal_type"], h["value"], h["entry_id"], h["item"], h["author"])
            for h in page["hashes"]
        }
        if not page["more"]:
            return out
        after = page["cursor"]


async def summary(node: NodeProcess) -> tuple[str, dict[str, Any]]:
    status = await node.status()
    return status["bank_digest"], status["active_hashes"]


async def test_export_and_import_restore_rotation_and_takedown(tmp_path: Path) -> None:
    a, c = await start_nodes(tmp_path, 2)
    fresh = await NodeProcess.start(make_data(tmp_path / "fresh", name="Restored"))
    other = await NodeProcess.start(make_data(tmp_path / "other", name="Elsewhere"))
    try:
        await _restore(tmp_path, a, c, fresh, other)
    finally:
        for node in (a, c, fresh, other):
            node.terminate()


async def _restore(
    tmp_path: Path, a: NodeProcess, c: NodeProcess, fresh: NodeProcess, other: NodeProcess
) -> None:
    members = members_file(
        tmp_path / "m.toml", {"A": (a, "publisher,steward"), "C": (c, "publisher")}
    )
    members.write_text(members.read_text().replace("threshold = 2", "threshold = 1"))
    draft = tmp_path / "v1.json"
    hashbank("charter", "init", "--members", str(members), "--out", str(draft))
    hashbank("charter", "sign", "--yes", "--data", str(a.data.root), str(draft))
    for node in (a, c):
        hashbank("charter", "apply", "--data", str(node.data.root), "--url", node.url, str(draft))
    connect([a, c], [(0, 1)])

    assert (await submit(a, "a1" * 32))[0] == 201
    assert (await submit(c, "c1" * 32))[0] == 201
    assert (await submit(c, "c2" * 32))[0] == 201
    # The stewards take down C's seq 2; then A rotates its key and publishes with the new one.
    stewards_decide(tmp_path / "v2.json", a, (a,), a, "--takedown", "C", "2", "2")
    new_key = hashbank("key", "rotate", "--data", str(a.data.root)).stdout.split()[2]
    stewards_decide(tmp_path / "v3.json", a, (a,), a, "--rotate", "A", new_key)

    async def rotated() -> bool:
        return bool((await a.status())["node_id"] == new_key)

    await wait_until(rotated, what="A to take its new key")
    assert (await submit(a, "a2" * 32))[0] == 201

    async def settled() -> bool:
        status = await a.status()
        return bool(status["entries"] == 4 and status["active_hashes"] == {"pdq": 3})

    await wait_until(settled, what="C's entries at A")
    source = await summary(a)
    source_items = await active_set(a)
    assert ("pdq", "c2" * 32) not in {(t, v) for t, v, *_ in source_items}

    out = tmp_path / "bank.jsonl"
    exported = hashbank("export", "--data", str(a.data.root), "--url", a.url, "--out", str(out))
    assert "exported 4 entries and 3 charter versions" in exported.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line.get("version") for line in lines[:3]] == [1, 2, 3]
    assert all("entry" in line for line in lines[3:])

    imported = hashbank("import", "--data", str(fresh.data.root), "--url", fresh.url, str(out))
    assert "adopted charter version 1 from" in imported.stderr
    assert "this node had no charter" in imported.stderr
    result = json.loads(imported.stdout)
    assert (result["stored"], result["rejected"]) == (4, {})
    assert result["charter_versions_adopted"] == [1, 2, 3]
    assert await charter_version(fresh) == 3
    assert await summary(fresh) == source
    assert await active_set(fresh) == source_items

    # Importing it again changes nothing; a node that follows another charter refuses it.
    again = hashbank("import", "--data", str(fresh.data.root), "--url", fresh.url, str(out))
    assert json.loads(again.stdout)["duplicates"] == 4
    assert await summary(fresh) == source
    elsewhere = members_file(tmp_path / "o.toml", {"O": (other, "publisher,steward")})
    elsewhere.write_text(elsewhere.read_text().replace("threshold = 2", "threshold = 1"))
    theirs = tmp_path / "o1.json"
    hashbank("charter", "init", "--members", str(elsewhere), "--out", str(theirs))
    hashbank("charter", "sign", "--yes", "--data", str(other.data.root), str(theirs))
    hashbank("charter", "apply", "--data", str(other.data.root), "--url", other.url, str(theirs))
    refused = run_cli("import", "--data", str(other.data.root), "--url", other.url, str(out))
    assert refused.returncode == 1
    assert f"{out}:1: charter version 1 was refused" in refused.stderr
    assert "this node follows another charter" in refused.stderr
    assert (await other.status())["entries"] == 0


async def test_export_and_import_restore_a_suspended_feed(tmp_path: Path) -> None:
    a, c = await start_nodes(tmp_path, 2)
    fresh = await NodeProcess.start(make_data(tmp_path / "fresh", name="Restored"))
    try:
        author = Author(38)
        first = author.add(pdq_item(80))
        base = list(author.entries)
        honest = author.add(pdq_item(81))
        author.entries = base
        rival = author.add(pdq_item(82))
        await import_entries(a, first.raw, honest.raw)
        await import_entries(c, first.raw, rival.raw)
        connect([a, c], [(0, 1)])

        async def forked() -> bool:
            return bool((await a.status())["forks"] == [{"author": author.org.hex(), "seq": 2}])

        await wait_until(forked, what="the fork at A")
        source, source_items = await summary(a), await active_set(a)
        assert {v for _, v, *_ in source_items} == {pdq_value(80).hex()}
        out = tmp_path / "bank.jsonl"
        exported = hashbank("export", "--data", str(a.data.root), "--url", a.url, "--out", str(out))
        assert "exported 2 entries and 1 fork proof" in exported.stderr
        imported = hashbank("import", "--data", str(fresh.data.root), "--url", fresh.url, str(out))
        result = json.loads(imported.stdout)
        assert (result["stored"], result["fork_proofs_new"]) == (2, 1)
        # The suspended entry is restored as the source holds it: in the chain, counting for
        # nothing; the restored node judges the fork as the source does.
        assert (await fresh.status())["forks"] == (await a.status())["forks"]
        assert await summary(fresh) == source
        assert await active_set(fresh) == source_items
        # Importing it again changes nothing: the suspended entry is a duplicate too.
        again = hashbank("import", "--data", str(fresh.data.root), "--url", fresh.url, str(out))
        assert json.loads(again.stdout)["duplicates"] == 2
        assert await summary(fresh) == source
    finally:
        for node in (a, c, fresh):
            node.terminate()
