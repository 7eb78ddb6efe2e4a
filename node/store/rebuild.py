"""``hashbank rebuild``: re-derive the bank from the stored entries alone."""

from __future__ import annotations

import functools

from node.datadir import DataDir
from node.store.rederive import Progress, rederive_all
from node.store.store import Store


async def rebuild(data: DataDir, progress: Progress | None = None) -> tuple[str, str]:
    """Drop and re-derive every derived table; returns the bank digest before and after."""
    store = await Store.open(data.store)
    try:
        before = store.digest.value().hex()
        work = functools.partial(rederive_all, total=store.last_cursor, progress=progress)
        await store.transaction(work)
        return before, store.digest.value().hex()
    finally:
        await store.close()
