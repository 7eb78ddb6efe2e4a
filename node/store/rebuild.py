"""``hashbank rebuild``: re-derive the bank from the stored entries alone."""

from __future__ import annotations

import functools
from collections.abc import Callable

from node.clock import now_ms
from node.datadir import DataDir
from node.store import plan as planning
from node.store.store import Store
from node.store.transaction import Transaction
from protocol.entry import decode_entry

CHUNK = 1_000
# Told (entries re-derived so far, entries in all) after each chunk.
Progress = Callable[[int, int], None]


async def rebuild(data: DataDir, progress: Progress | None = None) -> tuple[str, str]:
    """Drop and re-derive every derived table; returns the bank digest before and after."""
    store = await Store.open(data.store)
    try:
        before = store.digest.value().hex()
        total = store.last_cursor
        await store.transaction(functools.partial(_rederive_all, total=total, progress=progress))
        return before, store.digest.value().hex()
    finally:
        await store.close()


async def _rederive_all(txn: Transaction, *, total: int, progress: Progress | None) -> None:
    await txn.clear_derived()
    cursor = 0
    while rows := await txn.changes(cursor, CHUNK):
        entries = [decode_entry(r.raw) for r in rows]
        ctx = await txn.context_for(entries)
        plan = planning.plan_batch(
            entries,
            ctx,
            rows[-1].received_ms,
            cursors=[r.cursor for r in rows],
            void={r.id for r in rows if r.void},  # takedowns the node already applied
        )
        await txn.write_plan(plan, ctx, include_entries=False)
        cursor = rows[-1].cursor
        if progress is not None:
            progress(cursor, total)  # cursors rise by one per stored entry
    await txn.expire(now_ms())
