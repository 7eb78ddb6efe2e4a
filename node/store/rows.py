"""What the store hands out: typed rows, never tuples or dicts of columns."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field

from protocol.bank import BankDigest
from protocol.body import Kind


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its arrival cursor, indexed fields and exact bytes."""

    cursor: int
    id: bytes
    author: bytes
    seq: int
    kind: Kind
    timestamp_ms: int
    received_ms: int
    raw: bytes
    erased: bool  # held without its body
    void: bool = False  # a takedown covers it, or a fork suspends its feed
    incomplete: bool = False  # without its body, and no authority dropped it: still wanted


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item of the bank with what a match result reports about it."""

    item_id: int
    signal_type: str
    value: bytes
    labels: tuple[str, ...]
    entry_id: bytes
    author: bytes
    idx: int
    active: bool


@dataclass(frozen=True, slots=True)
class ActiveItem:
    """An active item as much as withdrawing it needs: its id and its bank-digest term."""

    item_id: int
    signal_type: str
    value: bytes
    author: bytes
    entry_id: bytes
    idx: int


@dataclass(frozen=True, slots=True)
class ForkRecord:
    """A stored fork proof of one author."""

    author: bytes
    seq: int
    proof: bytes
    detected_ms: int


@dataclass(frozen=True, slots=True)
class CharterForkRecord:
    """A stored proof of two charter versions with one number."""

    number: int
    proof: bytes
    detected_ms: int


@dataclass(frozen=True, slots=True)
class FeedbackOnAdd:
    """A feedback entry naming one of an author's adds."""

    target_id: bytes
    feedback: StoredEntry


@dataclass(frozen=True, slots=True)
class Counts:
    """Entries, authors and active items per signal type (kept current, never scanned)."""

    entries: int
    authors: int
    active_hashes: Mapping[str, int]


@dataclass
class Counters:
    """The store's running totals, copied into a transaction and adopted after its commit."""

    next_cursor: int = 1
    next_item_id: int = 1
    digest: BankDigest = field(default_factory=BankDigest)
    entry_count: int = 0
    active_counts: collections.Counter[str] = field(default_factory=collections.Counter)

    def copy(self) -> Counters:
        return Counters(
            self.next_cursor,
            self.next_item_id,
            BankDigest(self.digest.count, self.digest.total),
            self.entry_count,
            collections.Counter(self.active_counts),
        )
