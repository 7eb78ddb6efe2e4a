"""Re-deriving every derived table from the stored entries (``hashbank rebuild``, upgrades)."""

from __future__ import annotations

from collections.abc import Callable

from node.clock import now_ms
from node.store import plan as planning
from node.store.transaction import Transaction
from protocol.entry import decode_entry

CHUNK = 1_000
# Told (entries re-derived so far, entries in all) after each chunk.
Progress = Callable[[int, int], None]


async def rederive_all(
    txn: Transaction, *, total: int = 0, progress: Progress | None = None
) -> None:
    """Drop and re-derive every derived table, in arrival order, inside ``txn``."""
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
            void={r.id for r in rows if r.void},  # takedowns and forks the node already applied
            erasable={r.id for r in rows if r.erased and not r.incomplete},
        )
        await txn.write_plan(plan, ctx, include_entries=False)
        cursor = rows[-1].cursor
        if progress is not None:
            progress(cursor, total)  # cursors rise by one per stored entry
    await txn.expire(now_ms())
