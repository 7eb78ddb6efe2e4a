"""The network charter: the signed membership document every node enforces on its own.

A charter version lists the members (organisation, keys, roles), the steward threshold ``k``,
the takedowns in force and when it takes effect. Version 1 is signed by at least ``k`` of its
own stewards; every later version by at least ``k`` stewards **of the version before it**
(TUF's root rotation). Thresholds count distinct public keys — the current key of each steward
organisation — never list entries, so one steward signing twice still counts once.

Wire form::

    charter = [ body: bytes, signatures: array of [public_key: bytes(32), signature: bytes(64)] ]
    body    = [ format: uint (1), network: text, number: uint >= 1, effective_ms: uint,
                threshold: uint >= 1, members: array of member, takedowns: array of takedown,
                prev: bytes(32) | nil ]
    member  = [ org_id: bytes(32), name: text, roles: array of text, keys: array of key ]
    key     = [ public_key: bytes(32), from_seq: uint >= 1 ]
    takedown = [ org_id: bytes(32), from_seq: uint >= 1, until_seq: uint | nil ]

Signatures cover ``Context.CHARTER || body``; the charter id is SHA-256(body); ``prev`` is the
previous version's id (nil only for version 1).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace
from typing import Any

from protocol import schema, wire
from protocol.errors import BadSignatureError, CharterError, InvalidValueError
from protocol.identity import (
    KEY_SIZE,
    SIGNATURE_SIZE,
    Context,
    OrgId,
    PublicKey,
    SigningKey,
    org_id_for,
    verify,
)

FORMAT = 1
ROLES = ("publisher", "steward", "subscriber")
MAX_CHARTER_SIZE = 1024 * 1024
MAX_MEMBERS = 10_000
MAX_KEYS = 64
MAX_NAME = 200
# How far ahead of the adopting node's clock a new version may take effect. A later version
# may not take effect before an earlier one, so a version dated far ahead (a typo: 3025)
# would hold back every later membership change until that date.
MAX_EFFECTIVE_LEAD_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class MemberKey:
    """A key of an organisation, valid for its feed from ``from_seq`` until the next key's."""

    key: bytes
    from_seq: int


@dataclass(frozen=True, slots=True)
class Member:
    """One member organisation."""

    org_id: OrgId
    name: str
    roles: tuple[str, ...]
    keys: tuple[MemberKey, ...]

    @property
    def current_key(self) -> bytes:
        return self.keys[-1].key

    def key_at(self, seq: int) -> bytes:
        """The key that must sign this organisation's entry at ``seq``: the last listed whose
        ``from_seq`` is not above it (a key followed by one with the same ``from_seq`` was
        replaced before it signed anything, and signs nothing)."""
        chosen = self.keys[0].key
        for k in self.keys:
            if k.from_seq <= seq:
                chosen = k.key
        return chosen


@dataclass(frozen=True, slots=True)
class Takedown:
    """A stewards' decision voiding an author's entries ``from_seq``…``until_seq`` (or on)."""

    org_id: OrgId
    from_seq: int
    until_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return self.from_seq <= seq and (self.until_seq is None or seq <= self.until_seq)


@dataclass(frozen=True, slots=True)
class CharterBody:
    """The signed content of one charter version."""

    network: str
    number: int
    effective_ms: int
    threshold: int
    members: tuple[Member, ...]
    takedowns: tuple[Takedown, ...] = ()
    prev: bytes | None = None

    def member(self, org_id: bytes) -> Member | None:
        for m in self.members:
            if m.org_id == org_id:
                return m
        return None

    def steward_keys(self) -> frozenset[bytes]:
        """The keys whose signatures count toward the next version's threshold."""
        return frozenset(m.current_key for m in self.members if "steward" in m.roles)

    def to_wire(self) -> list[Any]:
        return [
            FORMAT,
            self.network,
            self.number,
            self.effective_ms,
            self.threshold,
            [
                [m.org_id, m.name, list(m.roles), [[k.key, k.from_seq] for k in m.keys]]
                for m in self.members
            ],
            [[t.org_id, t.from_seq, t.until_seq] for t in self.takedowns],
            self.prev,
        ]

    def encode(self) -> bytes:
        """The canonical body bytes (what stewards sign)."""
        return wire.encode(self.to_wire())


@dataclass(frozen=True, slots=True)
class Charter:
    """A charter version with the signatures collected so far (checked only by a chain)."""

    body: CharterBody
    body_bytes: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    @property
    def id(self) -> bytes:
        return hashlib.sha256(self.body_bytes).digest()

    @property
    def number(self) -> int:
        return self.body.number

    def encode(self) -> bytes:
        return wire.encode([self.body_bytes, [[k, s] for k, s in self.signatures]])

    def signed_by(self, key: SigningKey) -> Charter:
        """This charter with ``key``'s signature added (replacing an earlier one by it)."""
        signature = key.sign(Context.CHARTER, self.body_bytes)
        others = [(k, s) for k, s in self.signatures if k != key.public_key.raw]
        return replace(self, signatures=tuple(sorted([*others, (key.public_key.raw, signature)])))

    def valid_signers(self, allowed: frozenset[bytes]) -> frozenset[bytes]:
        """The distinct keys in ``allowed`` with a valid signature on this version."""
        good = set()
        for key, signature in self.signatures:
            if key not in allowed:
                continue
            try:
                verify(key, Context.CHARTER, self.body_bytes, signature)
            except BadSignatureError:
                continue
            good.add(key)
        return frozenset(good)


def draft(body: CharterBody) -> Charter:
    """An unsigned charter for ``body``, after checking every rule a decoder would."""
    body_bytes = body.encode()
    decode_body(body_bytes)
    return Charter(body, body_bytes, ())


def decode_charter(data: bytes) -> Charter:
    """Decode a charter's bytes (canonical, well-formed); signatures are checked by a chain."""
    outer = schema.array(wire.decode(data, max_size=MAX_CHARTER_SIZE, what="charter"), 2, "charter")
    body_bytes = schema.blob(outer[0], "charter body")
    body = decode_body(body_bytes)
    rows = schema.seq_of(outer[1], "signatures", max_len=MAX_MEMBERS)
    signatures = []
    for i, row in enumerate(rows):
        key, signature = schema.array(row, 2, f"signatures[{i}]")
        signatures.append(
            (
                schema.fixed_bytes(key, KEY_SIZE, f"signatures[{i}].key"),
                schema.fixed_bytes(signature, SIGNATURE_SIZE, f"signatures[{i}].signature"),
            )
        )
    if [k for k, _ in signatures] != sorted({k for k, _ in signatures}):
        raise InvalidValueError("charter signatures must be sorted by key, one per key")
    return Charter(body, body_bytes, tuple(signatures))


def decode_body(body_bytes: bytes) -> CharterBody:
    """Decode and check a charter body."""
    value = wire.decode(body_bytes, max_size=MAX_CHARTER_SIZE, what="charter body")
    fmt, network, number, effective, threshold, members, takedowns, prev = schema.array(
        value, 8, "charter body"
    )
    if schema.uint(fmt, "format") != FORMAT:
        raise CharterError(f"unknown charter format {fmt}")
    schema.text(network, "network", max_len=MAX_NAME)
    schema.uint(number, "number", minimum=1)
    schema.uint(effective, "effective_ms")
    body = CharterBody(
        network,
        number,
        effective,
        schema.uint(threshold, "threshold", minimum=1),
        _decode_members(members),
        _decode_takedowns(takedowns),
        schema.opt_fixed_bytes(prev, 32, "prev"),
    )
    if (body.prev is None) != (number == 1):
        raise CharterError("prev is nil exactly for version 1")
    if len(body.steward_keys()) < body.threshold:
        raise CharterError(
            f"threshold {body.threshold} exceeds the number of stewards "
            f"({len(body.steward_keys())})"
        )
    return body


def _decode_members(value: Any) -> tuple[Member, ...]:
    rows = schema.seq_of(value, "members", min_len=1, max_len=MAX_MEMBERS)
    members = tuple(_decode_member(i, row) for i, row in enumerate(rows))
    ids = [m.org_id for m in members]
    if ids != sorted(set(ids)):
        raise InvalidValueError("members must be sorted by org id, each once")
    keys = [k.key for m in members for k in m.keys]
    if len(keys) != len(set(keys)):
        raise InvalidValueError("a key may belong to one member only, once")
    return members


def _decode_member(i: int, row: Any) -> Member:
    org_id, name, roles, keys = schema.array(row, 4, f"members[{i}]")
    schema.fixed_bytes(org_id, 32, f"members[{i}].org_id")
    if not schema.text(name, f"members[{i}].name", max_len=MAX_NAME).strip():
        raise InvalidValueError(f"members[{i}].name is empty")
    roles = schema.seq_of(roles, f"members[{i}].roles", min_len=1, max_len=len(ROLES))
    for role in roles:
        schema.of_type(role, str, f"members[{i}].roles")
    if any(r not in ROLES for r in roles) or roles != sorted(set(roles)):
        raise InvalidValueError(
            f"members[{i}].roles must be sorted, unique, from {', '.join(ROLES)}"
        )
    member_keys = []
    for j, key_row in enumerate(
        schema.seq_of(keys, f"members[{i}].keys", min_len=1, max_len=MAX_KEYS)
    ):
        key, from_seq = schema.array(key_row, 2, f"members[{i}].keys[{j}]")
        member_keys.append(
            MemberKey(
                schema.fixed_bytes(key, KEY_SIZE, f"members[{i}].keys[{j}].key"),
                schema.uint(from_seq, f"members[{i}].keys[{j}].from_seq", minimum=1),
            )
        )
    seqs = [k.from_seq for k in member_keys]
    # Equal from_seqs are allowed: a key replaced before it signed anything (the org id stays
    # the one derived from the first key, even when that key never signs an entry).
    if seqs[0] != 1 or any(a > b for a, b in itertools.pairwise(seqs)):
        raise InvalidValueError(f"members[{i}].keys must start at seq 1, in from_seq order")
    member = Member(OrgId(org_id), name, tuple(roles), tuple(member_keys))
    if org_id_for(PublicKey(member.keys[0].key)) != member.org_id:
        raise InvalidValueError(f"members[{i}].org_id is not derived from its first key")
    return member


def _decode_takedowns(value: Any) -> tuple[Takedown, ...]:
    rows = schema.seq_of(value, "takedowns", max_len=MAX_MEMBERS)
    out = []
    for i, row in enumerate(rows):
        org_id, first, until = schema.array(row, 3, f"takedowns[{i}]")
        schema.fixed_bytes(org_id, 32, f"takedowns[{i}].org_id")
        schema.uint(first, f"takedowns[{i}].from_seq", minimum=1)
        if until is not None:
            schema.uint(until, f"takedowns[{i}].until_seq", minimum=first)
        out.append(Takedown(OrgId(org_id), first, until))
    keys = [(t.org_id, t.from_seq) for t in out]
    if keys != sorted(set(keys)):
        raise InvalidValueError("takedowns must be sorted by org id and from_seq, unique")
    return tuple(out)


def check_genesis(charter: Charter, *, strict: bool = True) -> None:
    """Raise unless ``charter`` is a valid version 1: k of its own stewards signed it (and,
    ``strict``, nobody else: see ``check_signatures``)."""
    if charter.number != 1 or charter.body.prev is not None:
        raise CharterError(f"a chain starts at version 1, not {charter.number}")
    allowed = charter.body.steward_keys()
    if strict:
        check_signatures(charter, allowed, "its own")
    _check_threshold(charter, allowed, charter.body.threshold, "its own")


def check_signatures(charter: Charter, allowed: frozenset[bytes], whose: str) -> None:
    """Raise unless every signature is by one of the ``allowed`` keys and verifies.

    A signature that cannot count would otherwise travel in the adopted version as if it
    did: a non-member's name among the signers of a membership change.
    """
    for key, signature in charter.signatures:
        if key not in allowed:
            raise CharterError(
                f"charter version {charter.number} carries a signature by key {key.hex()}, "
                f"which is not one of {whose} steward keys: it cannot count"
            )
        try:
            verify(key, Context.CHARTER, charter.body_bytes, signature)
        except BadSignatureError:
            raise CharterError(
                f"charter version {charter.number} carries a signature by key {key.hex()} "
                "that does not verify"
            ) from None


def check_lead(charter: Charter, now_ms: int) -> None:
    """Raise if ``charter`` takes effect more than ``MAX_EFFECTIVE_LEAD_MS`` after ``now_ms``."""
    lead = charter.body.effective_ms - now_ms
    if lead > MAX_EFFECTIVE_LEAD_MS:
        days = MAX_EFFECTIVE_LEAD_MS // 86_400_000
        raise CharterError(
            f"charter version {charter.number} takes effect {lead // 86_400_000} days from now; "
            f"at most {days} days ahead are accepted (no later version could take effect "
            "before it)"
        )


def check_successor(previous: Charter, charter: Charter, *, strict: bool = True) -> None:
    """Raise unless ``charter`` validly follows ``previous`` (and, ``strict``, carries only
    signatures that count)."""
    body = charter.body
    if body.number <= previous.number:
        raise CharterError(
            f"charter version {body.number} is not newer than version {previous.number}"
        )
    if body.number != previous.number + 1:
        raise CharterError(f"charter version {body.number} does not follow {previous.number}")
    if body.prev != previous.id:
        raise CharterError(f"charter version {body.number} names another previous version")
    if body.network != previous.body.network:
        raise CharterError("a charter cannot change the network's name")
    if body.effective_ms < previous.body.effective_ms:
        raise CharterError("a charter cannot take effect before its predecessor")
    allowed, whose = previous.body.steward_keys(), f"version {previous.number}'s"
    if strict:
        check_signatures(charter, allowed, whose)
    _check_threshold(charter, allowed, previous.body.threshold, whose)


def _check_threshold(charter: Charter, allowed: frozenset[bytes], k: int, whose: str) -> None:
    signers = charter.valid_signers(allowed)
    if len(signers) < k:
        raise CharterError(
            f"charter version {charter.number} has {len(signers)} valid signature(s) from "
            f"{whose} stewards; {k} needed"
        )


@dataclass(frozen=True, slots=True)
class CharterForkProof:
    """Two different versions with one number, each validly following the same predecessor."""

    first: Charter
    second: Charter

    def encode(self) -> bytes:
        return wire.encode([self.first.encode(), self.second.encode()])
