from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import wire
from protocol.body import (
    MAX_ITEMS,
    AddBody,
    Body,
    HashItem,
    Kind,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
)
from protocol.entry import (
    MAX_ENTRY_SIZE,
    decode_entry,
    decode_signed_header,
    entry_id,
    sign_entry,
)
from protocol.errors import (
    BadSignatureError,
    BodyMismatchError,
    InvalidValueError,
    MalformedError,
    ProtocolError,
    TooLargeError,
    UnknownKindError,
    UnsupportedVersionError,
)
from protocol.identity import Context, SigningKey, org_id_for
from tests.builders import BASE_TS, Author, pdq_item, pdq_value
from tests.protocol.strategies import bodies

KEY = SigningKey(hashlib.sha256(b"entry tests").digest())
ORG = org_id_for(KEY.public_key)


def make(body: Body, seq: int = 1) -> bytes:
    prev = None if seq == 1 else b"\x11" * 32
    return sign_entry(KEY, author=ORG, seq=seq, prev=prev, timestamp_ms=BASE_TS, body=body).raw


@given(bodies, st.integers(1, 2**40))
def test_signed_entries_round_trip(body: Body, seq: int) -> None:
    raw = make(body, seq)
    entry = decode_entry(raw)
    assert entry.body == body
    assert entry.seq == seq
    assert entry.raw == raw
    assert entry.id == hashlib.sha256(entry.header_bytes).digest()
    assert decode_entry(wire.encode(wire.decode(raw, max_size=len(raw)))).id == entry.id


@given(bodies, st.data())
@settings(max_examples=30)
def test_every_single_bit_flip_is_rejected(body: Body, data: st.DataObject) -> None:
    raw = make(body)
    # Every bit of small entries, a random sample of bits of larger ones.
    bits = range(len(raw) * 8)
    if len(bits) > 3000:
        bits = data.draw(st.lists(st.sampled_from(bits), min_size=300, max_size=300))
    for bit in bits:
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ProtocolError):
            decode_entry(bytes(flipped))


def test_erased_body_still_verifies_and_keeps_the_id() -> None:
    entry = decode_entry(make(AddBody((pdq_item(1),))))
    erased = entry.without_body()
    again = decode_entry(erased.raw)
    assert again.erased
    assert again.id == entry.id
    assert again.header == entry.header


def test_revoke_bodies_cannot_be_erased() -> None:
    author = Author(1)
    revoke = author.revoke(author.add())
    with pytest.raises(MalformedError, match="never erased"):
        decode_entry(wire.encode([revoke.header_bytes, revoke.signature, None]))


def erasing(*targets: list[object], reason: int = 1) -> list[object]:
    return [list(targets), reason, True]


@pytest.mark.parametrize(
    ("value", "code", "match"),
    [
        ([[[b"\x01" * 32, None]], 1, False], "invalid_value", "erases nothing"),
        ([[[b"\x01" * 32, None]], 1, 1], "malformed", "must be a boolean"),
        ([[[b"\x01" * 32, None]], 1, None], "malformed", "must be a boolean"),
        ([[[b"\x01" * 32, None]], 1, True, True], "malformed", "2 elements"),
        (erasing([b"\x01" * 32, [0]]), "invalid_value", "names whole entries"),
        ([[[b"\x01" * 32, None]], 99, False], "invalid_value", "reason"),  # layout order
    ],
)
def test_erasing_revokes_have_one_form(value: list[object], code: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as caught:
        decode_entry(make_raw_body(Kind.REVOKE, wire.encode(value)))  # type: ignore[arg-type]
    assert caught.value.code == code


def test_an_erasing_revoke_round_trips_and_a_plain_one_keeps_two_elements() -> None:
    target = RevokeTarget(b"\x02" * 32, None)
    erasing_body = RevokeBody((target,), RevokeReason.COURT_ORDER, erase=True)
    plain = RevokeBody((target,), RevokeReason.COURT_ORDER)
    assert decode_entry(make(erasing_body)).body == erasing_body
    assert wire.decode(wire.encode(plain.to_wire()), max_size=100) == [[[b"\x02" * 32, None]], 4]


def test_a_signed_header_of_any_kind_travels_without_its_body() -> None:
    author = Author(1)
    revoke = author.revoke(author.add())
    half = decode_signed_header(revoke.signed_header().envelope())
    assert half.id == revoke.id
    assert half.header == revoke.header
    with pytest.raises(InvalidValueError, match="without its body"):
        decode_signed_header(revoke.raw)
    forged = wire.encode([revoke.header_bytes, b"\x00" * 64, None])
    with pytest.raises(BadSignatureError):
        decode_signed_header(forged)


def make_raw_body(kind: Kind, body: bytes) -> bytes:
    header = [
        1,
        ORG,
        KEY.public_key.raw,
        1,
        None,
        BASE_TS,
        int(kind),
        hashlib.sha256(body).digest(),
    ]
    return resign(header, body)


def test_a_body_swapped_under_a_signed_header_is_rejected() -> None:
    a = decode_entry(make(AddBody((pdq_item(1),))))
    b = decode_entry(make(AddBody((pdq_item(2),))))
    body_b = wire.decode(b.raw, max_size=MAX_ENTRY_SIZE)[2]
    with pytest.raises(BodyMismatchError):
        decode_entry(wire.encode([a.header_bytes, a.signature, body_b]))


def test_a_header_signed_in_another_context_is_rejected() -> None:
    entry = decode_entry(make(AddBody((pdq_item(1),))))
    forged = KEY.sign(Context.CHARTER, entry.header_bytes)
    body = wire.decode(entry.raw, max_size=MAX_ENTRY_SIZE)[2]
    with pytest.raises(BadSignatureError):
        decode_entry(wire.encode([entry.header_bytes, forged, body]))


def resign(header: list[object], body: bytes) -> bytes:
    header_bytes = wire.encode(header)  # type: ignore[arg-type]
    return wire.encode([header_bytes, KEY.sign(Context.ENTRY, header_bytes), body])


def header_fields(body: bytes, **changes: object) -> list[object]:
    fields = {
        "version": 1,
        "author": ORG,
        "key": KEY.public_key.raw,
        "seq": 1,
        "prev": None,
        "ts": BASE_TS,
        "kind": 1,
        "digest": hashlib.sha256(body).digest(),
    }
    fields.update(changes)
    return list(fields.values())


ONE_ITEM = wire.encode(AddBody((pdq_item(1),)).to_wire())


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"version": 2}, UnsupportedVersionError, "version 2"),
        ({"kind": 9}, UnknownKindError, "kind 9"),
        ({"seq": 0}, InvalidValueError, "seq"),
        ({"seq": 2}, MalformedError, "prev"),
        ({"prev": b"\x00" * 32}, InvalidValueError, "no prev"),
        ({"author": b"\x00" * 31}, InvalidValueError, "author"),
        ({"ts": -1}, InvalidValueError, "timestamp_ms"),
        ({"kind": True}, MalformedError, "kind must be an integer"),
        ({"kind": 256}, UnknownKindError, "kind 256"),
        ({"kind": 2**64 - 1}, UnknownKindError, "unknown entry kind"),
        ({"version": 2**32}, UnsupportedVersionError, "version"),
        ({"prev": "x"}, MalformedError, "prev must be bytes"),
        ({"key": None}, MalformedError, "key must be bytes"),
    ],
)
def test_bad_headers_are_rejected_by_name(
    changes: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        decode_entry(resign(header_fields(ONE_ITEM, **changes), ONE_ITEM))
    assert type(caught.value) is error


def raw_add(items: list[list[object]]) -> bytes:
    body = wire.encode([items])  # type: ignore[list-item]
    return resign(header_fields(body), body)


@pytest.mark.parametrize(
    ("item", "code", "match"),
    [
        (
            ["vpdq", pdq_value(1), [], None, None],
            "invalid_value",
            r"unknown items\[0\].signal_type",
        ),
        ([b"pdq", pdq_value(1), [], None, None], "malformed", r"signal_type must be a string"),
        (["pdq", b"\x00" * 31, [], None, None], "invalid_value", r"items\[0\].value for pdq must"),
        (["md5", b"\x00" * 32, [], None, None], "invalid_value", "for md5 must be 16 bytes"),
        (["pdq", "00" * 32, [], None, None], "malformed", "must be bytes, got str"),
        (["pdq", pdq_value(1), ["b", "a"], None, None], "invalid_value", "sorted and unique"),
        (["pdq", pdq_value(1), ["a", "a"], None, None], "invalid_value", "sorted and unique"),
        (["pdq", pdq_value(1), ["bad label"], None, None], "invalid_value", "is not a label"),
        (["pdq", pdq_value(1), [b"ncii"], None, None], "malformed", "labels must be a string"),
        (["pdq", pdq_value(1), [f"l{i:02}" for i in range(17)], None, None], "too_large", "16"),
        (["pdq", pdq_value(1), [], b"", None], "invalid_value", "case_ref"),
        (["pdq", pdq_value(1), [], b"x" * 65, None], "invalid_value", "case_ref"),
        (["pdq", pdq_value(1), [], "case", None], "malformed", "case_ref must be bytes"),
        (["pdq", pdq_value(1), [], None, -5], "invalid_value", "expires_ms"),
        (["pdq", pdq_value(1), [], None, True], "malformed", "expires_ms must be an integer"),
        (["pdq", pdq_value(1), [], None], "malformed", "5 elements"),
    ],
)
def test_bad_items_are_rejected_naming_the_field(item: list[object], code: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as caught:
        decode_entry(raw_add([item]))
    assert caught.value.code == code


def test_empty_and_oversized_adds_are_rejected() -> None:
    with pytest.raises(InvalidValueError, match="at least 1"):
        decode_entry(raw_add([]))
    item = ["md5", b"\x00" * 16, [], None, None]
    with pytest.raises(TooLargeError, match="limit of 10000"):
        decode_entry(raw_add([item] * (MAX_ITEMS + 1)))


def test_entries_over_the_size_limit_are_rejected_before_parsing() -> None:
    with pytest.raises(TooLargeError):
        decode_entry(b"\x93" + b"\x00" * MAX_ENTRY_SIZE)


def test_a_full_add_of_ten_thousand_items_is_accepted() -> None:
    items = tuple(HashItem("pdq", pdq_value(i), ("adult", "ncii")) for i in range(MAX_ITEMS))
    entry = decode_entry(make(AddBody(items)))
    assert entry.kind is Kind.ADD
    assert isinstance(entry.body, AddBody)
    assert len(entry.body.items) == MAX_ITEMS


def test_entry_id_is_the_hash_of_the_signed_header() -> None:
    entry = decode_entry(make(AddBody((pdq_item(3),))))
    assert entry.id == entry_id(entry.header_bytes)


def test_several_faults_report_the_first_in_layout_order() -> None:
    # docs/protocol.md §6: each field completely, in the order the layouts list them.
    header = header_fields(ONE_ITEM, kind=9, digest=b"short")
    with pytest.raises(UnknownKindError):
        decode_entry(resign(header, ONE_ITEM))
    with pytest.raises(MalformedError, match="header must be bin"):
        decode_entry(wire.encode(["not bin", b"short signature", None]))
