"""Feed rules: who may sign an author's entries, and where an entry goes in its author's feed.

Each organisation's feed is an append-only chain: seq 1, 2, 3… with no gaps, each entry naming
its predecessor's id in ``prev``, author timestamps never going backwards. Two different,
validly signed entries at the same author and seq are a *fork*: the author (or a thief of its
key) has told two stories, and the pair is a proof anyone can check.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Protocol

from protocol import schema, wire
from protocol.entry import MAX_ENTRY_SIZE, Entry, Header, decode_entry
from protocol.errors import (
    BrokenChainError,
    ForkError,
    InvalidValueError,
    TimestampError,
    UnauthorizedError,
)
from protocol.identity import ORG_ID_CONTEXT

# How far an author's clock may run ahead of ours. Helpline machines are not always
# NTP-disciplined; five minutes tolerates that while keeping "future" entries out.
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The latest entry we hold of one author."""

    author: bytes
    seq: int
    entry_id: bytes
    timestamp_ms: int

    @classmethod
    def of(cls, entry: Entry) -> FeedHead:
        return cls(entry.author, entry.seq, entry.id, entry.header.timestamp_ms)


class KeyPolicy(Protocol):
    """Decides whether a header's key may sign for its author at its place in the feed."""

    def authorize(self, header: Header) -> None:
        """Raise ``UnauthorizedError`` unless ``header.key`` may sign this entry."""


class SelfCertifying:
    """The rule without a charter: an org id is the hash of its only key."""

    def __init__(self) -> None:
        self._org_of_key: dict[bytes, bytes] = {}

    def authorize(self, header: Header) -> None:
        org = self._org_of_key.get(header.key)
        if org is None:
            org = hashlib.sha256(ORG_ID_CONTEXT + header.key).digest()
            if len(self._org_of_key) < 65536:
                self._org_of_key[header.key] = org
        if org != header.author:
            raise UnauthorizedError(
                f"key {header.key.hex()} does not belong to author {header.author.hex()}",
                field="key",
            )


class Placement(enum.Enum):
    """Where an incoming entry goes relative to what we hold of its author."""

    NEXT = "next"  # continues the feed: store it
    DUPLICATE = "duplicate"  # we already hold this very entry
    AHEAD = "ahead"  # beyond a gap: hold it until the missing entries arrive


def check_timestamp(entry: Entry, now_ms: int, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
    """Refuse entries stamped further than ``max_skew_ms`` into the future."""
    if entry.header.timestamp_ms > now_ms + max_skew_ms:
        raise TimestampError(
            f"entry {entry.id.hex()} is stamped {entry.header.timestamp_ms} ms, more than "
            f"{max_skew_ms} ms ahead of now ({now_ms})",
            field="timestamp_ms",
        )


def place(entry: Entry, head: FeedHead | None, stored: Entry | None) -> Placement:
    """Where ``entry`` goes, given our head of its author and our entry at its seq (if any).

    Raises ``ForkError`` (carrying a ``ForkProof``) when ``stored`` differs from ``entry``, and
    ``BrokenChainError`` or ``TimestampError`` when it does not continue the feed.
    """
    if stored is not None:
        if stored.author != entry.author or stored.seq != entry.seq:
            raise ValueError("stored must be our entry at the same author and seq")
        if stored.id == entry.id:
            return Placement.DUPLICATE
        proof = ForkProof.of(stored, entry)
        raise ForkError(
            f"fork: author {entry.author.hex()} signed two entries at seq {entry.seq}", proof
        )
    if head is None:
        return Placement.NEXT if entry.seq == 1 else Placement.AHEAD
    if entry.seq <= head.seq:
        raise ValueError(f"our entry at seq {entry.seq} is needed to place this entry")
    if entry.seq > head.seq + 1:
        return Placement.AHEAD
    check_successor(entry, head)
    return Placement.NEXT


def check_successor(entry: Entry, head: FeedHead) -> None:
    """Check that ``entry`` directly continues the feed whose latest entry is ``head``."""
    if entry.seq != head.seq + 1:
        raise BrokenChainError(
            f"entry seq {entry.seq} does not follow head seq {head.seq}", field="seq"
        )
    if entry.header.prev != head.entry_id:
        raise BrokenChainError(
            f"entry {entry.id.hex()} at seq {entry.seq} names prev "
            f"{(entry.header.prev or b'').hex()}, but our entry at seq {head.seq} is "
            f"{head.entry_id.hex()}",
            field="prev",
        )
    if entry.header.timestamp_ms < head.timestamp_ms:
        raise TimestampError(
            f"entry at seq {entry.seq} is stamped {entry.header.timestamp_ms}, before its "
            f"predecessor ({head.timestamp_ms})",
            field="timestamp_ms",
        )


@dataclass(frozen=True, slots=True)
class ForkProof:
    """Two validly signed entries of one author at one seq, bodies erased, lower id first."""

    first: Entry
    second: Entry

    @classmethod
    def of(cls, a: Entry, b: Entry) -> ForkProof:
        """The proof made of two conflicting entries."""
        if a.author != b.author or a.seq != b.seq or a.id == b.id:
            raise InvalidValueError("a fork proof needs two different entries at one author/seq")
        low, high = sorted((a.without_body(), b.without_body()), key=lambda e: e.id)
        return cls(low, high)

    @property
    def author(self) -> bytes:
        return self.first.author

    @property
    def seq(self) -> int:
        return self.first.seq

    def encode(self) -> bytes:
        """The proof's canonical bytes."""
        return wire.encode([self.first.raw, self.second.raw])

    def verify(self, policy: KeyPolicy) -> None:
        """Raise unless both entries are signed by keys ``policy`` accepts for the author."""
        policy.authorize(self.first.header)
        policy.authorize(self.second.header)


def decode_fork_proof(data: bytes, policy: KeyPolicy) -> ForkProof:
    """Decode and fully check a fork proof received from anyone."""
    value = wire.decode(data, max_size=2 * MAX_ENTRY_SIZE, what="fork proof")
    first_raw, second_raw = schema.array(value, 2, "fork proof")
    first = decode_entry(schema.blob(first_raw, "fork proof entry"))
    second = decode_entry(schema.blob(second_raw, "fork proof entry"))
    proof = ForkProof.of(first, second)
    if proof.encode() != data:
        raise InvalidValueError("fork proof must hold body-less entries, lower id first")
    proof.verify(policy)
    return proof
