"""Hazardous materials: fast paths that skip the protocol's checks. Read this before importing.

Everything here trusts its input. Called on bytes or values that have *not* already passed the
checks named below, these functions build objects that look valid and are not — an entry
whose signature was never verified, a body outside the schema, a digest over values the
canonical encoding forbids — and raise nothing. They exist because a node checks large
batches once (in a worker process, ``node.decode_worker``) and then needs the same objects
again at a fraction of the cost, and because the bank digest is recomputed for every stored
item.

When each may be called:

``unchecked_entry(raw)``
    Only on bytes for which ``protocol.entry.decode_entry(raw)`` has already returned (in this
    process or another). The result equals ``decode_entry(raw)``.
``decode_unchecked(data)``
    Only on bytes that ``protocol.wire.decode`` has already accepted (for entries: the
    envelope or body bytes of an entry that passed ``decode_entry``).
``add_body_unchecked(value)``
    Only on the decoded value of an ``add`` body that ``protocol.body.decode_body`` has already
    accepted, i.e. the body of an entry that passed ``decode_entry``.
``encode_known(value)``
    Only on values built from fields that already passed their checks (typed fields of
    decoded objects, as in ``protocol.bank.item_digest``); it skips ``wire.encode``'s walk
    that refuses values outside the model (floats, maps, out-of-range integers are *not*
    refused by it: msgpack may encode them).
``digest_sum(entry)``
    On any ``Entry`` (every ``Entry`` passed ``decode_entry`` or was rebuilt from bytes that
    did); it relies on the entry's fields being valid and uses ``encode_known``.

Never call any of them on bytes from the network, a file or the store that have not been
through the check named; protocol code outside this module never skips a check.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

# The label cache is body's own, so that both paths share one tuple per label list.
from protocol.body import (
    _CHECKED_LABELS,
    _CHECKED_LABELS_LIMIT,
    AddBody,
    Body,
    HashItem,
    Kind,
    decode_body,
)
from protocol.entry import Entry, decode_header, entry_id
from protocol.wire import Value, _pack  # the packer that defines the canonical form

# The bank digest's modulus (docs/protocol.md §7); protocol.bank imports this module.
_MOD = 2**256


def decode_unchecked(data: bytes) -> Any:
    """Decode msgpack that ``wire.decode`` has already accepted, without the canonical check."""
    return msgpack.unpackb(data)


def encode_known(value: Value) -> bytes:
    """Encode a value built only from already-validated fields (skips ``wire.encode``'s walk)."""
    return _pack(value)


def add_body_unchecked(value: Any) -> AddBody:
    """Rebuild an add body that ``decode_body`` has already accepted, checking nothing.

    It builds the same objects as ``decode_body`` (labels shared through the same cache) at
    about a third of the cost.
    """
    new, shared = tuple.__new__, _CHECKED_LABELS
    items = []
    for sig_name, hash_value, labels, case_ref, expires in value[0]:
        key = tuple(labels)
        if key not in shared and len(shared) < _CHECKED_LABELS_LIMIT:
            shared[key] = key
        label_key = shared.get(key, key)
        items.append(new(HashItem, (sig_name, hash_value, label_key, case_ref, expires)))
    return AddBody(tuple(items))


def unchecked_entry(raw: bytes) -> Entry:
    """Rebuild an entry from bytes that ``decode_entry`` has already accepted, checking nothing.

    A node verifies large batches in a worker process and rebuilds the accepted entries here,
    where decoding again would cost twice what verifying did. The result equals
    ``decode_entry(raw)``; on any other bytes it is meaningless.
    """
    header_bytes, signature, body_bytes = decode_unchecked(raw)
    header = decode_header(header_bytes)
    body: Body | None = None
    if body_bytes is not None:
        value = decode_unchecked(body_bytes)
        kind = header.kind
        body = add_body_unchecked(value) if kind is Kind.ADD else decode_body(kind, value)
    return Entry(entry_id(header_bytes), header, header_bytes, signature, body, raw)


def digest_sum(entry: Entry) -> int:
    """The sum of ``bank.item_digest`` over every item of an add entry (what it adds when all
    are live), modulo 2**256; 0 for other kinds and erased bodies."""
    if not isinstance(entry.body, AddBody):
        return 0
    author, entry_id_, pack = entry.author, entry.id, _pack
    sha256, from_bytes = hashlib.sha256, int.from_bytes
    total = 0
    for index, item in enumerate(entry.body.items):
        encoded = pack([item.signal_type, item.value, author, entry_id_, index])
        total += from_bytes(sha256(encoded).digest(), "big")
    return total % _MOD
