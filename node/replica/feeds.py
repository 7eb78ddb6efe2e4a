"""The feeds this replica holds: every author's head, the fork seqs, held entries.

``Feeds`` is the in-memory mirror of the store's ``heads`` table and of the fork seqs its
stored proofs give (docs/protocol.md §6.1). Entries are written through ``write`` inside a
store transaction, and the mirror moves only once that transaction has committed
(``committed``), so it never runs ahead of the disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from node.store import Transaction
from node.store import plan as planning
from protocol.entry import Entry
from protocol.feed import FeedHead
from protocol.sync import HoldBack, Range


class Feeds:
    """Heads by author, fork seqs of suspended feeds, and the hold-back buffer."""

    def __init__(self, heads: Mapping[bytes, FeedHead], forked: Mapping[bytes, int]) -> None:
        self.heads: dict[bytes, FeedHead] = dict(heads)
        # Author -> the seq from which its feed is suspended by a fork proof that counts.
        self.forked: dict[bytes, int] = dict(forked)
        self.holdback = HoldBack()

    def seq(self, author: bytes) -> int:
        """Our head seq of ``author`` (0 when we hold none of its feed)."""
        head = self.heads.get(author)
        return head.seq if head else 0

    def gaps(self) -> list[Range]:
        """Ranges to fetch so that held entries can be placed."""
        return self.holdback.gaps({a: h.seq for a, h in self.heads.items()})

    async def write(
        self,
        txn: Transaction,
        entries: Sequence[Entry],
        now_ms: int,
        *,
        void: AbstractSet[bytes] = frozenset(),
        erasable: AbstractSet[bytes] = frozenset(),
        digest_sums: Mapping[bytes, int] | None = None,
    ) -> planning.Plan:
        """Plan and write placed entries (in feed order) in ``txn``; returns the plan."""
        ctx = await txn.context_for(entries)
        plan = planning.plan_batch(
            entries, ctx, now_ms, void=void, digest_sums=digest_sums, erasable=erasable
        )
        await txn.write_plan(plan, ctx)
        return plan

    def committed(self, entries: Sequence[Entry]) -> None:
        """Move heads past entries whose transaction has committed."""
        for entry in entries:
            head = self.heads.get(entry.author)
            if head is None or entry.seq > head.seq:
                self.heads[entry.author] = FeedHead.of(entry)

    def set_fork(self, author: bytes, seq: int | None) -> None:
        """Record (or, with None, lift) the fork seq of ``author``."""
        if seq is None:
            self.forked.pop(author, None)
        else:
            self.forked[author] = seq
