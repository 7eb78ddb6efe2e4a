"""``hashbank rebuild``: re-derive the bank from the stored entries alone."""

from __future__ import annotations

from node.clock import now_ms
from node.datadir import DataDir
from node.store import plan as batch
from node.store.store import Store
from protocol.entry import decode_entry

CHUNK = 1_000


async def rebuild(data: DataDir) -> tuple[str, str]:
    """Drop and re-derive every derived table; returns the bank digest before and after."""
    store = await Store.open(data.store)
    try:
        before = store.digest.value().hex()
        await store.clear_derived()
        cursor = 0
        while rows := await store.changes(cursor, CHUNK):
            entries = [decode_entry(r.raw) for r in rows]
            ctx = await store.context_for(entries)
            plan = batch.plan_batch(
                entries,
                ctx,
                rows[-1].received_ms,
                cursors=[r.cursor for r in rows],
                void={r.id for r in rows if r.void},  # takedowns the node already applied
            )
            await store.write(plan, ctx, include_entries=False)
            cursor = rows[-1].cursor
        await store.expire(now_ms())
        return before, store.digest.value().hex()
    finally:
        await store.close()
