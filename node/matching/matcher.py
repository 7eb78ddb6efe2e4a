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
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from node.matching.pdq_index import PdqIndex
from node.store.store import ItemRow, Store
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


# How long, and up to how many rows, updates from peers may gather before the index takes them.
COALESCE_S = 0.2
COALESCE_ROWS = 200_000

# (PDQ item ids added, their values, item ids removed, who waits)
Update = tuple[Sequence[int], Sequence[bytes], Sequence[int], "asyncio.Future[None]"]


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


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
        # One writer thread: index updates apply in the order the store committed them.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdq-index")
        self._last: asyncio.Future[None] | None = None
        self._wake = threading.Condition()
        self._pending: list[Update] = []
        self._pending_rows = 0
        self._urgent = False
        self._draining = False

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
        await self.drain()
        path.mkdir(exist_ok=True)
        marker = path / "marker.json"
        marker.unlink(missing_ok=True)  # while the index is rewritten, it is not current
        await asyncio.to_thread(self.pdq.save, path / "index")
        tmp = path / "marker.json.tmp"
        tmp.write_text(json.dumps(_marker(store)))
        os.replace(tmp, marker)

    def apply_soon(
        self,
        added_ids: Sequence[int],
        added_values: Sequence[bytes],
        removed: Sequence[int],
        *,
        urgent: bool = True,
    ) -> asyncio.Future[None]:
        """Queue an index update for the index's writer thread; updates apply in commit order.

        Index work (a large add can merge segments for seconds) stays off the event loop.
        Non-``urgent`` updates (entries from peers) may wait up to ``COALESCE_S`` so that the
        updates of a bulk sync reach the index together: one big add builds its tables once,
        where many small ones rebuild them again and again. Callers that promise "matchable
        on return" pass ``urgent`` and await the future; ``drain`` waits for everything.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._wake:
            self._pending.append((added_ids, added_values, removed, future))
            self._pending_rows += len(added_ids) + len(removed)
            self._urgent = self._urgent or urgent
            start, self._draining = not self._draining, True
            self._wake.notify()
        if start:
            loop.run_in_executor(self._writer, self._drain, loop)
        self._last = future
        return future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(
                    lambda: self._urgent or self._pending_rows >= COALESCE_ROWS, COALESCE_S
                )
                queued, self._pending = self._pending, []
                self._pending_rows, self._urgent = 0, False
                if not queued:
                    self._draining = False
                    return
            # Item ids are never reused, so all adds then all removes is the same end state.
            ids = list(chain.from_iterable(update[0] for update in queued))
            values = list(chain.from_iterable(update[1] for update in queued))
            removed = list(chain.from_iterable(update[2] for update in queued))
            error: BaseException | None = None
            try:
                self.apply(ids, values, removed)
            except Exception as exc:  # reported to every waiter; the writer keeps going
                error = exc
            for *_, future in queued:
                loop.call_soon_threadsafe(_settle, future, error)

    async def drain(self) -> None:
        """Wait until every queued index update has been applied."""
        if self._last is not None:
            await self._last

    def apply(
        self, added_ids: Sequence[int], added_values: Sequence[bytes], removed: Sequence[int]
    ) -> None:
        """Bring the index up to date after a committed batch: PDQ items added and removed."""
        if added_ids:
            self.pdq.add(
                np.array(added_ids, dtype=np.int64),
                np.frombuffer(b"".join(added_values), dtype=np.uint8).reshape(-1, 32),
            )
        if removed:
            self.pdq.remove(np.asarray(removed, dtype=np.int64))

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
