"""Charter rules: a verified chain of charter versions, and what it allows.

``CharterChain`` holds versions 1…n, each checked against its predecessor. ``CharterPolicy``
answers, for any entry header, whether its author was a member with the right role when it
was signed and whether the key is the author's key at that place in its feed; and whether a
takedown voids it. Every node applies the same rules to the same chain, so every node reaches
the same verdicts on its own.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocol.body import Kind
from protocol.charter import (
    Charter,
    CharterBody,
    CharterForkProof,
    Member,
    Takedown,
    check_genesis,
    check_lead,
    check_successor,
)
from protocol.entry import Header
from protocol.errors import CharterError, CharterForkError, UnauthorizedError

# Which roles may author each kind of entry.
ROLES_FOR_KIND = {
    Kind.ADD: frozenset({"publisher"}),
    Kind.REVOKE: frozenset({"publisher"}),
    Kind.FEEDBACK: frozenset({"publisher", "subscriber"}),
}


class Offer(enum.Enum):
    """What a chain made of a charter version it was offered."""

    APPENDED = "appended"
    KNOWN = "known"


@dataclass
class CharterChain:
    """Charter versions 1…n, each validly following the one before."""

    versions: list[Charter]
    # The latest version's takedowns by organisation, built on first use (a bulk sync asks
    # for every entry; a charter may list 10,000 takedowns).
    _takedowns: dict[bytes, tuple[Takedown, ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def start(cls, genesis: Charter, *, now_ms: int | None = None) -> CharterChain:
        """A chain from a new version 1: only its own stewards' signatures, and with
        ``now_ms`` (the adopting node's clock) taking effect within the allowed lead."""
        check_genesis(genesis)
        if now_ms is not None:
            check_lead(genesis, now_ms)
        return cls([genesis])

    @classmethod
    def load(cls, versions: Sequence[Charter]) -> CharterChain:
        """Rebuild a chain from stored versions, re-checking every link.

        Stored versions were adopted under the rules of their day: the rules for new
        versions (every signature counts, the lead on ``now``) are not applied again.
        """
        check_genesis(versions[0], strict=False)
        chain = cls([versions[0]])
        for charter in versions[1:]:
            check_successor(chain.latest, charter, strict=False)
            chain.versions.append(charter)
        return chain

    @property
    def latest(self) -> Charter:
        return self.versions[-1]

    def offer(self, charter: Charter, *, now_ms: int | None = None) -> Offer:
        """Append the next version, recognise one we hold, or refuse (rollback, gap, fork).

        A new version carries only signatures that count and, with ``now_ms`` (the adopting
        node's clock), takes effect at most ``MAX_EFFECTIVE_LEAD_MS`` after it.
        """
        number = charter.number
        if number <= self.latest.number:
            held = self.versions[number - 1]
            if held.id == charter.id:
                return Offer.KNOWN
            self._check_rival(charter)
            proof = CharterForkProof(*sorted((held, charter), key=lambda c: c.id))
            raise CharterForkError(f"charter fork at version {number}", proof)
        if number > self.latest.number + 1:
            raise CharterError(
                f"charter version {number} arrived before version {self.latest.number + 1}"
            )
        check_successor(self.latest, charter)
        if now_ms is not None:
            check_lead(charter, now_ms)
        self.versions.append(charter)
        self._takedowns = None
        return Offer.APPENDED

    def takedowns_of(self, org_id: bytes) -> tuple[Takedown, ...]:
        """The latest version's takedowns of ``org_id``, by ``from_seq``."""
        if self._takedowns is None:
            index: dict[bytes, list[Takedown]] = {}
            for t in self.latest.body.takedowns:
                index.setdefault(t.org_id, []).append(t)
            self._takedowns = {org: tuple(ts) for org, ts in index.items()}
        return self._takedowns.get(org_id, ())

    def _check_rival(self, charter: Charter) -> None:
        """A different version with a number we hold: a fork if valid, else a rollback attempt."""
        try:
            if charter.number == 1:
                self._check_rival_genesis(charter)
            else:
                # Signatures that count prove a fork, whatever else a relay added.
                check_successor(self.versions[charter.number - 2], charter, strict=False)
        except CharterError as exc:
            raise CharterError(
                f"refused charter version {charter.number}: we hold version "
                f"{self.latest.number} and the offered one is not valid ({exc.message})"
            ) from None

    def _check_rival_genesis(self, charter: Charter) -> None:
        """A rival version 1 forks *this* network only if our version 1's stewards signed it.

        Anyone can write a valid version 1 of a network of their own; that is not a fork of
        ours, and must not raise the alarm.
        """
        check_genesis(charter, strict=False)
        ours = self.versions[0]
        if charter.body.network != ours.body.network:
            raise CharterError(f"version 1 of another network ({charter.body.network!r})")
        signers = charter.valid_signers(ours.body.steward_keys())
        if len(signers) < ours.body.threshold:
            raise CharterError("a version 1 not signed by this network's founding stewards")

    def in_effect(self, timestamp_ms: int) -> CharterBody:
        """The version in effect at ``timestamp_ms`` (version 1 before any took effect)."""
        current = self.versions[0].body
        for charter in self.versions[1:]:
            if charter.body.effective_ms <= timestamp_ms:
                current = charter.body
        return current

    def last_listing(self, org_id: bytes) -> Member | None:
        """The organisation as the most recent version that lists it describes it."""
        for charter in reversed(self.versions):
            member = charter.body.member(org_id)
            if member is not None:
                return member
        return None


def utc(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time, for messages people read."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


class CharterPolicy:
    """The ``KeyPolicy`` of a network with a charter."""

    def __init__(self, chain: CharterChain) -> None:
        self.chain = chain

    def authorize(self, header: Header) -> None:
        """Raise ``UnauthorizedError`` unless the charter allows this entry."""
        author = header.author
        then = self.chain.in_effect(header.timestamp_ms).member(author)
        if then is None:
            raise UnauthorizedError(
                f"author {author.hex()} was not a member when entry seq {header.seq} was "
                f"signed ({utc(header.timestamp_ms)}){self._why_not(author, header.timestamp_ms)}",
                field="author",
            )
        allowed = ROLES_FOR_KIND[header.kind]
        if not allowed & set(then.roles):
            raise UnauthorizedError(
                f"author {author.hex()} ({', '.join(then.roles)}) may not publish "
                f"{header.kind.name.lower()} entries",
                field="kind",
            )
        member = self.chain.last_listing(author)
        expected = member.key_at(header.seq) if member else None
        if header.key != expected:
            raise UnauthorizedError(
                f"key {header.key.hex()} is not the key of {author.hex()} at seq {header.seq}",
                field="key",
            )

    def removal(self, author: bytes) -> Charter | None:
        """The version that removed ``author``, when the latest version does not list it."""
        versions = self.chain.versions
        if versions[-1].body.member(author) is not None:
            return None
        for before, after in zip(reversed(versions[:-1]), reversed(versions[1:]), strict=True):
            if before.body.member(author) is not None and after.body.member(author) is None:
                return after
        return None

    def _why_not(self, author: bytes, timestamp_ms: int) -> str:
        """Which version removed ``author`` before ``timestamp_ms``, or when it joins."""
        versions = self.chain.versions
        for before, after in zip(reversed(versions[:-1]), reversed(versions[1:]), strict=True):
            effective = after.body.effective_ms
            if (
                effective <= timestamp_ms
                and before.body.member(author)
                and not after.body.member(author)
            ):
                return (
                    f": charter version {after.number}, in effect from {utc(effective)}, removed it"
                )
        for charter in versions:
            if charter.body.member(author) is not None:
                return (
                    f": it joins in charter version {charter.number}, in effect from "
                    f"{utc(charter.body.effective_ms)}"
                )
        return ": no charter version lists it"

    def is_void(self, header: Header) -> bool:
        """True when a takedown in the latest version covers this entry."""
        return self.covered(header.author, header.seq, header.seq)

    def covered(self, author: bytes, first: int, last: int) -> bool:
        """True when the latest version's takedowns cover every seq ``first``…``last``."""
        return covers_range(self.chain.takedowns_of(author), first, last)

    def key_retired(self, header: Header) -> bool:
        """True when the charter has given the author a later key than ``header.key``."""
        member = self.chain.last_listing(header.author)
        return member is not None and member.current_key != header.key

    def next_open_seq(self, author: bytes, seq: int) -> int | None:
        """The first seq from ``seq`` on that no takedown covers (None: they never end)."""
        for t in self.chain.takedowns_of(author):
            if t.covers(seq):
                if t.until_seq is None:
                    return None
                seq = t.until_seq + 1
        return seq

    def member_of_key(self, key: bytes) -> Member | None:
        """The current member whose current key is ``key`` (for node-to-node requests)."""
        for member in self.chain.latest.body.members:
            if member.current_key == key:
                return member
        return None


def covers_range(takedowns: Sequence[Takedown], first: int, last: int) -> bool:
    """Whether ``takedowns`` (of one organisation, by ``from_seq``) cover ``first``…``last``."""
    position = first
    for t in takedowns:
        if t.from_seq > position:
            break
        if t.until_seq is None:
            return True
        position = max(position, t.until_seq + 1)
        if position > last:
            return True
    return position > last
