"""PDQ near-duplicate matching: the in-memory index, kept in step with the bank.

The index holds only item ids and hash bits; what a match reports (entry, author, labels) is
read from the store by ``node.replica.lookup`` for the few items that matched, and exact
signals (md5, sha256) are the store's. This package imports nothing else from the node.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from node.matching.errors import MatchingError
from node.matching.pdq_index import PdqIndex
from protocol.signals import SignalType

log = logging.getLogger("hashbank.matcher")


@dataclass(frozen=True, slots=True)
class Query:
    """One hash to look up."""

    signal: SignalType
    value: bytes


# How long, and up to how many rows, updates from peers may gather before the index takes them.
COALESCE_S = 0.2
COALESCE_ROWS = 200_000

Build = Callable[[], Awaitable[tuple[np.ndarray, np.ndarray]]]
# (PDQ item ids added, their values, item ids removed, who waits)
Update = tuple[Sequence[int], Sequence[bytes], Sequence[int], "asyncio.Future[None]"]


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _read_marker(path: Path) -> str | None:
    try:
        value = json.loads((path / "marker.json").read_text())
    except (OSError, ValueError):
        return None
    return value.get("marker") if isinstance(value, dict) else None


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

    async def load(self, marker: str, saved: Path | None, build: Build) -> str:
        """Load the PDQ index saved at ``saved`` if its marker is ``marker``, else build it.

        Returns how it was obtained ("loaded" or "built"). ``marker`` names the state of the
        bank the index must reflect (the store's digest and next item id): any change since
        (or a crash before the index was saved) means a rebuild, from ``build()``'s rows.
        """
        if saved is not None and _read_marker(saved) == marker:
            try:
                self.pdq = await asyncio.to_thread(PdqIndex.load, saved / "index")
                return "loaded"
            except (OSError, ValueError, MatchingError) as exc:
                log.warning("saved PDQ index unusable, rebuilding: %s", exc)
        ids, values = await build()
        index = PdqIndex()
        if len(ids):
            await asyncio.to_thread(index.add, ids, values)
        self.pdq = index
        return "built"

    async def save(self, marker: str, path: Path) -> None:
        """Save the index with the marker of the bank state it reflects."""
        await self.drain()
        path.mkdir(exist_ok=True)
        marker_file = path / "marker.json"
        marker_file.unlink(missing_ok=True)  # while the index is rewritten, it is not current
        await asyncio.to_thread(self.pdq.save, path / "index")
        tmp = path / "marker.json.tmp"
        tmp.write_text(json.dumps({"marker": marker}))
        os.replace(tmp, marker_file)

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

    async def query(self, values: Sequence[bytes], threshold: int) -> list[list[tuple[int, int]]]:
        """For each PDQ value, [(item id, distance)] of indexed items within ``threshold``."""
        if not values:
            return []
        array = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, 32)
        return await asyncio.to_thread(self.pdq.query_batch, array, threshold)
