"""``hashbank rebuild``: re-derive the bank from the stored entries alone."""

from __future__ import annotations

from node.datadir import DataDir
from node.store.rederive import rederive_all
from node.store.store import Store


async def rebuild(data: DataDir) -> tuple[str, str]:
    """Drop and re-derive every derived table; returns the bank digest before and after."""
    store = await Store.open(data.store)
    try:
        before = store.digest.value().hex()
        await store.transaction(rederive_all)
        return before, store.digest.value().hex()
    finally:
        await store.close()
