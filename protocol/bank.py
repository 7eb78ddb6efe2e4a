"""Merge rules: how feeds fold into the bank, and the bank digest.

An item of an ``add`` entry is *active* from the moment the entry is known until its author
revokes it (the whole entry or that item) or its expiry time passes. A revoke by any other
author has no effect, and neither has any entry of a feed suspended by a fork (from its fork
seq on). Because the rules look only at which entries exist — never at the order in which they
arrived or how often — every replica that holds the same entries has the same bank, and the
bank digest lets two replicas compare that with one value. The *feed digest* does the same for
one author's share, leaving out the time: it counts the author's *standing* items (neither
withdrawn nor void), expired or not.

``BankState`` is the reference implementation, used by tests and small tools; the node keeps
the same state incrementally in SQLite using ``item_digest`` / ``BankDigest`` and
``revoked_indexes`` from here (and ``protocol.hazmat.digest_sum``, the sum over a whole add
entry), so the rules exist once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from protocol import hazmat
from protocol.body import AddBody, HashItem, RevokeBody
from protocol.entry import Entry

DIGEST_CONTEXT = b"hashbank/v1/bank-digest\x00"
_MOD = 2**256


@dataclass(frozen=True, slots=True)
class ActiveItem:
    """One active hash with where it came from."""

    author: bytes
    entry_id: bytes
    index: int
    item: HashItem


def item_digest(signal_type: str, value: bytes, author: bytes, entry_id: bytes, index: int) -> int:
    """The 256-bit integer an active item contributes to the bank digest."""
    # Hot path (once per item stored): the fields are validated, so skip the model walk.
    encoded = hazmat.encode_known([signal_type, value, author, entry_id, index])
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


@dataclass(slots=True)
class BankDigest:
    """An order-independent digest of a set: the sum of member digests modulo 2**256.

    A sum (rather than XOR) keeps two copies of a member from cancelling out, and it can be
    updated in O(1) per item added or removed, which is what the node needs.
    """

    count: int = 0
    total: int = 0

    def add(self, digest: int) -> None:
        self.count += 1
        self.total = (self.total + digest) % _MOD

    def add_many(self, count: int, digest_sum: int) -> None:
        """Add ``count`` members whose digests sum to ``digest_sum``."""
        self.count += count
        self.total = (self.total + digest_sum) % _MOD

    def remove(self, digest: int) -> None:
        self.count -= 1
        self.total = (self.total - digest) % _MOD

    def value(self) -> bytes:
        """The 32-byte bank digest."""
        material = DIGEST_CONTEXT + self.count.to_bytes(8, "big") + self.total.to_bytes(32, "big")
        return hashlib.sha256(material).digest()


def is_live(item: HashItem, now_ms: int) -> bool:
    """False once an item's expiry time has passed."""
    return item.expires_ms is None or now_ms < item.expires_ms


def revoked_indexes(add: Entry, revokes: Iterable[Entry]) -> set[int] | None:
    """Which items of ``add`` the given revokes withdraw: ``None`` means the whole entry.

    Only revokes by the add's own author count; indexes beyond the entry are ignored.
    """
    withdrawals = (
        (revoke.author, target.items)
        for revoke in revokes
        if isinstance(revoke.body, RevokeBody)
        for target in revoke.body.targets
        if target.entry_id == add.id
    )
    return withdrawn(add.author, withdrawals)


def withdrawn(
    add_author: bytes, withdrawals: Iterable[tuple[bytes, tuple[int, ...] | None]]
) -> set[int] | None:
    """Fold ``(revoking author, items or None)`` pairs aimed at one add into what they withdraw.

    ``None`` means the whole entry. Withdrawals by another author than ``add_author`` are
    ignored: only an author can revoke its own hashes.
    """
    out: set[int] = set()
    for author, items in withdrawals:
        if author != add_author:
            continue
        if items is None:
            return None
        out.update(items)
    return out


@dataclass
class BankState:
    """The bank folded from a set of entries, independent of arrival order and duplicates."""

    adds: dict[bytes, Entry] = field(default_factory=dict)
    # Revokes indexed by the entry they target, so an add arriving after its revoke finds it.
    revokes_by_target: dict[bytes, dict[bytes, Entry]] = field(default_factory=dict)
    # Fork seqs of suspended feeds (docs/protocol.md §6.1): their entries from there on count
    # for nothing.
    fork_seqs: dict[bytes, int] = field(default_factory=dict)

    def counts(self, entry: Entry) -> bool:
        """False for an entry of a feed suspended at its seq."""
        fork = self.fork_seqs.get(entry.author)
        return fork is None or entry.seq < fork

    def apply(self, entry: Entry) -> None:
        """Fold one entry in; applying it again changes nothing."""
        if isinstance(entry.body, AddBody):
            self.adds.setdefault(entry.id, entry)
        elif isinstance(entry.body, RevokeBody):
            for target in entry.body.targets:
                self.revokes_by_target.setdefault(target.entry_id, {})[entry.id] = entry

    def standing(self) -> Iterator[ActiveItem]:
        """Every item neither withdrawn nor void, expired or not."""
        for entry_id, add in self.adds.items():
            if not isinstance(add.body, AddBody) or not self.counts(add):
                continue
            aimed = self.revokes_by_target.get(entry_id, {}).values()
            revokes = [r for r in aimed if self.counts(r)]
            withdrawn = revoked_indexes(add, revokes)
            if withdrawn is None:
                continue
            for index, item in enumerate(add.body.items):
                if index not in withdrawn:
                    yield ActiveItem(add.author, entry_id, index, item)

    def active(self, now_ms: int) -> Iterator[ActiveItem]:
        """Every active item, in no particular order."""
        return (a for a in self.standing() if is_live(a.item, now_ms))

    def digest(self, now_ms: int) -> bytes:
        """The bank digest of the active set at ``now_ms``."""
        return _digest_of(self.active(now_ms))

    def feed_digest(self, author: bytes) -> bytes:
        """The feed digest of ``author``: its standing items, whatever the time."""
        return _digest_of(a for a in self.standing() if a.author == author)


def _digest_of(items: Iterable[ActiveItem]) -> bytes:
    acc = BankDigest()
    for a in items:
        acc.add(item_digest(a.item.signal_type, a.item.value, a.author, a.entry_id, a.index))
    return acc.value()
