"""What platforms and helplines said about hashes: feedback entries, read back.

Every verdict is a signed feedback entry of the giver's own feed, so each one carries its
entry id, which a helpline can show a victim as verifiable evidence that a platform acted.
A giver may change its mind: where a verdict "counts", the giver's latest one on that hash
replaces its earlier ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from node.matching.matcher import Query
from node.store import Store, StoredEntry
from protocol.body import FeedbackBody
from protocol.entry import decode_entry
from protocol.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class Feedback:
    """A stored feedback entry and its decoded body."""

    stored: StoredEntry
    body: FeedbackBody


@dataclass(frozen=True, slots=True)
class AddFeedback:
    """One of our add entries, how many of its items are active, and the feedback on it."""

    entry: StoredEntry
    items: int
    active_items: int
    feedback: tuple[Feedback, ...]


def decode_feedback(rows: Iterable[StoredEntry]) -> list[Feedback]:
    """The feedback bodies of ``rows``; erased bodies have nothing to show and are skipped."""
    out = []
    for row in rows:
        try:
            body = decode_entry(row.raw).body
        except ProtocolError:  # stored entries were verified on the way in
            continue
        if isinstance(body, FeedbackBody):
            out.append(Feedback(row, body))
    return out


def latest_per_giver(feedback: Iterable[Feedback]) -> list[Feedback]:
    """Each giver's latest verdict on each hash (arrival order: later replaces earlier)."""
    latest: dict[tuple[bytes, str, bytes], Feedback] = {}
    for fb in feedback:
        latest[(fb.stored.author, fb.body.signal_type, fb.body.value)] = fb
    return list(latest.values())


class FeedbackReads:
    """Queries over the feedback this replica holds."""

    def __init__(self, store: Store, org: bytes) -> None:
        self.store = store
        self.org = org

    async def on_entry(self, entry_id: bytes) -> list[Feedback]:
        return decode_feedback(await self.store.feedback_on_entry(entry_id))

    async def on_value(self, signal_type: str, value: bytes) -> list[Feedback]:
        return decode_feedback(await self.store.feedback_on_values(signal_type, [value]))

    async def latest_on(self, queries: Sequence[Query]) -> dict[tuple[str, bytes], list[Feedback]]:
        """Per hash asked about, each giver's latest feedback."""
        by_type: dict[str, set[bytes]] = {}
        for q in queries:
            by_type.setdefault(q.signal.name, set()).add(q.value)
        out: dict[tuple[str, bytes], list[Feedback]] = {}
        for name, values in by_type.items():
            rows = await self.store.feedback_on_values(name, sorted(values))
            for fb in latest_per_giver(decode_feedback(rows)):
                out.setdefault((name, fb.body.value), []).append(fb)
        return out

    async def on_our_adds(self, adds: Sequence[StoredEntry] | None) -> list[AddFeedback]:
        """Our adds with the feedback naming them: ``adds`` (a case's) or all that have some.

        Without ``adds`` only entries that have feedback are listed.
        """
        by_target: dict[bytes, list[Feedback]] = {}
        for row in await self.store.feedback_on_author(self.org):
            for fb in decode_feedback([row.feedback]):
                by_target.setdefault(row.target_id, []).append(fb)
        if adds is not None:
            targets = list(adds)
        else:
            found = [await self.store.entry_by_id(t) for t in by_target]
            targets = [e for e in found if e is not None]
        out = []
        for entry in targets:
            items = await self.store.items_of_entry(entry.id)
            fbs = tuple(by_target.get(entry.id, []))
            out.append(AddFeedback(entry, len(items), sum(i.active for i in items), fbs))
        return out
