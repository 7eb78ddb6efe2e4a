"""Matching: PDQ near-duplicates through the in-memory index, md5/sha256 through the store.

The PDQ index holds only item ids and hash bits; what a match reports (entry, author,
labels) is read from the store for the few items that matched. Exact signals use the store's
partial index on active values, one batched query per signal type per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.pdq_index import PdqIndex
from node.store import ItemRow, Store
from protocol.signals import PDQ, Comparison, SignalType

log = logging.getLogger("hashbank.matcher")


@dataclass(frozen=True, slots=True)
class Query:
    """One hash to look up."""

    signal: SignalType
    value: bytes


@dataclass(frozen=True, slots=True)
class Match:
    """A bank item that matched a query, and how closely."""

    item: ItemRow
    distance: int


def _marker(store: Store) -> dict[str, object]:
    return {"digest": store.digest.value().hex(), "next_item_id": store.next_ids()[1]}


def _read_marker(path: Path) -> dict[str, object] | None:
    try:
        value = json.loads((path / "marker.json").read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class Matcher:
    """The node's matching state, kept in step with the store's active items."""

    def __init__(self) -> None:
        self.pdq = PdqIndex()

    async def load(self, store: Store, saved: Path | None = None) -> str:
        """Load the PDQ index saved at ``saved`` if it matches the store, else build it.

        Returns how it was obtained ("loaded" or "built"). A saved index is used only when its
        marker names the store's current bank digest and next item id: any change to the
        active items since (or a crash before the index was saved) means a rebuild.
        """
        if saved is not None and _marker(store) == _read_marker(saved):
            try:
                self.pdq = await asyncio.to_thread(PdqIndex.load, saved / "index")
                return "loaded"
            except (OSError, ValueError) as exc:
                log.warning("saved PDQ index unusable, rebuilding: %s", exc)
        ids, values = await store.active_values(PDQ)
        index = PdqIndex()
        if len(ids):
            await asyncio.to_thread(index.add, ids, values)
        self.pdq = index
        return "built"

    async def save(self, store: Store, path: Path) -> None:
        """Save the index with a marker of the store state it reflects."""
        path.mkdir(exist_ok=True)
        marker = path / "marker.json"
        marker.unlink(missing_ok=True)  # while the index is rewritten, it is not current
        await asyncio.to_thread(self.pdq.save, path / "index")
        tmp = path / "marker.json.tmp"
        tmp.write_text(json.dumps(_marker(store)))
        os.replace(tmp, marker)

    async def apply_async(
        self, activated: Sequence[tuple[int, str, bytes]], deactivated: Sequence[int]
    ) -> None:
        """``apply`` in a worker thread: a large add may merge index segments for seconds."""
        if activated or deactivated:
            await asyncio.to_thread(self.apply, activated, deactivated)

    def apply(
        self, activated: Sequence[tuple[int, str, bytes]], deactivated: Sequence[int]
    ) -> None:
        """Bring the index up to date after a committed batch."""
        pdq = [(item_id, value) for item_id, sig, value in activated if sig == PDQ.name]
        if pdq:
            ids = np.fromiter((i for i, _ in pdq), dtype=np.int64, count=len(pdq))
            values = np.frombuffer(b"".join(v for _, v in pdq), dtype=np.uint8).reshape(-1, 32)
            self.pdq.add(ids, values)
        if deactivated:
            self.pdq.remove(np.asarray(deactivated, dtype=np.int64))

    async def match(
        self, store: Store, queries: Sequence[Query], threshold: int
    ) -> list[list[Match]]:
        """For each query in order, the active items within ``threshold`` (PDQ) or equal."""
        found: list[list[tuple[int, int]]] = [[] for _ in queries]
        pdq_at = [i for i, q in enumerate(queries) if q.signal.comparison is Comparison.HAMMING]
        if pdq_at:
            values = np.frombuffer(
                b"".join(queries[i].value for i in pdq_at), dtype=np.uint8
            ).reshape(-1, 32)
            hits = await asyncio.to_thread(self.pdq.query_batch, values, threshold)
            for i, result in zip(pdq_at, hits, strict=True):
                found[i] = result
        rows: dict[int, ItemRow] = {}
        await self._exact(store, queries, found, rows)
        wanted = sorted({item_id for hits in found for item_id, _ in hits} - set(rows))
        rows.update(await store.items_by_ids(wanted))
        return [
            [Match(rows[item_id], d) for item_id, d in hits if item_id in rows] for hits in found
        ]

    async def _exact(
        self,
        store: Store,
        queries: Sequence[Query],
        found: list[list[tuple[int, int]]],
        rows: dict[int, ItemRow],
    ) -> None:
        by_type: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            if q.signal.comparison is Comparison.EXACT:
                by_type.setdefault(q.signal.name, []).append(i)
        for name, positions in by_type.items():
            values = sorted({queries[i].value for i in positions})
            items = await store.exact(name, values)
            by_value: dict[bytes, list[ItemRow]] = {}
            for item in items:
                by_value.setdefault(item.value, []).append(item)
                rows[item.item_id] = item
            for i in positions:
                found[i] = [(item.item_id, 0) for item in by_value.get(queries[i].value, [])]
