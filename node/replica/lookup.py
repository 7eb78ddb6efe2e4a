"""Matching a query against the bank: PDQ through the index, md5/sha256 through the store.

The PDQ index answers item ids and distances; the store answers exact values from its
partial index (one batched query per signal type) and the rows the answer reports.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

from node.matching.matcher import Matcher, Query
from node.stats import Timings
from node.store import ItemRow, Store
from protocol.signals import Comparison

# What ``Lookup.timings`` times: the PDQ index, the store's exact lookups, a whole match.
PARTS = ("pdq", "exact", "total")


@dataclass(frozen=True, slots=True)
class Match:
    """A bank item that matched a query, and how closely."""

    item: ItemRow
    distance: int


class Lookup:
    """Answers match queries from the matcher's index and the store."""

    def __init__(self, store: Store, matcher: Matcher) -> None:
        self.store = store
        self.matcher = matcher
        # For /metrics: durations per part, queries per signal type, matches found.
        self.timings = {part: Timings() for part in PARTS}
        self.queries: collections.Counter[str] = collections.Counter()
        self.found = 0

    async def match(self, queries: Sequence[Query], threshold: int) -> list[list[Match]]:
        """For each query in order, the active items within ``threshold`` (PDQ) or equal."""
        with self.timings["total"].time():
            self.queries.update(q.signal.name for q in queries)
            results = await self._match(queries, threshold)
        self.found += sum(map(len, results))
        return results

    async def _match(self, queries: Sequence[Query], threshold: int) -> list[list[Match]]:
        found: list[list[tuple[int, int]]] = [[] for _ in queries]
        pdq_at = [i for i, q in enumerate(queries) if q.signal.comparison is Comparison.HAMMING]
        if pdq_at:
            with self.timings["pdq"].time():
                hits = await self.matcher.query([queries[i].value for i in pdq_at], threshold)
            for i, result in zip(pdq_at, hits, strict=True):
                found[i] = result
        rows: dict[int, ItemRow] = {}
        if len(pdq_at) < len(queries):
            with self.timings["exact"].time():
                await self._exact(queries, found, rows)
        wanted = sorted({item_id for hits in found for item_id, _ in hits} - set(rows))
        rows.update(await self.store.items_by_ids(wanted))
        return [
            [Match(rows[item_id], d) for item_id, d in hits if item_id in rows] for hits in found
        ]

    async def _exact(
        self,
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
            by_value: dict[bytes, list[ItemRow]] = {}
            for item in await self.store.exact(name, values):
                by_value.setdefault(item.value, []).append(item)
                rows[item.item_id] = item
            for i in positions:
                found[i] = [(item.item_id, 0) for item in by_value.get(queries[i].value, [])]
