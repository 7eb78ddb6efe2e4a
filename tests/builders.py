"""Builders for real signed feeds, shared by protocol and node tests."""

from __future__ import annotations

import hashlib

from protocol.body import (
    AddBody,
    Body,
    FeedbackBody,
    FeedbackNote,
    HashItem,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
    Verdict,
)
from protocol.entry import Entry, sign_entry
from protocol.identity import OrgId, SigningKey, org_id_for

BASE_TS = 1_760_000_000_000  # a fixed, plausible author clock (2025-10-09)


def pdq_value(n: int) -> bytes:
    """A deterministic, distinct 32-byte PDQ value."""
    return hashlib.sha256(b"pdq" + n.to_bytes(8, "big")).digest()


def pdq_item(n: int, labels: tuple[str, ...] = ("ncii",)) -> HashItem:
    return HashItem("pdq", pdq_value(n), labels)


class Author:
    """An organisation with its own key and feed, signing real entries."""

    def __init__(self, seed: int | bytes) -> None:
        raw = seed if isinstance(seed, bytes) else hashlib.sha256(b"seed%d" % seed).digest()
        self.key = SigningKey(raw)
        self.org: OrgId = org_id_for(self.key.public_key)
        self.entries: list[Entry] = []
        self.clock = BASE_TS

    def append(self, body: Body, *, key: SigningKey | None = None) -> Entry:
        """Sign ``body`` as this author's next entry."""
        self.clock += 1000
        prev = self.entries[-1].id if self.entries else None
        entry = sign_entry(
            key or self.key,
            author=self.org,
            seq=len(self.entries) + 1,
            prev=prev,
            timestamp_ms=self.clock,
            body=body,
        )
        self.entries.append(entry)
        return entry

    def add(self, *items: HashItem) -> Entry:
        return self.append(AddBody(tuple(items) or (pdq_item(len(self.entries)),)))

    def revoke(
        self,
        target: Entry | bytes,
        items: tuple[int, ...] | None = None,
        reason: RevokeReason = RevokeReason.VICTIM_REQUEST,
    ) -> Entry:
        entry_id = target.id if isinstance(target, Entry) else target
        return self.append(RevokeBody((RevokeTarget(entry_id, items),), reason))

    def feedback(self, value: bytes, verdict: Verdict, entry_id: bytes | None = None) -> Entry:
        return self.append(FeedbackBody("pdq", value, verdict, entry_id, FeedbackNote.ACTIONED))
