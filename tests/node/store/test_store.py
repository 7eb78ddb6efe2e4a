"""The SQLite store: opening checks, derived state, rebuild."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from node.clock import now_ms
from node.datadir import DataDir, DataLock
from node.errors import ConfigError
from node.replica.node import Node
from node.store import StoreError
from node.store.rebuild import rebuild
from node.store.schema import SCHEMA_VERSION
from node.store.store import Store
from protocol.bank import BankState
from protocol.body import HashItem
from tests.builders import BASE_TS, Author, pdq_item, pdq_value
from tests.nodes import ShiftedClock, make_data


async def test_a_store_with_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = await Store.open(path, create=True)
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this hashbank"):
        await Store.open(path)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        await Store.open(path)


async def test_a_damaged_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = await Store.open(path, create=True)
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = DELETE")
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)", [(f"k{i}", b"x" * 500) for i in range(200)]
        )
    raw = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(raw), page):  # scribble over every b-tree page header
        raw[offset : offset + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError):
        await Store.open(path)


async def test_opening_a_missing_store_without_create_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        await Store.open(tmp_path / "absent.sqlite")


async def test_bank_matches_the_reference_merge_and_survives_rebuild(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await Node.open(data)
    a, b = Author(1), Author(2)
    add1 = a.add(pdq_item(1), pdq_item(2), pdq_item(3))
    early_revoke_target = a.add(pdq_item(4))
    entries = [
        add1,
        early_revoke_target,
        a.revoke(add1, (1,)),
        b.add(HashItem("pdq", pdq_value(5), (), None, BASE_TS + 10**12)),
        b.revoke(add1),  # another author: no effect
        a.revoke(early_revoke_target),
    ]
    # b's feed first (its revoke aims at an add of a that is not there yet), then a's.
    report = await node.ingest([e.raw for e in entries if e.author == b.org], source="test")
    assert len(report.stored) == 2
    report = await node.ingest([e.raw for e in entries if e.author == a.org], source="test")
    assert len(report.stored) == 4

    reference = BankState()
    for entry in entries:
        reference.apply(entry)
    assert node.store.digest.value() == reference.digest(now_ms())
    digest = node.store.digest.value().hex()
    await node.close()

    before, after = await rebuild(data)
    assert before == after == digest


async def test_expired_items_leave_the_bank(tmp_path: Path) -> None:
    clock = ShiftedClock()  # expiry passes when the test says, however busy the machine
    node = await Node.open(make_data(tmp_path / "node"), clock=clock)
    author = Author(3)
    soon = clock.now_ms() + 60_000
    await node.ingest(
        [author.add(HashItem("md5", b"\x01" * 16, (), None, soon), pdq_item(9)).raw], source="t"
    )
    counts = await node.store.counts()
    assert counts.active_hashes == {"md5": 1, "pdq": 1}
    clock.ahead_ms = 120_000
    assert await node.expire() == 1
    counts = await node.store.counts()
    assert counts.active_hashes == {"pdq": 1}
    await node.close()


def test_a_data_directory_is_locked_while_in_use(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    with DataLock(data), pytest.raises(ConfigError, match="in use"), DataLock(DataDir(data.root)):
        pass


async def test_forks_are_stored_and_block_the_author(tmp_path: Path) -> None:
    node = await Node.open(make_data(tmp_path / "node"))
    author = Author(4)
    first = author.add(pdq_item(1))
    author.entries.clear()
    rival = author.add(pdq_item(2))
    await node.ingest([first.raw], source="t")
    report = await node.ingest([rival.raw], source="t")
    assert len(report.forks) == 1
    assert author.org in node.feeds.forked
    later = author.add(pdq_item(3))
    report = await node.ingest([later.raw], source="t")
    assert report.rejected["forked_author"] == 1
    assert len(await node.store.forks()) == 1
    await node.close()
