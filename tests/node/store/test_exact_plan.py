"""Exact matching (md5, sha256) uses the partial index ``items_exact``, never a table scan.

The SQL is the store's own: ``Reader.exact`` runs on a real store while SQLite's trace
callback records the statements it issues, and each is then explained with ``EXPLAIN QUERY
PLAN``. ``items_exact`` leaves PDQ and inactive rows out, and SQLite uses a partial index only
when the query repeats its WHERE terms (``EXACT_ROWS``); a query that stopped repeating them
would still answer correctly, just by scanning every item, so only the plan can tell.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from node.replica.feeds import Feeds
from node.store import Store, Transaction
from protocol.body import HashItem
from protocol.entry import Entry
from tests.builders import Author, pdq_item

VALUE_SIZE = {"md5": 16, "sha256": 32}


def value(signal_type: str, n: int) -> bytes:
    return hashlib.sha256(f"{signal_type}{n}".encode()).digest()[: VALUE_SIZE[signal_type]]


async def filled_store(path: Path) -> Store:
    """A store with PDQ, md5 and sha256 items from a few authors, some revoked."""
    store = await Store.open(path, create=True)
    feeds = Feeds({}, {})
    authors = [Author(200 + a) for a in range(3)]
    for batch in range(4):
        entries = []
        for author in authors:
            for k in range(25):
                n = batch * 1000 + k
                entries.append(
                    author.add(
                        pdq_item(n), HashItem("md5", value("md5", n)),
                        HashItem("sha256", value("sha256", n)),
                    )
                )  # fmt: skip
            entries.append(author.revoke(author.entries[0]))

        async def work(txn: Transaction, entries: list[Entry] = entries) -> None:
            await feeds.write(txn, entries, 0)
            txn.on_commit(lambda: feeds.committed(entries))

        await store.transaction(work)
    return store


async def traced_exact(store: Store, signal_type: str, values: list[bytes]) -> list[str]:
    """The statements ``Reader.exact`` sends to SQLite for this lookup."""
    seen: list[str] = []
    await store._db.set_trace_callback(seen.append)
    try:
        found = await store.exact(signal_type, values)
    finally:
        await store._db.set_trace_callback(None)  # type: ignore[arg-type]
    assert {r.value for r in found} <= set(values)
    assert found, "the lookup should find the stored values"
    return [s for s in seen if "items" in s]


def plan_of(path: Path, sql: str, signal_type: str, values: list[bytes]) -> list[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        params = (signal_type, *values) if "?" in sql else ()
        return [str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        db.close()


@pytest.mark.parametrize("signal_type", ["md5", "sha256"])
@pytest.mark.parametrize("count", [1, 5])
async def test_exact_lookup_uses_the_partial_index(
    tmp_path: Path, signal_type: str, count: int
) -> None:
    path = tmp_path / "store.sqlite"
    store = await filled_store(path)
    try:
        values = [value(signal_type, n) for n in range(1, 1 + count)]
        statements = await traced_exact(store, signal_type, values)
    finally:
        await store.close()
    assert len(statements) == 1, statements
    plan = plan_of(path, statements[0], signal_type, values)
    text = "\n".join(plan)
    assert any(
        "USING INDEX items_exact" in step or "USING COVERING INDEX items_exact" in step
        for step in plan
    ), f"the exact lookup does not use items_exact:\n{statements[0]}\n{text}"
    scans = [s for s in plan if s.startswith(("SCAN i", "SCAN items"))]
    assert not scans, f"the exact lookup scans the items:\n{text}"
