"""Feed rules: who may sign an author's entries, and where an entry goes in its author's feed.

Each organisation's feed is an append-only chain: seq 1, 2, 3…, each entry naming its
predecessor's id in ``prev``, author timestamps never going backwards — except across seqs a
charter takedown covers, which need not be held and are not checked against. Two different,
validly signed headers at the same author and seq are a *fork*: the author (or a thief of its
key) has told two stories, and the pair is a proof anyone can check. A fork that counts
suspends the author's feed from its seq on, on every node alike (docs/protocol.md §6.1).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from protocol import schema, wire
from protocol.entry import MAX_ENTRY_SIZE, Entry, Header, SignedHeader, decode_signed_header
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
    """Decides whether a header's key may sign for its author, and what takedowns cover."""

    def authorize(self, header: Header) -> None:
        """Raise ``UnauthorizedError`` unless ``header.key`` may sign this entry."""

    def key_retired(self, header: Header) -> bool:
        """True when ``header.key`` is no longer its author's current key."""

    def covered(self, author: bytes, first: int, last: int) -> bool:
        """True when takedowns in force cover every seq ``first``…``last`` of ``author``."""


class SelfCertifying:
    """The rule without a charter: an org id is the hash of its only key, and no takedowns."""

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

    def key_retired(self, header: Header) -> bool:
        return False  # an organisation without a charter has one key for good

    def covered(self, author: bytes, first: int, last: int) -> bool:
        return False


class Placement(enum.Enum):
    """Where an incoming entry goes relative to what we hold of its author."""

    NEXT = "next"  # continues the feed: store it
    DUPLICATE = "duplicate"  # we already hold this very entry (or a seq the feed skipped)
    COMPLETES = "completes"  # carries the body our incomplete copy lacks: replace ours
    AHEAD = "ahead"  # beyond a gap: hold it until the missing entries arrive
    SUSPENDED = "suspended"  # at or above its author's fork seq: refused (forked_author)


class _NoTakedowns:
    def covered(self, author: bytes, first: int, last: int) -> bool:
        return False


class Coverage(Protocol):
    """What takedowns in force cover (``KeyPolicy`` is one)."""

    def covered(self, author: bytes, first: int, last: int) -> bool: ...


NO_TAKEDOWNS: Coverage = _NoTakedowns()


def check_timestamp(entry: Entry, now_ms: int, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
    """Refuse entries stamped further than ``max_skew_ms`` into the future."""
    if entry.header.timestamp_ms > now_ms + max_skew_ms:
        raise TimestampError(
            f"entry {entry.id.hex()} is stamped {entry.header.timestamp_ms} ms, more than "
            f"{max_skew_ms} ms ahead of now ({now_ms})",
            field="timestamp_ms",
        )


def place(
    entry: Entry,
    head: FeedHead | None,
    stored: Entry | None,
    *,
    stored_incomplete: bool = False,
    fork_seq: int | None = None,
    takedowns: Coverage = NO_TAKEDOWNS,
) -> Placement:
    """Where ``entry`` goes, given our head of its author and our entry at its seq (if any).

    ``stored_incomplete`` says our copy at that seq lacks its body without an authority;
    ``fork_seq`` is the author's fork seq, if its feed is suspended; ``takedowns`` what the
    latest charter covers. Raises ``ForkError`` (carrying a ``ForkProof``) when ``stored``
    differs from ``entry``, and ``BrokenChainError`` or ``TimestampError`` when it does not
    continue the feed.
    """
    if fork_seq is not None and entry.seq >= fork_seq:
        # Another copy of what we hold there is no news (a re-run import, a late push);
        # anything else of a suspended feed is refused. A suspended entry is not completed.
        same = stored is not None and stored.id == entry.id
        return Placement.DUPLICATE if same else Placement.SUSPENDED
    if stored is not None:
        if stored.author != entry.author or stored.seq != entry.seq:
            raise ValueError("stored must be our entry at the same author and seq")
        if stored.id == entry.id:
            return repeat(entry, stored_incomplete=stored_incomplete)
        proof = ForkProof.of(stored, entry)
        raise ForkError(
            f"fork: author {entry.author.hex()} signed two entries at seq {entry.seq}", proof
        )
    if head is None:
        head_seq = 0
    elif entry.seq <= head.seq:
        return Placement.DUPLICATE  # a taken-down seq the feed went past without it
    else:
        head_seq = head.seq
    if entry.seq > head_seq + 1:
        if takedowns.covered(entry.author, head_seq + 1, entry.seq - 1) and not takedowns.covered(
            entry.author, entry.seq, entry.seq
        ):
            return Placement.NEXT  # the gap is taken down: nothing there to wait for
        return Placement.AHEAD
    if head is not None:
        check_successor(entry, head, takedowns)
    return Placement.NEXT


def repeat(entry: Entry, *, stored_incomplete: bool) -> Placement:
    """Another copy of an entry we hold: it completes ours only if ours lacks the body."""
    if stored_incomplete and entry.body is not None:
        return Placement.COMPLETES
    return Placement.DUPLICATE


def check_successor(entry: Entry, head: FeedHead, takedowns: Coverage = NO_TAKEDOWNS) -> None:
    """Check that ``entry`` directly continues the feed whose latest entry is ``head``.

    Nothing is checked against a head that a takedown covers: the stewards have said that
    entry counts for nothing, and the feed goes on whichever copy of it a node holds.
    """
    if entry.seq != head.seq + 1:
        raise BrokenChainError(
            f"entry seq {entry.seq} does not follow head seq {head.seq}", field="seq"
        )
    if takedowns.covered(entry.author, head.seq, head.seq):
        return
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


class Standing(enum.Enum):
    """What a valid fork proof does under a charter (docs/protocol.md §6.1)."""

    COUNTS = "counts"  # suspends the author's feed from its seq on
    RESOLVED = "resolved"  # a takedown covers its seq
    RETIRED = "retired"  # its key has since been replaced: it speaks for no fork


@dataclass(frozen=True, slots=True)
class ForkProof:
    """Two validly signed headers of one author at one seq, lower id first. No bodies."""

    first: SignedHeader
    second: SignedHeader

    @classmethod
    def of(cls, a: Entry | SignedHeader, b: Entry | SignedHeader) -> ForkProof:
        """The proof made of two conflicting entries (or their signed headers)."""
        if a.author != b.author or a.seq != b.seq or a.id == b.id:
            raise InvalidValueError("a fork proof needs two different entries at one author/seq")
        halves = [x.signed_header() if isinstance(x, Entry) else x for x in (a, b)]
        low, high = sorted(halves, key=lambda h: h.id)
        return cls(low, high)

    @property
    def author(self) -> bytes:
        return self.first.author

    @property
    def seq(self) -> int:
        return self.first.seq

    def encode(self) -> bytes:
        """The proof's canonical bytes."""
        return wire.encode([self.first.envelope(), self.second.envelope()])

    def verify(self, policy: KeyPolicy) -> None:
        """Raise unless both headers are signed by keys ``policy`` accepts for the author."""
        policy.authorize(self.first.header)
        policy.authorize(self.second.header)

    def standing(self, policy: KeyPolicy) -> Standing:
        """Whether this (verified) proof suspends its author's feed under ``policy``."""
        if policy.covered(self.author, self.seq, self.seq):
            return Standing.RESOLVED
        if policy.key_retired(self.first.header):
            return Standing.RETIRED
        return Standing.COUNTS


def decode_fork_proof(data: bytes, policy: KeyPolicy) -> ForkProof:
    """Decode and fully check a fork proof received from anyone."""
    value = wire.decode(data, max_size=2 * MAX_ENTRY_SIZE, what="fork proof")
    first_raw, second_raw = schema.array(value, 2, "fork proof")
    first = decode_signed_header(schema.blob(first_raw, "fork proof entry"))
    second = decode_signed_header(schema.blob(second_raw, "fork proof entry"))
    proof = ForkProof.of(first, second)
    if proof.encode() != data:
        raise InvalidValueError("fork proof must hold its two headers lower id first")
    proof.verify(policy)
    return proof


def fork_seq(proofs: Iterable[ForkProof], policy: KeyPolicy) -> int | None:
    """The author's fork seq: the lowest seq of the proofs of it that count (None: none)."""
    seqs = [p.seq for p in proofs if p.standing(policy) is Standing.COUNTS]
    return min(seqs) if seqs else None


def preferred(a: ForkProof, b: ForkProof, policy: KeyPolicy) -> ForkProof:
    """Of two proofs of one author, the one a node keeps: counting first, then lower seq."""

    def rank(p: ForkProof) -> tuple[bool, int, bytes]:
        return (p.standing(policy) is not Standing.COUNTS, p.seq, p.first.id)

    return min(a, b, key=rank)
