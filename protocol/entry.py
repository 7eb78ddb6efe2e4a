"""Signed entries: the header, the envelope, signing and decoding.

On the wire an entry is the canonical msgpack array ``[header, signature, body]`` where
``header`` and ``body`` are themselves canonical msgpack, carried as bin. The signature covers
``Context.ENTRY || header``; the header commits to the body through ``body_digest``, so a body
can be erased (``nil``) while the feed's chain and signatures still verify. The entry id is
SHA-256 of the header bytes.

Any ``Entry`` object has been checked: canonical at every level, a signature that verifies with
the key in its header and a body matching its digest. Whether that key may speak for the
author, and whether the entry continues the author's feed, is decided in ``protocol.feed``.
A body-less entry is only a copy of the entry: whether its body was erased on an authority or
is merely missing (incomplete) is the node's judgement (docs/protocol.md §4.3).

A ``SignedHeader`` is less than an entry: a header and its signature, of any kind, as fork
proofs carry them. Bodies play no part in a fork.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from protocol import PROTOCOL_VERSION, schema, wire
from protocol.body import Body, Kind, decode_body, parse_kind
from protocol.errors import (
    BodyMismatchError,
    InvalidValueError,
    MalformedError,
    UnsupportedVersionError,
)
from protocol.identity import KEY_SIZE, SIGNATURE_SIZE, Context, OrgId, SigningKey, verify

ID_SIZE = 32
DIGEST_SIZE = 32
MAX_ENTRY_SIZE = 4 * 1024 * 1024
MAX_HEADER_SIZE = 256
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})


@dataclass(frozen=True, slots=True)
class Header:
    """The signed part of an entry."""

    version: int
    author: OrgId
    key: bytes
    seq: int
    prev: bytes | None
    timestamp_ms: int
    kind: Kind
    body_digest: bytes

    def to_wire(self) -> list[Any]:
        return [
            self.version,
            self.author,
            self.key,
            self.seq,
            self.prev,
            self.timestamp_ms,
            int(self.kind),
            self.body_digest,
        ]


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded, signature-checked entry together with its exact bytes."""

    id: bytes
    header: Header
    header_bytes: bytes
    signature: bytes
    body: Body | None
    raw: bytes

    @property
    def author(self) -> OrgId:
        return self.header.author

    @property
    def seq(self) -> int:
        return self.header.seq

    @property
    def kind(self) -> Kind:
        return self.header.kind

    @property
    def erased(self) -> bool:
        """True when the body has been erased and only the signed header remains."""
        return self.body is None

    def without_body(self) -> Entry:
        """This entry with its body erased; the id and signature are unchanged."""
        raw = wire.encode([self.header_bytes, self.signature, None])
        return Entry(self.id, self.header, self.header_bytes, self.signature, None, raw)

    def signed_header(self) -> SignedHeader:
        """The entry's header and signature alone."""
        return SignedHeader(self.id, self.header, self.header_bytes, self.signature)


@dataclass(frozen=True, slots=True)
class SignedHeader:
    """A header with a signature that verifies with its key; what a fork proof is made of."""

    id: bytes
    header: Header
    header_bytes: bytes
    signature: bytes

    @property
    def author(self) -> OrgId:
        return self.header.author

    @property
    def seq(self) -> int:
        return self.header.seq

    def envelope(self) -> bytes:
        """The body-less envelope ``[header, signature, nil]``."""
        return wire.encode([self.header_bytes, self.signature, None])


def entry_id(header_bytes: bytes) -> bytes:
    """The id of the entry whose header encodes to ``header_bytes``."""
    return hashlib.sha256(header_bytes).digest()


def sign_entry(
    key: SigningKey,
    *,
    author: OrgId,
    seq: int,
    prev: bytes | None,
    timestamp_ms: int,
    body: Body,
) -> Entry:
    """Build and sign a new entry. The result is decoded back, so it obeys every rule."""
    body_bytes = wire.encode(body.to_wire())
    header = Header(
        PROTOCOL_VERSION,
        author,
        key.public_key.raw,
        seq,
        prev,
        timestamp_ms,
        body.kind,
        hashlib.sha256(body_bytes).digest(),
    )
    header_bytes = wire.encode(header.to_wire())
    signature = key.sign(Context.ENTRY, header_bytes)
    return decode_entry(wire.encode([header_bytes, signature, body_bytes]))


def decode_entry(raw: bytes) -> Entry:
    """Decode and check an entry's bytes: canonical form, signature and body digest."""
    if type(raw) is not bytes:
        raise MalformedError(f"entry must be bytes, got {type(raw).__name__}")
    outer = wire.decode(raw, max_size=MAX_ENTRY_SIZE, what="entry")
    header_bytes, signature, body_bytes = schema.array(outer, 3, "entry")
    if type(header_bytes) is not bytes:
        raise MalformedError("entry header must be bin", field="header")
    schema.fixed_bytes(signature, SIGNATURE_SIZE, "signature")
    header = decode_header(header_bytes)
    verify(header.key, Context.ENTRY, header_bytes, signature)
    if body_bytes is None:
        if header.kind is Kind.REVOKE:
            raise MalformedError("a revoke entry's body is never erased", field="body")
        return Entry(entry_id(header_bytes), header, header_bytes, signature, None, raw)
    if type(body_bytes) is not bytes:
        raise MalformedError("entry body must be bin or nil", field="body")
    if hashlib.sha256(body_bytes).digest() != header.body_digest:
        raise BodyMismatchError("entry body does not match the digest in its signed header")
    body = decode_body(header.kind, wire.decode(body_bytes, max_size=MAX_ENTRY_SIZE, what="body"))
    return Entry(entry_id(header_bytes), header, header_bytes, signature, body, raw)


def decode_signed_header(raw: bytes) -> SignedHeader:
    """Decode a body-less envelope of any kind (a fork proof's half) and check its signature."""
    if type(raw) is not bytes:
        raise MalformedError(f"envelope must be bytes, got {type(raw).__name__}")
    outer = wire.decode(raw, max_size=MAX_ENTRY_SIZE, what="envelope")
    header_bytes, signature, body_bytes = schema.array(outer, 3, "envelope")
    if type(header_bytes) is not bytes:
        raise MalformedError("envelope header must be bin", field="header")
    schema.fixed_bytes(signature, SIGNATURE_SIZE, "signature")
    header = decode_header(header_bytes)
    verify(header.key, Context.ENTRY, header_bytes, signature)
    if body_bytes is not None:
        raise InvalidValueError("a signed header travels without its body", field="body")
    return SignedHeader(entry_id(header_bytes), header, header_bytes, signature)


def decode_header(header_bytes: bytes) -> Header:
    """Decode a header's bytes (no signature check: see ``decode_entry``)."""
    fields = schema.array(
        wire.decode(header_bytes, max_size=MAX_HEADER_SIZE, what="header"), 8, "header"
    )
    version, author, key, seq, prev, timestamp_ms, kind, body_digest = fields
    schema.uint(version, "version")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(f"unsupported protocol version {version}", field="version")
    schema.fixed_bytes(author, ID_SIZE, "author")
    schema.fixed_bytes(key, KEY_SIZE, "key")
    schema.uint(seq, "seq", minimum=1)
    if seq == 1:
        if prev is not None:
            schema.of_type(prev, bytes, "prev")
            raise InvalidValueError("the first entry of a feed (seq 1) has no prev", field="prev")
    else:
        schema.fixed_bytes(prev, ID_SIZE, "prev")
    schema.uint(timestamp_ms, "timestamp_ms")
    entry_kind = parse_kind(kind)
    schema.fixed_bytes(body_digest, DIGEST_SIZE, "body_digest")
    return Header(version, OrgId(author), key, seq, prev, timestamp_ms, entry_kind, body_digest)
